"""Times as people, podcast apps and caption files read them: the one place seconds become text.

itunes:duration wants HH:MM:SS; a listener reads 4:05 (or 1:04:05 past the hour) beside a
chapter or a transcript line; a producer reviewing a plan reads tenths (1:04.3); WebVTT and SRT
cues want milliseconds (00:01:04.250, or 00:01:04,250).
"""

from __future__ import annotations

from functools import cache


def hms(seconds: float) -> str:
    """HH:MM:SS, rounded to the second, as itunes:duration wants it."""
    s = max(0, round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def stamp(seconds: float) -> str:
    """A timestamp as a listener reads it: 0:00, 4:05, or 1:04:05 past the hour."""
    return _clock(max(0, int(seconds)))


def tenths(seconds: float) -> str:
    """m:ss.s, as the plan and the outline show lengths to a producer."""
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def minutes(seconds: float) -> str:
    """m:ss rounded to the second, as the outline totals spoken lengths."""
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


def cue(seconds: float, sep: str = ".") -> str:
    """HH:MM:SS.mmm for WebVTT (sep ","  for SubRip)."""
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


@cache  # one entry per second of audio: every transcript line shows one
def _clock(s: int) -> str:
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
