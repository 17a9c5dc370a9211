"""Mastered spans into one MP3, piece by piece: encoded on every core, each piece cached by what
made its audio, and measured once, decoded, when it is encoded.

Spans last whole MP3 frames (pipeline.build.plan), so each span is cut into pieces of its own
(pipeline.audio.mp3frames): a short first and last piece of EDGE_FRAMES frames and the middle
in pieces of up to a minute. A piece's key is the master keys of the spans its samples (with
their context frames) come from, and where in them: so an edit to one act changes that act's
pieces and the neighbours' edge pieces only. Those edge pieces are encoded again from the
mastered edges every span keeps beside its entry (EDGE samples each end, .npy): an unchanged
neighbour is never mixed again.

Each newly encoded piece is decoded with its own context frames (what a player hears there),
and its K-weighted energy and 4x-oversampled peak are kept per 1152 samples beside its frames.
The whole file's figures (BS.1770 integrated, true peak, LRA) and each segment's then follow from
the pieces', without decoding a 30-minute MP3 on every build (tested against ffmpeg's ebur128).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from pipeline.audio import loudness, measure, mp3frames
from pipeline.audio.measure import Loudness, Measured
from pipeline.audio.mp3frames import pcm16
from pipeline.errors import EncoderError
from pipeline.files import save_json

EDGE_FRAMES = 2  # a span's first and last pieces, in frames: encodable from its edges alone
_DELAY = mp3frames.ENCODER_DELAY + mp3frames.DECODER_DELAY  # decoded[j + _DELAY] ~ input[j]
_SLICE = 64  # frames measured at a time (1.7 s): what they take stays in the core's cache


def edge_samples(rate: int) -> int:
    """Samples kept at each end of a mastered span: its edge piece and the context frames."""
    return (EDGE_FRAMES + mp3frames.Piece(0, 0, 1, 1, rate).context_frames) * \
        mp3frames.samples_per_frame(rate)


@dataclass(frozen=True)
class SpanAudio:
    """One mastered span as the encoder reads it."""

    key: str  # the master key: equal keys, equal mastered samples
    start: int  # first sample in the episode
    frames: int  # samples
    head: Path  # .npy: the first edge_samples() mastered samples
    tail: Path  # .npy: the last ones
    audio: Path | None = None  # the whole span as PCM (pcm16), when mastered in this build

    @property
    def end(self) -> int:
        return self.start + self.frames

    def has(self, a: int, b: int, edge: int) -> bool:
        """Whether samples [a, b) of the span (its own positions) can be read now."""
        return self.audio is not None or b <= min(edge, self.frames) or \
            a >= self.frames - min(edge, self.frames)


def cuts(spans: Sequence[SpanAudio], rate: int) -> list[int]:
    """Where pieces are cut: each span's start, and EDGE_FRAMES in from each of its ends."""
    spf = mp3frames.samples_per_frame(rate)
    out: set[int] = set()
    for s in spans:
        out.add(s.start)
        if s.frames > 2 * EDGE_FRAMES * spf:
            out.update((s.start + EDGE_FRAMES * spf, s.end - EDGE_FRAMES * spf))
    return sorted(out)


def plan(spans: Sequence[SpanAudio], rate: int, piece_seconds: float
         ) -> list[mp3frames.Piece]:
    return mp3frames.plan_pieces(spans[-1].end, cuts(spans, rate), rate=rate,
                                 piece_seconds=piece_seconds)


def overlaps(piece: mp3frames.Piece, spans: Sequence[SpanAudio]
             ) -> list[tuple[SpanAudio, int, int]]:
    """The spans the piece's read span (context included) covers, and what of each, in the
    span's own positions."""
    return [(s, max(piece.read_start, s.start) - s.start, min(piece.read_end, s.end) - s.start)
            for s in spans if s.start < piece.read_end and s.end > piece.read_start]


