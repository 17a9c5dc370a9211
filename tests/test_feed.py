"""The published feed, read back by real podcast clients: feedparser and gPodder's podcastparser.

Every test publishes a small built catalogue (publish_fixtures) into tmp_path.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import fcntl
import json
import os
import re
import shutil
import uuid
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import podcastparser
import pytest

import pipeline.publish.run
from pipeline.errors import PublishError
from pipeline.model import Metadata
from pipeline.publish.podcast_ns import NAMESPACE, feed_guid
from pipeline.publish.artwork import check_artwork, cover_art, image_size
from pipeline.publish.run import (publish, publish_scripts,
                              public_urls)
from pipeline.script.taxonomy import group_of

from conftest import ROOT, shared
from publish_fixtures import (BASE_URL, EPISODES, NOW, TRICKY_NAME, TRICKY_TITLE, make_catalogue,
                              make_show, mp3, write_build)

NS = {"itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd", "podcast": NAMESPACE,
      "content": "http://purl.org/rss/1.0/modules/content/",
      "atom": "http://www.w3.org/2005/Atom"}
PUBLISHED = ("tricky-title", "great-molasses-flood")  # newest first


@pytest.fixture(scope="session")
def audio(tmp_path_factory) -> bytes:
    return mp3(tmp_path_factory.mktemp("audio") / "sine.mp3").read_bytes()


@pytest.fixture(scope="session")
def art(tmp_path_factory) -> bytes:
    return cover_art("The Daybook")  # drawn once: most tests pass it as the show's artwork


@pytest.fixture
def project(tmp_path, audio, art):
    """(root, show, scripts): a show with artwork and four episodes, all built."""
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "cover.png").write_bytes(art)
    return tmp_path, make_show(tmp_path, artwork="art/cover.png"), make_catalogue(tmp_path, audio)


def run(project, **options):
    root, show, scripts = project
    return publish_scripts(show, root, scripts, now=options.pop("now", NOW), **options)


@pytest.fixture
def published(project):
    result = run(project)
    return result, result.feed.read_bytes()


def channel(feed: bytes) -> ET.Element:
    return ET.fromstring(feed).find("channel")


# ---------------------------------------------------------------- real clients read it


def test_feedparser_reads_every_episode(published, audio):
    result, feed = published
    parsed = feedparser.parse(feed)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.feed.title == "The Daybook"
    assert [e.title for e in parsed.entries] == [TRICKY_TITLE, "The Great Molasses Flood"]
    show_guid = feed_guid(BASE_URL + "feed.xml")
    for entry, slug in zip(parsed.entries, PUBLISHED):
        assert entry.id == str(uuid.uuid5(uuid.UUID(show_guid), slug))
        assert entry.guidislink is False
        (enclosure,) = entry.enclosures
        assert enclosure.href == f"{BASE_URL}{slug}/episode.mp3"
        assert int(enclosure.length) == len(audio) == (result.feed.parent / slug /
                                                       "episode.mp3").stat().st_size
        assert enclosure.type == "audio/mpeg"
        assert entry.itunes_duration == "00:00:06"
        assert entry.published_parsed[:6] == (*EPISODES[slug].metadata.date.timetuple()[:3],
                                              10, 0, 0)
    assert result.episodes == PUBLISHED


def test_podcastparser_reads_every_episode(published, audio):
    _, feed = published
    parsed = podcastparser.parse(BASE_URL + "feed.xml", _stream(feed))
    assert parsed["title"] == "The Daybook"
    assert [e["title"] for e in parsed["episodes"]] == [TRICKY_TITLE, "The Great Molasses Flood"]
    for episode, slug in zip(parsed["episodes"], PUBLISHED):
        assert episode["guid"] == str(uuid.uuid5(uuid.UUID(feed_guid(BASE_URL + "feed.xml")),
                                                 slug))
        assert episode["enclosures"] == [{"url": f"{BASE_URL}{slug}/episode.mp3",
                                          "file_size": len(audio), "mime_type": "audio/mpeg"}]
        assert episode["total_time"] == 6
        assert episode["type"] == "full"


def test_podcastparser_reads_our_people(published, monkeypatch):
    """podcast:person as gPodder reads it, in the shape of its own test fixture.

    The namespace spec says a client that knows it must treat https://podcastindex.org/
    namespace/1.0 (what we declare) and the older GitHub-blob URI as the same namespace;
    podcastparser 0.6.11 (and its source as of this writing) knows only the GitHub one, so it
    sees none of our podcast: tags. Its persons support is switched on for the official URI
    here, as the spec asks of it; without that, gPodder shows no people for any spec-correct
    feed, not only ours.
    """
    expected = json.loads(shared("reference/feeds/06-gpodder-episode_podcast_person.expected.json")
                          .read_text(encoding="utf-8"))
    shape = set(expected["episodes"][0]["persons"][0])
    if NAMESPACE not in podcastparser.Namespace.NAMESPACES:
        monkeypatch.setitem(podcastparser.Namespace.NAMESPACES, NAMESPACE, "podcast")
    _, feed = published
    episodes = {e["guid"]: e for e in podcastparser.parse(BASE_URL, _stream(feed))["episodes"]}
    molasses = next(e for e in episodes.values() if e["title"] == "The Great Molasses Flood")
    assert all(set(p) == shape for p in molasses["persons"])
    assert [(p["name"], p["role"], p["group"]) for p in molasses["persons"]] == [
        ("Nora Vance", "host", "cast"), ("Nora Vance", "writer", "writing"),
        ("Ana Ruiz", "audio editor", "audio post-production"),
        ("Ana Ruiz", "sound designer", "audio post-production"),
        ("Zoë Ørsted-Łukasz", "composer", "audio post-production")]
    tricky = next(e for e in episodes.values() if e["title"] == TRICKY_TITLE)
    assert tricky["persons"][1]["name"] == TRICKY_NAME


def _stream(data: bytes):
    import io
    return io.BytesIO(data)


# ---------------------------------------------------------------- what the feed says


def test_podcast_guid_is_the_spec_uuid5():
    # The spec's own examples (docs/tags/guid.md).
    assert feed_guid("https://mp3s.nashownotes.com/pc20rss.xml") == \
        "917393e3-1b1e-5cef-ace4-edaa54e1f810"
    assert feed_guid("http://podnews.net/rss/") == "9b024349-ccf0-5f69-a609-6b82873eab3c"


def test_channel_has_apple_and_podcasting20_tags(published):
    _, feed = published
    ch = channel(feed)
    assert (ch.findtext("title"), ch.findtext("description"), ch.findtext("link")) == (
        "The Daybook", "One date, one true story, every weekday.", BASE_URL)
    assert ch.findtext("language") == "en"
    assert ch.find("itunes:image", NS).get("href").startswith(BASE_URL + "cover-")
    assert [c.get("text") for c in ch.findall("itunes:category", NS)] == \
        ["History", "Society & Culture"]
    assert ch.find("itunes:category[@text='Society & Culture']/itunes:category", NS) \
        .get("text") == "Documentary"
    assert ch.findtext("itunes:explicit", namespaces=NS) == "false"
    assert ch.findtext("itunes:author", namespaces=NS) == "Lantern Hill Audio"
    assert ch.findtext("itunes:owner/itunes:email", namespaces=NS) == "nora@example.org"
    assert ch.find("atom:link", NS).get("href") == BASE_URL + "feed.xml"
    assert ch.findtext("podcast:guid", namespaces=NS) == feed_guid(BASE_URL + "feed.xml")
    locked = ch.find("podcast:locked", NS)
    assert (locked.text, locked.get("owner")) == ("yes", "nora@example.org")
    host = ch.find("podcast:person", NS)
    assert (host.text, host.get("role"), host.get("group")) == ("Nora Vance", "host", "cast")
    assert ch.findtext("lastBuildDate") == "Mon, 02 Feb 2026 10:00:00 +0000"  # newest episode


def test_items_have_apple_and_podcasting20_tags(published):
    _, feed = published
    item = channel(feed).findall("item")[1]  # the molasses flood
    base = BASE_URL + "great-molasses-flood/"
    assert item.find("guid").get("isPermaLink") == "false"
    assert item.findtext("itunes:title", namespaces=NS) == "The Great Molasses Flood"
    assert item.findtext("itunes:episodeType", namespaces=NS) == "full"
    assert item.findtext("itunes:season", namespaces=NS) == "1"
    assert item.findtext("itunes:episode", namespaces=NS) == "1"
    assert item.findtext("podcast:season", namespaces=NS) == "1"
    assert item.findtext("podcast:episode", namespaces=NS) == "1"
    assert item.findtext("itunes:explicit", namespaces=NS) == "false"
    chapters = item.find("podcast:chapters", NS)
    assert chapters.attrib == {"url": base + "chapters.json", "type": "application/json+chapters"}
    assert [(t.get("url"), t.get("type"), t.get("language"))
            for t in item.findall("podcast:transcript", NS)] == [
        (base + "transcript.vtt", "text/vtt", "en"),
        (base + "transcript.srt", "application/x-subrip", "en")]
    for person in item.findall("podcast:person", NS):
        assert person.get("group") == group_of(person.get("role"))
        assert set(person.attrib) <= {"role", "group", "href", "img"}  # no organisation here
    notes = item.findtext("content:encoded", namespaces=NS)
    assert "Ana Ruiz (Lantern Hill Audio)" in notes  # … it is credited in the show notes
    assert "Deborah Kops, The Great Molasses Flood (2012)" in notes  # sources.txt
    assert '<a href="https://example.org/dark-tide">' in notes  # front-matter source, linked
    assert "0:02 Act One: A Tank Built in a Hurry" in notes
    assert item.findtext("description") == EPISODES["great-molasses-flood"].metadata.summary


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_markup_in_titles_and_credits_survives_escaped(published):
    _, feed = published
    assert b"]]>" not in feed and feedparser.parse(feed).bozo == 0
    item = channel(feed).find("item")
    assert item.findtext("title") == TRICKY_TITLE
    notes = _Text()
    notes.feed(item.findtext("content:encoded", namespaces=NS))
    assert set(notes.tags) <= {"p", "ul", "li", "a"}  # the markup in the data stayed text
    text = "".join(notes.text)
    assert TRICKY_NAME in text and "<script>alert(1)</script> & ]]> survives" in text
    names = [p.text for p in item.findall("podcast:person", NS)]
    assert names == ["Nora Vance", TRICKY_NAME]


# ---------------------------------------------------------------- stable, repeatable


def test_publishing_again_changes_nothing(project, published):
    result, feed = published
    again = run(project, now=NOW + dt.timedelta(days=1))  # later, but nothing new is due
    assert again.feed.read_bytes() == feed
    assert again.written == 0


def test_pages_are_redrawn_when_their_inputs_change(project, published):
    root, show, scripts = project
    page = root / "feed" / "great-molasses-flood" / "index.html"
    vtt = root / "build" / "great-molasses-flood" / "transcript.vtt"
    vtt.write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nA corrected line.\n", "utf-8")
    run(project)
    assert "A corrected line." in page.read_text("utf-8")
    renamed = dataclasses.replace(show, title="The Daybook, Revised")
    publish_scripts(renamed, root, scripts, now=NOW)
    assert "The Daybook, Revised" in page.read_text("utf-8")


def test_guids_are_stable_and_overridable(project, published):
    root, show, scripts = project
    _, feed = published
    guids = [i.findtext("guid") for i in channel(feed).findall("item")]
    moved = dataclasses.replace(show, guid=feed_guid(BASE_URL + "feed.xml"))
    pinned = [(path, dataclasses.replace(s, metadata=dataclasses.replace(
        s.metadata, guid="https://old-host.example.com/?p=123")))
        if path.parent.name == "great-molasses-flood" else (path, s) for path, s in scripts]
    result = publish_scripts(moved, root, pinned, base_url="https://new-host.example.net/pod",
                             now=NOW)
    items = channel(result.feed.read_bytes()).findall("item")
    assert [i.findtext("guid") for i in items] == [guids[0], "https://old-host.example.com/?p=123"]
    assert items[0].find("enclosure").get("url").startswith("https://new-host.example.net/pod/")


def test_scheduled_episodes_wait_and_drafts_never_publish(project):
    root = project[0]
    result = run(project)
    assert result.scheduled == ("future-episode",) and result.drafts == ("a-draft",)
    assert "future-episode (--include-scheduled" in result.summary()
    assert not (root / "feed" / "future-episode").exists()
    early = run(project, include_scheduled=True)
    assert early.episodes == ("future-episode", *PUBLISHED)
    titles = [i.findtext("title") for i in channel(early.feed.read_bytes()).findall("item")]
    assert titles == ["Still to Come", TRICKY_TITLE, "The Great Molasses Flood"]  # no draft
    assert (root / "feed" / "future-episode" / "episode.mp3").is_file()
    later = run(project, now=dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.timezone.utc))
    assert later.episodes[0] == "future-episode"  # due at 10:00 UTC on its date
    assert run(project).episodes == PUBLISHED
    assert not (root / "feed" / "future-episode").exists()  # taken down with its item


def test_publish_reads_real_scripts(tmp_path, audio, art):
    """The whole edge: episodes/*/script.txt through the parser, sources.txt, build reports."""
    shutil.copytree(ROOT / "episodes" / "great-molasses-flood",
                    tmp_path / "episodes" / "great-molasses-flood")
    write_build(tmp_path, "great-molasses-flood", audio)
    (tmp_path / "cover.png").write_bytes(art)
    result = publish(make_show(tmp_path, artwork="cover.png"), tmp_path,
                     now=dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc))
    parsed = feedparser.parse(result.feed.read_bytes())
    assert parsed.bozo == 0 and [e.title for e in parsed.entries] == ["The Great Molasses Flood"]
    item = channel(result.feed.read_bytes()).find("item")
    roles = {(p.text, p.get("role")) for p in item.findall("podcast:person", NS)}
    assert roles == {("Nora Vance", "host"), ("Nora Vance", "producer"),  # the script's credits
                     ("Tomás Ferreira", "audio editor"), ("Priya Raman", "sound designer"),
                     ("Dov Kessler", "composer"), ("Ada Okafor", "writer"),
                     ("Felix Brandt", "researcher"), ("June Halvorsen", "fact checker"),
                     ("Wen Liu", "story editor"), ("Sam Ortega", "executive producer"),
                     ("Ruth Adeyemi", "executive producer")}
    notes = item.findtext("content:encoded", namespaces=NS)
    assert "Dark Tide" in notes and "Executive producer" in notes


# ---------------------------------------------------------------- media: hard links to the build


def _rebuild(path: Path, data: bytes) -> None:
    """What the build does to a file: write a temporary one, then rename it over the old."""
    temp = path.with_name(f".{path.name}.rebuild.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


def test_media_are_links_that_keep_the_old_bytes_until_the_next_publish(project, published,
                                                                         audio, tmp_path_factory):
    root = project[0]
    built = root / "build" / "great-molasses-flood" / "episode.mp3"
    served = root / "feed" / "great-molasses-flood" / "episode.mp3"
    assert os.path.samestat(built.stat(), served.stat())  # linked, not copied
    shorter = mp3(tmp_path_factory.mktemp("rebuilt") / "short.mp3", seconds=3.0).read_bytes()
    assert shorter != audio

    _rebuild(built, shorter)
    assert served.read_bytes() == audio  # the build moved on; what listeners get did not
    assert not os.path.samestat(built.stat(), served.stat())

    before = {p: p.stat().st_mtime_ns for p in (root / "feed").rglob("*") if p.is_file()}
    result = run(project)
    after = {p: p.stat().st_mtime_ns for p in (root / "feed").rglob("*") if p.is_file()}
    assert served.read_bytes() == shorter and os.path.samestat(built.stat(), served.stat())
    changed = sorted(str(p.relative_to(root)) for p in after if before.get(p) != after[p])
    # The media, and the two files that give its length: the enclosure and the episode's page.
    assert changed == ["feed/feed.xml", "feed/great-molasses-flood/episode.mp3",
                       "feed/great-molasses-flood/index.html"]
    assert result.written == len(changed)
    enclosures = {e.href: int(e.length) for e in
                  (x.enclosures[0] for x in feedparser.parse(result.feed.read_bytes()).entries)}
    assert enclosures == {BASE_URL + "great-molasses-flood/episode.mp3": len(shorter),
                          BASE_URL + "tricky-title/episode.mp3": len(audio)}
    assert run(project).written == 0  # and the relinked file is current from then on


def test_media_are_copied_where_they_cannot_be_linked(project, audio, monkeypatch):
    def cross_device(src, dst, *args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link", str(src))

    monkeypatch.setattr(os, "link", cross_device)
    root = project[0]
    result = run(project)
    built = root / "build" / "great-molasses-flood" / "episode.mp3"
    served = root / "feed" / "great-molasses-flood" / "episode.mp3"
    assert served.read_bytes() == audio and not os.path.samestat(built.stat(), served.stat())
    assert served.stat().st_mtime_ns == built.stat().st_mtime_ns  # copy2 keeps the time
    files = [p for p in (root / "feed").rglob("*") if p.is_file() and p.name != ".publish.lock"]
    # The first publish writes every file: cover, index, feed, and five for each of two episodes.
    assert result.written == len(files) == 3 + 2 * 5
    assert run(project).written == 0  # a copy with the time is current
    _rebuild(built, audio[:-100])
    run(project)
    assert served.read_bytes() == audio[:-100]


# ---------------------------------------------------------------- errors the user can fix


def test_unbuilt_episode_is_an_error_naming_it(tmp_path, audio, art):
    (tmp_path / "cover.png").write_bytes(art)
    scripts = make_catalogue(tmp_path, audio, built=("great-molasses-flood",))
    with pytest.raises(PublishError, match=r"'tricky-title' is not built .*"
                       r"run podforge build episodes/tricky-title"):
        publish_scripts(make_show(tmp_path, artwork="cover.png"), tmp_path, scripts, now=NOW)
    assert not (tmp_path / "feed").exists()  # checked before anything was written


def test_missing_audio_is_an_error_naming_it(project):
    (project[0] / "build" / "great-molasses-flood" / "episode.mp3").unlink()
    with pytest.raises(PublishError, match=r"great-molasses-flood.*episode\.mp3 is missing: "
                                           r"run podforge build episodes/great-molasses-flood"):
        run(project)


def test_undated_episode_is_an_error(project):
    root, show, scripts = project
    path, s = scripts[0]
    undated = dataclasses.replace(s, metadata=Metadata(title="No Date"))
    with pytest.raises(PublishError, match="no publication date"):
        publish_scripts(show, root, [(path, undated)], now=NOW)


@pytest.mark.parametrize("url", ["ftp://example.org/pod/", "podcast/", "/feed/",
                                 "https//example.org", "http://"])
def test_base_url_must_be_absolute_http(project, url):
    with pytest.raises(PublishError, match=r"--base-url .* is not an absolute http\(s\) URL"):
        run(project, base_url=url)


def test_base_url_is_required(project):
    root, show, scripts = project
    with pytest.raises(PublishError, match="no base URL: set base_url in show.yaml"):
        publish_scripts(dataclasses.replace(show, base_url=None), root, scripts, now=NOW)
    assert public_urls("https://x.example/a").feed == "https://x.example/a/feed.xml"


def _jpeg(width: int, height: int) -> bytes:
    """The header of a JPEG (SOI, APP0, SOF0): enough for the size check."""
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0\x00\x11\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big") + \
        b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def test_artwork_must_exist_and_fit(project):
    root, show, scripts = project
    with pytest.raises(PublishError, match=r"art/missing\.png: cannot read the cover art"):
        publish_scripts(dataclasses.replace(show, artwork="art/missing.png"), root, scripts,
                        now=NOW)
    for name, data, problem in (("small.png", cover_art("x", 600), "600×600 px"),
                                ("tall.jpg", _jpeg(1400, 1600), "1400×1600 px"),
                                ("notes.txt", b"not an image", "must be a PNG or JPEG")):
        (root / "art" / name).write_bytes(data)
        with pytest.raises(PublishError, match=rf"art/{name}: .*{problem}"):
            publish_scripts(dataclasses.replace(show, artwork=f"art/{name}"), root, scripts,
                            now=NOW)
    assert image_size(_jpeg(3000, 3000)) == ("jpeg", 3000, 3000)
    assert check_artwork(Path("a.jpg"), _jpeg(3000, 3000)) == "jpg"


def test_a_show_without_artwork_gets_original_square_art(tmp_path, audio):
    scripts = make_catalogue(tmp_path, audio)
    result = publish_scripts(make_show(tmp_path), tmp_path, scripts, now=NOW)
    href = channel(result.feed.read_bytes()).find("itunes:image", NS).get("href")
    art = result.feed.parent / href.rsplit("/", 1)[1]
    assert image_size(art.read_bytes()) == ("png", 1400, 1400)
    assert any("Add `guid:" in note for note in result.notes)


# ---------------------------------------------------------------- crashes and concurrency


def test_a_crash_mid_publish_leaves_the_previous_feed_whole(project, published, monkeypatch):
    root, show, scripts = project
    _, before = published
    for path, _ in scripts:  # new episode text everywhere: every page and the feed change
        path.parent.joinpath("sources.txt").write_text("A new source\n", encoding="utf-8")
    real, calls = os.replace, []

    def crash_on_third(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        real(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_third)
    with pytest.raises(OSError, match="simulated"):
        run(project)
    monkeypatch.setattr(os, "replace", real)
    assert (root / "feed" / "feed.xml").read_bytes() == before
    assert feedparser.parse(before).bozo == 0
    assert not list((root / "feed").rglob("*.tmp"))  # no litter either
    assert b"A new source" in run(project).feed.read_bytes()  # and the next publish completes


def test_a_crash_writing_the_feed_itself_keeps_the_old_one(project, published, monkeypatch):
    root = project[0]
    _, before = published
    (root / "episodes" / "tricky-title" / "sources.txt").write_text("Changed\n", "utf-8")
    real = os.replace

    def crash_on_feed(src, dst):
        if str(dst).endswith("feed.xml"):
            raise OSError("power cut (simulated)")
        real(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_feed)
    with pytest.raises(OSError):
        run(project)
    assert (root / "feed" / "feed.xml").read_bytes() == before


def _tree(folder: Path) -> dict[str, bytes]:
    """Every published file's bytes, pages without their input keys (those hold file paths)."""
    return {str(p.relative_to(folder)): re.sub(rb"<!-- podforge inputs \w+ -->", b"",
                                               p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".publish.lock"}


def _parallel(monkeypatch) -> None:
    """Draw even a handful of pages in worker processes (as a first publish of many does)."""
    monkeypatch.setattr(pipeline.publish.run, "PARALLEL_PAGES", 1)
    monkeypatch.setattr(pipeline.publish.run, "PAGES_PER_JOB", 1)
    with pipeline.publish.run._workers(2) as pool:
        if pool is None:
            pytest.skip("no worker processes here (no fork, one CPU, or threads running)")


def test_pages_drawn_by_workers_are_the_pages_drawn_here(project, tmp_path_factory, audio, art,
                                                         monkeypatch):
    here = run(project, include_scheduled=True)
    _parallel(monkeypatch)
    other = tmp_path_factory.mktemp("parallel")
    (other / "art").mkdir()
    (other / "art" / "cover.png").write_bytes(art)
    scripts = make_catalogue(other, audio)
    there = publish_scripts(make_show(other, artwork="art/cover.png"), other, scripts, now=NOW,
                            include_scheduled=True)
    assert there.written == here.written
    assert _tree(there.feed.parent) == _tree(here.feed.parent)


def test_many_pages_are_drawn_by_worker_processes(project, monkeypatch):
    _parallel(monkeypatch)
    real = pipeline.publish.run.episode_page

    def signed(*args, **kwargs):  # the workers are forked: they call this too
        return real(*args, **kwargs) + f"<!-- drawn by {os.getpid()} -->"

    monkeypatch.setattr(pipeline.publish.run, "episode_page", signed)
    result = run(project)
    pids = {re.search(r"drawn by (\d+)", (result.feed.parent / slug / "index.html")
                      .read_text(encoding="utf-8"))[1] for slug in PUBLISHED}
    assert pids and str(os.getpid()) not in pids


def test_a_crash_in_a_worker_leaves_the_previous_feed_whole(project, published, monkeypatch):
    root, show, scripts = project
    _, before = published
    _parallel(monkeypatch)
    for path, _ in scripts:
        path.parent.joinpath("sources.txt").write_text("A new source\n", encoding="utf-8")
    real = os.replace

    def crash_on_pages(src, dst):  # runs in the workers: fork gives them this os.replace
        if str(dst).endswith("index.html"):
            raise OSError("disk full (simulated)")
        real(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_pages)
    with pytest.raises(OSError, match="simulated"):
        run(project)
    monkeypatch.setattr(os, "replace", real)
    assert (root / "feed" / "feed.xml").read_bytes() == before
    assert not list((root / "feed").rglob("*.tmp"))
    assert b"A new source" in run(project).feed.read_bytes()


def test_a_second_publish_cannot_interleave(project, published):
    root = project[0]
    with open(root / "feed" / ".publish.lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(PublishError, match="another publish is running"):
            run(project)
    run(project)  # released: fine again
