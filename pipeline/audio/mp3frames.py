"""Segment-wise MP3: encode pieces of an episode on every core, join them frame-exactly.

An MP3 is a chain of self-contained frames once LAME's bit reservoir is off, so an episode can be
encoded in pieces and the pieces' frames concatenated, if every piece is cut on the stream's own
frame grid. The bookkeeping, checked with LAME 3.100 through ffmpeg (see tests/test_mp3frames.py):

- LAME delays its input by ENCODER_DELAY (576) samples and pads the end so that at least 576
  samples follow the audio: N samples become ceil((N + 1152) / 1152) frames (MPEG-1; 576 per
  frame at MPEG-2 rates);
- so if a piece's input starts at sample s, a multiple of 1152, its k-th output frame is frame
  s / 1152 + k of a whole-file encode. A piece is encoded from CONTEXT_SAMPLES (2 frames) before
  its first sample to as many after its last (the filterbank's overlap and the psychoacoustic
  model's look-ahead), and only its own frames are kept;
- decoders drop ENCODER_DELAY + DECODER_DELAY (529) samples at the start and, given the LAME tag's
  end padding, as many at the end as pad the frames beyond the audio, so the one Info header
  written for the whole file (frame and byte counts, the seek table, delay 576 and padding
  frames * 1152 - 576 - N) makes ffmpeg decode exactly N samples and mutagen report N / rate.

Pieces are deterministic (same PCM and context in, same bytes out), so an unchanged piece can be
served from a cache of its encoded frames. ffmpeg is run through pipeline.audio.encode's settings.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO, Protocol

import numpy as np

from pipeline.audio.encode import _STDERR_TAIL, _hidden_sibling, _mp3_args, find_ffmpeg
from pipeline.errors import EncoderError

ENCODER_DELAY = 576  # LAME's, written to the LAME tag
DECODER_DELAY = 529  # the synthesis filterbank's; decoders add it to the tag's delay
CONTEXT_SAMPLES = 2304  # neighbours' audio each piece is encoded with (2 MPEG-1 frames)
PIECE_SECONDS = 60.0  # default longest piece: fine enough to cache, long enough to start ffmpeg

_ENCODER_NAME = b"LAME3.100"  # the frames' encoder; mutagen reads the tag only after "LAME"
_BITRATES = {  # kbps by bitrate index, Layer III
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_TOC_SIZE = 100


# --- frames ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """One MPEG audio Layer III frame's header, where it sits and how long it is."""

    offset: int
    length: int
    mpeg: int  # 1 (MPEG-1), 2 (MPEG-2) or 25 (MPEG-2.5)
    rate: int
    bitrate_kbps: int
    channels: int
    padded: bool
    main_data_begin: int  # bytes borrowed from earlier frames (the bit reservoir); 0 = none

    @property
    def samples(self) -> int:
        return samples_per_frame(self.rate)

    @property
    def side_info_size(self) -> int:
        return _side_info_size(self.mpeg, self.channels)


def samples_per_frame(rate: int) -> int:
    """1152 for MPEG-1 rates (32, 44.1, 48 kHz), 576 for the MPEG-2 and 2.5 ones."""
    if rate in _RATES[3]:
        return 1152
    if rate in _RATES[2] or rate in _RATES[0]:
        return 576
    raise EncoderError(f"{rate} Hz is not an MP3 sample rate; use one of "
                       f"{', '.join(str(r) for v in _RATES.values() for r in v)}")


def _side_info_size(mpeg: int, channels: int) -> int:
    return (17 if channels == 1 else 32) if mpeg == 1 else (9 if channels == 1 else 17)


def _frame_length(mpeg: int, bitrate_kbps: int, rate: int, padded: bool) -> int:
    return (144 if mpeg == 1 else 72) * bitrate_kbps * 1000 // rate + int(padded)


def parse_frame(data: bytes | memoryview, offset: int = 0) -> Frame | None:
    """The Layer III frame whose header starts at data[offset], or None if there is none."""
    if offset + 4 > len(data):
        return None
    b1, b2, b3 = data[offset + 1], data[offset + 2], data[offset + 3]
    if data[offset] != 0xFF or b1 & 0xE0 != 0xE0:
        return None
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
    index, rate_index = b2 >> 4, (b2 >> 2) & 3
    if version == 1 or layer != 1 or index in (0, 15) or rate_index == 3:
        return None
    mpeg = {3: 1, 2: 2, 0: 25}[version]
    kbps = _BITRATES[1 if mpeg == 1 else 2][index]
    rate = _RATES[version][rate_index]
    padded = bool((b2 >> 1) & 1)
    channels = 1 if b3 >> 6 == 3 else 2
    side = offset + 4 + (0 if b1 & 1 else 2)  # protection bit 0: a CRC-16 follows the header
    if side + 2 > len(data):
        return None
    first = (data[side] << 8) | data[side + 1]
    main_data_begin = first >> 7 if mpeg == 1 else first >> 8
    return Frame(offset, _frame_length(mpeg, kbps, rate, padded), mpeg, rate, kbps, channels,
                 padded, main_data_begin)


def audio_start(data: bytes | memoryview) -> int:
    """Where the frames start: after an ID3v2 tag (pipeline.audio.tags writes one), else 0."""
    if len(data) >= 10 and bytes(data[:3]) == b"ID3":
        size = 0
        for byte in data[6:10]:
            size = (size << 7) | (byte & 0x7F)
        return 10 + size + (10 if data[5] & 0x10 else 0)  # footer flag
    return 0


