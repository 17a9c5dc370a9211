"""`podforge build`: each episode up to date, or built; the audio stack loads only for work."""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import shutil
from pathlib import Path
from typing import Iterator

from pipeline import interrupts
from pipeline.build.assets import measured
from pipeline.build.cache import Hashes, prune_cache
from pipeline.build.speech import EarlySpeaker
from pipeline.build.inputs import (Built, Job, Options, asset_hashes, draft_paragraphs,
                                   inputs_key, outputs_whole, work_folder,
                                   prepare)
from pipeline.build.takes import takes_for
from pipeline.files import inside
from pipeline.model import Script
from pipeline.progress import Progress
from pipeline.project import Project, episode_slug
from pipeline.report import read_report
from pipeline.script.validate import is_published_audio


def build(project: Project, scripts: list[Path], options: Options,
          progress: Progress) -> list[Built]:
    built, cache = [], project.root / ".podforge-cache"
    hashes = Hashes(cache / "hashes.json")
    jobs = []
    for path in scripts:  # every script checked before any audio work
        script = project.read(path)
        if is_published_audio(script):
            from pipeline.build.published import build_published

            built.append(build_published(project, path, script, progress, hashes, options.force))
        else:
            jobs.append(_job(project, path, script, options, progress, hashes))
    ffmpeg = None
    with batch_scheduling():
        for job in jobs:
            slug = job.slug
            report = read_report(job.folder / "report.json")
            if not options.force and report is not None and report.inputs == job.inputs and \
                    outputs_whole(job.folder, report):
                _measured(job, cache)  # declared lengths still checked (known: no audio read)
                progress.note(f"{slug}: up to date")
                built.append(Built(slug, job.folder, report, fresh=False))
                continue
            texts = draft_paragraphs(job, cache, options.force)
            # The draft voice needs none of the audio stack: it starts speaking while that loads
            # (and while a new sound is measured).
            speaker = (EarlySpeaker(texts, job.show.sound.voice, work_folder(cache)) if texts
                       else None)
            try:
                job = _measured(job, cache)
                with interrupts.held():  # the audio stack: loaded for work
                    from pipeline.audio.encode import find_ffmpeg
                    from pipeline.build.episode import build_episode

                if ffmpeg is None:
                    ffmpeg = find_ffmpeg()  # no working encoder: say so before any audio work
                    _keep_freed_blocks()
                    progress.note(f"ffmpeg: {ffmpeg}")
            except BaseException:
                if speaker is not None:
                    speaker.stop()
                    shutil.rmtree(work_folder(cache), ignore_errors=True)
                raise
            built.append(build_episode(project, job, options, progress, hashes, speaker))
    hashes.save()
    prune_cache(project.root, project.show.cache.max_mb if project.show else 2048.0)
    progress.close()
    return built


def _job(project: Project, path: Path, script: Script, options: Options, progress: Progress,
         hashes: Hashes) -> Job:
    """A script read, validated and resolved into everything that decides its build."""
    show, script, assets = prepare(project, path, options.validate, progress.finding, script)
    slug = episode_slug(path, script)
    folder = inside(project.root, project.root / "build" / slug, "the build folder",
                    show.allow_outside)
    takes = takes_for(script, path.parent, options.takes_only, project.root, show.allow_outside)
    for warning in takes.warnings:
        progress.note(f"warning: {warning}")
    asset_hash = asset_hashes(assets, hashes)
    cache = inside(project.root, project.root / ".podforge-cache", "the cache folder",
                   show.allow_outside)
    cache.mkdir(exist_ok=True)
    return Job(path, slug, folder, show, script, assets, asset_hash, takes,
               inputs_key(show, path, asset_hash, takes, hashes))


def _measured(job: Job, cache: Path) -> Job:
    """The job with its sounds' lengths and loudness read from their files (a new file is
    decoded once; pipeline.build.assets), a declared length that disagrees an error."""
    show = job.show
    return dataclasses.replace(job, assets=measured(job.assets, job.asset_hash, cache,
                                                    show.resolve(show.sound.manifest)))


def _keep_freed_blocks() -> bool:
    """The audio work allocates and frees blocks of a megabyte or more all the time. glibc
    maps each one afresh, and the kernel zeroes every page of it, unless told to keep freed
    blocks for reuse (measured on a 31-minute build: 5.4 s of system time down to 4.6, 0.4 s
    of wall time off 23, the peak memory unchanged). The workers are forked: they inherit it.
    Elsewhere than glibc this does nothing: whether it took."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # no C library by that name
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest: bigger blocks still
                and mallopt(m_trim_threshold, 256 << 20))  # get mapped


@contextlib.contextmanager
def batch_scheduling() -> Iterator[bool]:
    """A build is throughput work: under Linux's SCHED_BATCH the kernel stops preempting it
    every time one of its own processes wakes (a worker handing ffmpeg a piece, a pipe
    filling), and an interactive shell stays responsive. Measured on a 31-minute build (three
    runs each): involuntary context switches ~305k down to 33-40k, system time 4.2-4.6 s down
    to 3.3-3.7 s, wall time 20.4 s down to 19.6 s.
    Workers, threads and ffmpeg started inside inherit it; the caller's policy comes back
    after. Elsewhere it does nothing: whether it took."""
    setter = getattr(os, "sched_setscheduler", None)
    if setter is None or not hasattr(os, "SCHED_BATCH"):
        yield False
        return
    try:
        before = os.sched_getscheduler(0)
        setter(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError:  # a policy we may not leave (real-time, or a sandbox refusing it)
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            setter(0, before, os.sched_param(0))
