"""Build a synthetic episode and compare, in the same run, with what ffmpeg alone would take.

    .venv/bin/python bench/bench_build.py [--minutes 30] [--no-reference] [--repeat N] [--acts K]

(a) `podforge build --force` of the episode (draft voice, theme, beds, stingers, outro);
(b) the bare ffmpeg MP3 encode of a WAV of the same length and format: the episode's own audio
    (decoded from the first build's MP3 to 16-bit stereo 44.1 kHz), so (b) is exactly what
    encoding this episode costs and a/b is what podforge adds to it (LAME's speed depends on
    the content). The host's speed drifts, so (b) is timed before each (a) and after (e), and
    a/b uses the medians (with --repeat, of several alternate runs);
(c) a reference ffmpeg filtergraph doing the same job: the voice ducks a looped bed
    (sidechaincompress), amix, loudnorm to -16 LUFS, libmp3lame at the same bitrate.
(d) edit one act (its first sentence, in act 2) and build again: each act has a bell cued
    halfway, so two scenes, and the draft voice makes each a span of its own: the first scene's
    narration, mix, master and pieces (and its neighbours' edge pieces) are made again, the
    rest comes from the cache; (d') then a sentence two thirds into act 2 (its second scene):
    that scene is mixed and mastered again, but only the pieces from the edit on are encoded
    (what comes before reads the same samples);
(e) a build with nothing to do (the median of five);
(f) what the second pass would cost and what avoids it: the show's first build of its first
    episode, which measures what the encoder takes away on excerpts before it masters (else its
    MP3 would measure off target and every span be limited and encoded again), against (g) a
    new episode of the same show, which starts from what (f) learned; each with its passes.
Prints a/b (target ≤ 1.0), d/a (target ≤ 0.25), e (target ≤ 0.3 s), the cache's bytes per
minute of audio and its size over the MP3's (target ≤ 5), podforge's peak RSS (flat in the
episode's length: compare `--minutes 120 --no-reference`), f/a and g/a.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.audio.encode import encode_wav, find_ffmpeg  # noqa: E402

WORDS_PER_MINUTE = 165
_SUBJECTS = ["The harbor master", "A young clerk", "The city council", "Her brother",
             "The night watchman", "A reporter from the evening paper", "The engineer",
             "Nobody in the crowd", "The old ferry captain", "Two schoolteachers"]
_VERBS = ["watches", "remembers", "writes down", "argues about", "walks past", "hears about",
          "refuses to believe", "measures", "photographs", "waits for"]
_OBJECTS = ["the cracked iron gate", "a column of smoke over the river", "the first telegram",
            "a ledger full of numbers", "the sound of the bells", "the long queue outside",
            "a map of the flooded streets", "the committee's report", "the last train north",
            "a letter that never arrives"]
_TAILS = ["before dawn.", "for the third time that week.", "without saying a word.",
          "as the rain begins.", "while the town sleeps.", "and nothing is the same again."]


def paragraph(rng: random.Random, sentences: int = 6) -> str:
    return " ".join(f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
                    f"{rng.choice(_TAILS)}" for _ in range(sentences))


def script(minutes: float, acts: int = 3, seed: int = 7) -> tuple[str, str]:
    """An episode of about `minutes` of narration at the draft voice's pace; and its words."""
    rng = random.Random(seed)
    words_left = int(minutes * WORDS_PER_MINUTE * 1.08)  # the draft voice runs a little fast
    per_act = words_left // acts
    narration, parts = [], [
        "Mar. 3, 2026", "A Synthetic Day", "March 3, 1903. A town waits for news.", "Cold Open"]

    def body(words: int) -> list[str]:
        out, count = [], 0
        while count < words:
            p = paragraph(rng)
            out.append(p)
            count += len(p.split())
        narration.extend(out)
        return out

    parts += body(150)
    parts += ["From Lantern Hill Audio, I'm Nora Vance and this is The Daybook.",
              "Every date on the calendar keeps a story. Each day, we open the book to one page "
              "and tell the true story written there.",
              "Today is March 3rd, 1903: A Synthetic Day."]
    for n in range(1, acts + 1):
        parts.append(f"Act {n}: Part {n}")
        chunk = body(per_act)
        parts += chunk[:len(chunk) // 2] + ["[SFX: bell]"] + chunk[len(chunk) // 2:]
    parts += ["Next on The Daybook. March 4th, 1903. Another day.",
              "From Lantern Hill Audio, this is The Daybook, hosted by me, Nora Vance.",
              "Audio editing by Tomás Ferreira."]
    return "\n\n".join(parts) + "\n", " ".join(narration)


def project(folder: Path, minutes: float, acts: int | None = None) -> str:
    show = (ROOT / "show.yaml").read_text(encoding="utf-8").replace(
        "manifest: assets/manifest.yaml", f"manifest: {ROOT / 'assets' / 'manifest.yaml'}")
    show = show.replace("minutes: {min: 8, max: 30}", "minutes: {min: 1, max: 600}")
    show = show.replace("acts: {min: 2, max: 5}", "acts: {min: 2, max: 40}")  # an act a 20 min
    assert "max: 600" in show and "max: 40" in show, "show.yaml's format changed: update this"
    (folder / "show.yaml").write_text(show, encoding="utf-8")
    episode = folder / "episodes" / "synthetic"
    episode.mkdir(parents=True)
    text, narration = script(minutes, acts=acts or default_acts(minutes))
    (episode / "script.txt").write_text(text, encoding="utf-8")
    return narration


def default_acts(minutes: float) -> int:
    return max(3, round(minutes / 20))


def timed(command: list[str], cwd: Path | None = None) -> float:
    return logged(command, cwd)[0]


def cpu_seconds() -> float:
    """User and system time of every finished child (and theirs: podforge's workers and
    ffmpegs), so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def logged(command: list[str], cwd: Path | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout + done.stderr


def passes(log: str) -> int:
    return 1 + log.count("mastering and encoding again")


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--minutes", type=float, default=30)
    args.add_argument("--no-reference", action="store_true")
    args.add_argument("--repeat", type=int, default=1,
                      help="time (a) and (b) this many times each, alternately: medians")
    args.add_argument("--acts", type=int, default=None,
                      help="acts in the episode (default: 3, or one per 20 minutes)")
    opts = args.parse_args()
    os.environ["PYTHONPATH"] = str(ROOT)  # the podforge runs are this checkout's
    # ...as installed: pip writes an installed package's bytecode, while a checkout run under
    # PYTHONDONTWRITEBYTECODE (set here, and on some CI hosts) compiles every module it imports
    # on every run, 0.15 s of a build with nothing to do.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "pipeline")],
                   env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
                   check=True, stdout=subprocess.DEVNULL)
    ffmpeg = find_ffmpeg()
    podforge = str(Path(sys.executable).parent / "podforge")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        narration = project(folder, opts.minutes, opts.acts)
        f, log = logged([podforge, "build"], cwd=folder)  # the show's first build; warm caches
        mp3 = folder / "build" / "synthetic" / "synthetic.mp3"
        seconds = sf.info(mp3).duration
        wav = folder / "same-length.wav"
        subprocess.run([ffmpeg, "-y", "-hide_banner", "-loglevel", "error", "-i", str(mp3),
                        "-c:a", "pcm_s16le", "-ar", "44100", "-ac", "2", str(wav)], check=True)

        def bare() -> tuple[float, float]:
            start, used = time.perf_counter(), cpu_seconds()
            encode_wav(wav, folder / "bare.mp3", 44100, 2, 128, ffmpeg=ffmpeg)
            return time.perf_counter() - start, cpu_seconds() - used

        def full() -> tuple[float, float]:
            used = cpu_seconds()
            return timed([podforge, "build", "--force", "--quiet"], cwd=folder), \
                cpu_seconds() - used

        # The machine's speed drifts (a shared host): (b) is timed before each (a) and after
        # (e), and with --repeat the ratios come from the medians.
        bares, fulls = [], []
        for _ in range(max(1, opts.repeat)):
            if not opts.no_reference:
                bares.append(bare())
            fulls.append(full())
        a, a_cpu = median([t for t, _ in fulls]), median([c for _, c in fulls])
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        acts = opts.acts or default_acts(opts.minutes)
        report = json.loads((mp3.parent / "report.json").read_text(encoding="utf-8"))
        act = [s["end"] - s["start"] for s in report["segments"] if s["kind"] == "act"]
        print(f"episode: {seconds / 60:.1f} min in {acts} acts of {min(act) / 60:.1f} to "
              f"{max(act) / 60:.1f} min, stereo 44.1 kHz, 128 kbps")
        runs = f" (median of {', '.join(f'{t:.1f}' for t, _ in fulls)})" if len(fulls) > 1 else ""
        print(f"(a) podforge build --force: {a:6.1f} s, {a_cpu:.1f} CPU-s{runs}   peak RSS "
              f"{rss:.0f} MB (the largest process: podforge or its ffmpeg)")
        script_file = folder / "episodes" / "synthetic" / "script.txt"
        text = script_file.read_text(encoding="utf-8")
        at = text.index("Act 2: Part 2")
        cut = text.index(". ", at) + 1
        script_file.write_text(text[:cut] + " A late edit changes this sentence." + text[cut:],
                               encoding="utf-8")
        d = timed([podforge, "build", "--quiet"], cwd=folder)
        text = script_file.read_text(encoding="utf-8")  # (d') a sentence late in the act
        at, end = text.index("Act 2: Part 2"), text.index("Act 3: Part 3")
        cut = text.index(". ", at + (end - at) * 2 // 3) + 1
        script_file.write_text(text[:cut] + " A later edit changes this one." + text[cut:],
                               encoding="utf-8")
        late = timed([podforge, "build", "--quiet"], cwd=folder)
        # A fifth of a second: a neighbour's burst shows, so the median of five.
        e = median([timed([podforge, "build", "--quiet"], cwd=folder) for _ in range(5)])
        cache = sum(p.stat().st_size for p in (folder / ".podforge-cache").rglob("*")
                    if p.is_file())
        size = mp3.stat().st_size
        print(f"(d) edit act 2, build again: {d:6.1f} s   d/a = {d / a:.2f}  (target ≤ 0.25)")
        print(f"(d') then edit act 2 two thirds in: {late:6.1f} s   d'/a = {late / a:.2f}  (the "
              "pieces before the edit are kept; (d) edits the act's first sentence)")
        print(f"(e) build with nothing to do: {e:6.2f} s  (target ≤ 0.3 s)")
        print(f"cache: {cache / 1e6:.1f} MB, {cache / (seconds / 60) / 1e6:.2f} MB per minute, "
              f"{cache / size:.2f} x the MP3  (target ≤ 5; it holds the edit's old entries "
              "until pruned)")
        if opts.no_reference:
            return
        bares.append(bare())
        b, b_cpu = median([t for t, _ in bares]), median([c for _, c in bares])
        print(f"(b) bare ffmpeg MP3 encode of a WAV of that length: {b:6.1f} s, {b_cpu:.1f} "
              f"CPU-s  (runs: {', '.join(f'{t:.1f}' for t, _ in bares)}; the last after (e))")
        from pipeline.audio import voice
        speech = voice.speak(narration[: 8000], wpm=WORDS_PER_MINUTE)  # a voice to loop
        sf.write(folder / "voice.wav", speech.samples, speech.sample_rate)
        bed = ROOT / "assets" / "bed-tension.ogg"
        graph = ("[1:a]aresample=44100,pan=stereo|c0=c0|c1=c0,asplit=2[voice][key];"
                 "[0:a]aresample=44100[music];"
                 "[music][key]sidechaincompress=threshold=0.02:ratio=8:attack=60:release=400"
                 "[ducked];[ducked][voice]amix=inputs=2:duration=shortest,"
                 "loudnorm=I=-16:TP=-1:LRA=11")
        c = timed([ffmpeg, "-y", "-hide_banner", "-stream_loop", "-1", "-i", str(bed),
                   "-stream_loop", "-1", "-i", str(folder / "voice.wav"), "-filter_complex",
                   graph, "-t", f"{seconds:.2f}", "-ar", "44100", "-ac", "2", "-c:a",
                   "libmp3lame", "-b:a", "128k", str(folder / "reference.mp3")])
        print(f"(c) reference ffmpeg filtergraph (sidechaincompress, amix, loudnorm, "
              f"libmp3lame): {c:6.1f} s")
        print(f"a/b = {a / b:.2f}  (target ≤ 1.0); their CPU-s {a_cpu / b_cpu:.2f} (steadier "
              "than wall time on a shared host: the encoder's work and podforge's own)")
        print(f"a/c = {a / c:.2f}  (target ≤ 0.5)")
        second_pass(folder, podforge, opts.minutes, acts, a, f, log)


def second_pass(folder: Path, podforge: str, minutes: float, acts: int, a: float, f: float,
                log: str) -> None:
    """(f) against (g): another episode, new words, in the show (f) taught its trim."""
    text, _ = script(minutes, acts=acts, seed=8)
    other = folder / "episodes" / "another"
    other.mkdir()
    (other / "script.txt").write_text(text.replace("A Synthetic Day", "Another Day"),
                                      encoding="utf-8")
    g, again = logged([podforge, "build"], cwd=folder)
    print(f"(f) the show's first build of its first episode: {f:6.1f} s, "
          f"{passes(log)} pass(es)  f/a = {f / a:.2f}  (narration included)")
    print(f"(g) a new episode of the same show: {g:6.1f} s, "
          f"{passes(again)} pass(es)  g/a = {g / a:.2f}  (narration included)")


if __name__ == "__main__":
    main()
