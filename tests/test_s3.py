"""The S3 sync against a real S3 server on loopback (SeaweedFS), never a mock."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import subprocess
import sys

import pytest

from pipeline.errors import PublishError
from pipeline.progress import Progress
from pipeline.publish.run import publish
from pipeline.publish.s3 import (IMMUTABLE, SHORT, Target, content_type, media_key, parse_target,
                         previous_feed, sync)

from conftest import ROOT
from publish_fixtures import NOW, make_catalogue, make_show, mp3
from s3_server import bucket, s3_server, server_or_skip  # noqa: F401  (fixtures)

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def folder_of(tmp_path, episodes=("alpha", "beta"), version=b"1"):
    """A published folder shaped like publish's: media under content-derived names."""
    out = tmp_path / "feed"
    out.mkdir(parents=True, exist_ok=True)
    items = []
    for slug in episodes:
        audio = b"ID3" + hashlib.sha256(slug.encode() + version).digest() * 64
        key = media_key(slug, f"{slug}.mp3", audio)
        (out / slug).mkdir(exist_ok=True)
        (out / key).write_bytes(audio)
        (out / slug / "chapters.json").write_text('{"version": "1.2.0", "chapters": []}')
        (out / slug / "transcript.vtt").write_text("WEBVTT\n\n")
        (out / slug / "transcript.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHi\n")
        (out / slug / "index.html").write_text(f"<html>{slug}</html>")
        items.append(f"<item><enclosure url='https://x.example/{key}'/></item>")
    art = b"\x89PNG\r\n\x1a\n" + version * 100
    (out / media_key("", "cover.png", art).lstrip("/")).write_bytes(art)
    (out / "index.html").write_text("<html>index</html>")
    (out / "style.css").write_text("body{}")
    (out / "player.js").write_text("//")
    (out / "feed.xml").write_bytes(f"<rss>{version.decode()}{''.join(items)}</rss>".encode())
    (out / ".publish.lock").write_bytes(b"")  # local bookkeeping: never uploaded
    return out


def keys(s3, name, prefix=""):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix)
    return sorted(o["Key"] for p in pages for o in p.get("Contents", ()))


def record_puts(s3):
    """Every PutObject key, in the order the client sends them (a botocore event hook)."""
    sent = []
    s3.meta.events.register("before-parameter-build.s3.PutObject",
                            lambda params, **_: sent.append(params["Key"]))
    return sent


# ---------------------------------------------------------------- the pure parts


@pytest.mark.parametrize("text, expected", [
    ("s3://show", Target("show", "")),
    ("s3://my-show/podcast", Target("my-show", "podcast/")),
    ("s3://my.show/a/b/", Target("my.show", "a/b/")),
])
def test_targets(text, expected):
    assert parse_target(text) == expected


@pytest.mark.parametrize("text, problem", [
    ("https://bucket/x", "not an s3:// target"), ("s3://", "no bucket"),
    ("s3:///prefix", "no bucket"), ("s3://Bad_Bucket", "not a valid bucket"),
    ("s3://ab", "not a valid bucket"), ("s3://show/a//b", "empty, '.' or '..'"),
    ("s3://show/../x", "'..'"), ("s3://show/x?y=1", "query"),
])
def test_bad_targets_say_what_to_write(text, problem):
    with pytest.raises(PublishError, match=r"--to .*" + problem.replace("(", r"\(")
                       .replace(".", r"\.").replace("?", r"\?") + r".*s3://BUCKET"):
        parse_target(text)


def test_content_types():
    assert content_type("a/chapters.json") == "application/json+chapters"
    assert content_type("a/transcript.srt") == "application/x-subrip"
    assert content_type("feed.xml") == "application/rss+xml"
    assert content_type("x/cover-0123456789ab.JPG") == "image/jpeg"


def test_media_key_follows_the_bytes():
    one, two = media_key("ep", "ep.mp3", b"one"), media_key("ep", "ep.mp3", b"two")
    assert one == f"ep/ep-{hashlib.sha256(b'one').hexdigest()[:12]}.mp3"
    assert one != two and media_key("ep", "ep.mp3", b"one") == one


# ---------------------------------------------------------------- against the server


