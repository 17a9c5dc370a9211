"""A span assembled with pydub: the build's one mixer; and pydub (through ffmpeg) as the decoder
for odd take formats.

Clips are placed, gained and looped as pydub AudioSegments of 32-bit samples: float audio is
stored at a fixed 24 dB of headroom (1.0 = 2**27), so a sum of loud clips cannot clip before
the master and each clip keeps 27 bits. pydub's overlay is audioop's saturating add (run here on
exact frames, over the clip's own frames only, by numpy: the same sums, twenty times faster),
its gain audioop's multiply, its slices and concatenation exact frame copies. What pydub lacks
comes from numpy: the ducking envelope and the linear fades (pydub fades in dB steps per
millisecond), and the meter.

Memory follows the window, not the episode: narration is read from its cache file a window at a
time, music is small and decoded once per process (the build decodes and converts it before it
forks its workers, which inherit it), the ducking envelope is kept per 10 ms hop and only
interpolated to samples inside the window. Each span is written with its per-100 ms loudness
energies, which mastering reads before it touches a sample.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from pipeline.audio import bandlimit, decode, dynamics, loudness
from pipeline.audio.peak import across, scale
from pipeline.audio.encode import find_ffmpeg
from pipeline.errors import AudioError
from pipeline.files import save_array
from pipeline.manifest import Asset
from pipeline.model import Clip, Span
from pipeline.build.narrate import HOP, Spoken
from pipeline.show import Ducking

with warnings.catch_warnings():  # pydub warns at import when ffmpeg is not on PATH
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", DeprecationWarning)  # audioop, on Python 3.11 and 3.12
    from pydub import AudioSegment

SCALE = float(2 ** 27)  # float 1.0 in int32: 24 dB of headroom above full scale
WINDOW = 1 << 17  # frames mixed at a time (about 3 s)
_WIDTH = 4

# Decoded assets, then their 32-bit segments instead, per process: filled before the workers fork.
_DECODED: dict[tuple, np.ndarray] = {}  # (path, rate, channels, low-pass, size, mtime) → samples
_SEGMENTS: dict[tuple, AudioSegment] = {}


class AssetBank:
    """Assets decoded once per process, at the show's rate and channels: a few MB each; and
    each as a 32-bit AudioSegment, converted once too. With `lowpass_hz`, each is low-passed
    once as it is decoded (a loop round its seam), so the mix holds only what the encoder
    keeps (pipeline.audio.bandlimit)."""

    def __init__(self, assets: dict[str, Asset], rate: int, channels: int,
                 lowpass_hz: float = 0.0):
        self._assets, self._rate, self._channels = assets, rate, channels
        self._lowpass = lowpass_hz

    def _key(self, name: str) -> tuple:
        """Keyed by the file's size and mtime too: a long-lived process never mixes an edited
        asset's old audio."""
        path = self._assets[name].path
        try:
            st = path.stat()
            version = (st.st_size, st.st_mtime_ns)
        except OSError:
            version = (-1, -1)  # read_audio names the file and the problem
        return (path, self._rate, self._channels, self._lowpass, *version)

    def __getitem__(self, name: str) -> np.ndarray:
        """The asset's samples, float32 (frames, channels): once it is a segment, the
        segment's (to 27 bits, what the mix adds)."""
        key = self._key(name)
        if key in _SEGMENTS:
            return to_array(_SEGMENTS[key])
        return self._decoded(key, name)

    def _decoded(self, key: tuple, name: str) -> np.ndarray:
        if key not in _DECODED:
            for cache in (_DECODED, _SEGMENTS):
                for stale in [k for k in cache if k[:4] == key[:4]]:
                    del cache[stale]
            _DECODED[key] = bandlimit.lowpass(decode.read_audio(*key[:3]), self._rate,
                                              self._lowpass, self._assets[name].loop)
        return _DECODED[key]

    def segment(self, name: str) -> AudioSegment:
        key = self._key(name)
        if key not in _SEGMENTS:
            segment = to_segment(self._decoded(key, name), self._rate)
            del _DECODED[key]  # the segment holds the same samples: one copy is kept
            _SEGMENTS[key] = segment
        return _SEGMENTS[key]


