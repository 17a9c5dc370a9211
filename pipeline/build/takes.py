"""Which recorded take voices which segment: `episodes/<slug>/takes/<segment>.<ext>`.

Discovery never guesses silently: a file that matches no segment is named in a warning with the
name it would need, and two takes for one segment stop the build naming both. A recording of the
whole episode is `takes/episode.<ext>`; a segment's own take wins over it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline import interrupts
from pipeline.build.cache import RENDER_VERSION
from pipeline.errors import PodforgeError
from pipeline.files import inside
from pipeline.model import Script
from pipeline.timefmt import tenths

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
    cuts: dict[str, tuple] = dataclasses.field(default_factory=dict)  # slug -> onetake.Cut
    # slug -> where a one-take segment lies in the whole-episode recording ("0:12.3–1:45.6")
    stretch: dict[str, str] = dataclasses.field(default_factory=dict)

    def name(self, slug: str, path=str) -> str | None:
        """The take as the team knows it (not the cache's copy of a one-take segment), its
        files written by `path` (a relative path for the report, say)."""
        if slug in self.stretch:
            return f"{path(self.episode)} ({self.stretch[slug]})"
        take = self.by_segment.get(slug)
        return path(take) if take is not None else None

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


def split_episode(script: Script, takes: Takes, cache: Path, rate: int, language: str = "en",
                  say=lambda line: None) -> Takes:
    """`takes/episode.<ext>` split into the segments that have no take of their own, each
    written once to the cache as a WAV (named by its content, so narration caches by it as by
    any take); the cuts it made are kept per segment. A segment's own take wins."""
    if takes.episode is None or all(takes.by_segment.values()):
        return takes
    with interrupts.held():  # the audio stack
        from pipeline.audio import align, onetake, takecheck

    source = takes.episode
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    segments = [(s.slug, takecheck.segment_lines(s)) for s in script.segments]
    key = hashlib.sha256(json.dumps([RENDER_VERSION, digest, rate, language,
                                     [(slug, [(x.text, x.line) for x in lines])
                                      for slug, lines in segments]]).encode()).hexdigest()[:24]
    index = cache / f"onetake-{key}.json"
    try:
        parts = json.loads(index.read_text(encoding="utf-8"))
        if not all(Path(p["file"]).is_file() for p in parts.values()):
            raise ValueError("missing audio")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        parts = _split_now(source, segments, cache, key, rate, language, say, align, onetake)
    by_segment, cuts, stretch = dict(takes.by_segment), {}, {}
    for slug, take in takes.by_segment.items():
        if take is None and slug in parts:
            by_segment[slug] = Path(parts[slug]["file"])
            cuts[slug] = tuple(onetake.Cut(**c) for c in parts[slug]["cuts"])
            stretch[slug] = f"{tenths(parts[slug]['start'])}–{tenths(parts[slug]['end'])}"
    return dataclasses.replace(takes, by_segment=by_segment, cuts=cuts, stretch=stretch)


def _split_now(source, segments, cache, key, rate, language, say, align, onetake) -> dict:
    import numpy as np
    import soundfile

    from pipeline.audio import decode
    from pipeline.build.assemble import decode_with_ffmpeg
    from pipeline.files import save_json

    say(f"{source}: finding the segments in the whole-episode recording")
    if source.suffix.lower() in FFMPEG_TYPES:
        samples, _ = decode_with_ffmpeg(source, rate, 1)
    else:
        samples = decode.read_audio(source, rate, 1)
    samples = samples[:, 0]
    try:
        split = onetake.split(samples, rate, segments, language=language, name=str(source))
    except align.AlignmentUnavailable as exc:
        raise PodforgeError(f"{source}: cannot split the whole-episode recording ({exc}); "
                            "record a take per segment instead") from None
    except ValueError as exc:
        raise PodforgeError(f"{exc}; check it reads this script in order, or record a take "
                            "per segment") from None
    cache.mkdir(parents=True, exist_ok=True)
    parts = {}
    for part in split.parts:
        audio = onetake.render(samples, rate, part).astype(np.float32)
        name = hashlib.sha256(audio.tobytes()).hexdigest()[:24]
        path = cache / f"onetake-{name}-{part.slug}.wav"
        if not path.is_file():
            tmp = path.with_suffix(".tmp.wav")
            soundfile.write(tmp, audio, rate, "FLOAT")
            tmp.replace(path)
        parts[part.slug] = {"file": str(path), "start": part.start, "end": part.end,
                            "cuts": [c.to_dict() for c in part.cuts]}
    save_json(cache / f"onetake-{key}.json", parts)
    return parts


def take_findings(script: Script, script_path: Path, rate: int = 16_000) -> list:
    """`podforge validate --takes`: each segment's take heard against its script, as the
    linter's warnings (T001 a sentence the take does not say, T002 speech the script lacks).
    A whole-episode recording is checked by the build, once it is split."""
    with interrupts.held():  # the audio stack: only when asked for
        from pipeline.audio import decode, takecheck
        from pipeline.build.assemble import decode_with_ffmpeg

    found = []
    takes = find_takes(script, script_path.parent)
    for segment in script.segments:
        take = takes[segment.slug]
        if take is None:
            continue
        if take.suffix.lower() in FFMPEG_TYPES:
            samples = decode_with_ffmpeg(take, rate, 1)[0][:, 0]
        else:
            samples = decode.read_audio(take, rate, 1)[:, 0]
        lines = takecheck.segment_lines(segment)
        found += takecheck.diagnostics(takecheck.check(samples, rate, lines, str(take)),
                                       str(script_path))
    return found