class Digests:
    """What a piece reads of a span, as a hash of those 16-bit samples, so a piece is keyed by
    what it encodes: one whose samples did not change is found in the cache whatever else in
    its span changed (an edit late in an act keeps the act's earlier pieces). A digest is of
    the samples span_samples() finds (the span's audio in the build that mastered it, or its
    edges), else from the index saved then: a span not mastered again is not read."""

    def __init__(self, channels: int, edge: int, index: Callable[[str], Path]):
        self._channels, self._edge, self._index = channels, edge, index
        self._known: dict[str, dict[str, str]] = {}

    def indexed(self, key: str) -> bool:
        return self._table(key) is not None

    def __call__(self, span: SpanAudio, a: int, b: int) -> str | None:
        known = self._known.get(span.key, {}).get(f"{a}:{b}")  # saved in this build
        if known is not None:
            return known
        x = span_samples(span, a, b, self._channels, self._edge)
        if x is not None:
            return _digest(np.ascontiguousarray(x).data)
        return (self._table(span.key) or {}).get(f"{a}:{b}")

    def save(self, span: SpanAudio, pieces: Sequence[mp3frames.Piece]) -> None:
        """The index of a span mastered in this build: every range of it the pieces read that
        its edges do not hold."""
        edge = min(self._edge, span.frames)
        table = {f"{a}:{b}": self(span, a, b) for piece in pieces
                 for s, a, b in overlaps(piece, [span])
                 if not (b <= edge or a >= span.frames - edge)}
        save_json(self._index(span.key), table)
        self._known[span.key] = table

    def _table(self, key: str) -> dict[str, str] | None:
        if key not in self._known:
            try:
                table = json.loads(self._index(key).read_text())
            except (OSError, ValueError):
                return None
            if not isinstance(table, dict):
                return None
            self._known[key] = table
        return self._known[key]


def _digest(data) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def piece_key(piece: mp3frames.Piece, spans: Sequence[SpanAudio], fmt: tuple,
              ffmpeg: str, digests: Digests) -> str | None:
    """What the piece's frames depend on: the samples its read span covers (their digests),
    its place among its frames, the format and the encoder; None while a span it reads has
    no digest yet (it is to be mastered)."""
    parts = [digests(s, a, b) for s, a, b in overlaps(piece, spans)]
    if None in parts:
        return None
    stamp = mp3frames._binary_stamp(ffmpeg)
    text = repr(("podforge-piece-3", parts, piece.lead_frames, piece.frames, piece.last,
                 piece.context_frames, fmt, stamp))
    return _digest(text.encode())


def missing_audio(pieces: Sequence[mp3frames.Piece], keys: Sequence[str | None],
                  spans: Sequence[SpanAudio], cache: PieceCache, edge: int) -> set[int]:
    """Indices of the spans that must be mastered (mixed) again: a piece to encode (or one
    not known yet) reads samples of theirs that no edge holds."""
    need: set[int] = set()
    for piece, key in zip(pieces, keys):
        if key is not None and cache.has(key):
            continue
        need.update(i for i, s in enumerate(spans) if any(
            not s.has(a, b, edge) for _, a, b in overlaps(piece, [s])))
    return need


def span_samples(span: SpanAudio, a: int, b: int, channels: int, edge: int
                 ) -> np.ndarray | None:
    """Samples [a, b) of a mastered span as 16-bit PCM (frames, channels): from its audio when
    this build mastered it, else from its edges where they hold them (the same numbers); None
    where neither does, or an edge is missing or damaged."""
    if span.audio is not None:
        with open(span.audio, "rb") as f:
            f.seek(a * 2 * channels)
            return np.fromfile(f, "<i2", (b - a) * channels).reshape(-1, channels)
    edge = min(edge, span.frames)
    if not (b <= edge or a >= span.frames - edge):
        return None
    lead = span.frames - edge
    try:
        x = np.load(span.head)[a:b] if b <= edge else np.load(span.tail)[a - lead:b - lead]
    except (OSError, ValueError, EOFError):
        return None
    return pcm16(x)


def reader(spans: Sequence[SpanAudio], channels: int, edge: int):
    """read(start, stop) over the episode, as 16-bit PCM (what the encoder takes): from the
    spans' mastered audio or their edges."""
    def read(start: int, stop: int) -> np.ndarray:
        parts = []
        for s in spans:
            a, b = max(start, s.start) - s.start, min(stop, s.end) - s.start
            if a >= b:
                continue
            x = span_samples(s, a, b, channels, edge)
            if x is None or len(x) != b - a:
                raise EncoderError(f"span {s.key}: its mastered audio is short or missing; run "
                                   "`podforge build --force`")
            parts.append(x)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]
    return read


