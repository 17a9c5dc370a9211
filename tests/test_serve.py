"""The preview server: byte ranges (what a browser's audio player seeks with) and content types."""

from __future__ import annotations

import http.client
import threading

import pytest

from pipeline.errors import PublishError
from pipeline.publish.serve import RangeNotSatisfiable, byte_range, make_server, public_base

DATA = bytes(range(256)) * 40  # 10,240 bytes, every slice distinct


@pytest.fixture
def server(tmp_path):
    (tmp_path / "ep").mkdir()
    (tmp_path / "ep" / "episode.mp3").write_bytes(DATA)
    for name, text in (("transcript.vtt", "WEBVTT\n"), ("transcript.srt", "1\n"),
                       ("chapters.json", "{}"), ("feed.xml", "<rss/>"), ("index.html", "<p>hi")):
        (tmp_path / name).write_text(text, encoding="utf-8")
    srv = make_server(tmp_path, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def fetch(port: int, path: str, method: str = "GET", **headers):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def test_a_range_gets_206_and_exactly_that_slice(server):
    response, body = fetch(server, "/ep/episode.mp3", Range="bytes=100-1099")
    assert response.status == 206
    assert response.getheader("Content-Range") == f"bytes 100-1099/{len(DATA)}"
    assert response.getheader("Content-Length") == "1000"
    assert response.getheader("Accept-Ranges") == "bytes"
    assert response.getheader("Content-Type") == "audio/mpeg"
    assert body == DATA[100:1100]


def test_open_and_suffix_ranges(server):
    response, body = fetch(server, "/ep/episode.mp3", Range="bytes=10000-")
    assert (response.status, body) == (206, DATA[10000:])
    assert response.getheader("Content-Range") == f"bytes 10000-{len(DATA) - 1}/{len(DATA)}"
    response, body = fetch(server, "/ep/episode.mp3", Range="bytes=-500")
    assert (response.status, body) == (206, DATA[-500:])
    assert response.getheader("Content-Range") == \
        f"bytes {len(DATA) - 500}-{len(DATA) - 1}/{len(DATA)}"
    response, body = fetch(server, "/ep/episode.mp3", Range="bytes=10200-99999")  # clipped
    assert (response.status, body) == (206, DATA[10200:])


def test_a_range_past_the_end_is_416(server):
    response, body = fetch(server, "/ep/episode.mp3", Range=f"bytes={len(DATA)}-")
    assert response.status == 416
    assert response.getheader("Content-Range") == f"bytes */{len(DATA)}"
    assert body == b""


def test_whole_file_head_and_content_types(server):
    response, body = fetch(server, "/ep/episode.mp3")
    assert (response.status, body) == (200, DATA)
    assert response.getheader("Accept-Ranges") == "bytes"
    response, body = fetch(server, "/ep/episode.mp3", method="HEAD")
    assert response.status == 200 and body == b""
    assert response.getheader("Content-Length") == str(len(DATA))
    for path, kind in (("/transcript.vtt", "text/vtt"), ("/transcript.srt", "application/x-subrip"),
                       ("/chapters.json", "application/json+chapters"),
                       ("/feed.xml", "application/rss+xml"), ("/index.html", "text/html")):
        response, _ = fetch(server, path)
        assert response.status == 200
        assert response.getheader("Content-Type").split(";")[0] == kind
    response, _ = fetch(server, "/")
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/html")
    response, _ = fetch(server, "/ep/nothing.mp3")
    assert response.status == 404


def test_malformed_or_multiple_ranges_get_the_whole_file(server):
    for header in ("bytes=5-2", "bytes=0-1,5-6", "items=0-5", "bytes=-"):
        response, body = fetch(server, "/ep/episode.mp3", Range=header)
        assert (response.status, body) == (200, DATA), header


def test_byte_range_rules():
    assert byte_range("bytes=0-0", 10) == (0, 0)
    assert byte_range("bytes=-20", 10) == (0, 9)
    assert byte_range(None, 10) is None
    for header, size in (("bytes=10-", 10), ("bytes=-0", 10), ("bytes=0-", 0), ("bytes=-5", 0)):
        with pytest.raises(RangeNotSatisfiable):
            byte_range(header, size)


def test_serving_a_missing_folder_says_publish_first(tmp_path):
    with pytest.raises(PublishError, match="run podforge publish first"):
        make_server(tmp_path / "feed", "127.0.0.1", 0)


def test_chapters_and_transcripts_may_be_fetched_from_other_origins(server):
    for path in ("/chapters.json", "/transcript.vtt", "/transcript.srt"):
        response, _ = fetch(server, path)
        assert response.getheader("Access-Control-Allow-Origin") == "*", path
    response, _ = fetch(server, "/ep/episode.mp3")
    assert response.getheader("Access-Control-Allow-Origin") is None


def test_a_nul_in_the_path_is_a_bad_request(server):
    for path in ("/ep/episode.mp3%00.txt", "/%00", "/ep%00/episode.mp3"):
        response, _ = fetch(server, path)
        assert response.status == 400, path


def test_a_symlink_out_of_the_folder_is_not_followed(tmp_path):
    served, outside = tmp_path / "served", tmp_path / "secret"
    served.mkdir()
    outside.mkdir()
    (outside / "key.txt").write_text("private", encoding="utf-8")
    (served / "inside.txt").write_text("public", encoding="utf-8")
    (served / "leak.txt").symlink_to(outside / "key.txt")
    (served / "leakdir").symlink_to(outside, target_is_directory=True)
    (served / "alias.txt").symlink_to(served / "inside.txt")
    srv = make_server(served, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        port = srv.server_address[1]
        for path in ("/leak.txt", "/leakdir/key.txt", "/leakdir/"):
            response, body = fetch(port, path)
            assert response.status == 404 and b"private" not in body, path
        response, body = fetch(port, "/alias.txt")  # a link that stays inside is fine
        assert (response.status, body) == (200, b"public")
    finally:
        srv.shutdown()
        srv.server_close()


def test_public_base_is_the_feeds_self_link():
    feed = (b'<rss xmlns:atom="http://www.w3.org/2005/Atom"><channel><atom:link '
            b'href="https://x.example/pod/feed.xml" rel="self"/></channel></rss>')
    assert public_base(feed) == "https://x.example/pod/"
    assert public_base(b"<rss/>") is None and public_base(b"not xml") is None


def test_a_podcast_app_subscribed_to_the_preview_plays_it(tmp_path):
    """podcastparser reads the preview's feed; every URL in it is the preview's, and answers."""
    import io
    import xml.etree.ElementTree as ET

    import podcastparser

    from pipeline.publish.run import publish
    from publish_fixtures import BASE_URL, NOW, make_catalogue, make_show, mp3

    audio = mp3(tmp_path / "sine.mp3").read_bytes()
    make_catalogue(tmp_path, audio)
    out = publish(make_show(tmp_path), tmp_path, now=NOW).feed.parent
    srv = make_server(out, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        port = srv.server_address[1]
        base = f"http://127.0.0.1:{port}/"
        response, feed = fetch(port, "/feed.xml")
        assert response.getheader("Content-Length") == str(len(feed))
        assert BASE_URL.encode() not in feed and (out / "feed.xml").read_bytes() != feed
        parsed = podcastparser.parse(base + "feed.xml", io.BytesIO(feed))
        assert len(parsed["episodes"]) == 2
        for episode in parsed["episodes"]:
            (enclosure,) = episode["enclosures"]
            assert enclosure["url"].startswith(base)
            response, body = fetch(port, enclosure["url"][len(base) - 1:])
            assert response.status == 200 and body == audio
            assert enclosure["file_size"] == len(body)
            assert response.getheader("Content-Type") == "audio/mpeg"
        ns = {"podcast": "https://podcastindex.org/namespace/1.0"}
        chapters = ET.fromstring(feed).find("channel/item/podcast:chapters", ns).get("url")
        response, body = fetch(port, chapters[len(base) - 1:])
        assert response.status == 200 and b'"chapters"' in body
        assert response.getheader("Content-Type") == "application/json+chapters"
        assert response.getheader("Access-Control-Allow-Origin") == "*"
        _, page = fetch(port, "/")
        assert f"{base}feed.xml".encode() in page  # the index names the preview's feed
        _, feed = fetch(port, "/feed.xml", Host="evil.example\"><x")  # not echoed
        assert b"evil" not in feed and base.encode() in feed
    finally:
        srv.shutdown()
        srv.server_close()
