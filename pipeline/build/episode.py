"""`podforge build`: script → narration → Timeline → rendered spans → MP3 and its companions.

Every stage's output is cached under a key made of everything that decides it (text, take and
asset content, settings, podforge's render version), so an unchanged episode does no audio work
and an edit to one act re-renders that act alone before the final encode.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline.audio import decode, loudness

from pipeline.build import narrate as narration_stage, speech
from pipeline.publish.artwork import cover_art, read_cover
from pipeline.audio.bandlimit import LOWPASS_HZ
from pipeline.audio.encode import find_ffmpeg
from pipeline.manifest import Asset
from pipeline.build.narrate import HOP
from pipeline.model import Chapter, Narration, Script, Segment, Span, TimedLine, Timeline
from pipeline.build.plan import (describe, estimate, place, plan, scenes,
                   sequence)
from pipeline.progress import Progress
from pipeline.project import Project, read_sources
from pipeline.show import SoundDesign
from pipeline.errors import EncoderError
from pipeline.files import write_text
from pipeline.build.cache import RENDER_VERSION, Hashes, key as cache_key, touch
from pipeline.build.assets import measured
from pipeline.build.inputs import (Built, Job, Options, asset_hashes, narration_key,
                                   outputs_whole, prepare, work_folder)
from pipeline.build.takes import split_episode, takes_for
from pipeline.build.assemble import AssetBank, Rendered, duck_levels, load_span, mix_range
from pipeline.build import mastering, segmentwise
from pipeline.audio.measure import Measured
from pipeline.audio.mp3frames import encode_file, from_pcm16, pcm16
from pipeline.files import save_array, save_json
from pipeline.audio.leveler import LevelerSettings
from pipeline.audio.tags import write_tags
from pipeline.build.transcript import chapters_json, split_long, srt, vtt
from pipeline.report import BuildReport, CutReport, SegmentReport, read_report



def plan_only(project: Project, script_path: Path, strict: bool = True,
              say=lambda line: None) -> str:
    """The Timeline for review, with narration lengths estimated unless already rendered."""
    show, script, assets = prepare(project, script_path, strict, say)
    cache = project.root / ".podforge-cache"
    cache.mkdir(exist_ok=True)
    hashes = Hashes(cache / "hashes.json")
    assets = measured(assets, asset_hashes(assets, hashes), cache,
                      show.resolve(show.sound.manifest))
    hashes.save()
    takes = takes_for(script, script_path.parent, False, project.root, show.allow_outside)
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
                  hashes: Hashes, speaker: speech.EarlySpeaker | None = None) -> Built:
    """Narrate, mix, master and encode one episode; what is cached is not made again. What
    only this build needs (its mixes, masters, the narration's raw copies, what `speaker`
    spoke early) goes to a working folder in the cache, removed when the build ends however
    it ends."""
    work = work_folder(project.root / ".podforge-cache")
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _build_episode(project, job, options, progress, hashes, work, speaker)
    finally:
        if speaker is not None:
            speaker.stop()
        shutil.rmtree(work, ignore_errors=True)


def _build_episode(project: Project, job: Job, options: Options, progress: Progress,
                   hashes: Hashes, work: Path, speaker: speech.EarlySpeaker | None) -> Built:
    show, script, assets, slug = job.show, job.script, job.assets, job.slug
    script_path, folder, takes, asset_hash = job.script_path, job.folder, job.takes, job.asset_hash
    sound, out = show.sound, show.sound.output
    rate = out.sample_rate
    cache = project.root / ".podforge-cache"
    find_ffmpeg()  # no encoder at all: say so before any work

    # 1. Each segment on its own: narration (take or draft voice, levelled) and its span. Each
    #    is cached by content; what is missing is made on every core at once.
    takes = split_episode(script, takes, cache, rate, show.language, progress.note)
    for slug_, cuts in takes.cuts.items():
        for c in cuts:
            progress.note(f"{takes.episode}: cut {c.start:.2f}-{c.end:.2f} s ({c.reason}, "
                          f"line {c.line}) from the {slug_} segment")
    context = _Context(cache, sound, assets, asset_hash, options.force, show.language,
                       _relative(script_path, project.root),
                       {slug: takes.name(slug) for slug in takes.stretch}, work=work,
                       early=speaker.folder if speaker is not None else None)
    units = [(unit, takes[s.slug]) for s in script.segments  # a draft's acts by scene
             for unit in (scenes(s) if takes[s.slug] is None else (s,))]
    last = len(units) - 1
    todo = [(unit, take, narration_key(unit, hashes(take) if take else None, sound),
             i == last, context) for i, (unit, take) in enumerate(units)]
    pieces = {i: None if options.force else _segment(*job, cached_only=True)
              for i, job in enumerate(todo)}
    missing = sorted((i for i, piece in pieces.items() if piece is None),
                     key=lambda i: -units[i][0].words)  # longest first: balanced cores
    if missing:
        progress.stage(slug, "narrate")
    if len(missing) == 1 and (os.cpu_count() or 1) > 1:  # an edited act: both cores speak it
        todo[missing[0]] = (*todo[missing[0]][:-1], dataclasses.replace(
            context, speak_on_every_core=True))
    def decode_assets() -> None:
        """While the cores narrate: the music the new narration's spans will be mixed with,
        decoded into this process, which the mix's workers are forked from."""
        bank = _bank(assets, out)
        wpm = sound.voice.words_per_minute
        for name in sorted({c.asset for i in missing for c in place(
                units[i][0], estimate(units[i][0], wpm), sound, assets, i == last).clips
                if c.asset}):
            bank.segment(name)

    if speaker is not None:
        speaker.stop()  # the workers speak the rest
    for i, piece in zip(missing, _in_parallel(_segment, [todo[i] for i in missing],
                                               progress.update, scratch=cache,
                                               meanwhile=decode_assets)):
        pieces[i] = piece
        for message in piece.warnings:
            progress.note(f"warning: {message}")
    pieces = [pieces[i] for i in range(len(todo))]
    timeline = sequence([p.span for p in pieces], sound)
    span_keys = [p.key for p in pieces]
    groups = _segments(timeline)  # each segment's spans: its scenes, in a draft
    chapters = tuple(Chapter(timeline.spans[a].label, round(timeline.spans[a].start, 3),
                             round(timeline.spans[b - 1].start + timeline.spans[b - 1].duration,
                                   3)) for a, b in groups)
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

    # 2. Master each span on its own and encode it in pieces (pipeline.build.segmentwise);
    #    tags go into the temporary file before it takes the final name.
    folder.mkdir(parents=True, exist_ok=True)

    def tag(path: str) -> None:
        write_tags(path, title=tags["title"], artist=tags["artist"], album=tags["album"],
                   date=tags["date"], comment=tags["comment"], cover=cover,
                   cover_mime=cover_mime, chapters=chapters)

    progress.stage(slug, "mix, master and encode")
    learned = cache / "trim-{}.json".format(cache_key(  # the show's, for a new episode
        RENDER_VERSION, "trim", asdict(sound.loudness), asdict(out), asdict(_settings(sound))))
    mastered = _master_and_encode(pieces, context, work, folder / mp3_name, tag,
                                  _learned_trim(learned, slug), progress, groups)
    _learn_trim(learned, slug, mastered.trim_db)
    for message in mastered.warnings:
        progress.note(f"warning: {message}")
    whole = mastered.measured.whole

    # 3. The companions: chapters, transcripts, report (last: it marks the build complete).
    lines = split_long([TimedLine(span.start + span.voice_start + a,
                                  span.start + span.voice_start + b, text, show.host)
                        for span, p in zip(timeline.spans, pieces)
                        for a, b, text in p.spoken.sentences])
    report = BuildReport(
        slug=slug, script=_relative(script_path, project.root), script_sha256=script_hash,
        metadata=meta, credits=script.credits, sources=sources, audio=mp3_name,
        audio_bytes=(folder / mp3_name).stat().st_size,
        audio_sha256=hashes(folder / mp3_name),
        duration=round(mastered.measured.seconds, 3),
        integrated_lufs=_figure(whole.integrated_lufs), true_peak_dbtp=_figure(whole.true_peak_dbtp),
        lra_lu=_figure(whole.lra_lu),
        gain_db=round(float(np.mean(mastered.gains)), 2), trim_db=mastered.trim_db,
        chapters=chapters,
        segments=tuple(SegmentReport(
            span.kind, span.number, _title(script, span.slug), chapter.start, chapter.end,
            span.voice, takes.name(span.slug, lambda path: _relative(path, project.root)),
            hashes(takes[span.slug]) if takes[span.slug] else None,
            _figure(measured.integrated_lufs), _figure(measured.true_peak_dbtp),
            _figure(measured.lra_lu),
            tuple(CutReport(c.start, c.end, c.reason, c.line) for c in takes.cuts.get(span.slug, ())),
            tuple(f for p in pieces[a:b] for f in p.spoken.findings))
            for (a, b), chapter, measured in zip(groups, chapters, mastered.measured.segments)
            for span in [timeline.spans[a]]),
        inputs=job.inputs, lines=tuple(lines), chapters_file="chapters.json", transcript_vtt="transcript.vtt",
        transcript_srt="transcript.srt", key=final_key,
        cache=tuple(sorted({*mastered.entries, *(p.spoken.audio_file.stem for p in pieces),
                            learned.stem})))
    write_text(folder / report.chapters_file, chapters_json(chapters, meta.title))
    write_text(folder / report.transcript_vtt, vtt(lines))
    write_text(folder / report.transcript_srt, srt(lines))
    write_text(report_path, report.to_json())  # last: it marks the build complete
    progress.note(segment_line(report))
    if report.drafted and len(report.drafted) < len(report.segments):  # takes and draft mixed
        progress.note(f"{slug}: drafted, no take yet: {', '.join(report.drafted)} (publish "
                      "refuses them unless draft_voice allows it)")
    progress.note(f"{slug}: {folder / mp3_name} {report.duration / 60:.1f} min, "
                  f"{_shown(report.integrated_lufs)} LUFS, {_shown(report.true_peak_dbtp)} dBTP, "
                  f"LRA {_shown(report.lra_lu)} LU (the MP3 as decoded)")  # the report's figures
    return Built(slug, folder, report, fresh=True)


