"""The domain model: plain frozen data passed between the pipeline's stages.

Nothing here reads files or touches audio; every stage takes and returns these values, so
each can be tested (and cached) on its own.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

SegmentKind = Literal["cold_open", "intro", "act", "teaser", "credits"]
SEGMENT_KINDS: tuple[str, ...] = ("cold_open", "intro", "act", "teaser", "credits")
Severity = Literal["error", "warning", "info"]

_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


def count_words(text: str) -> int:
    """Words as a narrator speaks them: numbers count, punctuation does not."""
    return len(_WORD.findall(text))


@dataclass(frozen=True)
class Paragraph:
    """Narration: one paragraph of text, as the host will read it."""

    text: str
    line: int
    end_line: int


@dataclass(frozen=True)
class Cue:
    """A production cue on its own line: `[SFX: bell]`, `[MUSIC: theme]`, `[PAUSE 1.5s]`."""

    kind: str  # "sfx" | "music" | "bed" | "pause", or what the author wrote if unknown
    name: str  # asset name (lower-case, hyphenated); "" for a pause
    seconds: float | None  # a pause's length
    line: int
    column: int
    text: str  # the cue as written
    problem: str | None = None  # why the cue cannot be used, if it cannot
    gain_db: float | None = None  # `-12dB` on the cue line; None: the show's level for it
    fade: float | None = None  # `fade 2s`: in and out
    length: float | None = None  # `8s`: how long it plays (a bed, music or effect)


@dataclass(frozen=True)
class Segment:
    """One part of the episode's format, with the lines it spans."""

    kind: SegmentKind
    start_line: int
    end_line: int
    number: int | None = None  # acts only
    title: str | None = None  # acts only
    heading_line: int | None = None  # the intro, teaser and credits have no heading
    paragraphs: tuple[Paragraph, ...] = ()
    cues: tuple[Cue, ...] = ()
    part: int = 0  # a scene of an act (pipeline.build.plan.scenes): which, from 0,
    parts: int = 1  # and how many the act has

    @property
    def slug(self) -> str:
        """The name a recorded take is filed under: cold-open, intro, act-1, teaser, credits."""
        if self.kind == "act":
            return f"act-{self.number}" if self.number is not None else "act"
        return self.kind.replace("_", "-")

    @property
    def label(self) -> str:
        """How a person names the segment in a message or a chapter list."""
        if self.kind == "act":
            number = "" if self.number is None else f" {self.number}"
            return f"Act{number}: {self.title}" if self.title else f"Act{number}"
        return {"cold_open": "Cold Open", "intro": "Intro", "teaser": "Teaser",
                "credits": "Credits"}[self.kind]

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.paragraphs)

    @cached_property
    def words(self) -> int:
        return sum(count_words(p.text) for p in self.paragraphs)

    def body(self) -> tuple[Paragraph | Cue, ...]:
        """Narration and cues interleaved in reading order: what the renderer walks."""
        return tuple(sorted((*self.paragraphs, *self.cues), key=lambda item: item.line))


@dataclass(frozen=True)
class Credit:
    """A person and every role they had on the episode (Podcasting 2.0 taxonomy names)."""

    name: str
    roles: tuple[str, ...]
    organization: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Note:
    """Something the parser saw but could not use; the validator turns it into a Diagnostic."""

    code: str
    line: int
    column: int
    message: str


@dataclass(frozen=True)
class Audio:
    """Audio published before podforge (`audio:` in front matter, written by `podforge import`):
    the original enclosure, and the local copy when it was downloaded."""

    url: str | None = None
    length: int | None = None  # bytes, as the feed declared them
    type: str | None = None  # MIME type, e.g. audio/mpeg
    file: str | None = None  # relative to the episode's folder
    duration: float | None = None  # seconds, from itunes:duration