def test_headers_keys_and_order(tmp_path, bucket):
    name, s3 = bucket
    out = folder_of(tmp_path)
    sent = record_puts(s3)
    result = sync(out, f"s3://{name}/podcast", s3=s3, now=T0)

    expected = sorted("podcast/" + p.relative_to(out).as_posix() for p in out.rglob("*")
                      if p.is_file() and not p.name.startswith("."))
    assert keys(s3, name) == sorted(expected + ["podcast/.podforge/state.json"])
    assert sorted(result.uploaded) == expected and result.unchanged == 0
    content = [k for k in sent if not k.startswith("podcast/.podforge/")]
    assert content[-1] == "podcast/feed.xml"  # the commit point, after everything else
    pages = [i for i, k in enumerate(content) if k.endswith((".html", ".css", ".js"))]
    media = [i for i, k in enumerate(content) if k.endswith((".mp3", ".png", ".json", ".vtt",
                                                             ".srt"))]
    assert max(media) < min(pages)
    assert sent[0] == "podcast/.podforge/lock"

    want = {".mp3": ("audio/mpeg", IMMUTABLE), ".png": ("image/png", IMMUTABLE),
            "chapters.json": ("application/json+chapters", SHORT),
            ".vtt": ("text/vtt", SHORT), ".srt": ("application/x-subrip", SHORT),
            ".html": ("text/html; charset=utf-8", SHORT), ".css": ("text/css", SHORT),
            ".js": ("application/javascript", SHORT), "feed.xml": ("application/rss+xml", SHORT)}
    for key in expected:
        head = s3.head_object(Bucket=name, Key=key)
        (kind,) = [k for k in want if key.endswith(k)]
        assert (head["ContentType"], head["CacheControl"]) == want[kind], key
        data = (out / key.removeprefix("podcast/")).read_bytes()
        assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert s3.get_object(Bucket=name, Key=key)["Body"].read() == data
    assert previous_feed(Target(name, "podcast/"), s3) == (out / "feed.xml").read_bytes()
    assert previous_feed(Target(name, "elsewhere/"), s3) is None


def test_a_second_sync_uploads_nothing(tmp_path, bucket):
    name, s3 = bucket
    out = folder_of(tmp_path)
    sync(out, f"s3://{name}", s3=s3, now=T0)
    sent = record_puts(s3)
    again = sync(out, f"s3://{name}", s3=s3, now=T0 + dt.timedelta(hours=1))
    assert again.uploaded == () and again.unchanged == len(keys(s3, name)) - 1
    assert sent == [".podforge/lock"]  # the lock, and nothing else: not even the state

    (out / "alpha" / "index.html").write_text("<html>alpha, edited</html>")
    changed = sync(out, f"s3://{name}", s3=s3, now=T0 + dt.timedelta(hours=2))
    assert changed.uploaded == ("alpha/index.html",)


def test_verify_restores_what_was_deleted_behind_its_back(tmp_path, bucket):
    name, s3 = bucket
    out = folder_of(tmp_path)
    sync(out, f"s3://{name}", s3=s3, now=T0)
    s3.delete_object(Bucket=name, Key="beta/index.html")
    assert sync(out, f"s3://{name}", s3=s3, now=T0).uploaded == ()  # the state is trusted
    fixed = sync(out, f"s3://{name}", s3=s3, now=T0, verify=True)  # the listing is not fooled
    assert fixed.uploaded == ("beta/index.html",) and "beta/index.html" in keys(s3, name)


def test_a_real_publish_folder_syncs(tmp_path, bucket):
    """What `podforge publish` writes: MP3s named by their bytes, so cached for a year."""
    name, s3 = bucket
    audio = mp3(tmp_path / "sine.mp3", seconds=1.0).read_bytes()
    show = make_show(tmp_path)
    make_catalogue(tmp_path, audio)
    publish(show, tmp_path, now=NOW)
    result = sync(tmp_path / "feed", f"s3://{name}/daybook", s3=s3, now=T0)
    key = "daybook/" + media_key("great-molasses-flood", "great-molasses-flood.mp3", audio)
    assert key in result.uploaded
    head = s3.head_object(Bucket=name, Key=key)
    assert head["ContentType"] == "audio/mpeg" and head["CacheControl"] == IMMUTABLE
    feed = s3.get_object(Bucket=name, Key="daybook/feed.xml")["Body"].read().decode()
    assert key.removeprefix("daybook/") in feed  # the enclosure names the immutable key
    cover = [k for k in result.uploaded if k.startswith("daybook/cover-")]
    assert cover and s3.head_object(Bucket=name, Key=cover[0])["ContentType"] == "image/png"
    assert previous_feed(f"s3://{name}/daybook", s3) == \
        (tmp_path / "feed" / "feed.xml").read_bytes()


