"""Per-span mastering end to end: uneven takes levelled, spans mastered alone, one MP3 encoded,
and every file measured by ffmpeg's ebur128 as the independent meter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from conftest import ffmpeg_ebur128
from pipeline.audio import loudness, peak

from pipeline.audio import leveler

from pipeline.build import mastering

from pipeline.audio.leveler import LevelerSettings
from pipeline.build.mastering import SpanMaster, SpanSource

from synth import RATE, full_band_noise, music, speech


def array_blocks(x: np.ndarray, window: int = 1 << 17) -> mastering.Blocks:
    x = np.asarray(x, np.float32).reshape(len(x), -1)
    return lambda: (x[i:i + window] for i in range(0, len(x), window))




def hot_peaks(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Plosives and clicks: a few short bursts near full scale."""
    y = x.copy()
    rng = np.random.default_rng(seed)
    for at in rng.integers(RATE, len(x) - RATE, 6):
        burst = np.hanning(200) * rng.choice([-1, 1]) * 0.98
        y[at:at + 200] = np.clip(y[at:at + 200] + burst, -0.99, 0.99)
    return y.astype(np.float32)


def episode(channels: int, seconds: float = 10.0):
    """Four spans: a normal take over a bed, one 12 dB low, one with hot peaks, and one over
    full-band noise (a rain SFX); each take levelled on its own."""
    takes = [speech(seconds, 0.0, seed=21), speech(seconds, -12.0, seed=22),
             hot_peaks(speech(seconds, 2.0, seed=23), seed=3), speech(seconds, -4.0, seed=24)]
    beds = [music(seconds, channels, -10.0), music(seconds, channels, -14.0, seed=5),
            np.zeros((round(seconds * RATE), channels), np.float32),
            full_band_noise(seconds, channels, amplitude=0.03, seed=6)]
    sources, voices = [], []
    for take, bed in zip(takes, beds):
        levelled, plan = leveler.level(take, RATE, LevelerSettings())
        mix = (bed + levelled[:, None]).astype(np.float32)
        meter = loudness.LoudnessMeter(RATE, channels)
        meter.add(mix)
        sources.append(SpanSource(array_blocks(mix), len(mix), meter.steps(),
                                  plan.levelled_lufs))
        voices.append(plan)
    return sources, voices, takes


def check(report, mp3, target, ceiling, sources):
    theirs = ffmpeg_ebur128(mp3)
    assert abs(theirs.integrated_lufs - target) <= 0.5
    assert theirs.true_peak_dbtp <= ceiling + 0.05  # ffmpeg rounds to 0.1 dB
    assert report.loudness.true_peak_dbtp <= ceiling
    assert abs(report.loudness.integrated_lufs - target) <= 0.2
    assert report.loudness.integrated_lufs == pytest.approx(theirs.integrated_lufs, abs=0.2)
    assert report.loudness.true_peak_dbtp == pytest.approx(theirs.true_peak_dbtp, abs=0.2)
    # The voice sits at one level across segments (each is mostly voice), takes uneven or not.
    segments = [s.integrated_lufs for s in report.segments]
    assert max(segments) - min(segments) <= 3.0
    assert report.warnings == ()


def test_span_gain_comes_from_the_span_alone():
    steps = np.full(100, 10 ** ((-20 + 0.691) / 10) * 0.1 * RATE)  # 10 s at -20 LUFS
    assert mastering.span_gain(steps, RATE, -16.0) == pytest.approx(4.0, abs=1e-6)
    # Loud music under a -20 LUFS voice: the gain may drop by the allowance, no further.
    loud = steps * 10 ** (8 / 10)
    assert mastering.span_gain(loud, RATE, -16.0, voice_lufs=-20.0) == pytest.approx(1.0)
    assert mastering.span_gain(loud * 0, RATE, -16.0, voice_lufs=-20.0) == pytest.approx(4.0)
    assert mastering.span_gain(loud * 0, RATE, -16.0) == 0.0


def test_the_limiter_s_loss_is_made_up_before_the_encoder():
    x = hot_peaks(speech(6.0, 4.0, seed=30))[:, None]
    meter = loudness.LoudnessMeter(RATE, 1)
    meter.add(x)
    source = SpanSource(array_blocks(x), len(x), meter.steps())
    plan = SpanMaster(3.0, -1.0, meter.integrated + 3.0)
    settled = mastering.settle(source, RATE, 1, plan)
    out = np.concatenate(list(mastering.limited(source.blocks(), 1, RATE, settled)))
    assert len(out) == len(x)
    assert settled.gain_db > 3.5
    assert loudness.integrated_loudness(out, RATE) == pytest.approx(plan.aim_lufs, abs=0.1)
    assert peak.true_peak_dbtp(out, RATE) <= -1.0


def test_a_long_span_settles_in_one_run_from_what_its_excerpts_show():
    """The limiter's loss is learned on excerpts, so the one whole run lands on the aim; and a
    prediction that missed would cost a run, not the aim (settle still measures the whole)."""
    x = hot_peaks(speech(240.0, 0.0, seed=31), seed=4)[:, None]
    meter = loudness.LoudnessMeter(RATE, 1)
    meter.add(x)
    runs = []

    def blocks():
        runs.append(1)
        return array_blocks(x)()

    source = SpanSource(blocks, len(x), meter.steps(), read=lambda a, b: x[a:b])
    plan = SpanMaster(6.0, -1.0, meter.integrated + 6.0)
    guessed = mastering.predict(source, RATE, 1, plan)
    assert guessed.gain_db > plan.gain_db  # it makes up what the limiter takes
    settled = mastering.settle(source, RATE, 1, plan)
    out = np.concatenate(list(mastering.limited(array_blocks(x)(), 1, RATE, settled)))
    assert loudness.integrated_loudness(out, RATE) == pytest.approx(plan.aim_lufs, abs=0.1)
    assert peak.true_peak_dbtp(out, RATE) <= -1.0
    assert len(runs) == 1
    # Without random access the same span takes the search's runs and gets the same answer.
    runs.clear()
    slow = mastering.settle(SpanSource(blocks, len(x), meter.steps()), RATE, 1, plan)
    assert len(runs) >= 2
    assert slow.gain_db == pytest.approx(settled.gain_db, abs=0.15)


