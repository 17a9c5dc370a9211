"""Which recorded take voices which segment: `episodes/<slug>/takes/<segment>.<ext>`."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import PodforgeError
from pipeline.model import Script, Segment

TAKE_TYPES = (".wav", ".flac", ".ogg", ".mp3")


def find_take(takes: Path, segment: Segment) -> Path | None:
    for suffix in TAKE_TYPES:
        for candidate in (takes / f"{segment.slug}{suffix}",
                          takes / f"{segment.slug}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def takes_for(script: Script, folder: Path, takes_only: bool) -> dict[str, Path | None]:
    takes = {s.slug: find_take(folder / "takes", s) for s in script.segments}
    missing = [slug for slug, take in takes.items() if take is None]
    if takes_only and missing:
        expected = folder / "takes" / f"{missing[0]}.wav"
        raise PodforgeError(f"{expected}: no take for the {missing[0]} segment (--takes-only); "
                            "record it as WAV, FLAC, OGG or MP3, or build without --takes-only")
    return takes
