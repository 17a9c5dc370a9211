"""The voice leveler on synthetic speech with known levels, measured by an independent meter."""

from __future__ import annotations

import tracemalloc

import numpy as np
import soundfile as sf
import pyloudnorm
import pytest

from pipeline.audio import leveler
from pipeline.audio.leveler import LevelerSettings

from synth import RATE, speech


def lufs(x: np.ndarray) -> float:
    return pyloudnorm.Meter(RATE).integrated_loudness(np.asarray(x, np.float64))


@pytest.mark.parametrize("offset_db", [0.0, -12.0, 6.0, -18.0])
def test_takes_at_any_level_land_on_the_target(offset_db):
    take = speech(30.0, offset_db, seed=2)
    assert lufs(take) == pytest.approx(-20.0 + offset_db, abs=0.5)
    out, plan = leveler.level(take, RATE)
    assert out.dtype == np.float32 and out.shape == take.shape
    assert lufs(out) == pytest.approx(-20.0, abs=0.1)
    assert plan.levelled_lufs == pytest.approx(lufs(out), abs=0.05)
    assert plan.speech_lufs == pytest.approx(lufs(take), abs=0.05)
    assert plan.warnings == ()


def test_other_targets():
    out, _ = leveler.level(speech(20.0, -6.0), RATE, LevelerSettings(target_lufs=-16.0))
    assert lufs(out) == pytest.approx(-16.0, abs=0.1)


def test_a_quiet_passage_is_brought_towards_the_loud_one_by_the_ratio():
    loud, quiet = speech(15.0, 0.0, seed=3), speech(15.0, -9.0, seed=4)
    out, _ = leveler.level(np.concatenate([loud, quiet]), RATE)
    half = 15 * RATE
    before = lufs(loud) - lufs(quiet)
    after = lufs(out[:half]) - lufs(out[half:])
    assert before == pytest.approx(9.0, abs=0.3)
    assert 9.0 / 3 - 1.0 < after < 9.0 / 3 + 1.0  # ratio 3, give or take the smoothing
    strong, _ = leveler.level(np.concatenate([loud, quiet]), RATE, LevelerSettings(ratio=20.0))
    assert abs(lufs(strong[:half]) - lufs(strong[half:])) < after


def test_pauses_and_room_noise_are_not_ridden_up():
    # Speech, six seconds of room noise at -60 dBFS, speech again.
    rng = np.random.default_rng(7)
    room = (rng.standard_normal(6 * RATE) * 10 ** (-60 / 20)).astype(np.float32)
    take = np.concatenate([speech(10.0, -6.0, seed=5, pauses=False), room,
                           speech(10.0, -6.0, seed=6, pauses=False)])
    out, plan = leveler.level(take, RATE)
    pause = plan.gain_db[int(10.5 / 0.1):int(15.5 / 0.1)]
    around = np.r_[plan.gain_db[50:95], plan.gain_db[165:210]]
    # The gain holds through the pause: the noise rises with the voice's gain and no further.
    assert np.ptp(pause) < 1.0 and abs(pause.mean() - around.mean()) < 1.0
    noise_gain = 20 * np.log10(np.std(out[11 * RATE:15 * RATE]) / np.std(room[RATE:5 * RATE]))
    assert noise_gain == pytest.approx(around.mean(), abs=1.0)


def test_the_gain_glides_without_pumping():
    take = np.concatenate([speech(10.0, 0.0, seed=8), speech(10.0, -10.0, seed=9),
                           speech(10.0, 0.0, seed=10)])
    out, plan = leveler.level(take, RATE)
    assert np.abs(np.diff(plan.gain_db)).max() < 0.6  # dB per 100 ms
    # Between step centres the gain is interpolated: no sample-level steps either.
    g = leveler.gains(plan.gain_db, RATE, 0, len(take))
    assert np.abs(np.diff(20 * np.log10(g))).max() < 1e-3