def test_only_a_long_span_that_can_be_read_at_random_is_predicted():
    """The build limits a predicted span once, unmetered: only a span the prediction learns on
    (two minutes or more, readable at random, not silent) is trusted that way."""
    def source(seconds, read=True, silent=False):
        x = speech(seconds, 0.0, seed=5)[:, None] * (0 if silent else 1)
        meter = loudness.LoudnessMeter(RATE, 1)
        meter.add(x)
        return SpanSource(array_blocks(x), len(x), meter.steps(),
                          read=(lambda a, b: x[a:b]) if read else None)

    assert mastering.predicts(source(mastering.EXCERPT_MIN_S + 10), RATE)
    assert not mastering.predicts(source(mastering.EXCERPT_MIN_S - 10), RATE)
    assert not mastering.predicts(source(mastering.EXCERPT_MIN_S + 10, read=False), RATE)
    assert not mastering.predicts(source(mastering.EXCERPT_MIN_S + 10, silent=True), RATE)


def test_a_span_of_one_block_settles_its_search_in_its_worker(tmp_path):
    """A short span is limited in one job: the job runs the span again at the search's next
    gain until it measures its aim, and hands back the settled search with the audio written."""
    from pipeline.build import episode as build_episode
    from pipeline.audio.mp3frames import from_pcm16

    mix = (hot_peaks(speech(8.0, 2.0, seed=31), seed=4)[:, None]
           .repeat(2, axis=1) * np.float32(10 ** (6 / 20)))
    raw, out = tmp_path / "mix.f32", tmp_path / "master.pcm"
    mix.astype("<f4").tofile(raw)
    out.write_bytes(bytes(len(mix) * 4))
    meter = loudness.LoudnessMeter(RATE, 2)
    meter.add(mix)
    first = mastering.first_plan([SpanSource(array_blocks(mix), len(mix), meter.steps())],
                                 RATE, mastering.MasterSettings(target_lufs=-12.0))[0]
    search = mastering.Search(first)
    steps, head, tail, settled = build_episode._limit_block(
        raw, 0, len(mix), len(mix), first, out, 0, RATE, 2, search)
    assert settled._done > 1  # the limiter took more than the tolerance: it ran again
    got = loudness.LoudnessMeter.integrated_of(steps, RATE)
    assert abs(got - first.aim_lufs) < mastering.SETTLED_LU
    written = from_pcm16(np.fromfile(out, "<i2").reshape(-1, 2))
    again = loudness.LoudnessMeter(RATE, 2)
    again.add(written)  # the file holds the settled run, not the first one
    assert again.integrated == pytest.approx(got, abs=1e-6)
    assert head is not None and tail is not None


def test_the_encoder_s_drop_is_read_off_excerpts_as_they_are_heard():
    """encoder_drop hands the limited excerpts to the show's round trip as 16-bit audio and
    compares what comes back: a round trip 0.5 dB down reads 0.5 LU, one that changes nothing
    reads 0 (to the 16-bit rounding); a span a few seconds long has excerpts enough."""
    x = speech(30.0, 0.0, seed=32)[:, None]
    meter = loudness.LoudnessMeter(RATE, 1)
    meter.add(x)
    source = SpanSource(array_blocks(x), len(x), meter.steps(), read=lambda a, b: x[a:b])
    plan = SpanMaster(0.0, -1.0, meter.integrated)
    heard = []

    def quieter(pcm: np.ndarray) -> np.ndarray:
        assert pcm.dtype == np.int16
        heard.append(len(pcm))
        return pcm.astype(np.float32) / 32768 * np.float32(10 ** (-0.5 / 20))

    assert mastering.encoder_drop(source, RATE, 1, plan, quieter) == pytest.approx(0.5, abs=1e-3)
    assert 0.05 * len(x) < heard[0] < 0.15 * len(x)  # a second in twelve
    same = mastering.encoder_drop(source, RATE, 1, plan, lambda p: p.astype(np.float32) / 32768)
    assert same == pytest.approx(0.0, abs=1e-6)
    short = SpanSource(array_blocks(x[:RATE]), RATE, meter.steps()[:10], read=lambda a, b: x[a:b])
    assert mastering.encoder_drop(short, RATE, 1, plan, quieter) is None
    heard.clear()
    assert mastering.encoder_drop(source, RATE, 1, plan, quieter, most=1) == \
        pytest.approx(0.5, abs=1e-3)
    assert heard == [RATE]  # its share: one excerpt of a second


@given(st.lists(st.integers(0, 10 ** 9), min_size=1, max_size=40), st.integers(1, 200))
def test_spans_share_the_encoder_s_excerpts_by_length(frames, most):
    """Each span measures at least one excerpt and a longer span never fewer; in all, about
    `most` (each share rounds, and a span's one at least can add to it)."""
    shares = mastering.drop_shares(frames, most)
    assert len(shares) == len(frames) and min(shares) >= 1
    order = sorted(range(len(frames)), key=lambda i: frames[i])
    assert all(shares[a] <= shares[b] for a, b in zip(order, order[1:]))
    if sum(frames):
        assert most - len(frames) / 2 <= sum(shares) <= most + len(frames)
