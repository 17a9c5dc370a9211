"""pydub assembly puts every clip where the plan says, exactly; pydub decodes AAC without ffprobe."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings, strategies as st

from pipeline.build import assemble
from pipeline.audio.encode import find_ffmpeg
from pipeline.errors import AudioError
from pipeline.manifest import Asset
from pipeline.model import Clip, Narration, Span
from pipeline.build.narrate import HOP, Spoken
from pipeline.build.assemble import AssetBank
from pipeline.show import Ducking

from synth import RATE, music, sine, speech


def scene(tmp_path: Path, seconds: float = 9.0):
    voice = speech(seconds - 2.0, seed=3)
    voice.astype("<f4").tofile(tmp_path / "voice.f32")
    active = np.zeros(int(seconds / HOP), bool)
    active[200:600] = True
    np.save(tmp_path / "voice.npy", active)
    spoken = Spoken(Narration("act-1", seconds - 2.0), tmp_path / "voice.f32",
                    tmp_path / "voice.npy", ())
    sf.write(tmp_path / "bed.wav", music(2.5), RATE, subtype="FLOAT")
    sf.write(tmp_path / "sting.wav", np.repeat(sine(0.7, 660.0)[:, None], 2, 1), RATE,
             subtype="FLOAT")
    bank = AssetBank({"bed": Asset("bed", tmp_path / "bed.wav", "bed", 2.5, -20.0, True),
                      "sting": Asset("sting", tmp_path / "sting.wav", "stinger", 0.7, -20.0,
                                     False)}, RATE, 2)
    clips = (Clip(None, 1.0, seconds - 2.0, role="voice"),
             Clip("bed", 0.0, seconds, gain_db=-6.0, fade_in=1.5, fade_out=2.0,
                  offset=0.3, loop=True, ducked=True, role="bed"),
             Clip("sting", 0.25, 0.7, gain_db=-3.0, role="stinger"),
             Clip("sting", seconds - 0.4, 0.7, role="stinger"))  # runs past the end
    span = Span("act-1", "act", 1, "Act 1", 0.0, seconds, 1.0, "draft", clips)
    return span, spoken, bank


def test_pydub_assembly_places_gains_loops_and_cuts_exactly(tmp_path):
    """Every sample from the sources' own: voice at its start, the looped bed at its offset and
    gain under its fades and ducking, stingers gained and cut at the span's end."""
    span, spoken, bank = scene(tmp_path)
    out = assemble.assemble_span(span, spoken, bank, Ducking(), RATE, 2, tmp_path / "span")
    x = np.fromfile(out.audio_file, "<f4").reshape(-1, 2)
    assert x.shape == (9 * RATE, 2) and np.abs(x).max() > 0.3
    voice = np.fromfile(spoken.audio_file, "<f4")
    bed, sting = bank["bed"], bank["sting"]
    duck = assemble.duck_levels(span, spoken, Ducking())
    n = len(x)
    want = np.zeros_like(x)
    want[RATE:RATE + len(voice)] += voice[:, None]
    t = np.arange(n)
    looped = bed[(t + round(0.3 * RATE)) % len(bed)] * np.float32(10 ** (-6 / 20))
    fade = np.minimum(1.0, np.minimum(t / (1.5 * RATE), (n - t) / (2.0 * RATE)))
    looped *= (fade * np.interp(t / (RATE * HOP), np.arange(len(duck)), duck))[:, None]
    want += looped.astype(np.float32)
    s0 = round(0.25 * RATE)
    want[s0:s0 + len(sting)] += sting * np.float32(10 ** (-3 / 20))
    s1 = round((9 - 0.4) * RATE)
    want[s1:] += sting[:n - s1]
    assert np.abs(x - want).max() < 1e-5  # int32 rounding at 2**-27, and the fades' float32
    assert len(out.steps) == 90



