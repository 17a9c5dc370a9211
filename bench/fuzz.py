"""Fuzz podforge with generated scripts and show.yaml files: no crash, no hang.

    .venv/bin/python bench/fuzz.py [--count 100000] [--seed 1] [--workers 2]

Each case is a script built from the pieces real scripts are made of (header, headings, show
lines, cues, credits, front matter) mixed with hostile ones (control characters, impossible
dates, YAML bombs, path-like slugs, huge numbers, stray brackets), plus a show.yaml made by
mutating the example's. Every case goes through load_show, parse, validate, the build's plan
(`build --plan`: estimated narration, the Timeline, describe) and publish's escaping (feed XML
parsed back, show notes, the episode page). A PodforgeError is an answer; anything else is a
crash. It prints crashes (goal: none) and the slowest case of each stage with its time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from pipeline.errors import PodforgeError  # noqa: E402
from pipeline.manifest import Asset  # noqa: E402
from pipeline.script.parse import parse  # noqa: E402
from pipeline.build.plan import describe, estimate, plan  # noqa: E402
from pipeline.project import episode_slug  # noqa: E402
from pipeline.model import Chapter, TimedLine  # noqa: E402
from pipeline.publish.episodes import Episode  # noqa: E402
from pipeline.publish.feed import feed_xml, public_urls  # noqa: E402
from pipeline.report import BuildReport  # noqa: E402
from pipeline.show import Show, load_show  # noqa: E402
from pipeline.publish.site import episode_page, show_notes  # noqa: E402
from pipeline.script.validate import validate  # noqa: E402

SHOW_TEXT = (ROOT / "show.yaml").read_text(encoding="utf-8")
ASSET_NAMES = ("theme", "bed-suspense", "bed-tension", "bed-reflective", "stinger", "outro",
               "bell", "door")
ASSETS = {n: Asset(n, Path(f"/nonexistent/{n}.ogg"), "bed" if "bed" in n else "sfx", 20.0,
                   -20.0, loop="bed" in n) for n in ASSET_NAMES}

HOSTILE = ["\x00", "\x07", "\x1b[31m", "\x0c", "\u2028", "\ud800", "\ufeff", "]]>", "<b>", "&amp;",
           "{show}", "{", "}", "[", "]", "*alias", "&anchor", "---", "...", "#", "## ", "\t",
           "é", "𝔘", "‮", " " * 300, "x" * 5000, "Act 99999999999999999999999: Big",
           "February 30, 2026", "2026-13-45", "Today is February 30th, 1919: X.", "0000-00-00",
           "[PAUSE 1e308s]", "[PAUSE -1s]", "[SFX: ../../etc/passwd]", "[MUSIC:]", "[BED: theme",
           "From , I'm  and this is .", "Next on", "by me, ", "Produced by and by and by.",
           "Welcome to X, I'm Y.", "I'm Y, and this is Z."]
PIECES = ["Jan. 15, 2026", "January 15, 1919. A thing happened.", "The Title", "Cold Open",
          "Intro", "Act One: Start", "Act Two: Middle", "Act 3: End", "## Act Four: More",
          "Act Five", "Teaser", "## Credits", "Credits",
          "From Lantern Hill Audio, I'm Nora Vance and this is The Daybook.",
          "Every date on the calendar keeps a story.", "Today is January 15th, 1919: The Title.",
          "Next on The Daybook. Another story.",
          "From Lantern Hill Audio, this is The Daybook, hosted and produced by me, Nora Vance.",
          "Audio editing by Tomás Ferreira.", "Research by Ana Ruiz and Bo Li.",
          "[SFX: bell]", "[MUSIC: theme]", "[BED: bed-tension]", "[PAUSE 1.5s]", "[PAUSE]",
          "The story goes on, and on, with words.", "It was cold.Then it was not.",
          "Fill me in: something."]
FRONT = ["slug: {w}", "date: 2026-01-15", "date: 2026-02-30", "date: 2026-01-15 10:00:00",
         "title: {w}", "season: {n}", "episode: {n}", "explicit: {b}", "draft: {b}",
         "keywords: [{w}, {w}]", "guid: {w}", "sources: [{w}]", "slug: ../../{w}",
         "slug: {{a: 1}}", "keywords: &a [x, *a]", "a: &a [1]\nb: [*a, *a, *a]",
         "unknown: {w}", "title: \"\\x07{w}\"", "season: 99999999999999999999999999", "x: [[[[[[",
         "date: 10000-01-01", "date: !!timestamp 2026-02-30"]
SHOW_EDITS = [("channels: 2", "channels: {n}"), ("sample_rate: 44100", "sample_rate: {n}"),
              ("bitrate_kbps: 128", "bitrate_kbps: {n}"), ("integrated_lufs: -16",
                                                           "integrated_lufs: {f}"),
              ("true_peak_dbtp: -1", "true_peak_dbtp: {f}"), ("depth_db: 15", "depth_db: {f}"),
              ("name: en-us", "name: {w}"), ("words_per_minute: 165", "words_per_minute: {n}"),
              ("acts: {min: 2, max: 5}", "acts: {min: {n}, max: {n}}"),
              ("minutes: {min: 8, max: 30}", "minutes: {min: {f}, max: {f}}"),
              ("teaser: \"Next on {show}\"", "teaser: \"Next on {{{w}}}\""),
              ("title: The Daybook", "title: {w}"), ("host: Nora Vance", "host: {w}"),
              ("loudness: {integrated_lufs: -16, true_peak_dbtp: -1}", "loudness: {w}"),
              ("gain_db: -2", "gain_db: {f}"), ("lead: 6", "lead: {f}"),
              ("gap_seconds: 0.8", "gap_seconds: {f}"), ("asset: theme", "asset: {w}"),
              ("kind: act", "kind: {w}"), ("locked: true", "locked: {w}"),
              ("format:", "x: &a [1, 2]\ny: [*a, *a]\nformat:"), ("  segments:", "  segments: {w}"),
              ("manifest: assets/manifest.yaml", "manifest: ../../{w}")]


def word(rng: random.Random) -> str:
    return rng.choice(["daybook", "x", "", "../..", "Ünïcode", "a b", "-", "null", "~", "1e999",
                       "0x10", "NaN", ".inf", "yes", "en-gb", "klingon", rng.choice(HOSTILE),
                       "".join(rng.choice("abc-/.{}[]:") for _ in range(rng.randint(1, 12)))])


def fill(template: str, rng: random.Random) -> str:
    return (template.replace("{w}", word(rng)).replace("{b}", rng.choice(["true", "no", "3"]))
            .replace("{n}", str(rng.choice([0, 1, 2, 6, -1, 8000, 12345, 44100, 2 ** 40, 144])))
            .replace("{f}", str(rng.choice([-100, -23, -16, -5, 0, 0.5, 16, 1e308, -1e308,
                                            ".nan", ".inf"]))))


EXAMPLES = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "episodes").glob("*/script.*"))]


def make_script(rng: random.Random) -> str:
    if EXAMPLES and rng.random() < 0.1:  # a whole real episode, damaged in a few places
        lines = rng.choice(EXAMPLES).split("\n")
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(lines))
            lines[i] = rng.choice([rng.choice(HOSTILE), lines[i] + rng.choice(HOSTILE),
                                   rng.choice(PIECES), ""])
        return "\n".join(lines)
    parts = []
    if rng.random() < 0.4:
        parts.append("---\n" + "\n".join(fill(rng.choice(FRONT), rng)
                                         for _ in range(rng.randint(0, 5))) + "\n---")
    pieces = list(PIECES) if rng.random() < 0.5 else rng.sample(PIECES, rng.randint(1, 12))
    for piece in pieces:
        if rng.random() < 0.15:
            piece = rng.choice(HOSTILE)
        elif rng.random() < 0.1:
            i = rng.randint(0, len(piece))
            piece = piece[:i] + rng.choice(HOSTILE) + piece[i:]
        parts.append(piece)
    if rng.random() < 0.2:
        rng.shuffle(parts)
    return rng.choice(["\n\n", "\n", "\r\n\r\n"]).join(parts)


def make_show_yaml(rng: random.Random) -> str:
    text = SHOW_TEXT
    for old, new in rng.sample(SHOW_EDITS, rng.randint(0, 3)):
        text = text.replace(old, fill(new, rng), 1)
    if rng.random() < 0.05:
        i = rng.randint(0, len(text))
        text = text[:i] + rng.choice(HOSTILE) + text[i:]
    return text


def run_case(seed: int, folder: Path) -> tuple[dict[str, float], str | None]:
    """One case through every stage; (seconds per stage, the crash's traceback or None)."""
    rng = random.Random(seed)
    times: dict[str, float] = {}
    stage = "show"
    try:
        started = time.perf_counter()
        path = folder / "show.yaml"
        path.write_text(make_show_yaml(rng), encoding="utf-8", errors="surrogatepass")
        try:
            show = load_show(path)
        except PodforgeError:
            show = None
        times["show"] = time.perf_counter() - started
        fmt_show = show or Show("The Daybook", "Nora Vance", "Lantern Hill Audio", "d")
        text = make_script(rng)

        stage, started = "parse", time.perf_counter()
        try:
            script = parse(text, fmt_show.format)
        except PodforgeError:
            times["parse"] = time.perf_counter() - started
            return times, None
        times["parse"] = time.perf_counter() - started

        stage, started = "validate", time.perf_counter()
        found = validate(script, "s.txt", show, frozenset(ASSETS))
        times["validate"] = time.perf_counter() - started
        errors = [d for d in found if d.severity == "error"]

        stage, started = "plan", time.perf_counter()
        if script.segments and not any(d.code in ("Q001", "Q002") for d in errors):
            sound = fmt_show.sound
            wpm = sound.voice.words_per_minute
            narrations = {s.slug: estimate(s, wpm) for s in script.segments}
            try:
                describe(plan(script, sound, ASSETS, narrations))
            except KeyError as err:  # show.yaml names an asset the fuzz manifest lacks
                if not any(m.asset == err.args[0] for m in _music(sound)):
                    raise
        times["plan"] = time.perf_counter() - started

        stage, started = "publish", time.perf_counter()
        try:
            slug = episode_slug(folder / "episodes" / "fuzz-case" / "script.txt", script)
        except PodforgeError:
            slug = None
        if slug and script.metadata.date:
            n = len(script.segments)
            report = BuildReport(
                slug=slug, script="episodes/fuzz-case/script.txt", script_sha256="0" * 64,
                metadata=script.metadata, credits=script.credits,
                sources=script.metadata.sources, audio="a.mp3", audio_bytes=1000,
                duration=10.0 * n + 10, integrated_lufs=-16.0, true_peak_dbtp=-1.0, gain_db=0.0,
                chapters=tuple(Chapter(s.label, i * 10.0, i * 10.0 + 10)
                               for i, s in enumerate(script.segments)), segments=(),
                lines=tuple(TimedLine(i * 10.0, i * 10.0 + 9, p.text)
                            for i, s in enumerate(script.segments) for p in s.paragraphs[:1]),
                chapters_file="chapters.json", transcript_vtt="transcript.vtt",
                transcript_srt="transcript.srt", key="fuzz")
            episode = Episode(report, folder)
            guid = "20a1ccb9-7582-5a4e-86ec-78bcaef3f9fa"
            xml = feed_xml(fmt_show, [episode], public_urls("https://x.example/"),
                           "https://x.example/a.png", guid, {slug: guid},
                           dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
            etree.fromstring(xml)  # well-formed, or a crash
            show_notes(episode)
            episode_page(fmt_show, episode)
        times["publish"] = time.perf_counter() - started
        return times, None
    except PodforgeError:
        return times, None
    except Exception:
        return times, f"seed {seed}, stage {stage}:\n{traceback.format_exc()}"


def _music(sound):
    from pipeline.build.plan import named_music
    return [m for _, m in named_music(sound)]


def _worker(args: tuple[int, int]) -> tuple[dict, list[str], int]:
    start, stop = args
    slowest: dict[str, list[tuple[float, int]]] = {}  # the 3 slowest per stage
    crashes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(start, stop):
            times, crash = run_case(seed, Path(tmp))
            for stage, seconds in times.items():
                slowest[stage] = sorted([*slowest.get(stage, []), (seconds, seed)])[-3:]
            if crash:
                crashes.append(crash)
    return slowest, crashes, stop - start


def retime(seed: int, stage: str) -> float:
    """A slow case timed again, best of three: a shared machine's pauses are not the input's."""
    with tempfile.TemporaryDirectory() as tmp:
        return min(run_case(seed, Path(tmp))[0].get(stage, 0.0) for _ in range(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    chunk = 500
    jobs = [(s, min(s + chunk, args.seed + args.count))
            for s in range(args.seed, args.seed + args.count, chunk)]
    started = time.perf_counter()
    slowest: dict[str, list[tuple[float, int]]] = {}
    crashes: list[str] = []
    done = 0
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        for part, found, n in pool.imap_unordered(_worker, jobs):
            done += n
            crashes += found
            for stage, top in part.items():
                slowest[stage] = sorted([*slowest.get(stage, []), *top])[-3:]
            if done % 10_000 < chunk:
                print(f"{done} cases, {len(crashes)} crashes, "
                      f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    for crash in crashes[:5]:
        print(crash if len(crash) < 3000 else crash[:1500] + "\n…\n" + crash[-1500:])
    print(f"{args.count} cases (seeds {args.seed}…{args.seed + args.count - 1}) in "
          f"{elapsed:.0f} s: {len(crashes)} crashes")
    print("slowest input per stage (its first time in the run; timed again, best of 3):")
    for stage in ("show", "parse", "validate", "plan", "publish"):
        if stage in slowest:
            again = max((retime(seed, stage), seed) for _, seed in slowest[stage])
            first = max(slowest[stage])
            print(f"  {stage:<8} {first[0] * 1000:8.1f} ms (seed {first[1]});  again "
                  f"{again[0] * 1000:6.1f} ms (seed {again[1]})")
    sys.exit(1 if crashes else 0)


if __name__ == "__main__":
    main()
