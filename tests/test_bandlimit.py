"""The mix's sources are low-passed where they enter; filtering the mix would give the same."""

import numpy as np
from scipy.signal import welch

from pipeline.audio import bandlimit
from pipeline.audio.leveler import level_file

RATE = 44100


def _noise(seconds: float, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((round(seconds * RATE), channels)) * 0.1).astype(np.float32)


def _db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-30)


def test_low_passed_sources_mix_like_the_low_passed_mix():
    bed, voice = _noise(4, 2, 1), _noise(4, 1, 2)
    # The build's gains: a fade, a ducking ride of 60 ms steps, the leveler's slow ride.
    t = np.arange(len(bed)) / RATE
    duck = np.where((t % 1.0) < 0.5, 1.0, 10 ** (-15 / 20)).astype(np.float32)
    duck = np.convolve(duck, np.ones(round(0.06 * RATE)) / round(0.06 * RATE), "same")
    fade = np.minimum(1, t / 2).astype(np.float32)
    ride = (10 ** ((3 * np.sin(2 * np.pi * t / 3)) / 20)).astype(np.float32)

    def mix(b, v):
        return b * (fade * duck)[:, None] + v * ride[:, None]

    whole = bandlimit.lowpass(mix(bed, voice), RATE)
    parts = mix(bandlimit.lowpass(bed, RATE), bandlimit.lowpass(voice, RATE))
    assert _db(whole - parts) < _db(whole) - 60  # a millionth of the power: inaudible, unmeasurable


def test_the_band_above_the_cut_is_gone_and_the_band_below_kept():
    impulse = np.zeros((8192, 1), np.float32)
    impulse[0] = 1
    response = 20 * np.log10(np.abs(np.fft.rfft(bandlimit.lowpass(impulse, RATE)[:, 0])) + 1e-12)
    f = np.fft.rfftfreq(len(impulse), 1 / RATE)
    assert np.all(np.abs(response[(f > 20) & (f < 14000)]) < 0.1)  # Butterworth: flat
    assert np.all(response[f > 18500] < -40)


def test_a_loop_filters_as_it_plays_round_and_round():
    loop = _noise(1, 2, 4)
    played = bandlimit.lowpass(np.concatenate([loop] * 3), RATE)[2 * len(loop):]
    once = bandlimit.lowpass(loop, RATE, loop=True)
    assert np.max(np.abs(played - once)) < 1e-6


def test_blocks_filter_like_one_signal():
    x = _noise(1, 2, 5)
    stream = bandlimit.LowPass(RATE, 2)
    blocks = np.concatenate([stream(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    assert np.array_equal(blocks, bandlimit.lowpass(x, RATE))


def test_audio_without_that_band_passes_untouched():
    x = _noise(1, 1, 6)
    assert np.array_equal(bandlimit.lowpass(x, 22050), x)
    assert np.array_equal(bandlimit.LowPass(22050, 1)(x), x)


def test_the_leveler_keeps_narration_in_the_band(tmp_path):
    import soundfile as sf

    source = tmp_path / "take.f32"
    _noise(3, 1, 7)[:, 0].tofile(source)
    level_file(source, tmp_path / "levelled.flac", RATE, lowpass_hz=bandlimit.LOWPASS_HZ)
    y, _ = sf.read(tmp_path / "levelled.flac", dtype="float32")
    f, p = welch(y, RATE, nperseg=4096)
    assert 10 * np.log10(p[(f > 1000) & (f < 14000)].mean() / p[f > 18000].mean()) > 40


def test_the_builds_music_enters_the_mix_in_the_band(tmp_path):
    import soundfile as sf

    from pipeline.build.assemble import AssetBank
    from pipeline.manifest import Asset

    sf.write(tmp_path / "bed.wav", _noise(2, 2, 8), RATE)
    asset = Asset("bed", tmp_path / "bed.wav", "bed", 2.0, -20.0, True)
    kept = AssetBank({"bed": asset}, RATE, 2, bandlimit.LOWPASS_HZ)["bed"]
    raw = AssetBank({"bed": asset}, RATE, 2)["bed"]  # the bank keeps both: keyed by the cut
    f, p = welch(kept[:, 0], RATE, nperseg=4096)
    assert 10 * np.log10(p[(f > 1000) & (f < 14000)].mean() / p[f > 18500].mean()) > 40
    assert np.max(np.abs(raw - sf.read(tmp_path / "bed.wav", dtype="float32")[0])) < 1e-6
