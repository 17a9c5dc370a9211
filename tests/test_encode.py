"""The ffmpeg edge, with the real ffmpeg (PATH, or the one imageio-ffmpeg ships)."""

import os
import stat

import numpy as np
import pytest
import soundfile as sf
from mutagen.mp3 import MP3, BitrateMode

from pipeline.audio import encode
from pipeline.errors import EncoderError

RATE = 44100
ENCODER_DELAY = 1105  # LAME's 576 + decoder's 529 frames, if a decoder does not trim them


def music(seconds, channels=2):
    t = np.arange(round(seconds * RATE)) / RATE
    left = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 3000 * t)
    return np.stack([left, np.roll(left, 100)][:channels], 1).astype(np.float32)


def blocks(x, size=10000):
    return [x[i:i + size] for i in range(0, len(x), size)]


def frame_bitrates(path):
    """The bitrate (kbps) of every MPEG audio frame, walking the frame headers (no tag: ID3 is
    left to pipeline.tags)."""
    data = path.read_bytes()
    mpeg1 = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
    mpeg2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
    rates = {3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000]}
    at, found = 0, []
    while at < len(data):
        assert data[at] == 0xFF and data[at + 1] & 0xE0 == 0xE0, f"no frame at byte {at}"
        version, flags = (data[at + 1] >> 3) & 3, data[at + 2]
        kbps = (mpeg1 if version == 3 else mpeg2)[flags >> 4]
        rate = rates[version][(flags >> 2) & 3]
        at += (144 if version == 3 else 72) * kbps * 1000 // rate + ((flags >> 1) & 1)
        found.append(kbps)
    return found


def only(folder):
    return sorted(p.name for p in folder.iterdir())


