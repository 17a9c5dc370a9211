"""Reading takes and the DSP, on audio synthesised here (the whole file runs in a few seconds)."""

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from hypothesis import given, settings, strategies as st

from pipeline.audio import decode, dynamics, loudness, peak
from pipeline.errors import AudioError

from conftest import tone

RATE = 44100


def dominant_hz(x, rate):
    spectrum = np.abs(np.fft.rfft(x[:, 0] * np.hanning(len(x))))
    return np.argmax(spectrum) * rate / len(x)


def programme(seconds, rate, seed=0):
    """Speech-like: noise in 4 Hz syllables, with pauses of digital silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2
    envelope = syllables * (np.sin(2 * np.pi * 0.3 * t) > -0.3)
    mono = rng.standard_normal(len(t)) * envelope * 0.2
    return np.stack([mono, 0.8 * mono + 0.02 * np.sin(2 * np.pi * 220 * t)], 1).astype(np.float32)


FORMATS = [  # (name, rate, channels, format, subtype)
    ("take.wav", 8000, 1, "WAV", "PCM_16"),
    ("hires.wav", 96000, 2, "WAV", "PCM_24"),
    ("bed.flac", 44100, 2, "FLAC", "PCM_16"),
    ("sting.ogg", 48000, 1, "OGG", "VORBIS"),
]


@pytest.mark.parametrize("name,rate,channels,fmt,subtype", FORMATS)
def test_probe_and_read_convert_any_take_to_the_project_format(tmp_path, name, rate, channels,
                                                              fmt, subtype):
    path = tmp_path / name
    sf.write(path, tone(1.0, rate, channels), rate, format=fmt, subtype=subtype)

    info = decode.probe(path)
    assert (info.path, info.sample_rate, info.channels) == (str(path), rate, channels)
    assert (info.format, info.subtype) == (fmt, subtype)
    assert info.frames == rate and info.seconds == pytest.approx(1.0)

    for out_channels in (1, 2):
        x = decode.read_audio(path, RATE, out_channels)
        assert x.dtype == np.float32 and x.shape == (RATE, out_channels)
        assert np.abs(x[2000:-2000]).max() == pytest.approx(0.5, abs=0.02)
        assert dominant_hz(x, RATE) == pytest.approx(440, abs=2)
        if out_channels == 2:
            assert np.array_equal(x[:, 0], x[:, 1])

        blocks = list(decode.read_blocks(path, RATE, out_channels, block_frames=10000))
        assert [len(b) for b in blocks] == [10000] * 4 + [4100]
        assert np.allclose(np.concatenate(blocks), x, atol=1e-6)


def test_more_than_two_channels_fold_into_stereo_or_mono(tmp_path):
    quad = np.tile(np.float32([0.1, 0.2, 0.4, 0.6]), (RATE, 1))  # L, R, C, LFE-or-surround
    sf.write(tmp_path / "quad.wav", quad, RATE, subtype="FLOAT")
    stereo = decode.read_audio(tmp_path / "quad.wav", RATE, 2)
    assert np.allclose(stereo[0], [0.1 + 0.7071 * 0.5, 0.2 + 0.7071 * 0.5])
    assert np.allclose(decode.read_audio(tmp_path / "quad.wav", RATE, 1)[0], [0.325])


def test_check_take_warns_about_low_rates_and_accepts_high_resolution(tmp_path):
    sf.write(tmp_path / "phone.wav", tone(1.0, 8000), 8000)
    sf.write(tmp_path / "studio.wav", tone(1.0, 96000, 2), 96000, subtype="PCM_24")
    assert decode.check_take(tmp_path / "phone.wav", RATE) == [
        f"{tmp_path / 'phone.wav'}: 8000 Hz is below 22050 Hz; it will sound thin "
        f"(re-record at {RATE} Hz if you can)"]
    assert decode.check_take(tmp_path / "studio.wav", RATE) == []


def test_check_take_warns_about_clipping(tmp_path):
    sf.write(tmp_path / "hot.wav", np.clip(tone(1.0, RATE, amplitude=1.5), -1, 1), RATE)
    [warning] = decode.check_take(tmp_path / "hot.wav", RATE)
    assert "clipped" in warning and "hot.wav" in warning


def unusable(path, *words):
    """Every entry point refuses the file with one message naming it and containing `words`."""
    for attempt in (lambda: decode.check_take(path, RATE), lambda: decode.read_audio(path, RATE, 2),
                    lambda: list(decode.read_blocks(path, RATE, 2))):
        with pytest.raises(AudioError) as caught:
            attempt()
        message = str(caught.value)
        assert message.startswith(f"{path}: ")
        for word in words:
            assert word in message


def test_corrupt_empty_missing_and_zero_length_files_are_refused(tmp_path):
    (tmp_path / "noise.wav").write_bytes(np.random.default_rng(0).bytes(5000))
    (tmp_path / "notes.wav").write_text("this is not audio")
    (tmp_path / "empty.wav").write_bytes(b"")
    sf.write(tmp_path / "nothing.wav", np.zeros((0, 1), np.float32), RATE)
    unusable(tmp_path / "noise.wav", "is not audio", "re-export it as WAV or FLAC")
    unusable(tmp_path / "notes.wav", "is not audio", "re-export")
    unusable(tmp_path / "empty.wav", "is empty (0 bytes)", "re-export")
    unusable(tmp_path / "nothing.wav", "holds no audio (0 frames)")
    unusable(tmp_path / "missing.wav", "not found")


@pytest.mark.parametrize("name,fmt", [("cut.wav", "WAV"), ("cut.aiff", "AIFF"),
                                      ("cut.flac", "FLAC"), ("cut.ogg", "OGG")])
def test_a_file_cut_in_half_is_truncated(tmp_path, name, fmt):
    whole = tmp_path / f"whole-{name}"
    sf.write(whole, programme(4.0, RATE), RATE, format=fmt)
    data = whole.read_bytes()
    (tmp_path / name).write_bytes(data[:len(data) // 2])
    unusable(tmp_path / name, "truncated", "re-export")


def test_a_wav_truncated_by_a_streaming_writer_header_is_still_fine(tmp_path):
    """ffmpeg writing WAV into a pipe leaves the data size at 0xFFFFFFFF: unknown, not cut."""
    path = tmp_path / "piped.wav"
    sf.write(path, tone(1.0, RATE), RATE)
    data = bytearray(path.read_bytes())
    at = data.index(b"data") + 4
    data[at:at + 4] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    assert decode.check_take(path, RATE) == []
    assert len(decode.read_audio(path, RATE, 1)) == RATE


@pytest.mark.parametrize("level", [0.0, 10 ** (-70 / 20)])
def test_a_silent_take_is_refused(tmp_path, level):
    path = tmp_path / "room-tone.wav"
    sf.write(path, np.full((RATE, 1), level, np.float32), RATE, subtype="FLOAT")
    with pytest.raises(AudioError) as caught:
        decode.check_take(path, RATE)
    expected = "-inf" if level == 0 else "-70.0"
    assert str(caught.value) == f"{path}: is silent (peak {expected} dBFS); re-record or remove it"


@pytest.mark.parametrize("rate,channels,block",
                         [(44100, 2, 12345), (48000, 1, 4800), (22050, 2, 1000)])
def test_streaming_loudness_equals_pyloudnorm(rate, channels, block):
    x = programme(20.0, rate)[:, :channels]
    meter = loudness.LoudnessMeter(rate, channels)
    for i in range(0, len(x), block):
        meter.add(x[i:i + block])
    expected = pyloudnorm.Meter(rate).integrated_loudness(x)
    assert meter.integrated == pytest.approx(expected, abs=0.05)
    assert loudness.integrated_loudness(x, rate) == pytest.approx(expected, abs=1e-9)
    assert len(meter._steps) == 200  # one number per 100 ms: memory is bounded by duration
    whole = loudness.LoudnessMeter(rate, channels)
    whole.add(x)  # the same steps, however the stream was cut
    assert np.allclose(meter.steps(), whole.steps(), rtol=1e-5, atol=0)


def test_step_energies_of_consecutive_pieces_join_into_the_whole_loudness():
    x = programme(20.0, RATE)
    pieces = []
    for part in (x[:10 * RATE], x[10 * RATE:]):  # cut on a 100 ms boundary
        meter = loudness.LoudnessMeter(RATE, 2)
        meter.add(part)
        pieces.append(meter.steps())
    assert [len(p) for p in pieces] == [100, 100]
    joined = loudness.LoudnessMeter.integrated_of(np.concatenate(pieces), RATE)
    assert joined == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(x), abs=0.05)


def test_loudness_of_silence_and_of_less_than_a_block():
    meter = loudness.LoudnessMeter(RATE, 2)
    meter.add(np.zeros((RATE, 2), np.float32))
    assert meter.integrated == -np.inf
    assert loudness.integrated_loudness(np.zeros((RATE, 2)), RATE) == -np.inf
    assert loudness.integrated_loudness(tone(0.2, RATE), RATE) == -np.inf


def test_true_peak_sees_the_peak_between_samples():
    # A quarter-rate sine sampled 45 degrees off its crests: samples reach -3 dB, the wave 0 dB.
    x = np.sin(np.pi / 2 * np.arange(4800) + np.pi / 4).astype(np.float32)
    assert 20 * np.log10(np.abs(x).max()) == pytest.approx(-3.01, abs=0.01)
    assert peak.true_peak_dbtp(x, 48000) == pytest.approx(0.0, abs=0.2)
    assert peak.true_peak_dbtp(tone(1.0, RATE, 2, hz=100), RATE) == pytest.approx(-6.02, abs=0.05)
    assert peak.true_peak_dbtp(np.zeros(100), RATE) == -np.inf


def limit(x, block, **settings):
    limiter = peak.Limiter(RATE, x.shape[1], -1.0, **settings)
    out = [limiter.process(x[i:i + block]) for i in range(0, len(x), block)]
    return np.concatenate(out + [limiter.flush()])


def test_limiter_holds_a_boosted_signal_under_the_ceiling_and_leaves_quiet_audio_alone():
    quiet = tone(2.0, RATE, 2, amplitude=0.03)
    loud = programme(2.0, RATE) * np.float32(10 ** (12 / 20)) / np.abs(programme(2.0, RATE)).max()
    x = np.concatenate([quiet, loud, quiet])
    assert peak.true_peak_dbtp(x, RATE) > 11

    y = limit(x, 4096)
    assert y.shape == x.shape and y.dtype == np.float32
    assert peak.true_peak_dbtp(y, RATE) <= -1.0
    # Untouched until the look-ahead, and again once the release (60 dB/s) has recovered.
    assert np.array_equal(y[:2 * RATE - 300], x[:2 * RATE - 300])
    assert np.array_equal(y[-RATE:], x[-RATE:])
    # Loud parts are turned down, not clipped: one smooth gain for both channels, never above 1.
    sounding = np.abs(x[:, 0]) > 1e-3
    gain = y[sounding, 0] / x[sounding, 0]
    assert np.allclose(y[sounding, 1], gain * x[sounding, 1], atol=1e-6)
    assert gain.min() > 0 and gain.max() <= 1
    steps_db = np.abs(np.diff(20 * np.log10(gain)))
    assert steps_db[np.diff(np.flatnonzero(sounding)) == 1].max() < 0.2


def test_limiter_output_does_not_depend_on_block_size_and_catches_overs_between_samples():
    x = np.repeat(np.sin(np.pi / 2 * np.arange(RATE // 2) + np.pi / 4)[:, None], 2, 1)
    x = (x * 1.2).astype(np.float32)  # every sample below full scale, the wave 1.6 dB above it
    y = limit(x, 1000)
    assert np.array_equal(y, limit(x, 7))
    assert np.array_equal(y, limit(x, 20000))  # blocks longer than the envelope's stretches
    assert peak.true_peak_dbtp(y, RATE) <= -1.0


def test_voice_activity_follows_the_voice_with_a_hangover():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(4 * RATE).astype(np.float32) * 10 ** (-60 / 20)  # room noise
    x[RATE:2 * RATE] += rng.standard_normal(RATE).astype(np.float32) * 0.1  # speech
    speaking = dynamics.voice_activity(x, RATE)
    assert speaking.shape == (400,) and speaking.dtype == bool
    assert not speaking[:100].any()
    assert speaking[100:215].all()  # speech, then 150 ms of hangover
    assert not speaking[217:].any()


def test_duck_gain_ramps_like_a_sidechain_compressor():
    rate, hop = 1000, 0.01
    activity = np.zeros(400, bool)
    activity[100:200] = True  # speaks from 1 s to 2 s
    gain = dynamics.duck_gain(activity, hop, rate, 4 * rate, depth_db=12, attack=0.1, release=0.5)
    ducked = 10 ** (-12 / 20)
    assert gain.shape == (4000,) and gain.dtype == np.float32
    assert np.all(gain[:1000] == 1.0)
    assert 1.0 > gain[1050] > ducked  # attacking
    assert np.allclose(gain[1100:2000], ducked)  # reached the depth after the attack
    assert np.all(np.diff(gain[1000:1101]) <= 0) and np.all(np.diff(gain[2000:2501]) >= 0)
    assert 1.0 > gain[2250] > ducked  # releasing
    assert np.allclose(gain[2500:], 1.0)  # recovered after the release


def test_fades_ramp_from_and_to_silence_without_touching_the_middle():
    x = np.ones((RATE, 2), np.float32)
    for curve in ("equal_power", "linear"):
        y = dynamics.fade(x, RATE, fade_in=0.1, fade_out=0.2, curve=curve)
        assert y[0, 0] == 0 and y[-1, 0] == 0
        assert np.all(np.diff(y[:4410, 0]) > 0) and np.all(np.diff(y[-8820:, 0]) < 0)
        assert np.all(y[4410:-8820] == 1)
    assert dynamics.fade(x, RATE, 0.1, curve="linear")[2205, 0] == pytest.approx(0.5)
    assert dynamics.fade(x, RATE, 0.1)[2205, 0] == pytest.approx(np.sqrt(0.5))
    assert np.all(x == 1)  # the input is left alone


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 3000), st.sampled_from([0.0, 0.25, 0.5, 0.3, 110.25, 1102.5]),
       st.integers(-500, 60_000), st.integers(0, 9_000), st.integers(0, 2 ** 32 - 1),
       st.booleans())
def test_an_envelope_between_its_knots_is_np_interps(step, origin, a, n, seed, whole):
    """dynamics.between's ramps (knots a whole number of frames apart, on a frame or between
    two) and its np.interp path give np.interp's answer, held beyond the first and last knot."""
    rng = np.random.default_rng(seed)
    levels = rng.normal(0, 6, rng.integers(1, 40))
    spacing = float(step) if whole else step + 0.5
    got = dynamics.between(levels, a, a + n, spacing, origin)
    want = np.interp((np.arange(a, a + n, dtype=np.float64) - origin) / spacing,
                     np.arange(len(levels)), levels)
    assert got.dtype == np.float32 and len(got) == n
    assert np.allclose(got, want, rtol=0, atol=2e-5)
