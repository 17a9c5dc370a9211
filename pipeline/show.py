"""The show file: who makes the show, the episode format it follows, and its sound design.

show.yaml is read into frozen dataclasses by one small schema-driven loader, so an unknown key,
a wrong type or a missing field is reported with the file and the key's full path, the same way
everywhere, without a hand-written check per field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from pipeline.errors import ShowError
from pipeline.model import SEGMENT_KINDS

DEFAULT_INTRO = ("From {network}, I'm {host} and this is {show}.", "...", "Today is {date}: {title}.")


@dataclass(frozen=True)
class Owner:
    name: str
    email: str


@dataclass(frozen=True)
class SegmentRule:
    kind: str
    required: bool = True


@dataclass(frozen=True)
class Bounds:
    min: float
    max: float


@dataclass(frozen=True)
class EpisodeFormat:
    """The shape every episode takes; the validator checks scripts against it."""

    segments: tuple[SegmentRule, ...] = tuple(SegmentRule(k) for k in SEGMENT_KINDS)
    acts: Bounds = Bounds(1, 8)
    intro: tuple[str, ...] = DEFAULT_INTRO  # "..." stands for any lines
    teaser: str = "Next on {show}"
    credits: str = "From {network}, this is {show}"
    words_per_minute: float = 150.0
    minutes: Bounds = Bounds(3, 90)


@dataclass(frozen=True)
class Music:
    """A piece of music placed under a segment."""

    asset: str
    gain_db: float = 0.0
    fade_in: float = 0.0
    fade_out: float = 2.0
    lead: float = 0.0  # seconds the music plays alone before the voice comes in
    tail: float = 0.0  # seconds it plays on after the voice ends
    duck: bool = True


@dataclass(frozen=True)
class Ducking:
    depth_db: float = 15.0
    attack_ms: float = 60.0
    release_ms: float = 400.0


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float = -16.0
    true_peak_dbtp: float = -1.0


@dataclass(frozen=True)
class Leveler:
    """The voice leveler (pipeline.audio.leveler): every narration to one speech loudness."""

    target_lufs: float = -20.0
    max_gain_db: float = 20.0  # a take needing more is raised this far only, with a warning
    ratio: float = 3.0
    range_db: float = 9.0


@dataclass(frozen=True)
class Cache:
    """`.podforge-cache/`: least recently used entries go beyond max_mb."""

    max_mb: float = 2048.0


@dataclass(frozen=True)
class Output:
    bitrate_kbps: int = 128
    sample_rate: int = 44100
    channels: int = 2


@dataclass(frozen=True)
class Voice:
    name: str = "en-us"
    words_per_minute: int = 165


@dataclass(frozen=True)
class SoundDesign:
    """Which asset plays where; the build turns this into a Timeline."""

    manifest: str = "assets/manifest.yaml"
    theme: Music | None = None
    cold_open_bed: Music | None = None
    act_beds: tuple[Music, ...] = ()
    stinger: Music | None = None
    teaser_bed: Music | None = None
    outro: Music | None = None
    gap_seconds: float = 0.8
    ducking: Ducking = Ducking()
    loudness: Loudness = Loudness()
    leveler: Leveler = Leveler()
    output: Output = Output()
    voice: Voice = Voice()


@dataclass(frozen=True)
class Show:
    title: str
    host: str
    network: str
    description: str
    language: str = "en"
    author: str | None = None
    owner: Owner | None = None
    categories: tuple[str, ...] = ()
    explicit: bool = False
    artwork: str | None = None
    base_url: str | None = None
    guid: str | None = None
    locked: bool = True
    copyright: str | None = None
    format: EpisodeFormat = EpisodeFormat()
    sound: SoundDesign = SoundDesign()
    cache: Cache = field(default=Cache(), repr=False)  # no part of any output
    root: Path | None = field(default=None, compare=False)  # the folder show.yaml is in

    def resolve(self, relative: str) -> Path:
        """A path from show.yaml, relative to the show's folder."""
        return (self.root or Path(".")) / relative


def load_show(path: Path) -> Show:
    """Read show.yaml; every problem is a ShowError naming the file and the key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ShowError(f"{path}: no such file: create a show.yaml or pass --show FILE") from None
    except UnicodeDecodeError as err:
        raise ShowError(f"{path}: not UTF-8 text (byte {err.start}): save it as UTF-8") from None
    except OSError as err:
        raise ShowError(f"{path}: cannot read: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err)
        raise ShowError(f"{where}: YAML error: {problem}: fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise ShowError(f"{path}: expected a mapping of show settings (title, host, …), "
                        f"got {_kind(data)}")
    show = _build(Show, data, path, "")
    _check_format(show.format, path)
    return dataclasses.replace(show, root=path.parent)


def find_show(start: Path) -> Path | None:
    """The nearest show.yaml at or above `start`, as git finds its repository."""
    start = start.resolve()
    for folder in (start, *start.parents) if start.is_dir() else start.parents:
        candidate = folder / "show.yaml"
        if candidate.is_file():
            return candidate
    return None


def _check_format(fmt: EpisodeFormat, path: Path) -> None:
    kinds = [rule.kind for rule in fmt.segments]
    for i, kind in enumerate(kinds):
        if kind not in SEGMENT_KINDS:
            raise ShowError(f"{path}: format.segments[{i}].kind: unknown segment {kind!r}; "
                            f"use one of {', '.join(SEGMENT_KINDS)}")
    if len(set(kinds)) != len(kinds):
        raise ShowError(f"{path}: format.segments: a segment kind is listed twice")
    if fmt.acts.min > fmt.acts.max or fmt.minutes.min > fmt.minutes.max:
        raise ShowError(f"{path}: format: a min is greater than its max")
    if fmt.words_per_minute <= 0:
        raise ShowError(f"{path}: format.words_per_minute: must be positive")


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "true/false",
            int: "a number", float: "a number", type(None): "nothing"}.get(type(value),
                                                                       type(value).__name__)


def _build(cls: type, data: Any, path: Path, key: str):
    """Instantiate dataclass `cls` from YAML data, strictly."""
    where = key or "the top level"
    if not isinstance(data, dict):
        raise ShowError(f"{path}: {where}: expected a mapping, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "root"}
    unknown = sorted(set(map(str, data)) - set(fields))
    if unknown:
        raise ShowError(f"{path}: {_join(key, unknown[0])}: unknown key; "
                        f"expected one of: {', '.join(fields)}")
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], path, _join(key, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ShowError(f"{path}: {_join(key, name)}: missing; add it to show.yaml")
    return cls(**values)


def _convert(hint: Any, value: Any, path: Path, key: str):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _convert(hint, value, path, key)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path, key)
    if origin is tuple:
        if not isinstance(value, list):
            raise ShowError(f"{path}: {key}: expected a list, got {_kind(value)}")
        return tuple(_convert(args[0], v, path, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    expected = {float: "a number", int: "a whole number", bool: "true or false",
                str: "text"}.get(hint, str(hint))
    raise ShowError(f"{path}: {key}: expected {expected}, got {_kind(value)} ({value!r})")


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name
