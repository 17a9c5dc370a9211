"""The voice leveler: every segment's narration brought to one speech loudness before the mix.

Takes arrive at whatever level the room and the microphone gave them; a take recorded 12 dB low
would stay 12 dB low through a master that gains the whole episode at once. The leveler works
like a patient engineer riding a fader (Auphonic's leveler is the model):

- it listens only to speech: 100 ms steps of BS.1770 K-weighted energy, gated relative to the
  take's own speech loudness, so pauses, breaths and room noise never count as "quiet speech"
  and are never ridden up (the gain holds through them);
- it moves the whole take to `target_lufs`, then evens out passages: the loudness of the speech
  in a window of `window_s` around each moment is pulled towards the take's by `ratio`, at most
  `range_db` either way, and the gain is smoothed over `smoothing_s` so it never pumps;
- the total gain is capped at `max_gain_db`; a take that needs more is left short of the target
  with a warning, since its noise floor comes up with it.

Two passes over the narration, each a block at a time: memory follows the block, not the take.
Everything is deterministic: the same take always gets the same gain.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from pipeline.audio import bandlimit, dynamics, loudness
from pipeline.audio.mp3frames import pcm16  # the one float → 16-bit rule: libsndfile's

StrPath = str | os.PathLike[str]

STEP = 0.1  # seconds: the loudness meter's step
_BLOCK = 1 << 16


@dataclass(frozen=True)
class LevelerSettings:
    target_lufs: float = -20.0  # speech loudness before the master
    max_gain_db: float = 20.0  # beyond this, noise rises more than the voice is worth
    max_cut_db: float = 30.0
    ratio: float = 3.0  # local deviations from the take's loudness are divided by this
    range_db: float = 9.0  # the most the local ride moves from the take's overall gain
    window_s: float = 3.0  # the local loudness window (EBU short-term)
    smoothing_s: float = 1.5  # how slowly the gain may move
    gate_lu: float = -18.0  # a step this far below the take's speech loudness is not speech

    def __post_init__(self) -> None:
        if self.ratio < 1 or self.range_db < 0 or self.max_gain_db < 0 or self.max_cut_db < 0:
            raise ValueError("ratio must be >= 1 and the gain bounds must not be negative")
        if self.window_s < STEP or self.smoothing_s < 0:
            raise ValueError("window_s must be at least one step; smoothing_s not negative")


@dataclass(frozen=True, eq=False)  # holds an array: compared by identity
class LevelPlan:
    """The gain the leveler rides, per 100 ms step, and what it does to the speech."""

    gain_db: np.ndarray  # per step; applied at step centres, interpolated between
    speech_lufs: float  # the take's speech loudness before (-inf: no speech found)
    levelled_lufs: float  # predicted after
    warnings: tuple[str, ...]

    @property
    def mean_gain_db(self) -> float:
        return float(self.gain_db.mean()) if len(self.gain_db) else 0.0


# ---------------------------------------------------------------------------------------------
# The core (pure): a gain curve from loudness steps


def plan(steps: np.ndarray, rate: int, settings: LevelerSettings = LevelerSettings(),
         name: str = "narration") -> LevelPlan:
    """The gain per step for narration whose K-weighted 100 ms step energies are `steps`."""
    steps = np.asarray(steps, np.float64)
    n = len(steps)
    speech_lufs = loudness.LoudnessMeter.integrated_of(steps, rate)
    if not n or not np.isfinite(speech_lufs):
        return LevelPlan(np.zeros(n), -np.inf, -np.inf, ())
    per_step = steps / (STEP * rate)
    with np.errstate(divide="ignore"):
        step_lufs = -0.691 + 10 * np.log10(per_step)
    held = loudness.on_grid(speech_lufs)  # what the gate and the ride measure against
    speech = step_lufs > max(-70.0, held + settings.gate_lu)

    # Local speech loudness: the speech energy in a centred window, over the speech steps in it.
    width = max(1, round(settings.window_s / STEP))
    energy = _centred_sum(np.where(speech, per_step, 0.0), width)
    count = _centred_sum(speech.astype(np.float64), width)
    enough = speech & (count >= max(1, width // 5))  # a lone syllable is no passage
    with np.errstate(divide="ignore", invalid="ignore"):
        local = -0.691 + 10 * np.log10(energy / count)
    ride = np.clip((held - local) * (1 - 1 / settings.ratio),
                   -settings.range_db, settings.range_db)
    # Pauses hold the gain of the speech around them: interpolate across, hold at the ends.
    known = np.flatnonzero(enough)
    if not len(known):
        known = np.flatnonzero(speech)
        ride = np.zeros(n)
    ride = np.interp(np.arange(n), known, ride[known])
    ride = _smooth(ride, max(1, round(settings.smoothing_s / STEP)))

    # The overall gain lands the ridden speech on the target (the ride shifts its loudness;
    # the absolute gate makes loudness not quite shift-invariant, so two refinements).
    wanted = settings.target_lufs - speech_lufs
    for _ in range(3):
        overall = float(np.clip(wanted, -settings.max_cut_db, settings.max_gain_db))
        gain = np.clip(ride + overall, -settings.max_cut_db - settings.range_db,
                       settings.max_gain_db)
        levelled = loudness.LoudnessMeter.integrated_of(steps * 10 ** (gain / 10), rate)
        if not np.isfinite(levelled) or abs(levelled - settings.target_lufs) < 0.01:
            break
        wanted += settings.target_lufs - levelled
    overall = loudness.on_grid(overall)  # a small edit elsewhere in the take leaves it
    gain = np.clip(ride + overall, -settings.max_cut_db - settings.range_db, settings.max_gain_db)
    levelled = loudness.LoudnessMeter.integrated_of(steps * 10 ** (gain / 10), rate)
    warnings = []
    if levelled < settings.target_lufs - 0.05 and overall >= settings.max_gain_db:
        needed = overall + settings.target_lufs - levelled
        warnings.append(
            f"{name}: speech at {speech_lufs:.1f} LUFS needs {needed:+.1f} dB to reach "
            f"{settings.target_lufs:g} LUFS; raised by {settings.max_gain_db:+.0f} dB only, since "
            "its noise comes up with it: re-record it closer to the microphone if you can")
    return LevelPlan(gain, speech_lufs, levelled, tuple(warnings))


def _centred_sum(v: np.ndarray, width: int) -> np.ndarray:
    total = np.concatenate([[0.0], np.cumsum(v)])
    i = np.arange(len(v))
    lo, hi = np.maximum(0, i - width // 2), np.minimum(len(v), i - width // 2 + width)
    return total[hi] - total[lo]


def _smooth(v: np.ndarray, width: int) -> np.ndarray:
    """Two centred moving averages (a triangle): the gain's slope is bounded, with no corners."""
    for _ in range(2):
        count = _centred_sum(np.ones(len(v)), width)
        v = _centred_sum(v, width) / count
    return v


