"""One take of the whole episode: segments found and cut in their pauses, retakes cut out,
on recordings synthesised with known sentence times, a flub and a sentence read twice."""

import numpy as np
import pytest

from pipeline.audio import align, onetake
from pipeline.audio.onetake import Cut, Part, _Token
from pipeline.audio.takecheck import Heard, Line
from takes import make_take, needs_voice


SEGMENTS = [("intro", ["Welcome to the lighthouse hour.", "Today we climb the tower."]),
            ("act-1", ["The lighthouse keeper climbed the stairs before dawn.",
                       "Every night he lit the great lamp and watched the water.",
                       "Ships passed safely by the rocks, and the sailors waved at him."]),
            ("credits", ["In the winter the sea froze over completely.",
                         "Nobody came to the island for three long months."])]


def script_lines():
    return [(slug, [Line(s, 10 * k + i + 1) for i, s in enumerate(ss)])
            for k, (slug, ss) in enumerate(SEGMENTS)]


# --- pure ---------------------------------------------------------------------------------

def test_anchors_need_words_heard_in_order():
    heard = [Heard("today", 1.0, 1.2), Heard("we", 1.2, 1.3), Heard("climb", 1.3, 1.6),
             Heard("lighthouse", 3.0, 3.4)]
    got = onetake.anchors(SEGMENTS[0][1] + SEGMENTS[1][1][:1], heard)
    assert got == [None, (1.0, 1.6), None]  # a lone "lighthouse" proves nothing


def test_where_each_sentence_was_heard_to_start_and_what_was_said_before_it():
    sentences = ["The keeper climbed the stairs.", "Ships passed by the rocks."]
    said = [("the", 0.5), ("keeper", 0.7), ("climbed", 1.0), ("the", 1.4), ("stairs", 1.5),
            ("my", 3.0), ("grandmother", 3.2), ("told", 3.7), ("me", 3.9), ("once", 4.1),
            ("chips", 5.2), ("passed", 5.6), ("by", 5.9), ("the", 6.0), ("rocks", 6.1)]
    heard = [Heard(w, t, round(t + 0.2, 3)) for w, t in said]
    # The second sentence's first word was misheard: no start for it.
    assert onetake.heard_starts(sentences, heard) == [0.5, None]
    # Five words the script lacks before it, then a pause: it cannot start before 4.3 s.
    assert onetake.speech_before(sentences, heard) == [None, 4.3]
    # Without them, nothing is said before it that it lacks.
    plain = heard[:5] + heard[10:]
    assert onetake.speech_before(sentences, plain) == [None, None]


def test_render_takes_the_cut_out_with_an_exact_length_and_no_click():
    rate = 1000
    x = np.concatenate([np.ones(2000), np.zeros(1000), -np.ones(2000)]).astype(np.float32) * 0.5
    x[2000:3000] = 0.01  # room tone in the pause
    part = Part("act-1", 0.5, 4.5, (Cut(2.2, 2.8, "retake", 12),), align.estimate(x, rate, ["a"]))
    y = onetake.render(x, rate, part)
    assert len(y) == round(part.seconds * rate) == 3400
    assert np.all(y[:1500] == 0.5) and np.all(y[-1500:] == -0.5)
    assert np.max(np.abs(np.diff(y))) < 0.6  # the join is in the pause, faded


def test_a_restart_cuts_the_attempt_from_pause_to_pause():
    with align._lock:
        text = onetake._grammar(["One two three.", "Four five six."])
    # "one two three" / "four five" <restart> "four five six"
    toks = [_Token(0.5, 0.8, 0), _Token(0.8, 1.1, 1), _Token(1.1, 1.5, 2),
            _Token(2.5, 2.8, 3), _Token(2.8, 3.2, 4), _Token(3.3, 4.0, -3),
            _Token(4.1, 4.4, 3), _Token(4.4, 4.7, 4), _Token(4.7, 5.0, 5)]
    cuts = onetake.retake_cuts(toks, text, [Line("One two three.", 3), Line("Four five six.", 4)])
    assert cuts == [Cut(2.1, 3.7, "retake", 4)]
    assert any(arc[3] == onetake.RETAKE and arc[4] == -3 for arc in text.arcs)


# --- real audio ------------------------------------------------------------------------------

def _episode(seed, voice_name="en-us"):
    """The episode read in one go with a flub in act-1 and the last credit read twice."""
    spoken, index = [], []
    for k, (_, sentences) in enumerate(SEGMENTS):
        for s in sentences:
            if s.startswith("Every night"):
                spoken.append("Every night he lit the")
                index.append(None)
            spoken.append(s)
            index.append(k)
    spoken.insert(len(spoken) - 1, SEGMENTS[-1][1][-1])
    index.insert(len(index) - 1, None)
    return make_take(spoken, voice_name=voice_name, wpm=160, seed=seed, gaps=(0.5, 1.0)), index


@needs_voice
@pytest.mark.slow
@pytest.mark.parametrize("voice_name", ["en-us", "en-us+m3"])
def test_a_whole_episode_take_is_split_at_its_pauses_and_its_retakes_cut(voice_name):
    take, index = _episode(4, voice_name)
    got = onetake.split(take.samples, take.rate, script_lines())
    assert [p.slug for p in got.parts] == ["intro", "act-1", "credits"]
    kept = [i for i, k in enumerate(index) if k is not None]
    # Each boundary lies in the pause between the segments, speech on neither side cut.
    for k in range(1, len(SEGMENTS)):
        last = max(i for i in kept if index[i] == k - 1)
        first = min(i for i in kept if index[i] == k)
        assert take.ends[last] < got.parts[k].start == got.parts[k - 1].end < take.starts[first]
    # The flub and the first reading of the last credit are cut out whole.
    flub = index.index(None)
    twice = len(index) - 2
    assert [(c.reason, c.line) for c in got.cuts] == [("retake", 12), ("retake", 22)]
    for cut, attempt in zip(got.cuts, (flub, twice)):
        assert take.ends[attempt - 1] < cut.start < take.starts[attempt]
        assert take.ends[attempt] < cut.end < take.starts[attempt + 1]
    # Sentences are timed in each segment's own audio, after its cuts.
    for part in got.parts:
        audio = onetake.render(take.samples, take.rate, part)
        assert len(audio) == pytest.approx(part.seconds * take.rate, abs=2)
        truth = [take.starts[i] for i in kept if SEGMENTS[index[i]][0] == part.slug]
        gone = [sum(c.end - c.start for c in part.cuts if c.end <= t) for t in truth]
        expected = np.array(truth) - part.start - np.array(gone)
        found = np.array([s.start for s in part.alignment.sentences])
        assert np.max(np.abs(found - expected)) < 0.15