def test_narration_at_the_voices_rate_is_resampled_seamlessly_window_by_window(tmp_path):
    """The draft voice is kept at espeak's 22.05 kHz and resampled as it is mixed, a window
    at a time and in blocks on every core: together they equal one resampling of the whole."""
    import soxr

    slow = 22050
    voice = speech(20.0, seed=5)[::2].copy()  # 20 s at 22.05 kHz
    pcm = np.clip(np.rint(voice * 32768), -32768, 32767).astype("<i2")
    pcm.tofile(tmp_path / "voice.s16")
    np.save(tmp_path / "voice.npy", np.zeros(2000, bool))
    spoken = Spoken(Narration("act-1", 20.0), tmp_path / "voice.s16", tmp_path / "voice.npy",
                    (), rate=slow)
    span = Span("act-1", "act", 1, "Act 1", 0.0, 21.0, 0.5, "draft",
                (Clip(None, 0.5, 20.0, role="voice"),))
    frames = 21 * RATE
    want = np.zeros(frames, np.float32)
    want[RATE // 2:RATE // 2 + 20 * RATE] = soxr.resample(pcm / 32768, slow, RATE, quality="HQ")
    with open(tmp_path / "mix", "wb") as sink:
        assemble.mix_range(span, spoken, AssetBank({}, RATE, 2), Ducking(), RATE, 2, 0, frames,
                           sink)
    whole = np.fromfile(tmp_path / "mix", "<f4").reshape(-1, 2)
    with open(tmp_path / "blocks", "wb") as sink:  # two blocks, the second run in from before
        sink.truncate(frames * 8)
        for f0, f1 in ((0, 7 * RATE + 123), (7 * RATE + 123, frames)):
            sink.seek(f0 * 8)
            assemble.mix_range(span, spoken, AssetBank({}, RATE, 2), Ducking(), RATE, 2, f0, f1,
                               sink, warm=RATE // 4)
    blocks = np.fromfile(tmp_path / "blocks", "<f4").reshape(-1, 2)
    assert np.abs(whole[:, 0] - want).max() < 2e-6 and np.array_equal(whole[:, 0], whole[:, 1])
    assert np.abs(blocks - whole).max() < 2e-6
    assert np.abs(whole).max() > 0.1


def test_a_span_mixes_the_same_from_the_narrations_flac_and_its_raw_copy(tmp_path):
    """The build that narrates mixes from the raw 16-bit copy; later builds from the FLAC."""
    span, spoken, bank = scene(tmp_path)
    pcm = np.clip(np.rint(np.fromfile(spoken.audio_file, "<f4") * 32768), -32768, 32767)
    pcm.astype("<i2").tofile(tmp_path / "voice.s16")
    sf.write(tmp_path / "voice.flac", pcm.astype(np.int16), RATE, subtype="PCM_16")
    (pcm / 32768).astype("<f4").tofile(tmp_path / "voice-16.f32")  # 16-bit values as floats
    mixes = []
    for name in ("voice.flac", "voice.s16", "voice-16.f32"):
        with open(tmp_path / f"{name}.mix", "wb") as sink:
            steps = assemble.mix_range(span, spoken, bank, Ducking(), RATE, 2, 0,
                                       round(span.duration * RATE), sink,
                                       voice=tmp_path / name)
        mixes.append((np.fromfile(tmp_path / f"{name}.mix", "<f4"), steps))
    for other, other_steps in mixes[1:]:  # the shift into 32 bits is the float path's rounding
        assert np.array_equal(mixes[0][0], other) and np.array_equal(mixes[0][1], other_steps)
    assert np.abs(mixes[0][0]).max() > 0.3

def test_sums_above_full_scale_do_not_clip_before_the_master():
    loud = np.full((100, 2), 0.9, np.float32)
    a, b = assemble.to_segment(loud, RATE), assemble.to_segment(loud, RATE)
    summed = assemble.to_array(a.overlay(b).overlay(b))
    assert np.allclose(summed, 2.7, atol=1e-6)  # 24 dB of headroom in the int32 samples


def test_decode_with_ffmpeg_reads_aac_in_m4a_without_ffprobe(tmp_path):
    tone = np.repeat(sine(2.0, 440.0, 0.5, rate=48000)[:, None], 2, 1)
    sf.write(tmp_path / "tone.wav", tone, 48000)
    m4a = tmp_path / "take.m4a"
    subprocess.run([find_ffmpeg(), "-v", "error", "-y", "-i", str(tmp_path / "tone.wav"),
                    "-c:a", "aac", "-b:a", "128k", str(m4a)], check=True)
    x, rate = assemble.decode_with_ffmpeg(m4a, RATE, 1)
    assert rate == RATE and x.shape[1] == 1 and x.dtype == np.float32
    assert len(x) == pytest.approx(2.0 * RATE, abs=0.05 * RATE)  # AAC pads a frame or two
    middle = x[RATE // 2:3 * RATE // 2, 0]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    assert np.argmax(spectrum) * RATE / len(middle) == pytest.approx(440.0, abs=2.0)
    assert np.sqrt(np.mean(middle ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)


def test_decode_with_ffmpeg_refuses_what_it_cannot_read(tmp_path):
    (tmp_path / "take.m4a").write_bytes(b"no audio here" * 50)
    with pytest.raises(AudioError) as caught:
        assemble.decode_with_ffmpeg(tmp_path / "take.m4a")
    assert str(caught.value).startswith(f"{tmp_path / 'take.m4a'}: ffmpeg cannot decode it")
    assert "\n" not in str(caught.value)
    with pytest.raises(AudioError, match="cannot tell what .xyz holds"):
        assemble.decode_with_ffmpeg(tmp_path / "take.xyz")


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(0, 40), st.sampled_from([1, 2]),
       st.sampled_from([2 ** 26, 2 ** 30, 2 ** 31 - 1]), st.integers(0, 2 ** 32 - 1))
def test_placing_a_clip_adds_as_pydubs_overlay_does_saturating_included(frames, at, channels,
                                                                         size, seed):
    """_place's numpy sum equals audioop.add, pydub's overlay, sample for sample: sums past
    the 32-bit range saturate; the clip is cut at the window's end."""
    from pydub import AudioSegment
    from pydub.utils import audioop

    rng = np.random.default_rng(seed)
    window = rng.integers(-size, size, 256 * channels, endpoint=True).astype("<i4")
    clip = rng.integers(-size, size, frames * channels, endpoint=True).astype("<i4")
    lo, n = at * channels, min(len(clip), len(window) - at * channels)
    want = bytearray(window.tobytes())
    want[lo * 4:(lo + n) * 4] = audioop.add(window[lo:lo + n].tobytes(), clip[:n].tobytes(), 4)
    got = bytearray(window.tobytes())
    assemble._place(got, AudioSegment(data=clip.tobytes(), sample_width=4, frame_rate=RATE,
                                      channels=channels), at, channels)
    assert got == want
