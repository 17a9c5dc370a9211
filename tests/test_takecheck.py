"""Script against recording: findings from a recogniser that knows the script, on takes
synthesised with known content (an ad-lib, a sentence cut from the script, one added)."""

import math
import re

import pytest

from pipeline.audio import takecheck
from pipeline.audio.takecheck import Heard, Line
from takes import STORY, make_take, needs_voice


ADLIB = "I remember my grandmother telling me about this when I was small."


def lines(sentences, first=10):
    return [Line(s, first + 2 * i, 1) for i, s in enumerate(sentences)]


def heard(sentences, start=0.5, word=0.3, gap=0.7):
    out, t = [], start
    for tokens in takecheck.script_tokens(sentences):
        for token in tokens:
            out.append(Heard(token, round(t, 3), round(t + word, 3)))
            t += word
        t += gap
    return out


# --- pure ---------------------------------------------------------------------------------

def test_the_script_model_is_a_proper_trigram_model():
    arpa = takecheck.script_model(takecheck.script_tokens(STORY))
    counts = {int(n): int(c) for n, c in re.findall(r"ngram (\d)=(\d+)", arpa)}
    sections = re.split(r"\\(\d)-grams:", arpa)
    rows = {int(sections[i]): [r.split() for r in sections[i + 1].strip().splitlines()
                               if r.strip() and not r.startswith("\\")]
            for i in range(1, len(sections), 2)}
    assert {n: len(rows[n]) for n in rows} == counts
    vocab = {r[1] for r in rows[1]}
    assert {"lighthouse", "months", "</s>", "<s>"} <= vocab
    unigram = sum(10 ** float(r[0]) for r in rows[1] if r[1] != "<s>")
    assert math.isclose(unigram, 1.0, rel_tol=1e-3)
    # Every seen continuation of a history leaves mass for the backoff: below one in sum.
    follow = {}
    for r in rows[2]:
        follow[r[1]] = follow.get(r[1], 0.0) + 10 ** float(r[0])
    assert max(follow.values()) < 1.0
    assert ["the", "lighthouse", "keeper"] in [r[1:4] for r in rows[3]]


def test_a_take_read_as_written_has_no_findings():
    assert takecheck.compare(lines(STORY), heard(STORY), "takes/act-1.wav") == []


def test_a_sentence_the_take_lacks_is_t001_with_where_it_was_expected():
    said = heard(STORY[:2] + STORY[3:])
    found = takecheck.compare(lines(STORY), said, "takes/act-1.wav")
    assert [(f.code, f.line) for f in found] == [("T001", 14)]
    end_of_second = said[len(takecheck.script_tokens(STORY[:2])[0]) +
                         len(takecheck.script_tokens(STORY[:2])[1]) - 1].end
    assert found[0].at == end_of_second
    assert found[0].message == ("“Ships passed safely by the rocks, and the sailors waved at…” "
                                f"is not in takes/act-1.wav (expected near "
                                f"{takecheck.clock(end_of_second)})")


def test_speech_the_script_lacks_is_t002_at_its_time():
    said = heard(STORY[:3] + [ADLIB] + STORY[3:])
    found = takecheck.compare(lines(STORY), said, "takes/act-1.wav")
    assert [(f.code, f.line) for f in found] == [("T002", 16)]
    first = sum(len(t) for t in takecheck.script_tokens(STORY[:3]))
    assert found[0].at == said[first].start
    assert "has speech the script does not at" in found[0].message


def test_a_changed_phrase_is_said_differently():
    edited = list(STORY)
    edited[1] = "Every night he lit the old brass lantern and watched the water."
    found = takecheck.compare(lines(edited), heard(STORY), "takes/act-1.wav")
    assert [(f.code, f.line) for f in found] == [("T001", 12)]
    assert "is not said as written" in found[0].message
    assert "“old brass lantern” is heard as “great lamp”" in found[0].message


