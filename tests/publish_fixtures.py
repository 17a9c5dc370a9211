"""A small built catalogue for the publish, site and serve tests: a show, four scripts and
what `podforge build` leaves for each (a real 6 s MP3, chapters.json, VTT, SRT, report.json).

Scripts are constructed as values, so these tests do not depend on the parser's reading of
prose; one test in test_feed.py goes through the parser as well.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

from pipeline.model import Chapter, Credit, Identity, Metadata, Script, TimedLine
from pipeline.report import BuildReport
from pipeline.show import Owner, Show

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
BASE_URL = "https://podcast.example.org/daybook/"
DURATION = 6.0
CHAPTERS = (("Cold Open", 0.0), ("Act One: A Tank Built in a Hurry", 2.5), ("Credits", 4.5))
TRICKY_TITLE = 'The <b>Bold</b> ]]> & "Quoted" Tale'
TRICKY_NAME = "Renée <i>O'Brien</i> ]]>"


def make_show(root: Path, **changes) -> Show:
    values = dict(
        title="The Daybook", host="Nora Vance", network="Lantern Hill Audio",
        description="One date, one true story, every weekday.", language="en",
        author="Lantern Hill Audio", owner=Owner("Nora Vance", "nora@example.org"),
        categories=("History", "Society & Culture > Documentary"), explicit=False,
        base_url=BASE_URL, guid=None, locked=True, copyright="© 2026 Lantern Hill Audio",
        root=root)
    values.update(changes)
    return Show(**values)


def script(title: str, day: dt.date, **meta) -> Script:
    credits = meta.pop("credits", (
        Credit("Nora Vance", ("host", "writer")),
        Credit("Ana Ruiz", ("audio editor", "sound designer"), "Lantern Hill Audio"),
        Credit("Zoë Ørsted-Łukasz", ("composer",)),
    ))
    return Script(Metadata(title=title, date=day, **meta), (), credits, Identity())


EPISODES = {
    "great-molasses-flood": script(
        "The Great Molasses Flood", dt.date(2026, 1, 15), season=1, episode=1,
        summary="A tank of molasses bursts on Boston's waterfront.",
        sources=("Stephen Puleo, Dark Tide (2003) — https://example.org/dark-tide",)),
    "tricky-title": script(
        TRICKY_TITLE, dt.date(2026, 2, 2), season=1, episode=2,
        summary="Escaping <script>alert(1)</script> & ]]> survives.",
        credits=(Credit("Nora Vance", ("host",)), Credit(TRICKY_NAME, ("researcher",)))),
    "future-episode": script("Still to Come", dt.date(2026, 6, 1), season=1, episode=3),
    "a-draft": script("Not Ready", dt.date(2026, 1, 20), draft=True),
}


def mp3(path: Path, seconds: float = DURATION) -> Path:
    """A real MP3 (a quiet sine) from the ffmpeg in the imageio-ffmpeg wheel."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
                    "-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}",
                    "-af", "volume=0.2", "-ac", "1", "-b:a", "64k", "-y", str(path)],
                   check=True)
    return path


def _clock(seconds: float, comma: bool = False) -> str:
    ms = round(seconds * 1000)
    text = f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
    return text.replace(".", ",") if comma else text


CUES = ((0.0, 2.5, "It is a little after half past twelve in Boston."),
        (2.5, 4.5, "To understand the tank, follow the money & the war."),
        (4.5, 6.0, "From Lantern Hill Audio, this is The Daybook."))


def write_build(root: Path, slug: str, audio: bytes, title: str = "") -> Path:
    """build/<slug>/ as `podforge build` leaves it."""
    build = root / "build" / slug
    build.mkdir(parents=True, exist_ok=True)
    (build / "episode.mp3").write_bytes(audio)
    (build / "chapters.json").write_text(json.dumps({"version": "1.2.0", "chapters": [
        {"startTime": start, "title": name} for name, start in CHAPTERS]}), encoding="utf-8")
    (build / "transcript.vtt").write_text("WEBVTT\n\n" + "".join(
        f"{_clock(a)} --> {_clock(b)}\n<v Nora Vance>{text.replace('&', '&amp;')}\n\n"
        for a, b, text in CUES), encoding="utf-8")
    (build / "transcript.srt").write_text("".join(
        f"{i}\n{_clock(a, True)} --> {_clock(b, True)}\n{text}\n\n"
        for i, (a, b, text) in enumerate(CUES, 1)), encoding="utf-8")
    ends = [start for _, start in CHAPTERS[1:]] + [DURATION]
    report = BuildReport(
        slug=slug, script=f"episodes/{slug}/script.txt", script_sha256="0" * 64,
        metadata=Metadata(title=title or slug), credits=(), sources=(), audio="episode.mp3",
        audio_bytes=len(audio), duration=DURATION, integrated_lufs=-16.0, true_peak_dbtp=-1.2,
        gain_db=0.0, chapters=tuple(Chapter(name, start, end)
                                    for (name, start), end in zip(CHAPTERS, ends)),
        segments=(), lines=tuple(TimedLine(a, b, text, "Nora Vance") for a, b, text in CUES),
        chapters_file="chapters.json", transcript_vtt="transcript.vtt",
        transcript_srt="transcript.srt", key="test")
    (build / "report.json").write_text(report.to_json(), encoding="utf-8")
    return build


def make_catalogue(root: Path, audio: bytes, built: tuple[str, ...] | None = None) \
        -> list[tuple[Path, Script]]:
    """episodes/<slug>/ folders and builds for EPISODES; (script path, Script) pairs."""
    pairs = []
    for slug, value in EPISODES.items():
        folder = root / "episodes" / slug
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "script.txt").write_text(f"(constructed in the test: {slug})\n",
                                           encoding="utf-8")
        if slug == "great-molasses-flood":
            (folder / "sources.txt").write_text(
                "# further reading\nDeborah Kops, The Great Molasses Flood (2012)\n",
                encoding="utf-8")
        if built is None or slug in built:
            write_build(root, slug, audio)
        pairs.append((folder / "script.txt", value))
    return pairs
