"""Built episodes, as publish finds them: build/<slug>/report.json and the files beside it.

Publish reads only build output. It never parses a script: the feed's title, notes, credits,
sources, chapters and transcript are the report's, the ones the audio was built from. It does
hash each report's script (and re-read sources.txt), only to tell that the text has moved on
since the build; then publishing would put new words over old audio, so it refuses instead.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.publish.output import content_name
from pipeline.errors import PodforgeError, PublishError
from pipeline.model import Chapter, Credit, Metadata, TimedLine
from pipeline.project import read_sources
from pipeline.report import BuildReport
from pipeline.script.parse import SCRIPT_NAMES

PUBLISH_TIME = dt.time(10, 0, tzinfo=dt.timezone.utc)  # a script has a date; its hour is ours


@dataclass(frozen=True)
class Episode:
    """A built episode: its report and the folder holding the report's files."""

    report: BuildReport
    folder: Path  # build/<slug>/
    digest: str = ""  # sha256 of report.json as read: what the episode's page is drawn from

    @property
    def slug(self) -> str:
        return self.report.slug

    @property
    def metadata(self) -> Metadata:
        return self.report.metadata

    @property
    def credits(self) -> tuple[Credit, ...]:
        return self.report.credits

    @property
    def sources(self) -> tuple[str, ...]:
        return self.report.sources

    @property
    def chapters(self) -> tuple[Chapter, ...]:
        return self.report.chapters

    @property
    def lines(self) -> tuple[TimedLine, ...]:
        return self.report.lines

    @property
    def duration(self) -> float:
        return self.report.duration

    @property
    def title(self) -> str:
        return self.metadata.title or self.slug

    @property
    def date(self) -> dt.date:
        assert self.metadata.date is not None, "only dated episodes are published"
        return self.metadata.date

    @property
    def published(self) -> dt.datetime:
        """The pubDate: an imported episode keeps its own instant; a script has a date, and
        its hour is ours."""
        instant = self.metadata.published
        if instant is not None:
            return instant if instant.tzinfo else instant.replace(tzinfo=dt.timezone.utc)
        return dt.datetime.combine(self.date, PUBLISH_TIME)

    @property
    def audio(self) -> Path:
        return self.folder / self.report.audio

    @property
    def audio_name(self) -> str:
        """The name the audio is published under: content-derived when the build hashed it."""
        if not self.report.audio_sha256:
            return self.report.audio
        return content_name(self.report.audio, self.report.audio_sha256)

    @property
    def published_media(self) -> tuple[tuple[Path, str], ...]:
        """(built file, published name) for each file published beside the episode's page."""
        audio = ((self.audio, self.audio_name),) if self.report.audio else ()
        return (*audio, *((self.folder / n, n) for n in self.report.files[len(audio):]))

    def audio_url(self, urls) -> str:
        """Where listeners fetch the audio: beside the page, or (audio published before
        podforge and not downloaded) the enclosure it always had."""
        return self.report.enclosure or urls.file(self.slug, self.audio_name)

    def companion(self, name: str) -> Path | None:
        """A companion file the build wrote (chapters, transcripts), or None if it wrote none."""
        return self.folder / name if name else None

    @property
    def audio_bytes(self) -> int:
        return self.report.audio_bytes

    @property
    def chapters_file(self) -> Path | None:
        return self.companion(self.report.chapters_file)

    @property
    def transcript_vtt(self) -> Path | None:
        return self.companion(self.report.transcript_vtt)

    @property
    def transcript_srt(self) -> Path | None:
        return self.companion(self.report.transcript_srt)

    @property
    def media(self) -> tuple[Path, ...]:
        """The built files published beside the episode's page."""
        return tuple(self.folder / name for name in self.report.files)

    @property
    def rebuild(self) -> str:
        """The command that brings this episode's build up to date."""
        return f"podforge build {Path(self.report.script).parent.as_posix()}"


def state(metadata: Metadata, now: dt.datetime, include_scheduled: bool) -> str:
    """draft | undated | scheduled | published: what publish does with an episode now."""
    if metadata.draft:
        return "draft"
    if metadata.date is None:
        return "undated"
    when = dt.datetime.combine(metadata.date, PUBLISH_TIME)
    return "scheduled" if when > now and not include_scheduled else "published"


@dataclass(frozen=True)
class Catalogue:
    """What is built, sorted by what publish will do with it."""

    published: tuple[Episode, ...]  # due and current: into the feed
    scheduled: tuple[Episode, ...]
    drafts: tuple[Episode, ...]
    gone: tuple[Episode, ...]  # built, but their script is no longer there
    unbuilt: tuple[str, ...]  # scripts (relative to the show) with no build
    notes: tuple[str, ...] = ()


