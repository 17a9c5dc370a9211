"""What decides a build, found without touching audio: so an unchanged episode costs nothing.

Everything here is light (no numpy, no decoders): `podforge build` with nothing to do reads the
script, hashes the files it names (remembered by size and mtime) and compares one key with the
build report's, then stops.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline import __version__
from pipeline.build import speech
from pipeline.build.cache import RENDER_VERSION, Hashes, key
from pipeline.build.plan import check_sound, scenes
from pipeline.build.takes import Takes
from pipeline.errors import PodforgeError
from pipeline.manifest import Asset
from pipeline.model import Cue, Script, Segment
from pipeline.project import Project
from pipeline.report import BuildReport
from pipeline.show import Show, SoundDesign


# Findings that leave nothing to build, even with --no-validate: a cue that names no sound or
# cannot be read, a slug that is no name for a folder, a file that cannot be read.
UNBUILDABLE = {"Q001", "Q002", "M003", "E001"}


@dataclass(frozen=True)
class Options:
    force: bool = False
    takes_only: bool = False
    validate: bool = True  # --no-validate: only UNBUILDABLE findings stop the build


@dataclass(frozen=True)
class Built:
    slug: str
    folder: Path
    report: BuildReport
    fresh: bool  # False when nothing had changed


@dataclass(frozen=True)
class Job:
    """One episode to build, with everything that decides it already found and checked."""

    script_path: Path
    slug: str
    folder: Path  # build/<slug>
    show: Show
    script: Script
    assets: dict[str, Asset]
    asset_hash: dict[str, str]
    takes: Takes
    inputs: str  # inputs_key of all of the above


def prepare(project: Project, script_path: Path, strict: bool = True,
            say=lambda line: None, script: Script | None = None
            ) -> tuple[Show, Script, dict[str, Asset]]:
    """What every build (and --plan) needs: the show, the script, its assets, validated.

    The validator's rules are the build's rules: its findings are printed through `say` as
    `podforge validate` prints them, and any error stops the build (with strict=False, only
    what cannot be built at all does).
    """
    from pipeline.script.validate import validate

    show = project.show
    if show is None:
        raise PodforgeError("no show.yaml here or above: the build needs the show's sound design")
    script = script or project.read(script_path)  # the caller may have read it already
    if not script.segments:
        raise PodforgeError(f"{script_path}: no segments to build; run `podforge validate "
                            f"{script_path}`")
    assets = project.assets()
    check_sound(show.sound, assets, str(project.root / "show.yaml"))
    findings = validate(script, str(script_path), show, frozenset(assets))
    stopping = [d for d in findings if d.severity == "error" and
                (strict or d.code in UNBUILDABLE)]
    for d in findings:
        if d.severity != "error" or d in stopping:
            say(d.as_text())
    if stopping:
        n = len(stopping)
        raise PodforgeError(f"{script_path}: {n} error{'s' * (n != 1)} found by validate: fix "
                            f"{'them' if n != 1 else 'it'}" +
                            (", or build with --no-validate" if strict else ""))
    return show, script, assets


def asset_hashes(assets: dict[str, Asset], hashes: Hashes) -> dict[str, str]:
    """Each asset's content hash; an asset whose file is missing stops the build, named."""
    missing = sorted(name for name, a in assets.items() if not a.path.is_file())
    if missing:
        hint = "; run `python assets/synth.py`" if (assets[missing[0]].path.parent /
                                                    "synth.py").is_file() else ""
        raise PodforgeError(f"{assets[missing[0]].path}: asset {missing[0]!r} is in the manifest "
                            f"but its file is missing{hint}")
    return {name: hashes(a.path) for name, a in assets.items()}


def inputs_key(show: Show, script_path: Path, assets: dict[str, str], takes: Takes,
               hashes: Hashes) -> str:
    """One digest of every input of an episode's build: equal keys, equal outputs."""
    artwork = show.resolve(show.artwork) if show.artwork else None
    return key(RENDER_VERSION, __version__, repr(dataclasses.replace(show, root=None)),
               hashlib.sha256(script_path.read_bytes()).hexdigest(),
               _sources_hash(script_path.parent / "sources.txt"), sorted(assets.items()),
               sorted((slug, hashes(take) if take else None) for slug, take in takes.items()),
               hashes(takes.episode) if takes.episode else None,
               hashes(artwork) if artwork and artwork.is_file() else None)


def narration_key(segment: Segment, take_hash: str | None, sound: SoundDesign) -> str:
    """What a segment's narration depends on: its words and cues, the take (or the draft
    voice's settings), the leveler and the rate."""
    body = [(i.kind, i.name, i.seconds) if isinstance(i, Cue) else i.text for i in segment.body()]
    return key(RENDER_VERSION, "narration", [segment.kind, segment.number, body],
               sound.output.sample_rate, take_hash or dataclasses.asdict(sound.voice),
               dataclasses.asdict(sound.leveler))


def work_folder(cache: Path) -> Path:
    """This build's working folder in the cache (the process's own: builds may run side by
    side), removed when the build ends."""
    return cache / f"work-{os.getpid()}"


def draft_paragraphs(job: Job, cache: Path, force: bool) -> list[str]:
    """The draft paragraphs this build will narrate, for an early speaker (speech.py): those of
    the segments (scenes) with no take whose narration is not cached, the last of each first (the
    workers start at the first)."""
    if job.takes.episode is not None:  # a one-take recording decides the segments' takes
        return []
    sound = job.show.sound
    todo = [u for s in job.script.segments if job.takes[s.slug] is None for u in scenes(s)
            if force or not (cache / f"narration-{narration_key(u, None, sound)}.json").is_file()]
    placed = [((k + 1) / len(texts), text) for s in todo
              for texts in [speech.paragraphs(s)] for k, text in enumerate(texts)]
    return [text for _, text in sorted(placed, key=lambda p: -p[0])]


def outputs_whole(folder: Path, report: BuildReport) -> bool:
    mp3 = folder / report.audio
    return mp3.is_file() and mp3.stat().st_size == report.audio_bytes and all(
        (folder / f).is_file() for f in report.files)


def _sources_hash(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
