"""`podforge build`: script → narration → Timeline → rendered spans → MP3 and its companions.

Every stage's output is cached under a key made of everything that decides it (text, take and
asset content, settings, podforge's render version), so an unchanged episode does no audio work
and an edit to one act re-renders that act alone before the final encode.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline.audio import decode

from pipeline.build import narrate as narration_stage
from pipeline.publish.artwork import cover_art, image_size
from pipeline.audio.encode import find_ffmpeg
from pipeline.errors import PodforgeError
from pipeline.manifest import Asset
from pipeline.model import Chapter, Cue, Narration, Script, Segment, Span, TimedLine
from pipeline.build.plan import (describe, estimate, named_music, place, plan,
                   sequence)
from pipeline.progress import Progress
from pipeline.project import Project, read_sources
from pipeline.show import SoundDesign
from pipeline.files import write_text
from pipeline.build.cache import RENDER_VERSION, Hashes, key as cache_key
from pipeline.build.inputs import Built, Job, Options, outputs_whole, prepare
from pipeline.build.takes import takes_for
from pipeline.build.assemble import AssetBank, Rendered, assemble_span, load_span
from pipeline.build import mastering
from pipeline.audio.leveler import LevelerSettings
from pipeline.audio.tags import write_tags
from pipeline.build.transcript import chapters_json, split_long, srt, vtt
from pipeline.report import BuildReport, SegmentReport, read_report



def _segment_key(segment: Segment) -> list:
    return [segment.kind, segment.number,
            [(i.kind, i.name, i.seconds) if isinstance(i, Cue) else i.text
             for i in segment.body()]]


def plan_only(project: Project, script_path: Path) -> str:
    """The Timeline for review, with narration lengths estimated unless already rendered."""
    show, script, assets = prepare(project, script_path)
    takes = takes_for(script, script_path.parent, False)
    narrations = {}
    for s in script.segments:
        take = takes[s.slug]
        if take:
            info = decode.probe(take)
            narrations[s.slug] = Narration(s.slug, info.seconds, estimate(
                s, show.sound.voice.words_per_minute).cue_times, "take")
        else:
            narrations[s.slug] = estimate(s, show.sound.voice.words_per_minute)
    timeline = plan(script, show.sound, assets, narrations)
    return f"{script_path} (draft narration lengths estimated from the word count)\n" + \
        describe(timeline)


def build_episode(project: Project, job: Job, options: Options, progress: Progress,
                  hashes: Hashes) -> Built:
    """Narrate, mix, master and encode one episode; what is cached is not made again."""
    show, script, assets, slug = job.show, job.script, job.assets, job.slug
    script_path, folder, takes, asset_hash = job.script_path, job.folder, job.takes, job.asset_hash
    sound, out = show.sound, show.sound.output
    rate, channels = out.sample_rate, out.channels
    cache = project.root / ".podforge-cache"
    find_ffmpeg()  # no encoder at all: say so before any work

    # 1. Each segment on its own: narration (take or draft voice), its span, its mix. Each is
    #    cached by content; what is missing is made on every core at once.
    context = _Context(cache, sound, assets, asset_hash, options.force)
    last = len(script.segments) - 1
    todo = [(segment, take, cache_key(RENDER_VERSION, "narration", _segment_key(segment), rate,
                                      hashes(take) if take else asdict(sound.voice),
                                      asdict(sound.leveler)), i == last, context)
            for i, (segment, take) in enumerate((s, takes[s.slug]) for s in script.segments)]
    pieces = {i: None if options.force else _segment(*job, cached_only=True)
              for i, job in enumerate(todo)}
    missing = sorted((i for i, piece in pieces.items() if piece is None),
                     key=lambda i: -script.segments[i].words)  # longest first: balanced cores
    if missing:
        progress.stage(slug, "narrate and mix")
        bank = AssetBank(assets, rate, channels)
        for name in sorted({c.name for i in missing for c in script.segments[i].cues if c.name}
                           | {music.asset for _, music in named_music(sound)}):
            bank.segment(name)  # decoded and converted here, once: the forked workers inherit it
    for i, piece in zip(missing, _in_parallel(_segment, [todo[i] for i in missing],
                                               progress.update)):
        pieces[i] = piece
        for message in piece.warnings:
            progress.note(f"warning: {message}")
    pieces = [pieces[i] for i in range(len(todo))]
    timeline = sequence([p.span for p in pieces], sound)
    spoken = {p.span.slug: p.spoken for p in pieces}
    span_keys = [p.key for p in pieces]
    total = timeline.duration
    ends = [span.start for span in timeline.spans[1:]] + [total]
    chapters = tuple(Chapter(span.label, round(span.start, 3), round(end, 3))
                     for span, end in zip(timeline.spans, ends))
    meta = script.metadata
    cover, cover_mime = _cover(project)
    tags = {"title": meta.title or slug, "artist": show.author or show.host, "album": show.title,
            "date": meta.date.isoformat() if meta.date else "", "comment": meta.summary or "",
            "cover": hashlib.sha256(cover).hexdigest() if cover else None}
    mp3_name = f"{slug}.mp3"
    script_hash = hashlib.sha256(script_path.read_bytes()).hexdigest()
    sources = read_sources(meta.sources, script_path.parent / "sources.txt")
    final_key = cache_key(RENDER_VERSION, "master", span_keys, asdict(sound.loudness), asdict(out),
                          asdict(_settings(sound)),
                     tags, [asdict(c) for c in chapters], mp3_name,
                     show.host,  # the transcripts' voice
                     script_hash, sources)  # the report's text
    report_path = folder / "report.json"
    previous = read_report(report_path)
    if not options.force and previous is not None and previous.key == final_key and \
            outputs_whole(folder, previous):
        progress.note(f"{slug}: up to date")
        return Built(slug, folder, previous, fresh=False)

    rendered = [p.rendered for p in pieces]

    # 2. Master and encode; tags go into the temporary file before it takes the final name.
    folder.mkdir(parents=True, exist_ok=True)

    def tag(path: str) -> None:
        write_tags(path, title=tags["title"], artist=tags["artist"], album=tags["album"],
                   date=tags["date"], comment=tags["comment"], cover=cover,
                   cover_mime=cover_mime, chapters=chapters)

    progress.stage(slug, "master and encode")
    span_sources = [mastering.SpanSource(mastering.raw_blocks(r.audio_file, channels), r.frames,
                                    r.steps, p.spoken.voice_lufs)
               for r, p in zip(rendered, pieces)]
    mastered = mastering.master_mp3(span_sources, rate, channels, folder / mp3_name, _settings(sound),
                                    bitrate=out.bitrate_kbps, ffmpeg=find_ffmpeg(),
                                    before_commit=tag)
    for message in mastered.warnings:
        progress.note(f"warning: {message}")
    whole = mastered.loudness

    # 3. The companions: chapters, transcripts, report (last: it marks the build complete).
    lines = split_long([TimedLine(span.start + span.voice_start + a,
                                  span.start + span.voice_start + b, text, show.host)
                        for span in timeline.spans for a, b, text in spoken[span.slug].sentences])
    report = BuildReport(
        slug=slug, script=_relative(script_path, project.root), script_sha256=script_hash,
        metadata=meta, credits=script.credits, sources=sources, audio=mp3_name,
        audio_bytes=(folder / mp3_name).stat().st_size, duration=round(mastered.seconds, 3),
        integrated_lufs=_figure(whole.integrated_lufs), true_peak_dbtp=_figure(whole.true_peak_dbtp),
        lra_lu=_figure(whole.lra_lu),
        gain_db=round(float(np.mean([m.gain_db for m in mastered.spans])), 2), chapters=chapters,
        segments=tuple(SegmentReport(
            span.kind, span.number, _title(script, span.slug), round(span.start, 3),
            round(span.start + span.duration, 3), span.voice,
            _relative(takes[span.slug], project.root) if takes[span.slug] else None,
            hashes(takes[span.slug]) if takes[span.slug] else None,
            _figure(measured.integrated_lufs), _figure(measured.true_peak_dbtp),
            _figure(measured.lra_lu))
            for span, measured in zip(timeline.spans, mastered.segments)),
        inputs=job.inputs, lines=tuple(lines), chapters_file="chapters.json", transcript_vtt="transcript.vtt",
        transcript_srt="transcript.srt", key=final_key,
        cache=tuple(sorted([f"span-{p.key}" for p in pieces] +
                           [p.spoken.audio_file.stem for p in pieces])))
    write_text(folder / report.chapters_file, chapters_json(chapters, meta.title))
    write_text(folder / report.transcript_vtt, vtt(lines))
    write_text(folder / report.transcript_srt, srt(lines))
    write_text(report_path, report.to_json())  # last: it marks the build complete
    progress.note(segment_line(report))
    progress.note(f"{slug}: {folder / mp3_name} {report.duration / 60:.1f} min, "
                  f"{whole.integrated_lufs:.1f} LUFS, {whole.true_peak_dbtp:.1f} dBTP, "
                  f"LRA {whole.lra_lu:.1f} LU (the MP3 as decoded)")
    return Built(slug, folder, report, fresh=True)


def segment_line(report: BuildReport) -> str:
    """Each segment's loudness as the MP3 measures it, on one line: a take that is off shows."""
    def name(s: SegmentReport) -> str:
        return {"cold_open": "cold open"}.get(s.kind, s.kind) + (f" {s.number}" if s.number
                                                                 else "")
    return f"{report.slug}: LUFS by segment: " + ", ".join(
        f"{name(s)} {s.integrated_lufs:.1f}" if s.integrated_lufs is not None else
        f"{name(s)} silent" for s in report.segments)