def test_findings_become_linter_warnings():
    found = takecheck.compare(lines(STORY), heard(STORY[1:]), "takes/act-1.wav")
    (d,) = takecheck.diagnostics(found, "episodes/x/script.md")
    assert d.as_text().startswith("episodes/x/script.md:10:1: T001 warning: “The lighthouse")


def test_clock():
    assert takecheck.clock(83.44) == "1:23.4" and takecheck.clock(5) == "0:05.0"


# --- real recognition ------------------------------------------------------------------------

@needs_voice
@pytest.mark.slow
def test_recognition_against_the_script_hears_a_clean_take_as_written():
    take = make_take(STORY, seed=1)
    got = takecheck.recognize(take.samples, take.rate, STORY)
    said = [h.word for h in got]
    expected = [t for s in takecheck.script_tokens(STORY) for t in s]
    import difflib
    assert difflib.SequenceMatcher(None, expected, said).ratio() > 0.9
    assert takecheck.check(take.samples, take.rate, lines(STORY), "t.wav") == []


@needs_voice

@needs_voice
@pytest.mark.slow
def test_a_take_is_heard_the_same_whatever_was_heard_before():
    """Each take gets a decoder of its own. One shared across takes carried state from one
    utterance to the next: the same take heard twice got word times up to 20 ms apart, and a
    take could be heard as other words after other takes."""
    clean = make_take(STORY, seed=3)
    other = make_take(STORY[:3] + [ADLIB] + STORY[3:], seed=2, gaps=(0.5, 0.9))
    first = takecheck.recognize(clean.samples, clean.rate, STORY)
    takecheck.recognize(other.samples, other.rate, STORY)
    assert takecheck.recognize(clean.samples, clean.rate, STORY) == first

@pytest.mark.slow
def test_an_adlib_and_an_edited_script_are_found_in_real_audio():
    take = make_take(STORY[:3] + [ADLIB] + STORY[3:], seed=2, gaps=(0.5, 0.9))
    found = takecheck.check(take.samples, take.rate, lines(STORY), "takes/act-1.wav")
    extra = [f for f in found if f.code == "T002"]
    assert len(extra) == 1 and extra[0].line == 16
    # The ad-lib is the 4th thing said: the finding's time lies inside it.
    assert take.starts[3] - 0.3 <= extra[0].at <= take.ends[3]
    # The script gained a sentence after recording: the take does not say it.
    added = STORY[:2] + ["The keeper kept a diary of every ship."] + STORY[2:]
    take = make_take(STORY, seed=3)
    found = takecheck.check(take.samples, take.rate, lines(added), "takes/act-1.wav")
    assert [(f.code, f.line) for f in found] == [("T001", 14)]
    assert take.ends[1] - 0.3 <= found[0].at <= take.starts[2] + 0.3


@pytest.mark.slow
@needs_voice
def test_validate_takes_hears_each_take_against_its_script(show_dir):
    """`podforge validate --takes`: a take with an ad-lib is a T002 finding at its line; exit 1."""
    import soundfile as sf

    from conftest import MINIMAL, podforge

    show, episode = show_dir, show_dir / "episodes" / "test-event"
    (episode / "takes").mkdir()
    (episode / "script.txt").write_text(MINIMAL.replace("A scene opens.", " ".join(STORY)),
                                        encoding="utf-8")
    assert podforge("validate", "--takes", cwd=show).exit_code == 0  # no takes: nothing heard
    take = make_take(STORY[:3] + [ADLIB] + STORY[3:], seed=2, gaps=(0.5, 0.9))
    sf.write(episode / "takes" / "cold-open.wav", take.samples, take.rate)
    result = podforge("validate", "--takes", cwd=show)
    assert result.exit_code == 1, result.output
    [finding] = [line for line in result.stdout.splitlines() if " T00" in line]
    assert re.search(r"script.txt:\d+:\d+: T002 warning: .*takes/cold-open.wav", finding)
    assert podforge("validate", cwd=show).exit_code == 0  # the script alone is clean
