"""Publishing a 2,000-episode catalogue, timed against the 3 s target and against feedgen alone.

    .venv/bin/python bench/bench_publish.py [--episodes 2000] [--cues 200]

Builds a synthetic catalogue in a temporary folder: every episode "already built" (a small
stand-in MP3, chapters.json, a VTT/SRT transcript of --cues cues, a schema-2 report.json with
metadata, credits, sources and the transcript lines). publish decodes no audio and parses no
script (it reads each report and hashes each script), so the stand-ins' content does not
matter, only that they exist and match.

Reports, side by side in one run:
  cold     first publish: links all media, draws every page and the feed (the 3 s target)
  warm     publish again with nothing changed (the everyday case: reads 2,000 reports,
           hashes 2,000 scripts, compares the feed)
  feedgen  reference: feedgen alone writing the same 2,000 items (RSS + iTunes, no extras)

The catalogue is flushed to disk (os.sync) before the clock starts, as a real one built
earlier would be, so the timings are of publishing, not of the catalogue's own writeback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feedgen.feed import FeedGenerator  # noqa: E402

from pipeline.build.transcript import chapters_json, srt, vtt  # noqa: E402
from pipeline.model import Chapter, Credit, Metadata, TimedLine  # noqa: E402
from pipeline.publish.run import publish  # noqa: E402
from pipeline.report import BuildReport  # noqa: E402
from pipeline.show import Owner, Show  # noqa: E402

TARGET = 3.0
NOW = dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc)
CREDITS = (Credit("Nora Vance", ("host", "producer")), Credit("Tomás Ferreira", ("audio editor",)),
           Credit("Priya Raman", ("sound designer",)), Credit("Dov Kessler", ("composer",)),
           Credit("Sam Ortega", ("executive producer",), "Lantern Hill Audio"))
SOURCES = ("A Book (2003)", "https://example.org/a")


def catalogue(root: Path, count: int, cues: int) -> list[Metadata]:
    lines = tuple(TimedLine(i * 4.0, i * 4.0 + 4.0, f"Line {i} of the story, read aloud at an "
                            f"even pace for the listener.", "Nora Vance") for i in range(cues))
    duration = cues * 4.0
    marks = (("Cold Open", 0.0), ("Act 1", 0.2), ("Act 2", 0.5), ("Credits", 0.9), ("", 1.0))
    chapters = tuple(Chapter(t, duration * a, duration * b)
                     for (t, a), (_, b) in zip(marks, marks[1:]))
    texts = {"chapters.json": chapters_json(chapters), "transcript.vtt": vtt(lines),
             "transcript.srt": srt(lines)}
    metas = []
    start = dt.date(2020, 1, 1)
    for n in range(count):
        slug, day = f"episode-{n:04d}", start + dt.timedelta(days=n)
        folder, build = root / "episodes" / slug, root / "build" / slug
        folder.mkdir(parents=True)
        build.mkdir(parents=True)
        script = f"{day:%b}. {day.day}, {day.year}\n\nEpisode {n}\n".encode()
        (folder / "script.txt").write_bytes(script)
        (folder / "sources.txt").write_text("\n".join(SOURCES) + "\n", "utf-8")
        audio = b"\xff\xfb\x90\x64" + bytes(2048 + n)
        (build / f"{slug}.mp3").write_bytes(audio)
        for name, text in texts.items():
            (build / name).write_text(text, "utf-8")
        meta = Metadata(title=f"Episode {n}: A Day in History", date=day, season=1 + n // 365,
                        episode=n + 1, summary=f"What happened on {day:%B %d}, told in full.")
        report = BuildReport(
            slug=slug, script=f"episodes/{slug}/script.txt",
            script_sha256=hashlib.sha256(script).hexdigest(), metadata=meta, credits=CREDITS,
            sources=SOURCES, audio=f"{slug}.mp3", audio_bytes=len(audio), duration=duration,
            integrated_lufs=-16.0, true_peak_dbtp=-1.0, gain_db=0.0, chapters=chapters,
            segments=(), lines=lines, chapters_file="chapters.json",
            transcript_vtt="transcript.vtt", transcript_srt="transcript.srt", key=f"bench-{n}")
        (build / "report.json").write_text(report.to_json(), "utf-8")
        metas.append(meta)
    return metas


def feedgen_alone(show: Show, metas: list[Metadata], size: int, duration: float):
    """The reference: the same items with only what feedgen offers out of the box."""
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.title(show.title)
    fg.link(href=show.base_url, rel="alternate")
    fg.description(show.description)
    fg.language(show.language)
    fg.podcast.itunes_author(show.author)
    fg.podcast.itunes_category({"cat": "History"})
    for n, m in enumerate(metas):
        fe = fg.add_entry(order="append")
        slug = f"episode-{n:04d}"
        fe.title(m.title)
        fe.guid(f"{show.base_url}{slug}", permalink=False)
        fe.pubDate(dt.datetime.combine(m.date, dt.time(10, tzinfo=dt.timezone.utc)))
        fe.description(m.summary)
        fe.enclosure(f"{show.base_url}{slug}/episode.mp3", str(size), "audio/mpeg")
        fe.podcast.itunes_duration(str(int(duration)))
    return fg.rss_str(pretty=True)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--cues", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="podforge-bench-") as tmp:
        root = Path(tmp)
        show = Show(title="The Daybook", host="Nora Vance", network="Lantern Hill Audio",
                    description="One date, one true story.", author="Lantern Hill Audio",
                    owner=Owner("Nora Vance", "nora@example.org"), categories=("History",),
                    base_url="https://podcast.example.org/daybook/",
                    guid="2187f927-a2a7-5895-9d5c-17c98242387f", root=root)
        made, metas = timed(lambda: catalogue(root, args.episodes, args.cues))
        os.sync()
        print(f"catalogue: {args.episodes} built episodes, {args.cues} cues each "
              f"(made in {made:.1f} s); {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.2f}")
        cold, result = timed(lambda: publish(show, root, now=NOW))
        warm, again = timed(lambda: publish(show, root, now=NOW))
        assert again.written == 0 and len(again.episodes) == args.episodes
        reference, rss = timed(lambda: feedgen_alone(show, metas, 2052, args.cues * 4.0))
        feed = result.feed.stat().st_size
        verdict = "within" if cold < TARGET else "OVER"
        print(f"cold     {cold:6.2f} s  = {cold / TARGET:.2f} × the {TARGET:.0f} s target, "
              f"{verdict} it (first publish: {result.written} files written)")
        print(f"warm     {warm:6.2f} s  (publish again: nothing changed, nothing written)")
        print(f"feedgen  {reference:6.2f} s  reference: feedgen alone, same items, no extras "
              f"({len(rss) / 1e6:.1f} MB vs our {feed / 1e6:.1f} MB feed)")
        print(f"ratio    cold / feedgen = {cold / reference:.1f}, "
              f"warm / feedgen = {warm / reference:.1f}")


if __name__ == "__main__":
    main()