def test_mp3_writer_encodes_constant_bitrate_mp3_of_the_right_length(tmp_path):
    x = music(3.0)
    path = tmp_path / "episode.mp3"
    with encode.Mp3Writer(path, RATE, 2, 128) as writer:
        for block in blocks(x):
            writer.write(block)
    assert writer.frames == len(x)
    assert only(tmp_path) == ["episode.mp3"]  # no temporary file left behind

    info = MP3(path).info
    assert info.bitrate_mode == BitrateMode.CBR and info.bitrate == pytest.approx(128000, rel=1e-3)
    assert set(frame_bitrates(path)) == {128}
    assert (info.sample_rate, info.channels) == (RATE, 2)
    decoded, rate = sf.read(path, dtype="float32", always_2d=True)
    assert rate == RATE and decoded.shape[1] == 2
    assert abs(len(decoded) - len(x)) <= 0.05 * RATE + ENCODER_DELAY
    rms = lambda a: float(np.sqrt(np.mean(np.square(a[RATE // 2:-RATE // 2]))))  # noqa: E731
    assert rms(decoded) == pytest.approx(rms(x), rel=0.05)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask  # not mkstemp's private 0600


def test_mono_and_other_bitrates(tmp_path):
    path = tmp_path / "mono.mp3"
    with encode.Mp3Writer(path, 22050, 1, 64) as writer:
        writer.write(np.zeros((22050, 1), np.float32))
    info = MP3(path).info
    assert (info.channels, info.sample_rate) == (1, 22050)
    assert set(frame_bitrates(path)) == {64}


def test_an_exception_mid_write_leaves_no_file_and_no_temporary(tmp_path):
    path = tmp_path / "episode.mp3"
    with pytest.raises(RuntimeError, match="mix failed"):
        with encode.Mp3Writer(path, RATE, 2) as writer:
            writer.write(music(1.0))
            raise RuntimeError("mix failed")
    assert only(tmp_path) == []


def test_a_failed_render_keeps_the_previous_episode(tmp_path):
    path = tmp_path / "episode.mp3"
    path.write_bytes(b"last week's good file")
    with pytest.raises(KeyboardInterrupt):
        with encode.Mp3Writer(path, RATE, 2) as writer:
            for block in blocks(music(2.0)):
                writer.write(block)
            raise KeyboardInterrupt
    assert only(tmp_path) == ["episode.mp3"]
    assert path.read_bytes() == b"last week's good file"


def test_before_commit_sees_the_finished_temporary_file_before_it_is_published(tmp_path):
    path = tmp_path / "episode.mp3"
    seen = []

    def check(temp):
        assert not path.exists()
        assert os.path.dirname(temp) == str(tmp_path)
        assert os.path.basename(temp).startswith(".episode.mp3.tmp-") and temp.endswith(".mp3")
        seen.append(MP3(temp).info.length)

    with encode.Mp3Writer(path, RATE, 2, before_commit=check) as writer:
        writer.write(music(1.0))
    assert seen and seen[0] == pytest.approx(1.0, abs=0.1) and path.exists()


def test_a_failing_before_commit_publishes_nothing(tmp_path):
    def refuse(temp):
        raise ValueError("bad tags")

    with pytest.raises(ValueError, match="bad tags"):
        with encode.Mp3Writer(tmp_path / "episode.mp3", RATE, 2, before_commit=refuse) as writer:
            writer.write(music(0.5))
    assert only(tmp_path) == []


def test_ffmpeg_failing_is_an_encoder_error_with_its_message(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\ncase \"$*\" in *-version*) echo 'ffmpeg version 0-fake'; exit 0;;"
                    "\nesac\necho 'Unknown encoder libmp3lame' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PODFORGE_FFMPEG", str(fake))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EncoderError) as caught:
        with encode.Mp3Writer(out / "episode.mp3", RATE, 2) as writer:
            for block in blocks(music(5.0)):
                writer.write(block)
    assert "Unknown encoder libmp3lame" in str(caught.value)
    assert "episode.mp3" in str(caught.value) and str(fake) in str(caught.value)
    assert only(out) == []


def test_podforge_ffmpeg_must_name_an_executable(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-ffmpeg"
    monkeypatch.setenv("PODFORGE_FFMPEG", str(missing))
    with pytest.raises(EncoderError, match=f"PODFORGE_FFMPEG={missing} is not an executable"):
        encode.find_ffmpeg()
    with pytest.raises(EncoderError):
        encode.Mp3Writer(tmp_path / "episode.mp3", RATE, 2)
    assert only(tmp_path) == []


def test_an_explicit_ffmpeg_wins_over_the_environment(tmp_path, monkeypatch):
    real = encode.find_ffmpeg()
    monkeypatch.setenv("PODFORGE_FFMPEG", str(tmp_path / "no-such-ffmpeg"))
    with encode.Mp3Writer(tmp_path / "episode.mp3", RATE, 2, ffmpeg=real) as writer:
        writer.write(music(0.5))
    assert MP3(tmp_path / "episode.mp3").info.length == pytest.approx(0.5, abs=0.05)


def test_without_any_ffmpeg_the_error_says_how_to_get_one(monkeypatch):
    import imageio_ffmpeg

    def nothing():
        raise RuntimeError("no binary")

    monkeypatch.delenv("PODFORGE_FFMPEG", raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", nothing)
    with pytest.raises(EncoderError, match="no ffmpeg found: install one on PATH or `pip install "
                                           "imageio-ffmpeg`, or set PODFORGE_FFMPEG"):
        encode.find_ffmpeg()


def test_a_missing_output_folder_is_an_encoder_error(tmp_path):
    with pytest.raises(EncoderError, match="check that its folder exists"):
        encode.Mp3Writer(tmp_path / "nowhere" / "episode.mp3", RATE, 2)


def test_encode_wav_matches_the_writer(tmp_path):
    x = music(2.0)
    sf.write(tmp_path / "mix.wav", x, RATE, subtype="FLOAT")
    encode.encode_wav(tmp_path / "mix.wav", tmp_path / "bare.mp3", RATE, 2, 128)
    with encode.Mp3Writer(tmp_path / "piped.mp3", RATE, 2, 128) as writer:
        writer.write(x)
    bare, piped = MP3(tmp_path / "bare.mp3").info, MP3(tmp_path / "piped.mp3").info
    assert (bare.bitrate, bare.bitrate_mode) == (piped.bitrate, piped.bitrate_mode)
    assert bare.length == pytest.approx(piped.length, abs=0.03)
    with pytest.raises(EncoderError, match="mix.flac"):
        encode.encode_wav(tmp_path / "mix.flac", tmp_path / "x.mp3", RATE, 2, 128)