def test_a_failed_upload_leaves_the_live_feed(tmp_path, bucket):
    """A file rewritten in place mid-sync: the server refuses its PUT (Content-MD5 mismatch)."""
    name, s3 = bucket
    sync(folder_of(tmp_path / "v1"), f"s3://{name}", s3=s3, now=T0)
    live = s3.get_object(Bucket=name, Key="feed.xml")["Body"].read()

    out = folder_of(tmp_path / "v2", version=b"2")
    victim = next((out / "beta").glob("beta-*.mp3"))

    def rewrite(params, **_):
        if params["Key"].endswith(victim.name):
            with open(victim, "r+b") as handle:  # same length, other bytes
                handle.write(b"XXXX")

    s3.meta.events.register("before-parameter-build.s3.PutObject", rewrite)
    with pytest.raises(PublishError, match=r"uploading beta/beta-.*\.mp3 failed \(BadDigest.*"
                                           r"live feed\.xml is unchanged: rerun `podforge "
                                           rf"publish --to s3://{name}/`"):
        sync(out, f"s3://{name}", s3=s3, now=T0 + dt.timedelta(days=1))
    assert s3.get_object(Bucket=name, Key="feed.xml")["Body"].read() == live
    assert ".podforge/lock" not in keys(s3, name)  # released on the way out


@pytest.mark.slow
def test_a_server_that_dies_midway_leaves_the_live_feed(tmp_path):
    server = server_or_skip(tmp_path / "server").start()
    try:
        s3 = server.client(retries={"max_attempts": 2})
        s3.create_bucket(Bucket="show")
        sync(folder_of(tmp_path / "v1"), "s3://show", s3=s3, now=T0)
        live = s3.get_object(Bucket="show", Key="feed.xml")["Body"].read()
        puts = []

        def crash(params, **_):
            puts.append(params["Key"])
            if len(puts) == 4:  # the lock, then a few media files land
                server.kill()

        s3.meta.events.register("before-parameter-build.s3.PutObject", crash)
        with pytest.raises(PublishError, match=r"live feed\.xml is unchanged: rerun"):
            sync(folder_of(tmp_path / "v2", version=b"2"), "s3://show", s3=s3,
                 now=T0 + dt.timedelta(days=1))
        server.start()
        assert server.read("show", "feed.xml") == live
    finally:
        server.stop()


def test_prune_removes_only_expired_unreferenced_objects(tmp_path, bucket):
    name, s3 = bucket
    out = folder_of(tmp_path, episodes=("alpha", "beta", "gamma"))
    sync(out, f"s3://{name}", s3=s3, now=T0)
    beta = sorted(k for k in keys(s3, name) if k.startswith("beta/"))

    for path in sorted((out / "beta").iterdir()):
        path.unlink()
    (out / "beta").rmdir()
    day1 = T0 + dt.timedelta(days=1)
    first = sync(out, f"s3://{name}", s3=s3, now=day1, prune=True)
    assert sorted(first.unreferenced) == beta and first.pruned == ()
    assert set(beta) <= set(keys(s3, name))  # within the grace period: kept

    shutil_rmtree(out / "gamma")
    gamma = sorted(k for k in keys(s3, name) if k.startswith("gamma/"))
    day8 = day1 + dt.timedelta(days=7)
    second = sync(out, f"s3://{name}", s3=s3, now=day8, prune=True)
    assert sorted(second.pruned) == beta  # unreferenced since day 1: seven days, gone
    assert sorted(second.unreferenced) == gamma  # since day 8: kept
    remaining = keys(s3, name)
    assert not set(beta) & set(remaining) and set(gamma) <= set(remaining)
    assert any(k.startswith("alpha/") for k in remaining) and "feed.xml" in remaining

    without = sync(out, f"s3://{name}", s3=s3, now=day8 + dt.timedelta(days=30))
    assert without.pruned == () and set(gamma) <= set(keys(s3, name))  # no --prune: kept


