"""Segment-wise MP3 with the real ffmpeg/LAME: pieces joined frame-exactly must decode like a
whole-file encode, to the sample, with a header that tells every reader the exact length."""

import io
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutagen.mp3 import MP3, BitrateMode

from conftest import read_chapters
from pipeline.audio import mp3frames as mf
from pipeline.audio.encode import Mp3Writer, _mp3_args, find_ffmpeg
from pipeline.errors import EncoderError
from pipeline.audio.tags import write_tags
from pipeline.model import Chapter

FFMPEG = find_ffmpeg()


def music(seconds, rate, channels, seed=1):
    """Chords with harmonics under a slow swell, quiet noise and decaying clicks: tonal parts
    that hide little, noise and transients that test the psychoacoustics and short blocks."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate)
    t = np.arange(n) / rate
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6)]
    x = np.zeros(n)
    for i, chord in enumerate(chords):
        part = (t // 1.3).astype(int) % len(chords) == i
        for f in chord:
            for h, a in ((1, 0.08), (2, 0.03), (3, 0.015)):
                x[part] += a * np.sin(2 * np.pi * f * h * t[part])
    x *= 0.7 + 0.3 * np.sin(2 * np.pi * 0.4 * t)
    x += 0.004 * rng.standard_normal(n)
    clicks = np.zeros(n)
    clicks[rng.integers(0, n, max(1, int(seconds * 3)))] = 0.5
    x += np.convolve(clicks, np.exp(-np.arange(400) / 60) * rng.standard_normal(400))[:n]
    right = 0.8 * np.roll(x, 41) + 0.003 * rng.standard_normal(n)
    return np.stack([x, right][:channels], 1).astype(np.float32)


def ffmpeg_encode(x, rate, path, *, reservoir=True):
    cmd = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "f32le",
           "-ar", str(rate), "-ac", str(x.shape[1]), "-i", "pipe:0",
           *_mp3_args(rate, x.shape[1], 128, reservoir=reservoir), str(path)]
    subprocess.run(cmd, input=x.tobytes(), check=True)


def decode(path, channels, *before_input):
    cmd = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", *before_input,
           "-i", str(path), "-f", "f32le", "-ac", str(channels), "pipe:1"]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.float32).reshape(-1, channels)


def segmentwise(x, rate, cuts, piece_seconds=60.0):
    pieces = mf.plan_pieces(len(x), cuts, rate=rate, piece_seconds=piece_seconds)
    frames = [mf.encode_piece(x[p.read_start:p.read_end], p, channels=x.shape[1])
              for p in pieces]
    return pieces, mf.join(frames, len(x), rate=rate, channels=x.shape[1])


def snr(reference, decoded):
    noise = np.sum((decoded - reference) ** 2)
    return 10 * np.log10(np.sum(reference ** 2) / noise) if noise else np.inf


def lag(reference, decoded, search=1500):
    """The shift of decoded against reference with the highest correlation."""
    core = reference[search:-search, 0]
    scores = [np.dot(core, decoded[search + k:len(decoded) - search + k, 0][:len(core)])
              for k in range(-search, search + 1)]
    return int(np.argmax(scores)) - search


# --- frames, CRC, header -------------------------------------------------------------------


def test_crc16_is_crc16_arc_and_the_fast_path_agrees():
    assert mf.crc16(b"123456789") == 0xBB3D  # the catalogued check value of CRC-16/ARC
    data = np.random.default_rng(3).integers(0, 256, 300_001, dtype=np.uint8).tobytes()
    slow = mf._crc_small(data)
    assert mf.crc16(data) == slow
    assert mf.crc16(data[1234:], mf.crc16(data[:1234])) == slow
    assert mf.crc16_concat(mf.crc16(data[:99_999]), mf.crc16(data[99_999:]),
                           len(data) - 99_999) == slow


def test_frame_parser_and_header_reader_agree_with_ffmpegs_own_file(tmp_path):
    """ffmpeg's muxer writes an Info/LAME header with both CRCs: ground truth for ours."""
    path = tmp_path / "ref.mp3"
    with Mp3Writer(path, 44100, 2, 128) as writer:
        writer.write(music(2.0, 44100, 2))
    data = path.read_bytes()
    info = mf.read_info(data)
    assert info.tag_crc_ok and info.delay == mf.ENCODER_DELAY
    frames = list(mf.iter_frames(data, info.header_length))
    assert len(frames) == info.frames == mf.total_frames(88200, 44100)
    assert info.bytes == len(data) == frames[-1].offset + frames[-1].length
    assert {(f.rate, f.channels, f.bitrate_kbps, f.samples) for f in frames} == \
        {(44100, 2, 128, 1152)}
    assert sum(f.padded for f in frames) > 0  # 128k at 44.1k: 417 or 418 bytes
    assert info.music_crc == mf.crc16(data[info.header_length:])
    assert any(f.main_data_begin for f in frames)  # ffmpeg's default keeps the reservoir on


