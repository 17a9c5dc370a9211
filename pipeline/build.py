"""`podforge build`: script → narration → Timeline → rendered spans → MP3 and its companions.

Every stage's output is cached under a key made of everything that decides it (text, take and
asset content, settings, podforge's render version), so an unchanged episode does no audio work
and an edit to one act re-renders that act alone before the final encode.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from . import audio, narrate as narration_stage
from .artwork import cover_art, image_size
from .encode import find_ffmpeg
from .errors import AudioError, PodforgeError
from .manifest import Asset
from .model import Cue, Narration, Script, Segment, Span
from .plan import check_sound, describe, estimate, named_music, place, plan, sequence
from .progress import Progress
from .project import Project, episode_slug
from .show import SoundDesign
from .files import inside, save_json, write_text
from .render import AssetBank, Rendered, load_span, master, render_span
from .tags import write_tags
from .transcript import Line, chapters_json, split_long, srt, vtt

RENDER_VERSION = "1"  # bump when a change to the code changes the audio


# Findings that leave nothing to build, even with --no-validate: a cue that names no sound or
# cannot be read, a slug that is no name for a folder.
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
    report: dict
    fresh: bool  # False when nothing had changed


class Hashes:
    """Content hashes of files, remembered by (path, size, mtime) so each file is read once."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._known = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._known = {}
        self._dirty = False

    def __call__(self, file: Path) -> str:
        try:
            st = file.stat()
            key = f"{file.resolve()}|{st.st_size}|{st.st_mtime_ns}"
            if key not in self._known:
                digest = hashlib.sha256()
                with open(file, "rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
                self._known[key] = digest.hexdigest()
                self._dirty = True
        except OSError as err:
            raise AudioError(f"{file}: cannot read it ({err.strerror}); check the file") from None
        return self._known[key]

    def save(self) -> None:
        if self._dirty:
            save_json(self.path, self._known)


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _segment_key(segment: Segment) -> list:
    return [segment.kind, segment.number,
            [(i.kind, i.name, i.seconds) if isinstance(i, Cue) else i.text
             for i in segment.body()]]


def takes_for(project: Project, script: Script, folder: Path,
              takes_only: bool) -> dict[str, Path | None]:
    takes = {s.slug: narration_stage.find_take(folder / "takes", s) for s in script.segments}
    for take in takes.values():  # a take linked from outside the show is refused
        if take is not None:
            inside(project.root, take, "this take", project.show.allow_outside)
    missing = [slug for slug, take in takes.items() if take is None]
    if takes_only and missing:
        expected = folder / "takes" / f"{missing[0]}.wav"
        raise PodforgeError(f"{expected}: no take for the {missing[0]} segment (--takes-only); "
                            "record it as WAV, FLAC, OGG or MP3, or build without --takes-only")
    return takes


@dataclass(frozen=True)
class Prepared:
    """A script the build may start on: read, validated, its assets known."""

    path: Path
    script: Script
    assets: dict[str, Asset]
    slug: str


def prepare(project: Project, script_path: Path, strict: bool = True,
            say=lambda line: None) -> Prepared:
    """What every build (and --plan) needs: the show, the script, its assets, validated.

    The validator's rules are the build's rules: its findings are printed through `say` as
    `podforge validate` prints them, and any error stops the build (with strict=False, only
    what cannot be built at all does).
    """
    from .validate import validate

    show = project.show
    if show is None:
        raise PodforgeError("no show.yaml here or above: the build needs the show's sound design")
    script = project.read(script_path)
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
    slug = episode_slug(script_path, script)
    inside(project.root, project.root / "build" / slug, "the build folder", show.allow_outside)
    return Prepared(script_path, script, assets, slug)


def plan_only(project: Project, script_path: Path, strict: bool = True,
              say=lambda line: None) -> str:
    """The Timeline for review, with narration lengths estimated unless already rendered."""
    ready = prepare(project, script_path, strict, say)
    show, script, assets = project.show, ready.script, ready.assets
    takes = takes_for(project, script, script_path.parent, False)
    narrations = {}
    for s in script.segments:
        take = takes[s.slug]
        if take:
            info = audio.probe(take)
            narrations[s.slug] = Narration(s.slug, info.seconds, estimate(
                s, show.sound.voice.words_per_minute).cue_times, "take")
        else:
            narrations[s.slug] = estimate(s, show.sound.voice.words_per_minute)
    timeline = plan(script, show.sound, assets, narrations)
    return f"{script_path} (draft narration lengths estimated from the word count)\n" + \
        describe(timeline)


def build_episode(project: Project, ready: Prepared, options: Options,
                  progress: Progress) -> Built:
    show, script, assets, slug = project.show, ready.script, ready.assets, ready.slug
    script_path = ready.path
    sound, out = show.sound, show.sound.output
    rate, channels = out.sample_rate, out.channels
    cache = project.root / ".podforge-cache"
    inside(project.root, cache, "the cache folder", show.allow_outside)
    cache.mkdir(exist_ok=True)
    folder = project.root / "build" / slug
    hashes = Hashes(cache / "hashes.json")
    takes = takes_for(project, script, script_path.parent, options.takes_only)
    asset_hash = {name: hashes(a.path) for name, a in assets.items() if a.path.is_file()}
    missing = sorted(set(assets) - set(asset_hash))
    if missing:
        path = assets[missing[0]].path
        hint = "run `python assets/synth.py`" if (path.parent / "synth.py").is_file() else \
            "add the file, or take the entry out of the manifest"
        raise PodforgeError(f"{path}: asset {missing[0]!r} is in the manifest but its file is "
                            f"missing; {hint}")

    # 1. Each segment on its own: narration (take or draft voice), its span, its mix. Each is
    #    cached by content; what is missing is made on every core at once.
    context = _Context(cache, sound, assets, asset_hash, options.force)
    last = len(script.segments) - 1
    todo = [(segment, take, _key(RENDER_VERSION, "narration", _segment_key(segment), rate,
                                 hashes(take) if take else asdict(sound.voice)), i == last, context)
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
            bank[name]  # decoded here, once: the forked workers inherit it
    for i, piece in zip(missing, _in_parallel(_segment, [todo[i] for i in missing],
                                               progress.update, scratch=cache)):
        pieces[i] = piece
        for message in piece.warnings:
            progress.note(f"warning: {message}")
    pieces = [pieces[i] for i in range(len(todo))]
    timeline = sequence([p.span for p in pieces], sound)
    spoken = {p.span.slug: p.spoken for p in pieces}
    span_keys = [p.key for p in pieces]
    chapters = [(span.label, round(span.start * 1000)) for span in timeline.spans]
    total_ms = round(timeline.duration * 1000)
    meta = script.metadata
    cover, cover_mime = _cover(project)
    tags = {"title": meta.title or slug, "artist": show.author or show.host, "album": show.title,
            "date": meta.date.isoformat() if meta.date else "", "comment": meta.summary or "",
            "cover": hashlib.sha256(cover).hexdigest() if cover else None}
    mp3_name = f"{slug}.mp3"
    final_key = _key(RENDER_VERSION, "master", span_keys, asdict(sound.loudness),
                     asdict(out), tags, chapters, mp3_name, show.host)  # host: the transcripts' voice
    report_path = folder / "report.json"
    previous = _read_report(report_path)
    if not options.force and previous.get("key") == final_key and _outputs_whole(folder,
                                                                                  previous):
        hashes.save()
        progress.note(f"{slug}: up to date")
        return Built(slug, folder, previous, fresh=False)

    rendered = [p.rendered for p in pieces]

    # 2. Master and encode; tags go into the temporary file before it takes the final name.
    folder.mkdir(parents=True, exist_ok=True)
    ends = [ms for _, ms in chapters[1:]] + [total_ms]
    chap_frames = [(f"chp{i}", title, start, end)
                   for i, ((title, start), end) in enumerate(zip(chapters, ends))]

    def tag(path: str) -> None:
        write_tags(path, title=tags["title"], artist=tags["artist"], album=tags["album"],
                   date=tags["date"], comment=tags["comment"], cover=cover,
                   cover_mime=cover_mime, chapters=chap_frames)

    progress.stage(slug, "master and encode")
    mastered = master(rendered, rate, channels, sound.loudness.integrated_lufs,
                      sound.loudness.true_peak_dbtp, folder / mp3_name, out.bitrate_kbps,
                      find_ffmpeg(), tag, tick=progress.update)

    # 3. The companions: chapters, transcripts, report (last: it marks the build complete).
    lines = [Line(span.start + span.voice_start + a, span.start + span.voice_start + b, text,
                  show.host)
             for span in timeline.spans for a, b, text in spoken[span.slug].sentences]
    lines = split_long(lines)
    files = {"chapters_file": "chapters.json", "transcript_vtt": "transcript.vtt",
             "transcript_srt": "transcript.srt"}
    write_text(folder / files["chapters_file"], chapters_json(chapters, meta.title))
    write_text(folder / files["transcript_vtt"], vtt(lines))
    write_text(folder / files["transcript_srt"], srt(lines))
    report = {
        "audio": mp3_name,
        "duration_seconds": mastered.seconds,
        "integrated_lufs": mastered.integrated_lufs,
        "true_peak_dbtp": mastered.true_peak_dbtp,
        "chapters": [{"title": t, "start_seconds": ms / 1000} for t, ms in chapters],
        "segments": [{"kind": span.kind, "number": span.number,
                      "title": _title(script, span.slug), "start_seconds": span.start,
                      "end_seconds": round(span.start + span.duration, 3), "voice": span.voice}
                     for span in timeline.spans],
        "files": files,
        "bytes": (folder / mp3_name).stat().st_size,
        "gain_db": mastered.gain_db,
        "key": final_key,
        "cache": sorted([f"span-{p.key}" for p in pieces] +
                        [p.spoken.audio_file.stem for p in pieces]),
    }
    save_json(report_path, report)
    hashes.save()
    progress.note(f"{slug}: {folder / mp3_name} {mastered.seconds / 60:.1f} min, "
                  f"{mastered.integrated_lufs:.1f} LUFS, {mastered.true_peak_dbtp:.1f} dBTP")
    return Built(slug, folder, report, fresh=True)


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
                                         warnings.append)
    span = place(segment, spoken.narration, ctx.sound, ctx.assets, last)
    # A span's audio does not depend on where it starts: editing one act re-renders that act.
    key = _key(RENDER_VERSION, "span", repr(span), narration_key, asdict(ctx.sound.ducking),
               rate, channels, sorted({ctx.asset_hash[c.source[6:]] for c in span.clips
                                       if c.source.startswith("asset:")}))
    span_stem = ctx.cache / f"span-{key}"
    rendered = None if ctx.force else load_span(span_stem, round(span.duration * rate), channels)
    if rendered is None:
        if cached_only:
            return None
        rendered = render_span(span, spoken, AssetBank(ctx.assets, rate, channels),
                               ctx.sound.ducking, rate, channels, span_stem)
    return _Piece(spoken, span, key, rendered, tuple(warnings))


def _in_parallel(fn, jobs: list[tuple], tick, scratch: Path | None = None) -> list:
    """Independent jobs on every core: narration and mixing are CPU-bound and share nothing.

    Workers are forked, so they start in milliseconds with podforge already imported. Twice as
    many workers as cores: an episode's few big acts then share the cores evenly instead of
    one core idling while another finishes the last act. Workers ignore Ctrl-C: on an
    interrupt (or any failure) this process kills them and removes the temporary files they
    leave in `scratch` (named `*.tmp<pid>`), so nothing half-made remains.
    """
    cores = os.cpu_count() or 1
    workers = min(len(jobs), 2 * cores) if cores > 1 else 1
    if workers < 2:
        results = []
        for n, job in enumerate(jobs, start=1):
            results.append(fn(*job))
            tick(n / len(jobs))
        return results
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                             initializer=_ignore_interrupts) as pool:
        try:
            futures = [pool.submit(fn, *job) for job in jobs]
            for n, _ in enumerate(as_completed(futures), start=1):
                tick(n / len(jobs))
            return [f.result() for f in futures]
        except BaseException:
            _stop_workers(pool, scratch)
            raise


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
            for left in scratch.glob(f"*.tmp{process.pid}"):
                left.unlink(missing_ok=True)


