"""Timed text out of the build: WebVTT and SubRip transcripts, Podcasting 2.0 JSON chapters.

All three are written from the same millisecond values the MP3's CHAP frames carry, so every
consumer agrees on where a chapter starts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from pipeline.model import Chapter, TimedLine

MAX_CUE_SECONDS = 7.0  # long sentences are split so captions stay readable
MAX_CUE_CHARS = 120


def split_long(lines: Sequence[TimedLine]) -> list[TimedLine]:
    """Break a line longer than a caption can hold at word boundaries, sharing its time."""
    out = []
    for line in lines:
        words = line.text.split()
        if line.end - line.start <= MAX_CUE_SECONDS and len(line.text) <= MAX_CUE_CHARS:
            out.append(line)
            continue
        parts = max(2, round((line.end - line.start) / MAX_CUE_SECONDS),
                    -(-len(line.text) // MAX_CUE_CHARS))
        size = -(-len(words) // parts)
        chunks = [words[i:i + size] for i in range(0, len(words), size)]
        total = sum(len(" ".join(c)) for c in chunks) or 1
        t = line.start
        for chunk in chunks:
            text = " ".join(chunk)
            step = (line.end - line.start) * len(text) / total
            out.append(TimedLine(round(t, 3), round(t + step, 3), text, line.speaker))
            t += step
    return out


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
