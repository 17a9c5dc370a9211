"""Timed text out of the build: WebVTT and SubRip transcripts, Podcasting 2.0 JSON chapters.

All three are written from the same millisecond values the MP3's CHAP frames carry, so every
consumer agrees on where a chapter starts.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Sequence

from pipeline.model import Chapter, TimedLine

MAX_CUE_SECONDS = 7.0  # long sentences are split so captions stay readable
MAX_CUE_CHARS = 120


def split_long(lines: Sequence[TimedLine]) -> list[TimedLine]:
    """Break a line longer than a caption can hold at word boundaries, sharing its time.

    Each piece's time is its share of the characters, so pieces are balanced by characters, and
    more are made until every one fits both limits (a single word too long for them stays whole).
    """
    out = []
    for line in lines:
        words = line.text.split()
        seconds = line.end - line.start
        if seconds <= MAX_CUE_SECONDS and len(line.text) <= MAX_CUE_CHARS:
            out.append(line)
            continue
        parts = max(2, math.ceil(seconds / MAX_CUE_SECONDS), -(-len(line.text) // MAX_CUE_CHARS))
        while True:
            chunks = _balanced(words, min(parts, len(words)))
            total = sum(len(c) for c in chunks) or 1
            if parts >= len(words) or all(
                    len(c) <= MAX_CUE_CHARS and seconds * len(c) / total <= MAX_CUE_SECONDS
                    for c in chunks):
                break
            parts += 1
        t = line.start
        for text in chunks:
            step = seconds * len(text) / total
            out.append(TimedLine(round(t, 3), round(t + step, 3), text, line.speaker))
            t += step
    return out


def _balanced(words: list[str], parts: int) -> list[str]:
    """`words` in `parts` runs of about equal length: each cut at the word boundary nearest its
    share of the text."""
    ends = list(itertools.accumulate(len(w) + 1 for w in words))  # offset after each word
    cuts, previous = [], 0
    for i in range(1, parts):
        ideal = ends[-1] * i / parts
        previous = min(range(previous + 1, len(words) - (parts - i) + 1),
                       key=lambda j: abs(ends[j - 1] - ideal))
        cuts.append(previous)
    return [" ".join(words[a:b]) for a, b in zip([0, *cuts], [*cuts, len(words)])]


def _stamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().replace("-->", "->")


def vtt(lines: Sequence[TimedLine]) -> str:
    cues = ["WEBVTT", ""]
    for line in lines:
        voice = f"<v {line.speaker}>" if line.speaker else ""
        text = _clean(line.text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        cues += [f"{_stamp(line.start, '.')} --> {_stamp(line.end, '.')}", voice + text, ""]
    return "\n".join(cues)


def srt(lines: Sequence[TimedLine]) -> str:
    cues = []
    for i, line in enumerate(lines, start=1):
        cues += [str(i), f"{_stamp(line.start, ',')} --> {_stamp(line.end, ',')}",
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
