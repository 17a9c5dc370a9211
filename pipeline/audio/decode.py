"""Reading audio: every way a file can fail becomes an AudioError naming the file.

Files are read through libsndfile (soundfile) and resampled with soxr, in blocks with bounded
memory, so a bad take stops a build with a sentence instead of a traceback. Every array is float32
shaped (frames, channels) unless a function says otherwise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from pipeline.audio.peak import SILENT_DBFS, db as _db
from pipeline.errors import AudioError

StrPath = str | os.PathLike[str]

THIN_RATE = 22_050  # below this a voice loses the consonants that make it intelligible
_QUALITY = "HQ"  # soxr's 20-bit quality: transparent, and several times faster than VHQ
_FULL_SCALE = 0.9999  # |sample| at or above this is the converter's limit
_READ_FRAMES = 1 << 16


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str  # container, e.g. "WAV", "FLAC", "OGG"
    subtype: str  # sample encoding, e.g. "PCM_24", "VORBIS"

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


# ---------------------------------------------------------------------------------------------
# Reading


def probe(path: StrPath) -> AudioInfo:
    """What a file holds, or an AudioError saying why it cannot be used and what to do."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise AudioError(f"{name}: not found; check the path")
    if not os.path.isfile(name):
        raise AudioError(f"{name}: is not a file; point to an audio file")
    if os.path.getsize(name) == 0:
        raise AudioError(f"{name}: is empty (0 bytes); re-export it as WAV or FLAC")
    try:
        info = sf.info(name)
    except (sf.SoundFileError, RuntimeError) as e:
        why = getattr(e, "error_string", None) or str(e)
        raise AudioError(f"{name}: is not audio that can be read ({why}); "
                         "re-export it as WAV or FLAC") from None
    found = AudioInfo(name, int(info.samplerate), int(info.channels), int(info.frames),
                      info.format, info.subtype)
    if (missing := _missing_part(info.extra_info, found)) is not None:
        raise AudioError(f"{name}: is truncated ({missing}); copy it again or re-export it")
    if found.frames <= 0:
        raise AudioError(f"{name}: holds no audio (0 frames); re-export it")
    return found


def _missing_part(log: str, info: AudioInfo) -> str | None:
    """What the header promises that the file lacks (a copy or export cut short), from
    libsndfile's parse log."""
    # libsndfile logs a WAV data (AIFF SSND) chunk longer than the file as "data : N (should be M)".
    if m := re.search(r"^\s*(?:data|SSND)\s*:\s*(\d+) \(should be (\d+)\)", log, re.M):
        declared, present = int(m.group(1)), int(m.group(2))
        # Streaming writers (ffmpeg into a pipe) leave 0 or 0xFFFFFFFF: unknown length, not cut.
        if 0 < present < declared < 0xFFFF_FF00:
            promised = info.frames * declared / present
            return f"holds {_clock(info.frames, info)} of {_clock(promised, info)}"
    if "lacks an end-of-stream" in log:  # Ogg: the last page was never written
        return f"it stops at {_clock(info.frames, info)} without an end"
    return None


def _clock(frames: float, info: AudioInfo) -> str:
    return f"{frames / info.sample_rate:.2f} s"


def _decoded(info: AudioInfo, frames: int = _READ_FRAMES) -> Iterator[np.ndarray]:
    """The file's own samples, block by block; a short read or a decoder error is an AudioError."""
    got = 0
    try:
        with sf.SoundFile(info.path) as f:
            while len(block := f.read(frames, dtype="float32", always_2d=True)):
                got += len(block)
                yield block
    except (sf.SoundFileError, RuntimeError) as e:
        why = getattr(e, "error_string", None) or str(e)
        raise AudioError(f"{info.path}: cannot be decoded after {_clock(got, info)} ({why}); "
                         "it is truncated or corrupt: copy it again or re-export it") from None
    if got < info.frames:
        raise AudioError(f"{info.path}: is truncated (holds {_clock(got, info)} of "
                         f"{_clock(info.frames, info)}); copy it again or re-export it")