class PieceCache(mp3frames.DirCache):
    """Encoded pieces and their measurements; a hit needs both, and is touched (LRU)."""

    def measures_path(self, key: str) -> str:
        return os.path.join(self.folder, f"{key}.m.npy")

    def has(self, key: str) -> bool:
        try:
            return os.path.isfile(self._path(key)) and self.measures(key).shape[0] == 2
        except (OSError, ValueError, EOFError):  # missing or damaged: encoded again
            return False

    def get(self, key: str) -> bytes | None:
        if not self.has(key):
            return None
        frames = super().get(key)
        if frames is not None:
            for path in (self._path(key), self.measures_path(key)):
                try:
                    os.utime(path)
                except FileNotFoundError:  # pruned by another build: encoded again next time
                    pass
        return frames

    def measures(self, key: str) -> np.ndarray:
        return np.load(self.measures_path(key))

    def save_measures(self, key: str, data: np.ndarray) -> None:
        os.makedirs(self.folder, exist_ok=True)
        tmp = f"{self.measures_path(key)}.tmp{os.getpid()}.{id(data)}"
        try:
            with open(tmp, "wb") as f:
                np.save(f, data)
            os.replace(tmp, self.measures_path(key))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def measuring_encoder(cache: PieceCache, rate: int, channels: int, bitrate: int, ffmpeg: str):
    """An encoder for mp3frames.encode_parallel that also measures each piece as decoded."""
    spf = mp3frames.samples_per_frame(rate)

    def encode(jobs: list[tuple[np.ndarray, mp3frames.Piece, str | None]]) -> list[bytes]:
        made = mp3frames.encode_together([(pcm, piece) for pcm, piece, _ in jobs],
                                         channels=channels, bitrate_kbps=bitrate, ffmpeg=ffmpeg)
        own = []
        for (_, piece, key), (data, offsets) in zip(jobs, made):
            if key is not None:
                cache.save_measures(key, piece_measures(data, piece, rate, channels, ffmpeg,
                                                        spf))
            own.append(mp3frames.own_frames(piece, data, offsets))
        return own

    return encode


