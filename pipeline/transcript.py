"""Timed text out of the build: WebVTT and SubRip transcripts, Podcasting 2.0 JSON chapters.

All three are written from the same millisecond values the MP3's CHAP frames carry, so every
consumer agrees on where a chapter starts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MAX_CUE_SECONDS = 7.0  # long sentences are split so captions stay readable
MAX_CUE_CHARS = 120


@dataclass(frozen=True)
class Line:
    """A spoken line with its time in the episode."""

    start: float
    end: float
    text: str
    speaker: str | None = None


def split_long(lines: list[Line]) -> list[Line]:
    """Break a line longer than a caption can hold at word boundaries. Without word times (a
    draft or estimated line), each word's time is its share of the line's characters."""
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


def split_timed(words: list[tuple[float, float, str]], speaker: str | None = None) -> list[Line]:
    """One sentence's words (start, end, text) as caption lines: one line if it fits, else as
    many as its length and duration need, broken at the word gap nearest each even share of
    its time, preferring real pauses and punctuation. The one rule for every transcript."""
    start, end = words[0][0], words[-1][1]
    text = " ".join(w[2] for w in words)
    if end - start <= MAX_CUE_SECONDS and len(text) <= MAX_CUE_CHARS:
        return [Line(round(start, 3), round(end, 3), text, speaker)]
    parts = min(len(words), max(2, round((end - start) / MAX_CUE_SECONDS),
                                -(-len(text) // MAX_CUE_CHARS)))
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
    out = []
    for a, b in zip([0, *cuts], [*cuts, len(words)]):
        chunk = words[a:b]
        out.append(Line(round(chunk[0][0], 3), round(chunk[-1][1], 3),
                        " ".join(w[2] for w in chunk), speaker))
    return out


def _stamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().replace("-->", "->")


def vtt(lines: list[Line]) -> str:
    cues = ["WEBVTT", ""]
    for line in lines:
        voice = f"<v {line.speaker}>" if line.speaker else ""
        text = _clean(line.text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        cues += [f"{_stamp(line.start, '.')} --> {_stamp(line.end, '.')}", voice + text, ""]
    return "\n".join(cues)


def srt(lines: list[Line]) -> str:
    cues = []
    for i, line in enumerate(lines, start=1):
        cues += [str(i), f"{_stamp(line.start, ',')} --> {_stamp(line.end, ',')}",
                 _clean(line.text), ""]
    return "\n".join(cues)


def chapters_json(chapters: list[tuple[str, int]], title: str | None = None) -> str:
    """Podcasting 2.0 JSON chapters 1.2.0 from (title, start in ms)."""
    data: dict = {"version": "1.2.0"}
    if title:
        data["title"] = title
    data["chapters"] = [{"startTime": ms / 1000, "title": name} for name, ms in chapters]
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
