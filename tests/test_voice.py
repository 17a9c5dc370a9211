"""The draft voice, with real espeak-ng synthesis (each test takes well under a second).

Word contract: a word is a run of text between whitespace, dashes (— – --) and ellipses (… ..),
with the quotes, brackets and stops around it stripped; inner apostrophes, hyphens, periods and
slashes stay ("señor’s", "well-known", "3.50"). `expected_words` below spells that out.
"""

import random
import re
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pipeline.audio import voice
from pipeline.errors import PodforgeError

pytestmark = pytest.mark.skipif(not voice.available(), reason="espeak-ng is not available")

TEXT = ("The lighthouse keeper climbed the stairs. Every night he lit the lamp. "
        "Ships passed safely by the rocks.")
SENTENCES = ["The lighthouse keeper climbed the stairs.", "Every night he lit the lamp.",
             "Ships passed safely by the rocks."]


def expected_words(text):
    return [w.strip(".,;:!?“”‘’\"'()¡¿") for w in re.split(r"\s+|—|–|--|…|\.\.+", text)
            if w.strip(".,;:!?“”‘’\"'()¡¿")]


def in_order(text, parts):
    """Each part is found in `text` after the previous one: real substrings, in order."""
    at = 0
    for part in parts:
        found = text.find(part, at)
        assert found >= 0, f"{part!r} not found after index {at}"
        at = found + len(part)


def f0(speech):
    """Dominant voice periodicity in Hz, from the autocorrelation over the whole clip."""
    x = speech.samples.astype(np.float64)
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[: len(x)]
    lo, hi = speech.sample_rate // 400, speech.sample_rate // 60
    return speech.sample_rate / (lo + int(np.argmax(ac[lo:hi])))


def test_speaks_audible_float32_at_a_plausible_length():
    speech = voice.speak(TEXT, wpm=160)
    assert speech.sample_rate == 22050
    assert speech.samples.dtype == np.float32 and speech.samples.ndim == 1
    assert len(speech.samples) > 0 and np.abs(speech.samples).max() <= 1.0
    assert np.sqrt(np.mean(speech.samples**2)) > 0.02
    expected = len(TEXT.split()) / 160 * 60
    assert expected / 1.6 < speech.duration < expected * 1.6


def test_words_are_the_input_words_in_order_and_contiguous():
    speech = voice.speak(TEXT)
    assert [w.text for w in speech.words] == expected_words(TEXT)
    in_order(TEXT, [w.text for w in speech.words])
    assert speech.words[0].start == 0.0
    for word, following in zip(speech.words, speech.words[1:]):
        assert word.start < word.end == following.start
    assert speech.words[-1].end <= speech.duration


def test_sentences_cover_the_text_in_order():
    speech = voice.speak(TEXT)
    assert [s.text for s in speech.sentences] == SENTENCES
    starts = [s.start for s in speech.sentences]
    assert starts == sorted(starts) and starts[0] == 0.0
    for sentence, following in zip(speech.sentences, speech.sentences[1:]):
        assert sentence.start < sentence.end <= following.start
    assert speech.sentences[-1].end <= speech.duration
    # Each sentence ends with its last word: the final one before the trailing pause.
    assert speech.sentences[-1].end == speech.words[-1].end < speech.duration


def test_rate_changes_duration():
    assert voice.speak(TEXT, wpm=120).duration > 1.4 * voice.speak(TEXT, wpm=220).duration


def test_the_same_text_gives_the_same_samples_whatever_was_said_before():
    # espeak-ng carries its pitch flutter's and roughness's phase from one utterance to the next.
    first = voice.speak(TEXT)
    voice.speak("Something else entirely, and said faster and higher!", wpm=220, pitch=80)
    again = voice.speak(TEXT)
    assert np.array_equal(first.samples, again.samples)
    assert first.words == again.words and first.sentences == again.sentences