def script_files(root: Path) -> list[Path]:
    """episodes/<folder>/script.txt (or .md) for every episode folder, in name order."""
    found: list[Path] = []
    for folder in sorted(p for p in (root / "episodes").glob("*") if p.is_dir()):
        found += [f for f in (folder / name for name in SCRIPT_NAMES) if f.is_file()][:1]
    return found


def find_episodes(root: Path, now: dt.datetime, include_scheduled: bool = False,
                  draft_voice: bool = False) -> Catalogue:
    """Every build under root/build, checked; PublishError for one that cannot be published.

    A due episode whose script or sources changed after its build, or whose files are
    missing, stops the publish (it names the build command); a scheduled or draft one only
    earns a note, since it is not going out now.
    """
    reports: list[Episode] = []
    notes: list[str] = []
    for path in sorted((root / "build").glob("*/report.json")):
        try:
            data = path.read_bytes()
            report = BuildReport.from_json(data.decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            notes.append(f"{path.relative_to(root)}: not a build report this podforge reads "
                         f"({err}); left out: build that episode again")
            continue
        reports.append(Episode(report, path.parent, hashlib.sha256(data).hexdigest()))
    published, scheduled, drafts, gone = [], [], [], []
    for e in reports:
        script = root / e.report.script
        if not script.is_file():
            gone.append(e)
            continue
        kind = state(e.metadata, now, include_scheduled)
        changed = _changed(root, e)
        if kind in ("draft", "scheduled"):
            if changed:
                notes.append(f"{e.report.script} {changed} since its build; {e.rebuild} "
                             f"before it is published")
            (drafts if kind == "draft" else scheduled).append(e)
            continue
        if changed:
            raise PublishError(f"{e.report.script} {changed} since episode {e.slug!r} was "
                               f"built; publishing would put the new text over the old audio: "
                               f"run {e.rebuild}, then publish again")
        if kind == "undated":
            raise PublishError(f"{e.report.script}: no publication date; add one (first line, "
                               f"or `date:` in the front matter), {e.rebuild}, then publish")
        _check_files(e)
        if e.report.drafted and not (draft_voice or e.metadata.draft_voice):
            raise PublishError(f"{e.report.script}: {', '.join(e.report.drafted)} "
                               f"{'is' if len(e.report.drafted) == 1 else 'are'} voiced by the "
                               "draft voice, not a recording: record the takes and "
                               f"{e.rebuild}, or allow it (`draft_voice: true` in the episode's "
                               "front matter, or in show.yaml)")
        published.append(e)
    built = {e.report.script for e in reports}
    unbuilt = tuple(p.relative_to(root).as_posix() for p in script_files(root)
                    if p.relative_to(root).as_posix() not in built)
    _check_unique(published)
    return Catalogue(tuple(published), tuple(scheduled), tuple(drafts), tuple(gone), unbuilt,
                     tuple(notes))


def _changed(root: Path, e: Episode) -> str | None:
    """What changed since the build ("changed", "'s sources.txt changed"), or None."""
    script = root / e.report.script
    try:
        digest = hashlib.sha256(script.read_bytes()).hexdigest()
    except OSError as err:
        raise PublishError(f"{script}: cannot read it to check its build: {err.strerror}") \
            from None
    if digest != e.report.script_sha256:
        return "changed"
    try:
        sources = read_sources(e.metadata.sources, script.parent / "sources.txt")
    except PodforgeError as err:
        raise PublishError(str(err)) from None
    if sources != e.report.sources:
        return f"is current, but {script.parent.relative_to(root).as_posix()}/sources.txt changed"
    return None


def _check_files(e: Episode) -> None:
    """The report's files are there and the audio is the size the build measured."""
    for path in e.media:
        if not path.is_file():
            raise PublishError(f"episode {e.slug!r}: the build lists {path} but it is missing: "
                               f"run {e.rebuild}")
    if not e.report.audio:
        return  # served where it always was (an imported episode's enclosure)
    size = e.audio.stat().st_size
    if size == 0 or size != e.report.audio_bytes:
        raise PublishError(f"episode {e.slug!r}: its audio {e.audio} is {size} bytes, the build "
                           f"wrote {e.report.audio_bytes}: run {e.rebuild}")


def _check_unique(episodes: Sequence[Episode]) -> None:
    seen: dict[str, str] = {}
    for e in episodes:
        if e.slug in seen:
            raise PublishError(f"{seen[e.slug]} and {e.report.script} are both built as "
                               f"{e.slug!r}; give one another slug: in its front matter")
        seen[e.slug] = e.report.script
