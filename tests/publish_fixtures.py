"""A small built catalogue for the publish, site and serve tests: a show, four episodes and
what `podforge build` leaves for each (a real 6 s MP3, chapters.json, VTT, SRT, report.json).

Each build's report carries the episode's metadata, credits and sources; the script beside it
is a stand-in whose hash the report records. Publish never parses it, so a test can prove that
what the feed and site say comes from the report: the script's text says nothing of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.build.transcript import chapters_json, srt, vtt
from pipeline.files import write_bytes, write_text
from pipeline.model import Chapter, Credit, Metadata, TimedLine
from pipeline.project import read_sources
from pipeline.report import BuildReport, SegmentReport
from pipeline.show import Funding, Owner, Show

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
BASE_URL = "https://podcast.example.org/daybook/"
DURATION = 6.0
CHAPTERS = (("Cold Open", 0.0), ("Act One: A Tank Built in a Hurry", 2.5), ("Credits", 4.5))
TRICKY_TITLE = 'The <b>Bold</b> ]]> & "Quoted" Tale'
TRICKY_NAME = "Renée <i>O'Brien</i> ]]>"
CUES = ((0.0, 2.5, "It is a little after half past twelve in Boston."),
        (2.5, 4.5, "To understand the tank, follow the money & the war."),
        (4.5, 6.0, "From Lantern Hill Audio, this is The Daybook."))
SHEET_SOURCE = "Deborah Kops, The Great Molasses Flood (2012)"  # from sources.txt


def make_show(root: Path, **changes) -> Show:
    values = dict(
        title="The Daybook", host="Nora Vance", network="Lantern Hill Audio",
        description="One date, one true story, every weekday.", language="en",
        author="Lantern Hill Audio", owner=Owner("Nora Vance", "nora@example.org"),
        categories=("History", "Society & Culture > Documentary"), explicit=False,
        base_url=BASE_URL, guid=None, locked=True, copyright="© 2026 Lantern Hill Audio",
        license="CC-BY-4.0", txt="lantern-hill-verify-2f9c", location="Boston, Massachusetts",
        funding=Funding("https://example.org/support", "Support the show"), root=root)
    values.update(changes)
    return Show(**values)


@dataclass(frozen=True)
class Planned:
    """What one episode's build knows of it: the report's metadata, credits and sources."""

    metadata: Metadata
    credits: tuple[Credit, ...] = (
        Credit("Nora Vance", ("host", "writer")),
        Credit("Ana Ruiz", ("audio editor", "sound designer"), "Lantern Hill Audio"),
        Credit("Zoë Ørsted-Łukasz", ("composer",)),
    )
    sheet: str | None = None  # sources.txt beside the script


EPISODES = {
    "great-molasses-flood": Planned(
        Metadata(title="The Great Molasses Flood", date=dt.date(2026, 1, 15), season=1,
                 episode=1, summary="A tank of molasses bursts on Boston's waterfront.",
                 sources=("Stephen Puleo, Dark Tide (2003) — https://example.org/dark-tide",)),
        credits=(*Planned.credits, Credit("Boston Public Library", ("special thanks",)),
                 Credit("Ana Ruiz", ("special thanks",))),
        sheet=f"# further reading\n{SHEET_SOURCE}\n"),
    "tricky-title": Planned(
        Metadata(title=TRICKY_TITLE, date=dt.date(2026, 2, 2), season=1, episode=2,
                 summary="Escaping <script>alert(1)</script> & ]]> survives."),
        credits=(Credit("Nora Vance", ("host",)), Credit(TRICKY_NAME, ("researcher",)))),
    "future-episode": Planned(Metadata(title="Still to Come", date=dt.date(2026, 6, 1),
                                       season=1, episode=3)),
    "a-draft": Planned(Metadata(title="Not Ready", date=dt.date(2026, 1, 20), draft=True)),
}


def mp3(path: Path, seconds: float = DURATION) -> Path:
    """A real MP3 (a quiet sine) from the ffmpeg in the imageio-ffmpeg wheel."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
                    "-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}",
                    "-af", "volume=0.2", "-ac", "1", "-b:a", "64k", "-y", str(path)],
                   check=True)
    return path


