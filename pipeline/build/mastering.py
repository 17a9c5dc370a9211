"""Mastering per span: each span gained and limited on its own, so the whole lands on target.

The segment-wise encoder encodes each span as its own run of MP3 frames (in parallel, cached),
so a span's master cannot wait for the episode's integrated loudness: its gain is decided from
what the span itself holds (its mix's loudness steps and its levelled voice's loudness), and its
true-peak limiter runs alone. With every span on the target, the whole is on the target too.

The encoder moves things: MP3 at 128 kb/s low-passes (loudness drops a few tenths of a LU on
bright material) and its quantisation noise raises true peak (measured on speech over music at
128 kb/s: +0.1 to +1.6 dB, +1.1 dB on average, more after heavy limiting). So the limiters run at
the ceiling minus `encoder_headroom_db`, and the MP3 is then measured as a listener gets it
(pipeline.audio.measure, piece by piece in pipeline.build.segmentwise): when it misses the target
by more than `tolerance_lu` or tops the ceiling, the build corrects the episode's trim (all
spans) or lowers the ceiling of the spans that went over (pipeline.build.episode).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from pipeline.audio import loudness, mp3frames, peak


Blocks = Callable[[], Iterable[np.ndarray]]  # called once per pass; the same frames each time
Reader = Callable[[int, int], np.ndarray]  # read(start, stop): those frames, (n, channels)


@dataclass(frozen=True)
class MasterSettings:
    target_lufs: float = -16.0
    ceiling_dbtp: float = -1.0
    encoder_headroom_db: float = 1.0  # the limiter's ceiling sits this far below the target's
    music_allowance_db: float = 3.0  # how far music may move a span's gain from its voice's
    # A quick limiter: at -14 LUFS under -1 dBTP, speech needs 6 dB or more of peak reduction,
    # and a slow release (60 dB/s) holds the gain down between syllables: the target is then
    # out of reach. 2 ms look-ahead and 500 dB/s reach it on speech (tested) without pumping.
    limiter_lookahead_s: float = 0.002
    limiter_release_db_per_s: float = 500.0
    tolerance_lu: float = 0.2
    peak_margin_db: float = 0.1  # meters disagree by a tenth on a peak: keep that far below
    max_passes: int = 4


@dataclass(frozen=True, eq=False)
class SpanSource:
    """A span's mix before the master: its audio (as a re-readable stream) and what it knows."""

    blocks: Blocks  # (frames, channels) float32
    frames: int
    steps: np.ndarray  # K-weighted 100 ms energies of the mix (render.Rendered.steps)
    voice_lufs: float = -np.inf  # the levelled narration's speech loudness, if known
    read: Reader | None = None  # random access to the same frames: settle() learns on excerpts


@dataclass(frozen=True)
class SpanMaster:
    """One span's master settings: the gain into its limiter, the limiter's ceiling, and the
    loudness the limited span should measure before the encoder."""

    gain_db: float
    ceiling_dbtp: float
    aim_lufs: float
    lookahead_s: float = 0.002
    release_db_per_s: float = 500.0


def span_gain(steps: np.ndarray, rate: int, target_lufs: float, voice_lufs: float = -np.inf,
              music_allowance_db: float = 3.0) -> float:
    """The gain (dB) bringing this span's mix to the target, from the span alone.

    Music may pull the gain at most `music_allowance_db` from what the levelled voice alone
    would get, so a loud theme does not push the voice down (nor a quiet bed push it up).
    """
    mix = loudness.LoudnessMeter.integrated_of(np.asarray(steps, np.float64), rate)
    if not np.isfinite(voice_lufs):
        return float(target_lufs - mix) if np.isfinite(mix) else 0.0
    by_voice = target_lufs - voice_lufs
    if not np.isfinite(mix):
        return float(by_voice)
    return float(np.clip(target_lufs - mix, by_voice - music_allowance_db,
                         by_voice + music_allowance_db))


def first_plan(sources: Sequence[SpanSource], rate: int, settings: MasterSettings
               ) -> list[SpanMaster]:
    """Each span's gain from its own loudness, its limiter below the ceiling by the headroom."""
    ceiling = settings.ceiling_dbtp - settings.encoder_headroom_db
    plans = []
    for source in sources:
        gain = span_gain(source.steps, rate, settings.target_lufs, source.voice_lufs,
                         settings.music_allowance_db)
        mix = loudness.LoudnessMeter.integrated_of(np.asarray(source.steps, np.float64), rate)
        aim = mix + gain if np.isfinite(mix) else settings.target_lufs
        plans.append(SpanMaster(gain, ceiling, float(aim), settings.limiter_lookahead_s,
                                settings.limiter_release_db_per_s))
    return plans