def _title(script: Script, slug: str) -> str | None:
    return next((s.title for s in script.segments if s.slug == slug), None)


def _cover(project: Project) -> tuple[bytes | None, str | None]:
    show = project.show
    if show and show.artwork:
        path = show.resolve(show.artwork, "artwork")
        try:
            data = path.read_bytes()
        except OSError:
            raise PodforgeError(f"{path}: artwork named in show.yaml cannot be read") from None
        if image_size(data) is None:
            raise PodforgeError(f"{path}: artwork must be a PNG or JPEG image")
        return data, None  # the tag writer tells PNG from JPEG by the bytes
    return cover_art(show.title, 600), "image/png"  # the publish stage draws the same, larger


def _read_report(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _outputs_whole(folder: Path, report: dict) -> bool:
    mp3 = folder / report.get("audio", "")
    files = report.get("files", {}).values()
    return mp3.is_file() and mp3.stat().st_size == report.get("bytes") and all(
        (folder / f).is_file() for f in files)


def build(project: Project, scripts: list[Path], options: Options,
          progress: Progress) -> list[Built]:
    ffmpeg = find_ffmpeg()  # no working encoder: say so before any work
    ready = [prepare(project, path, options.validate, progress.finding) for path in scripts]
    progress.note(f"ffmpeg: {ffmpeg}")
    built = [build_episode(project, r, options, progress) for r in ready]
    prune_cache(project.root)
    progress.close()
    return built


def prune_cache(root: Path, grace: float = 3600.0) -> int:
    """Delete cached narrations and spans no episode's build report still uses.

    Spans are raw audio (a 30-minute episode is about 650 MB), so every edit would otherwise
    leave one behind. Entries younger than `grace` seconds are kept: another build may be
    writing them right now.
    """
    used: set[str] = set()
    for report in root.glob("build/*/report.json"):
        used.update(_read_report(report).get("cache", []))
    removed, now = 0, time.time()
    for path in (root / ".podforge-cache").glob("*-*"):
        stem = path.name.split(".", 1)[0]
        if not stem.startswith(("span-", "narration-")) or stem in used:
            continue
        try:  # a concurrent build may be pruning, or renaming into place, the same entries
            if now - path.stat().st_mtime > grace:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