def piece_measures(data: bytes, piece: mp3frames.Piece, rate: int, channels: int, ffmpeg: str,
                   spf: int) -> np.ndarray:
    """(2, chunks): K-weighted energy and oversampled peak of the piece's own samples per spf,
    decoded from all its frames (context included). Both are read a slice at a time, the
    slice still in the cache for the second (a tenth faster than pass after pass).

    Only the peaks that matter are oversampled: a ninth of a chunk whose samples (and those
    within the oversampler's reach) bound every oversampled point below the highest peak found
    so far in the piece keeps its sample peak, below both (measure.oversampler_bound). The
    piece's highest peak, and so every span's, is exact: a piece starts where a span does,
    its first chunk is always oversampled, and its last too (it may hold the next span's
    first samples)."""
    y = _decoded(data, piece, rate, channels, ffmpeg)
    a = piece.start - piece.read_start + _DELAY
    b = a + (piece.end - piece.start)
    if len(y) < b:
        y = np.concatenate([y, np.zeros((b - len(y), channels), np.float32)])
    meter = loudness.LoudnessMeter(rate, channels)
    meter.power(y[:a])  # the filters settle on the context, as they do in the whole file
    gain, reach = measure.oversampler_bound(rate)
    ninths = _PARTS if spf % _PARTS == 0 else 1  # parts a chunk: the unit the choice is made in
    part = spf // ninths
    sample_peaks = _run_peaks(y[a:b], part)
    near = sample_peaks.copy()  # the largest |sample| within reach of each part
    for k in range(1, -(-reach // part) + 1):
        np.maximum(near[k:], sample_peaks[:-k], out=near[k:])
        np.maximum(near[:-k], sample_peaks[k:], out=near[:-k])
    bound = gain * near
    last = (-(-(b - a) // spf) - 1) * ninths  # the first part of the piece's last chunk
    energies, peaks, found = [], [], 0.0
    for c0 in range(a, b, _SLICE * spf):
        c1 = min(b, c0 + _SLICE * spf)
        power = meter.power(y[c0:c1])  # the filters' state runs on from slice to slice
        whole = len(power) // spf * spf
        energy = power[:whole].reshape(-1, spf).sum(axis=1).astype(np.float64)  # pairwise
        if whole < len(power):
            energy = np.append(energy, power[whole:].sum(dtype=np.float64))
        energies.append(energy)
        p0, p1 = (c0 - a) // part, -(-(c1 - a) // part)
        level = sample_peaks[p0:p1].copy()
        need = bound[p0:p1] > found
        if c0 == a:
            need[:ninths] = True
        if c1 == b:
            need[last - p0:] = True
        if need.any():
            level[need] = _oversampled_peaks(y, a + p0 * part, b, np.flatnonzero(need), part,
                                             rate, channels, reach)
        chunk = np.maximum.reduceat(level, np.arange(0, len(level), ninths))
        found = max(found, float(chunk.max()))
        peaks.append(chunk)
    if not energies:
        return np.zeros((2, 0))
    return np.stack([np.concatenate(energies), np.concatenate(peaks).astype(np.float64)])


_PARTS = 9  # a frame's samples (1152 or 576) in ninths: a peak's oversampling is chosen per ninth


def _run_peaks(x: np.ndarray, size: int) -> np.ndarray:
    """max |sample| of each run of `size` frames of x (the last may be shorter), every channel."""
    flat = x.reshape(-1)
    step = size * x.shape[1]
    whole = len(flat) // step * step
    runs = flat[:whole].reshape(-1, step)
    out = np.maximum(runs.max(axis=1, initial=0.0), -runs.min(axis=1, initial=0.0))
    if whole < len(flat):
        rest = flat[whole:]
        out = np.append(out, max(rest.max(), -rest.min()))
    return out.astype(np.float32)


def _oversampled_peaks(y: np.ndarray, first: int, end: int, runs: np.ndarray, size: int,
                       rate: int, channels: int, margin: int) -> np.ndarray:
    """The oversampled peak of each listed run of `size` frames (indices from frame `first`,
    none past `end`): consecutive runs together, each group with `margin` samples either side
    (the oversampler's reach), all oversampled in one call, so their points are those of the
    whole signal (the margins' own points, which the joins disturb, are not read)."""
    f = measure.OVERSAMPLING
    breaks = np.flatnonzero(np.diff(runs) > 1) + 1
    parts, places = [], []
    at = 0
    for group in np.split(runs, breaks):
        lo, hi = first + group[0] * size, min(end, first + (group[-1] + 1) * size)
        left, right = max(0, lo - margin), min(len(y), hi + margin)
        parts.append(y[left:right])
        places.append((at + lo - left, hi - lo))
        at += right - left
    fast = soxr.resample(np.ascontiguousarray(np.concatenate(parts)), rate, rate * f,
                         quality=measure.OVERSAMPLER_QUALITY)
    return np.concatenate([_run_peaks(fast[at * f:(at + n) * f].reshape(-1, channels), size * f)
                           for at, n in places])


def round_trip(pcm: np.ndarray, rate: int, channels: int, bitrate: int, ffmpeg: str
               ) -> np.ndarray:
    """16-bit audio through the pieces' encoder and a player's decoder, in place: what a
    listener hears of it."""
    n = len(pcm)
    piece = mp3frames.Piece(0, 0, n, n, rate)
    data, _ = mp3frames.encode_with_context(pcm, piece, channels=channels,
                                            bitrate_kbps=bitrate, ffmpeg=ffmpeg)
    y = _decoded(data, piece, rate, channels, ffmpeg)[_DELAY:_DELAY + n]
    return np.concatenate([y, np.zeros((n - len(y), channels), np.float32)]) if len(y) < n else y


def _decoded(data: bytes, piece: mp3frames.Piece, rate: int, channels: int, ffmpeg: str
             ) -> np.ndarray:
    """A piece's frames as a player decodes them: in this process by libsndfile's mpg123 where
    the wheel has it (a third of ffmpeg's cost, with no pipe; the two agree within 2e-6 and
    sample for sample), else by ffmpeg."""
    if _MPG123:
        try:
            y, own = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError) as e:
            raise EncoderError(f"cannot decode piece {piece.index} it encoded: {e}") from None
        if (own, y.shape[1]) == (rate, channels):
            return y
    done = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "mp3",
                           "-i", "pipe:0", "-f", "f32le", "-ac", str(channels), "-ar", str(rate),
                           "pipe:1"], input=data, capture_output=True)
    if done.returncode != 0:
        raise EncoderError(f"ffmpeg cannot decode piece {piece.index} it encoded: "
                           f"{done.stderr.decode(errors='replace').strip()[-200:]}")
    return np.frombuffer(done.stdout, "<f4").reshape(-1, channels)


_MPG123 = "MP3" in soundfile.available_formats()


def figures(energy: np.ndarray, peaks: np.ndarray, samples: int, rate: int, spf: int
            ) -> Loudness:
    """BS.1770 figures of a run of samples from its per-spf energies and peaks: the 100 ms
    steps are read off the cumulative energy (linear within a chunk)."""
    positions = np.minimum(np.arange(len(energy) + 1) * spf, samples)
    total = np.concatenate([[0.0], np.cumsum(energy)])
    step = rate // 10
    edges = np.arange(samples // step + 1) * step
    steps = np.diff(np.interp(edges, positions, total))
    return measure.figures(steps, peaks, rate)


def measured(keys: Sequence[str], cache: PieceCache, spans: Sequence[SpanAudio], rate: int,
             channels: int, ranges: Sequence[tuple[int, int]] | None = None) -> Measured:
    """The joined file's figures, whole and per span (or per range of samples [a, b) given:
    a segment's scenes), from its pieces' measurements."""
    spf = mp3frames.samples_per_frame(rate)
    data = np.concatenate([cache.measures(k) for k in keys], axis=1)
    total = spans[-1].end
    energy, peaks = data[0], data[1]
    whole = figures(energy, peaks, total, rate, spf)
    ranges = [(s.start, s.end) for s in spans] if ranges is None else ranges
    segments = tuple(figures(energy[a // spf:-(-b // spf)], peaks[a // spf:-(-b // spf)], b - a,
                             rate, spf) for a, b in ranges)
    return Measured(whole, segments, total / rate, rate, channels)
