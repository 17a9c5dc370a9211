"""Each segment's narration as audio on disk: a recorded take, else the draft voice.

Narration is written as raw float32 mono, piece by piece, so a long act never sits whole in
memory, then levelled and kept in the cache as 16-bit FLAC: a take at the show's rate, the draft
voice at its own (espeak-ng speaks at 22.05 kHz: levelled, kept and read at half the cost, and
resampled as it is mixed). Alongside it go what later stages need and can no longer
hear: where each cue falls, when the voice actually speaks (for ducking), and the timed
sentences (for the transcript).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from pipeline.audio import bandlimit, decode, dynamics

from pipeline.audio import voice
from pipeline.build import speech
from pipeline.audio.leveler import LevelerSettings, level_file
from pipeline.model import Cue, Narration, Segment
from pipeline.build.plan import PARAGRAPH_GAP, cue_gap
from pipeline.files import save_array, save_json
from pipeline.show import Voice
from pipeline.build.takes import FFMPEG_TYPES

HOP = 0.01  # seconds per voice-activity step


@dataclass(frozen=True)
class Spoken:
    """A narration rendered to `audio_file`: the plan's Narration plus the transcript's lines."""

    narration: Narration
    audio_file: Path  # mono: 16-bit FLAC in the cache (raw float32 accepted)
    activity_file: Path  # bool per HOP, .npy
    sentences: tuple[tuple[float, float, str], ...]  # seconds into the narration
    voice_lufs: float = float("-inf")  # the levelled speech's loudness (-inf: no speech)
    alignment: dict | None = None  # a take's align.Alignment.to_dict()
    findings: tuple[str, ...] = ()  # the take against its script, in the linter's form
    rate: int | None = None  # the audio file's sample rate, if not the show's


def narrate(segment: Segment, take: Path | None, rate: int, settings: Voice, stem: Path,
            warn=lambda message: None, leveler: LevelerSettings = LevelerSettings(),
            *, language: str = "en", script: str = "script.md",
            take_name: str | None = None, speak_all=None, pcm_copy: Path | None = None,
            early: Path | None = None) -> Spoken:
    """Render the narration to `stem`.flac (+ .npy, .json), levelled to the leveler's speech
    loudness (a take and the draft voice alike); a failure leaves nothing behind.

    `speak_all(texts, rate, settings)`, if given, yields each paragraph's draft speech as
    speech.speak_paragraph() would, in order (`early`: an early speaker's folder, read where
    it has spoken a paragraph already): the build hands one that speaks them on every core when
    this segment is the only one to narrate (an edited act). With `pcm_copy`, the levelled
    samples also go there as raw 16-bit PCM, for this build's mix (see level_file)."""
    flac, act = stem.with_suffix(".flac"), stem.with_suffix(".npy")
    tmp = stem.with_suffix(f".tmp{os.getpid()}")  # names the interrupt cleanup knows
    try:
        own = rate if take else voice.output_rate()
        with open(tmp, "wb") as sink:
            if take:
                seconds, cues, sentences, extra = _take(
                    segment, take, rate, sink, warn, language, script, take_name or str(take))
            else:
                extra = {}
                seconds, cues, sentences = _draft(segment, own, settings, sink,
                                                  speak_all or partial(
                                                      speech.speak_serially, early=early))
        # Where the voice speaks is read on a second thread while the narration is levelled
        # into its FLAC (numpy, scipy and libsndfile let go of the GIL): an edited act is one
        # segment narrated alone, and this is most of what it waits on.
        with ThreadPoolExecutor(1, thread_name_prefix="activity") as side:
            activity = side.submit(_activity, str(tmp), own)
            plan = level_file(tmp, flac, own, leveler, name=str(take or segment.slug),
                              pcm_copy=pcm_copy, lowpass_hz=bandlimit.LOWPASS_HZ)
            save_array(act, activity.result())  # the .json, written last, marks it complete
        for message in plan.warnings:
            warn(message)
    finally:
        tmp.unlink(missing_ok=True)
    spoken = Spoken(Narration(segment.slug, seconds, tuple(cues), "take" if take else "draft"),
                    flac, act, tuple(sentences), float(plan.levelled_lufs), **extra,
                    rate=None if own == rate else own)
    _save(spoken, stem.with_suffix(".json"))
    return spoken


def load(segment: Segment, stem: Path) -> Spoken | None:
    """A narration rendered before with the same key, or None."""
    meta, raw, act = stem.with_suffix(".json"), stem.with_suffix(".flac"), stem.with_suffix(".npy")
    if not (meta.is_file() and raw.is_file() and act.is_file()):
        return None
    from pipeline.build.cache import touch
    touch(meta, raw, act)
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        if len(data["cues"]) != len(segment.cues):
            return None
        narration = Narration(segment.slug, data["seconds"],
                              tuple(zip(segment.cues, data["cues"])), data["voice"])
        return Spoken(narration, raw, act, tuple(tuple(s) for s in data["sentences"]),
                      float(data["voice_lufs"]) if data["voice_lufs"] is not None else
                      float("-inf"), data.get("alignment"),
                      tuple(str(f) for f in data.get("findings", ())),
                      int(data["rate"]) if data.get("rate") else None)
    except (ValueError, KeyError, TypeError, IndexError, OSError):
        return None  # a damaged cache entry is rebuilt, not trusted