def read_audio(path: StrPath, rate: int, channels: int) -> np.ndarray:
    """The whole file at `rate` Hz and `channels` channels."""
    info = probe(path)
    data = np.concatenate(list(_decoded(info, max(info.frames, 1))))
    data = _remix(data, channels) if channels < info.channels else data
    if info.sample_rate != rate:
        data = soxr.resample(data, info.sample_rate, rate, quality=_QUALITY)
    return np.ascontiguousarray(_remix(data, channels), dtype=np.float32)


def read_blocks(path: StrPath, rate: int, channels: int,
                block_frames: int = _READ_FRAMES) -> Iterator[np.ndarray]:
    """read_audio in blocks of exactly block_frames (the last may be shorter), in bounded memory.

    The file is probed now, so a broken one fails here rather than at the first block.
    """
    info = probe(path)
    mixed = min(channels, info.channels)  # downmix before resampling, upmix after: less work
    stream = None if info.sample_rate == rate else soxr.ResampleStream(
        info.sample_rate, rate, mixed, dtype="float32", quality=_QUALITY)

    def converted() -> Iterator[np.ndarray]:
        for block in _decoded(info):
            block = _remix(block, mixed)
            yield block if stream is None else stream.resample_chunk(block)
        if stream is not None:
            yield stream.resample_chunk(np.zeros((0, mixed), np.float32), last=True)

    return (_remix(block, channels) for block in _rechunk(converted(), block_frames))


def _rechunk(blocks: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    held: list[np.ndarray] = []
    count = 0
    for block in blocks:
        held.append(block)
        count += len(block)
        if count >= n:
            joined = np.concatenate(held)
            whole = count - count % n
            yield from (joined[i:i + n] for i in range(0, whole, n))
            held, count = [joined[whole:]], count - whole
    if count:
        yield np.concatenate(held)


def _remix(x: np.ndarray, channels: int) -> np.ndarray:
    have = x.shape[1]
    if have == channels:
        return x
    if channels == 1:
        return x.mean(axis=1, keepdims=True)
    if channels == 2:
        if have == 1:
            return np.repeat(x, 2, axis=1)
        # WAV and FLAC put front left and right first; the rest (centre, surrounds) go to both.
        return x[:, :2] + np.float32(0.7071) * x[:, 2:].mean(axis=1, keepdims=True)
    raise ValueError(f"channels must be 1 or 2, not {channels}")


def check_take(path: StrPath, rate: int) -> list[str]:
    """Warnings about a usable take; an AudioError if it is unusable (broken or silent)."""
    info = probe(path)
    peak, clipped = 0.0, 0
    for block in _decoded(info):
        p, c = _levels(block)
        peak, clipped = max(peak, p), clipped + c
    return _verdict(info.path, info.sample_rate, rate, peak, clipped)


def check_samples(name: str, samples: np.ndarray, sample_rate: int, rate: int) -> list[str]:
    """check_take for a take already decoded (a phone format read through ffmpeg), at its own
    `sample_rate`: the same warnings, and an AudioError if it is silent."""
    return _verdict(name, sample_rate, rate, *_levels(np.asarray(samples).reshape(len(samples), -1)))


def _levels(block: np.ndarray) -> tuple[float, int]:
    if not len(block):
        return 0.0, 0
    level = np.abs(block).max(axis=1)
    full = level >= _FULL_SCALE
    return float(level.max()), int(np.count_nonzero(full[1:] & full[:-1]))  # flat tops only


def _verdict(name: str, sample_rate: int, rate: int, peak: float, clipped: int) -> list[str]:
    peak_db = _db(peak)
    if peak_db < SILENT_DBFS:
        raise AudioError(f"{name}: is silent (peak {peak_db:.1f} dBFS); "
                         "re-record or remove it")
    warnings = []
    if sample_rate < THIN_RATE:
        warnings.append(f"{name}: {sample_rate} Hz is below {THIN_RATE} Hz; "
                        f"it will sound thin (re-record at {rate} Hz if you can)")
    if clipped:
        warnings.append(f"{name}: {clipped} samples are clipped at full scale; "
                        "re-record with less input gain if you can")
    return warnings


