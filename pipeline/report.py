"""The build's output, as publish reads it: one versioned, typed record per built episode.

The build writes `build/<slug>/report.json`; publish reads nothing else about an episode (it never
parses a script), so the feed's text is always the text that was built into the audio. A report of
another schema version is refused, not guessed at.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path

from pipeline.model import Chapter, Credit, Metadata, TimedLine

SCHEMA = 4  # 1 was the untyped dict of podforge 0.1; 3 added the MP3's measured figures;
# 4 the takes' findings and a one-take recording's cuts


@dataclass(frozen=True)
class CutReport:
    """Audio left out of a whole-episode recording (a retake's earlier attempt), in seconds
    into that recording."""

    start: float
    end: float
    reason: str
    line: int


@dataclass(frozen=True)
class SegmentReport:
    """Where one segment sits in the episode and what voiced it."""

    kind: str
    number: int | None
    title: str | None
    start: float
    end: float
    voice: str  # "take" | "draft"
    take: str | None = None  # the take's file, relative to the show
    take_sha256: str | None = None
    # What the published MP3 measures over this segment, decoded (None: nothing to measure).
    integrated_lufs: float | None = None
    true_peak_dbtp: float | None = None
    lra_lu: float | None = None
    cuts: tuple[CutReport, ...] = ()  # what was cut from takes/episode.<ext> for this segment
    findings: tuple[str, ...] = ()  # the take against the script, in the linter's form


@dataclass(frozen=True)
class BuildReport:
    """Everything publish needs about a built episode, and what the published file measures."""

    slug: str
    script: str  # the script's path, relative to the show
    script_sha256: str  # to tell a build that no longer matches its script
    metadata: Metadata
    credits: tuple[Credit, ...]
    sources: tuple[str, ...]
    audio: str  # the MP3's file name, in the report's folder
    audio_bytes: int
    duration: float  # seconds
    integrated_lufs: float | None  # the published MP3, decoded; None: silent
    true_peak_dbtp: float | None
    gain_db: float  # the spans' mastering gain, on average
    chapters: tuple[Chapter, ...]
    segments: tuple[SegmentReport, ...]
    lines: tuple[TimedLine, ...]  # the transcript
    chapters_file: str
    transcript_vtt: str
    transcript_srt: str
    key: str  # the final cache key: equal keys, equal outputs
    inputs: str = ""
    audio_sha256: str = ""  # names the published file: a URL never serves other bytes
    enclosure: str = ""  # audio published before podforge and served where it was (import)  # the key of every input (pipeline.build.inputs): equal, up to date
    cache: tuple[str, ...] = ()  # cache entries this build uses (kept by pruning)
    lra_lu: float | None = None  # EBU loudness range of the published MP3
    trim_db: float = 0.0  # the episode's loudness correction, where the next build starts
    schema: int = SCHEMA

    @property
    def files(self) -> tuple[str, ...]:
        """Every file the build wrote beside the report (an imported episode may have none)."""
        return tuple(name for name in (self.audio, self.chapters_file, self.transcript_vtt,
                                       self.transcript_srt) if name)

    @property
    def drafted(self) -> tuple[str, ...]:
        """Segments voiced by the draft voice rather than a recording."""
        return tuple(f"act {s.number}" if s.kind == "act" and s.number is not None
                     else s.kind.replace("_", " ") for s in self.segments if s.voice == "draft")

    def to_json(self) -> str:
        return json.dumps(_plain(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BuildReport:
        """The report in `text`; ValueError saying what is wrong if it is not one of ours."""
        try:
            data = json.loads(text)
        except ValueError as err:
            raise ValueError(f"not JSON ({err})") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else None
            raise ValueError(f"schema {found!r}, this podforge reads schema {SCHEMA}")
        return _typed(cls, data, "report")


def read_report(path: Path) -> BuildReport | None:
    """The report at `path`, or None if there is none or it cannot be read (build again)."""
    try:
        return BuildReport.from_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _plain(value):
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _typed(hint, value, where: str):
    """`value` (from JSON) as `hint`, checked; ValueError naming the key if it does not fit."""
    return _converter(hint)(value, where)


@functools.cache
def _converter(hint):
    """A checking converter for `hint`, made once per type: a catalogue's reports hold
    hundreds of thousands of transcript lines, so the type is not read again for each."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = _converter(next(a for a in args if a is not type(None)))
        optional = type(None) in args
        return lambda v, where: None if v is None and optional else inner(v, where)
    if origin is tuple:
        item = _converter(args[0])

        def sequence(v, where):
            if not isinstance(v, list):
                raise ValueError(f"{_path(where)}: expected a list")
            return tuple([item(x, where) for x in v])  # the index is added on failure only
        return sequence
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        fields = [(f.name, _converter(hints[f.name]),
                   f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
                  for f in dataclasses.fields(hint)]
        known = frozenset(name for name, _, _ in fields)
        names = [name for name, _, _ in fields]
        kinds = [_SCALARS.get(hints[name]) for name in names]
        plain = set(itertools.product(*kinds)) if all(kinds) and not any(
            hasattr(hint, a) for a in ("__post_init__", "__slots__")) else ()

        def record(v, where):
            if type(v) is dict and v.keys() == known and \
                    tuple(map(type, map(v.__getitem__, names))) in plain:
                # A record of scalars, each already of its type: nothing to convert or check,
                # so its fields are set as a frozen dataclass's __init__ would set them, at a
                # fifth of the cost (a catalogue's transcripts are 400,000 such lines).
                made = object.__new__(hint)
                made.__dict__.update(v)
                return made
            if not isinstance(v, dict):
                raise ValueError(f"{_path(where)}: expected an object")
            if not known.issuperset(v):
                raise ValueError(f"{_path(where)}: unknown key {sorted(set(v) - known)[0]!r}")
            kwargs = {}
            for name, convert, required in fields:
                if name in v:
                    kwargs[name] = convert(v[name], (where, name))
                elif required:
                    raise ValueError(f"{_path(where)}: missing {name!r}")
            return hint(**kwargs)
        return record
    if hint in (dt.datetime, dt.date):
        what = "an ISO date and time" if hint is dt.datetime else "a YYYY-MM-DD date"

        def day(v, where):
            try:
                return hint.fromisoformat(v)
            except (TypeError, ValueError):
                raise ValueError(f"{_path(where)}: {v!r} is not {what}") from None
        return day
    if hint is float:
        def number(v, where):
            if type(v) is float:
                return v
            if type(v) is int:
                return float(v)
            raise ValueError(f"{_path(where)}: expected float, got {v!r}")
        return number
    if hint in (str, int, bool):
        def scalar(v, where):
            if type(v) is not hint:
                raise ValueError(f"{_path(where)}: expected {hint.__name__}, got {v!r}")
            return v
        return scalar
    return lambda v, where: v


_SCALARS = {float: {float}, str: {str}, int: {int}, bool: {bool}, str | None: {str, type(None)},
            float | None: {float, type(None)}, int | None: {int, type(None)}}  # exact types


def _path(where) -> str:
    """A key's path for a message: converters pass (parent, key) pairs down and only a failure
    spells them out (formatting every key of 400,000 transcript lines cost seconds)."""
    if isinstance(where, tuple):
        return f"{_path(where[0])}.{where[1]}"
    return where
