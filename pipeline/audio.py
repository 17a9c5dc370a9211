"""The audio edge, and the DSP an episode needs: loudness, true peak, limiting, ducking, fades.

Every array here is float32 shaped (frames, channels) unless a function says otherwise. Files are
read through libsndfile (soundfile) and resampled with soxr, and every way a file can fail becomes
an AudioError naming the file, so a bad take stops a render with a sentence instead of a traceback.
Long signals are handled in blocks with bounded memory: an episode is half an hour of stereo.
"""

from __future__ import annotations

import os
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyloudnorm
import soundfile as sf
import soxr
from pyloudnorm.iirfilter import IIRfilter

# scipy is not a podforge dependency, but pyloudnorm depends on it (its K-weighting runs through
# scipy.signal.lfilter), so it is always installed. Its C biquads carry filter state from one block
# to the next, which numpy cannot do without a per-sample Python loop.
from scipy.signal import sosfilt

from pipeline.errors import AudioError

StrPath = str | os.PathLike[str]

SILENT_DBFS = -60.0  # a take whose peak is below this holds nothing worth keeping
THIN_RATE = 22_050  # below this a voice loses the consonants that make it intelligible
_QUALITY = "HQ"  # soxr's 20-bit quality: transparent, and several times faster than VHQ
_FULL_SCALE = 0.9999  # |sample| at or above this is the converter's limit
_READ_FRAMES = 1 << 16


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str  # container, e.g. "WAV", "FLAC", "OGG"
    subtype: str  # sample encoding, e.g. "PCM_24", "VORBIS"

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


# ---------------------------------------------------------------------------------------------
# Reading


def probe(path: StrPath) -> AudioInfo:
    """What a file holds, or an AudioError saying why it cannot be used and what to do."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise AudioError(f"{name}: not found; check the path")
    if not os.path.isfile(name):
        raise AudioError(f"{name}: is not a file; point to an audio file")
    if os.path.getsize(name) == 0:
        raise AudioError(f"{name}: is empty (0 bytes); re-export it as WAV or FLAC")
    try:
        info = sf.info(name)
    except (sf.SoundFileError, RuntimeError) as e:
        why = getattr(e, "error_string", None) or str(e)
        raise AudioError(f"{name}: is not audio that can be read ({why}); "
                         "re-export it as WAV or FLAC") from None
    found = AudioInfo(name, int(info.samplerate), int(info.channels), int(info.frames),
                      info.format, info.subtype)
    if (missing := _missing_part(info.extra_info, found)) is not None:
        raise AudioError(f"{name}: is truncated ({missing}); copy it again or re-export it")
    if found.frames <= 0:
        raise AudioError(f"{name}: holds no audio (0 frames); re-export it")
    return found


def _missing_part(log: str, info: AudioInfo) -> str | None:
    """What the header promises that the file lacks (a copy or export cut short), from
    libsndfile's parse log."""
    # libsndfile logs a WAV data (AIFF SSND) chunk longer than the file as "data : N (should be M)".
    if m := re.search(r"^\s*(?:data|SSND)\s*:\s*(\d+) \(should be (\d+)\)", log, re.M):
        declared, present = int(m.group(1)), int(m.group(2))
        # Streaming writers (ffmpeg into a pipe) leave 0 or 0xFFFFFFFF: unknown length, not cut.
        if 0 < present < declared < 0xFFFF_FF00:
            promised = info.frames * declared / present
            return f"holds {_clock(info.frames, info)} of {_clock(promised, info)}"
    if "lacks an end-of-stream" in log:  # Ogg: the last page was never written
        return f"it stops at {_clock(info.frames, info)} without an end"
    return None


def _clock(frames: float, info: AudioInfo) -> str:
    return f"{frames / info.sample_rate:.2f} s"