def shutil_rmtree(path):
    import shutil

    shutil.rmtree(path)


def test_lock_refuses_a_second_publisher_until_stale(tmp_path, bucket):
    name, s3 = bucket
    out = folder_of(tmp_path)
    holder = json.dumps({"host": "other", "pid": 42, "since": T0.isoformat()}).encode()
    s3.put_object(Bucket=name, Key=".podforge/lock", Body=holder)
    with pytest.raises(PublishError, match=r"another publish holds the lock since 2026-03-01 "
                                           r"12:00 UTC \(other, pid 42\)"):
        sync(out, f"s3://{name}", s3=s3, now=T0 + dt.timedelta(minutes=5))
    assert "feed.xml" not in keys(s3, name)
    result = sync(out, f"s3://{name}", s3=s3, now=T0 + dt.timedelta(hours=1))  # stale by now
    assert "feed.xml" in result.uploaded and ".podforge/lock" not in keys(s3, name)


def test_wrong_credentials_and_missing_bucket_are_one_line_errors(tmp_path, s3_server):
    out = folder_of(tmp_path)
    s3 = s3_server.client()
    with pytest.raises(PublishError, match=r"bucket 'no-such-bucket' does not exist: create it"):
        sync(out, "s3://no-such-bucket", s3=s3, now=T0)
    import boto3

    wrong = boto3.session.Session().client("s3", endpoint_url=s3_server.endpoint,
                                           aws_access_key_id="nobody",
                                           aws_secret_access_key="wrong",
                                           region_name="us-east-1")
    with pytest.raises(PublishError, match=r"InvalidAccessKeyId.*live feed\.xml is unchanged"):
        sync(out, "s3://anything", s3=wrong, now=T0)


def test_progress_in_a_pipe_is_plain_lines(tmp_path, bucket):
    name, s3 = bucket
    stream = io.StringIO()
    sync(folder_of(tmp_path), f"s3://{name}", s3=s3, now=T0,
         progress=Progress(stream, tty=False))
    lines = stream.getvalue().splitlines()
    assert lines == [f"s3://{name}/: compare with the bucket",
                     lines[1]] and lines[1].startswith(f"s3://{name}/: upload 15 file(s)")
    assert "\r" not in stream.getvalue()


def test_the_standard_environment_is_enough(tmp_path, bucket, s3_server):
    """No client passed: boto3 finds endpoint, keys and region in AWS_* (in a child process)."""
    name, _ = bucket
    out = folder_of(tmp_path)
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AWS_")}
    env.update(s3_server.env())
    code = ("import sys; from pipeline.publish.s3 import sync; "
            "print(sync(sys.argv[1], sys.argv[2]).summary())")
    run = subprocess.run([sys.executable, "-c", code, str(out), f"s3://{name}/env"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert f"synced to s3://{name}/env/: 15 object(s) uploaded, 0 unchanged" in run.stdout


def test_podforge_publish_to_s3(tmp_path, bucket, s3_server, monkeypatch):
    """The CLI: publish the folder, then sync it; a bad target fails before writing anything."""
    from click.testing import CliRunner

    from pipeline.cli import main

    name, s3 = bucket
    (tmp_path / "show.yaml").write_text((ROOT / "show.yaml").read_text(encoding="utf-8"))
    audio = mp3(tmp_path / "sine.mp3", seconds=1.0).read_bytes()
    make_catalogue(tmp_path, audio)
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    bad = CliRunner().invoke(main, ["publish", "--include-scheduled", "--to", "s3://B"])
    assert bad.exit_code == 2 and "not a valid bucket name" in bad.output
    assert not (tmp_path / "feed").exists()
    run = CliRunner().invoke(main, ["publish", "--include-scheduled", "--to",
                                    f"s3://{name}/daybook"])
    assert run.exit_code == 0, run.output
    assert f"synced to s3://{name}/daybook/:" in run.output
    assert s3.get_object(Bucket=name, Key="daybook/feed.xml")["Body"].read() == \
        (tmp_path / "feed" / "feed.xml").read_bytes()
    again = CliRunner().invoke(main, ["publish", "--include-scheduled", "--to",
                                      f"s3://{name}/daybook"])
    assert "0 object(s) uploaded" in again.output