def _settings(sound: SoundDesign) -> mastering.MasterSettings:
    return mastering.MasterSettings(target_lufs=sound.loudness.integrated_lufs,
                                    ceiling_dbtp=sound.loudness.true_peak_dbtp)


def _leveler(sound: SoundDesign) -> LevelerSettings:
    lev = sound.leveler
    return LevelerSettings(target_lufs=lev.target_lufs, max_gain_db=lev.max_gain_db,
                           ratio=lev.ratio, range_db=lev.range_db)


def _figure(value: float) -> float | None:
    """A measurement for the report: rounded, and None where there is nothing to measure."""
    return round(float(value), 2) if np.isfinite(value) else None


@dataclass(frozen=True)
class _Context:
    cache: Path
    sound: SoundDesign
    assets: dict[str, Asset]
    asset_hash: dict[str, str]
    force: bool


@dataclass(frozen=True)
class _Piece:
    spoken: narration_stage.Spoken
    span: Span
    key: str
    rendered: Rendered
    warnings: tuple[str, ...]


def _segment(segment: Segment, take: Path | None, narration_key: str, last: bool,
             ctx: _Context, cached_only: bool = False) -> _Piece | None:
    """One segment from text to mixed audio; with cached_only, None unless all of it is cached."""
    out = ctx.sound.output
    rate, channels = out.sample_rate, out.channels
    stem = ctx.cache / f"narration-{narration_key}"
    warnings: list[str] = []
    spoken = None if ctx.force else narration_stage.load(segment, stem)
    if spoken is None:
        if cached_only:
            return None
        spoken = narration_stage.narrate(segment, take, rate, ctx.sound.voice, stem,
                                         warnings.append, _leveler(ctx.sound))
    span = place(segment, spoken.narration, ctx.sound, ctx.assets, last)
    # A span's audio does not depend on where it starts: editing one act re-renders that act.
    key = cache_key(RENDER_VERSION, "span", repr(span), narration_key, asdict(ctx.sound.ducking),
               rate, channels, sorted({ctx.asset_hash[c.asset] for c in span.clips if c.asset}))
    span_stem = ctx.cache / f"span-{key}"
    rendered = None if ctx.force else load_span(span_stem, round(span.duration * rate), channels)
    if rendered is None:
        if cached_only:
            return None
        rendered = assemble_span(span, spoken, AssetBank(ctx.assets, rate, channels),
                                 ctx.sound.ducking, rate, channels, span_stem)
    return _Piece(spoken, span, key, rendered, tuple(warnings))


