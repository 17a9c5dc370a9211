"""Times as people and podcast apps read them: the one place publish formats seconds.

itunes:duration wants HH:MM:SS; a listener reads 4:05 (or 1:04:05 past the hour) beside a
chapter or a transcript line. (The build's WebVTT/SRT cue times are a third, millisecond
format and live with the transcript writer.)
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


@cache  # one entry per second of audio: every transcript line shows one
def _clock(s: int) -> str:
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