@dataclass(frozen=True)
class Rendered:
    """A span's mix: raw float32 frames in `audio_file`, and its loudness steps."""

    audio_file: Path
    frames: int
    steps: np.ndarray  # K-weighted energy of every 100 ms


def to_segment(x: np.ndarray, rate: int, channels: int | None = None) -> AudioSegment:
    """float32 (frames, channels) → a 32-bit AudioSegment at SCALE; mono samples given
    `channels` are converted once and copied to each channel."""
    x = np.asarray(x, np.float32).reshape(len(x), -1)
    scaled = np.multiply(x, np.float32(SCALE), dtype=np.float32)
    np.rint(scaled, out=scaled)
    if channels is not None and channels != x.shape[1]:
        data = across(scaled[:, 0], channels, "<i4")
    else:
        data = scaled.astype("<i4")
    return AudioSegment(data=data.tobytes(), sample_width=_WIDTH, frame_rate=rate,
                        channels=data.shape[1])


def to_array(segment: AudioSegment) -> np.ndarray:
    """A 32-bit AudioSegment at SCALE → float32 (frames, channels)."""
    data = np.frombuffer(segment.raw_data, "<i4").reshape(-1, segment.channels)
    return (data.astype(np.float32) / np.float32(SCALE))


def _silence(frames: int, rate: int, channels: int) -> AudioSegment:
    return AudioSegment(data=bytes(frames * channels * _WIDTH), sample_width=_WIDTH,
                        frame_rate=rate, channels=channels)


