"""`podforge import`: an existing show's RSS → show.yaml and episodes/, read back by podforge."""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import http.server
import threading
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.errors import PodforgeError
from pipeline.publish.importer import duration_seconds, import_feed, read_feed, slugify, unique_slugs
from pipeline.model import Audio
from pipeline.script.parse import read_script
from pipeline.project import check_scripts, open_project
from pipeline.show import load_show

from conftest import ROOT, SHARED, podforge

FIXTURE = ROOT / "tests" / "data" / "import" / "harbour-lights.xml"
REFERENCE = SHARED / "reference" / "feeds" if (SHARED / "reference" / "feeds").is_dir() else None


def fixture_feed(folder: Path, host: str = "media.harbour-lights.example.net") -> Path:
    path = folder / "feed.xml"
    path.write_text(FIXTURE.read_text(encoding="utf-8").replace("HOST", host), encoding="utf-8")
    return path


def scripts_of(root: Path):
    return {p.parent.name: read_script(p) for p in sorted((root / "episodes").glob("*/script.txt"))}


def test_the_channel_becomes_show_yaml(tmp_path):
    feed = fixture_feed(tmp_path)
    result = import_feed(str(feed), tmp_path / "show")
    show = load_show(result.show_file)
    assert (show.title, show.host, show.network, show.author) == (
        "Harbour Lights", "Maren Holt", "Tidewater Sound", "Tidewater Sound")
    assert show.description == "Stories of lighthouses & the keepers who kept them lit."
    assert (show.owner.name, show.owner.email) == ("Maren Holt", "maren@harbour-lights.example.net")
    assert show.categories == ("History", "Society & Culture > Documentary")
    assert (show.language, show.explicit, show.locked) == ("en-gb", False, True)
    assert show.base_url == "https://harbour-lights.example.net/"
    assert show.guid == "3f1c7a52-9d4e-5b1a-8c2e-6f0d9a4b7e31"
    assert show.copyright == "© 2025 Tidewater Sound" and show.artwork is None
    assert "http://media.harbour-lights.example.net/cover.png" in result.show_file.read_text()


