"""The build's filters without scipy.signal: the same designs and the same samples as scipy's
and pyloudnorm's, and a build's audio stack that never imports scipy.signal."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pipeline.audio import biquads


@pytest.mark.parametrize("rate, order, hz", [
    (rate, order, hz) for rate in (22050, 44100, 48000, 96000)
    for order, hz in ((8, 16000.0), (4, 5000.0), (2, 1000.0)) if hz < 0.45 * rate])
def test_the_butterworth_low_pass_is_scipys(rate, order, hz):
    from scipy.signal import butter

    ours = biquads.butterworth_lowpass(order, hz, rate)
    theirs = butter(order, hz, fs=rate, output="sos")
    assert ours.shape == theirs.shape
    assert np.allclose(ours, theirs, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000, 96000, 192000])
def test_k_weighting_is_pyloudnorms(rate):
    from pyloudnorm.iirfilter import IIRfilter

    stages = [IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"),
              IIRfilter(0.0, 0.5, 38.0, rate, "high_pass")]
    theirs = np.array([np.r_[s.b, s.a] for s in stages])
    assert np.allclose(biquads.k_weighting(rate), theirs, rtol=1e-13, atol=1e-15)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.lists(st.integers(1, 700), min_size=1, max_size=5),
       st.integers(0, 2 ** 32 - 1), st.booleans())
def test_sections_run_in_blocks_as_scipy_runs_them_whole(channels, blocks, seed, kernel):
    """The state carried from block to block, by scipy's kernel or by its public sosfilt."""
    from scipy.signal import sosfilt

    rng = np.random.default_rng(seed)
    sos = biquads.butterworth_lowpass(8, 16000.0, 44100).astype(np.float32)
    x = rng.standard_normal((channels, sum(blocks))).astype(np.float32)
    want = sosfilt(sos, x, axis=1)
    state = np.zeros((channels, len(sos), 2), np.float32)
    got, at = [], 0
    chosen = biquads._kernel() if kernel else None
    original = biquads._kernel
    biquads._kernel = lambda: chosen
    try:
        for n in blocks:
            part = np.ascontiguousarray(x[:, at:at + n])
            biquads.run(sos, part, state)
            got.append(part)
            at += n
    finally:
        biquads._kernel = original
    assert np.allclose(np.concatenate(got, axis=1), want, rtol=1e-5, atol=1e-6)


def test_the_kernel_is_found_in_this_scipy():
    assert biquads._kernel() is not None  # else every build imports scipy.signal: a second


def test_the_builds_audio_stack_leaves_scipy_signal_out():
    code = ("import sys, numpy as np; import pipeline.build.episode; "
            "from pipeline.audio import loudness, bandlimit; "
            "m = loudness.LoudnessMeter(44100, 2); m.add(np.ones((44100, 2), np.float32)); "
            "bandlimit.lowpass(np.ones((1000, 2), np.float32), 44100); "
            "print(sorted(k for k in sys.modules if k.startswith(('scipy.signal', 'pyloudnorm'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['scipy.signal._sosfilt']"
