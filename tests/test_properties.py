"""Property tests where a rule must hold for every input, not just the examples we thought of:
show-line templates, the true-peak limiter's ceiling, and caption splitting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given, settings, strategies as st

from pipeline.audio.peak import Limiter, true_peak_dbtp
from pipeline.audio.dynamics import between
from pipeline.build.episode import BLOCK_STEPS, _blocks
from pipeline.build.transcript import MAX_CUE_CHARS, MAX_CUE_SECONDS, split_long
from pipeline.model import TimedLine
from pipeline.script.text import match_template, render_template

# --- templates: render, then match, gives the values back ------------------------------------

LITERALS = ("from", "this", "is", "on", "next", "and", "today", "hosted", "by", "me", "i'm",
            "with", "the", "of")
# A value word is a name (capitalised, or digits) and never one of the template's own words.
_NAME_WORD = (st.builds(str.__add__, st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                        st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8))
              | st.integers(0, 9999).map(str)).filter(lambda w: w.lower() not in LITERALS)
VALUE = st.lists(_NAME_WORD, min_size=1, max_size=4).map(" ".join)
LITERAL = st.tuples(st.lists(st.sampled_from(LITERALS), min_size=1, max_size=3).map(" ".join),
                    st.sampled_from(["", ","]))


@st.composite
def templates(draw, starts_with_value=st.booleans()):
    """A show line: literal words and {placeholders} alternating, ending maybe with a stop.
    Two placeholders always have literal words between them (else no reader could split them)."""
    n = draw(st.integers(1, 3))
    starts_with_value = draw(starts_with_value)
    pieces, names, values = [], [], {}
    for i in range(n):
        if i or not starts_with_value:
            words, comma = draw(LITERAL)
            pieces.append(("literal", words, comma))
        name = f"v{i}"
        names.append(name)
        values[name] = draw(VALUE)
        pieces.append(("value", name, draw(st.sampled_from(["", ","])) if i < n - 1 else ""))
    if draw(st.booleans()):
        words, _ = draw(LITERAL)
        pieces.append(("literal", words, ""))
    stop = draw(st.sampled_from(["", ".", "!", ":"]))
    template = text = ""
    for kind, content, comma in pieces:
        sep = " " if template else ""
        if kind == "literal":
            template += sep + content + comma
            text += sep + content + comma
        else:
            template += sep + "{" + content + "}" + comma
            text += sep + values[content] + comma
    return template + stop, text + stop, values


@settings(max_examples=100, deadline=None)
@given(templates())
@example(("From {network}, I'm {host} and this is {show}.",
          "From Noon Radio, I'm Ada Lee and this is Way Back.",
          {"network": "Noon Radio", "host": "Ada Lee", "show": "Way Back"}))
def test_a_rendered_template_matches_and_gives_back_its_values(case):
    template, text, values = case
    assert render_template(template, **values) == text
    m = match_template(template, text)
    assert m is not None, (template, text)
    assert m.values == values and m.glued == ()


@settings(max_examples=100, deadline=None)
@given(templates(), st.lists(st.sampled_from(["Another", "day.", "More", "to", "come"]),
                             max_size=6))
def test_a_prefix_template_matches_a_line_that_goes_on(case, tail):
    """"Next on {show}. Tomorrow, …": the show line, then whatever the host says next."""
    template, text, values = case
    line = render_template(template, **values).rstrip(".!:") + ". " + " ".join(tail)
    m = match_template(template, line, prefix=True)
    assert m is not None, (template, line)
    assert m.values == values and m.glued == ()


@settings(max_examples=50, deadline=None)
@given(templates(starts_with_value=st.just(False)))
def test_a_missing_space_before_a_value_is_found_where_it_is(case):
    """"Next onAlmanac Hour": the match still holds, and the glued offset points at the value."""
    template, text, values = case
    at = template.index("{v0}") - 1  # the space before the first value (same place in the text)
    assume(text[at - 1].isalpha() and text[at + 1].isalpha())  # letters either side
    glued = text[:at] + text[at + 1:]
    m = match_template(template, glued)
    assert m is not None, (template, glued)
    assert m.values == values and m.glued == (at,)


# --- the limiter's ceiling --------------------------------------------------------------------

RATE = 44100


def _signal(kind: str, frames: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(frames) / RATE
    if kind == "noise":
        x = rng.standard_normal((frames, channels)) * 0.3
    elif kind == "near-nyquist":  # the signal whose overs fall between the samples
        hz = rng.uniform(RATE / 4, RATE / 2 * 0.95)
        x = np.sin(2 * np.pi * hz * t + rng.uniform(0, np.pi))[:, None].repeat(channels, 1)
    elif kind == "clicks":
        x = np.zeros((frames, channels))
        at = rng.integers(0, frames, size=max(1, frames // 200))
        x[at] = rng.choice([-1.0, 1.0], size=(len(at), channels))
    else:  # "square": full-scale edges, alternating sign
        x = np.sign(np.sin(2 * np.pi * rng.uniform(50, 5000) * t))[:, None].repeat(channels, 1)
    return x.astype(np.float32)


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["noise", "near-nyquist", "clicks", "square"]),
       frames=st.integers(1, 12000), channels=st.integers(1, 2),
       gain_db=st.floats(-6, 30), ceiling=st.floats(-6, 0),
       cuts=st.lists(st.integers(0, 12000), max_size=3), seed=st.integers(0, 2**32 - 1))
@example(kind="noise", frames=1, channels=1, gain_db=0.0, ceiling=0.0, cuts=[0], seed=0)
def test_the_limiters_output_never_passes_its_ceiling(kind, frames, channels, gain_db, ceiling,
                                                      cuts, seed):
    x = _signal(kind, frames, channels, np.random.default_rng(seed)) * np.float32(
        10 ** (gain_db / 20))
    limiter = Limiter(RATE, channels, ceiling)
    edges = [0, *sorted(c for c in cuts if c < frames), frames]
    out = np.concatenate([limiter.process(x[a:b]) for a, b in zip(edges, edges[1:])] +
                         [limiter.flush()])
    assert out.shape == x.shape  # every frame out, once: the latency is only a delay
    assert true_peak_dbtp(out, RATE) <= ceiling
    if true_peak_dbtp(x, RATE) <= ceiling - 0.1:  # nothing to limit: the audio passes untouched
        np.testing.assert_array_equal(out, x)


def test_an_empty_block_is_no_audio_at_every_stage():
    """A stream may hand on an empty block (the limiter's first output, while it fills its
    look-ahead, is one); reshaping it used to raise."""
    empty = np.zeros((0, 2), np.float32)
    limiter = Limiter(RATE, 2)
    assert limiter.process(empty).shape == (0, 2)
    first = limiter.process(np.full((10, 2), 0.5, np.float32))  # shorter than the latency
    assert first.shape == (0, 2)
    assert true_peak_dbtp(first, RATE) == -np.inf and true_peak_dbtp(empty, RATE) == -np.inf
    assert limiter.flush().shape == (10, 2)  # the ten frames it held back, and no more


# --- caption splitting ------------------------------------------------------------------------

_WORD = st.sampled_from(["a", "I", "to", "the", "ship", "harbour,", "Halifax", "exploded.",
                         "Mont-Blanc", "nine", "o’clock", "thirty-five", "disintegrated,",
                         "approximately"])


@st.composite
def spoken_lines(draw):
    """A sentence as the draft voice times it: 0.15 to 0.6 s a word, anywhere in an episode
    (words up to 14 characters: longer ones are not English, and could not fit a caption)."""
    words = draw(st.lists(_WORD, min_size=1, max_size=80) | st.lists(
        _WORD, min_size=20, max_size=80))  # long sentences too, not only what shrinks best
    start = draw(st.floats(0, 3600, allow_nan=False))
    per_word = draw(st.floats(0.15, 0.6))
    return TimedLine(round(start, 3), round(start + per_word * len(words), 3), " ".join(words),
                     draw(st.sampled_from([None, "Ann Host"])))


@settings(max_examples=150, deadline=None)
@given(st.lists(spoken_lines(), min_size=1, max_size=4))
@example([TimedLine(0.0, 20.0, " ".join(["word"] * 60))])
@example([TimedLine(0.0, 17.4, " ".join(["word"] * 29))])  # round(17.4 / 7) parts: 8.7 s each
@example([TimedLine(0.0, 10.0, " ".join(["a"] * 30 + ["abcdefghijkl"] * 10))])  # long words last
def test_split_lines_cover_their_time_keep_every_word_and_fit_a_caption(lines):
    out = split_long(lines)
    at = 0
    for line in lines:
        words = line.text.split()
        parts = []
        while at < len(out) and sum(len(p.text.split()) for p in parts) < len(words):
            parts.append(out[at])
            at += 1
        assert [w for p in parts for w in p.text.split()] == words  # in order, none lost
        assert parts[0].start == pytest.approx(line.start, abs=5e-4)
        assert parts[-1].end == pytest.approx(line.end, abs=5e-4)
        for a, b in zip(parts, parts[1:]):
            assert a.end == b.start  # contiguous: no gap, no overlap
        for p in parts:
            assert p.start <= p.end and p.speaker == line.speaker
            assert len(p.text) <= MAX_CUE_CHARS, p
            assert p.end - p.start <= MAX_CUE_SECONDS + 5e-4, p
    assert at == len(out)


@given(st.integers(0, 48_000 * 3600), st.sampled_from([22_050, 44_100, 48_000]))
def test_a_span_s_blocks_cover_it_in_whole_loudness_steps(frames, rate):
    """Blocks are mixed and limited apart and their loudness steps joined: they must tile the
    span, and all but the last must hold whole 100 ms steps (else the joined steps drift)."""
    blocks = _blocks(frames, rate)
    assert blocks[0][0] == 0 and blocks[-1][1] == frames
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    step = rate // 10
    assert all((b - a) % step == 0 and b - a == BLOCK_STEPS * step for a, b in blocks[:-1])
    assert len(blocks) == 1 or blocks[-1][1] - blocks[-1][0] >= BLOCK_STEPS * step // 2


@settings(max_examples=80, deadline=None)
@given(spacing=st.sampled_from([80.0, 110.25, 220.5, 441.0, 480.0, 4410.0, 4800.0]),
       half=st.booleans(), levels=st.lists(st.floats(-30, 30), min_size=1, max_size=40),
       a=st.integers(0, 60_000), length=st.integers(0, 30_000))
def test_an_envelope_between_its_knots_is_np_interp(spacing, half, levels, a, length):
    """The mix's ducking (knots every hop) and the leveler's gain (knots at each step's centre)
    are built from one ramp per knot: it must be the linear interpolation between knots, held
    outside them, wherever the frames fall."""
    levels, b, origin = np.array(levels), a + length, spacing / 2 if half else 0.0
    expected = np.interp((np.arange(a, b) - origin) / spacing, np.arange(len(levels)), levels)
    got = between(levels, a, b, spacing, origin)
    assert got.dtype == np.float32 and got.shape == (length,)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)
