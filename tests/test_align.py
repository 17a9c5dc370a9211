"""Forced alignment of recorded takes against takes synthesised with known sentence starts."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

from pipeline.audio import align

from pipeline.audio import decode as audio

from pipeline.audio import encode

from pipeline.audio import voice
from pipeline.audio.align import Alignment, Sentence, Word
from pipeline.build.transcript import MAX_CUE_SECONDS, split_long as split_lines
from pipeline.model import TimedLine as Line
from takes import STORY, make_take, needs_voice




def start_errors(result: Alignment, take) -> np.ndarray:
    return np.abs(np.array([s.start for s in result.sentences]) - np.array(take.starts))


# --- the spoken form of written words (pure) ------------------------------------------------

def test_numbers_dates_and_money_are_read_as_spoken():
    said = {w.text: w.readings for w in align.spoken_words(
        "On January 15th, 1919, it cost $3.50 — 40% more than in the 1920s; 1,200 came in 2008.")}
    assert said["15th"][0] == ("fifteenth",)
    assert said["1919"][0] == ("nineteen", "nineteen")
    assert ("nineteen", "hundred", "and", "nineteen") in said["1919"]
    assert said["$3.50"][0] == ("three", "dollars", "fifty", "cents")
    assert ("three", "fifty") in said["$3.50"]
    assert said["40%"][0] == ("forty", "percent")
    assert said["1920s"][0] == ("nineteen", "twenties")
    assert said["1,200"][0] == ("one", "thousand", "two", "hundred")
    assert said["2008"][0] == ("two", "thousand", "eight")
    assert align.year(1905) == ["nineteen", "oh", "five"] and align.year(1900) == ["nineteen", "hundred"]
    assert align.ordinal(21) == ["twenty", "first"] and align.ordinal(12) == ["twelfth"]


def test_punctuation_quotes_hyphens_and_abbreviations():
    words = align.spoken_words("Mr. O’Brien’s “well-known” shop—the U.S. one… closed.")
    assert [w.text for w in words] == ["Mr", "O’Brien’s", "well-known", "shop", "the", "U.S",
                                       "one", "closed"]
    tokens = [w.tokens for w in words]
    assert tokens[0] == ("mister",) and tokens[1] == ("o'brien's",)
    assert tokens[2] == ("well", "known") and tokens[5] == ("u", "s")


@needs_voice
def test_names_get_a_pronunciation_from_letter_to_sound():
    phones = align.letter_to_sound("Zorbulon").split()
    assert phones[0] == "Z" and "B" in phones and phones[-1] == "N"
    assert set(phones) <= set(align._IPA_PHONES)


# --- results, cache form, lines and pauses (pure) -------------------------------------------

def _sentence(text, times):
    words = tuple(Word(t, a, b) for t, (a, b) in zip(align.spoken_words(text), times))
    words = tuple(Word(w.text.text if hasattr(w.text, "text") else w.text, w.start, w.end)
                  for w in words)
    return Sentence(text, words[0].start, words[-1].end, words)


def test_to_dict_round_trips_and_damage_is_a_value_error():
    import json

    s1 = _sentence("One two three.", [(0.5, 0.8), (0.8, 1.1), (1.1, 1.6)])
    s2 = _sentence("Four five.", [(2.4, 2.8), (2.8, 3.3)])
    result = Alignment((s1, s2), s1.words + s2.words, "aligned")
    again = Alignment.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    broken = result.to_dict()
    broken["sentences"][1][3] = 5
    with pytest.raises(ValueError):
        Alignment.from_dict(broken)
    assert result.shifted(10).sentences[1].start == pytest.approx(12.4)


def test_long_sentences_split_at_recorded_word_times_not_character_share():
    # 24 words; the speaker races through the first half and drags the second with a pause.
    text = " ".join(f"word{i}," if i == 15 else f"word{i}" for i in range(24)) + "."
    times = [(i * 0.25, i * 0.25 + 0.2) for i in range(16)]
    times += [(6.0 + i * 0.8, 6.0 + i * 0.8 + 0.6) for i in range(8)]
    s = Sentence(text, 0.0, times[-1][1], tuple(Word(w.text, a, b) for w, (a, b) in
                                                zip(align.spoken_words(text), times)))
    lines = align.split_long([s], speaker="Ann")
    assert len(lines) >= 2 and all(isinstance(line, Line) for line in lines)
    word_times = {round(w.start, 3) for w in s.words} | {round(w.end, 3) for w in s.words}
    assert all(line.start in word_times and line.end in word_times for line in lines)
    assert lines[0].text.startswith("word0") and lines[-1].text.endswith("word23.")
    assert " ".join(line.text for line in lines) == text  # punctuation kept
    assert lines[0].end == pytest.approx(times[15][1])  # the real pause after "word15,"
    # The estimate rule (no word times) is the same function, so a plain line still splits.
    plain = split_lines([Line(0, 20, " ".join(["word"] * 60))])
    assert len(plain) >= 3 and plain[-1].end == pytest.approx(20)
    assert all(line.end - line.start <= MAX_CUE_SECONDS + 1e-6 for line in plain)


def test_pauses_are_the_gaps_between_recorded_words():
    words = [Word("a", 0.0, 0.4), Word("b", 0.45, 0.9), Word("c", 1.7, 2.0), Word("d", 2.0, 2.3)]
    assert align.pauses(words) == [align.Pause(0.9, 1.7, 1)]
    assert align.pause_after(words, 1) == align.Pause(0.9, 1.7, 1)
    assert align.pause_after(words, 2) == align.Pause(2.0, 2.0, 2)


# --- real alignment ---------------------------------------------------------------------------

@needs_voice
@pytest.mark.slow
@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_sentence_starts_in_a_reverberant_noisy_take(rate):
    take = make_take(STORY, rate=rate, seed=rate)
    result = align.align(take.samples, take.rate, STORY, segment="act-1")
    assert result.method == "aligned" and result.warning is None
    errors = start_errors(result, take)
    assert np.median(errors) <= 0.1 and errors.max() <= 0.25
    assert [s.text for s in result.sentences] == STORY
    assert len(result.words) == sum(len(s.split()) for s in STORY)
    # Aligning beats the estimate it replaces.
    estimated = align.estimate(take.samples, take.rate, STORY)
    assert np.median(start_errors(estimated, take)) > np.median(errors)
    # Each recorded pause between sentences is found where the take has it.
    gaps = align.pauses(result.words, 0.25)
    assert len(gaps) == len(STORY) - 1
    for p, start in zip(gaps, take.starts[1:]):
        assert abs(p.end - start) <= 0.15


@needs_voice
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["flac", "mp3"])
def test_takes_read_from_flac_and_mp3(tmp_path, kind):
    take = make_take(STORY[:3], rate=44100, seed=7)
    path = tmp_path / f"take.{kind}"
    if kind == "flac":
        sf.write(path, take.samples, take.rate)
    else:
        wav = tmp_path / "take.wav"
        sf.write(wav, take.samples, take.rate)
        subprocess.run([encode.find_ffmpeg(), "-loglevel", "error", "-y", "-i", str(wav),
                        "-b:a", "128k", str(path)], check=True)
    samples = np.concatenate(list(audio.read_blocks(path, 48000, 1, 1 << 18)))[:, 0]
    result = align.align(samples, 48000, STORY[:3])
    errors = start_errors(result, take)
    assert result.method == "aligned" and np.median(errors) <= 0.1 and errors.max() <= 0.25


@needs_voice
@pytest.mark.slow
def test_out_of_vocabulary_year_ordinal_and_invented_name_align():
    text = ["On the 23rd of March, 1847, Zorbulon Quexley sailed north.",
            "Captain Vandersloot never saw him again."]
    take = make_take(text, seed=3)
    result = align.align(take.samples, take.rate, text)
    assert result.method == "aligned"
    assert np.median(start_errors(result, take)) <= 0.1
    words = {w.text: w for w in result.words}
    truth = {w.text: w for w in voice.speak(text[0]).words}
    offset = take.starts[0] - voice.speak(text[0]).words[0].start
    for name in ("23rd", "1847", "Zorbulon", "Quexley"):
        assert words[name].end > words[name].start
        assert abs(words[name].start - (truth[name].start + offset)) <= 0.15, name


@needs_voice
def test_an_unsupported_language_or_a_take_of_something_else_falls_back_with_a_warning():
    take = make_take(STORY[:2], reverb=False)
    french = align.align(take.samples, take.rate, STORY[:2], language="fr", segment="act-2")
    assert french.method == "estimated"
    assert "act-2" in french.warning and "'fr'" in french.warning
    assert [s.text for s in french.sentences] == STORY[:2]
    assert all(a.start <= b.start for a, b in zip(french.words, french.words[1:]))
    noise = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.01
    short = align.align(noise, 16000, STORY, segment="cold-open")
    assert short.method == "estimated" and "cold-open" in short.warning
    assert align.align(np.zeros(0, np.float32), 16000, STORY).method == "estimated"


def test_cache_key_depends_on_samples_rate_text_and_language():
    x = np.zeros(100, np.float32)
    key = align.cache_key(x, 16000, ["A."])
    assert key == align.cache_key(x.copy(), 16000, ["A."])
    y = x.copy()
    y[5] = 0.1
    assert len({key, align.cache_key(y, 16000, ["A."]), align.cache_key(x, 22050, ["A."]),
                align.cache_key(x, 16000, ["B."]), align.cache_key(x, 16000, ["A."], "fr")}) == 5


@needs_voice
@pytest.mark.slow
def test_a_long_take_is_aligned_window_by_window(monkeypatch):
    # The windowed path, made to run on a minute-long take by shrinking its thresholds.
    monkeypatch.setattr(align, "LONG_TAKE", 10.0)
    monkeypatch.setattr(align, "WINDOW", 12.0)
    story = STORY * 3
    take = make_take(story, voice_name="en+Mike", seed=11)
    result = align.align(take.samples, take.rate, story)
    assert result.method == "aligned" and len(result.sentences) == len(story)
    errors = start_errors(result, take)
    assert np.median(errors) <= 0.1 and np.percentile(errors, 95) <= 0.25
    assert all(a.end <= b.start + 1e-6 for a, b in zip(result.sentences, result.sentences[1:]))


ADLIB = "I remember my grandmother telling me about this when I was small."


@needs_voice
@pytest.mark.slow
def test_sentences_after_an_adlib_are_aligned_again_from_where_they_were_heard():
    """One grammar has nowhere to put speech its text lacks: the sentences after an ad-lib came
    out 4 and 5.7 s early. Aligned again from where the recogniser heard them start, every
    sentence starts within 0.1 s of where it was said, and those before it are untouched."""
    from pipeline.audio import onetake, takecheck

    take = make_take(STORY[:3] + [ADLIB] + STORY[3:], seed=2, gaps=(0.5, 0.9))
    truth = take.starts[:3] + take.starts[4:]
    first = align.align(take.samples, take.rate, STORY)
    assert min(abs(s.start - t) for s, t in zip(first.sentences[3:], truth[3:])) > 2
    heard = takecheck.recognize(take.samples, take.rate, STORY)
    fixed = align.repaired(take.samples, take.rate, first, onetake.heard_starts(STORY, heard))
    assert all(abs(s.start - t) < 0.1 for s, t in zip(fixed.sentences, truth))
    assert fixed.sentences[:3] == first.sentences[:3]
    assert fixed.words == tuple(w for s in fixed.sentences for w in s.words)
    assert [s.text for s in fixed.sentences] == STORY


@needs_voice
@pytest.mark.slow
def test_a_take_read_as_written_keeps_its_alignment():
    from pipeline.audio import onetake, takecheck

    take = make_take(STORY, seed=3, voice_name="en-us+m3")
    first = align.align(take.samples, take.rate, STORY)
    heard = takecheck.recognize(take.samples, take.rate, STORY)
    assert align.repaired(take.samples, take.rate, first,
                          onetake.heard_starts(STORY, heard)) is first
