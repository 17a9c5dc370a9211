"""Forced alignment on ten minutes of takes made with other voices than the tests use.

Prints the sentence-start error (median, p95) of the aligner beside the word-count estimate it
replaces (the reference, measured in the same run), the aligner's CPU time as a fraction of the
audio's length, and, for a whole-episode recording split by pipeline.audio.onetake, how far each
segment boundary falls from the recorded pause between the segments. Targets: median <= 100 ms,
p95 <= 250 ms, <= 0.3x real time, boundaries <= 300 ms. Then the take check's CPU time
(pipeline.audio.takecheck: each take recognised against its own script) beside the same
recognition by a decoder with pocketsphinx's whole English dictionary (the reference); last,
takes with an ad-lib: the sentence-start error of the aligner alone (the reference) beside the
build's, which aligns again what the take check heard elsewhere.

    python bench/bench_align.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pipeline.audio import align, onetake, voice  # noqa: E402
from pipeline.audio.takecheck import Line  # noqa: E402
from takes import make_take  # noqa: E402

TEXT = ("On the 15th of January, 1919, a steel tank on Commercial Street burst open. "
        "Two million gallons of molasses poured into the North End of Boston. "
        "The wave stood fifteen feet high and moved at thirty-five miles an hour. "
        "Witnesses said the sound was like a train passing overhead. "
        "Twenty-one people died, and a hundred and fifty were hurt. "
        "Horses were caught in the flood and could not be freed. "
        "Rescuers waded through the syrup for days, searching the ruins. "
        "The company blamed anarchists, but the court blamed the tank. "
        "It had been built in a hurry, and it leaked from the first day. "
        "Neighbours said that on hot summer afternoons the harbour still smelled sweet.")
VOICES = [("en-GB-x-rp", 150, 40), ("en-us+m3", 135, None), ("en+Mike", 175, 60),
          ("en-GB-scotland", 145, None)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    sentences = [s.strip() + "." for s in TEXT.split(". ") if s.strip()]
    sentences = [s[:-1] if s.endswith("..") else s for s in sentences]
    takes, seconds, k = [], 0.0, 0
    while seconds < args.minutes * 60:
        name, wpm, pitch = VOICES[k % len(VOICES)]
        take = make_take(sentences, voice_name=name, wpm=wpm, pitch=pitch, seed=k)
        takes.append(take)
        seconds += len(take.samples) / take.rate
        k += 1
    print(f"{len(takes)} takes, {seconds / 60:.1f} min of audio, voices "
          f"{', '.join(v[0] for v in VOICES)}")
    rows = {"aligned": [], "estimate": []}
    word_rows: list[float] = []
    cpu = {"aligned": 0.0, "estimate": 0.0}
    for take in takes:
        for kind, run in (("aligned", align.align), ("estimate", align.estimate)):
            t0 = time.process_time()
            result = run(take.samples, take.rate, take.sentences)
            cpu[kind] += time.process_time() - t0
            if kind == "aligned" and result.method != "aligned":
                print("  fell back:", result.warning)
            rows[kind] += list(np.array([s.start for s in result.sentences]) - take.starts)
            if kind == "aligned":
                word_rows += word_errors(result.words, take.words)
    for kind in rows:
        err = np.abs(rows[kind]) * 1000
        print(f"{kind:9s} sentence start error median {np.median(err):7.1f} ms   "
              f"p95 {np.percentile(err, 95):7.1f} ms   max {err.max():7.1f} ms   "
              f"cpu {cpu[kind] / seconds:.3f}x real time")
    w = np.abs(word_rows) * 1000
    print(f"aligned   word start error median {np.median(w):7.1f} ms   p95 "
          f"{np.percentile(w, 95):7.1f} ms   ({len(w)} words the voice and the script spell alike)")
    ratio = np.median(np.abs(rows["estimate"])) / max(np.median(np.abs(rows["aligned"])), 1e-6)
    print(f"median error: the estimate is {ratio:.0f}x the aligner's")
    # One long take: the windowed path on the whole set.
    whole = np.concatenate([t.samples for t in takes])
    starts, offset = [], 0.0
    for t in takes:
        starts += [s + offset for s in t.starts]
        offset += len(t.samples) / t.rate
    t0 = time.process_time()
    result = align.align(whole, takes[0].rate, [s for t in takes for s in t.sentences])
    spent = time.process_time() - t0
    err = np.abs(np.array([s.start for s in result.sentences]) - starts) * 1000
    print(f"one {offset / 60:.1f}-min take ({result.method}): median {np.median(err):.1f} ms, "
          f"p95 {np.percentile(err, 95):.1f} ms, cpu {spent / offset:.3f}x real time")

    boundaries(sentences)
    take_check(takes, seconds)
    adlibs(sentences)


def take_check(takes, seconds: float) -> None:
    """takecheck.recognize against the reference: the same script model searched by a decoder
    holding pocketsphinx's whole dictionary, as its documentation sets one up (one per take, so
    each take is heard from the same start, as takecheck hears it)."""
    import os
    import tempfile

    import pocketsphinx

    from pipeline.audio import takecheck

    ours = reference = 0.0
    same = 0
    for take in takes:
        t0 = time.process_time()
        heard = [h.word for h in takecheck.recognize(take.samples, take.rate, take.sentences)]
        ours += time.process_time() - t0
        t0 = time.process_time()
        full = pocketsphinx.Decoder(lm=None, topn=2, lw=takecheck.LW, loglevel="FATAL")
        kept = [[w for t in tokens if (w := align.dictionary_word(full, t))]
                for tokens in takecheck.script_tokens(take.sentences)]
        fd, path = tempfile.mkstemp(suffix=".arpa")
        with os.fdopen(fd, "w") as f:
            f.write(takecheck.script_model(kept))
        full.add_lm_file("script", path)
        full.activate_search("script")
        full.start_utt()
        full.process_raw(align.to_pcm(take.samples, take.rate), full_utt=True)
        full.end_utt()
        theirs = [s.word for s in full.seg()]
        reference += time.process_time() - t0
        os.unlink(path)
        strip = [w.split("(")[0] for w in theirs
                 if w not in align._FILLERS and not w.startswith("++")]
        same += strip == heard
    print(f"take check: cpu {ours / seconds:.3f}x real time, the whole-dictionary decoder "
          f"{reference / seconds:.3f}x: {reference / max(ours, 1e-9):.1f}x ours "
          f"({same} of {len(takes)} takes heard as the same words)")


ADLIB = "And I should say that my own grandfather told me this story more than once."


def adlibs(sentences: list[str]) -> None:
    """A take per voice with a sentence the script lacks read in its middle: the sentence-start
    error of the aligner alone (the reference) and of the build's way, which aligns again the
    sentences that start away from where the take check heard them (onetake.mended)."""
    from pipeline.audio import takecheck

    alone, mended = [], []
    half = len(sentences) // 2
    for k, (name, wpm, pitch) in enumerate(VOICES):
        take = make_take(sentences[:half] + [ADLIB] + sentences[half:], voice_name=name,
                         wpm=wpm, pitch=pitch, seed=50 + k)
        truth = np.array(take.starts[:half] + take.starts[half + 1:])
        first = align.align(take.samples, take.rate, sentences)
        heard = takecheck.recognize(take.samples, take.rate, sentences)
        fixed = onetake.mended(take.samples, take.rate, first, sentences, heard)
        alone += list(np.abs([s.start for s in first.sentences] - truth))
        mended += list(np.abs([s.start for s in fixed.sentences] - truth))
    for label, err in (("aligner alone", alone), ("aligned again where heard", mended)):
        err = np.array(err) * 1000
        print(f"after an ad-lib, {label:26s} sentence start error median {np.median(err):7.1f} "
              f"ms   p95 {np.percentile(err, 95):7.1f} ms   max {err.max():7.1f} ms")


def word_errors(aligned, spoken) -> list[float]:
    """Start error of each word the aligner and the voice both have, in order (numbers the two
    spell differently are left out, matched by difflib on the lower-cased words)."""
    import difflib

    def norm(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isalpha())

    a, b = [norm(w.text) for w in aligned], [norm(t) for t, _ in spoken]
    out = []
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for i in range(block.size):
            out.append(aligned[block.a + i].start - spoken[block.b + i][1])
    return out


def boundaries(sentences: list[str], segments: int = 5) -> None:
    """A whole-episode take of `segments` segments (two sentences each, other voices): the
    error of each boundary onetake finds, 0 when it lies inside the true pause."""
    parts, truth, at = [], [], 0.0
    for k in range(segments):
        name, wpm, pitch = VOICES[(k + 1) % len(VOICES)]
        take = make_take(sentences[2 * k:2 * k + 2], voice_name=name, wpm=wpm, pitch=pitch,
                         seed=100 + k, gaps=(0.5, 0.9))
        parts.append(take.samples)
        truth.append((at + take.starts[0], at + take.ends[-1]))
        at += len(take.samples) / take.rate
    rate = make_take(sentences[:1]).rate
    plan = [(f"seg-{k}", [Line(text, 10 * k + i, 1)
                          for i, text in enumerate(sentences[2 * k:2 * k + 2])])
            for k in range(segments)]
    t0 = time.process_time()
    found = onetake.split(np.concatenate(parts), rate, plan)
    spent = time.process_time() - t0
    errors = []
    for k in range(1, segments):
        pause = (truth[k - 1][1], truth[k][0])  # the last word of one, the first of the next
        cut = found.parts[k].start
        errors.append(0.0 if pause[0] <= cut <= pause[1] else
                      min(abs(cut - pause[0]), abs(cut - pause[1])))
    err = np.array(errors) * 1000
    print(f"one-take split of {at / 60:.1f} min in {segments} segments: boundary error median "
          f"{np.median(err):.0f} ms, max {err.max():.0f} ms (0: inside the recorded pause), "
          f"cpu {spent / at:.3f}x real time")


if __name__ == "__main__":
    if not voice.available():
        sys.exit("espeak-ng is not available")
    main()
