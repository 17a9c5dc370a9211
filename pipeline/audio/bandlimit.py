"""The mix's sources low-passed where they enter the build: the band the MP3 encoder keeps.

LAME low-passes at about 17 kHz at 128 kb/s. A limited peak that loses its top octave in the
encoder rings over the ceiling, so the limiter must see only what the encoder keeps. Filtering
is linear, so low-passing each source once, where it enters, gives the limiter the same band as
low-passing every mix before it. The build filters music when it decodes it and narration when
it levels it. That is a fraction of the cost: a 30 s bed is filtered once per build, not once
for every minute it plays, and the draft voice (22.05 kHz) has nothing up there to filter.
The gains between source and limiter (fades, ducking, the leveler's ride) move over tens of
milliseconds or more, and so hardly widen the band (tested against filtering the mix).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pipeline.audio import biquads

LOWPASS_HZ = 16_000.0


def applies(rate: int, hz: float = LOWPASS_HZ) -> bool:
    """Whether audio at `rate` can hold anything above `hz` worth filtering."""
    return 0 < hz < 0.45 * rate


class LowPass:
    """A streaming 8th-order Butterworth low-pass (a pass-through where it does not apply): the
    filter state runs on from block to block, so blocks filter like one signal."""

    def __init__(self, rate: int, channels: int, hz: float = LOWPASS_HZ):
        self._sos = _sections(hz, rate) if applies(rate, hz) else None
        if self._sos is not None:
            self._state = np.zeros((channels, len(self._sos), 2), np.float32)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        x = np.asarray(block, np.float32)
        if self._sos is None or not len(x):
            return x
        shape = x.shape
        y = np.ascontiguousarray(x.reshape(len(x), -1).T)  # a copy, filtered in place
        biquads.run(self._sos, y, self._state)
        return y.T.reshape(shape)


def lowpass(x: np.ndarray, rate: int, hz: float = LOWPASS_HZ, loop: bool = False
            ) -> np.ndarray:
    """`x` (frames, channels) low-passed. A loop is filtered as it plays, round and round: the
    filter runs in over its own end, so the seam carries the filter's memory as well."""
    x = np.asarray(x, np.float32)
    if not applies(rate, hz) or not len(x):
        return x
    run_in = min(len(x), LOOP_RUN_IN) if loop else 0
    filter_ = LowPass(rate, x.shape[1] if x.ndim > 1 else 1, hz)
    if run_in:
        filter_(x[len(x) - run_in:])
    return np.ascontiguousarray(filter_(x))


LOOP_RUN_IN = 4096  # frames: the filter's memory fades to float32 rounding within a few hundred


@lru_cache(maxsize=8)
def _sections(hz: float, rate: int) -> np.ndarray:
    """float32 sections: scipy runs them five times faster than float64 on audio this loud."""
    return biquads.butterworth_lowpass(8, hz, rate).astype(np.float32)