def gains(plan_db: np.ndarray, rate: int, start: int, frames: int) -> np.ndarray:
    """Linear gain for frames [start, start + frames): the step gains (at step centres)
    interpolated in dB, so the gain glides and never steps."""
    if not len(plan_db):
        return np.ones(frames, np.float32)
    step = rate * STEP  # the step gains sit at the steps' centres; held before and after
    db = dynamics.between(plan_db, start, start + frames, step, step / 2)
    return np.exp(db * np.float32(np.log(10) / 20))  # float32: 2.4x faster


# ---------------------------------------------------------------------------------------------
# Streaming edges


def level_stream(blocks: Callable[[], Iterable[np.ndarray]], rate: int,
                 settings: LevelerSettings = LevelerSettings(), name: str = "narration"
                 ) -> tuple[LevelPlan, Iterator[np.ndarray]]:
    """Measure the narration (first pass over blocks()), then the levelled narration as a
    second pass: `blocks` is called twice and must give the same mono samples both times."""
    meter = loudness.LoudnessMeter(rate, 1)
    for block in blocks():
        meter.add(np.asarray(block, np.float32).reshape(-1, 1))
    # The unfinished last step (under 100 ms) holds the gain of the one before it.
    result = plan(meter.steps(), rate, settings, name)
    gain_db = result.gain_db

    def apply() -> Iterator[np.ndarray]:
        at = 0
        for block in blocks():
            x = np.asarray(block, np.float32).reshape(-1)
            yield x * gains(gain_db, rate, at, len(x))
            at += len(x)

    return result, apply()


def level(samples: np.ndarray, rate: int, settings: LevelerSettings = LevelerSettings(),
          name: str = "narration") -> tuple[np.ndarray, LevelPlan]:
    """level_stream on an array in memory (tests, short drafts)."""
    x = np.asarray(samples, np.float32).reshape(-1)
    levelled, out = level_stream(lambda: (x[i:i + _BLOCK] for i in range(0, len(x), _BLOCK)),
                                 rate, settings, name)
    parts = list(out)
    return (np.concatenate(parts) if parts else x.copy()), levelled


def level_file(source: StrPath, target: StrPath, rate: int,
               settings: LevelerSettings = LevelerSettings(), name: str | None = None,
               pcm_copy: StrPath | None = None, lowpass_hz: float = 0.0) -> LevelPlan:
    """Level raw float32 mono narration into `target`, 16-bit FLAC (the cache's narration: a
    quarter of the size or less, 96 dB below -20 LUFS speech), a block at a time, atomically.
    A sample past full scale is clipped: the leveler leaves speech 20 dB below it. With
    `lowpass_hz`, the levelled voice is low-passed there too (pipeline.audio.bandlimit: the
    build's narration enters the mix in the band the encoder keeps).

    With `pcm_copy`, the same 16-bit samples also go there as raw little-endian PCM: the build
    mixes from that copy, so the FLAC it keeps is never decoded in the build that made it."""
    import soundfile

    source, target = os.fspath(source), os.fspath(target)

    def blocks() -> Iterator[np.ndarray]:
        with open(source, "rb") as f:
            while len(block := np.fromfile(f, "<f4", _BLOCK)):
                yield block

    levelled, out = level_stream(blocks, rate, settings, name or source)
    band = bandlimit.LowPass(rate, 1, lowpass_hz)
    tmp = f"{target}.tmp{os.getpid()}"
    copy = None if pcm_copy is None else f"{os.fspath(pcm_copy)}.tmp{os.getpid()}"
    try:
        with soundfile.SoundFile(tmp, "w", rate, 1, "PCM_16", format="FLAC") as sink, \
                open(copy or os.devnull, "wb") as raw:
            for block in out:
                pcm = pcm16(band(block))
                sink.write(pcm)
                if copy:
                    raw.write(pcm.data)
        if copy:
            os.replace(copy, pcm_copy)
        os.replace(tmp, target)
    finally:
        for left in (tmp, copy):
            if left and os.path.exists(left):
                os.unlink(left)
    return levelled

