"""Ducking and fades: the gain curves that sit music under a voice."""

from __future__ import annotations

from typing import Literal

import numpy as np

from pipeline.audio.peak import SILENT_DBFS

# ---------------------------------------------------------------------------------------------
# Ducking and fades


def voice_activity(samples: np.ndarray, rate: int, hop: float = 0.01,
                   hangover: float = 0.15) -> np.ndarray:
    """Per hop, whether the voice speaks: RMS above a threshold set by this take's own noise
    floor and level, held for `hangover` so music does not pump between words."""
    x = np.asarray(samples, dtype=np.float32).reshape(len(samples), -1)
    x = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1)  # a mean along one channel is slow
    step = max(1, round(hop * rate))
    hops = -(-len(x) // step)
    if not hops:
        return np.zeros(0, bool)
    frames = np.concatenate([x, np.zeros(hops * step - len(x), np.float32)]).reshape(hops, step)
    # Each hop's mean square by einsum in float32 (1e-6 dB from float64's, four times faster
    # than squaring the take into float64 first).
    power = np.einsum("ij,ij->i", frames, frames).astype(np.float64) / step
    level = 10 * np.log10(power + 1e-12)
    floor, loud = np.percentile(level, [10, 95])
    threshold = max(floor + 0.35 * (loud - floor), loud - 40.0, SILENT_DBFS)
    speaking = level > threshold
    hold = round(hangover / hop) + 1
    return np.convolve(speaking, np.ones(hold))[:hops] > 0


def between(levels: np.ndarray, a: int, b: int, spacing: float, origin: float = 0.0
            ) -> np.ndarray:
    """Frames [a, b) of an envelope known at frames origin + k * spacing: linear between
    them and held outside (np.interp's answer), float32. Where the knots are a whole number
    of frames apart it is built from one ramp per knot, ten times faster than interpolating
    each frame (the mix's ducking and the leveler's gain run it over every frame of an
    episode); knots between frames (the leveler's, at step centres) shift every ramp alike."""
    levels = np.asarray(levels)
    whole = round(spacing) >= 1 and abs(spacing - round(spacing)) < 1e-9
    if not whole or not len(levels) or b <= a:
        return np.interp((np.arange(a, b, dtype=np.float64) - origin) / spacing,
                         np.arange(len(levels)), levels).astype(np.float32)
    first = int(np.ceil(origin - 1e-9))  # the first frame at or after knot 0
    shift = np.float32(first - origin) if abs(first - origin) > 1e-9 else np.float32(0)
    step, a0, b0 = round(spacing), a - first, b - first
    k0, k1 = a0 // step, -(-b0 // step)
    d = levels[np.clip(np.arange(k0, k1 + 1), 0, len(levels) - 1)].astype(np.float32)
    ramps = d[:-1, None] + np.diff(d)[:, None] * ((np.arange(step, dtype=np.float32) + shift)
                                                  / np.float32(step))
    return ramps.ravel()[a0 - k0 * step:b0 - k0 * step]


def duck_gain(activity: np.ndarray, hop: float, rate: int, n_frames: int, depth_db: float,
              attack: float = 0.08, release: float = 0.4) -> np.ndarray:
    """Per-frame linear gain for music under a voice, like a sidechain compressor: it falls to
    -depth_db within `attack` seconds of speech and returns to 1 within `release` of a pause."""
    target = np.where(np.asarray(activity, bool), -abs(depth_db), 0.0)
    down = abs(depth_db) * hop / attack if attack > 0 else np.inf
    up = abs(depth_db) * hop / release if release > 0 else np.inf
    level = np.empty(len(target) + 1)
    level[0] = now = target[0] if len(target) else 0.0
    # Each run of one target is a ramp toward it, then held there: a step per run, not per hop
    # (the mix's workers work this out for every block of a span).
    edges = np.flatnonzero(np.diff(target)) + 1
    for a, b in zip([0, *edges.tolist()], [*edges.tolist(), len(target)]):
        want, k = float(target[a]), np.arange(1, b - a + 1)
        ramp = np.maximum(want, now - k * down) if want < now else np.minimum(want, now + k * up)
        level[a + 1:b + 1] = ramp
        now = float(ramp[-1])
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

