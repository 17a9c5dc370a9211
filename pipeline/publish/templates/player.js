(function () {
  "use strict";
  // Chapters and transcript sentences seek the player; the sentence being spoken (and its
  // chapter) is highlighted as it plays. Sentences are in time order: a binary search finds one.
  var audio = document.getElementById("player");
  var lines = Array.prototype.slice.call(document.querySelectorAll(".transcript [data-start]"));
  var chapters = Array.prototype.slice.call(document.querySelectorAll(".chapters [data-start]"));
  var current = {};

  function seek(mark) {
    audio.currentTime = Number(mark.getAttribute("data-start"));
    var playing = audio.play();
    if (playing) { playing.catch(function () {}); }
  }
  document.addEventListener("click", function (event) {
    var mark = event.target.closest("[data-start]");
    if (mark) { seek(mark); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" && event.key !== " ") { return; }
    var mark = event.target.closest("span[data-start]");
    if (mark) { event.preventDefault(); seek(mark); }
  });

  function at(list, now) {
    var low = 0, high = list.length - 1, found = -1;
    while (low <= high) {
      var middle = (low + high) >> 1;
      if (Number(list[middle].getAttribute("data-start")) <= now) { found = middle; low = middle + 1; }
      else { high = middle - 1; }
    }
    return found >= 0 && now < Number(list[found].getAttribute("data-end")) ? list[found] : null;
  }
  function mark(name, list, row) {
    var hit = at(list, audio.currentTime);
    var target = hit && row ? hit.closest("li") : hit;
    if (current[name] === target) { return; }
    if (current[name]) {
      current[name].classList.remove("now");
      current[name].removeAttribute("aria-current");
    }
    if (target) {
      target.classList.add("now");
      target.setAttribute("aria-current", "true");
    }
    current[name] = target;
  }
  function update() { mark("line", lines, false); mark("chapter", chapters, true); }
  audio.addEventListener("timeupdate", update);
  audio.addEventListener("seeked", update);
})();