def write_script(root: Path, folder: str, planned: Planned, text: str | None = None) -> Path:
    """episodes/<folder>/script.txt (a stand-in: publish only hashes it) and sources.txt."""
    path = root / "episodes" / folder / "script.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text or f"(a stand-in script; the build report says what it holds: "
                            f"{folder})\n", encoding="utf-8")
    if planned.sheet is not None:
        (path.parent / "sources.txt").write_text(planned.sheet, encoding="utf-8")
    return path


SEGMENTS = (("cold_open", None, None, 0.0, 2.5, "cold-open"),
            ("act", 1, "A Tank Built in a Hurry", 2.5, 4.5, "act-1"),
            ("credits", None, None, 4.5, DURATION, "credits"))


def write_build(root: Path, slug: str, audio: bytes, planned: Planned | None = None,
                folder: str | None = None, lines=None,
                voices: tuple[str, ...] = ("take",) * 3) -> BuildReport:
    """build/<slug>/ as `podforge build` leaves it, for episodes/<folder>/script.txt."""
    planned = planned or EPISODES.get(slug) or Planned(Metadata(title=slug))
    folder = folder or slug
    script = root / "episodes" / folder / "script.txt"
    if not script.is_file():
        write_script(root, folder, planned)
    sheet = script.parent / "sources.txt"
    build = root / "build" / slug
    build.mkdir(parents=True, exist_ok=True)
    write_bytes(build / f"{slug}.mp3", audio)  # as the build does: a new file, renamed in
    ends = [start for _, start in CHAPTERS[1:]] + [DURATION]
    chapters = tuple(Chapter(name, start, end) for (name, start), end in zip(CHAPTERS, ends))
    lines = tuple(lines if lines is not None else
                  (TimedLine(a, b, text, "Nora Vance") for a, b, text in CUES))
    write_text(build / "chapters.json", chapters_json(chapters, planned.metadata.title))
    write_text(build / "transcript.vtt", vtt(lines))
    write_text(build / "transcript.srt", srt(lines))
    report = BuildReport(
        slug=slug, script=f"episodes/{folder}/script.txt",
        script_sha256=hashlib.sha256(script.read_bytes()).hexdigest(),
        metadata=planned.metadata, credits=planned.credits,
        sources=read_sources(planned.metadata.sources, sheet),  # the build's own rule
        audio=f"{slug}.mp3", audio_bytes=len(audio), audio_sha256=hashlib.sha256(audio).hexdigest(),
        duration=DURATION, integrated_lufs=-16.0,
        true_peak_dbtp=-1.2, gain_db=0.0, chapters=chapters,
        segments=tuple(SegmentReport(kind, n, title, a, b, voice,
                                     f"episodes/{folder}/takes/{take}.wav" if voice == "take"
                                     else None)
                       for (kind, n, title, a, b, take), voice in zip(SEGMENTS, voices)),
        lines=lines, chapters_file="chapters.json", transcript_vtt="transcript.vtt",
        transcript_srt="transcript.srt", key=f"test-{slug}")
    write_text(build / "report.json", report.to_json())
    return report


def make_catalogue(root: Path, audio: bytes, built: tuple[str, ...] | None = None) -> None:
    """episodes/<slug>/ folders for EPISODES, and builds of those in `built` (default: all)."""
    for slug, planned in EPISODES.items():
        write_script(root, slug, planned)
        if built is None or slug in built:
            write_build(root, slug, audio, planned)


def retitled(slug: str, **changes) -> Planned:
    """EPISODES[slug] with its metadata changed: what a rebuild of an edited script reports."""
    planned = EPISODES[slug]
    return replace(planned, metadata=replace(planned.metadata, **changes))