def test_iter_frames_rejects_junk_and_truncation():
    pieces = mf.plan_pieces(5000, rate=48000)
    x = music(5000 / 48000, 48000, 1)
    frames = mf.encode_piece(x, pieces[0], channels=1)
    assert len(list(mf.iter_frames(frames))) == pieces[0].frames
    with pytest.raises(EncoderError, match="truncated"):
        list(mf.iter_frames(frames[:-10]))
    with pytest.raises(EncoderError, match="no MP3 frame header at byte 384"):
        list(mf.iter_frames(frames[:384] + b"junk" + frames[384:]))


# --- planning ------------------------------------------------------------------------------


def test_plan_pieces_snaps_cuts_to_the_frame_grid_and_covers_the_file():
    total = 44100 * 10 + 7
    pieces = mf.plan_pieces(total, [44100 * 3, 1, 44100 * 3 + 5, total + 5000], rate=44100,
                            piece_seconds=2.5)
    assert pieces[0].start == 0 and pieces[-1].end == total
    assert all(a.end == b.start for a, b in zip(pieces, pieces[1:]))
    assert all(p.start % 1152 == 0 for p in pieces)
    assert round(44100 * 3 / 1152) * 1152 in {p.start for p in pieces}  # the cut, snapped
    assert max(p.end - p.start for p in pieces) <= 2.5 * 44100 + 1152
    assert sum(p.frames for p in pieces) == mf.total_frames(total, 44100)
    inner = pieces[3]
    assert (inner.read_start, inner.read_end) == (inner.start - 2304, inner.end + 2304)
    assert pieces[0].read_start == 0 and pieces[-1].read_end == total
    assert mf.plan_pieces(100, rate=22050)[0].context_frames == 4  # 576-sample frames


def test_a_span_is_cut_every_piece_from_its_start_so_a_late_change_keeps_its_first_pieces():
    rate, spf = 44100, 1152
    cut = 44100 * 3  # a span starts here
    short = mf.plan_pieces(cut + round(7.4 * rate), [cut], rate=rate, piece_seconds=2.5)
    longer = mf.plan_pieces(cut + round(9.1 * rate), [cut], rate=rate, piece_seconds=2.5)
    size = int(2.5 * rate) // spf * spf
    for plan in (short, longer):
        inside = [p.end - p.start for p in plan if p.start >= round(cut / spf) * spf]
        assert inside[:-2] == [size] * (len(inside) - 2)  # the last two share the rest
        assert size / 2 <= min(inside[-2:]) and max(inside[-2:]) <= size
    kept = len(short) - 2
    assert [(p.start, p.end) for p in short[:kept]] == [(p.start, p.end) for p in longer[:kept]]


def test_bad_formats_are_one_line_errors():
    with pytest.raises(EncoderError, match="44000 Hz is not an MP3 sample rate"):
        mf.plan_pieces(1000, rate=44000)
    with pytest.raises(EncoderError, match="130 kbps is not an MP3 bitrate"):
        mf.FrameJoiner(io.BytesIO(), 1000, rate=44100, channels=2, bitrate_kbps=130)


# --- the joined file -----------------------------------------------------------------------


@pytest.mark.parametrize("rate, channels", [(44100, 2), (48000, 1), (44100, 1), (48000, 2),
                                            (22050, 1)])
