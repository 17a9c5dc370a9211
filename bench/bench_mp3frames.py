"""Segment-wise MP3 against ffmpeg alone, in the same run, on synthetic music-like audio.

    .venv/bin/python bench/bench_mp3frames.py [--minutes 30] [--workers 2] [--piece-seconds 60]

(a) ffmpeg's own whole-file encode of a 16-bit WAV (pipeline.audio.encode.encode_wav: the reference);
(b) pipeline.audio.mp3frames.encode_parallel of the same WAV, read piece by piece, on --workers cores,
    into an empty frame cache;
(c) the same after one piece's audio changed: that piece re-encoded, the rest from the cache,
    everything joined again (every piece is read and hashed to find its cache key);
(d) as (c), with keys the caller derives from what made the audio (as a build would from its
    span keys), so cached pieces are not even read.
Prints the times and b/a (target < 1: faster than ffmpeg alone), c/a and d/a (target: a small
fraction), and checks that every output decodes to the WAV's length.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.audio import mp3frames  # noqa: E402
from pipeline.audio.encode import encode_wav, find_ffmpeg  # noqa: E402

RATE, CHANNELS = 44100, 2
BLOCK = RATE * 20  # seconds generated at a time: the WAV is written without holding it all


def music_block(index: int, n: int) -> np.ndarray:
    """20 s of chords with harmonics, a swell, quiet noise and clicks, different per block."""
    rng = np.random.default_rng(index)
    t = (np.arange(n) + index * BLOCK) / RATE
    roots = (220.0, 196.0, 174.6, 246.9)
    root = roots[index % len(roots)]
    x = np.zeros(n)
    for ratio in (1.0, 1.26, 1.5):
        for h, a in ((1, 0.07), (2, 0.025), (3, 0.012)):
            x += a * np.sin(2 * np.pi * root * ratio * h * t)
    x *= 0.7 + 0.3 * np.sin(2 * np.pi * 0.4 * t)
    x += 0.004 * rng.standard_normal(n)
    clicks = np.zeros(n)
    clicks[rng.integers(0, n, 40)] = 0.5
    x += np.convolve(clicks, np.exp(-np.arange(400) / 60) * rng.standard_normal(400))[:n]
    right = 0.8 * np.roll(x, 41) + 0.003 * rng.standard_normal(n)
    return np.stack([x, right], 1).astype(np.float32)


def write_wav(path: Path, samples: int) -> None:
    with sf.SoundFile(path, "w", RATE, CHANNELS, "PCM_16") as wav:
        for index, start in enumerate(range(0, samples, BLOCK)):
            wav.write(music_block(index, min(BLOCK, samples - start)))


def wav_reader(path: Path, change: tuple[int, int] | None = None):
    """read(start, stop) from the WAV; `change` halves the level of that span (the edit)."""
    wav = sf.SoundFile(path)
    lock = threading.Lock()

    def read(start: int, stop: int) -> np.ndarray:
        with lock:
            wav.seek(start)
            block = wav.read(stop - start, dtype="float32", always_2d=True)
        if change is not None:
            a, b = max(change[0], start), min(change[1], stop)
            if a < b:
                block[a - start:b - start] *= 0.5
        return block

    return read, wav


def decoded_samples(ffmpeg: str, path: Path) -> int:
    out = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i",
                          str(path), "-f", "s16le", "-ac", "1", "-"], capture_output=True,
                         check=True).stdout
    return len(out) // 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--piece-seconds", type=float, default=mp3frames.PIECE_SECONDS)
    args = parser.parse_args()
    ffmpeg = find_ffmpeg()
    samples = int(args.minutes * 60 * RATE)
    with tempfile.TemporaryDirectory(prefix="bench-mp3frames-") as folder:
        folder = Path(folder)
        wav = folder / "episode.wav"
        write_wav(wav, samples)

        began = time.perf_counter()
        encode_wav(wav, folder / "bare.mp3", RATE, CHANNELS, 128, ffmpeg=ffmpeg)
        bare = time.perf_counter() - began

        cache = mp3frames.DirCache(folder / "cache")

        def segmentwise(name: str, change=None, key=None):
            read, handle = wav_reader(wav, change)
            began = time.perf_counter()
            with open(folder / name, "wb") as out:
                report = mp3frames.encode_parallel(
                    read, samples, out, rate=RATE, channels=CHANNELS, bitrate_kbps=128,
                    piece_seconds=args.piece_seconds, cache=cache, key=key,
                    workers=args.workers, ffmpeg=ffmpeg)
            took = time.perf_counter() - began
            handle.close()
            return took, report

        full, first = segmentwise("pieces.mp3")
        pieces = mp3frames.plan_pieces(samples, rate=RATE, piece_seconds=args.piece_seconds)
        edited = pieces[len(pieces) // 2]
        change = (edited.start + RATE, edited.start + 3 * RATE)
        again, second = segmentwise("edited.mp3", change)

        def key(piece, version):
            touched = piece.read_start < change[1] and change[0] < piece.read_end
            return f"{piece.read_start}-{piece.read_end}-{version if touched else 'v0'}"

        segmentwise("keyed.mp3", key=lambda p: key(p, "v0"))  # fills the cache: not measured
        keyed, third = segmentwise("keyed-edit.mp3", change, lambda p: key(p, "v1"))

        for name in ("bare.mp3", "pieces.mp3", "edited.mp3", "keyed-edit.mp3"):
            print(f"{name}: {decoded_samples(ffmpeg, folder / name)} samples decoded "
                  f"(input {samples})")
        print(f"audio: {args.minutes:g} min stereo {RATE} Hz, 128 kbps; "
              f"{first.pieces} pieces of <= {args.piece_seconds:g} s on {args.workers} workers")
        print(f"(a) ffmpeg whole-file encode     {bare:7.2f} s")
        print(f"(b) segment-wise, cold cache     {full:7.2f} s  "
              f"({first.encoded} encoded, {first.cached} cached)")
        print(f"(c) after one piece changed      {again:7.2f} s  "
              f"({second.encoded} encoded, {second.cached} cached)")
        print(f"(d) as (c), the caller's keys    {keyed:7.2f} s  "
              f"({third.encoded} encoded, {third.cached} cached)")
        print(f"b/a = {full / bare:.2f}   c/a = {again / bare:.3f}   d/a = {keyed / bare:.3f}")


if __name__ == "__main__":
    main()