def assemble_span(span: Span, spoken: Spoken, bank: AssetBank, ducking: Ducking, rate: int,
                  channels: int, stem: Path, tick: Callable[[float], None] = lambda f: None
                  ) -> Rendered:
    """Mix one span to `stem`.f32 (+ .steps.npy); a failure leaves nothing behind."""
    frames = round(span.duration * rate)
    tmp = stem.with_suffix(f".tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as sink:
            steps = mix_range(span, spoken, bank, ducking, rate, channels, 0, frames, sink, tick)
        save_array(stem.with_suffix(".steps.npy"), steps)
        os.replace(tmp, stem.with_suffix(".f32"))
    finally:
        tmp.unlink(missing_ok=True)
    return Rendered(stem.with_suffix(".f32"), frames, steps)


def mix_range(span: Span, spoken: Spoken, bank: AssetBank, ducking: Ducking, rate: int,
              channels: int, first: int, end: int, sink, tick=lambda f: None,
              warm: int = 0, duck: np.ndarray | None = None, voice: Path | None = None
              ) -> np.ndarray:
    """Frames [first, end) of the span's mix, written to `sink` (at its position), and their
    loudness steps. The meter's filters run in over `warm` frames mixed before `first` (the
    build mixes a span in blocks on every core; a block's steps then join its neighbours').
    `duck` is the span's ducking envelope (duck_levels), if the caller keeps it across blocks;
    `voice` a raw 16-bit copy of the narration to read instead of its FLAC (the same samples)."""
    duck = duck_levels(span, spoken, ducking) if duck is None else duck
    meter = loudness.LoudnessMeter(rate, channels)
    lead = max(0, first - warm)
    windows = ([(lead, first - lead)] if first > lead else []) + \
        [(start, min(WINDOW, end - start)) for start in range(first, end, WINDOW)]
    with _Voice(voice or spoken.audio_file, spoken.rate, rate) as narration:
        for start, n in windows:
            window = bytearray(n * channels * _WIDTH)
            for clip in span.clips:
                _overlay(window, start, clip, narration, bank, duck, rate, channels)
            out = np.multiply(np.frombuffer(window, "<i4"), np.float32(1 / SCALE),
                              dtype=np.float32).reshape(-1, channels)  # exact: SCALE is 2**27
            if start < first:
                meter.power(out)  # the run-in: heard by the filters, not counted
                continue
            meter.add(out)
            sink.write(out.data)  # the buffer itself: no copy
            tick((start + n - first) / max(1, end - first))
    return meter.steps()


def load_span(stem: Path, frames: int, channels: int) -> Rendered | None:
    """A span mixed before with the same key, or None (a damaged entry is made again)."""
    raw, steps = stem.with_suffix(".f32"), stem.with_suffix(".steps.npy")
    try:
        if raw.stat().st_size == frames * 4 * channels:
            return Rendered(raw, frames, np.load(steps))
    except (OSError, ValueError, EOFError):
        pass
    return None


class _Voice:
    """The narration read a window at a time: the cache's 16-bit FLAC, the build's raw 16-bit
    copy of it (.s16: the same numbers, without decoding), or raw float32 mono. 16-bit comes
    back as int16, so it reaches the mix's 32-bit samples by a shift (exact: SCALE is 2**27).

    Narration at another rate than the mix (the draft voice's) is resampled a window at a
    time, each from RESAMPLE_MARGIN samples before and after it: the windows then equal one
    resampling of the whole narration to float precision, whatever the blocks (tested)."""

    def __init__(self, path: Path, rate: int | None = None, mix_rate: int | None = None):
        self.path = Path(path)
        rate, mix_rate = rate or mix_rate, mix_rate or rate
        g = np.gcd(rate, mix_rate) if rate and mix_rate else 1
        self.rates = (rate, mix_rate)
        self._ratio = None if rate == mix_rate else (mix_rate // g, rate // g)  # out : in

    def __enter__(self) -> _Voice:
        self._flac = self._raw = None
        if self.path.suffix == ".flac":
            import soundfile
            self._flac = soundfile.SoundFile(self.path)
        else:
            self._raw = open(self.path, "rb")
            self._kind = "<i2" if self.path.suffix == ".s16" else "<f4"
        return self

    def read(self, offset: int, n: int) -> np.ndarray:
        """Samples [offset, offset + n) at the mix's rate (fewer at the narration's end)."""
        if self._ratio is None:
            return self._own(offset, n)
        up, down = self._ratio
        first = max(0, offset * down // up - RESAMPLE_MARGIN) // down * down
        last = -(-(offset + n) * down // up) + RESAMPLE_MARGIN
        x = self._own(first, last - first)
        if not len(x):
            return np.zeros(0, np.float32)
        x = x / np.float32(32768) if x.dtype == np.int16 else x
        y = soxr.resample(x, self.rates[0], self.rates[1], quality="HQ")
        at = offset - first * up // down
        end = min(offset + n, -(-self._frames() * up // down))  # the narration's own end
        return np.asarray(y[at:at + max(0, end - offset)], np.float32)

    def _frames(self) -> int:
        if self._flac is not None:
            return self._flac.frames
        return os.fstat(self._raw.fileno()).st_size // np.dtype(self._kind).itemsize

    def _own(self, offset: int, n: int) -> np.ndarray:
        if self._flac is not None:
            self._flac.seek(min(offset, self._flac.frames))
            return self._flac.read(n, dtype="int16", always_2d=True)[:, 0]
        size = np.dtype(self._kind).itemsize
        self._raw.seek(offset * size)
        return np.fromfile(self._raw, self._kind, n)

    def __exit__(self, *exc) -> None:
        (self._flac or self._raw).close()


RESAMPLE_MARGIN = 128  # narration samples: soxr HQ's filter reaches less far (tested)


def _voice_segment(voice: np.ndarray, rate: int, channels: int) -> AudioSegment:
    """Narration samples (int16 or float32 mono) as a 32-bit AudioSegment at SCALE."""
    if voice.dtype != np.int16:
        return to_segment(voice, rate, channels)
    data = across(voice, channels, "<i4")
    np.left_shift(data, 27 - 15, out=data)  # i / 2**15 * SCALE, exactly
    return AudioSegment(data=data.tobytes(), sample_width=_WIDTH, frame_rate=rate,
                        channels=channels)


def duck_levels(span: Span, spoken: Spoken, ducking: Ducking) -> np.ndarray:
    """Music gain per hop across the span: down while the voice speaks, up in its pauses."""
    hops = int(np.ceil(span.duration / HOP)) + 1
    active = np.zeros(hops, bool)
    voiced = np.load(spoken.activity_file)
    first = round(span.voice_start / HOP)
    voiced = voiced[:max(0, hops - first)]
    active[first:first + len(voiced)] = voiced
    return dynamics.duck_gain(active, HOP, round(1 / HOP), hops, ducking.depth_db,
                              ducking.attack_ms / 1000, ducking.release_ms / 1000)


def _ramp(piece: np.ndarray, distance: int, length: int, rising: bool) -> None:
    """A linear fade over `length` frames, applied where it overlaps this slice.

    `distance` is how far the slice's near edge is from the clip's edge the fade belongs to:
    frames from the clip's start (a fade in) or to its end (a fade out).
    """
    if length <= 0 or distance >= length:
        return
    n = min(len(piece), length - distance)
    ramp = (distance + np.arange(n, dtype=np.float32)) / np.float32(length)
    if rising:
        scale(piece[:n], ramp)
    else:
        scale(piece[len(piece) - n:], ramp[::-1])


def _overlay(window: bytearray, w0: int, clip: Clip, narration, bank: AssetBank,
             duck: np.ndarray, rate: int, channels: int) -> None:
    """Add this clip's slice of the window into it (pydub's overlay, on the clip's frames)."""
    n = len(window) // (channels * _WIDTH)
    c0 = round(clip.start * rate)
    c1 = c0 + round(clip.duration * rate)
    a, b = max(w0, c0), min(w0 + n, c1)
    if a >= b:
        return
    offset = round(clip.offset * rate) + (a - c0)
    if clip.asset is None:
        voice = narration.read(offset, b - a)
        if not len(voice):
            return
        _place(window, _voice_segment(voice, rate, channels), a - w0, channels)
        return
    source = bank.segment(clip.asset)
    total = int(source.frame_count())
    if clip.loop:
        piece = _looped(source, offset % total, b - a)
    else:
        piece = source.get_sample_slice(min(offset, total), min(offset + (b - a), total))
        if not piece.frame_count():
            return
        b = a + int(piece.frame_count())
    fade_in, fade_out = round(clip.fade_in * rate), round(clip.fade_out * rate)
    if not (clip.ducked or fade_in > a - c0 or fade_out > c1 - b):
        piece = piece.apply_gain(clip.gain_db) if clip.gain_db else piece
    else:  # numpy's envelopes, with the gain folded in (one pass instead of two)
        x = to_array(piece)
        if clip.gain_db:
            x *= np.float32(10 ** (clip.gain_db / 20))
        _ramp(x, a - c0, fade_in, rising=True)
        _ramp(x, c1 - b, fade_out, rising=False)
        if clip.ducked:
            scale(x, dynamics.between(duck, a, b, rate * HOP))
        piece = to_segment(x, rate)
    _place(window, piece, a - w0, channels)


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


def _place(window: bytearray, piece: AudioSegment, at: int, channels: int) -> None:
    """window[at:] += piece, saturating at the 32-bit range as pydub's overlay (audioop.add)
    does, over the piece's own frames only (overlay() itself cuts at whole milliseconds and
    copies the whole window). numpy adds in place, twenty times faster than audioop, which
    took about 4% of a build's CPU; the same numbers, tested."""
    lo = at * channels
    x = np.frombuffer(window, "<i4")[lo:]
    y = np.frombuffer(piece.raw_data, "<i4")[:len(x)]
    x = x[:len(y)]
    if not len(x):
        return
    # 24 dB of headroom: a sum can only leave the range if the two together could.
    if max(-int(x.min()), int(x.max())) + max(-int(y.min()), int(y.max())) < _LIMIT:
        np.add(x, y, out=x)
    else:
        x[:] = np.clip(x.astype(np.int64) + y, -_LIMIT, _LIMIT - 1)


_LIMIT = 1 << 31


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
