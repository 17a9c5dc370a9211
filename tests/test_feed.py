"""The published feed, read back by real podcast clients: feedparser and gPodder's podcastparser.

Every test publishes a small built catalogue (publish_fixtures) into tmp_path.
"""

from __future__ import annotations

import hashlib
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
import yaml

import pipeline.publish.pages
from pipeline.errors import PublishError
from pipeline.model import Metadata
from pipeline.publish.podcast_ns import NAMESPACE, feed_guid
from pipeline.publish.artwork import check_artwork, cover_art, image_size
from pipeline.publish.run import publish
from pipeline.publish.feed import public_urls
from pipeline.script.taxonomy import group_of

from conftest import shared
from publish_fixtures import (BASE_URL, EPISODES, NOW, SHEET_SOURCE, TRICKY_NAME, TRICKY_TITLE,
                              Planned, make_catalogue, make_show, mp3, retitled, write_build)

NS = {"itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd", "podcast": NAMESPACE,
      "content": "http://purl.org/rss/1.0/modules/content/",
      "atom": "http://www.w3.org/2005/Atom"}
PUBLISHED = ("tricky-title", "great-molasses-flood")  # newest first


def named(slug: str, data: bytes) -> str:
    """The name an episode's MP3 is published under: its bytes' digest in it."""
    return f"{slug}-{hashlib.sha256(data).hexdigest()[:12]}.mp3"


@pytest.fixture(scope="session")
def audio(tmp_path_factory) -> bytes:
    return mp3(tmp_path_factory.mktemp("audio") / "sine.mp3").read_bytes()


@pytest.fixture(scope="session")
def art(tmp_path_factory) -> bytes:
    return cover_art("The Daybook")  # drawn once: most tests pass it as the show's artwork


@pytest.fixture
def project(tmp_path, audio, art):
    """(root, show): a show with artwork and four episodes, all built."""
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "cover.png").write_bytes(art)
    make_catalogue(tmp_path, audio)
    return tmp_path, make_show(tmp_path, artwork="art/cover.png")


