"""The static site: what the pages hold, that they are well-formed HTML5, and, in a headless
Chromium served by our own preview server, that they load cleanly and their chapters seek.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.publish.artwork import cover_art
from pipeline.publish.run import publish
from pipeline.publish.serve import make_server

from publish_fixtures import (CHAPTERS, CUES, NOW, TRICKY_NAME, TRICKY_TITLE, make_catalogue,
                              make_show, mp3)

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A published folder: two episodes with real MP3s, their pages and the index."""
    root = tmp_path_factory.mktemp("site")
    audio = mp3(root / "sine.mp3").read_bytes()
    (root / "cover.png").write_bytes(cover_art("The Daybook"))
    make_catalogue(root, audio)
    result = publish(make_show(root, artwork="cover.png"), root, now=NOW)
    return result.feed.parent


class Structure(HTMLParser):
    """Well-formedness as HTML5 sees it: every non-void element closed, in order; ids unique."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.problems, self.ids, self.text = [], [], set(), []
        self.resources, self.doctype = [], None

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            if attrs["id"] in self.ids:
                self.problems.append(f"duplicate id {attrs['id']}")
            self.ids.add(attrs["id"])
        if tag in ("img", "audio", "script", "source") and attrs.get("src"):
            self.resources.append(attrs["src"])
        if tag == "link":
            self.resources.append(attrs.get("href", ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check(page: Path) -> Structure:
    html = page.read_text(encoding="utf-8")
    parsed = Structure()
    parsed.feed(html)
    parsed.close()
    assert parsed.doctype == "DOCTYPE html"
    assert parsed.problems == [] and parsed.stack == []
    assert '<html lang="en">' in html and '<meta charset="utf-8">' in html
    assert '<link rel="icon" href="data:,">' in html  # no favicon request, no 404 in the console
    assert all(not r.startswith(("http:", "https:", "//")) for r in parsed.resources)  # offline
    return parsed


def test_index_lists_episodes_newest_first_with_the_feed(site):
    page = check(site / "index.html")
    html = (site / "index.html").read_text(encoding="utf-8")
    assert html.index("tricky-title/index.html") < html.index("great-molasses-flood/index.html")
    assert "future-episode" not in html and "a-draft" not in html
    assert 'href="feed.xml"' in html and "https://podcast.example.org/daybook/feed.xml" in html
    assert TRICKY_TITLE in "".join(page.text)  # escaped in the markup, intact as text
    assert '<img src="cover-' in html and '-300.png" alt="" width="144"' in html
    thumb = site / re.search(r'<img src="(cover-[^"]+)"', html)[1]
    from pipeline.publish.artwork import image_size
    assert image_size(thumb.read_bytes()) == ("png", 300, 300)  # not the 1400 px cover
    assert '<meta name="description" content="One date, one true story, every weekday.">' \
        in html
    assert '<a class="skip" href="#content">Skip to content</a>' in html


def test_episode_page_has_player_chapters_transcript_credits_notes_sources(site):
    page = check(site / "great-molasses-flood" / "index.html")
    html = (site / "great-molasses-flood" / "index.html").read_text(encoding="utf-8")
    text = " ".join(" ".join(page.text).split())
    [name] = [p.name for p in (site / "great-molasses-flood").glob("*.mp3")]
    assert re.fullmatch(r"great-molasses-flood-[0-9a-f]{12}\.mp3", name)
    assert f'<audio id="player" controls preload="metadata" src="{name}" ' \
        'aria-label="Play the episode: The Great Molasses Flood">' in html
    for title, start in CHAPTERS:
        assert f'data-start="{start:g}"' in html and title in text
    for _, _, line in CUES:
        assert line in text
    assert "Audio editor Ana Ruiz (Lantern Hill Audio)" in text
    assert "Composer Zoë Ørsted-Łukasz" in text
    assert "A tank of molasses bursts on Boston's waterfront." in text  # show notes
    assert "Deborah Kops, The Great Molasses Flood (2012)" in text  # sources.txt
    assert '<a href="https://example.org/dark-tide">' in html
    assert 'href="../feed.xml"' in html and 'href="transcript.vtt"' in html
    assert "<script>" in html and "currentTime" in html
    assert '<meta name="description" content="A tank of molasses bursts on Boston\'s ' \
        'waterfront.">' in html
    assert 'aria-label="Play from 0:02: Act One: A Tank Built in a Hurry"' in html
    paragraphs = re.findall(r"<p>(.*?)</p>", html.split('class="transcript"')[1].split(
        "</div>")[0])
    assert len(paragraphs) == len(CHAPTERS)  # one per chapter
    assert [len(re.findall(r'class="line"', p)) for p in paragraphs] == [1, 1, 1]


def test_markup_in_data_stays_text_on_pages(site):
    page = check(site / "tricky-title" / "index.html")
    text = "".join(page.text)
    assert TRICKY_TITLE in text and TRICKY_NAME in text
    assert "<script>alert(1)</script>" in text  # shown, not run


# ---------------------------------------------------------------- in a real browser


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") \
        or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("headless browser test needs chromium and chromedriver on PATH "
                    "(Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--mute-audio",
                 "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def browser():
    driver = _browser()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def served(site):
    server = make_server(site, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _wait(condition, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return condition()


def severe(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.mark.slow
def test_pages_load_without_console_errors(browser, served):
    for path in ("/index.html", "/great-molasses-flood/index.html", "/tricky-title/index.html"):
        browser.get(served + path)
        _wait(lambda: browser.execute_script("return document.readyState") == "complete")
        assert severe(browser) == [], path
    assert browser.title.startswith(TRICKY_TITLE)


@pytest.mark.slow
def test_clicking_a_chapter_seeks_the_player(browser, served):
    from selenium.webdriver.common.by import By

    browser.get(served + "/great-molasses-flood/index.html")
    ready = _wait(lambda: browser.execute_script(
        "return document.getElementById('player').readyState >= 1"))
    assert ready, "the audio never loaded its metadata (is the server honouring ranges?)"
    assert browser.execute_script("return document.getElementById('player').duration") == \
        pytest.approx(6.0, abs=0.2)
    second = browser.find_elements(By.CSS_SELECTOR, "ol.chapters button.seek")[1]
    second.click()
    start = CHAPTERS[1][1]
    now = _wait(lambda: browser.execute_script(
        "var a = document.getElementById('player'); return a.seeking ? 0 : a.currentTime"))
    assert start <= now < start + 1.5
    cue = browser.find_elements(By.CSS_SELECTOR, ".transcript .line")[2]
    cue.click()
    now = _wait(lambda: browser.execute_script(
        "var a = document.getElementById('player'); "
        "return a.seeking || a.currentTime < 4.4 ? 0 : a.currentTime"))
    assert CUES[2][0] <= now <= 6.0
    assert severe(browser) == []


@pytest.mark.slow
def test_the_transcript_follows_playback(browser, served):
    """Play: the highlighted sentence is the one being spoken, and moves on with the audio."""
    browser.get(served + "/great-molasses-flood/index.html")
    assert _wait(lambda: browser.execute_script(
        "return document.getElementById('player').readyState >= 1"))
    browser.execute_script("var a = document.getElementById('player'); a.muted = true; "
                           "a.currentTime = 0; a.play();")
    now = "var n = document.querySelector('.transcript .now'); return n && n.textContent;"
    assert _wait(lambda: browser.execute_script(now) == CUES[0][2])
    assert _wait(lambda: browser.execute_script(now) == CUES[1][2], timeout=8)
    assert browser.execute_script(
        "return document.querySelector('.transcript .now').getAttribute('aria-current')") \
        == "true"
    chapter = "var n = document.querySelector('ol.chapters .now'); return n && n.textContent;"
    assert CHAPTERS[1][0] in (browser.execute_script(chapter) or "")
    browser.execute_script("document.getElementById('player').pause()")
    assert severe(browser) == []