def limited(blocks: Iterable[np.ndarray], channels: int, rate: int, master: SpanMaster
            ) -> Iterable[np.ndarray]:
    """A span through its gain and its own true-peak limiter: as many frames out as in. The
    mix arrives band-limited to what the encoder keeps (pipeline.audio.bandlimit)."""
    gain = np.float32(10 ** (master.gain_db / 20))
    limiter = peak.Limiter(rate, channels, master.ceiling_dbtp, lookahead=master.lookahead_s,
                            release_db_per_s=master.release_db_per_s)
    for block in blocks:
        x = np.asarray(block, np.float32).reshape(len(block), channels) * gain
        if len(out := limiter.process(x)):
            yield out
    yield limiter.flush()


SETTLED_LU = 0.1  # close enough: the measured MP3's correction takes up what is left


def settle(source: SpanSource, rate: int, channels: int, master: SpanMaster,
           runs: int = 5, most_db: float = 18.0) -> SpanMaster:
    """Raise the gain by what the limiter takes away (at most `most_db`), so the span measures
    its aim before the encoder. A span the limiter barely touches costs one run; so does a
    long one whose source can be read at random (what the limiter takes is learned on
    excerpts first, see predict). The build runs the same search a block at a time on every
    core, keeping the run that settles (pipeline.build.episode)."""
    search = Search(predict(source, rate, channels, master, most_db), runs, most_db,
                    start=master.gain_db)
    while True:
        meter = loudness.LoudnessMeter(rate, channels)
        for block in limited(source.blocks(), channels, rate, search.master):
            meter.add(block)
        if search.settled(meter.integrated):
            return search.master


class Search:
    """The search for the gain that lands a limited span on its aim: told what each run
    measured, it says whether that run is the one to keep, else moves the gain. A limiter
    gives back less than a dB per dB of gain, so it steps by the slope seen so far (a
    secant), within most_db of where it started."""

    def __init__(self, master: SpanMaster, runs: int = 5, most_db: float = 18.0, *,
                 start: float | None = None, tolerance: float = SETTLED_LU):
        self.master, self.runs, self.most_db, self.tolerance = master, runs, most_db, tolerance
        self.start = master.gain_db if start is None else start
        self._before: tuple[float, float] | None = None  # (gain, loudness) of the run before
        self._done = 0

    def settled(self, got: float) -> bool:
        self._done += 1
        aim = self.master.aim_lufs
        if not np.isfinite(got) or abs(aim - got) < self.tolerance or self._done >= self.runs:
            return True
        slope = 1.0
        if self._before is not None and self.master.gain_db != self._before[0]:
            slope = float(np.clip((got - self._before[1]) /
                                  (self.master.gain_db - self._before[0]), 0.2, 1.0))
        gain = np.clip(self.master.gain_db + (aim - got) / slope,
                       self.start - self.most_db, self.start + self.most_db)
        self._before = (self.master.gain_db, got)
        self.master = replace(self.master, gain_db=float(gain))
        return False


EXCERPT_MIN_S = 120.0  # shorter spans settle on whole runs: cheap, and too few excerpts
EXCERPT_EVERY_S = 12.0  # one excerpt per this many seconds of the span ...
EXCERPT_STEPS = 10  # ... of this many 100 ms loudness steps (so about 8% of the span)
EXCERPTS_MOST = 120  # no more than this many (a span over 24 minutes is sampled more thinly)
DROP_EXCERPTS = 48  # what the encoder takes away is measured on this many, in all the spans
WARM_S = 0.25  # limiter and filters run in before an excerpt: their memory is shorter


def predict(source: SpanSource, rate: int, channels: int, master: SpanMaster,
            most_db: float = 18.0, tries: int = 3) -> SpanMaster:
    """The gain at which the limited span should measure its aim, found on excerpts.

    The limiter's loss (unlimited minus limited loudness) is measured on a second of every
    twelve, each run in from a quarter second before (the limiter's memory is 50 ms), and the
    span's limited loudness predicted as its mix's loudness plus the gain minus that loss. A
    secant on the prediction finds the gain; settle() then checks it on the whole span. The
    build masters at the prediction and lets the MP3's measurement check it (within a few
    hundredths of a LU on speech over music). A span shorter than EXCERPT_MIN_S, or one that
    cannot be read at random, keeps `master` (see predicts)."""
    found = _excerpts(source, rate)
    if found is None:
        return master
    mix, raw, excerpts = found

    def predicted(trial: SpanMaster) -> float:
        """mix + gain - loss, the loss being raw + gain - the limited excerpts' loudness."""
        steps = [s for _, s in _limited_excerpts(excerpts, channels, rate, trial)]
        return mix - raw + loudness.LoudnessMeter.integrated_of(np.concatenate(steps), rate)

    search = Search(master, tries, most_db, tolerance=SETTLED_LU / 2)
    while not search.settled(predicted(search.master)):
        pass
    return search.master