def _decoded(info: AudioInfo, frames: int = _READ_FRAMES) -> Iterator[np.ndarray]:
    """The file's own samples, block by block; a short read or a decoder error is an AudioError."""
    got = 0
    try:
        with sf.SoundFile(info.path) as f:
            while len(block := f.read(frames, dtype="float32", always_2d=True)):
                got += len(block)
                yield block
    except (sf.SoundFileError, RuntimeError) as e:
        why = getattr(e, "error_string", None) or str(e)
        raise AudioError(f"{info.path}: cannot be decoded after {_clock(got, info)} ({why}); "
                         "it is truncated or corrupt: copy it again or re-export it") from None
    if got < info.frames:
        raise AudioError(f"{info.path}: is truncated (holds {_clock(got, info)} of "
                         f"{_clock(info.frames, info)}); copy it again or re-export it")


def read_audio(path: StrPath, rate: int, channels: int) -> np.ndarray:
    """The whole file at `rate` Hz and `channels` channels."""
    info = probe(path)
    data = np.concatenate(list(_decoded(info, max(info.frames, 1))))
    data = _remix(data, channels) if channels < info.channels else data
    if info.sample_rate != rate:
        data = soxr.resample(data, info.sample_rate, rate, quality=_QUALITY)
    return np.ascontiguousarray(_remix(data, channels), dtype=np.float32)


def read_blocks(path: StrPath, rate: int, channels: int,
                block_frames: int = _READ_FRAMES) -> Iterator[np.ndarray]:
    """read_audio in blocks of exactly block_frames (the last may be shorter), in bounded memory.

    The file is probed now, so a broken one fails here rather than at the first block.
    """
    info = probe(path)
    mixed = min(channels, info.channels)  # downmix before resampling, upmix after: less work
    stream = None if info.sample_rate == rate else soxr.ResampleStream(
        info.sample_rate, rate, mixed, dtype="float32", quality=_QUALITY)

    def converted() -> Iterator[np.ndarray]:
        for block in _decoded(info):
            block = _remix(block, mixed)
            yield block if stream is None else stream.resample_chunk(block)
        if stream is not None:
            yield stream.resample_chunk(np.zeros((0, mixed), np.float32), last=True)

    return (_remix(block, channels) for block in _rechunk(converted(), block_frames))


def _rechunk(blocks: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    held: list[np.ndarray] = []
    count = 0
    for block in blocks:
        held.append(block)
        count += len(block)
        if count >= n:
            joined = np.concatenate(held)
            whole = count - count % n
            yield from (joined[i:i + n] for i in range(0, whole, n))
            held, count = [joined[whole:]], count - whole
    if count:
        yield np.concatenate(held)


def _remix(x: np.ndarray, channels: int) -> np.ndarray:
    have = x.shape[1]
    if have == channels:
        return x
    if channels == 1:
        return x.mean(axis=1, keepdims=True)
    if channels == 2:
        if have == 1:
            return np.repeat(x, 2, axis=1)
        # WAV and FLAC put front left and right first; the rest (centre, surrounds) go to both.
        return x[:, :2] + np.float32(0.7071) * x[:, 2:].mean(axis=1, keepdims=True)
    raise ValueError(f"channels must be 1 or 2, not {channels}")


def check_take(path: StrPath, rate: int) -> list[str]:
    """Warnings about a usable take; an AudioError if it is unusable (broken or silent)."""
    info = probe(path)
    peak, clipped = 0.0, 0
    for block in _decoded(info):
        level = np.abs(block).max(axis=1)
        peak = max(peak, float(level.max()))
        full = level >= _FULL_SCALE
        clipped += int(np.count_nonzero(full[1:] & full[:-1]))  # flat tops, not a lone full sample
    peak_db = _db(peak)
    if peak_db < SILENT_DBFS:
        raise AudioError(f"{info.path}: is silent (peak {peak_db:.1f} dBFS); "
                         "re-record or remove it")
    warnings = []
    if info.sample_rate < THIN_RATE:
        warnings.append(f"{info.path}: {info.sample_rate} Hz is below {THIN_RATE} Hz; "
                        f"it will sound thin (re-record at {rate} Hz if you can)")
    if clipped:
        warnings.append(f"{info.path}: {clipped} samples are clipped at full scale; "
                        "re-record with less input gain if you can")
    return warnings


def _db(amplitude: float) -> float:
    return 20 * np.log10(amplitude) if amplitude > 0 else -np.inf


# ---------------------------------------------------------------------------------------------
# Loudness (ITU-R BS.1770-4) and true peak (its Annex 2)

_CHANNEL_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.41, 1.41])  # L, R, C, Ls, Rs
_ABSOLUTE_GATE = -70.0  # LUFS
_RELATIVE_GATE = -10.0  # LU below the absolutely gated loudness