def segment_line(report: BuildReport) -> str:
    """Each segment's loudness as the MP3 measures it, on one line: a take that is off shows."""
    def name(s: SegmentReport) -> str:
        return {"cold_open": "cold open"}.get(s.kind, s.kind) + (f" {s.number}" if s.number
                                                                 else "")
    return f"{report.slug}: LUFS by segment: " + ", ".join(
        f"{name(s)} {s.integrated_lufs:.1f}" if s.integrated_lufs is not None else
        f"{name(s)} silent" for s in report.segments)


def _bank(assets: dict[str, Asset], out) -> AssetBank:
    """The build's music, at the show's rate and channels and in the band the encoder keeps."""
    return AssetBank(assets, out.sample_rate, out.channels, LOWPASS_HZ)


def _settings(sound: SoundDesign) -> mastering.MasterSettings:
    return mastering.MasterSettings(target_lufs=sound.loudness.integrated_lufs,
                                    ceiling_dbtp=sound.loudness.true_peak_dbtp)


def _leveler(sound: SoundDesign) -> LevelerSettings:
    lev = sound.leveler
    return LevelerSettings(target_lufs=lev.target_lufs, max_gain_db=lev.max_gain_db,
                           ratio=lev.ratio, range_db=lev.range_db)


def _shown(value: float | None) -> str:
    return "silent" if value is None else f"{value:.1f}"


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
    language: str = "en"  # the takes' language, for alignment
    script: str = "script.md"  # the script's path, for take findings
    take_names: dict[str, str] = dataclasses.field(default_factory=dict)  # slug -> as shown
    speak_on_every_core: bool = False  # the one segment to narrate: its paragraphs in parallel
    work: Path | None = None  # this build's working folder: raw copies of new narration go there
    early: Path | None = None  # where an early speaker spoke draft paragraphs (speech.py)