@dataclass(frozen=True)
class Metadata:
    """The episode's header and front matter."""

    title: str | None = None
    date: dt.date | None = None  # publication date
    summary: str | None = None
    event_date: dt.date | None = None  # the historical date the episode is about
    slug: str | None = None
    season: int | None = None
    episode: int | None = None
    explicit: bool | None = None
    draft: bool = False
    draft_voice: bool = False  # this episode may go out with draft-voiced segments
    keywords: tuple[str, ...] = ()
    guid: str | None = None
    sources: tuple[str, ...] = ()
    published: dt.datetime | None = None  # the original pubDate of an imported episode
    audio: Audio | None = None  # an imported episode's published audio
    title_line: int | None = None
    date_line: int | None = None
    summary_line: int | None = None


@dataclass(frozen=True)
class Identity:
    """Who makes the show, as the script itself says it (network, host, show name)."""

    network: str | None = None
    host: str | None = None
    show: str | None = None


@dataclass(frozen=True)
class Script:
    """A parsed script: exactly what the text holds, nothing invented."""

    metadata: Metadata
    segments: tuple[Segment, ...]
    credits: tuple[Credit, ...]
    identity: Identity
    notes: tuple[Note, ...] = ()
    stray: tuple[Paragraph, ...] = ()  # text outside any segment
    line_count: int = 0
    body_start: int = 1  # first line after the front matter

    def segments_of(self, kind: str) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.kind == kind)

    @property
    def acts(self) -> tuple[Segment, ...]:
        return self.segments_of("act")

    @property
    def words(self) -> int:
        return sum(s.words for s in self.segments)


@dataclass(frozen=True)
class Diagnostic:
    """One finding, in the shape every linter and editor understands."""

    path: str
    line: int
    column: int
    code: str
    severity: Severity
    message: str

    def as_text(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.code} {self.severity}: {self.message}"

    def as_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "column": self.column, "code": self.code,
                "severity": self.severity, "message": self.message}


@dataclass(frozen=True)
class Narration:
    """What the plan must know of a segment's narration: its length and where its cues fall."""

    slug: str
    seconds: float
    cue_times: tuple[tuple[Cue, float], ...] = ()  # each cue, seconds into the narration
    voice: str = "draft"  # "take" | "draft"
    estimated: bool = False  # from the word count (for --plan), not from audio


@dataclass(frozen=True)
class Clip:
    """One sound placed in a segment: narration, music or an effect."""

    asset: str | None  # the asset's name; None: the span's own narration
    start: float  # seconds from the start of its span
    duration: float
    gain_db: float = 0.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    offset: float = 0.0  # seconds into the source
    loop: bool = False
    ducked: bool = False  # dips under the voice
    role: str = ""  # voice, theme, bed, stinger, outro, sfx, music

    @property
    def source(self) -> str:
        """How a person names what plays: the asset, or the narration."""
        return self.asset or "narration"


@dataclass(frozen=True)
class Span:
    """One segment placed on the episode's timeline, with every clip that sounds in it."""

    slug: str
    kind: str
    number: int | None
    label: str  # the chapter title
    start: float  # seconds from the start of the episode
    duration: float  # including the gap after it; a multiple of 0.1 s
    voice_start: float  # where the narration begins, from the span's start
    voice: str  # "take" | "draft"
    clips: tuple[Clip, ...]
    part: int = 0  # the scene of its segment it holds (Segment.part)


@dataclass(frozen=True)
class Timeline:
    """The whole episode as placed clips: reviewable, and cacheable, before any audio exists."""

    spans: tuple[Span, ...]
    sample_rate: int
    channels: int

    @property
    def duration(self) -> float:
        return self.spans[-1].start + self.spans[-1].duration if self.spans else 0.0


@dataclass(frozen=True)
class Chapter:
    """A titled stretch of the episode. ID3 CHAP frames, chapters.json, the feed and the site all
    read this one value, so no two of them can disagree about where a chapter starts."""

    title: str
    start: float  # seconds, to the millisecond
    end: float

    @property
    def start_ms(self) -> int:
        return round(self.start * 1000)

    @property
    def end_ms(self) -> int:
        return round(self.end * 1000)


@dataclass(frozen=True)
class TimedLine:
    """A spoken line with its time in the episode: one transcript cue, one sentence on the site."""

    start: float
    end: float
    text: str
    speaker: str | None = None
