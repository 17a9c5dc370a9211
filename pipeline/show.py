"""The show file: who makes the show, the episode format it follows, and its sound design.

show.yaml is read into frozen dataclasses by one small schema-driven loader, so an unknown key,
a wrong type or a missing field is reported with the file and the key's full path, the same way
everywhere, without a hand-written check per field.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from pipeline import yamlio
from pipeline.errors import PodforgeError, ShowError
from pipeline.model import SEGMENT_KINDS

DEFAULT_INTRO = ("From {network}, I'm {host} and this is {show}.", "...", "Today is {date}: {title}.")
PLACEHOLDERS = ("network", "host", "show", "date", "title")  # what a show line can name
SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)  # MP3's
# CBR bitrates by MPEG version: MPEG-1 for 32–48 kHz, MPEG-2 and 2.5 below.
MPEG1_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
MPEG2_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
LOUDNESS_PRESETS = {"apple": (-16.0, -1.0), "spotify": (-14.0, -1.0), "ebu-r128": (-23.0, -1.0)}


def ranged(default, lo: float, hi: float, unit: str = "", above: bool = False):
    """A number field show.yaml must keep within lo … hi (`above`: strictly more than lo)."""
    return field(default=default, metadata={"range": (lo, hi, unit, above)})


def one_of(default, choices: tuple, unit: str = ""):
    return field(default=default, metadata={"choices": (choices, unit)})


def checked(default, check):
    """A field with its own check: check(value) is None, or what is wrong with it."""
    return field(default=default, metadata={"check": check})


def _placeholders(template) -> str | None:
    lines = template if isinstance(template, tuple) else (template,)
    for line in lines:
        for name in re.findall(r"\{(\w*)\}", line or ""):
            if name not in PLACEHOLDERS:
                return (f"unknown placeholder {{{name}}}; use "
                        f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}")
    return None


def _voice_name(name: str) -> str | None:
    from pipeline.audio import voice  # loads espeak-ng: only when a show is read

    try:
        if voice.voice_id(name) is not None:
            return None
    except PodforgeError:
        return None  # no espeak-ng here: the build says so when it needs the voice
    return f"espeak-ng has no voice {name!r}; try en-us, en-gb or another of `espeak-ng --voices`"


@dataclass(frozen=True)
class Owner:
    name: str
    email: str


@dataclass(frozen=True)
class Funding:
    """Where listeners can support the show (podcast:funding)."""

    url: str
    text: str


@dataclass(frozen=True)
class SegmentRule:
    kind: str
    required: bool = True


@dataclass(frozen=True)
class Bounds:
    min: float = ranged(dataclasses.MISSING, 0, 10_000)
    max: float = ranged(dataclasses.MISSING, 0, 10_000)

    def problems(self):
        if self.min > self.max:
            yield "", f"min {self.min:g} is greater than max {self.max:g}"


@dataclass(frozen=True)
class EpisodeFormat:
    """The shape every episode takes; the validator checks scripts against it."""

    segments: tuple[SegmentRule, ...] = tuple(SegmentRule(k) for k in SEGMENT_KINDS)
    acts: Bounds = Bounds(1, 8)
    intro: tuple[str, ...] = checked(DEFAULT_INTRO, _placeholders)  # "..." stands for any lines
    teaser: str = checked("Next on {show}", _placeholders)
    credits: str = checked("From {network}, this is {show}", _placeholders)
    words_per_minute: float = ranged(150.0, 0, 1000, "words a minute", above=True)
    minutes: Bounds = Bounds(3, 90)


@dataclass(frozen=True)
class Music:
    """A piece of music placed under a segment."""

    asset: str
    gain_db: float = ranged(0.0, -60, 20, "dB")
    fade_in: float = ranged(0.0, 0, 60, "s")
    fade_out: float = ranged(2.0, 0, 60, "s")
    lead: float = ranged(0.0, 0, 300, "s")  # seconds the music plays alone before the voice
    tail: float = ranged(0.0, 0, 300, "s")  # seconds it plays on after the voice ends
    duck: bool = True


@dataclass(frozen=True)
class Ducking:
    depth_db: float = ranged(15.0, 0, 60, "dB", above=True)
    attack_ms: float = ranged(60.0, 0, 5000, "ms", above=True)
    release_ms: float = ranged(400.0, 0, 10_000, "ms", above=True)


@dataclass(frozen=True)
class Loudness:
    """The target; show.yaml may name a preset instead: `loudness: apple`."""

    PRESETS = LOUDNESS_PRESETS
    integrated_lufs: float = ranged(-16.0, -40, -5, "LUFS")
    true_peak_dbtp: float = ranged(-1.0, -9, 0, "dBTP")


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
    sample_rate: int = one_of(44100, SAMPLE_RATES, "Hz")
    channels: int = one_of(2, (1, 2))

    def problems(self):
        rates = MPEG1_KBPS if self.sample_rate >= 32000 else MPEG2_KBPS
        if self.bitrate_kbps not in rates:
            yield "bitrate_kbps", (f"{self.bitrate_kbps} kb/s is not an MP3 bitrate at "
                                   f"{self.sample_rate} Hz; use one of "
                                   f"{', '.join(map(str, rates))}")


@dataclass(frozen=True)
class Voice:
    name: str = checked("en-us", _voice_name)
    words_per_minute: int = ranged(165, 80, 450, "words a minute")  # espeak-ng's range


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
    gap_seconds: float = ranged(0.8, 0, 30, "s")
    sfx_over_voice: bool = False  # may an effect longer than the host's pause play under words?
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
    txt: str | None = None  # podcast:txt, e.g. a platform's ownership-verification text
    license: str | None = None  # podcast:license: an SPDX identifier, e.g. CC-BY-4.0
    medium: str = "podcast"  # podcast:medium
    funding: Funding | None = None  # podcast:funding
    location: str | None = None  # podcast:location: where the show is about, by name
    allow_outside: bool = False  # may assets, takes and --out lie outside the show's folder?
    draft_voice: bool = False  # may episodes be published with segments the draft voice spoke?
    format: EpisodeFormat = EpisodeFormat()
    sound: SoundDesign = SoundDesign()
    cache: Cache = field(default=Cache(), repr=False)  # no part of any output
    root: Path | None = field(default=None, compare=False)  # the folder show.yaml is in

    def resolve(self, relative: str, what: str = "a path in show.yaml") -> Path:
        """A path from show.yaml, relative to the show's folder, and kept inside it: a path
        written out in full (absolute) is the show's explicit choice, and so is allow_outside."""
        from pipeline.files import inside

        root = self.root or Path(".")
        return inside(root, root / relative, what,
                      self.allow_outside or Path(relative).is_absolute())


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
        data = yamlio.load(text)
    except yaml.YAMLError as err:
        raise ShowError(yamlio.describe(err, str(path)) + ": fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise ShowError(f"{path}: expected a mapping of show settings (title, host, …), "
                        f"got {_kind(data)}")
    show = dataclasses.replace(_build(Show, data, path, ""), root=path.parent)
    _check_format(show.format, path)
    for key, value in (("sound.manifest", show.sound.manifest), ("artwork", show.artwork)):
        if value:  # paths too are checked when the file loads
            try:
                show.resolve(value, key)
            except ShowError:
                raise
            except PodforgeError as err:
                raise ShowError(f"{path}: {err}") from None
    return show


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
            _check(f, values[name], path, _join(key, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ShowError(f"{path}: {_join(key, name)}: missing; add it to show.yaml")
    built = cls(**values)
    for sub, problem in getattr(built, "problems", lambda: ())():
        raise ShowError(f"{path}: {_join(key, sub) if sub else where}: {problem}")
    return built


def _check(f: dataclasses.Field, value: Any, path: Path, key: str) -> None:
    """The field's declared limits: a range, a set of choices, or its own check."""
    meta = f.metadata
    if "range" in meta and value is not None:
        lo, hi, unit, above = meta["range"]
        if not (lo < value if above else lo <= value) or value > hi:
            unit = f" {unit}" if unit else ""
            within = f"more than {lo:g} and at most {hi:g}{unit}" if above else \
                f"within {lo:g} … {hi:g}{unit}"
            raise ShowError(f"{path}: {key}: {value:g} is out of range: it must be {within}")
    if "choices" in meta and value not in meta["choices"][0]:
        choices, unit = meta["choices"]
        raise ShowError(f"{path}: {key}: {value!r} is not one of "
                        f"{', '.join(map(str, choices))}{' ' + unit if unit else ''}")
    if "check" in meta and (problem := meta["check"](value)):
        raise ShowError(f"{path}: {key}: {problem}")


def _convert(hint: Any, value: Any, path: Path, key: str):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _convert(hint, value, path, key)
    if dataclasses.is_dataclass(hint) and isinstance(value, str) and hasattr(hint, "PRESETS"):
        if value not in hint.PRESETS:
            raise ShowError(f"{path}: {key}: no preset {value!r}; use one of "
                            f"{', '.join(hint.PRESETS)}, or give the figures")
        return hint(*hint.PRESETS[value])
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
        if _CONTROL.search(str(value)):
            raise ShowError(f"{path}: {key}: control character "
                            f"U+{ord(_CONTROL.search(str(value))[0]):04X} in the text; remove it")
        return str(value)
    expected = {float: "a number", int: "a whole number", bool: "true or false",
                str: "text"}.get(hint, str(hint))
    raise ShowError(f"{path}: {key}: expected {expected}, got {_kind(value)} ({value!r})")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name