def integrated_loudness(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS; -inf for silence or less than one 400 ms gating block."""
    if len(samples) < 0.4 * rate:
        return -np.inf
    return float(pyloudnorm.Meter(rate).integrated_loudness(np.asarray(samples)))


class LoudnessMeter:
    """integrated_loudness of a stream fed block by block, keeping one number per 100 ms.

    Gating blocks are 400 ms long and start every 100 ms, so each is the sum of four 100 ms steps:
    only the K-weighted energy of each step is kept, and the filter state runs across blocks.
    """

    def __init__(self, rate: int, channels: int):
        if not 1 <= channels <= len(_CHANNEL_WEIGHTS):
            raise ValueError(f"BS.1770 weighs 1 to 5 channels, not {channels}")
        self.rate, self.channels = rate, channels
        # pyloudnorm's own K-weighting coefficients, so the two meters cannot drift apart.
        stages = [IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"),
                  IIRfilter(0.0, 0.5, 38.0, rate, "high_pass")]
        self._sos = np.array([np.r_[s.b, s.a] for s in stages])
        self._state = np.zeros((len(stages), 2, channels))
        self._weights = _CHANNEL_WEIGHTS[:channels]
        self._frames = 0
        self._partial = 0.0  # weighted energy of the step still filling
        self._steps = array("d")  # weighted energy of every finished step

    def add(self, block: np.ndarray) -> None:
        # A whisper of DC keeps the filter state out of subnormal numbers, which digital
        # silence would otherwise decay it into, making the filter ten times slower.
        x = np.add(block, 1e-18, dtype=np.float64).reshape(len(block), -1)
        if x.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {x.shape[1]}")
        if not len(x):
            return
        y, self._state = sosfilt(self._sos, x, axis=0, zi=self._state)
        y *= y
        power = y[:, 0] * self._weights[0]
        for c in range(1, self.channels):
            power += y[:, c] * self._weights[c]
        energy = np.cumsum(power)
        start, self._frames = self._frames, self._frames + len(x)
        # Step j spans frames [j * rate // 10, (j + 1) * rate // 10): pyloudnorm's boundaries.
        done = len(self._steps)
        ends = np.arange(done + 1, done + 3 + 10 * len(x) // self.rate) * self.rate // 10
        ends = ends[ends <= self._frames] - start
        if not len(ends):
            self._partial += energy[-1]
            return
        totals = energy[ends - 1]
        steps = np.diff(totals, prepend=0.0)
        steps[0] += self._partial
        self._steps.extend(steps)
        self._partial = energy[-1] - totals[-1]

    def steps(self) -> np.ndarray:
        """The weighted K-filtered energy of every finished 100 ms step (the unfinished one is
        left out), so measurements of consecutive pieces can be joined: see integrated_of."""
        return np.array(self._steps, dtype=np.float64)

    @property
    def integrated(self) -> float:
        return self.integrated_of(np.frombuffer(self._steps, dtype=np.float64), self.rate)

    @staticmethod
    def integrated_of(steps: np.ndarray, rate: int) -> float:
        """Gated integrated loudness (LUFS) from 100 ms step energies; -inf if nothing passes."""
        if len(steps) < 4:
            return -np.inf
        z = (steps[:-3] + steps[1:-2] + steps[2:-1] + steps[3:]) / (0.4 * rate)
        with np.errstate(divide="ignore"):
            loudness = -0.691 + 10 * np.log10(z)
        gated = z[loudness >= _ABSOLUTE_GATE]
        if not len(gated):
            return -np.inf
        relative = -0.691 + 10 * np.log10(gated.mean()) + _RELATIVE_GATE
        gated = z[(loudness > relative) & (loudness > _ABSOLUTE_GATE)]
        return float(-0.691 + 10 * np.log10(gated.mean())) if len(gated) else -np.inf


# BS.1770-4 Annex 2: the 48-tap interpolator as four 12-tap phases, each giving one of the four
# points a 4x oversampled signal has between the window's sixth and seventh samples.
_PHASE_0 = [0.0017089843750, 0.0109863281250, -0.0196533203125, 0.0332031250000,
            -0.0594482421875, 0.1373291015625, 0.9721679687500, -0.1022949218750,
            0.0476074218750, -0.0266113281250, 0.0148925781250, -0.0083007812500]
_PHASE_1 = [-0.0291748046875, 0.0292968750000, -0.0517578125000, 0.0891113281250,
            -0.1665039062500, 0.4650878906250, 0.7797851562500, -0.2003173828125,
            0.1015625000000, -0.0582275390625, 0.0330810546875, -0.0189208984375]
_PHASES = np.array([_PHASE_0, _PHASE_1, _PHASE_1[::-1], _PHASE_0[::-1]], np.float32)
_TAPS = _PHASES.shape[1]
_CHUNK = 1 << 16
_GAIN_BOUND = float(np.abs(_PHASES).sum(axis=1).max())  # |point| <= this * max |window|
_OVERSAMPLED_RATE = 176_400  # at or above it the samples are as dense as 4x oversampling


def true_peak_dbtp(samples: np.ndarray, rate: int, floor_dbtp: float = -np.inf) -> float:
    """Peak of the 4x oversampled signal in dBTP (never below the sample peak); -inf if silent.

    With `floor_dbtp` (a running maximum, say), only windows that could beat it are oversampled:
    the answer is exact whenever it exceeds the floor, which is all a running maximum needs.
    """
    x = np.asarray(samples, dtype=np.float32).reshape(len(samples), -1)
    peak = float(_frame_peaks(x).max()) if x.size else 0.0
    if peak == 0 or rate >= _OVERSAMPLED_RATE:
        return _db(peak)
    edge = np.zeros((_TAPS - 1, x.shape[1]), np.float32)
    floor = max(peak, 10 ** (floor_dbtp / 20) if np.isfinite(floor_dbtp) else 0.0)
    return _db(max(peak, float(_window_peaks(np.concatenate([edge, x, edge]), floor).max())))


class TruePeakMeter:
    """true_peak_dbtp of a stream fed block by block: windows across a block edge see both sides
    (measuring each block alone would invent an edge at every block, and overshoot there)."""

    def __init__(self, rate: int, channels: int):
        self.rate = rate
        self._tail = np.zeros((_TAPS - 1, channels), np.float32)  # the stream starts in silence
        self._peak = 0.0

    def add(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32).reshape(len(block), -1)
        if not len(block):
            return
        x = np.concatenate([self._tail, block])
        self._tail = x[-(_TAPS - 1):]
        self._peak = max(self._peak, float(_frame_peaks(block).max()))
        if self.rate < _OVERSAMPLED_RATE and self._peak > 0:
            self._peak = max(self._peak, float(_window_peaks(x, self._peak).max()))

    @property
    def dbtp(self) -> float:
        """The peak so far, with the stream ending in silence."""
        end = np.concatenate([self._tail, np.zeros_like(self._tail)])
        last = float(_window_peaks(end, self._peak).max()) if self._peak > 0 else 0.0
        return _db(max(self._peak, last))


def _frame_peaks(x: np.ndarray) -> np.ndarray:
    """max |x| across channels, frame by frame (numpy reduces a short last axis slowly)."""
    peak = np.abs(x[:, 0])
    for c in range(1, x.shape[1]):
        np.maximum(peak, np.abs(x[:, c]), out=peak)
    return peak


def _window_peaks(x: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Largest |interpolated point| of each 12-frame window of x (len(x) - 11 of them).

    Windows whose samples are too quiet for any interpolated point to pass `floor` get that
    bound instead (at most `floor`): in programme material loud windows are rare, so only they
    pay for the filter. The filter is written as shifted multiply-adds rather than a matrix
    product: as fast on one core, but BLAS threads make it several times slower when busy.
    """
    n = max(0, len(x) - _TAPS + 1)
    if floor > 0 and n:
        bound = _GAIN_BOUND * _sliding(_frame_peaks(x), _TAPS, np.maximum)
        loud = np.flatnonzero(bound > floor)
        if len(loud) < n // 8:
            for c in range(x.shape[1]):
                column = np.ascontiguousarray(x[:, c])
                windows = column[loud[:, None] + np.arange(_TAPS)]
                points = np.abs(sum(windows[:, k:k + 1] * _PHASES[:, k] for k in range(_TAPS)))
                exact = points.max(axis=1)
                bound[loud] = exact if c == 0 else np.maximum(bound[loud], exact)
            return bound.astype(np.float32)
    peaks = np.zeros(n, np.float32)
    point, term = np.empty((2, min(n, _CHUNK)), np.float32)
    for c in range(x.shape[1]):
        column = np.ascontiguousarray(x[:, c])
        for i in range(0, n, _CHUNK):  # bounds the temporaries
            m = min(_CHUNK, n - i)
            acc, tmp, best = point[:m], term[:m], peaks[i:i + m]
            for phase in _PHASES:
                np.multiply(column[i:i + m], phase[0], out=acc)
                for k in range(1, _TAPS):
                    acc += np.multiply(column[i + k:i + k + m], phase[k], out=tmp)
                np.maximum(best, np.abs(acc, out=acc), out=best)
    return peaks


def _sliding(v: np.ndarray, width: int, pick: np.ufunc) -> np.ndarray:
    """pick (np.maximum or np.minimum) over every `width` run of v.

    By doubling: after k passes m[i] covers v[i:i + 2**k], and two overlapping such runs cover
    any width below 2**(k+1). log2(width) contiguous passes beat van Herk's accumulate, which
    numpy runs slowly along short axes.
    """
    n = len(v) - width + 1
    if n <= 0:
        return v[:0]
    m, span = v, 1
    while span * 2 <= width:
        m = pick(m[:-span], m[span:])
        span *= 2
    return pick(m[:n], m[width - span:width - span + n])


# ---------------------------------------------------------------------------------------------
# Limiting

_MARGIN_DB = 0.05  # covers the gain's own slope inside the 12-tap interpolation window


class Limiter:
    """Brickwall limiter whose output's true peak never exceeds ceiling_dbtp.

    The gain needed at each frame (from the true peak, so overs between samples count) is held
    over the look-ahead window, released at release_db_per_s, then averaged over the look-ahead.
    Averaging a held minimum can only lower it, so the gain reaches its floor exactly at the peak
    and never rises above what any frame needs; it is flat across the peak's interpolation window.
    Everything is vectorised; the output lags the input by `latency` frames, which flush() returns.
    """

    def __init__(self, rate: int, channels: int, ceiling_dbtp: float = -1.0, *,
                 lookahead: float = 0.005, release_db_per_s: float = 60.0):
        if lookahead <= 0 or release_db_per_s <= 0:
            raise ValueError("lookahead and release_db_per_s must be positive")
        self.channels = channels
        self._ramp = max(1, round(lookahead * rate))
        self._ceiling_db = ceiling_dbtp - _MARGIN_DB
        self._threshold = 10 ** (self._ceiling_db / 20)
        self._release = release_db_per_s / rate  # dB per frame
        half = _TAPS // 2
        self.latency = half + self._ramp + half  # detection, then the hold's look-ahead
        self._input = np.zeros((self.latency, channels), np.float32)  # the audio not yet out
        self._needed = np.zeros(self._ramp + 2 * half)  # dB each frame needs, for the hold
        self._held = np.zeros(self._ramp)  # released gain (dB), for the average
        self._gain_db = 0.0  # the release's last value
        self._skip = self.latency  # the zeros the delay line starts with

    def process(self, block: np.ndarray) -> np.ndarray:
        x = np.asarray(block, dtype=np.float32).reshape(len(block), -1)
        if x.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {x.shape[1]}")
        out = self._run(x)
        skip = min(self._skip, len(out))
        self._skip -= skip
        return out[skip:]

    def flush(self) -> np.ndarray:
        """The last `latency` frames; the limiter is spent afterwards."""
        return self.process(np.zeros((self.latency, self.channels), np.float32))

    def _run(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if not n:
            return x
        audio = np.concatenate([self._input, x])
        self._input = audio[n:]
        # Frame k's peak: itself and the interpolated points on either side of it.
        detect = audio[self.latency - _TAPS:]
        between = _window_peaks(detect, self._threshold)
        peak = np.maximum(_frame_peaks(detect[_TAPS // 2:-(_TAPS // 2)]),
                          np.maximum(between[:-1], between[1:]))
        needed = np.zeros(n)
        over = peak > self._threshold
        needed[over] = self._ceiling_db - 20 * np.log10(peak[over])
        needed = np.concatenate([self._needed, needed])
        self._needed = needed[n:]
        if not needed.any() and self._gain_db == 0 and not self._held.any():
            return audio[:n]  # nothing to limit anywhere in sight: pass through untouched
        held = _sliding(needed, len(self._needed) + 1, np.minimum)
        # Release: gain_db[j] = min over i <= j of held[i] + release * (j - i), as one scan.
        rise = self._release * np.arange(n)
        released = rise + np.minimum(self._gain_db + self._release,
                                     np.minimum.accumulate(held - rise))
        self._gain_db = float(released[-1])
        window = np.concatenate([self._held, released])
        self._held = window[n:]
        total = np.concatenate([[0.0], np.cumsum(window)])
        span = self._ramp + 1
        gain_db = np.minimum((total[span:] - total[:-span]) / span, 0)
        gain = np.exp(gain_db.astype(np.float32) * np.float32(np.log(10) / 20))
        return audio[:n] * gain[:, None]


# ---------------------------------------------------------------------------------------------
# Ducking and fades


def voice_activity(samples: np.ndarray, rate: int, hop: float = 0.01,
                   hangover: float = 0.15) -> np.ndarray:
    """Per hop, whether the voice speaks: RMS above a threshold set by this take's own noise
    floor and level, held for `hangover` so music does not pump between words."""
    x = np.asarray(samples, dtype=np.float32).reshape(len(samples), -1).mean(axis=1)
    step = max(1, round(hop * rate))
    hops = -(-len(x) // step)
    if not hops:
        return np.zeros(0, bool)
    frames = np.concatenate([x, np.zeros(hops * step - len(x), np.float32)]).reshape(hops, step)
    level = 10 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + 1e-12)
    floor, loud = np.percentile(level, [10, 95])
    threshold = max(floor + 0.35 * (loud - floor), loud - 40.0, SILENT_DBFS)
    speaking = level > threshold
    hold = round(hangover / hop) + 1
    return np.convolve(speaking, np.ones(hold))[:hops] > 0


def duck_gain(activity: np.ndarray, hop: float, rate: int, n_frames: int, depth_db: float,
              attack: float = 0.08, release: float = 0.4) -> np.ndarray:
    """Per-frame linear gain for music under a voice, like a sidechain compressor: it falls to
    -depth_db within `attack` seconds of speech and returns to 1 within `release` of a pause."""
    target = np.where(np.asarray(activity, bool), -abs(depth_db), 0.0)
    down = abs(depth_db) * hop / attack if attack > 0 else np.inf
    up = abs(depth_db) * hop / release if release > 0 else np.inf
    level = np.empty(len(target) + 1)
    level[0] = now = target[0] if len(target) else 0.0
    for i, want in enumerate(target.tolist(), 1):  # hops are 100 a second: a loop is fine
        now = max(want, now - down) if want < now else min(want, now + up)
        level[i] = now
    at = np.arange(len(level)) * hop * rate
    gain = np.interp(np.arange(n_frames), at, np.power(10, level / 20))
    return gain.astype(np.float32)


def fade(samples: np.ndarray, rate: int, fade_in: float = 0.0, fade_out: float = 0.0,
         curve: Literal["equal_power", "linear"] = "equal_power") -> np.ndarray:
    """A copy with ramps at the ends; equal power keeps a fade from sounding like it dips."""
    y = np.array(samples, dtype=np.float32)
    for seconds, ends in ((fade_in, slice(None)), (fade_out, slice(None, None, -1))):
        n = min(len(y), round(seconds * rate))
        if n > 0:
            t = np.arange(n, dtype=np.float32) / n
            ramp = np.sin(t * np.float32(np.pi / 2)) if curve == "equal_power" else t
            part = y[ends][:n]
            part *= ramp.reshape(-1, *([1] * (y.ndim - 1)))
    return y