def test_joins_are_as_clean_as_a_whole_file_encode(tmp_path, rate, channels):
    x = music(4.0, rate, channels)
    n = len(x)
    pieces, data = segmentwise(x, rate, [int(n * 0.3), int(n * 0.55) + 333], piece_seconds=0.8)
    joins = [p.start for p in pieces[1:]]
    assert len(joins) >= 5
    (tmp_path / "pieces.mp3").write_bytes(data)
    ffmpeg_encode(x, rate, tmp_path / "whole.mp3")
    ffmpeg_encode(x, rate, tmp_path / "plain.mp3", reservoir=False)
    ours = decode(tmp_path / "pieces.mp3", channels)
    assert len(ours) == n  # no silence inserted at the joins, the padding trimmed exactly
    assert lag(x, ours) == 0
    whole = decode(tmp_path / "whole.mp3", channels)[:n]
    plain = decode(tmp_path / "plain.mp3", channels)[:n]
    assert lag(x, whole) == 0  # the same delay trimmed from the whole-file encode
    assert snr(x, ours) > snr(x, plain) - 0.2
    assert snr(x, ours) > snr(x, whole) - 1.0  # the reservoir's price: 0.2-0.9 dB here

    half = round(0.05 * rate)
    spans = [slice(j - half, j + half) for j in joins]
    others = [slice(c - half, c + half) for c in range(half, n - half, 2 * half)
              if all(abs(c - j) > 4 * half for j in joins)]

    def window_snr(decoded, windows):
        return np.array([snr(x[w], decoded[w]) for w in windows])

    # each join as good as the same moment of a whole encode without the reservoir
    assert np.all(window_snr(ours, spans) > window_snr(plain, spans) - 1.0)
    # against ffmpeg's default (reservoir on): joins lose no more than anywhere else
    at_joins = np.mean(window_snr(ours, spans) - window_snr(whole, spans))
    elsewhere = np.mean(window_snr(ours, others) - window_snr(whole, others))
    assert abs(at_joins - elsewhere) < 1.0


def test_header_gives_the_exact_length_to_ffmpeg_mutagen_and_after_tagging(tmp_path):
    rate = 44100
    x = music(4.0, rate, 2)[:-123]  # not a whole number of frames
    _, data = segmentwise(x, rate, [50_000, 100_000])
    path = tmp_path / "episode.mp3"
    path.write_bytes(data)
    info = mf.read_info(data)
    assert info.tag_crc_ok and info.encoder == b"LAME3.100"
    assert info.samples(rate) == len(x)
    assert info.frames == mf.total_frames(len(x), rate)
    assert info.bytes == info.music_length == len(data)
    assert info.music_crc == mf.crc16(data[info.header_length:])
    audio = MP3(path).info
    assert audio.length * rate == pytest.approx(len(x), abs=1e-6)
    assert audio.bitrate_mode == BitrateMode.CBR and audio.sample_rate == rate
    before = decode(path, 2)

    write_tags(path, title="T", artist="A", album="S", date="2026-03-03",
               chapters=[Chapter("Open", 0, 1.0), Chapter("Act", 1.0, 3.9)])
    assert read_chapters(path) == [Chapter("Open", 0, 1.0), Chapter("Act", 1.0, 3.9)]
    assert MP3(path).info.length * rate == pytest.approx(len(x), abs=1e-6)
    tagged = path.read_bytes()
    assert mf.audio_start(tagged) > 0 and mf.read_info(tagged).samples(rate) == len(x)
    assert np.array_equal(decode(path, 2), before)


