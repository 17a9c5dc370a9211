"""Which recorded take voices which segment: `episodes/<slug>/takes/<segment>.<ext>`.

Discovery never guesses silently: a file that matches no segment is named in a warning with the
name it would need, and two takes for one segment stop the build naming both. A recording of the
whole episode is `takes/episode.<ext>`; a segment's own take wins over it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PodforgeError
from pipeline.files import inside
from pipeline.model import Script

SOUNDFILE_TYPES = (".wav", ".flac", ".ogg", ".mp3")  # libsndfile reads these
FFMPEG_TYPES = (".m4a", ".aac", ".opus", ".webm")  # what phones record: decoded through ffmpeg
TAKE_TYPES = SOUNDFILE_TYPES + FFMPEG_TYPES
EPISODE = "episode"  # takes/episode.<ext>: one recording of every segment, in order

_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5}


@dataclass(frozen=True)
class Takes:
    """What `takes/` holds for a script: a take per segment slug (or None), the whole-episode
    recording if any, and what the team should hear about (misnamed files, overlaps)."""

    by_segment: dict[str, Path | None]
    episode: Path | None = None
    warnings: tuple[str, ...] = ()

    def __getitem__(self, slug: str) -> Path | None:
        return self.by_segment[slug]

    def items(self):
        return self.by_segment.items()


def find_takes(script: Script, folder: Path) -> Takes:
    """The takes in `folder/takes` for `script`'s segments; PodforgeError for two of one."""
    slugs = [s.slug for s in script.segments]
    takes_dir = folder / "takes"
    found: dict[str, Path] = {}
    episode: Path | None = None
    warnings: list[str] = []
    try:
        files = sorted(p for p in takes_dir.iterdir() if p.is_file() and
                       not p.name.startswith("."))
    except FileNotFoundError:
        files = []
    except OSError as err:
        raise PodforgeError(f"{takes_dir}: cannot list the takes ({err.strerror})") from None
    for path in files:
        stem, suffix = path.stem, path.suffix.lower()
        if suffix not in TAKE_TYPES:
            warnings.append(f"{path}: not a take podforge reads (use "
                            f"{', '.join(TAKE_TYPES)}); left out")
            continue
        if stem == EPISODE:
            if episode is not None:
                raise PodforgeError(f"{episode} and {path}: two recordings of the whole episode; "
                                    "keep one")
            episode = path
            continue
        if stem not in slugs:
            guess = _suggest(stem, slugs)
            hint = f"; name it {guess}{suffix}" if guess else \
                f"; segments are named {', '.join(slugs)} (or {EPISODE} for the whole episode)"
            warnings.append(f"{path}: matches no segment, so it is not used{hint}")
            continue
        if stem in found:
            raise PodforgeError(f"{found[stem]} and {path}: two takes for the {stem} segment; "
                                "keep the one to use (move the other out of takes/)")
        found[stem] = path
    if episode is not None and found:
        warnings.append(f"{episode}: the segment takes ({', '.join(sorted(found))}) win over "
                        "the whole-episode recording for their segments")
    return Takes({slug: found.get(slug) for slug in slugs}, episode, tuple(warnings))


def takes_for(script: Script, folder: Path, takes_only: bool, root: Path | None = None,
              allow_outside: bool = False) -> Takes:
    """The takes the build uses; with the show's `root`, each is checked to lie inside it (a
    take linked from outside the show is refused unless show.yaml allows it)."""
    takes = find_takes(script, folder)
    if root is not None:
        for take in (*takes.by_segment.values(), takes.episode):
            if take is not None:
                inside(root, take, "this take", allow_outside)
    missing = [slug for slug, take in takes.items() if take is None]
    if takes_only and missing and takes.episode is None:
        expected = folder / "takes" / f"{missing[0]}.wav"
        raise PodforgeError(f"{expected}: no take for the {missing[0]} segment (--takes-only); "
                            f"record it as {', '.join(t[1:].upper() for t in TAKE_TYPES)}, "
                            "or build without --takes-only")
    return takes


def _suggest(stem: str, slugs: list[str]) -> str | None:
    """The segment a misnamed take was meant for: `Act 2`, `act_2`, `Act Two`, `act-1-take2`."""
    text = re.sub(r"[\s_.]+", "-", stem.strip().lower())
    text = re.sub(r"-?(take|v|version|retake)-?\d+$", "", text)
    text = re.sub(r"(?<=act)-?([a-z]+|\d+)$",
                  lambda m: f"-{_NUMBERS.get(m[1], m[1])}", text)
    text = text.replace("coldopen", "cold-open")
    return text if text in slugs else None
