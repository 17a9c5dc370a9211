"""Episodes published before podforge (`podforge import`): built from their audio as it is.

Such an episode has no script yet, only front matter: its guid, date, title and `audio:` (the
original enclosure, and the local copy when `import --download` fetched it). Its build is a
report of that audio, so publish treats it like any other built episode and keeps the feed
whole: a local copy is published beside its page, an enclosure URL alone is kept as it was.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.build.cache import RENDER_VERSION, Hashes, key
from pipeline.build.inputs import Built
from pipeline.errors import PodforgeError
from pipeline.files import inside
from pipeline.model import Script
from pipeline.progress import Progress
from pipeline.project import Project, episode_slug, read_sources
from pipeline.report import BuildReport, read_report


def build_published(project: Project, path: Path, script: Script, progress: Progress,
                    hashes: Hashes, force: bool = False) -> Built:
    audio = script.metadata.audio
    assert audio is not None
    show = project.show
    slug = episode_slug(path, script)
    allow = bool(show and show.allow_outside)
    folder = inside(project.root, project.root / "build" / slug, "the build folder", allow)
    local = None
    if audio.file:
        local = inside(project.root, path.parent / audio.file, "front matter audio.file", allow)
        if not local.is_file():
            raise PodforgeError(f"{path}: front matter audio.file {audio.file!r} is not there; "
                                "put the episode's audio there, or remove the key to publish "
                                "the enclosure URL as it is")
    elif not audio.url:
        raise PodforgeError(f"{path}: front matter audio needs file (a local copy) or url (the "
                            "published enclosure)")
    script_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    sources = read_sources(script.metadata.sources, path.parent / "sources.txt")
    inputs = key(RENDER_VERSION, "published", script_hash, sources,
                 hashes(local) if local else audio.url)
    report_path = folder / "report.json"
    previous = read_report(report_path)
    if not force and previous is not None and previous.inputs == inputs and (
            not previous.audio or (folder / previous.audio).is_file()):
        progress.note(f"{slug}: up to date")
        return Built(slug, folder, previous, fresh=False)
    folder.mkdir(parents=True, exist_ok=True)
    name, size, digest, duration = "", audio.length or 0, "", audio.duration or 0.0
    if local is not None:
        name = f"{slug}{local.suffix.lower() or '.mp3'}"
        data = local.read_bytes()
        from pipeline.files import write_bytes

        write_bytes(folder / name, data)
        size, digest = len(data), hashlib.sha256(data).hexdigest()
        if not audio.duration:
            duration = _length(folder / name)
    report = BuildReport(
        slug=slug, script=path.resolve().relative_to(project.root.resolve()).as_posix(),
        script_sha256=script_hash, metadata=script.metadata, credits=script.credits,
        sources=sources, audio=name, audio_bytes=size, duration=round(duration, 3),
        integrated_lufs=None, true_peak_dbtp=None, gain_db=0.0, chapters=(),
        segments=(), lines=(), chapters_file="", transcript_vtt="", transcript_srt="",
        key=inputs, inputs=inputs, audio_sha256=digest,
        enclosure="" if local is not None else audio.url or "")
    from pipeline.files import write_text

    write_text(report_path, report.to_json())
    where = folder / name if name else audio.url
    progress.note(f"{slug}: published audio, kept as it is ({where})")
    return Built(slug, folder, report, fresh=True)


def _length(path: Path) -> float:
    """The audio's duration in seconds, from its own headers (mutagen reads MP3, M4A, OGG)."""
    import mutagen

    try:
        found = mutagen.File(path)
    except Exception:  # mutagen raises its own error types for damaged files
        found = None
    if found is None or not getattr(found, "info", None):
        raise PodforgeError(f"{path}: cannot tell how long this audio is; add `duration:` "
                            "(seconds) under audio: in the front matter")
    return float(found.info.length)