def test_the_seek_table_points_at_the_frames_and_ffmpeg_seeks_exactly(tmp_path):
    rate = 48000
    x = music(8.0, rate, 2, seed=5)
    _, data = segmentwise(x, rate, [], piece_seconds=1.5)
    path = tmp_path / "seek.mp3"
    path.write_bytes(data)
    info = mf.read_info(data)
    offsets = [f.offset for f in mf.iter_frames(data, info.header_length)]
    assert info.toc[0] == 0
    for percent in range(1, 100):
        exact = offsets[percent * info.frames // 100]
        assert info.toc[percent] == exact * 256 // info.bytes
    resolution = info.bytes // 256 // 384 * 1152 + 1152  # one TOC step, in samples, and a frame
    for seconds in (0.5, 3.3, 7.25):
        start = round(seconds * rate)
        exact = decode(path, 2, "-ss", str(seconds))
        assert len(exact) == len(x) - start
        assert lag(x[start:start + rate], exact[:rate]) == 0
        assert snr(x[start:], exact) > snr(x, decode(path, 2)) - 1.0
        by_toc = decode(path, 2, "-usetoc", "1", "-ss", str(seconds))
        assert abs(lag(x[start:start + rate], by_toc[:rate])) <= resolution


# --- parallel, cached --------------------------------------------------------------------


class CountingCache(mf.DirCache):
    def __init__(self, folder):
        super().__init__(folder)
        self.hits = 0

    def get(self, key):
        found = super().get(key)
        self.hits += found is not None
        return found


def test_a_cached_piece_brings_its_crc_and_the_joined_file_is_the_same(tmp_path, monkeypatch):
    """The LAME header sums every piece's bytes (MusicCRC): each piece's crc16 is kept beside
    it, so a piece read from the cache is not summed again; without it, it is summed."""
    rate = 44100
    x = music(4.0, rate, 2, seed=4)
    read = lambda a, b: x[a:b]  # noqa: E731
    cache = mf.DirCache(tmp_path / "cache")
    first = io.BytesIO()
    mf.encode_parallel(read, len(x), first, rate=rate, channels=2, piece_seconds=1.0,
                       cache=cache, workers=2)
    kept = sorted((tmp_path / "cache").glob("*.crc"))
    assert len(kept) == len(mf.plan_pieces(len(x), rate=rate, piece_seconds=1.0))
    for path in kept:
        frames = (tmp_path / "cache" / f"{path.stem}.mp3frames").read_bytes()
        assert int(path.read_text()) == mf.crc16(frames)
    summed = []
    real = mf.crc16

    def counted(data, crc=0):
        summed.append(len(data))
        return real(data, crc)

    monkeypatch.setattr(mf, "crc16", counted)
    again = io.BytesIO()
    mf.encode_parallel(read, len(x), again, rate=rate, channels=2, piece_seconds=1.0,
                       cache=cache, workers=2)
    assert again.getvalue() == first.getvalue() and not summed
    for path in kept[:2]:
        path.unlink()
    third = io.BytesIO()
    mf.encode_parallel(read, len(x), third, rate=rate, channels=2, piece_seconds=1.0,
                       cache=cache, workers=2)
    assert third.getvalue() == first.getvalue() and len(summed) == 2


def test_encode_parallel_matches_the_serial_join_and_reencodes_only_what_changed(tmp_path):
    rate = 44100
    x = music(9.0, rate, 2, seed=9)
    read = lambda a, b: x[a:b]  # noqa: E731
    serial = segmentwise(x, rate, [], piece_seconds=1.0)[1]
    cache = CountingCache(tmp_path / "cache")
    out = io.BytesIO()
    first = mf.encode_parallel(read, len(x), out, rate=rate, channels=2, piece_seconds=1.0,
                               cache=cache, workers=2)
    assert out.getvalue() == serial  # deterministic, and the order kept
    pieces = mf.plan_pieces(len(x), rate=rate, piece_seconds=1.0)
    assert (first.pieces, first.encoded, first.cached) == (len(pieces), len(pieces), 0)
    assert first.joined.samples == len(x) and first.joined.bytes == len(serial)
    middle = pieces[4]
    edited = x.copy()
    edited[middle.start + 5000:middle.start + 9000] *= 0.25  # well inside one piece
    out = io.BytesIO()
    again = mf.encode_parallel(lambda a, b: edited[a:b], len(x), out, rate=rate, channels=2,
                               piece_seconds=1.0, cache=cache, workers=2)
    assert (again.encoded, again.cached) == (1, len(pieces) - 1)
    path = tmp_path / "edited.mp3"
    path.write_bytes(out.getvalue())
    ffmpeg_encode(edited, rate, tmp_path / "whole.mp3", reservoir=False)
    ours, whole = decode(path, 2), decode(tmp_path / "whole.mp3", 2)
    assert len(ours) == len(x)
    assert snr(edited, ours) > snr(edited, whole) - 0.3

    # a damaged cache entry is encoded again, not joined
    # (the newest entry: the edited piece, which the next encode needs; the cache also still
    # holds that piece's old version, which it does not)
    victim = max((tmp_path / "cache").glob("*.mp3frames"), key=lambda p: p.stat().st_mtime_ns)
    victim.write_bytes(victim.read_bytes()[:-7])
    out = io.BytesIO()
    repaired = mf.encode_parallel(lambda a, b: edited[a:b], len(x), out, rate=rate,
                                  channels=2, piece_seconds=1.0, cache=cache, workers=2)
    assert repaired.encoded == 1 and out.getvalue() == path.read_bytes()


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two cores and CPU affinity (Linux)")
def test_each_worker_and_the_ffmpeg_it_starts_keep_to_a_core_of_their_own():
    """Hand-offs between ffmpeg's threads stay on one core: each worker thread is pinned to a
    core of its own, the processes it starts inherit that core, and the caller keeps its own."""
    rate = 44100
    x = music(4.0, rate, 2, seed=3)
    before = os.sched_getaffinity(0)
    seen = []

    def encoder(jobs):
        child = subprocess.run([sys.executable, "-c",
                                "import os; print(*sorted(os.sched_getaffinity(0)))"],
                               capture_output=True, text=True, check=True).stdout.split()
        seen.append((threading.get_ident(), frozenset(os.sched_getaffinity(0)),
                     frozenset(map(int, child))))
        return [mf.encode_piece(pcm, piece, channels=2) for pcm, piece, _ in jobs]

    out = io.BytesIO()
    mf.encode_parallel(lambda a, b: x[a:b], len(x), out, rate=rate, channels=2,
                       piece_seconds=0.5, workers=2, encoder=encoder)
    assert out.getvalue() == segmentwise(x, rate, [], piece_seconds=0.5)[1]
    masks = {thread: mask for thread, mask, _ in seen}
    assert all(len(mask) == 1 and mask <= before for mask in masks.values())
    assert len(set(masks.values())) == len(masks) == 2  # a core each
    assert all(child == mask for _, mask, child in seen)
    assert os.sched_getaffinity(0) == before
    # More workers than cores: nothing is pinned.
    seen.clear()
    mf.encode_parallel(lambda a, b: x[a:b], len(x), io.BytesIO(), rate=rate, channels=2,
                       piece_seconds=0.5, workers=len(before) + 1, encoder=encoder)
    assert all(mask == before for _, mask, _ in seen)


def test_pieces_encoded_together_are_the_frames_each_makes_alone():
    """One ffmpeg with an encoder per piece (a span's short edges share one start): each piece's
    frames are byte for byte those of a run of its own, whatever else the run encodes."""
    rate = 44100
    x = music(3.0, rate, 2, seed=5)
    spf = mf.samples_per_frame(rate)
    cuts = [spf * k for k in (2, 4, 30, 32, 60, 61)]
    pieces = mf.plan_pieces(len(x), cuts, rate=rate, piece_seconds=60.0)
    jobs = [(x[p.read_start:p.read_end], p) for p in pieces]
    together = mf.encode_together(jobs, channels=2)
    alone = [mf.encode_with_context(pcm, p, channels=2) for pcm, p in jobs]
    assert len(pieces) == 7 and together == alone
    with pytest.raises(EncoderError, match=r"status 1 while encoding pieces 0 \(samples "
                                           r"0-2304\), 1 \(samples 2304-4608\), 2 "):
        mf.encode_together(jobs, channels=2, ffmpeg="/bin/false")


def test_the_short_pieces_share_one_ffmpeg_and_the_file_is_the_same():
    """encode_parallel hands every piece of at most SHARED_FRAMES to one encoder call, and the
    joined file is the one a run per piece makes."""
    rate = 44100
    x = music(4.0, rate, 2, seed=6)
    spf = mf.samples_per_frame(rate)
    cuts = [spf * k for k in (2, 40, 42, 44, 100, 102)]
    calls = []

    def encoder(jobs):
        calls.append([piece.index for _, piece, _ in jobs])
        return [mf.encode_piece(pcm, piece, channels=2) for pcm, piece, _ in jobs]

    out = io.BytesIO()
    report = mf.encode_parallel(lambda a, b: x[a:b], len(x), out, rate=rate, channels=2,
                                cuts=cuts, workers=2, encoder=encoder)
    pieces, whole = segmentwise(x, rate, cuts)
    short = [p.index for p in pieces if p.frames <= mf.SHARED_FRAMES]
    assert len(short) == 4 and short in calls  # one call for the four short pieces
    assert sorted(i for call in calls for i in call) == [p.index for p in pieces]
    assert report.encoded == len(pieces) and out.getvalue() == whole


def test_frames_that_borrow_from_the_reservoir_are_refused(tmp_path):
    rate = 44100
    x = music(2.0, rate, 2)
    path = tmp_path / "reservoir.mp3"
    ffmpeg_encode(x, rate, path)
    data = path.read_bytes()
    audio = data[mf.read_info(data).header_length:]
    joiner = mf.FrameJoiner(io.BytesIO(), len(x), rate=rate, channels=2)
    with pytest.raises(EncoderError, match="bit reservoir"):
        joiner.add(audio)


def test_a_failing_ffmpeg_and_a_bad_bitrate_are_encoder_errors():
    piece = mf.plan_pieces(2000, rate=44100)[0]
    silence = np.zeros((2000, 2), np.float32)
    with pytest.raises(EncoderError, match="ffmpeg exited with status 1 while encoding piece 0"):
        mf.encode_piece(silence, piece, channels=2, ffmpeg="/bin/false")
    with pytest.raises(EncoderError, match="8 kbps is not an MP3 bitrate at 44100 Hz"):
        mf.encode_piece(silence, piece, channels=2, bitrate_kbps=8)  # ffmpeg would make 32k
    with pytest.raises(ValueError, match="needs 2000 samples x 2 channels, got 1999 x 2"):
        mf.encode_piece(silence[1:], piece, channels=2)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seconds=st.floats(0.05, 2.5),
       cuts=st.lists(st.floats(0.0, 1.0), max_size=4),
       piece_seconds=st.sampled_from([0.2, 0.7, 60.0]),
       rate=st.sampled_from([44100, 48000]))
