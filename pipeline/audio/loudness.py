"""Loudness per ITU-R BS.1770-4: the one meter every stage (and the report) uses."""

from __future__ import annotations

from array import array

import numpy as np

from pipeline.audio import biquads


_CHANNEL_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.41, 1.41])  # L, R, C, Ls, Rs
_ABSOLUTE_GATE = -70.0  # LUFS
_RELATIVE_GATE = -10.0  # LU below the absolutely gated loudness
GRID_DB = 0.05  # what a gain decided from a whole span or take is held to


def on_grid(db: float, grid: float = GRID_DB) -> float:
    """A gain (or the loudness it is decided from) on the grid: an edit that moves a span's
    loudness by less than that mostly leaves it, and so all before the edit, as it was
    (the segment-wise encoder then keeps those pieces); at most 0.025 dB from the figure."""
    return round(round(db / grid) * grid, 4) if np.isfinite(db) else db


def integrated_loudness(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS; -inf for silence or less than one 400 ms gating block."""
    if len(samples) < 0.4 * rate:
        return -np.inf
    import pyloudnorm  # the reference meter (it imports scipy.signal: a second)

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
        # Filtered in float32 (scipy's float32 biquads run five times faster than its float64
        # ones, and their error is far below a hundredth of a LU: tested against pyloudnorm,
        # whose coefficients these are); the energies are summed in float64.
        self._sos = biquads.k_weighting(rate).astype(np.float32)
        self._state = np.zeros((channels, len(self._sos), 2), np.float32)
        self._weights = _CHANNEL_WEIGHTS[:channels]
        self._frames = 0
        self._partial = 0.0  # weighted energy of the step still filling
        self._steps = array("d")  # weighted energy of every finished step

    def power(self, block: np.ndarray) -> np.ndarray:
        """The channel-weighted K-filtered power of each frame of `block` (float32), the filter
        state carried on (add() bins it into steps; a caller may bin it otherwise, summing in
        float64 or pairwise, not in a float32 running sum)."""
        # A whisper of DC keeps the filter state out of subnormal numbers, which digital
        # silence would otherwise decay it into, making the filter ten times slower.
        block = np.asarray(block, np.float32).reshape(len(block), -1)
        if block.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {block.shape[1]}")
        if not len(block):
            return np.zeros(0, np.float32)
        # Filtered in place with each channel a contiguous row (rows square faster than
        # strided columns).
        y = np.empty((self.channels, len(block)), np.float32)
        np.add(block.T, np.float32(1e-18), out=y)
        biquads.run(self._sos, y, self._state)
        # Squared and weighted in float32 (a relative error of 1e-7 a frame), summed in float64
        # by the caller: several times cheaper than a float64 power and its running sum.
        power = np.square(y[0])
        for c in range(1, self.channels):
            w = self._weights[c]
            power += np.square(y[c]) if w == 1 else np.square(y[c]) * np.float32(w)
        return power

    def add(self, block: np.ndarray) -> None:
        power = self.power(block)
        if not len(power):
            return
        start, self._frames = self._frames, self._frames + len(power)
        # Step j spans frames [j * rate // 10, (j + 1) * rate // 10): pyloudnorm's boundaries.
        done = len(self._steps)
        ends = np.arange(done + 1, done + 3 + 10 * len(power) // self.rate) * self.rate // 10
        ends = ends[ends <= self._frames] - start
        if not len(ends):
            self._partial += float(power.sum(dtype=np.float64))
            return
        # Sums over [0, e0), [e0, e1), ... and, unless the block ends on a step, the rest.
        whole = ends[-1] == len(power)
        sums = np.add.reduceat(power, np.r_[0, ends[:-1] if whole else ends], dtype=np.float64)
        sums[0] += self._partial
        self._steps.extend(sums if whole else sums[:-1])
        self._partial = 0.0 if whole else float(sums[-1])

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


