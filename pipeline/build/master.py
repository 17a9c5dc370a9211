"""Mastering: the episode gained to its target loudness through a true-peak limiter, into the MP3."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.audio.encode import Mp3Writer
from pipeline.audio.loudness import LoudnessMeter
from pipeline.audio.peak import Limiter, TruePeakMeter
from pipeline.build.mix import Rendered, read_spans


@dataclass(frozen=True)
class Mastered:
    integrated_lufs: float
    true_peak_dbtp: float
    gain_db: float
    seconds: float


def master(spans: list[Rendered], rate: int, channels: int, target_lufs: float,
           ceiling_dbtp: float, mp3: Path, bitrate: int, ffmpeg: str,
           before_commit: Callable[[str], None], tick: Callable[[float], None] = lambda f: None
           ) -> Mastered:
    """Gain to the target loudness, a true-peak limiter, and the encoder, in one stream."""
    measured = LoudnessMeter.integrated_of(np.concatenate([s.steps for s in spans]), rate)
    gain_db = target_lufs - measured if np.isfinite(measured) else 0.0
    gain = np.float32(10 ** (gain_db / 20))
    limiter = Limiter(rate, channels, ceiling_dbtp)
    meter, peak = LoudnessMeter(rate, channels), TruePeakMeter(rate, channels)
    total = sum(s.frames for s in spans) or 1
    done = 0
    with Mp3Writer(mp3, rate, channels, bitrate, ffmpeg=ffmpeg,
                   before_commit=before_commit) as writer:
        for block in read_spans(spans, channels):
            out = limiter.process(block * gain)
            peak.add(out)
            meter.add(out)
            writer.write(out)
            done += len(block)
            tick(done / total)
        out = limiter.flush()
        peak.add(out)
        meter.add(out)
        writer.write(out)
    return Mastered(round(meter.integrated, 2), round(peak.dbtp, 2), round(gain_db, 2),
                    round(total / rate, 3))