def test_any_cuts_decode_to_the_input_length_and_quality(tmp_path_factory, seconds, cuts,
                                                         piece_seconds, rate):
    folder = tmp_path_factory.mktemp("prop")
    x = music(seconds, rate, 1, seed=11)
    n = len(x)
    pieces, data = segmentwise(x, rate, [c * n for c in cuts], piece_seconds=piece_seconds)
    assert sum(p.frames for p in pieces) == mf.read_info(data).frames
    (folder / "p.mp3").write_bytes(data)
    ffmpeg_encode(x, rate, folder / "w.mp3", reservoir=False)
    ours = decode(folder / "p.mp3", 1)
    assert len(ours) == n
    assert MP3(folder / "p.mp3").info.length * rate == pytest.approx(n, abs=1e-6)
    whole = decode(folder / "w.mp3", 1)[:n]
    assert snr(x, ours) > snr(x, whole) - 0.5


def test_caller_keys_skip_reading_cached_pieces_and_encode_file_is_atomic(tmp_path):
    rate = 48000
    x = music(3.0, rate, 1, seed=4)
    reads = []

    def read(a, b):
        reads.append((a, b))
        return x[a:b]

    cache = mf.DirCache(tmp_path / "cache")
    key = lambda p: f"take-7-{p.read_start}-{p.read_end}-{p.start}-{p.end}"  # noqa: E731
    path = tmp_path / "out.mp3"
    first = mf.encode_file(path, read, len(x), rate=rate, channels=1, piece_seconds=0.5,
                           cache=cache, key=key, workers=2,
                           before_commit=lambda temp: write_tags(
                               temp, title="T", artist="A", album="S", date=""))
    assert first.encoded == first.pieces == len(reads) and first.pieces >= 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out.mp3"]
    assert mf.audio_start(path.read_bytes()) > 0  # tagged before the rename
    assert len(decode(path, 1)) == len(x)

    reads.clear()
    again = mf.encode_file(tmp_path / "again.mp3", read, len(x), rate=rate, channels=1,
                           piece_seconds=0.5, cache=cache, key=key, workers=2)
    assert (again.cached, again.encoded, reads) == (first.pieces, 0, [])
    untagged = (tmp_path / "again.mp3").read_bytes()
    assert untagged == path.read_bytes()[mf.audio_start(path.read_bytes()):]

    def broken(a, b):
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        mf.encode_file(tmp_path / "again.mp3", broken, len(x), rate=rate, channels=1,
                       piece_seconds=0.5, workers=2)
    assert (tmp_path / "again.mp3").read_bytes() == untagged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.mp3", "cache", "out.mp3"]


