"""The published file's loudness, decoded by ffmpeg, checked against ffmpeg's own ebur128."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr

from conftest import ffmpeg_ebur128
from pipeline.audio import peak

from pipeline.audio import measure
from pipeline.audio.encode import Mp3Writer
from pipeline.errors import AudioError

from synth import RATE, full_band_noise, music, sine, speech


def metered(x: np.ndarray, block: int = 10_000, boundaries=()) -> measure.Measured:
    x = x.reshape(len(x), -1)
    meter = measure.StreamMeter(RATE, x.shape[1])
    for i in range(0, len(x), block):
        meter.add(x[i:i + block])
    return meter.finish(boundaries)


def mp3(path, x: np.ndarray, bitrate: int = 128):
    x = x.reshape(len(x), -1)
    with Mp3Writer(path, RATE, x.shape[1], bitrate) as writer:
        for i in range(0, len(x), 65536):
            writer.write(x[i:i + 65536])
    return path


def test_a_sine_reads_its_textbook_loudness_and_peak():
    # BS.1770: a 997 Hz sine at 0 dBFS in one channel reads -3.01 LUFS.
    mono = metered(sine(10.0, amplitude=0.5)).whole
    assert mono.integrated_lufs == pytest.approx(-6.02 - 3.01, abs=0.05)
    assert mono.true_peak_dbtp == pytest.approx(-6.02, abs=0.02)
    assert mono.lra_lu == pytest.approx(0.0, abs=0.05)
    stereo = metered(np.repeat(sine(10.0, amplitude=0.5)[:, None], 2, 1)).whole
    assert stereo.integrated_lufs == pytest.approx(-6.02, abs=0.05)  # two channels: +3 dB


def test_true_peak_is_found_between_samples():
    # A quarter-rate sine sampled 45 degrees off its crests: samples at -3 dB, the wave at 0 dB.
    x = sine(2.0, hz=RATE / 4, amplitude=1.0, phase=np.pi / 4)
    assert 20 * np.log10(np.abs(x).max()) == pytest.approx(-3.01, abs=0.01)
    assert metered(x * np.float32(0.5)).whole.true_peak_dbtp == pytest.approx(-6.02, abs=0.1)


@pytest.mark.parametrize("seed", range(6))
def test_true_peak_of_full_band_noise_agrees_with_16x_oversampling(seed):
    x = full_band_noise(5.0, seed=seed)
    reference = 20 * np.log10(np.abs(soxr.resample(x, RATE, 16 * RATE, quality="VHQ")).max())
    assert metered(x).whole.true_peak_dbtp == pytest.approx(reference, abs=0.1)


def test_the_48_tap_interpolator_misreads_full_band_noise():
    """Why measure oversamples with soxr: BS.1770's 48 taps are off by several tenths of a dB
    on noise reaching Nyquist (either way), where measure stays within 0.1 dB."""
    errors = []
    for seed in range(6):
        x = full_band_noise(5.0, seed=seed)
        reference = 20 * np.log10(np.abs(soxr.resample(x, RATE, 16 * RATE, quality="VHQ")).max())
        errors.append(peak.true_peak_dbtp(x, RATE) - reference)
    assert max(np.abs(errors)) > 0.25


@pytest.mark.parametrize("rate", [44100, 24000])
def test_the_oversamplers_bound_holds_and_is_reached(rate):
    """oversampler_bound, which lets the build skip oversampling quiet stretches: no point
    of any signal passes gain x the largest |sample| within reach, and the worst signal for a
    point (each sample the sign of the tap it meets) comes within a hair of it."""
    gain, reach = measure.oversampler_bound(rate)
    f = measure.OVERSAMPLING
    rng = np.random.default_rng(5)
    n = 4096
    for x in (full_band_noise(0.5, channels=1, rate=rate, seed=1).reshape(-1),
              np.sign(rng.standard_normal(n)).astype(np.float32),
              sine(0.2, hz=0.49 * rate, amplitude=1.0, rate=rate)):
        y = np.abs(soxr.resample(x, rate, f * rate, quality=measure.OVERSAMPLER_QUALITY))
        local = np.array([np.abs(x[max(0, i - reach):i + reach + 1]).max() for i in
                          range(reach, len(x) - reach)])
        assert np.all(y[f * reach:f * (len(x) - reach)].reshape(-1, f).max(axis=1)
                      <= gain * local)
    impulse = np.zeros(n, np.float32)
    impulse[n // 2] = 1
    h = soxr.resample(impulse, rate, f * rate, quality=measure.OVERSAMPLER_QUALITY)
    phase = int(np.argmax([np.abs(h[p::f]).sum() for p in range(f)]))
    taps = h[phase::f]
    worst = np.sign(taps[::-1]).astype(np.float32)  # meets every tap with its own sign
    point = soxr.resample(worst, rate, f * rate, quality=measure.OVERSAMPLER_QUALITY)
    assert gain / 1.01 < np.abs(point).max() <= gain


def test_loudness_range_of_two_levels_is_their_difference():
    # 20 s at one level, 20 s 10 dB lower: the short-term loudness spends half its time at each.
    x = np.concatenate([sine(20.0, amplitude=0.5), sine(20.0, amplitude=0.5 * 10 ** -0.5)])
    got = metered(x).whole
    assert got.lra_lu == pytest.approx(10.0, abs=0.3)
    assert measure.loudness_range(np.zeros(10), RATE) == 0.0  # shorter than one 3 s window


def test_the_figures_do_not_depend_on_block_size():
    x = np.stack([speech(12.0), speech(12.0, seed=3)], 1)
    a, b = metered(x, 4410, [0, 5]), metered(x, 65536, [0, 5])
    for got, expected in zip((a.whole, *a.segments), (b.whole, *b.segments)):
        assert got.integrated_lufs == pytest.approx(expected.integrated_lufs, abs=1e-9)
        assert got.true_peak_dbtp == pytest.approx(expected.true_peak_dbtp, abs=1e-6)
        assert got.lra_lu == pytest.approx(expected.lra_lu, abs=1e-9)


def test_segments_are_figured_from_their_own_steps():
    quiet, loud = speech(10.0, level_db=-12.0, seed=1), speech(10.0, seed=2)
    both = metered(np.concatenate([quiet, loud]), boundaries=[0.0, 10.0])
    alone = [metered(quiet).whole, metered(loud).whole]
    assert len(both.segments) == 2
    for got, expected in zip(both.segments, alone):
        assert got.integrated_lufs == pytest.approx(expected.integrated_lufs, abs=0.05)
        assert got.true_peak_dbtp == pytest.approx(expected.true_peak_dbtp, abs=0.05)
    gap = both.segments[1].integrated_lufs - both.segments[0].integrated_lufs
    assert gap == pytest.approx(12.0, abs=0.3)
    assert both.whole.true_peak_dbtp == max(s.true_peak_dbtp for s in both.segments)
    with pytest.raises(ValueError):
        measure.step_bounds([5.0, 1.0], 200)


def programme(seconds: float, channels: int) -> np.ndarray:
    """Speech over a bed, with a take 12 dB low in the middle third."""
    third = seconds / 3
    voice = np.concatenate([speech(third, seed=4), speech(third, -12.0, seed=5),
                            speech(third, 3.0, seed=6)])
    bed = music(len(voice) / RATE, channels, level_db=-8.0)
    return (bed + voice[:, None]).astype(np.float32)


@pytest.mark.parametrize("channels,bitrate", [(1, 96), (2, 128)])
def test_the_mp3_as_decoded_agrees_with_ffmpeg_ebur128(tmp_path, channels, bitrate):
    x = programme(30.0, channels)
    path = mp3(tmp_path / "episode.mp3", x, bitrate)
    ours = measure.measure_file(path, [0.0, 10.0, 20.0])
    theirs = ffmpeg_ebur128(path)
    assert (ours.sample_rate, ours.channels) == (RATE, channels)
    assert ours.seconds == pytest.approx(30.0, abs=1e-3)  # ffmpeg trims the encoder's delay
    # ffmpeg prints one decimal: 0.2 covers its rounding with room to spare.
    assert ours.whole.integrated_lufs == pytest.approx(theirs.integrated_lufs, abs=0.2)
    assert ours.whole.true_peak_dbtp == pytest.approx(theirs.true_peak_dbtp, abs=0.2)
    assert ours.whole.lra_lu == pytest.approx(theirs.lra_lu, abs=0.3)
    # The editor sees which take is off: the middle one, by about its 12 dB (less the bed's).
    first, middle, last = (s.integrated_lufs for s in ours.segments)
    assert 8 < first - middle < 12.5 and 8 < last - middle < 15.5


def test_full_band_noise_in_a_flac_agrees_with_ffmpeg(tmp_path):
    # No encoder low-pass here: the peak reaches Nyquist, where interpolators differ most.
    x = full_band_noise(10.0, amplitude=0.05) + np.repeat(speech(10.0)[:, None], 2, 1)
    sf.write(tmp_path / "noisy.flac", x, RATE, subtype="PCM_24")
    ours = measure.measure_file(tmp_path / "noisy.flac").whole
    theirs = ffmpeg_ebur128(tmp_path / "noisy.flac")
    assert ours.integrated_lufs == pytest.approx(theirs.integrated_lufs, abs=0.2)
    assert ours.true_peak_dbtp == pytest.approx(theirs.true_peak_dbtp, abs=0.3)


def test_stream_format_reads_rate_and_channels_without_ffprobe(tmp_path):
    sf.write(tmp_path / "mono.wav", sine(1.0, rate=22050), 22050)
    assert measure.stream_format(tmp_path / "mono.wav") == (22050, 1)
    rate, channels, blocks = measure.decode(tmp_path / "mono.wav", 44100, 2)
    decoded = np.concatenate(list(blocks))
    assert (rate, channels, decoded.shape) == (44100, 2, (44100, 2))


def test_a_file_that_is_not_audio_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "episode.mp3"
    bad.write_bytes(b"not an mp3 at all" * 100)
    with pytest.raises(AudioError) as caught:
        measure.measure_file(bad)
    assert str(caught.value).startswith(f"{bad}: ") and "\n" not in str(caught.value)
    with pytest.raises(AudioError, match="not found"):
        measure.measure_file(tmp_path / "missing.mp3")
