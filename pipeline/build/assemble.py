"""A span assembled with pydub, and pydub (through ffmpeg) as the decoder for odd take formats.

Clips are placed, gained and looped as pydub AudioSegments of 32-bit samples: float audio is
stored at a fixed 24 dB of headroom (1.0 = 2**27), so a sum of loud clips cannot clip before
the master and each clip keeps 27 bits. pydub's overlay is audioop's saturating add (run on exact frames), its gain
audioop's multiply, its slices and concatenation exact frame copies. What pydub lacks comes from
numpy: the ducking envelope and the linear fades (pydub fades in dB steps per millisecond,
which would not match render.py's ramps), and the meter. The span is assembled a window at a
time, as render_span does, so memory follows the window; the output agrees with render_span's
to within the int32 rounding (tested).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soxr

from pipeline.audio import loudness
from pipeline.audio.encode import find_ffmpeg
from pipeline.errors import AudioError
from pipeline.files import save_array
from pipeline.model import Clip, Span
from pipeline.build.narrate import HOP, Spoken
from pipeline.build.mix import WINDOW, AssetBank, Rendered, _duck_levels, _ramp
from pipeline.show import Ducking

with warnings.catch_warnings():  # pydub warns at import when ffmpeg is not on PATH
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", DeprecationWarning)  # audioop, on Python 3.11 and 3.12
    from pydub import AudioSegment
    from pydub.utils import audioop  # the stdlib's, or audioop-lts on Python 3.13+

SCALE = float(2 ** 27)  # float 1.0 in int32: 24 dB of headroom above full scale
_WIDTH = 4


def to_segment(x: np.ndarray, rate: int) -> AudioSegment:
    """float32 (frames, channels) → a 32-bit AudioSegment at SCALE."""
    x = np.asarray(x, np.float32).reshape(len(x), -1)
    data = np.round(x * np.float32(SCALE)).astype("<i4")
    return AudioSegment(data=data.tobytes(), sample_width=_WIDTH, frame_rate=rate,
                        channels=x.shape[1])


def to_array(segment: AudioSegment) -> np.ndarray:
    """A 32-bit AudioSegment at SCALE → float32 (frames, channels)."""
    data = np.frombuffer(segment.raw_data, "<i4").reshape(-1, segment.channels)
    return (data.astype(np.float32) / np.float32(SCALE))


def _silence(frames: int, rate: int, channels: int) -> AudioSegment:
    return AudioSegment(data=bytes(frames * channels * _WIDTH), sample_width=_WIDTH,
                        frame_rate=rate, channels=channels)


class SegmentBank:
    """Assets as 32-bit AudioSegments, converted once from the AssetBank's float arrays."""

    def __init__(self, bank: AssetBank, rate: int):
        self._bank, self._rate = bank, rate
        self._segments: dict[str, AudioSegment] = {}

    def __getitem__(self, name: str) -> AudioSegment:
        if name not in self._segments:
            self._segments[name] = to_segment(self._bank[name], self._rate)
        return self._segments[name]


