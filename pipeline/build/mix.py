"""Timeline → audio: each span mixed window by window, then the episode mastered into the MP3.

Memory is bounded by the window, not the episode: narration is read from its cache file a
window at a time, music is small and decoded once, the ducking envelope is kept per 10 ms hop
and only interpolated to samples inside the window. Each span is written to the cache with its
per-100 ms loudness energies, so mastering knows the episode's loudness before it reads a sample
and can stream gain → limiter → encoder in a single pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.audio import decode, dynamics, loudness
from pipeline.files import save_array
from pipeline.manifest import Asset
from pipeline.model import Clip, Span
from pipeline.build.narrate import HOP, Spoken
from pipeline.show import Ducking

WINDOW = 1 << 17  # frames mixed at a time (about 3 s)


# Decoded assets, per process. The build fills it before forking its workers, which inherit it,
# so a bed shared by every act is decoded once per build, not once per segment. Keyed by the
# file's size and mtime too: a long-lived process never mixes an edited asset's old audio.
_DECODED: dict[tuple[Path, int, int, int, int], np.ndarray] = {}


class AssetBank:
    """Assets decoded once, at the show's rate and channels: a few MB each."""

    def __init__(self, assets: dict[str, Asset], rate: int, channels: int):
        self._assets, self._rate, self._channels = assets, rate, channels

    def __getitem__(self, name: str) -> np.ndarray:
        path = self._assets[name].path
        try:
            st = path.stat()
            version = (st.st_size, st.st_mtime_ns)
        except OSError:
            version = (-1, -1)  # read_audio names the file and the problem
        key = (path, self._rate, self._channels, *version)
        if key not in _DECODED:
            for stale in [k for k in _DECODED if k[:3] == key[:3]]:
                del _DECODED[stale]
            _DECODED[key] = decode.read_audio(path, self._rate, self._channels)
        return _DECODED[key]


@dataclass(frozen=True)
class Rendered:
    """A span's audio in the cache: raw float32 frames, and its loudness steps."""

    audio_file: Path
    frames: int
    steps: np.ndarray  # K-weighted energy of every 100 ms


def render_span(span: Span, spoken: Spoken, bank: AssetBank, ducking: Ducking, rate: int,
                channels: int, stem: Path, tick: Callable[[float], None] = lambda f: None
                ) -> Rendered:
    """Mix one span to `stem`.f32 (+ .steps.npy); a failure leaves nothing behind."""
    frames = round(span.duration * rate)
    duck = _duck_levels(span, spoken, ducking)
    meter = loudness.LoudnessMeter(rate, channels)
    tmp = stem.with_suffix(f".tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as sink, open(spoken.audio_file, "rb") as narration:
            for start in range(0, frames, WINDOW):
                n = min(WINDOW, frames - start)
                out = np.zeros((n, channels), np.float32)
                for clip in span.clips:
                    _mix(out, start, clip, span, narration, bank, duck, rate)
                meter.add(out)
                sink.write(out.astype("<f4", copy=False).tobytes())
                tick((start + n) / frames)
        steps = meter.steps()
        save_array(stem.with_suffix(".steps.npy"), steps)
        os.replace(tmp, stem.with_suffix(".f32"))
    finally:
        tmp.unlink(missing_ok=True)
    return Rendered(stem.with_suffix(".f32"), frames, steps)


def load_span(stem: Path, frames: int, channels: int) -> Rendered | None:
    """A span rendered before with the same key, or None (a damaged entry is made again)."""
    raw, steps = stem.with_suffix(".f32"), stem.with_suffix(".steps.npy")
    try:
        if raw.stat().st_size == frames * 4 * channels:
            return Rendered(raw, frames, np.load(steps))
    except (OSError, ValueError, EOFError):
        pass
    return None



def _duck_levels(span: Span, spoken: Spoken, ducking: Ducking) -> np.ndarray:
    """Music gain per hop across the span: down while the voice speaks, up in its pauses."""
    hops = int(np.ceil(span.duration / HOP)) + 1
    active = np.zeros(hops, bool)
    voiced = np.load(spoken.activity_file)
    first = round(span.voice_start / HOP)
    voiced = voiced[:max(0, hops - first)]
    active[first:first + len(voiced)] = voiced
    return dynamics.duck_gain(active, HOP, round(1 / HOP), hops, ducking.depth_db,
                           ducking.attack_ms / 1000, ducking.release_ms / 1000)


def _mix(out: np.ndarray, w0: int, clip: Clip, span: Span, narration, bank: AssetBank,
         duck: np.ndarray, rate: int) -> None:
    c0 = round(clip.start * rate)
    c1 = c0 + round(clip.duration * rate)
    a, b = max(w0, c0), min(w0 + len(out), c1)
    if a >= b:
        return
    offset = round(clip.offset * rate) + (a - c0)  # first source frame of this slice
    if clip.asset is None:
        narration.seek(offset * 4)
        voice = np.fromfile(narration, "<f4", b - a)
        out[a - w0:a - w0 + len(voice)] += voice[:, None]
        return
    source = bank[clip.asset]
    if clip.loop:
        piece = _looped(source, offset, b - a)
    else:
        piece = source[offset:offset + (b - a)]
        if not len(piece):
            return
        b = a + len(piece)
    piece = piece * np.float32(10 ** (clip.gain_db / 20))  # a copy: the envelopes work in place
    _ramp(piece, a - c0, round(clip.fade_in * rate), rising=True)
    _ramp(piece, c1 - b, round(clip.fade_out * rate), rising=False)
    if clip.ducked:
        hops = np.arange(a, b, dtype=np.float64) / (rate * HOP)
        piece *= np.interp(hops, np.arange(len(duck)), duck).astype(np.float32)[:, None]
    out[a - w0:b - w0] += piece


def _looped(source: np.ndarray, offset: int, n: int) -> np.ndarray:
    """n frames of `source` played round and round from `offset`, by slices (no gather)."""
    parts, at = [], offset % len(source)
    while n > 0:
        take = min(n, len(source) - at)
        parts.append(source[at:at + take])
        n, at = n - take, 0
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


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
        piece[:n] *= ramp[:, None]
    else:
        piece[len(piece) - n:] *= ramp[::-1, None]


def read_spans(spans: list[Rendered], channels: int, window: int = WINDOW) -> Iterator[np.ndarray]:
    for rendered in spans:
        with open(rendered.audio_file, "rb") as f:
            while len(block := np.fromfile(f, "<f4", window * channels)):
                yield block.reshape(-1, channels)
