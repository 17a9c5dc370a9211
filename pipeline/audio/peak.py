"""True peak (BS.1770-4 Annex 2) and the true-peak limiter that keeps a master under its ceiling."""

from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


SILENT_DBFS = -60.0  # a signal whose peak is below this holds nothing worth keeping


def db(amplitude: float) -> float:
    return 20 * np.log10(amplitude) if amplitude > 0 else -np.inf


def _as_frames(samples, channels: int | None = None) -> np.ndarray:
    """(frames, channels) float32; an empty block too (reshape cannot infer -1 from size 0)."""
    x = np.asarray(samples, dtype=np.float32)
    if x.size == 0:
        return x.reshape(0, channels or (x.shape[1] if x.ndim == 2 else 1))
    return x.reshape(len(x), -1)


def across(column: np.ndarray, channels: int, dtype=None) -> np.ndarray:
    """(frames, channels): `column` in every channel, laid out like the frames it meets, so
    arithmetic with them runs along whole rows (np.repeat and broadcasting a column along the
    short channel axis go a row at a time, several times slower)."""
    out = np.empty((len(column), channels), dtype or column.dtype)
    for c in range(channels):
        out[:, c] = column
    return out


def scale(x: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """x (frames, channels) times a gain per frame, in place (not x *= gain[:, None]: six
    times slower)."""
    x *= across(gain, x.shape[1], x.dtype)
    return x


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
    x = _as_frames(samples)
    peak = float(_frame_peaks(x).max()) if x.size else 0.0
    if peak == 0 or rate >= _OVERSAMPLED_RATE:
        return db(peak)
    edge = np.zeros((_TAPS - 1, x.shape[1]), np.float32)
    floor = max(peak, 10 ** (floor_dbtp / 20) if np.isfinite(floor_dbtp) else 0.0)
    return db(max(peak, float(_window_peaks(np.concatenate([edge, x, edge]), floor).max())))


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
    pay for the filter. Over every window it is written as shifted multiply-adds rather than a
    matrix product: as fast on one core, but BLAS threads make it several times slower when
    busy.
    """
    n = max(0, len(x) - _TAPS + 1)
    if floor > 0 and n:
        bound = _GAIN_BOUND * _sliding(_frame_peaks(x), _TAPS, np.maximum)
        loud = np.flatnonzero(bound > floor)
        if len(loud) < n // 8:
            bound[loud] = _gathered_peaks(np.ascontiguousarray(x), loud)
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


def _gathered_peaks(x: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """_window_peaks of the listed windows only: each window's frames (every channel, read as
    one row of the interleaved samples) gathered and multiplied by the phases, every channel
    at once, as a small matrix product (several times faster than einsum's loops; in runs of
    _GATHERED windows, which OpenBLAS works out on the calling thread)."""
    channels = x.shape[1]
    rows = sliding_window_view(x.reshape(-1), _TAPS * channels)[::channels][windows]
    phases = _phase_matrix(channels)
    out = np.empty(len(windows), np.float32)
    for i in range(0, len(windows), _GATHERED):
        points = phases @ rows[i:i + _GATHERED].T  # (phases x channels, windows)
        np.maximum(points.max(axis=0), -points.min(axis=0), out=out[i:i + _GATHERED])
    return out


_GATHERED = 1024


@functools.cache
def _phase_matrix(channels: int) -> np.ndarray:
    """The four phases for interleaved frames: row p * channels + c reads channel c."""
    m = np.zeros((len(_PHASES) * channels, _TAPS * channels), np.float32)
    for p, phase in enumerate(_PHASES):
        for c in range(channels):
            m[p * channels + c, c::channels] = phase
    return m


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

_STRETCH = 4096  # frames of envelope worked out at a time (see Limiter._run)
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
        self._active = False  # whether any of the three holds anything
        self._skip = self.latency  # the zeros the delay line starts with

    def process(self, block: np.ndarray) -> np.ndarray:
        x = _as_frames(block, self.channels)
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
        out = audio[:n]  # audio is this call's own copy: gained in place
        # The envelope a stretch at a time: limiting comes in bursts (a loud syllable), and a
        # stretch with nothing to limit in sight passes through without its dozen passes.
        busy = np.logical_or.reduceat(over, np.arange(0, n, _STRETCH))
        for a, limiting in zip(range(0, n, _STRETCH), busy.tolist()):
            if not (limiting or self._active) and n - a >= len(self._needed):
                continue  # the state stays all zeros: the envelope would be None
            gain = self._envelope(needed[a:a + _STRETCH])
            if gain is not None:
                scale(out[a:a + len(gain)], gain)
        return out

    def _envelope(self, needed: np.ndarray) -> np.ndarray | None:
        """The gain for these frames (from the dB each needs), or None where it stays 1."""
        n = len(needed)
        needed = np.concatenate([self._needed, needed])
        self._needed = needed[n:]
        if not needed.any() and self._gain_db == 0 and not self._held.any():
            self._active = False
            return None  # nothing to limit anywhere in sight
        self._active = True
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
        return np.exp(gain_db.astype(np.float32) * np.float32(np.log(10) / 20))