def iter_frames(data: bytes | memoryview, start: int = 0) -> Iterator[Frame]:
    """Every frame from data[start] to the end, back to back; EncoderError at anything else
    (junk, a truncated last frame): pieces and joined files hold nothing but frames."""
    at, end = start, len(data)
    while at < end:
        frame = parse_frame(data, at)
        if frame is None:
            raise EncoderError(f"no MP3 frame header at byte {at} of {end}")
        if at + frame.length > end:
            raise EncoderError(f"MP3 frame at byte {at} is truncated "
                               f"({end - at} of {frame.length} bytes)")
        yield frame
        at += frame.length


def total_frames(samples: int, rate: int) -> int:
    """Audio frames LAME makes of `samples` samples: the delay and at least 576 padding fit."""
    return -(-(samples + 2 * ENCODER_DELAY) // samples_per_frame(rate))


# --- CRC-16 (poly 0x8005, reflected, init 0: the LAME tag's) -----------------------------------

def _table() -> np.ndarray:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return np.array(table, dtype=np.uint16)


def _pair_table(table: np.ndarray) -> np.ndarray:
    """The CRC after two bytes, by (CRC ^ the bytes as a little-endian word): a 16-bit CRC
    takes a word in one look-up, so numpy hashes two bytes a step (2.4 times faster)."""
    word = np.arange(1 << 16, dtype=np.uint16)
    once = (word >> 8) ^ table[word & 0xFF]
    return (once >> 8) ^ table[once & 0xFF]


_CRC_TABLE = _table()
_CRC_LIST = [int(v) for v in _CRC_TABLE]
_CRC_PAIRS = _pair_table(_CRC_TABLE)
_LANE = 128  # bytes per lane: lanes are hashed side by side by numpy, then combined


def _crc_small(data: bytes | memoryview, crc: int = 0) -> int:
    table = _CRC_LIST
    for byte in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def _apply(matrix: tuple[int, ...], crc: int) -> int:
    out, bit = 0, 0
    while crc:
        if crc & 1:
            out ^= matrix[bit]
        crc >>= 1
        bit += 1
    return out


def _compose(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """a after b."""
    return tuple(_apply(a, column) for column in b)


@lru_cache(maxsize=64)
def _zeros(count: int) -> tuple[int, ...]:
    """The linear map a CRC goes through when `count` zero bytes are fed (as 16 columns)."""
    if count == 0:
        return tuple(1 << i for i in range(16))
    if count == 1:
        return tuple(_crc_small(b"\0", 1 << i) for i in range(16))
    half = _zeros(count // 2)
    square = _compose(half, half)
    return _compose(_zeros(1), square) if count % 2 else square


@lru_cache(maxsize=32)
def _zeros_tables(count: int) -> tuple[np.ndarray, np.ndarray]:
    """_zeros(count) as two 256-entry tables, for the low and the high byte of a CRC."""
    matrix = _zeros(count)
    low = np.array([_apply(matrix, b) for b in range(256)], np.uint16)
    high = np.array([_apply(matrix, b << 8) for b in range(256)], np.uint16)
    return low, high


def crc16(data: bytes | memoryview, crc: int = 0) -> int:
    """CRC-16/ARC of data, continuing from `crc`; fast on megabytes: numpy hashes lanes of
    _LANE bytes side by side, and a tree combines them by linearity (CRC(a + b) is
    zeros(len b)(CRC(a)) ^ CRC(b), each from 0; zero lanes in front change nothing)."""
    n = len(data)
    count = n // _LANE
    if count < 16:
        return _crc_small(data, crc)
    width = 1 << (count - 1).bit_length()
    words = _LANE // 2
    lanes = np.zeros((words, width), np.uint16)
    lanes[:, width - count:] = np.frombuffer(data, "<u2", count * words).reshape(count, words).T
    state = np.zeros(width, np.uint16)
    for column in lanes:
        state = _CRC_PAIRS[state ^ column]
    span = _LANE
    while len(state) > 1:
        low, high = _zeros_tables(span)
        front, back = state[0::2], state[1::2]
        state = low[front & 0xFF] ^ high[front >> 8] ^ back
        span *= 2
    body = _apply(_zeros(count * _LANE), crc) ^ int(state[0])
    return _crc_small(memoryview(data)[count * _LANE:], body)


def crc16_concat(crc_a: int, crc_b: int, length_b: int) -> int:
    """The CRC of a + b from CRC(a) and CRC(b), b's computed from 0."""
    return _apply(_zeros(length_b), crc_a) ^ crc_b


# --- the Info header -----------------------------------------------------------------------------

@dataclass(frozen=True)
class InfoTag:
    """What a Xing/Info + LAME header says about the file."""

    frames: int  # audio frames, the Info frame not counted
    bytes: int  # the Info frame and all audio frames
    toc: tuple[int, ...]
    encoder: bytes
    delay: int
    padding: int
    music_length: int
    music_crc: int
    tag_crc: int
    tag_crc_ok: bool
    header_length: int  # the Info frame's length in bytes

    def samples(self, rate: int) -> int:
        return self.frames * samples_per_frame(rate) - self.delay - self.padding


def read_info(data: bytes | memoryview, start: int | None = None) -> InfoTag:
    """The Info (or Xing) header of the MP3 in data (an ID3v2 tag before it is skipped)."""
    at = audio_start(data) if start is None else start
    frame = parse_frame(data, at)
    if frame is None:
        raise EncoderError(f"no MP3 frame at byte {at}")
    tag = at + 4 + frame.side_info_size
    view = bytes(data[tag:tag + 156])
    if view[:4] not in (b"Info", b"Xing") or len(view) < 156:
        raise EncoderError(f"no Info/Xing header in the frame at byte {at}")
    flags = int.from_bytes(view[4:8], "big")
    if flags & 0xF != 0xF:
        raise EncoderError(f"the Info header at byte {at} lacks frames, bytes, TOC or quality")
    lame = view[120:156]
    v = int.from_bytes(lame[21:24], "big")
    tag_crc = int.from_bytes(lame[34:36], "big")
    return InfoTag(frames=int.from_bytes(view[8:12], "big"),
                   bytes=int.from_bytes(view[12:16], "big"), toc=tuple(view[16:116]),
                   encoder=lame[:9], delay=v >> 12, padding=v & 0xFFF,
                   music_length=int.from_bytes(lame[28:32], "big"),
                   music_crc=int.from_bytes(lame[32:34], "big"), tag_crc=tag_crc,
                   tag_crc_ok=_crc_small(data[at:tag + 154]) == tag_crc,
                   header_length=frame.length)


def _info_frame_header(first: bytes, rate: int) -> tuple[bytes, int]:
    """The 4 header bytes of the Info frame, and its length: the first audio frame's header
    (same version, rate, channel mode) without CRC or padding, at its bitrate if the tag fits,
    else at the lowest bitrate that holds it."""
    frame = parse_frame(first)
    needed = 4 + frame.side_info_size + 156
    table = _BITRATES[1 if frame.mpeg == 1 else 2]
    index = table.index(frame.bitrate_kbps)
    while _frame_length(frame.mpeg, table[index], rate, False) < needed:
        index += 1
        if index == 15:
            raise EncoderError(f"no MP3 bitrate at {rate} Hz holds the Info header")
    b1 = first[1] | 1  # no CRC
    b2 = (index << 4) | (first[2] & 0x0C)  # rate index kept, no padding, private bit 0
    header = bytes([0xFF, b1, b2, first[3]])
    return header, _frame_length(frame.mpeg, table[index], rate, False)


def info_frame(first_frame: bytes, *, rate: int, channels: int, frames: int, total_bytes: int,
               toc: Sequence[int], padding: int, bitrate_kbps: int, music_crc: int) -> bytes:
    """The Info frame for a CBR file of these frames: Xing fields, then the LAME extension with
    delay and padding, music length and CRC, and the tag's own CRC over everything before it."""
    header, length = _info_frame_header(first_frame, rate)
    frame = bytearray(length)
    frame[:4] = header
    at = 4 + parse_frame(first_frame).side_info_size
    tag = bytearray()
    tag += b"Info" + (0xF).to_bytes(4, "big")
    tag += frames.to_bytes(4, "big") + total_bytes.to_bytes(4, "big") + bytes(toc)
    tag += (0).to_bytes(4, "big")  # quality: not recorded
    tag += _ENCODER_NAME
    tag += bytes([0x01])  # tag revision 0, method 1: constant bitrate
    tag += bytes([0])  # lowpass: not recorded
    tag += bytes(4 + 2 + 2)  # peak, radio and audiophile gain: not recorded
    tag += bytes([0])  # encoding flags, ATH type
    tag += bytes([min(bitrate_kbps, 255)])
    tag += ((ENCODER_DELAY << 12) | padding).to_bytes(3, "big")
    source = 0 if rate <= 32000 else 1 if rate == 44100 else 2
    tag += bytes([source << 6])  # misc: source rate; no noise shaping or stereo mode recorded
    tag += bytes([0]) + bytes(2)  # MP3 gain, preset and surround
    tag += total_bytes.to_bytes(4, "big") + music_crc.to_bytes(2, "big")
    frame[at:at + len(tag)] = tag
    crc_at = at + len(tag)
    frame[crc_at:crc_at + 2] = _crc_small(frame[:crc_at]).to_bytes(2, "big")
    return bytes(frame)


# --- pieces ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Piece:
    """One piece of the file: the samples it owns, [start, end), and the span encoded for it,
    [read_start, read_end), which adds up to `context` frames of its neighbours each side."""

    index: int
    start: int  # a multiple of the frame size
    end: int  # a multiple of the frame size, or the file's end
    total: int  # samples in the whole file
    rate: int
    context: int | None = None  # frames each side; None: CONTEXT_SAMPLES' worth

    @property
    def spf(self) -> int:
        return samples_per_frame(self.rate)

    @property
    def context_frames(self) -> int:
        return -(-CONTEXT_SAMPLES // self.spf) if self.context is None else self.context

    @property
    def last(self) -> bool:
        return self.end == self.total

    @property
    def first_frame(self) -> int:
        return self.start // self.spf

    @property
    def frames(self) -> int:
        """Audio frames kept: the last piece also holds LAME's end padding."""
        if self.last:
            return total_frames(self.total, self.rate) - self.first_frame
        return (self.end - self.start) // self.spf

    @property
    def read_start(self) -> int:
        return max(0, self.start - self.context_frames * self.spf)

    @property
    def read_end(self) -> int:
        return min(self.total, self.end + self.context_frames * self.spf)

    @property
    def lead_frames(self) -> int:
        return (self.start - self.read_start) // self.spf


def plan_pieces(total_samples: int, cuts: Iterable[int] = (), *, rate: int,
                piece_seconds: float = PIECE_SECONDS,
                context: int | None = None) -> list[Piece]:
    """Pieces covering [0, total_samples): cut at each of `cuts` (sample positions, e.g. chapter
    starts) snapped to the nearest frame boundary, and spans longer than piece_seconds cut
    every piece_seconds from their own start, the last piece holding the rest (the last two
    sharing it when it is under half a piece). So a span's pieces move with it when audio
    before it changes by whole frames, and a change late in a span leaves its earlier pieces
    where they were."""
    if total_samples <= 0:
        raise ValueError("an MP3 needs at least one sample")
    if piece_seconds <= 0:
        raise ValueError("piece_seconds must be positive")
    spf = samples_per_frame(rate)
    snapped = sorted({round(c / spf) * spf for c in cuts} - {0})
    bounds = [0, *(c for c in snapped if 0 < c < total_samples), total_samples]
    longest = max(1, int(piece_seconds * rate) // spf)  # in frames
    starts = []
    for begin, finish in zip(bounds, bounds[1:]):
        frames = -(-(finish - begin) // spf)
        count = -(-frames // longest)
        at = [k * longest for k in range(count)]
        rest = frames - (count - 1) * longest
        if count > 1 and rest < longest // 2:  # too short to encode well alone: the last two
            at[-1] = (count - 2) * longest + (longest + rest) // 2  # share what is left
        starts += [begin + k * spf for k in at]
    ends = [*starts[1:], total_samples]
    return [Piece(i, s, e, total_samples, rate, context)
            for i, (s, e) in enumerate(zip(starts, ends))]


def encode_piece(pcm: np.ndarray, piece: Piece, *, channels: int, bitrate_kbps: int = 128,
                 ffmpeg: str | None = None) -> bytes:
    """The piece's own MP3 frames (no header), encoded from `pcm`: its samples
    [read_start, read_end) as (samples, channels) floats. Deterministic for the same input."""
    return own_frames(piece, *encode_with_context(pcm, piece, channels=channels,
                                                  bitrate_kbps=bitrate_kbps, ffmpeg=ffmpeg))


def own_frames(piece: Piece, data: bytes, offsets: list[int]) -> bytes:
    """The piece's own frames of all encode_with_context made (its context frames cut off)."""
    return data[offsets[piece.lead_frames]:offsets[piece.lead_frames + piece.frames]]


def encode_with_context(pcm: np.ndarray, piece: Piece, *, channels: int,
                        bitrate_kbps: int = 128, ffmpeg: str | None = None
                        ) -> tuple[bytes, list[int]]:
    """Every frame ffmpeg made of the piece's read span, context frames included, and where
    each starts (plus the end): what a decoder needs to hear the piece's own frames as they
    sound in the joined file (frame k decodes with frame k - 1's overlap)."""
    return encode_together([(pcm, piece)], channels=channels, bitrate_kbps=bitrate_kbps,
                           ffmpeg=ffmpeg)[0]


def encode_together(jobs: Sequence[tuple[np.ndarray, Piece]], *, channels: int,
                    bitrate_kbps: int = 128, ffmpeg: str | None = None
                    ) -> list[tuple[bytes, list[int]]]:
    """encode_with_context of each (pcm, piece), all in one ffmpeg with an encoder for each:
    each piece's frames are those a run of its own makes (tested). Short pieces (a span's
    edges) share a run: starting ffmpeg costs 24 ms of CPU, encoding two frames about one."""
    if not jobs:
        return []
    _probe_header(jobs[0][1].rate, channels, bitrate_kbps)  # ffmpeg would round a bad bitrate
    inputs, args, outputs = [], [], []
    for k, (pcm, piece) in enumerate(jobs):
        pcm = np.asarray(pcm)
        pcm = pcm.reshape(len(pcm), -1)
        want = piece.read_end - piece.read_start
        if pcm.shape != (want, channels):
            raise ValueError(f"piece {piece.index} needs {want} samples x {channels} channels, "
                             f"got {pcm.shape[0]} x {pcm.shape[1]}")
        inputs.append(memoryview(pcm16(pcm)).cast("B"))
        args.append(["-f", "s16le", "-ar", str(piece.rate), "-ac", str(channels), "-i"])
        outputs.append(["-map", f"{k}:a", *_mp3_args(piece.rate, channels, bitrate_kbps,
                                                     xing=False, reservoir=False),
                        "-flush_packets", "0"])  # frames out in 32 kB writes, not one by one
    code, outs, err = _piped(ffmpeg or find_ffmpeg(), args, outputs, inputs)
    if code != 0:
        tail = err.decode(errors="replace").strip()[-_STDERR_TAIL:]
        what = ", ".join(f"{p.index} (samples {p.start}-{p.end})" for _, p in jobs)
        raise EncoderError(f"ffmpeg exited with status {code} while encoding "
                           f"piece{'s' if len(jobs) > 1 else ''} {what}"
                           + (f":\n{tail}" if tail else ""))
    done = []
    for (_, piece), data in zip(jobs, outs):
        offsets = [*_offsets(data, piece.rate, channels, bitrate_kbps, f"piece {piece.index}"),
                   len(data)]
        want = piece.read_end - piece.read_start
        expected = total_frames(want, piece.rate)
        if len(offsets) - 1 != expected:
            raise EncoderError(f"ffmpeg made {len(offsets) - 1} MP3 frames of {want} samples, "
                               f"not {expected}: this LAME pads differently; encode the whole "
                               "file")
        done.append((data, offsets))
    return done


def pcm16(x: np.ndarray) -> np.ndarray:
    """Audio as the encoder takes it: 16-bit, as a WAV into LAME would be (its noise is 96 dB
    down, far under the MP3's own), and half the bytes of float to write, pipe and read back."""
    x = np.asarray(x)
    if x.dtype == np.int16:
        return np.ascontiguousarray(x, "<i2")
    return np.clip(np.rint(np.asarray(x, np.float32) * 32768), -32768, 32767).astype("<i2")


def from_pcm16(q: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) / np.float32(32768)


def _piped(ffmpeg: str, inputs: list[list[str]], outputs: list[list[str]],
           data: list[memoryview]) -> tuple[int, list[bytes], bytes]:
    """Run ffmpeg with input k's options reading data[k] through a pipe of its own, and output
    k's options writing to another: (status, what each output wrote, stderr). A thread writes
    each input in one call (subprocess.run feeds stdin 4 kB per poll, thousands of wake-ups a
    piece) and one reads each output, so no pipe fills while ffmpeg waits on another."""
    ends: list[int] = []  # the child's ends, closed here once it has them
    ours: list[int] = []
    try:
        feeds, drains = [], []
        for _ in data:
            r, w = os.pipe()
            ends.append(r)
            ours.append(w)
            feeds.append((r, w))
        for _ in outputs:
            r, w = os.pipe()
            ends.append(w)
            ours.append(r)
            drains.append((r, w))
        cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error"]
        for options, (r, _) in zip(inputs, feeds):
            cmd += [*options, f"pipe:{r}"]
        for options, (_, w) in zip(outputs, drains):
            cmd += [*options, f"pipe:{w}"]
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, pass_fds=ends)
        except OSError as e:
            raise EncoderError(f"cannot start ffmpeg ({ffmpeg}): {e.strerror}") from None
    except BaseException:
        for fd in ends + ours:
            os.close(fd)
        raise
    for fd in ends:
        os.close(fd)
    got: list[bytes] = [b""] * len(outputs)
    files: list = []  # ours, as files (closed with them)

    def feed(sink, chunk: memoryview) -> None:
        try:
            sink.write(chunk)
        except OSError:  # ffmpeg stopped early (a broken pipe): its status says why
            pass
        finally:
            try:
                sink.close()
            except OSError:
                pass

    def drain(k: int, source) -> None:
        got[k] = source.read()

    try:
        for fd, mode in [*((w, "wb") for _, w in feeds), *((r, "rb") for r, _ in drains)]:
            files.append(open(fd, mode))
        threads = [threading.Thread(target=feed, args=(f, d), daemon=True)
                   for f, d in zip(files, data)] + \
            [threading.Thread(target=drain, args=(k, f), daemon=True)
             for k, f in enumerate(files[len(data):])]
        for thread in threads:
            thread.start()
        err = proc.stderr.read()
        for thread in threads:
            thread.join()
        return proc.wait(), got, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
        for f in files:
            f.close()


def _check_frames(frames: Sequence[Frame], rate: int, channels: int, bitrate_kbps: int,
                  what: str) -> None:
    for f in frames:
        if (f.rate, f.channels, f.bitrate_kbps) != (rate, channels, bitrate_kbps):
            raise EncoderError(f"{what}: frame at byte {f.offset} is {f.rate} Hz, {f.channels} "
                               f"channel(s), {f.bitrate_kbps} kbps, not {rate} Hz, {channels}, "
                               f"{bitrate_kbps}")
        if f.main_data_begin:
            raise EncoderError(f"{what}: frame at byte {f.offset} uses the bit reservoir, so it "
                               "cannot be cut out; this ffmpeg ignores -reservoir 0")


def _offsets(data: bytes, rate: int, channels: int, bitrate_kbps: int, what: str) -> list[int]:
    """Where each frame of data starts, checking that all are whole frames of this format that
    borrow nothing (reservoir off). The same checks as iter_frames + _check_frames, without a
    Frame per frame: joins walk every frame of an episode."""
    if not data:
        return []
    first = parse_frame(data, 0)
    if first is None:
        raise EncoderError(f"{what}: no MP3 frame header at byte 0 of {len(data)}")
    _check_frames([first], rate, channels, bitrate_kbps, what)
    b1, b2 = data[1], data[2] & 0xFC
    side = 4 if b1 & 1 else 6
    low_bit = 0x80 if first.mpeg == 1 else 0  # main_data_begin: 9 bits (MPEG-1) or 8
    base = _frame_length(first.mpeg, bitrate_kbps, rate, False)
    mono = channels == 1
    offsets, at, end = [], 0, len(data)
    while at < end:
        if (at + side + 2 > end or data[at] != 0xFF or data[at + 1] != b1
                or data[at + 2] & 0xFC != b2 or (data[at + 3] >> 6 == 3) != mono
                or data[at + side] or data[at + side + 1] & low_bit):
            frame = parse_frame(data, at)
            if frame is None:
                raise EncoderError(f"{what}: no MP3 frame header at byte {at} of {end}")
            _check_frames([frame], rate, channels, bitrate_kbps, what)
            raise EncoderError(f"{what}: the frame at byte {at} is not like the first")
        length = base + ((data[at + 2] >> 1) & 1)
        if at + length > end:
            raise EncoderError(f"{what}: MP3 frame at byte {at} is truncated "
                               f"({end - at} of {length} bytes)")
        offsets.append(at)
        at += length
    return offsets


# --- the join ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Joined:
    """What a join wrote."""

    samples: int
    frames: int  # audio frames
    bytes: int  # Info frame + audio frames
    padding: int


class FrameJoiner:
    """Write one MP3 to a seekable binary file from pieces' frames, in order: room for the Info
    frame first, then each piece's frames as they come (memory: one piece), and at finish() the
    Info frame, whose counts, seek table and CRCs are known only then."""

    def __init__(self, out: BinaryIO, total_samples: int, *, rate: int, channels: int,
                 bitrate_kbps: int = 128):
        if total_samples <= 0:
            raise ValueError("an MP3 needs at least one sample")
        self.out, self.samples = out, total_samples
        self.rate, self.channels, self.bitrate = rate, channels, bitrate_kbps
        self.frames_expected = total_frames(total_samples, rate)
        spf = samples_per_frame(rate)
        # the Info frame's size depends only on these, so its room is known now
        probe = _probe_header(rate, channels, bitrate_kbps)
        _, self._header_length = _info_frame_header(probe, rate)
        self._origin = out.tell()
        out.write(bytes(self._header_length))
        self._toc_frames = [i * self.frames_expected // _TOC_SIZE for i in range(_TOC_SIZE)]
        self._toc_offsets: list[int] = []
        self._frames = 0
        self._bytes = 0  # audio bytes so far
        self._crc = 0
        self._first: bytes | None = None
        self.padding = self.frames_expected * spf - ENCODER_DELAY - total_samples

    def add(self, frames: bytes, crc: int | None = None) -> None:
        """Append one piece's frames (validated: whole frames of this stream's format); `crc`,
        their crc16 if known (worked out by a worker, or kept with the piece)."""
        if not frames:
            return
        parsed = _offsets(frames, self.rate, self.channels, self.bitrate, "joined piece")
        if self._frames + len(parsed) > self.frames_expected:
            raise EncoderError(f"pieces hold more than the {self.frames_expected} frames "
                               f"{self.samples} samples make")
        want = self._toc_frames
        while len(self._toc_offsets) < _TOC_SIZE and want[len(self._toc_offsets)] < \
                self._frames + len(parsed):
            index = want[len(self._toc_offsets)] - self._frames
            self._toc_offsets.append(self._header_length + self._bytes + parsed[index])
        if self._first is None:
            self._first = frames[:8]
        self.out.write(frames)
        self._crc = crc16_concat(self._crc, crc16(frames) if crc is None else crc, len(frames))
        self._frames += len(parsed)
        self._bytes += len(frames)

    def finish(self) -> Joined:
        """Write the Info frame over its room; the file position is left at the end."""
        if self._frames != self.frames_expected:
            raise EncoderError(f"pieces hold {self._frames} frames; {self.samples} samples "
                               f"make {self.frames_expected}")
        total = self._header_length + self._bytes
        # the byte (in 256ths of the file) where each percent of the frames starts; 0% is 0
        toc = [0] + [min(255, offset * 256 // total) for offset in self._toc_offsets[1:]]
        header = info_frame(self._first, rate=self.rate, channels=self.channels,
                            frames=self._frames, total_bytes=total, toc=toc,
                            padding=self.padding, bitrate_kbps=self.bitrate,
                            music_crc=self._crc)
        assert len(header) == self._header_length
        end = self.out.tell()
        self.out.seek(self._origin)
        self.out.write(header)
        self.out.seek(end)
        return Joined(self.samples, self._frames, total, self.padding)


def _probe_header(rate: int, channels: int, bitrate_kbps: int) -> bytes:
    """A frame header of this format (joint stereo or mono), to size the Info frame early."""
    spf_version = 3 if rate in _RATES[3] else 2 if rate in _RATES[2] else 0
    table = _BITRATES[1 if spf_version == 3 else 2]
    if bitrate_kbps not in table[1:]:
        raise EncoderError(f"{bitrate_kbps} kbps is not an MP3 bitrate at {rate} Hz; use one "
                           f"of {', '.join(str(b) for b in table[1:])}")
    b1 = 0xE0 | (spf_version << 3) | (1 << 1) | 1
    b2 = (table.index(bitrate_kbps) << 4) | (_RATES[spf_version].index(rate) << 2)
    return bytes([0xFF, b1, b2, 0xC0 if channels == 1 else 0x40, 0, 0])


def join(pieces: Iterable[bytes], total_samples: int, *, rate: int, channels: int,
         bitrate_kbps: int = 128) -> bytes:
    """The whole MP3 (Info frame + frames) in memory: for tests and short files."""
    import io

    buffer = io.BytesIO()
    joiner = FrameJoiner(buffer, total_samples, rate=rate, channels=channels,
                         bitrate_kbps=bitrate_kbps)
    for frames in pieces:
        joiner.add(frames)
    joiner.finish()
    return buffer.getvalue()


# --- in parallel, with a cache ------------------------------------------------------------------

class FrameCache(Protocol):
    """Where encoded pieces are kept between builds: bytes by key. A cache may also keep each
    piece's crc16 (crc(key) and put_crc(key, crc), as DirCache does): the join then does not
    sum a cached piece again."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, frames: bytes) -> None: ...


class DirCache:
    """A FrameCache in a folder: one file of frames per key, written atomically, with the
    frames' crc16 beside it (the joined file's LAME header sums every piece's: kept, a
    piece read from the cache is not summed again)."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = os.fspath(folder)

    def _path(self, key: str) -> str:
        return os.path.join(self.folder, f"{key}.mp3frames")

    def crc(self, key: str) -> int | None:
        """The crc16 kept for the key's frames, or None (not kept, or unreadable)."""
        try:
            with open(os.path.join(self.folder, f"{key}.crc"), encoding="ascii") as f:
                value = int(f.read())
        except (OSError, ValueError):
            return None
        return value if 0 <= value <= 0xFFFF else None

    def put_crc(self, key: str, crc: int) -> None:
        _atomic_write(os.path.join(self.folder, f"{key}.crc"), str(crc).encode(), self.folder)

    def get(self, key: str) -> bytes | None:
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def put(self, key: str, frames: bytes) -> None:
        _atomic_write(self._path(key), frames, self.folder)


def _atomic_write(path: str, data: bytes, folder: str) -> None:
    """pipeline.files' atomic write, but with a temporary name of its own per call: two encode
    threads of one process may write the same key (two pieces of the same samples)."""
    os.makedirs(folder, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


def piece_key(pcm: np.ndarray, piece: Piece, *, channels: int, bitrate_kbps: int,
              ffmpeg: str) -> str:
    """What a piece's frames depend on: its samples with context, where its kept frames sit in
    them, the format and the encoder binary."""
    h = hashlib.sha256(b"podforge-mp3frames-2\0")
    h.update(repr((piece.rate, channels, bitrate_kbps, piece.lead_frames, piece.frames,
                   piece.last, piece.context_frames, ffmpeg, _binary_stamp(ffmpeg))).encode())
    h.update(np.ascontiguousarray(pcm, "<f4").data)
    return h.hexdigest()


@lru_cache(maxsize=8)
def _binary_stamp(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
        return st.st_size, int(st.st_mtime)
    except OSError:
        return 0, 0


@dataclass(frozen=True)
class EncodeReport:
    """What encode_parallel did."""

    joined: Joined
    pieces: int
    encoded: int  # pieces ffmpeg encoded
    cached: int  # pieces served from the cache


Reader = Callable[[int, int], np.ndarray]
AHEAD = 16  # finished pieces a worker may be ahead of the join by


def encode_parallel(read: Reader, total_samples: int, out: BinaryIO, *, rate: int,
                    channels: int, bitrate_kbps: int = 128, cuts: Iterable[int] = (),
                    piece_seconds: float = PIECE_SECONDS, cache: FrameCache | None = None,
                    key: Callable[[Piece], str] | None = None, workers: int | None = None,
                    ffmpeg: str | None = None,
                    encoder: Callable[[list[tuple[np.ndarray, Piece, str | None]]], list[bytes]]
                    | None = None) -> EncodeReport:
    """Encode samples [0, total_samples) into `out` (seekable, binary) as one MP3, in pieces on
    `workers` threads (default: every core), each running one ffmpeg.

    read(start, stop) returns those samples as (stop - start, channels) floats; it is called one
    call at a time, from the workers. Pieces whose key is in `cache` are not encoded; a cached
    entry that is not the piece's frames is encoded again. The key is piece_key() of the
    piece's samples, or key(piece) if given: a key the caller derives from what made the audio
    (it must cover the context span, read_start to read_end, and the format), so cached pieces
    are not even read. A piece's samples are read when a worker starts it, so at most `workers`
    pieces' samples are in memory; finished pieces wait for the join as frames (a minute of
    them is 1 MB), at most AHEAD x workers of them, so a short piece never waits on a long
    one before it and a 4-hour episode still streams through. Pieces of at most SHARED_FRAMES
    frames (a span's edges) are encoded first, all in one ffmpeg (encode_together).
    `encoder(jobs)`, if given, encodes a list of (pcm, piece, key) instead of encode_together
    (to measure them on the way, say) and returns each piece's own frames."""
    ffmpeg = ffmpeg or find_ffmpeg()
    workers = workers or os.cpu_count() or 1
    pieces = plan_pieces(total_samples, cuts, rate=rate, piece_seconds=piece_seconds)
    joiner = FrameJoiner(out, total_samples, rate=rate, channels=channels,
                         bitrate_kbps=bitrate_kbps)
    lock = threading.Lock()
    counts = {"encoded": 0, "cached": 0}

    def load(piece: Piece) -> np.ndarray:
        with lock:
            pcm = np.asarray(read(piece.read_start, piece.read_end))
        if pcm.dtype != np.int16:  # 16-bit PCM goes to the encoder as it is
            pcm = pcm.astype(np.float32, copy=False)
        return pcm.reshape(len(pcm), -1)

    kept = getattr(cache, "crc", None)  # a cache that keeps each piece's crc16 (DirCache)

    def cached(piece: Piece, pcm: np.ndarray | None) -> tuple[str | None, tuple | None]:
        """The piece's cache key, and its frames and crc16 if the cache holds them."""
        if cache is None:
            return None, None
        name = key(piece) if key is not None else piece_key(
            pcm, piece, channels=channels, bitrate_kbps=bitrate_kbps, ffmpeg=ffmpeg)
        frames = cache.get(name)
        if frames is None or not _usable(frames, piece, channels, bitrate_kbps):
            return name, None
        with lock:
            counts["cached"] += 1
        crc = kept(name) if kept is not None else None
        if crc is None:
            crc = crc16(frames)
            if kept is not None:  # an entry from before crcs were kept
                cache.put_crc(name, crc)
        return name, (frames, crc)

    def work(group: list[Piece]) -> list[tuple[bytes, int]]:
        """Each piece's frames and their crc16, summed here (on every core) unless kept; the
        pieces not cached are encoded together."""
        done: dict[int, tuple[bytes, int]] = {}
        todo = []
        for piece in group:
            pcm = None if key is not None and cache is not None else load(piece)
            name, hit = cached(piece, pcm)
            if hit is not None:
                done[piece.index] = hit
            else:
                todo.append((load(piece) if pcm is None else pcm, piece, name))
        if todo:
            made = encoder(todo) if encoder is not None else [
                own_frames(piece, *encoded) for (_, piece, _), encoded in zip(todo, encode_together(
                    [(pcm, piece) for pcm, piece, _ in todo], channels=channels,
                    bitrate_kbps=bitrate_kbps, ffmpeg=ffmpeg))]
            for (_, piece, name), frames in zip(todo, made):
                crc = crc16(frames)
                if cache is not None:
                    cache.put(name, frames)
                    if kept is not None:
                        cache.put_crc(name, crc)
                done[piece.index] = (frames, crc)
            with lock:
                counts["encoded"] += len(todo)
        return [done[piece.index] for piece in group]

    window: deque[Future[tuple[bytes, int]]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mp3-piece",
                            initializer=_one_core_each(workers)) as pool:
        shared: dict[int, Future] = {}
        try:
            small = [p for p in pieces if p.frames <= SHARED_FRAMES]
            shared = _shares(pool.submit(work, small), small) if len(small) > 1 else {}
            for piece in pieces:
                window.append(shared.pop(piece.index, None) or
                              pool.submit(lambda p: work([p])[0], piece))
                while True:  # join what is done in order; wait while too much is in hand
                    while window and window[0].done():
                        joiner.add(*window.popleft().result())
                    waiting = [f for f in window if not f.done()]
                    if len(waiting) < 2 * workers and len(window) < AHEAD * workers:
                        break
                    wait(waiting, return_when=FIRST_COMPLETED)
            while window:
                joiner.add(*window.popleft().result())
        except BaseException:
            for future in [*window, *shared.values()]:
                future.cancel()
            raise
    return EncodeReport(joiner.finish(), len(pieces), counts["encoded"], counts["cached"])


SHARED_FRAMES = 16  # a piece this short (a span's edges) shares its ffmpeg with the others


def _shares(group: Future, pieces: list[Piece]) -> dict[int, Future]:
    """A future for each piece of a group's: its part of the group's result, when it comes."""
    parts: dict[int, Future] = {p.index: Future() for p in pieces}

    def settle(done: Future) -> None:
        for k, piece in enumerate(pieces):
            part = parts[piece.index]
            if part.done():  # cancelled: the encode failed elsewhere
                continue
            if done.cancelled():
                part.cancel()
            elif done.exception() is not None:
                part.set_exception(done.exception())
            else:
                part.set_result(done.result()[k])

    group.add_done_callback(settle)
    return dict(parts)


def _one_core_each(workers: int) -> Callable[[], None]:
    """A thread initializer that keeps each worker, and the ffmpeg it starts (a child inherits
    its thread's mask), on a core of its own. ffmpeg hands every frame from thread to thread
    (demux, decode, filter, encode, mux); on one core those hand-offs are plain switches,
    across cores each is an inter-processor wake-up: two encodes side by side take 10% less
    time pinned. Nothing is pinned where there are fewer cores than workers, or no affinity."""
    try:
        cores = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return lambda: None
    if workers < 2 or workers > len(cores):
        return lambda: None
    free = deque(cores[:workers])
    lock = threading.Lock()

    def pin() -> None:
        with lock:
            core = free.popleft() if free else None
        if core is not None:
            try:
                os.sched_setaffinity(0, {core})  # 0: this thread, on Linux
            except OSError:
                pass
    return pin


def _usable(frames: bytes, piece: Piece, channels: int, bitrate_kbps: int) -> bool:
    try:
        return len(_offsets(frames, piece.rate, channels, bitrate_kbps, "cached")) == piece.frames
    except EncoderError:
        return False


def encode_file(path: str | os.PathLike[str], read: Reader, total_samples: int, *, rate: int,
                channels: int, bitrate_kbps: int = 128,
                before_commit: Callable[[str], None] | None = None,
                **options) -> EncodeReport:
    """encode_parallel into a hidden file beside `path`, then before_commit(temp_path) (to tag
    it, as with Mp3Writer) and one rename into place; on any failure `path` is untouched and
    nothing is left behind. `options` are encode_parallel's."""
    path = os.fspath(path)
    try:
        temp = _hidden_sibling(path)
    except OSError as e:
        raise EncoderError(f"cannot write {path}: {e.strerror}; "
                           "check that its folder exists and is writable") from None
    try:
        with open(temp, "wb") as out:
            report = encode_parallel(read, total_samples, out, rate=rate, channels=channels,
                                     bitrate_kbps=bitrate_kbps, **options)
        if before_commit is not None:
            before_commit(temp)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    return report