def _in_parallel(fn, jobs: list[tuple], tick) -> list:
    """Independent jobs on every core: narration and mixing are CPU-bound and share nothing.

    Workers are forked, so they start in milliseconds with podforge already imported. Twice as
    many workers as cores: an episode's few big acts then share the cores evenly instead of
    one core idling while another finishes the last act.
    """
    cores = os.cpu_count() or 1
    workers = min(len(jobs), 2 * cores) if cores > 1 else 1
    if workers < 2:
        results = []
        for n, job in enumerate(jobs, start=1):
            results.append(fn(*job))
            tick(n / len(jobs))
        return results
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(fn, *job) for job in jobs]
        for n, _ in enumerate(as_completed(futures), start=1):
            tick(n / len(jobs))
        return [f.result() for f in futures]


def _title(script: Script, slug: str) -> str | None:
    return next((s.title for s in script.segments if s.slug == slug), None)


def _cover(project: Project) -> tuple[bytes | None, str | None]:
    show = project.show
    if show and show.artwork:
        path = show.resolve(show.artwork)
        try:
            data = path.read_bytes()
        except OSError:
            raise PodforgeError(f"{path}: artwork named in show.yaml cannot be read") from None
        if image_size(data) is None:
            raise PodforgeError(f"{path}: artwork must be a PNG or JPEG image")
        return data, None  # the tag writer tells PNG from JPEG by the bytes
    return cover_art(show.title, 600), "image/png"  # the publish stage draws the same, larger


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