def _save(spoken: Spoken, path: Path) -> None:
    n = spoken.narration
    data = {"seconds": n.seconds, "voice": n.voice, "cues": [at for _, at in n.cue_times],
            "sentences": [list(s) for s in spoken.sentences],
            "voice_lufs": spoken.voice_lufs if spoken.voice_lufs > -1e9 else None,
            "alignment": spoken.alignment, "findings": list(spoken.findings),
            "rate": spoken.rate}
    save_json(path, data)


def _draft(segment: Segment, rate: int, settings: Voice, sink, speak_all):
    """Speak paragraph by paragraph; cues become silence in the narration and a time in the plan."""
    body = segment.body()
    speeches = iter(speak_all(speech.paragraphs(segment), rate, settings))
    written, cues, sentences = 0, [], []
    for item in body:
        if isinstance(item, Cue):
            cues.append((item, written / rate))
            written += _write(sink, np.zeros(round(cue_gap(item) * rate), np.float32))
            continue
        samples, said = next(speeches)
        at = written / rate
        sentences += [(round(at + a, 3), round(at + b, 3), text) for a, b, text in said]
        written += _write(sink, samples)
        written += _write(sink, np.zeros(round(PARAGRAPH_GAP * rate), np.float32))
    sink.flush()
    return written / rate, cues, sentences


def _take(segment: Segment, take: Path, rate: int, sink, warn, language: str = "en",
          script: str = "script.md", name: str | None = None):
    """A recorded take at the show's rate, aligned to its text: sentence times for the
    transcript, each cue at the start of the recorded pause between the words around it, and
    the take checked against the script (findings in the linter's form); what the check heard
    also mends the alignment where speech the script lacks threw it off."""
    from pipeline.audio import align, onetake, takecheck

    written = 0
    if take.suffix.lower() in FFMPEG_TYPES:  # phone formats: soundfile cannot read them
        from pipeline.build.assemble import decode_with_ffmpeg

        samples, own = decode_with_ffmpeg(take, None, 1)
        for message in decode.check_samples(str(take), samples, own, rate):
            warn(message)
        if own != rate:
            samples = soxr.resample(samples, own, rate, quality="HQ")
        written += _write(sink, samples[:, 0])
    else:
        for message in decode.check_take(take, rate):
            warn(message)
        for block in decode.read_blocks(take, rate, 1, 1 << 18):
            written += _write(sink, block[:, 0])
    sink.flush()
    seconds = written / rate
    samples = np.fromfile(sink.name, "<f4")
    lines = takecheck.segment_lines(segment)
    result = align.align(samples, rate, [line.text for line in lines], language=language,
                         segment=segment.slug)
    if result.warning:
        warn(result.warning)
    findings: tuple[str, ...] = ()
    if result.method == "aligned":
        heard = takecheck.listen(samples, rate, lines)  # None: the alignment's warning says why
        if heard is not None:
            found = takecheck.compare(lines, heard, name or str(take))
            findings = tuple(d.as_text() for d in takecheck.diagnostics(found, script))
            for finding in findings:
                warn(finding)
            result = onetake.mended(samples, rate, result, [line.text for line in lines], heard)
    cues = _cues(segment, result, seconds)
    sentences = [(s.start, s.end, s.text) for s in result.sentences]
    return seconds, cues, sentences, {"alignment": result.to_dict(),
                                                "findings": findings}


def _cues(segment: Segment, result, seconds: float):
    """Each cue at the start of the pause after the last word spoken before it."""
    from pipeline.audio import align
    from pipeline.script.credits import sentences as split

    cues, said = [], 0
    for item in segment.body():
        if isinstance(item, Cue):
            if not said or not result.words:
                at = 0.0
            else:
                at = align.pause_after(result.words, min(said, len(result.words)) - 1).start
            cues.append((item, round(min(at, seconds), 3)))
        else:
            said += sum(len(align.spoken_words(s.text))
                        for s in split(" ".join(item.text.split()), item.line))
    return cues


def _write(sink, samples: np.ndarray) -> int:
    sink.write(np.ascontiguousarray(samples, dtype="<f4").data)  # no copy
    return len(samples)


def _activity(raw: str, rate: int, block_hops: int = 6000) -> np.ndarray:
    """Where the voice speaks, per HOP, read back a minute at a time."""
    hop = round(HOP * rate)
    out = []
    with open(raw, "rb") as f:
        while len(block := np.fromfile(f, "<f4", hop * block_hops)):
            out.append(dynamics.voice_activity(block, rate, HOP))
    return np.concatenate(out) if out else np.zeros(0, bool)
