"""Biquad sections run over audio in place, and the two designs the build filters with.

Every build with audio work filters: the meter's K-weighting, the low-pass to the encoder's band.
scipy's compiled sosfilt kernel runs the sections (its C loop carries the filter state from one
block to the next, which numpy cannot do without a Python loop per sample), but importing
scipy.signal to reach it takes about a second, scipy.stats and the array-API layer with it, on
one core at the start of every build: a sixth of an edited act's rebuild. So the kernel's own
extension module is loaded alone; where that fails (another scipy's layout), scipy.signal's
sosfilt runs instead. The designs are the textbook ones, tested equal to pyloudnorm's (the Audio
EQ Cookbook's shelf and high-pass, which BS.1770's K-weighting is) and to scipy's Butterworth.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import os

import numpy as np


def run(sos: np.ndarray, x: np.ndarray, state: np.ndarray) -> None:
    """Filter x (signals, samples), C-contiguous, in place through `sos` (sections, 6), the
    state (signals, sections, 2) carried on in place; all three of one float dtype."""
    kernel = _kernel()
    if kernel is not None:
        kernel(sos, x, state)
        return
    from scipy.signal import sosfilt

    y, final = sosfilt(sos, x, axis=1, zi=np.moveaxis(state, 1, 0))
    x[...], state[...] = y, np.moveaxis(final, 0, 1)


def preload() -> None:
    """Load the kernel now (a process about to fork workers: they inherit it)."""
    _kernel()


@functools.cache
def _kernel():
    """scipy's `_sosfilt(sos, x, zi)` from its extension file, or None. Checked on a signal
    whose answer is known before it is trusted."""
    try:
        import scipy

        folder = os.path.join(os.path.dirname(scipy.__file__), "signal")
        path = next(p for p in (os.path.join(folder, "_sosfilt" + s)
                                for s in importlib.machinery.EXTENSION_SUFFIXES)
                    if os.path.exists(p))
        spec = importlib.util.spec_from_file_location("scipy.signal._sosfilt", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        kernel = module._sosfilt
        # y[n] = x[n] + 0.5 y[n-1], then y[n] - y[n-1]: an impulse gives 1, -0.5, -0.25, ...
        sos = np.array([[1, 0, 0, 1, -0.5, 0], [1, -1, 0, 1, 0, 0]], np.float32)
        x, state = np.zeros((2, 4), np.float32), np.zeros((2, 2, 2), np.float32)
        x[:, 0] = 1
        kernel(sos, x, state)
        if not np.allclose(x, [[1, -0.5, -0.25, -0.125]] * 2):
            return None
        return kernel
    except Exception:  # any other layout or signature: scipy.signal's own entry point
        return None


def k_weighting(rate: int) -> np.ndarray:
    """BS.1770's K-weighting at `rate` as two sections: the head's high shelf (+4 dB above
    about 1.5 kHz) and the RLB high-pass (38 Hz), designed as pyloudnorm designs them."""
    return np.array([_cookbook("high_shelf", 4.0, 1 / np.sqrt(2), 1500.0, rate),
                     _cookbook("high_pass", 0.0, 0.5, 38.0, rate)])


def _cookbook(kind: str, gain_db: float, q: float, hz: float, rate: int) -> np.ndarray:
    """One section (b0, b1, b2, 1, a1, a2) from the Audio EQ Cookbook's formulas."""
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * hz / rate
    cos, alpha = np.cos(w), np.sin(w) / (2 * q)
    if kind == "high_shelf":
        root = 2 * np.sqrt(a) * alpha
        b = [a * ((a + 1) + (a - 1) * cos + root), -2 * a * ((a - 1) + (a + 1) * cos),
             a * ((a + 1) + (a - 1) * cos - root)]
        den = [(a + 1) - (a - 1) * cos + root, 2 * ((a - 1) - (a + 1) * cos),
               (a + 1) - (a - 1) * cos - root]
    elif kind == "high_pass":
        b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
        den = [1 + alpha, -2 * cos, 1 - alpha]
    else:
        raise ValueError(f"no cookbook section {kind!r}")
    return np.array([*b, *den]) / den[0]


def butterworth_lowpass(order: int, hz: float, rate: int) -> np.ndarray:
    """A digital Butterworth low-pass (sections, 6) by the bilinear transform, prewarped to
    `hz`: the analogue poles on the left half circle, every zero at Nyquist, unity gain at DC.
    Sections ordered and scaled as scipy's butter(..., output="sos") orders them: conjugate
    pairs, the poles nearest the unit circle last, the gain in the first."""
    if order % 2:
        raise ValueError("an even order: conjugate pairs only")
    fs2 = 2.0 * rate
    warped = fs2 * np.tan(np.pi * hz / rate)
    analog = -np.exp(1j * np.pi * np.arange(-order + 1, order, 2) / (2 * order)) * warped
    poles = (fs2 + analog) / (fs2 - analog)
    gain = np.real(warped ** order / np.prod(fs2 - analog))
    upper = sorted((p for p in poles if p.imag > 0), key=abs)  # one of each pair
    sos = np.array([[1.0, 2.0, 1.0, 1.0, -2 * p.real, abs(p) ** 2] for p in upper])
    sos[0, :3] *= gain
    return sos