def test_pitch_raises_the_voice_and_none_restores_the_default():
    default = f0(voice.speak(TEXT))
    assert f0(voice.speak(TEXT, pitch=90)) > 1.3 * f0(voice.speak(TEXT, pitch=10))
    assert f0(voice.speak(TEXT)) == pytest.approx(default, rel=0.1)


def test_non_ascii_positions_map_to_the_right_words():
    # The emoji is outside the BMP and the quotes, dashes and accents are multi-byte in UTF-8,
    # so a byte or UTF-16 offset would land every later word in the wrong place.
    text = ("😀 “Café au lait,” she said — naïve, señor’s niño… ¡Olé! "
            "It was—I swear—nothing. “Come back!”")
    speech = voice.speak(text)
    words = [w.text for w in speech.words]
    assert words == ["😀", "Café", "au", "lait", "she", "said", "naïve", "señor’s", "niño", "Olé",
                     "It", "was", "I", "swear", "nothing", "Come", "back"]
    assert words == expected_words(text)
    in_order(text, words)
    assert [s.text for s in speech.sentences] == [
        "😀 “Café au lait,” she said — naïve, señor’s niño… ¡Olé!",
        "It was—I swear—nothing.", "“Come back!”"]


def test_numbers_and_symbols_stay_one_word_each():
    # espeak voices "1,234" as several words; they must not become several Timed entries.
    text = "About 1,234 well-known cats cost $3.50 each."
    speech = voice.speak(text)
    assert [w.text for w in speech.words] == expected_words(text)
    assert len(speech.sentences) == 1


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_text(text):
    speech = voice.speak(text)
    assert speech.samples.dtype == np.float32 and len(speech.samples) == 0
    assert speech.words == () and speech.sentences == () and speech.duration == 0.0


@pytest.mark.slow
def test_long_text_gives_every_sentence():
    rng = random.Random(7)
    vocab = ("the quiet river ran past old stone houses where people once lived and worked "
             "through long winters").split()
    sentences = [" ".join(rng.choice(vocab) for _ in range(7)).capitalize() + "."
                 for _ in range(300)]
    text = " ".join(sentences)
    speech = voice.speak(text)
    assert [s.text for s in speech.sentences] == sentences
    assert [w.text for w in speech.words] == expected_words(text)
    starts = [s.start for s in speech.sentences]
    assert starts == sorted(starts) and speech.sentences[-1].end <= speech.duration


def test_concurrent_calls_do_not_mix():
    texts = [f"Voice number {n} says hello to listener {n}." for n in range(6)]
    results = {}

    def run(t):
        results[t] = voice.speak(t)

    threads = [threading.Thread(target=run, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for t in texts:
        assert [w.text for w in results[t].words] == expected_words(t)


def test_bad_settings_are_reported():
    with pytest.raises(PodforgeError, match="no voice"):
        voice.speak("Hello.", voice="no-such-voice")
    with pytest.raises(PodforgeError, match="wpm"):
        voice.speak("Hello.", wpm=20)
    assert [w.text for w in voice.speak("Hello there.").words] == ["Hello", "there"]


def test_missing_library_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(voice, "_lib", None)
    monkeypatch.setattr(voice, "_failure", None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import now fails
    with pytest.raises(PodforgeError, match="pip install espeakng-loader"):
        voice.speak("Hello.")
    assert not voice.available()


@given(st.integers(0, 40_000), st.lists(st.tuples(st.integers(0, 39_999),
                                                   st.integers(-400, 400)), max_size=5))
@settings(max_examples=200, deadline=None)
def test_the_audible_end_searched_from_the_end_is_the_last_loud_sample(n, loud):
    """The speech's end looked for a stretch at a time from the end equals the whole search."""
    ints = np.zeros(n, np.int16)
    for at, value in loud:
        if at < n:
            ints[at] = value
    found = np.flatnonzero((ints > voice._SILENCE) | (ints < -voice._SILENCE))
    assert voice._audible_end(ints) == (int(found[-1]) + 1 if len(found) else 0)
