"""Test signals with known ground truth: tones, speech-like noise, music, full-band noise."""

from __future__ import annotations

import numpy as np

RATE = 44100


def sine(seconds: float, hz: float = 997.0, amplitude: float = 0.5, rate: int = RATE,
         phase: float = 0.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t + phase)).astype(np.float32)


def speech(seconds: float, level_db: float = 0.0, seed: int = 0, rate: int = RATE,
           pauses: bool = True) -> np.ndarray:
    """Mono speech-like noise: 4 Hz syllables of band-limited noise, phrases with pauses of
    near silence (room noise at -70 dBFS); at level_db 0 it measures about -20 LUFS."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n) / rate
    noise = rng.standard_normal(n)
    # Voice-band colour: a gentle low-pass by a moving average and a DC-free difference.
    voiced = np.convolve(noise, np.ones(4) / 4, mode="same")
    syllables = np.clip(np.sin(2 * np.pi * 3.7 * t + rng.uniform(0, 6)), 0, None) ** 1.5
    phrases = (np.sin(2 * np.pi * 0.23 * t + rng.uniform(0, 6)) > -0.4) if pauses else 1.0
    x = voiced * syllables * phrases * 0.34 * 10 ** (level_db / 20)
    x += rng.standard_normal(n) * 10 ** (-70 / 20)
    return x.astype(np.float32)


def music(seconds: float, channels: int = 2, level_db: float = 0.0, rate: int = RATE,
          seed: int = 1) -> np.ndarray:
    """A chord with a slow swell and a little noise: steady, bed-like."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    chord = sum(np.sin(2 * np.pi * hz * t + k) / (k + 1)
                for k, hz in enumerate((220.0, 277.2, 329.6, 440.0)))
    swell = 0.75 + 0.25 * np.sin(2 * np.pi * 0.1 * t)
    out = np.empty((len(t), channels), np.float32)
    for c in range(channels):
        out[:, c] = (0.08 * chord * swell + 0.004 * rng.standard_normal(len(t))) \
            * 10 ** (level_db / 20)
    return out


def full_band_noise(seconds: float, channels: int = 2, amplitude: float = 0.1, seed: int = 0,
                    rate: int = RATE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal((round(seconds * rate), channels))).astype(np.float32)
