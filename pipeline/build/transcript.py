"""Timed text out of the build: WebVTT and SubRip transcripts, Podcasting 2.0 JSON chapters.

All three are written from the same millisecond values the MP3's CHAP frames carry, so every
consumer agrees on where a chapter starts.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence

from pipeline.timefmt import cue
from pipeline.model import Chapter, TimedLine

MAX_CUE_SECONDS = 7.0  # long sentences are split so captions stay readable
MAX_CUE_CHARS = 120


def split_long(lines: Sequence[TimedLine]) -> list[TimedLine]:
    """Lines without word times (a draft voice's, or an estimate's) as caption lines: each
    word's time is its share of the line's characters, then the one rule, split_timed."""
    out = []
    for line in lines:
        words = line.text.split()
        total = sum(len(w) + 1 for w in words) or 1
        timed, t = [], line.start
        for word in words:
            step = (line.end - line.start) * (len(word) + 1) / total
            timed.append((t, t + step, word))
            t += step
        out += split_timed(timed, line.speaker) if timed else [line]
    return out


def split_timed(words: Sequence[tuple[float, float, str]],
                speaker: str | None = None) -> list[TimedLine]:
    """One sentence's words (start, end, text) as caption lines: one line if it fits both limits,
    else the fewest lines that each fit, broken at the word gap nearest each even share of the
    time, preferring real pauses and punctuation (a single word too long stays whole). The one
    rule for every transcript, aligned or drafted."""
    start, end = words[0][0], words[-1][1]
    parts = max(1, math.ceil(round((end - start) / MAX_CUE_SECONDS, 6)),
                -(-len(" ".join(w[2] for w in words)) // MAX_CUE_CHARS))
    while True:
        chunks = _cut(words, min(parts, len(words)))
        if parts >= len(words) or all(
                c[-1][1] - c[0][0] <= MAX_CUE_SECONDS and
                len(" ".join(w[2] for w in c)) <= MAX_CUE_CHARS for c in chunks):
            break
        parts += 1
    return [TimedLine(round(c[0][0], 3), round(c[-1][1], 3), " ".join(w[2] for w in c), speaker)
            for c in chunks]


def _cut(words: Sequence[tuple[float, float, str]], parts: int) -> list:
    start, end = words[0][0], words[-1][1]
    cuts, previous = [], 0
    for j in range(1, parts):
        target = start + (end - start) * j / parts
        best, best_cost = None, None
        for i in range(previous + 1, len(words) - (parts - j) + 1):  # cut before words[i]
            gap = max(0.0, words[i][0] - words[i - 1][1])
            mid = (words[i - 1][1] + words[i][0]) / 2
            cost = abs(mid - target) - min(gap, 0.5) - (0.3 if words[i - 1][2][-1] in ",;:" else 0)
            if best_cost is None or cost < best_cost:
                best, best_cost = i, cost
        cuts.append(best)
        previous = best
    return [words[a:b] for a, b in zip([0, *cuts], [*cuts, len(words)])]


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().replace("-->", "->")


def vtt(lines: Sequence[TimedLine]) -> str:
    cues = ["WEBVTT", ""]
    for line in lines:
        voice = f"<v {line.speaker}>" if line.speaker else ""
        text = _clean(line.text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        cues += [f"{cue(line.start, '.')} --> {cue(line.end, '.')}", voice + text, ""]
    return "\n".join(cues)


def srt(lines: Sequence[TimedLine]) -> str:
    cues = []
    for i, line in enumerate(lines, start=1):
        cues += [str(i), f"{cue(line.start, ',')} --> {cue(line.end, ',')}",
                 _clean(line.text), ""]
    return "\n".join(cues)


def chapters_json(chapters: Sequence[Chapter], title: str | None = None) -> str:
    """Podcasting 2.0 JSON chapters 1.2.0."""
    data: dict = {"version": "1.2.0"}
    if title:
        data["title"] = title
    data["chapters"] = [{"startTime": c.start_ms / 1000, "endTime": c.end_ms / 1000,
                         "title": c.title} for c in chapters]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