def test_items_keep_guid_date_and_enclosure(tmp_path):
    import_feed(str(fixture_feed(tmp_path)), tmp_path)
    scripts = scripts_of(tmp_path)
    assert sorted(scripts) == ["storm-season", "storm-season-2", "the-keeper-of-skerryvore"]
    keeper = scripts["the-keeper-of-skerryvore"].metadata
    assert keeper.guid == "hl-0003-skerryvore"
    assert keeper.published == dt.datetime(2025, 3, 4, 6, 30,
                                           tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert keeper.date == dt.date(2025, 3, 4) and (keeper.season, keeper.episode) == (1, 3)
    assert keeper.summary == "Twelve miles out, one tower, three keepers."
    assert keeper.explicit is False and keeper.title == "The Keeper of Skerryvore"
    assert keeper.audio == Audio("http://media.harbour-lights.example.net/ep3.mp3", 4096,
                                 "audio/mpeg", None, 3723.0)
    first, second = scripts["storm-season"].metadata, scripts["storm-season-2"].metadata
    assert first.guid.endswith("/storm-season-part-2") and first.episode == 2  # feed order
    assert second.guid.endswith("/storm-season") and second.explicit is True
    assert first.summary == "Part two: the winter of 1881." and first.audio.duration == 2710.0
    assert second.published == dt.datetime(2025, 2, 4, 10, tzinfo=dt.timezone.utc)
    notes = (tmp_path / "episodes" / "the-keeper-of-skerryvore" / "script.txt").read_text()
    assert "Sources & notes at the site." in notes  # the show notes, as text


def test_the_imported_show_validates_without_crashing(tmp_path):
    import_feed(str(fixture_feed(tmp_path)), tmp_path)
    project = open_project(tmp_path)
    check = check_scripts([], project)
    assert check.files == 3 and check.unreadable == ()
    assert not [d for d in check.diagnostics if d.code in ("M001", "M002")]  # keys accepted
    run = CliRunner().invoke(main, ["validate", "--show", str(tmp_path / "show.yaml"),
                                    str(tmp_path / "episodes")])
    assert run.exit_code == 0 and "Traceback" not in run.output  # published audio: nothing to fix


def test_refuses_to_overwrite_without_force(tmp_path):
    feed = fixture_feed(tmp_path)
    import_feed(str(feed), tmp_path / "show")
    edited = tmp_path / "show" / "episodes" / "storm-season" / "script.txt"
    edited.write_text("mine\n")
    run = CliRunner().invoke(main, ["import", "--into", str(tmp_path / "show"), str(feed)])
    assert run.exit_code == 2 and "already exist(s)" in run.output and "--force" in run.output
    assert edited.read_text() == "mine\n"
    run = CliRunner().invoke(main, ["import", "--force", "--into", str(tmp_path / "show"),
                                    str(feed)])
    assert run.exit_code == 0, run.output
    assert "imported 3 episode(s)" in run.output and "mine" not in edited.read_text()


@pytest.mark.parametrize("text, problem", [
    (b"<rss><channel><title>x</title>", "not well-formed XML"),
    (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "not an RSS feed"),
    (b"<rss><channel></channel></rss>", "no <title>"),
])
def test_bad_feeds_are_one_line_errors(tmp_path, text, problem):
    with pytest.raises(PodforgeError, match=problem):
        read_feed(text, "feed.xml")
    path = tmp_path / "bad.xml"
    path.write_bytes(text)
    run = CliRunner().invoke(main, ["import", "--into", str(tmp_path / "out"), str(path)])
    assert run.exit_code == 2 and problem in run.output and "Traceback" not in run.output
    assert not (tmp_path / "out" / "show.yaml").exists()


def test_undeclared_namespace_prefixes_are_read():
    feed = (b"<rss><channel><title>T</title><itunes:author>A</itunes:author><item>"
            b"<title>E</title><enclosure url='http://x.example/e.mp3'/><itunes:season>2"
            b"</itunes:season></item></channel></rss>")
    channel = read_feed(feed, "f")
    assert channel.author == "A" and channel.items[0].season == 2
    assert channel.items[0].guid == "http://x.example/e.mp3"  # no guid: the enclosure's URL


def test_small_parts():
    assert slugify("Ça va? L'été — 1881!") == "ca-va-lete-1881"
    assert unique_slugs(["A", "a", "A!"]) == ["a", "a-2", "a-3"]
    assert [duration_seconds(t) for t in ("45", "1:30", "1:02:03", "x", "")] == \
        [45.0, 90.0, 3723.0, None, None]


@pytest.fixture
def media_server(tmp_path):
    """A real HTTP server on loopback serving the fixture's enclosures and cover."""
    files = tmp_path / "www"
    files.mkdir()
    for name, size in (("ep3.mp3", 4096), ("ep2.mp3", 2048), ("ep1.m4a", 1024)):
        (files / name).write_bytes(bytes(range(256)) * (size // 256))
    (files / "cover.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(files))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}", files
    server.shutdown()
    server.server_close()


def test_download_fetches_audio_and_art_over_http(tmp_path, media_server):
    host, files = media_server
    feed = fixture_feed(tmp_path, host)
    (files / "feed.xml").write_bytes(feed.read_bytes())
    result = import_feed(f"http://{host}/feed.xml", tmp_path / "show", download=True)
    assert result.downloaded == 4
    show = load_show(tmp_path / "show" / "show.yaml")
    assert show.artwork == "artwork/cover.png"
    assert (tmp_path / "show" / show.artwork).read_bytes() == (files / "cover.png").read_bytes()
    for slug, script in scripts_of(tmp_path / "show").items():
        audio = script.metadata.audio
        local = tmp_path / "show" / "episodes" / slug / audio.file
        remote = files / audio.url.rsplit("/", 1)[1].split("?")[0]
        assert local.read_bytes() == remote.read_bytes() and audio.length == local.stat().st_size
    assert (tmp_path / "show" / "episodes" / "storm-season-2" / "audio.m4a").is_file()


def test_a_missing_enclosure_is_a_clear_error(tmp_path, media_server):
    host, files = media_server
    (files / "ep2.mp3").unlink()
    with pytest.raises(PodforgeError, match=r"ep2\.mp3\?dl=1: cannot download \(HTTP 404 "):
        import_feed(str(fixture_feed(tmp_path, host)), tmp_path / "show", download=True)
    assert not (tmp_path / "show" / "show.yaml").exists()  # written last: no half import


def reference_feeds():
    if REFERENCE is None:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason="the reference feeds (../shared/reference/feeds) are absent"))]
    return sorted(p for p in REFERENCE.iterdir() if p.suffix in (".xml", ".rss"))


@pytest.mark.parametrize("feed", reference_feeds(), ids=lambda p: p.name if p else "absent")
def test_real_feeds_round_trip_guids_and_dates(tmp_path, feed):
    """Every item of a real feed comes back with the guid and instant feedparser reads there."""
    result = import_feed(str(feed), tmp_path)
    show = load_show(result.show_file)
    parsed = feedparser.parse(feed.read_bytes())
    assert show.title == parsed.feed.title
    scripts = list(scripts_of(tmp_path).values())
    assert len(scripts) == len(parsed.entries) == len(result.episodes)
    ours = {s.metadata.guid: s.metadata for s in scripts}
    for entry in parsed.entries:
        meta = ours[entry.get("id") or entry.enclosures[0].href]
        assert meta.title == " ".join(entry.title.split())
        if entry.get("published_parsed"):
            assert calendar.timegm(entry.published_parsed) == meta.published.timestamp()
        if entry.get("enclosures"):
            assert meta.audio.url == entry.enclosures[0].href
    check = check_scripts([], open_project(tmp_path))
    assert check.unreadable == () and not [d for d in check.diagnostics
                                           if d.code in ("M001", "M002")]


def test_a_publish_after_import_keeps_every_guid_title_and_pubdate(tmp_path):
    """Imported episodes have no script yet: they build from their audio as it is and publish
    with the feed's own guids, titles, pubDates and enclosures (the channel's podcast:guid too)."""
    import feedparser

    feed = fixture_feed(tmp_path)
    import_feed(str(feed), tmp_path / "show")
    show = tmp_path / "show"
    assert podforge("validate", cwd=show).exit_code == 0
    built = podforge("build", cwd=show)
    assert built.exit_code == 0, built.output
    published = podforge("publish", cwd=show)
    assert published.exit_code == 0, published.output
    before, after = feedparser.parse(feed.read_bytes()), \
        feedparser.parse((show / "feed" / "feed.xml").read_bytes())
    assert not after.bozo
    key = lambda e: e.id  # noqa: E731
    old, new = sorted(before.entries, key=key), sorted(after.entries, key=key)
    assert [e.id for e in new] == [e.id for e in old]
    assert [e.title for e in new] == [e.title for e in old]
    assert [e.published_parsed for e in new] == [e.published_parsed for e in old]
    assert [(x.href, x.length) for e in new for x in e.enclosures] == \
        [(x.href, x.length) for e in old for x in e.enclosures]
    assert after.feed.get("podcast_guid", None) in (None, before.feed.get("podcast_guid"))
    assert b"3f1c7a52-9d4e-5b1a-8c2e-6f0d9a4b7e31" in (show / "feed" / "feed.xml").read_bytes()
