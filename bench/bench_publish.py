"""Publishing a 2,000-episode catalogue, timed against the 3 s target and against feedgen alone.

    .venv/bin/python bench/bench_publish.py [--episodes 2000] [--cues 200]

Builds a synthetic catalogue in a temporary folder: every episode "already built" (a small
stand-in MP3, chapters.json, a VTT/SRT transcript of --cues cues, report.json). publish decodes
no audio, so the stand-in's content does not matter, only that it exists and has a size.

Reports, side by side in one run:
  cold     first publish: links all media, draws every page and the feed (the 3 s target)
  warm     publish again with nothing changed (the everyday case)
  parsed   warm publish through publish(), reading and parsing 2,000 script.txt files
           (what `podforge publish` does)
  feedgen  reference: feedgen alone writing the same 2,000 items (RSS + iTunes, no extras)

The catalogue is flushed to disk (os.sync) before the clock starts, as a real one built
earlier would be, so the timings are of publishing, not of the catalogue's own writeback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feedgen.feed import FeedGenerator  # noqa: E402

from pipeline.model import Credit, Identity, Metadata, Script  # noqa: E402
from pipeline.publish.run import publish, publish_scripts  # noqa: E402
from pipeline.show import Owner, Show  # noqa: E402

TARGET = 3.0
NOW = dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc)
CREDITS = (Credit("Nora Vance", ("host", "producer")), Credit("Tomás Ferreira", ("audio editor",)),
           Credit("Priya Raman", ("sound designer",)), Credit("Dov Kessler", ("composer",)),
           Credit("Sam Ortega", ("executive producer",), "Lantern Hill Audio"))


def clock(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def catalogue(root: Path, count: int, cues: int) -> list[tuple[Path, Script]]:
    sample = (ROOT / "episodes" / "great-molasses-flood" / "script.txt").read_text("utf-8")
    vtt = "WEBVTT\n\n" + "".join(
        f"{clock(i * 4.0)} --> {clock(i * 4.0 + 4.0)}\n<v Nora Vance>Line {i} of the story, "
        f"read aloud at an even pace for the listener.\n\n" for i in range(cues))
    srt = "".join(f"{i + 1}\n{clock(i * 4.0).replace('.', ',')} --> "
                  f"{clock(i * 4.0 + 4.0).replace('.', ',')}\nLine {i}\n\n" for i in range(cues))
    duration = cues * 4.0
    chapters = [{"title": t, "start_seconds": s} for t, s in
                (("Cold Open", 0.0), ("Act 1", duration * 0.2), ("Act 2", duration * 0.5),
                 ("Credits", duration * 0.9))]
    scripts = []
    start = dt.date(2020, 1, 1)
    for n in range(count):
        slug, day = f"episode-{n:04d}", start + dt.timedelta(days=n)
        folder, build = root / "episodes" / slug, root / "build" / slug
        folder.mkdir(parents=True)
        build.mkdir(parents=True)
        text = re.sub(r"^slug: .*$", f"slug: {slug}", sample, count=1, flags=re.M)
        (folder / "script.txt").write_text(text.replace("Jan. 15, 2026", f"{day:%b}. {day.day}, "
                                                        f"{day.year}", 1), "utf-8")
        (folder / "sources.txt").write_text("A Book (2003)\nhttps://example.org/a\n", "utf-8")
        (build / "episode.mp3").write_bytes(b"\xff\xfb\x90\x64" + bytes(2048 + n))
        (build / "chapters.json").write_text(json.dumps({"version": "1.2.0", "chapters": [
            {"startTime": c["start_seconds"], "title": c["title"]} for c in chapters]}), "utf-8")
        (build / "transcript.vtt").write_text(vtt, "utf-8")
        (build / "transcript.srt").write_text(srt, "utf-8")
        (build / "report.json").write_text(json.dumps({
            "audio": "episode.mp3", "duration_seconds": duration, "integrated_lufs": -16.0,
            "true_peak_dbtp": -1.0, "chapters": chapters, "segments": [],
            "files": {"chapters_file": "chapters.json", "transcript_vtt": "transcript.vtt",
                      "transcript_srt": "transcript.srt"}}), "utf-8")
        meta = Metadata(title=f"Episode {n}: A Day in History", date=day, season=1 + n // 365,
                        episode=n + 1, summary=f"What happened on {day:%B %d}, told in full.")
        scripts.append((folder / "script.txt", Script(meta, (), CREDITS, Identity())))
    return scripts


def feedgen_alone(show: Show, scripts: list[tuple[Path, Script]], size: int, duration: float):
    """The reference: the same items with only what feedgen offers out of the box."""
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.title(show.title)
    fg.link(href=show.base_url, rel="alternate")
    fg.description(show.description)
    fg.language(show.language)
    fg.podcast.itunes_author(show.author)
    fg.podcast.itunes_category({"cat": "History"})
    for path, s in scripts:
        fe = fg.add_entry(order="append")
        slug = path.parent.name
        fe.title(s.metadata.title)
        fe.guid(f"{show.base_url}{slug}", permalink=False)
        fe.pubDate(dt.datetime.combine(s.metadata.date, dt.time(10, tzinfo=dt.timezone.utc)))
        fe.description(s.metadata.summary)
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
        made, scripts = timed(lambda: catalogue(root, args.episodes, args.cues))
        os.sync()
        print(f"catalogue: {args.episodes} built episodes, {args.cues} cues each "
              f"(made in {made:.1f} s); {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.2f}")
        cold, result = timed(lambda: publish_scripts(show, root, scripts, now=NOW))
        warm, again = timed(lambda: publish_scripts(show, root, scripts, now=NOW))
        assert again.written == 0 and len(again.episodes) == args.episodes
        try:  # the scripts' real text differs from the stand-ins: the first run redraws
            publish(show, root, now=NOW)
            parsed, _ = timed(lambda: publish(show, root, now=NOW))
        except Exception as err:  # the parser is another stage; report, don't hide the rest
            parsed, why = None, f"{type(err).__name__}: {err}"
        reference, rss = timed(lambda: feedgen_alone(show, scripts, 2052, args.cues * 4.0))
        feed = result.feed.stat().st_size
        verdict = "within" if cold < TARGET else "OVER"
        print(f"cold     {cold:6.2f} s  = {cold / TARGET:.2f} × the {TARGET:.0f} s target, "
              f"{verdict} it (first publish: {result.written} files written)")
        print(f"warm     {warm:6.2f} s  (publish again: nothing changed, nothing written)")
        if parsed is None:
            print(f"parsed   skipped ({why})")
        else:
            print(f"parsed   {parsed:6.2f} s  = {parsed / TARGET:.2f} × the target "
                  f"(publish() as the CLI calls it: + parsing "
                  f"{args.episodes} script.txt)")
        print(f"feedgen  {reference:6.2f} s  reference: feedgen alone, same items, no extras "
              f"({len(rss) / 1e6:.1f} MB vs our {feed / 1e6:.1f} MB feed)")
        print(f"ratio    cold / feedgen = {cold / reference:.1f}, "
              f"warm / feedgen = {warm / reference:.1f}")


if __name__ == "__main__":
    main()
