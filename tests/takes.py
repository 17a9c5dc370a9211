"""Takes with known ground truth for the alignment tests: espeak-ng sentences joined by pauses of
known length, in a room (a decaying-noise impulse response) over a noise floor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import soxr

from pipeline.audio import voice

needs_voice = pytest.mark.skipif(not voice.available(), reason="espeak-ng is not available")

# A short story for takes the tests read aloud (original to this project).
STORY = ["The lighthouse keeper climbed the stairs before dawn.",
         "Every night he lit the great lamp and watched the water.",
         "Ships passed safely by the rocks, and the sailors waved at him.",
         "In the winter the sea froze over completely.",
         "Nobody came to the island for three long months."]


@dataclass(frozen=True)
class Take:
    samples: np.ndarray  # float32 mono
    rate: int
    sentences: tuple[str, ...]
    starts: tuple[float, ...]  # when each sentence's first word starts, seconds
    ends: tuple[float, ...]
    words: tuple[tuple[str, float], ...] = ()  # every word as the voice spoke it, and its start


def room(x: np.ndarray, rate: int, seed: int = 0, rt: float = 0.25, noise_db: float = -55.0):
    """Reverb (a noise burst decaying over `rt` seconds) and a noise floor at `noise_db` dBFS."""
    rng = np.random.default_rng(seed)
    n = int(rt * rate)
    ir = rng.standard_normal(n) * np.exp(-np.arange(n) / (rt / 6.9 * rate))
    ir *= 0.25 / np.abs(ir).max()
    ir[0] = 1.0
    size = 1 << int(np.ceil(np.log2(len(x) + n)))
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)[:len(x)]
    y = y / np.abs(y).max() * 0.7
    y += rng.standard_normal(len(y)) * 10 ** (noise_db / 20)
    return y.astype(np.float32)


def make_take(sentences, *, rate=16000, voice_name="en-us", wpm=160, pitch=None, seed=0,
              gaps=(0.35, 1.1), lead=0.4, reverb=True) -> Take:
    rng = np.random.default_rng(seed)
    parts, starts, ends, words = [np.zeros(int(lead * 22050), np.float32)], [], [], []
    at = len(parts[0])
    for text in sentences:
        speech = voice.speak(text, voice=voice_name, wpm=wpm, pitch=pitch)
        starts.append((at + speech.words[0].start * speech.sample_rate) / speech.sample_rate)
        ends.append((at + speech.words[-1].end * speech.sample_rate) / speech.sample_rate)
        words += [(w.text, (at + w.start * speech.sample_rate) / speech.sample_rate)
                  for w in speech.words]
        parts.append(speech.samples)
        at += len(speech.samples)
        gap = np.zeros(int(rng.uniform(*gaps) * 22050), np.float32)
        parts.append(gap)
        at += len(gap)
    x = np.concatenate(parts)
    x = room(x, 22050, seed) if reverb else x
    if rate != 22050:
        x = soxr.resample(x, 22050, rate).astype(np.float32)
    return Take(x, rate, tuple(sentences), tuple(starts), tuple(ends), tuple(words))
