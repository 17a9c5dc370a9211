(function () {
  "use strict";
  var audio = document.getElementById("player");
  var marks = Array.prototype.slice.call(document.querySelectorAll("[data-start]"));
  document.addEventListener("click", function (event) {
    var mark = event.target.closest("button[data-start]");
    if (!mark) { return; }
    audio.currentTime = Number(mark.getAttribute("data-start"));
    var playing = audio.play();
    if (playing) { playing.catch(function () {}); }
  });
  audio.addEventListener("timeupdate", function () {
    var now = audio.currentTime;
    marks.forEach(function (mark) {
      var row = mark.closest("li, p");
      var on = Number(mark.getAttribute("data-start")) <= now && now < Number(mark.getAttribute("data-end"));
      if (row) { row.classList.toggle("now", on); }
    });
  });
})();