@dataclass(frozen=True)
class _Piece:
    spoken: narration_stage.Spoken
    span: Span
    key: str  # the span's mix: equal keys, equal mixed samples
    warnings: tuple[str, ...]
    voice_file: Path | None = None  # the narration's raw 16-bit copy, if made in this build


def _within_pauses(span: Span, spoken, allowed: bool, take: Path | None, warn) -> Span:
    """An effect cued in a take plays in the host's recorded pause: one longer than the pause
    plays under the next words only where the show allows it (sound.sfx_over_voice); otherwise
    it is faded out as the voice comes back, with a warning naming the cue."""
    activity = np.load(spoken.activity_file)
    clips = list(span.clips)
    for cue, at in spoken.narration.cue_times:
        if cue.kind != "sfx":
            continue
        i = next((k for k, c in enumerate(clips) if c.role == "sfx" and c.asset == cue.name
                  and abs(c.start - (span.voice_start + at)) < 1e-6), None)
        if i is None:
            continue
        # The pause: from the cue to the voice's return (past the activity's hangover and the
        # room's tail that may still read as voice right at the cue).
        rest = activity[int(round(at / HOP)):]
        quiet = np.flatnonzero(~rest)
        back = np.flatnonzero(rest[quiet[0]:]) if len(quiet) else np.array([], int)
        pause = (quiet[0] + back[0]) * HOP if len(back) else clips[i].duration
        if clips[i].duration <= pause + 0.1 or allowed:
            continue
        warn(f"{take}: [{cue.text.strip('[]')}] (script line {cue.line}) lasts "
             f"{clips[i].duration:.1f} s but the recorded pause there is {pause:.1f} s: it is "
             "faded out as the voice comes back; pause longer, shorten it on the cue line, or "
             "set sound.sfx_over_voice: true to let it play under the words")
        fade = min(0.3, pause / 2)
        clips[i] = dataclasses.replace(clips[i], duration=round(max(pause, 0.05), 3),
                                       fade_out=max(fade, clips[i].fade_out if
                                                    clips[i].fade_out < pause else 0.0))
    return dataclasses.replace(span, clips=tuple(clips))


def _segment(segment: Segment, take: Path | None, voiced: str, last: bool,
             ctx: _Context, cached_only: bool = False) -> _Piece | None:
    """One segment's narration (levelled) and its span; with cached_only, None unless cached."""
    rate = ctx.sound.output.sample_rate
    stem = ctx.cache / f"narration-{voiced}"
    warnings: list[str] = []
    spoken = None if ctx.force else narration_stage.load(segment, stem)
    copy = None
    if spoken is None:
        if cached_only:
            return None
        copy = ctx.work / f"narration-{voiced}.s16" if ctx.work else None
        spoken = narration_stage.narrate(segment, take, rate, ctx.sound.voice, stem,
                                         warnings.append, _leveler(ctx.sound),
                                         language=ctx.language, script=ctx.script,
                                         take_name=ctx.take_names.get(segment.slug),
                                         speak_all=_speak_on_every_core(ctx.cache, ctx.early)
                                         if ctx.speak_on_every_core else None,
                                         pcm_copy=copy, early=ctx.early)
    span = place(segment, spoken.narration, ctx.sound, ctx.assets, last)
    if spoken.narration.voice == "take":
        span = _within_pauses(span, spoken, ctx.sound.sfx_over_voice,
                               ctx.take_names.get(segment.slug) or take, warnings.append)
    # A span's audio does not depend on where it starts: editing one act re-mixes that act.
    key = cache_key(RENDER_VERSION, "span", repr(span), voiced, asdict(ctx.sound.ducking),
                    rate, ctx.sound.output.channels,
                    sorted({ctx.asset_hash[c.asset] for c in span.clips if c.asset}))
    return _Piece(spoken, span, key, tuple(warnings), copy)