@pytest.mark.parametrize("kind", ["speech", "noise", "click"])
def test_a_pieces_true_peak_is_exact_though_quiet_stretches_are_not_oversampled(kind):
    """piece_measures oversamples only what could top the peak found so far: the piece's
    peak, its first chunk's and its last's (where a neighbouring span's samples can be) are
    those of oversampling every sample, and no chunk reads above the piece's peak."""
    from pipeline.build import segmentwise as sw
    from pipeline.audio import measure
    from synth import full_band_noise, speech

    rate, channels = 44100, 2
    n = rate * 6
    if kind == "speech":  # loud syllables and quiet pauses: most of it is skipped
        x = np.repeat(speech(6.0, level_db=8, seed=2)[:, None], 2, axis=1)
    elif kind == "noise":  # full band, evenly loud: hardly anything is skipped
        x = full_band_noise(6.0, seed=4, amplitude=0.2)
    else:  # quiet, with the loudest moment in the very last chunk
        x = full_band_noise(6.0, seed=5, amplitude=0.01)
        x[-300:-290] = 0.8
    piece = mf.Piece(0, 0, n, n, rate)
    ffmpeg = find_ffmpeg()
    data, _ = mf.encode_with_context(x, piece, channels=channels, ffmpeg=ffmpeg)
    spf = mf.samples_per_frame(rate)
    got = sw.piece_measures(data, piece, rate, channels, ffmpeg, spf)[1]
    y = sw._decoded(data, piece, rate, channels, ffmpeg)
    a = sw._DELAY
    y = np.concatenate([y, np.zeros((max(0, a + n - len(y)), channels), np.float32)])
    f = measure.OVERSAMPLING
    fast = np.abs(soxr_resample(y, rate, f)).max(axis=1)[a * f:(a + n) * f]
    every = np.maximum.reduceat(fast, np.arange(0, len(fast), spf * f))
    assert got.shape == every.shape
    assert got.max() == pytest.approx(every.max(), rel=1e-5)
    assert got[0] == pytest.approx(every[0], rel=1e-5)
    assert got[-1] == pytest.approx(every[-1], rel=1e-5)
    assert np.all(got <= got.max())
    if kind == "speech":  # and the pauses were not oversampled
        assert np.mean(~np.isclose(got, every, rtol=1e-5)) > 0.2
    if kind == "click":
        assert np.argmax(every) == len(every) - 1