def assemble_span(span: Span, spoken: Spoken, bank: AssetBank, ducking: Ducking, rate: int,
                  channels: int, stem: Path, tick: Callable[[float], None] = lambda f: None
                  ) -> Rendered:
    """render_span's job through pydub: `stem`.f32 (+ .steps.npy); a failure leaves nothing."""
    frames = round(span.duration * rate)
    duck = _duck_levels(span, spoken, ducking)
    segments = SegmentBank(bank, rate)
    meter = loudness.LoudnessMeter(rate, channels)
    tmp = stem.with_suffix(f".tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as sink, open(spoken.audio_file, "rb") as narration:
            for start in range(0, frames, WINDOW):
                n = min(WINDOW, frames - start)
                window = _silence(n, rate, channels)
                for clip in span.clips:
                    window = _overlay(window, start, clip, narration, segments, duck, rate,
                                      channels)
                out = to_array(window)
                meter.add(out)
                sink.write(out.astype("<f4", copy=False).tobytes())
                tick((start + n) / frames)
        steps = meter.steps()
        save_array(stem.with_suffix(".steps.npy"), steps)
        os.replace(tmp, stem.with_suffix(".f32"))
    finally:
        tmp.unlink(missing_ok=True)
    return Rendered(stem.with_suffix(".f32"), frames, steps)


def _overlay(window: AudioSegment, w0: int, clip: Clip, narration, segments: SegmentBank,
             duck: np.ndarray, rate: int, channels: int) -> AudioSegment:
    """The window with this clip's slice of it added (pydub's overlay), or as it was."""
    n = int(window.frame_count())
    c0 = round(clip.start * rate)
    c1 = c0 + round(clip.duration * rate)
    a, b = max(w0, c0), min(w0 + n, c1)
    if a >= b:
        return window
    offset = round(clip.offset * rate) + (a - c0)
    if clip.asset is None:
        narration.seek(offset * 4)
        voice = np.fromfile(narration, "<f4", b - a)
        if not len(voice):
            return window
        piece = to_segment(np.repeat(voice[:, None], channels, axis=1), rate)
        return _place(window, piece, a - w0, rate, channels)
    source = segments[clip.asset]
    total = int(source.frame_count())
    if clip.loop:
        piece = _looped(source, offset % total, b - a)
    else:
        piece = source.get_sample_slice(min(offset, total), min(offset + (b - a), total))
        if not piece.frame_count():
            return window
        b = a + int(piece.frame_count())
    piece = piece.apply_gain(clip.gain_db) if clip.gain_db else piece
    fade_in, fade_out = round(clip.fade_in * rate), round(clip.fade_out * rate)
    if clip.ducked or fade_in > a - c0 or fade_out > c1 - b:  # numpy's envelopes
        x = to_array(piece)
        _ramp(x, a - c0, fade_in, rising=True)
        _ramp(x, c1 - b, fade_out, rising=False)
        if clip.ducked:
            hops = np.arange(a, b, dtype=np.float64) / (rate * HOP)
            x *= np.interp(hops, np.arange(len(duck)), duck).astype(np.float32)[:, None]
        piece = to_segment(x, rate)
    return _place(window, piece, a - w0, rate, channels)


def _looped(source: AudioSegment, at: int, n: int) -> AudioSegment:
    """n frames of `source` round and round from frame `at`: exact slices, concatenated."""
    total = int(source.frame_count())
    parts = []
    while n > 0:
        take = min(n, total - at)
        parts.append(source.get_sample_slice(at, at + take))
        n, at = n - take, 0
    piece = parts[0]
    for part in parts[1:]:
        piece = piece + part
    return piece


def _place(window: AudioSegment, piece: AudioSegment, at: int, rate: int, channels: int
           ) -> AudioSegment:
    """window + piece starting at frame `at`, by the saturating add pydub's overlay runs.

    Not overlay() itself: it cuts the overlaid segment at a whole millisecond, which drops a
    frame from any window that is not a whole number of milliseconds long. So the piece is
    padded with exact frames of silence to the window's length and added as one.
    """
    n = int(window.frame_count())
    pad = _silence(at, rate, channels) + piece if at else piece
    rest = n - int(pad.frame_count())
    if rest > 0:
        pad = pad + _silence(rest, rate, channels)
    return window._spawn(audioop.add(window.raw_data, pad.raw_data, _WIDTH))


# ---------------------------------------------------------------------------------------------
# Decoding odd take formats through pydub and ffmpeg (without ffprobe)

# pydub asks ffprobe what a file holds unless it is told the container and the codec; the
# bundled ffmpeg comes without ffprobe, so they come from the name.
_CONTAINERS = {".m4a": ("mp4", "aac"), ".mp4": ("mp4", "aac"), ".aac": ("aac", "aac"),
               ".opus": ("ogg", "opus"), ".webm": ("webm", "opus"), ".ogg": ("ogg", "vorbis"),
               ".mp3": ("mp3", "mp3"), ".flac": ("flac", "flac"), ".wma": ("asf", "wmav2")}


def decode_with_ffmpeg(path: str | os.PathLike, rate: int | None = None,
                       channels: int | None = None) -> tuple[np.ndarray, int]:
    """(float32 (frames, channels), rate): a take pydub decodes through ffmpeg, converted to
    `rate` and `channels` when given. An unknown or broken file is an AudioError naming it."""
    name = os.fspath(path)
    suffix = Path(name).suffix.lower()
    if suffix not in _CONTAINERS:
        known = ", ".join(sorted(_CONTAINERS))
        raise AudioError(f"{name}: cannot tell what {suffix or 'a file without a suffix'} "
                         f"holds; use one of {known}, or WAV/FLAC")
    if not os.path.isfile(name):
        raise AudioError(f"{name}: not found; check the path")
    container, codec = _CONTAINERS[suffix]
    AudioSegment.converter = find_ffmpeg()
    try:
        segment = AudioSegment.from_file(name, format=container, codec=codec)
    except Exception as e:  # pydub raises CouldntDecodeError with ffmpeg's whole log
        last = str(e).strip().splitlines()[-1:] or [type(e).__name__]
        raise AudioError(f"{name}: ffmpeg cannot decode it as {codec} in {container} "
                         f"({last[0][:200]}); re-export it as WAV or FLAC") from None
    width = segment.sample_width
    kinds = {1: np.int8, 2: np.int16, 4: np.int32}
    samples = np.frombuffer(segment.raw_data, kinds[width]).reshape(-1, segment.channels)
    x = samples.astype(np.float32) / np.float32(2 ** (8 * width - 1))
    if width == 1:
        x = (samples.view(np.uint8).astype(np.float32) - 128) / 128
    own = segment.frame_rate
    if channels is not None and channels != x.shape[1]:
        x = x.mean(axis=1, keepdims=True) if channels == 1 else np.repeat(x[:, :1], 2, axis=1) \
            if x.shape[1] == 1 else x[:, :2]
    if rate is not None and rate != own:
        x = soxr.resample(x, own, rate, quality="HQ").astype(np.float32)
        own = rate
    return np.ascontiguousarray(x, np.float32), own