def test_a_take_needing_more_than_the_maximum_gain_is_raised_that_far_with_a_warning():
    take = speech(20.0, -28.0, seed=11)  # about -48 LUFS
    out, plan = leveler.level(take, RATE, name="takes/act-2.wav")
    assert plan.gain_db.max() <= 20.0 + 1e-9
    assert lufs(out) == pytest.approx(lufs(take) + 20.0, abs=1.5)
    [warning] = plan.warnings
    assert warning.startswith("takes/act-2.wav: speech at -4") and "+20 dB only" in warning
    assert "\n" not in warning


def test_silence_and_nothing_pass_through():
    out, plan = leveler.level(np.zeros(RATE, np.float32), RATE)
    assert np.array_equal(out, np.zeros(RATE, np.float32)) and plan.speech_lufs == -np.inf
    out, plan = leveler.level(np.zeros(0, np.float32), RATE)
    assert len(out) == 0 and plan.warnings == ()


def test_settings_are_checked():
    with pytest.raises(ValueError):
        LevelerSettings(ratio=0.5)
    with pytest.raises(ValueError):
        LevelerSettings(window_s=0.0)


def test_the_file_path_streams_and_matches_the_array_path(tmp_path):
    take = np.concatenate([speech(12.0, -12.0, seed=12), speech(12.0, 0.0, seed=13)])
    take.astype("<f4").tofile(tmp_path / "act-1.f32")
    plan = leveler.level_file(tmp_path / "act-1.f32", tmp_path / "act-1.flac", RATE)
    from_file = sf.read(tmp_path / "act-1.flac", dtype="float32")[0]
    in_memory, again = leveler.level(take, RATE)
    sf.write(tmp_path / "in-memory.flac", np.clip(in_memory, -1, 1), RATE, subtype="PCM_16")
    assert np.array_equal(from_file, sf.read(tmp_path / "in-memory.flac", dtype="float32")[0])
    assert np.abs(from_file - np.clip(in_memory, -1, 1)).max() <= 1 / 32768  # 16 bits
    # (deterministic, whatever the blocks)
    assert np.array_equal(plan.gain_db, again.gain_db)
    assert not list(tmp_path.glob("*.tmp*"))


def test_the_raw_copy_holds_the_flacs_numbers(tmp_path):
    """The build mixes from the copy, so it must be the FLAC sample for sample, clipping
    included; and the FLAC is what libsndfile makes of the clipped float."""
    take = speech(6.0, -3.0, seed=21)
    take[1000:1010] = [1.7, -1.9, 1.0, -1.0, 0.5 / 32768, 1.5 / 32768, 2.5 / 32768, -0.5 / 32768,
                       32767.5 / 32768, -32768.5 / 32768]
    take.astype("<f4").tofile(tmp_path / "act-1.f32")
    leveler.level_file(tmp_path / "act-1.f32", tmp_path / "act-1.flac", RATE,
                       LevelerSettings(max_gain_db=0.0, max_cut_db=0.0, range_db=0.0),  # unity
                       pcm_copy=tmp_path / "act-1.s16")
    flac = sf.read(tmp_path / "act-1.flac", dtype="int16")[0]
    assert np.array_equal(np.fromfile(tmp_path / "act-1.s16", "<i2"), flac)
    sf.write(tmp_path / "by-libsndfile.flac", np.clip(take, -1, 1), RATE, subtype="PCM_16")
    assert np.array_equal(flac, sf.read(tmp_path / "by-libsndfile.flac", dtype="int16")[0])
    assert not list(tmp_path.glob("*.tmp*"))


@pytest.mark.slow
def test_memory_follows_the_block_not_the_take(tmp_path):
    """Five minutes of narration (53 MB as float32) levelled with a few MB of memory."""
    source = tmp_path / "long.f32"
    with open(source, "wb") as f:
        for i in range(30):
            f.write(speech(10.0, -8.0 + (i % 3) * 4, seed=100 + i).astype("<f4").tobytes())
    tracemalloc.start()
    try:
        plan = leveler.level_file(source, tmp_path / "out.flac", RATE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert source.stat().st_size == 300 * RATE * 4 == sf.info(tmp_path / "out.flac").frames * 4
    assert len(plan.gain_db) == 3000
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MB"