def run(project, **options):
    root, show = project
    return publish(options.pop("show", show), root, now=options.pop("now", NOW), **options)


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
        assert enclosure.href == f"{BASE_URL}{slug}/{named(slug, audio)}"
        assert int(enclosure.length) == len(audio) == (result.feed.parent / slug /
                                                       named(slug, audio)).stat().st_size
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
        assert episode["enclosures"] == [{"url": f"{BASE_URL}{slug}/{named(slug, audio)}",
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
    assert SHEET_SOURCE in notes  # sources.txt, as the build read it
    assert '<a href="https://example.org/dark-tide">' in notes  # front-matter source, linked
    assert "0:02 Act One: A Tank Built in a Hurry" in notes
    assert item.findtext("description") == EPISODES["great-molasses-flood"].metadata.summary


def test_feedparser_reports_the_author_not_the_owner(published):
    _, feed = published
    parsed = feedparser.parse(feed)
    assert parsed.feed.author == "Lantern Hill Audio"  # itunes:author, not itunes:owner's name
    assert parsed.feed.publisher_detail.email == "nora@example.org"  # the owner is still there


def test_special_thanks_are_read_listed_and_not_people(published):
    from pipeline.model import Paragraph
    from pipeline.script.credits import read_credits

    credits, notes = read_credits([Paragraph(
        "Audio editing by Ana Ruiz. Special thanks to the Boston Public Library and Ana Ruiz.",
        1, 1)], "Nora Vance", "From {network}, this is {show}")
    assert notes == ()
    assert [(c.name, c.roles) for c in credits] == [
        ("Ana Ruiz", ("audio editor", "special thanks")),
        ("Boston Public Library", ("special thanks",))]
    _, feed = published
    item = channel(feed).findall("item")[1]  # the molasses flood credits the same
    shown = item.findtext("content:encoded", namespaces=NS)
    assert shown.endswith("</ul>") and \
        "<li>Special thanks: Boston Public Library, Ana Ruiz</li></ul>" \
        in shown.split("<p>Sources", 1)[0]
    assert "Boston Public Library" not in [p.text for p in item.findall("podcast:person", NS)]


def test_channel_has_the_shows_podcasting20_details(published):
    _, feed = published
    ch = channel(feed)
    assert ch.findtext("podcast:medium", namespaces=NS) == "podcast"
    assert ch.findtext("podcast:license", namespaces=NS) == "CC-BY-4.0"
    assert ch.findtext("podcast:txt", namespaces=NS) == "lantern-hill-verify-2f9c"
    assert ch.findtext("podcast:location", namespaces=NS) == "Boston, Massachusetts"
    funding = ch.find("podcast:funding", NS)
    assert (funding.get("url"), funding.text) == ("https://example.org/support",
                                                  "Support the show")


def test_a_soundbite_from_the_cold_open(published):
    _, feed = published
    bite = channel(feed).find("item/podcast:soundbite", NS)
    # The fixture's cold open is 2.5 s of a 6 s episode: a soundbite is at least 30 s when the
    # episode has them, so here it is all 6 s from the cold open's start.
    assert (bite.get("startTime"), bite.get("duration"), bite.text) == \
        ("0.000", "6.000", TRICKY_TITLE)


def test_soundbite_lengths():
    from pipeline.publish.episodes import Episode
    from pipeline.publish.feed import soundbite
    from pipeline.report import BuildReport, SegmentReport

    def episode(cold: float, total: float) -> Episode:
        segments = (SegmentReport("cold_open", None, None, 0.0, cold, "take"),
                    SegmentReport("intro", None, None, cold, total, "take"))
        fields = dict(slug="x", script="s", script_sha256="", metadata=Metadata(), credits=(),
                      sources=(), audio="x.mp3", audio_bytes=1, duration=total,
                      integrated_lufs=-16.0, true_peak_dbtp=-1.0, gain_db=0.0, chapters=(),
                      segments=segments, lines=(), chapters_file="c", transcript_vtt="v",
                      transcript_srt="s", key="k")
        return Episode(BuildReport(**fields), Path("."))

    assert soundbite(episode(45.0, 900.0)) == (0.0, 45.0)
    assert soundbite(episode(300.0, 900.0)) == (0.0, 60.0)
    assert soundbite(episode(10.0, 900.0)) == (0.0, 30.0)


def test_a_show_medium_must_be_one_the_namespace_knows(project):
    show = dataclasses.replace(project[1], medium="radio")
    with pytest.raises(PublishError, match=r"show.yaml: medium: 'radio' is not a podcast:medium"):
        run(project, show=show)


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


def test_pages_are_redrawn_when_their_inputs_change(project, published, audio):
    from pipeline.model import TimedLine

    root, show = project
    page = root / "feed" / "great-molasses-flood" / "index.html"
    write_build(root, "great-molasses-flood", audio,
                lines=[TimedLine(0.0, 1.0, "A corrected line.", "Nora Vance")])
    run(project)
    assert "A corrected line." in page.read_text("utf-8")
    renamed = dataclasses.replace(show, title="The Daybook, Revised")
    run(project, show=renamed)
    assert "The Daybook, Revised" in page.read_text("utf-8")


def test_front_matter_guid_and_base_url(tmp_path, audio, art):
    """A guid from the front matter (a show moved from another host) is the item's <guid>."""
    (tmp_path / "cover.png").write_bytes(art)
    make_catalogue(tmp_path, audio)
    write_build(tmp_path, "great-molasses-flood", audio,
                retitled("great-molasses-flood", guid="https://old-host.example.com/?p=123"))
    show = make_show(tmp_path, artwork="cover.png", guid=feed_guid(BASE_URL + "feed.xml"))
    result = publish(show, tmp_path, base_url="https://new-host.example.net/pod", now=NOW)
    items = channel(result.feed.read_bytes()).findall("item")
    assert [i.findtext("guid") for i in items] == [
        str(uuid.uuid5(uuid.UUID(feed_guid(BASE_URL + "feed.xml")), "tricky-title")),
        "https://old-host.example.com/?p=123"]
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
    assert len(list((root / "feed" / "future-episode").glob("future-episode-*.mp3"))) == 1
    later = run(project, now=dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.timezone.utc))
    assert later.episodes[0] == "future-episode"  # due at 10:00 UTC on its date


# ---------------------------------------------------------------- build output only


def test_what_the_feed_says_comes_from_the_report(project, published):
    """The scripts are stand-ins that say nothing of titles, credits or sources: the reports do."""
    root = project[0]
    assert "Molasses" not in (root / "episodes" / "great-molasses-flood" / "script.txt"
                              ).read_text("utf-8")
    _, feed = published
    item = channel(feed).findall("item")[1]
    assert item.findtext("title") == "The Great Molasses Flood"
    notes = item.findtext("content:encoded", namespaces=NS)
    assert "Dark Tide" in notes and SHEET_SOURCE in notes and "Composer: Zoë Ørsted-Łukasz" \
        in notes


def test_a_script_changed_after_its_build_stops_the_publish(project, published):
    root = project[0]
    _, before = published
    script = root / "episodes" / "great-molasses-flood" / "script.txt"
    script.write_text("A new title, not yet built\n", encoding="utf-8")
    with pytest.raises(PublishError, match=r"episodes/great-molasses-flood/script\.txt changed "
                       r"since .*run podforge build episodes/great-molasses-flood"):
        run(project)
    assert (root / "feed" / "feed.xml").read_bytes() == before


def test_sources_changed_after_the_build_stop_it_too(project, published):
    root = project[0]
    (root / "episodes" / "great-molasses-flood" / "sources.txt").write_text("Another\n", "utf-8")
    with pytest.raises(PublishError, match=r"sources\.txt changed since .*podforge build "
                                           r"episodes/great-molasses-flood"):
        run(project)


def test_a_changed_draft_is_only_a_note(project):
    root = project[0]
    (root / "episodes" / "a-draft" / "script.txt").write_text("still drafting\n", "utf-8")
    result = run(project)
    assert result.episodes == PUBLISHED
    assert any("episodes/a-draft/script.txt changed since its build" in n for n in result.notes)


def test_a_script_without_a_build_is_left_out_with_a_note(tmp_path, audio, art):
    (tmp_path / "cover.png").write_bytes(art)
    make_catalogue(tmp_path, audio, built=("great-molasses-flood",))
    result = publish(make_show(tmp_path, artwork="cover.png"), tmp_path, now=NOW)
    assert result.episodes == ("great-molasses-flood",)
    assert any("episodes/tricky-title/script.txt is not built" in n and
               "run podforge build episodes/tricky-title" in n for n in result.notes)


def test_a_report_of_another_schema_is_left_out_with_a_note(project):
    root = project[0]
    report = root / "build" / "tricky-title" / "report.json"
    report.write_text('{"schema": 1, "audio": "episode.mp3"}', encoding="utf-8")
    result = run(project)
    assert result.episodes == ("great-molasses-flood",)
    assert any("build/tricky-title/report.json: not a build report" in n for n in result.notes)


# ---------------------------------------------------------------- media: hard links to the build


def test_media_are_links_under_names_of_their_bytes(project, published, audio,
                                                    tmp_path_factory):
    root = project[0]
    built = root / "build" / "great-molasses-flood" / "great-molasses-flood.mp3"
    served = root / "feed" / "great-molasses-flood" / named("great-molasses-flood", audio)
    assert os.path.samestat(built.stat(), served.stat())  # linked, not copied
    shorter = mp3(tmp_path_factory.mktemp("rebuilt") / "short.mp3", seconds=3.0).read_bytes()
    assert shorter != audio

    write_build(root, "great-molasses-flood", shorter)
    assert served.read_bytes() == audio  # the build moved on; what listeners get did not

    result = run(project)
    again = root / "feed" / "great-molasses-flood" / named("great-molasses-flood", shorter)
    assert again.read_bytes() == shorter and os.path.samestat(built.stat(), again.stat())
    assert not served.exists()  # the old name served the old bytes only: taken down
    assert result.written >= 1
    enclosures = {e.href: int(e.length) for e in
                  (x.enclosures[0] for x in feedparser.parse(result.feed.read_bytes()).entries)}
    assert enclosures == {
        BASE_URL + "great-molasses-flood/" + named("great-molasses-flood", shorter): len(shorter),
        BASE_URL + "tricky-title/" + named("tricky-title", audio): len(audio)}
    assert run(project).written == 0  # and the relinked file is current from then on


def test_media_are_copied_where_they_cannot_be_linked(project, audio, monkeypatch):
    def cross_device(src, dst, *args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link", str(src))

    root = project[0]
    monkeypatch.setattr(os, "link", cross_device)
    result = run(project)
    built = root / "build" / "great-molasses-flood" / "great-molasses-flood.mp3"
    served = root / "feed" / "great-molasses-flood" / named("great-molasses-flood", audio)
    assert served.read_bytes() == audio and not os.path.samestat(built.stat(), served.stat())
    assert served.stat().st_mtime_ns == built.stat().st_mtime_ns  # copy2 keeps the time
    assert result.written > 0 and run(project).written == 0  # a copy with the time is current
    write_build(root, "great-molasses-flood", audio[:-100])
    run(project)
    cut = root / "feed" / "great-molasses-flood" / named("great-molasses-flood", audio[:-100])
    assert cut.read_bytes() == audio[:-100]


# ---------------------------------------------------------------- errors the user can fix


def test_missing_audio_is_an_error_naming_it(project):
    root = project[0]
    (root / "build" / "great-molasses-flood" / "great-molasses-flood.mp3").unlink()
    with pytest.raises(PublishError, match=r"great-molasses-flood.*great-molasses-flood\.mp3 but "
                       r"it is missing: run podforge build episodes/great-molasses-flood"):
        run(project)
    assert not (root / "feed").exists()  # checked before anything was written


def test_audio_of_another_size_than_the_build_wrote_is_an_error(project):
    root = project[0]
    built = root / "build" / "tricky-title" / "tricky-title.mp3"
    built.write_bytes(built.read_bytes()[:100])
    with pytest.raises(PublishError, match=r"'tricky-title': its audio .* is 100 bytes, the "
                                           r"build wrote \d+: run podforge build"):
        run(project)


def test_undated_episode_is_an_error(project, audio):
    root = project[0]
    write_build(root, "tricky-title", audio, Planned(Metadata(title="No Date")))
    with pytest.raises(PublishError, match=r"episodes/tricky-title/script\.txt: no publication "
                                           r"date"):
        run(project)


@pytest.mark.parametrize("url", ["ftp://example.org/pod/", "podcast/", "/feed/",
                                 "https//example.org", "http://"])
def test_base_url_must_be_absolute_http(project, url):
    with pytest.raises(PublishError, match=r"--base-url .* is not an absolute http\(s\) URL"):
        run(project, base_url=url)


def test_base_url_is_required(project):
    root, show = project
    with pytest.raises(PublishError, match="no base URL: set base_url in show.yaml"):
        run(project, show=dataclasses.replace(show, base_url=None))
    assert public_urls("https://x.example/a").feed == "https://x.example/a/feed.xml"


def _jpeg(width: int, height: int) -> bytes:
    """The header of a JPEG (SOI, APP0, SOF0): enough for the size check."""
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0\x00\x11\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big") + \
        b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def test_artwork_must_exist_and_fit(project):
    root, show = project
    with pytest.raises(PublishError, match=r"art/missing\.png: cannot read the cover art"):
        run(project, show=dataclasses.replace(show, artwork="art/missing.png"))
    for name, data, problem in (("small.png", cover_art("x", 600), "600×600 px"),
                                ("tall.jpg", _jpeg(1400, 1600), "1400×1600 px"),
                                ("notes.txt", b"not an image", "must be a PNG or JPEG")):
        (root / "art" / name).write_bytes(data)
        with pytest.raises(PublishError, match=rf"art/{name}: .*{problem}"):
            run(project, show=dataclasses.replace(show, artwork=f"art/{name}"))
    assert image_size(_jpeg(3000, 3000)) == ("jpeg", 3000, 3000)
    assert check_artwork(Path("a.jpg"), _jpeg(3000, 3000)) == "jpg"


def test_a_show_without_artwork_gets_original_square_art(tmp_path, audio):
    make_catalogue(tmp_path, audio)
    result = publish(make_show(tmp_path), tmp_path, now=NOW)
    href = channel(result.feed.read_bytes()).find("itunes:image", NS).get("href")
    art = result.feed.parent / href.rsplit("/", 1)[1]
    assert image_size(art.read_bytes()) == ("png", 1400, 1400)
    assert any("published.yaml now pins" in note for note in result.notes)


# ---------------------------------------------------------------- crashes and concurrency


def _rebuild_all(root: Path, audio: bytes) -> None:
    """New episode text everywhere (a rebuild of every edited script): every page changes."""
    for slug in EPISODES:
        write_build(root, slug, audio, retitled(slug, summary="A new summary"))


def test_a_crash_mid_publish_leaves_the_previous_feed_whole(project, published, monkeypatch,
                                                            audio):
    root = project[0]
    _, before = published
    _rebuild_all(root, audio)
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
    assert b"A new summary" in run(project).feed.read_bytes()  # and the next publish completes


def test_a_crash_writing_the_feed_itself_keeps_the_old_one(project, published, monkeypatch,
                                                           audio):
    root = project[0]
    _, before = published
    write_build(root, "tricky-title", audio, retitled("tricky-title", summary="Changed"))
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
    """Every published file's bytes, pages without their input keys."""
    return {str(p.relative_to(folder)): re.sub(rb"<!-- podforge inputs \w+ -->", b"",
                                               p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _parallel(monkeypatch) -> None:
    """Draw even a handful of pages in worker processes (as a first publish of many does)."""
    monkeypatch.setattr(pipeline.publish.pages, "PARALLEL_PAGES", 1)
    monkeypatch.setattr(pipeline.publish.pages, "PAGES_PER_JOB", 1)
    with pipeline.publish.pages.workers(2) as pool:
        if pool is None:
            pytest.skip("no worker processes here (no fork, one CPU, or threads running)")


def test_pages_drawn_by_workers_are_the_pages_drawn_here(project, tmp_path_factory, audio, art,
                                                         monkeypatch):
    here = run(project, include_scheduled=True)
    _parallel(monkeypatch)
    other = tmp_path_factory.mktemp("parallel")
    (other / "art").mkdir()
    (other / "art" / "cover.png").write_bytes(art)
    make_catalogue(other, audio)
    there = publish(make_show(other, artwork="art/cover.png"), other, now=NOW,
                    include_scheduled=True)
    assert there.written == here.written
    assert _tree(there.feed.parent) == _tree(here.feed.parent)


def test_many_pages_are_drawn_by_worker_processes(project, monkeypatch):
    _parallel(monkeypatch)
    real = pipeline.publish.pages.episode_page

    def signed(*args, **kwargs):  # the workers are forked: they call this too
        return real(*args, **kwargs) + f"<!-- drawn by {os.getpid()} -->"

    monkeypatch.setattr(pipeline.publish.pages, "episode_page", signed)
    result = run(project)
    pids = {re.search(r"drawn by (\d+)", (result.feed.parent / slug / "index.html")
                      .read_text(encoding="utf-8"))[1] for slug in PUBLISHED}
    assert pids and str(os.getpid()) not in pids


def test_a_crash_in_a_worker_leaves_the_previous_feed_whole(project, published, monkeypatch,
                                                            audio):
    root = project[0]
    _, before = published
    _parallel(monkeypatch)
    _rebuild_all(root, audio)
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
    assert b"A new summary" in run(project).feed.read_bytes()


def test_a_second_publish_cannot_interleave(project, published):
    root = project[0]
    lock = root / ".podforge-cache" / "publish.lock"
    assert lock.is_file() and not list((root / "feed").rglob("*.lock"))  # never served
    with open(lock, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(PublishError, match="another publish is running"):
            run(project)
    run(project)  # released: fine again


# ---------------------------------------------------------------- GUIDs pinned forever


def _guids(feed: bytes) -> tuple[str, list[str]]:
    ch = channel(feed)
    return ch.findtext("podcast:guid", namespaces=NS), [i.findtext("guid")
                                                         for i in ch.findall("item")]


def test_guids_survive_a_new_base_url(project, published):
    root = project[0]
    _, feed = published
    before = _guids(feed)
    moved = run(project, base_url="https://cdn.example.net/other/")
    assert _guids(moved.feed.read_bytes()) == before  # the derived podcast:guid did not follow
    assert feed_guid("https://cdn.example.net/other/feed.xml") != before[0]
    ledger = yaml.safe_load((root / "published.yaml").read_text("utf-8"))
    assert ledger["podcast_guid"] == before[0]
    history = ledger["episodes"]["great-molasses-flood"]["enclosures"]
    name = named("great-molasses-flood", (root / "build" / "great-molasses-flood" /
                                          "great-molasses-flood.mp3").read_bytes())
    assert [h["url"] for h in history] == [
        BASE_URL + "great-molasses-flood/" + name,
        "https://cdn.example.net/other/great-molasses-flood/" + name]
    assert ledger["episodes"]["great-molasses-flood"]["first_published"] == \
        "2026-01-15T10:00:00+00:00"


def test_guids_survive_a_move_to_another_target(project, published):
    """Publishing elsewhere (another folder, as a bucket would be) keeps every GUID."""
    _, feed = published
    elsewhere = run(project, out_dir="public", base_url="https://bucket.example.com/daybook/")
    assert elsewhere.feed.parent.name == "public"
    assert _guids(elsewhere.feed.read_bytes()) == _guids(feed)


def _rename(root: Path, old: str, new: str, audio: bytes, **changes) -> None:
    """Rename an episode folder and build it under its new slug, as the build would."""
    (root / "episodes" / old).rename(root / "episodes" / new)
    planned = retitled(old, **changes) if changes else EPISODES[old]
    write_build(root, new, audio, planned, folder=new)


def test_a_renamed_folder_keeps_its_guid(project, published, audio):
    root = project[0]
    _, feed = published
    show_guid, (tricky, molasses) = _guids(feed)
    _rename(root, "great-molasses-flood", "molasses", audio)  # the same script: its hash
    result = run(project)
    assert result.episodes == ("tricky-title", "molasses")
    assert _guids(result.feed.read_bytes()) == (show_guid, [tricky, molasses])
    assert any("'molasses' is 'great-molasses-flood' renamed" in n for n in result.notes)
    ledger = yaml.safe_load((root / "published.yaml").read_text("utf-8"))
    assert ledger["episodes"]["molasses"]["renamed_from"] == ["great-molasses-flood"]
    assert "great-molasses-flood" not in ledger["episodes"]


def test_a_renamed_and_edited_folder_is_known_by_title_and_date(project, published, audio):
    root = project[0]
    _, feed = published
    _, (tricky, molasses) = _guids(feed)
    (root / "episodes" / "great-molasses-flood" / "script.txt").write_text("edited\n", "utf-8")
    _rename(root, "great-molasses-flood", "molasses", audio, summary="Edited.")
    result = run(project)
    assert _guids(result.feed.read_bytes())[1] == [tricky, molasses]
    assert any("the same title and date" in n for n in result.notes)


def test_a_front_matter_guid_cannot_change_a_published_one(project, published, audio):
    root = project[0]
    write_build(root, "tricky-title", audio, retitled("tricky-title", guid="urn:other"))
    with pytest.raises(PublishError, match=r"guid: urn:other is not the guid 'tricky-title' was "
                                           r"first published with"):
        run(project)


def test_a_new_show_guid_in_show_yaml_is_refused_after_publishing(project, published):
    show = dataclasses.replace(project[1], guid=str(uuid.uuid4()))
    with pytest.raises(PublishError, match=r"is not the podcast:guid this show was published"):
        run(project, show=show)


# ---------------------------------------------------------------- a feed never shrinks by accident


def test_an_episode_folder_removed_stops_the_publish(project, published):
    root = project[0]
    _, before = published
    shutil.rmtree(root / "episodes" / "tricky-title")
    with pytest.raises(PublishError, match=r"would remove 1 episode\(s\) from the live feed: "
                       r"tricky-title \(The <b>Bold</b>.*--allow-removal"):
        run(project)
    assert (root / "feed" / "feed.xml").read_bytes() == before
    result = run(project, allow_removal=True)
    assert result.episodes == ("great-molasses-flood",)
    assert result.removed == (f"tricky-title ({TRICKY_TITLE})",)
    assert "removed from the feed: tricky-title" in result.summary()


def test_a_missing_build_of_a_published_episode_stops_the_publish(project, published):
    root = project[0]
    _, before = published
    shutil.rmtree(root / "build" / "tricky-title")
    with pytest.raises(PublishError, match=r"episodes/tricky-title/script\.txt was published as "
                       r"'tricky-title' .* run podforge build episodes/tricky-title"):
        run(project)
    assert (root / "feed" / "feed.xml").read_bytes() == before


def test_an_empty_episodes_folder_writes_nothing(project, published):
    root = project[0]
    _, before = published
    ledger = (root / "published.yaml").read_bytes()
    for folder in (root / "episodes").iterdir():
        shutil.rmtree(folder)
    with pytest.raises(PublishError, match=r"would remove 2 episode\(s\)"):
        run(project)
    with pytest.raises(PublishError, match=r"nothing to publish, so nothing was written"):
        run(project, allow_removal=True)
    assert (root / "feed" / "feed.xml").read_bytes() == before
    assert (root / "published.yaml").read_bytes() == ledger


def test_a_draft_leaves_the_feed_on_purpose(project, published, audio):
    root = project[0]
    write_build(root, "tricky-title", audio, retitled("tricky-title", draft=True))
    result = run(project)
    assert result.episodes == ("great-molasses-flood",) and result.drafts[-1] == "tricky-title"


def test_no_episodes_at_all_writes_nothing_and_says_why(tmp_path, audio, art):
    make_catalogue(tmp_path, audio, built=())
    with pytest.raises(PublishError, match=r"nothing to publish.*not built: .*run podforge build"):
        publish(make_show(tmp_path), tmp_path, now=NOW)
    assert not (tmp_path / "feed").exists() and not (tmp_path / "published.yaml").exists()


def test_the_previous_feed_can_come_from_elsewhere(project, published):
    """The hook a remote target (an S3 bucket) uses: its live feed, not the local folder's."""
    _, feed = published
    live = feed.replace(b"<item>", b"<item><title>Only Live</title><guid>urn:live</guid>"
                        b"</item><item>", 1)
    with pytest.raises(PublishError, match="would remove 1 episode.*Only Live"):
        run(project, previous_feed=lambda: live)
    assert run(project, previous_feed=lambda: None).episodes == PUBLISHED


# ---------------------------------------------------------------- goldens

GOLDENS = Path(__file__).resolve().parent / "data"
UPDATE = os.environ.get("PODFORGE_UPDATE_GOLDENS") == "1"  # regenerate: see tests/data/README


def test_published_files_match_the_goldens(published):
    """feed.xml, an episode page and its transcripts, byte for byte as committed.

    A change that alters them shows in review as a diff of tests/data/; regenerate with
    PODFORGE_UPDATE_GOLDENS=1 python -m pytest tests/test_feed.py -k goldens.
    """
    result, feed = published
    folder = result.feed.parent / "great-molasses-flood"
    page = re.sub(rb"<!-- podforge inputs \w+ -->", b"<!-- podforge inputs -->",
                  (folder / "index.html").read_bytes())  # the key digests the code, too
    produced = {"publish-feed.xml": feed, "publish-episode.html": page,
                "publish-transcript.vtt": (folder / "transcript.vtt").read_bytes(),
                "publish-transcript.srt": (folder / "transcript.srt").read_bytes()}
    for name, data in produced.items():
        golden = GOLDENS / name
        if UPDATE:
            golden.parent.mkdir(exist_ok=True)
            golden.write_bytes(data)
        assert golden.is_file(), f"{golden} is missing: PODFORGE_UPDATE_GOLDENS=1 makes it"
        assert data == golden.read_bytes(), f"{name} differs from {golden}"
    vtt = produced["publish-transcript.vtt"].decode()
    assert vtt.startswith("WEBVTT") and "<v Nora Vance>It is a little after" in vtt


# ---------------------------------------------------------------- no draft voice by accident


def test_an_episode_with_draft_voiced_segments_is_refused_naming_them(project, audio):
    root, show = project
    write_build(root, "tricky-title", audio, EPISODES["tricky-title"],
                voices=("take", "draft", "draft"))
    with pytest.raises(PublishError, match=r"episodes/tricky-title/script.txt: act 1, credits are "
                                           r"voiced by the draft voice, not a recording"):
        run(project)
    assert not (root / "feed").exists()  # nothing written
    assert run(project, show=dataclasses.replace(show, draft_voice=True)).episodes == PUBLISHED


def test_an_episode_may_allow_the_draft_voice_in_its_front_matter(project, audio):
    root, _ = project
    planned = EPISODES["tricky-title"]
    allowed = Planned(dataclasses.replace(planned.metadata, draft_voice=True), planned.credits)
    write_build(root, "tricky-title", audio, allowed, voices=("draft",) * 3)
    assert run(project).episodes == PUBLISHED