def _speak_on_every_core(scratch: Path, early: Path | None = None):
    """narrate's speak_all on every core: the paragraphs in contiguous runs of about equal
    length, each run spoken by a worker into a file of its own in `scratch`, read back a
    paragraph at a time, in order (memory holds a paragraph, not the act)."""
    def speak_all(texts: list[str], rate: int, settings):
        runs = _runs(texts, 2 * (os.cpu_count() or 1), lambda text: 0 if speech.spoken(
            text, rate, settings, early) else len(text))  # what is left to speak, shared
        done = _in_parallel(_speak_run, [(run, rate, settings, scratch, early) for run in runs],
                            lambda fraction: None, scratch=scratch)
        try:
            for path, said in done:
                with open(path, "rb") as f:
                    for frames, sentences in said:
                        yield np.fromfile(f, "<f4", frames), sentences
        finally:
            for path, _ in done:
                Path(path).unlink(missing_ok=True)
    return speak_all


def _runs(texts: list[str], count: int, weight=len) -> list[list[str]]:
    """`texts` cut into at most `count` contiguous runs of about equal weight (length)."""
    ends = np.cumsum([weight(t) for t in texts])
    if not len(ends):
        return []
    cuts = np.searchsorted(ends, ends[-1] * np.arange(1, count) / count, side="right")
    bounds = sorted({0, *(int(c) for c in cuts), len(texts)})
    return [texts[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def _speak_run(texts: list[str], rate: int, settings, scratch: Path,
               early: Path | None = None):
    """A run of paragraphs in the draft voice into a temporary file: its path, and each
    paragraph's length in samples and sentences."""
    fd, path = tempfile.mkstemp(dir=scratch, prefix="speech-", suffix=f".tmp{os.getpid()}")
    said = []
    try:
        with os.fdopen(fd, "wb") as f:
            for text in texts:
                samples, sentences = speech.speak_paragraph(text, rate, settings, early)
                f.write(np.ascontiguousarray(samples, "<f4").data)
                said.append((len(samples), sentences))
    except BaseException:
        os.unlink(path)
        raise
    return path, said


@dataclass(frozen=True)
class _Mastered:
    measured: Measured  # the published MP3, as decoded (and each segment of it)
    gains: tuple[float, ...]  # each span's mastering gain
    trim_db: float  # the episode's correction, kept for the next build
    entries: tuple[str, ...]  # cache entries the build used
    warnings: tuple[str, ...]


def _segments(timeline: Timeline) -> list[tuple[int, int]]:
    """Each segment's run of spans [a, b): one span, or a draft act's scenes."""
    starts = [i for i, span in enumerate(timeline.spans) if span.part == 0]
    return list(zip(starts, [*starts[1:], len(timeline.spans)]))


def _master_and_encode(pieces: list[_Piece], ctx: _Context, work: Path, mp3: Path, tag,
                       trim: float | None, progress: Progress,
                       groups: list[tuple[int, int]]) -> _Mastered:
    """Each span mastered alone, the episode encoded in cached pieces on every core, its figures
    read off the pieces' measurements; while it misses the target by more than the tolerance
    or tops the ceiling: the episode's trim moves by the miss, and a span over the ceiling
    gets its limiter lowered by the overshoot (both remembered, so the next build starts
    there), and the pieces that changed are encoded again."""
    sound, out = ctx.sound, ctx.sound.output
    rate, channels = out.sample_rate, out.channels
    settings = _settings(sound)
    ffmpeg = find_ffmpeg()
    if trim is None:  # no build of the show has measured its encoder yet
        trim = _pilot_trim(pieces, ctx, work, ffmpeg, progress.update)
        if trim is not None:
            progress.note(f"{mp3.stem}: the encoder takes {trim:+.2f} LU off this show's "
                          "sound (measured on excerpts): the master makes it up")
        trim = trim or 0.0
    edge = segmentwise.edge_samples(rate)
    fmt = (rate, channels, out.bitrate_kbps)
    frames = [round(p.span.duration * rate) for p in pieces]
    starts = [int(x) for x in np.cumsum([0] + frames[:-1])]
    shifts = [_shift(ctx.cache, p.key) for p in pieces]
    store = segmentwise.PieceCache(ctx.cache / "pieces")
    digests = segmentwise.Digests(channels, edge, lambda k: ctx.cache / f"master-{k}.digests")
    audio: dict[str, Path] = {}  # master key → mastered audio made in this build
    passes, warnings = 0, []
    while True:
        passes += 1
        keys = [cache_key(RENDER_VERSION, "master", p.key, asdict(settings), round(trim, 2),
                          round(shift, 2)) for p, shift in zip(pieces, shifts)]
        spans = [segmentwise.SpanAudio(k, s, n, ctx.cache / f"master-{k}.head.npy",
                                       ctx.cache / f"master-{k}.tail.npy", audio.get(k))
                 for k, s, n in zip(keys, starts, frames)]
        plan_ = segmentwise.plan(spans, rate, PIECE_SECONDS)
        need = {i for i, k in enumerate(keys) if ctx.force and k not in audio or
                _master_entry(ctx.cache, k) is None or not digests.indexed(k)}
        piece_keys = [segmentwise.piece_key(pc, spans, fmt, ffmpeg, digests) for pc in plan_]
        need |= segmentwise.missing_audio(plan_, piece_keys, spans, store, edge)
        need -= {i for i, k in enumerate(keys) if k in audio}
        if need:
            bank = _bank(ctx.assets, out)
            for name in sorted({c.asset for i in need for c in pieces[i].span.clips if c.asset}):
                bank.segment(name)  # decoded and converted once: the forked workers inherit it
            audio.update(_master_spans({i: pieces[i] for i in sorted(need)},
                                       {i: keys[i] for i in need}, trim, shifts, work, ctx,
                                       progress.update))
            spans = [dataclasses.replace(s, audio=audio.get(s.key)) for s in spans]
            for i in sorted(need):
                digests.save(spans[i], plan_)
            piece_keys = [segmentwise.piece_key(pc, spans, fmt, ffmpeg, digests)
                          for pc in plan_]
            if None in piece_keys:  # every span read is mastered or indexed: cannot happen
                raise EncoderError(f"{mp3}: a piece's samples are unknown after mastering; run "
                                   "`podforge build --force`")
        if ctx.force and passes == 1:
            for k in piece_keys:  # --force encodes every piece again
                for path in (store._path(k), store.measures_path(k)):
                    Path(path).unlink(missing_ok=True)
        encode_file(mp3, segmentwise.reader(spans, channels, edge), starts[-1] + frames[-1],
                    rate=rate, channels=channels, bitrate_kbps=out.bitrate_kbps,
                    before_commit=tag, cuts=segmentwise.cuts(spans, rate),
                    piece_seconds=PIECE_SECONDS, cache=store,
                    key=lambda piece: piece_keys[piece.index],
                    encoder=segmentwise.measuring_encoder(store, rate, channels,
                                                          out.bitrate_kbps, ffmpeg),
                    ffmpeg=ffmpeg)
        measured = segmentwise.measured(piece_keys, store, spans, rate, channels)
        miss = settings.target_lufs - measured.whole.integrated_lufs
        ceiling = settings.ceiling_dbtp - settings.peak_margin_db
        over = [m.true_peak_dbtp - ceiling for m in measured.segments]
        good = abs(miss) <= settings.tolerance_lu and max(over) <= 0
        if good or passes >= settings.max_passes or not np.isfinite(miss):
            break
        progress.note(f"{mp3.stem}: the MP3 measures {measured.whole.integrated_lufs:.2f} LUFS, "
                      f"{measured.whole.true_peak_dbtp:.2f} dBTP (target "
                      f"{settings.target_lufs:g} LUFS, ceiling {settings.ceiling_dbtp:g} dBTP): "
                      f"mastering and encoding again, pass {passes + 1}")
        if abs(miss) > settings.tolerance_lu / 2:
            trim = round(trim + miss, 2)
        for i, o in enumerate(over):
            if o > -0.05:
                shifts[i] = round(shifts[i] + o + 0.2, 2)
                save_json(ctx.cache / f"span-{pieces[i].key}.json", {"ceiling_shift": shifts[i]})
    if not good:
        whole = measured.whole
        warnings.append(f"{mp3}: measures {whole.integrated_lufs:.1f} LUFS, "
                        f"{whole.true_peak_dbtp:.1f} dBTP after {passes} passes (target "
                        f"{settings.target_lufs:g} LUFS, ceiling {settings.ceiling_dbtp:g} dBTP)")
    measured = segmentwise.measured(piece_keys, store, spans, rate, channels,
                                    [(spans[a].start, spans[b - 1].end) for a, b in groups])
    gains = tuple((_master_entry(ctx.cache, k) or {}).get("gain_db", 0.0) for k in keys)
    entries = ([f"master-{k}" for k in keys]
               + [f"span-{p.key}" for p in pieces if (ctx.cache / f"span-{p.key}.json").is_file()]
               + [f"pieces/{k}" for k in piece_keys])
    return _Mastered(measured, gains, trim, tuple(entries), tuple(warnings))


PIECE_SECONDS = 60.0  # the longest piece: fine enough to cache, long enough to start ffmpeg


def _learned_trim(path: Path, slug: str) -> float | None:
    """Where an episode's trim starts, for the show's loudness, format and mastering: the
    episode's own from its last build, else the show's last (what the encoder takes away
    belongs to the show's sound and bitrate more than to one episode), else None: nothing
    learned yet (a new show, or a new bitrate), so the build measures it first. Each is then
    measured on target the first time instead of mastered and encoded twice."""
    try:
        data = json.loads(path.read_text())
        own = data.get("episodes", {}).get(slug)
        return float(data["trim_db"] if own is None else own)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _learn_trim(path: Path, slug: str, trim: float) -> None:
    try:
        episodes = dict(json.loads(path.read_text()).get("episodes", {}))
    except (OSError, ValueError, TypeError, AttributeError):
        episodes = {}
    save_json(path, {"trim_db": trim, "episodes": {**episodes, slug: trim}})


def _shift(cache: Path, key: str) -> float:
    try:
        return float(json.loads((cache / f"span-{key}.json").read_text())["ceiling_shift"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def _master_entry(cache: Path, key: str) -> dict | None:
    """A mastered span's kept entry (its settings and edges), or None if any part is missing."""
    stem = cache / f"master-{key}"
    try:
        data = json.loads(stem.with_suffix(".json").read_text())
        parts = [stem.with_suffix(p) for p in (".json", ".head.npy", ".tail.npy")]
        for part in parts[1:]:  # small: checked whole, a damaged one remade
            if np.load(part).ndim != 2:
                return None
        touch(*parts)
        return data
    except (OSError, ValueError, EOFError):
        return None


BLOCK_STEPS = 300  # loudness steps (100 ms) per block a span is mixed and limited in: 30 s


def _blocks(frames: int, rate: int) -> list[tuple[int, int]]:
    """A span's blocks: whole loudness steps each, so their steps join into the span's."""
    size = BLOCK_STEPS * (rate // 10)
    starts = list(range(0, max(frames, 1), size))[:max(1, round(frames / size))]  # no short
    # last one, and one block (maybe empty) even for an empty span
    return list(zip(starts, [*starts[1:], frames]))


def _master_spans(pieces: dict[int, _Piece], keys: dict[int, str], trim: float,
                  shifts: list[float], work: Path, ctx: _Context, tick) -> dict[str, Path]:
    """Mix each span (pydub) and master it alone, a block at a time on every core, so one long
    act uses both cores too: its gain from its own loudness (voice-anchored) plus the
    episode's trim, the limiter's loss predicted on excerpts, its limiter below the ceiling
    by the encoder's headroom and its learned shift. A long span is limited once at the
    predicted gain; a short one whose whole run misses its aim runs again at the search's
    next gain (pipeline.build.mastering). Each block runs in from
    WARM_S before it, so the joins are seamless. The mastered audio goes to `work` (this
    build's); its settings and edges to the cache."""
    sound, out = ctx.sound, ctx.sound.output
    rate, channels = out.sample_rate, out.channels
    settings = _settings(sound)
    sizes = {i: round(p.span.duration * rate) for i, p in pieces.items()}
    blocks = {i: _blocks(n, rate) for i, n in sizes.items()}
    warm = round(mastering.WARM_S * rate)

    # 1. The mixes (one made earlier in this build is read back).
    mixes = _mixes(pieces, ctx, work, tick)

    # 2. Each span's first plan, the limiter's loss predicted on its excerpts.
    firsts = {}
    for i, m in mixes.items():
        first = _first_plan(m, pieces[i], settings, rate, channels)
        firsts[i] = dataclasses.replace(first, gain_db=first.gain_db + trim,
                                        aim_lufs=first.aim_lufs + trim,
                                        ceiling_dbtp=first.ceiling_dbtp - shifts[i])
    order = list(mixes)
    # A span long enough to learn its limiter's loss on excerpts is mastered at the predicted
    # gain in one run, not metered whole: the published MP3's measurement, piece by piece,
    # is the check (a miss moves the episode's trim, as the encoder's does).
    trusted = {i for i in order if mastering.predicts(
        _source(mixes[i], pieces[i].spoken.voice_lufs, channels), rate)}
    guessed = [dataclasses.replace(g, gain_db=loudness.on_grid(g.gain_db)) for g in
               _in_parallel(_predict, [(mixes[i], pieces[i].spoken.voice_lufs, firsts[i], rate,
                                        channels) for i in order], tick)]
    searches = {i: mastering.Search(g, start=firsts[i].gain_db) for i, g in zip(order, guessed)}

    # 3. Limited runs, block by block, until each span measures its aim. A span of one block
    #    runs its search in its worker (no round of its own while the long spans wait).
    done: dict[str, Path] = {}
    todo = order
    while todo:
        runs = _in_blocks(_limit_block, todo, blocks, sizes, 2 * channels,
                          lambda i: work / f"master-{keys[i]}",
                          lambda i, f0, f1, tmp: (mixes[i].audio_file, f0, f1, sizes[i],
                                                  searches[i].master, tmp, warm, rate,
                                                  channels,
                                                  searches[i] if len(blocks[i]) == 1 else None,
                                                  i not in trusted),
                          tick)  # a span of one block comes back with its settled search
        again = []
        for i, (run, results) in runs.items():
            alone = len(blocks[i]) == 1  # searched in its worker, as asked above
            if alone:
                searches[i] = results[0][3]
            master = searches[i].master
            if not alone and i not in trusted and not searches[i].settled(
                    loudness.LoudnessMeter.integrated_of(
                        np.concatenate([r[0] for r in results]), rate)):
                again.append(i)
                continue
            head, tail = results[0][1], results[-1][2]
            target = run.with_suffix(".pcm")
            os.replace(run, target)
            stem = ctx.cache / f"master-{keys[i]}"
            save_array(stem.with_suffix(".head.npy"), head)
            save_array(stem.with_suffix(".tail.npy"), tail)
            save_json(stem.with_suffix(".json"), {"gain_db": round(master.gain_db, 3),
                                                  "ceiling_dbtp": round(master.ceiling_dbtp, 3),
                                                  "frames": sizes[i]})
            done[keys[i]] = target
        todo = again
    return done


def _mixes(pieces: dict[int, _Piece], ctx: _Context, work: Path, tick) -> dict[int, Rendered]:
    """Each span mixed (pydub) into `work`, a block at a time on every core; one mixed earlier
    in this build is read back."""
    rate, channels = ctx.sound.output.sample_rate, ctx.sound.output.channels
    sizes = {i: round(p.span.duration * rate) for i, p in pieces.items()}
    blocks = {i: _blocks(n, rate) for i, n in sizes.items()}
    warm = round(mastering.WARM_S * rate)
    mixes = {i: load_span(work / f"mix-{p.key}", sizes[i], channels) for i, p in pieces.items()}
    todo = [i for i, m in mixes.items() if m is None]
    made = _in_blocks(_mix_block, todo, blocks, sizes, 4 * channels,
                      lambda i: work / f"mix-{pieces[i].key}",
                      lambda i, f0, f1, tmp: (pieces[i], f0, f1, tmp, warm, ctx), tick)
    for i, (run, results) in made.items():
        steps = np.concatenate([r[0] for r in results])
        path = run.with_suffix(".f32")
        os.replace(run, path)
        save_array(path.with_suffix(".steps.npy"), steps)
        mixes[i] = Rendered(path, sizes[i], steps)
    return mixes


def _first_plan(mix: Rendered, piece: _Piece, settings: mastering.MasterSettings, rate: int,
                channels: int) -> mastering.SpanMaster:
    return mastering.first_plan([_source(mix, piece.spoken.voice_lufs, channels)], rate,
                                settings)[0]


def _pilot_trim(pieces: list[_Piece], ctx: _Context, work: Path, ffmpeg: str, tick
                ) -> float | None:
    """A show's first build has learned no trim: what the encoder takes away is measured
    first, on a second in twelve of each span (DROP_EXCERPTS in all, shared by length),
    limited at its first plan's gain and encoded and decoded as the pieces will be, so that
    the first pass lands on the target instead of being mastered and encoded twice. (The gain
    the prediction adds, a few tenths of a dB, moves what the encoder takes by under a
    hundredth of a LU: measured 0.44 LU either way on the bench's episode.) The mixes it
    makes are the pass's. None: nothing to measure it on (silence throughout)."""
    out = ctx.sound.output
    rate, channels = out.sample_rate, out.channels
    settings = _settings(ctx.sound)
    spans = dict(enumerate(pieces))
    mixes = _mixes(spans, ctx, work, tick)
    shares = mastering.drop_shares([mixes[i].frames for i in spans])
    drops = _in_parallel(_encoder_drop, [
        (mixes[i], p.spoken.voice_lufs, _first_plan(mixes[i], p, settings, rate, channels),
         rate, channels, out.bitrate_kbps, ffmpeg, share)
        for (i, p), share in zip(spans.items(), shares)], tick)
    known = [(d, mixes[i].frames) for i, d in zip(spans, drops) if d is not None and
             np.isfinite(d)]
    if not known:
        return None
    return round(float(np.average([d for d, _ in known], weights=[n for _, n in known])), 2)


def _encoder_drop(mix: Rendered, voice_lufs: float, first: mastering.SpanMaster, rate: int,
                  channels: int, bitrate: int, ffmpeg: str, most: int) -> float | None:
    return mastering.encoder_drop(_source(mix, voice_lufs, channels), rate, channels, first,
                                  lambda pcm: segmentwise.round_trip(pcm, rate, channels,
                                                                     bitrate, ffmpeg), most)


def _source(mix: Rendered, voice_lufs: float, channels: int) -> mastering.SpanSource:
    return mastering.SpanSource(mastering.raw_blocks(mix.audio_file, channels), mix.frames,
                                mix.steps, voice_lufs, mastering.raw_reader(mix.audio_file,
                                                                            channels))


def _predict(mix: Rendered, voice_lufs: float, first: mastering.SpanMaster, rate: int,
             channels: int) -> mastering.SpanMaster:
    return mastering.predict(_source(mix, voice_lufs, channels), rate, channels, first)


def _in_blocks(fn, spans: list[int], blocks, sizes, frame_bytes: int, stem, job,
               tick) -> dict[int, tuple[Path, list]]:
    """fn over every block of every span, on every core, each writing its frames into its
    span's `.run` file (made to size first, `frame_bytes` a frame): per span, that file and
    its blocks' results in order. The spans take turns in the queue, so the workers at any
    moment mostly write different files (writers of one file wait on its lock: spinning on it
    cost 0.4 CPU-s a 30-minute build)."""
    files = {}
    for i in spans:
        files[i] = stem(i).with_suffix(".run")
        with open(files[i], "wb") as f:
            f.truncate(sizes[i] * frame_bytes)
    jobs = [(i, *blocks[i][k]) for k in range(max((len(blocks[i]) for i in spans), default=0))
            for i in spans if k < len(blocks[i])]
    results = _in_parallel(fn, [job(i, f0, f1, files[i]) for i, f0, f1 in jobs], tick)
    return {i: (files[i], [r for (j, _, _), r in zip(jobs, results) if j == i]) for i in spans}


_DUCKS: dict[str, np.ndarray] = {}  # a worker's last span's ducking envelope, by mix key


def _mix_block(piece: _Piece, f0: int, f1: int, path: Path, warm: int, ctx: _Context):
    """Frames [f0, f1) of a span's mix into `path`; their loudness steps."""
    sound, out = ctx.sound, ctx.sound.output
    if piece.key not in _DUCKS:
        _DUCKS.clear()
        _DUCKS[piece.key] = duck_levels(piece.span, piece.spoken, sound.ducking)
    with open(path, "r+b") as sink:
        sink.seek(f0 * 4 * out.channels)
        return (mix_range(piece.span, piece.spoken, _bank(ctx.assets, out),
                          sound.ducking, out.sample_rate, out.channels, f0, f1, sink,
                          warm=warm, duck=_DUCKS[piece.key], voice=piece.voice_file),)


def _limit_block(mix: Path, f0: int, f1: int, frames: int, master: mastering.SpanMaster,
                 path: Path, warm: int, rate: int, channels: int,
                 search: mastering.Search | None = None, metered: bool = True):
    """Frames [f0, f1) of a span through its gain and limiter into `path`, run in from `warm`
    frames before f0 (the limiter's and filters' memory is shorter): their loudness steps
    (none unless `metered`), and the span's first and last edge frames where this block holds
    them. Given the span's search (the block is the whole span), it runs again until the
    search settles, and the search comes back too."""
    while True:
        steps, head, tail = _limited_block(mix, f0, f1, frames, master, path, warm, rate,
                                           channels, metered or search is not None)
        if search is None:
            return steps, head, tail
        if search.settled(loudness.LoudnessMeter.integrated_of(steps, rate)):
            return steps, head, tail, search
        master = search.master


def _limited_block(mix: Path, f0: int, f1: int, frames: int, master: mastering.SpanMaster,
                   path: Path, warm: int, rate: int, channels: int, metered: bool = True):
    edge = min(segmentwise.edge_samples(rate), frames)
    lead = max(0, f0 - warm)
    read = mastering.raw_reader(mix, channels)

    def blocks():
        for a in range(lead, f1, 1 << 17):
            yield read(a, min(f1, a + (1 << 17)))

    meter = loudness.LoudnessMeter(rate, channels) if metered else None
    head, tail, at = [], np.zeros((0, channels), np.float32), lead
    with open(path, "r+b") as sink:
        sink.seek(f0 * 2 * channels)
        for block in mastering.limited(blocks(), channels, rate, master):
            if at < f0:  # the run-in
                skip = min(len(block), f0 - at)
                if meter:
                    meter.power(block[:skip])
                block, at = block[skip:], at + skip
            if len(block):
                pcm = pcm16(block)
                sink.write(pcm.data)
                edges = at < edge or at + len(block) > frames - edge
                if meter or edges:
                    block = from_pcm16(pcm)  # the meter and the edges hold what the file holds
                if meter:
                    meter.add(block)
                if at < edge:
                    head.append(block[:edge - at])
                if at + len(block) > frames - edge:
                    tail = np.concatenate([tail, block])[-edge:]
                at += len(block)
    if f0 == 0:
        head = np.concatenate(head) if head else np.zeros((0, channels), np.float32)
    return (meter.steps() if meter else np.zeros(0), head if f0 == 0 else None,
            tail if f1 == frames else None)


def _in_parallel(fn, jobs: list[tuple], tick, scratch: Path | None = None,
                 meanwhile=lambda: None) -> list:
    """Independent jobs on every core: narration and mixing are CPU-bound and share nothing.

    Workers are forked, so they start in milliseconds with podforge already imported. One
    worker a core: twice as many cost a fifth more CPU in narration, mix and limiter (more
    heaps and caches to fill, more switching; measured on the bench's 30 minutes, 7.9 against
    9.4 CPU-s), and the jobs are small enough (30-s blocks, scenes longest first) to share
    the cores evenly without them. Workers ignore Ctrl-C: on an interrupt (or any failure)
    this process kills them and removes the temporary files they leave in `scratch` (named
    `*.tmp<pid>`, `*.tmp<pid>.<ext>` or `.*.<pid>.tmp`), so nothing half-made remains.
    `meanwhile()` runs in this process once the workers are forked (in this thread: no thread
    of ours runs as a pool forks).
    """
    cores = os.cpu_count() or 1
    workers = min(len(jobs), cores)
    if workers < 2:
        results = []
        for n, job in enumerate(jobs, start=1):
            results.append(fn(*job))
            tick(n / len(jobs))
        meanwhile()
        return results
    _before_forking()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                             initializer=_ignore_interrupts) as pool:
        try:
            futures = [pool.submit(fn, *job) for job in jobs]
            meanwhile()
            for n, _ in enumerate(as_completed(futures), start=1):
                tick(n / len(jobs))
            return [f.result() for f in futures]
        except BaseException:
            _stop_workers(pool, scratch)
            raise


def _before_forking() -> None:
    """What each worker would load for itself on first use, loaded here for the forked workers
    to inherit (once: both are kept): the meters' filter kernel (scipy's) and numpy.ma, which
    np.percentile imports on its first call. Each took 20-60 ms in every worker of every pool."""
    import numpy.ma  # noqa: F401

    from pipeline.audio import biquads

    biquads.preload()


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_workers(pool: ProcessPoolExecutor, scratch: Path | None) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.kill()
    pool.shutdown(wait=True, cancel_futures=True)
    for process in processes:
        process.join()
        if scratch is not None:
            for pattern in (f"*.tmp{process.pid}", f"*.tmp{process.pid}.*",
                            f".*.{process.pid}.tmp"):
                for left in scratch.glob(pattern):
                    left.unlink(missing_ok=True)


def _title(script: Script, slug: str) -> str | None:
    return next((s.title for s in script.segments if s.slug == slug), None)


def _cover(project: Project) -> tuple[bytes | None, str | None]:
    show = project.show
    cover = read_cover(show)  # the one loader: the feed refuses the same art the tags would
    if cover is not None:
        return cover.data, cover.mime
    return cover_art(show.title, 600), "image/png"  # the publish stage draws the same, larger


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
