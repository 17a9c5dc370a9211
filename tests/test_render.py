"""Mixing a span (pydub assembly): ducking follows the voice, fades and loops land where the plan says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.manifest import Asset
from pipeline.model import Clip, Narration, Span
from pipeline.build.narrate import HOP, Spoken
from pipeline.build.assemble import AssetBank, assemble_span
from pipeline.show import Ducking

RATE = 44100


def db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x))) + 1e-12)


def span_with(clips, seconds, voice_start=0.0) -> Span:
    return Span("act-1", "act", 1, "Act 1", 0.0, seconds, voice_start, "draft", tuple(clips))


def spoken(tmp_path: Path, seconds: float, active: np.ndarray, voice: np.ndarray | None = None):
    raw = tmp_path / "voice.f32"
    samples = np.zeros(int(seconds * RATE), np.float32) if voice is None else voice
    samples.astype("<f4").tofile(raw)
    np.save(tmp_path / "voice.npy", active)
    return Spoken(Narration("act-1", seconds), raw, tmp_path / "voice.npy", ())


def bed(tmp_path: Path, seconds: float = 2.0) -> AssetBank:
    rng = np.random.default_rng(1)
    noise = (0.1 * rng.standard_normal((int(seconds * RATE), 2))).astype(np.float32)
    sf.write(tmp_path / "bed.wav", noise, RATE, subtype="FLOAT")
    return AssetBank({"bed": Asset("bed", tmp_path / "bed.wav", "bed", seconds, -20.0, True)},
                     RATE, 2)


def render(tmp_path, span, narration, bank, ducking=Ducking()):
    out = assemble_span(span, narration, bank, ducking, RATE, 2, tmp_path / "span")
    return np.fromfile(out.audio_file, "<f4").reshape(-1, 2), out


def test_music_dips_by_the_depth_while_the_voice_speaks_and_returns_in_pauses(tmp_path: Path):
    hops = int(8 / HOP)
    active = np.zeros(hops, bool)
    active[int(2 / HOP):int(5 / HOP)] = True  # the voice speaks from 2 s to 5 s
    music = Clip("bed", 0.0, 8.0, loop=True, ducked=True, role="bed")
    mixed, _ = render(tmp_path, span_with([music], 8.0), spoken(tmp_path, 8.0, active),
                      bed(tmp_path))
    before, during, after = (db(mixed[int(a * RATE):int(b * RATE)])
                             for a, b in ((0.5, 1.9), (2.5, 4.9), (6.0, 7.9)))
    assert abs((before - during) - 15.0) < 0.5
    assert abs(after - before) < 0.5
    # The attack is a ramp, not a step: 30 ms in, the dip is only part way down.
    edge = db(mixed[int(2.02 * RATE):int(2.04 * RATE)])
    assert during + 1 < edge < before - 1


def test_unducked_clips_ignore_the_voice_and_loops_wrap(tmp_path: Path):
    active = np.ones(int(5 / HOP), bool)
    music = Clip("bed", 0.0, 5.0, loop=True, ducked=False, role="bed")
    mixed, _ = render(tmp_path, span_with([music], 5.0), spoken(tmp_path, 5.0, active),
                      bed(tmp_path, 2.0))
    source = sf.read(tmp_path / "bed.wav", dtype="float32")[0]
    assert np.allclose(mixed[2 * RATE + 10], source[10], atol=1e-6)  # wrapped after 2 s


def test_fades_and_gain(tmp_path: Path):
    active = np.zeros(int(4 / HOP), bool)
    music = Clip("bed", 0.0, 4.0, gain_db=-6.0, fade_in=1.0, fade_out=1.0, loop=True,
                 role="bed")
    mixed, _ = render(tmp_path, span_with([music], 4.0), spoken(tmp_path, 4.0, active),
                      bed(tmp_path))
    assert np.abs(mixed[:50]).max() < 1e-3  # silence at the start of a fade in
    assert abs(db(mixed[int(1.5 * RATE):int(2.5 * RATE)]) - (db(
        sf.read(tmp_path / "bed.wav", dtype="float32")[0]) - 6)) < 0.5
    assert np.abs(mixed[-50:]).max() < 1e-2


def test_the_voice_lands_at_its_start_and_steps_are_kept(tmp_path: Path):
    voice = np.full(RATE, 0.25, np.float32)
    narration = spoken(tmp_path, 1.0, np.ones(int(1 / HOP), bool), voice)
    clip = Clip(None, 0.5, 1.0, role="voice")
    mixed, out = render(tmp_path, span_with([clip], 2.0, 0.5), narration, bed(tmp_path))
    assert np.all(mixed[: RATE // 2 - 1] == 0) and np.allclose(mixed[RATE // 2 + 5], 0.25)
    assert len(out.steps) == 20  # one K-weighted energy per 100 ms