def drop_shares(frames: Sequence[int], most: int = DROP_EXCERPTS) -> list[int]:
    """How many excerpts each span's encoder drop is measured on: `most` shared by length, one
    at least, so a long episode's first build does not encode more of them than a short one's
    (the drop is a property of the show's sound: 0.44 LU on the bench's episode from 2, 4, 8
    or 16 excerpts a span alike)."""
    total = sum(frames) or 1
    return [max(1, round(most * n / total)) for n in frames]


def encoder_drop(source: SpanSource, rate: int, channels: int, master: SpanMaster,
                 round_trip: Callable[[np.ndarray], np.ndarray], most: int = DROP_EXCERPTS
                 ) -> float | None:
    """How many LU the span's excerpts (at most `most`) lose to the encoder, limited as
    `master` limits them: `round_trip(pcm16)` is the show's encoder and a player's decoder
    (the samples heard, in place). Any span of a few seconds has excerpts enough for this;
    None for one without."""
    found = _excerpts(source, rate, least=1, shortest_s=0.0, most=most)
    if found is None:
        return None
    x = np.concatenate([y for y, _ in _limited_excerpts(found[2], channels, rate, master)])
    pcm = mp3frames.pcm16(x)
    heard = np.asarray(round_trip(pcm), np.float32).reshape(-1, channels)
    before, after = (loudness.LoudnessMeter(rate, channels) for _ in range(2))
    before.add(mp3frames.from_pcm16(pcm))
    after.add(heard)
    return float(before.integrated - after.integrated)


def predicts(source: SpanSource, rate: int) -> bool:
    """Whether predict() learns this span's gain on excerpts (it is long enough, and can be
    read at random), rather than keeping the plan it is given."""
    return _picks(source, rate) is not None


def _picks(source: SpanSource, rate: int, least: int = 10,
           shortest_s: float = EXCERPT_MIN_S, most: int = EXCERPTS_MOST):
    """(the mix's loudness, its excerpts' loudness, [(start, stop)] of each excerpt) of a span
    long enough to learn from (`least` excerpts, `shortest_s` seconds), else None. At most
    `most` excerpts, spread evenly over the span: memory stays flat in the span's length."""
    if source.read is None or source.frames < shortest_s * rate:
        return None
    step = rate // 10
    steps = np.asarray(source.steps, np.float64)
    mix = loudness.LoudnessMeter.integrated_of(steps, rate)
    count = len(steps) // EXCERPT_STEPS
    every = max(1, round(EXCERPT_EVERY_S * 10 / EXCERPT_STEPS))
    picks = [k * EXCERPT_STEPS for k in range(every // 2, count, every)]
    if len(picks) > most:
        picks = [picks[round(i * (len(picks) - 1) / max(1, most - 1))] for i in range(most)]
    if not np.isfinite(mix) or len(picks) < max(1, least):
        return None
    raw = loudness.LoudnessMeter.integrated_of(
        np.concatenate([steps[j:j + EXCERPT_STEPS] for j in picks]), rate)  # before the gain
    if raw == -np.inf:
        return None
    return mix, raw, [(j * step, (j + EXCERPT_STEPS) * step) for j in picks]


def _excerpts(source: SpanSource, rate: int, least: int = 10,
              shortest_s: float = EXCERPT_MIN_S, most: int = EXCERPTS_MOST):
    """_picks, with each excerpt read: [(run-in frames, samples)] in place of the bounds."""
    found = _picks(source, rate, least, shortest_s, most)
    if found is None:
        return None
    mix, raw, bounds = found
    warm = round(WARM_S * rate)
    return mix, raw, [(min(warm, a), source.read(max(0, a - warm), b)) for a, b in bounds]


def _limited_excerpts(excerpts, channels: int, rate: int, trial: SpanMaster):
    """Each excerpt through the trial's gain and limiter, one at a time: its own samples (the
    run-in cut off) and their loudness steps, the filters settled on the run-in."""
    for lead, x in excerpts:
        y = np.concatenate(list(limited([x], channels, rate, trial)))
        meter = loudness.LoudnessMeter(rate, channels)
        meter.power(y[:lead])
        meter.add(y[lead:])
        yield y[lead:], meter.steps()[:EXCERPT_STEPS]


def raw_blocks(path: str | os.PathLike, channels: int, window: int = 1 << 17) -> Blocks:
    """A re-readable stream of a raw float32 file (the cache's span audio)."""
    def read() -> Iterable[np.ndarray]:
        with open(path, "rb") as f:
            while len(block := np.fromfile(f, "<f4", window * channels)):
                yield block.reshape(-1, channels)
    return read


def raw_reader(path: str | os.PathLike, channels: int) -> Reader:
    """Random access to the same raw float32 file: frames [start, stop)."""
    def read(start: int, stop: int) -> np.ndarray:
        with open(path, "rb") as f:
            f.seek(start * 4 * channels)
            return np.fromfile(f, "<f4", (stop - start) * channels).reshape(-1, channels)
    return read