def soxr_resample(y, rate, factor):
    import soxr
    from pipeline.audio import measure

    return soxr.resample(np.ascontiguousarray(y), rate, rate * factor,
                         quality=measure.OVERSAMPLER_QUALITY)


@pytest.mark.parametrize("rate, channels", [(44100, 2), (24000, 1)])
def test_a_piece_decodes_in_process_as_ffmpeg_decodes_it(monkeypatch, rate, channels):
    """The build measures each piece as decoded by libsndfile's mpg123 (no pipe, no process);
    ffmpeg, the fallback, gives the same samples at the same offsets and the same figures."""
    from pipeline.build import segmentwise as sw

    if not sw._MPG123:
        pytest.skip("this libsndfile has no MP3 decoder: the build uses ffmpeg")
    rng = np.random.default_rng(3)
    n = rate * 4
    x = (0.2 * rng.standard_normal((n, channels))).astype(np.float32)
    piece = mf.plan_pieces(n, [n // 3], rate=rate, piece_seconds=2.0)[1]
    ffmpeg = find_ffmpeg()
    data, _ = mf.encode_with_context(x[piece.read_start:piece.read_end], piece,
                                     channels=channels, ffmpeg=ffmpeg)
    spf = mf.samples_per_frame(rate)
    here = sw._decoded(data, piece, rate, channels, ffmpeg)
    measured_here = sw.piece_measures(data, piece, rate, channels, ffmpeg, spf)
    monkeypatch.setattr(sw, "_MPG123", False)
    there = sw._decoded(data, piece, rate, channels, ffmpeg)
    assert here.shape == there.shape
    assert np.max(np.abs(here - there)) < 1e-4
    np.testing.assert_allclose(measured_here, sw.piece_measures(data, piece, rate, channels,
                                                                ffmpeg, spf), rtol=1e-3)
