"""Draft voice: espeak-ng speech with word and sentence timings.

A draft lets a producer hear the whole episode and place cues before anyone records. espeak-ng is
small, offline and about a thousand times faster than real time, and its synthesis events give
word and sentence timings for free, so nothing has to be aligned afterwards.
"""

from __future__ import annotations

import ctypes as C
import os
import re
import threading
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.errors import PodforgeError

if TYPE_CHECKING:
    import numpy as np

# From espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # without it, missing voice data makes espeak call exit()
_RATE, _PITCH = 1, 3
_POS_CHARACTER = 1
_CHARS_UTF8, _ENDPAUSE = 0x1, 0x1000
_EVENT_LIST_END, _EVENT_WORD, _EVENT_SENTENCE = 0, 1, 2
_BUFFER_MS = 500  # bigger buffers mean fewer Python callbacks; latency is irrelevant offline
_SILENCE = 8  # int16 magnitude below which the tail counts as silence


class _EventId(C.Union):
    _fields_ = [("number", C.c_int), ("name", C.c_char_p), ("string", C.c_char * 8)]


class _Event(C.Structure):
    """espeak_EVENT. Its `length` is unreliable (0 for a quoted word), so spans come from the text."""

    _fields_ = [("type", C.c_int), ("unique_identifier", C.c_uint),
                ("text_position", C.c_int),  # 1-based, counted in code points (verified)
                ("length", C.c_int),
                ("audio_position", C.c_int),  # ms; `sample` is the same instant, in samples
                ("sample", C.c_int), ("user_data", C.c_void_p), ("id", _EventId)]


class _Voice(C.Structure):
    """espeak_VOICE; `languages` is (priority byte, NUL-terminated code) pairs ending in 0."""

    _fields_ = [("name", C.c_char_p), ("languages", C.c_void_p), ("identifier", C.c_char_p),
                ("gender", C.c_ubyte), ("age", C.c_ubyte), ("variant", C.c_ubyte),
                ("xx1", C.c_ubyte), ("score", C.c_int), ("spare", C.c_void_p)]


_CALLBACK = C.CFUNCTYPE(C.c_int, C.POINTER(C.c_short), C.c_int, C.POINTER(_Event))


@dataclass(frozen=True)
class Timed:
    start: float  # seconds from the start of this Speech
    end: float
    text: str  # the exact substring of the input text


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no truth value, so compare by identity
class Speech:
    samples: np.ndarray  # float32, mono, in [-1, 1]
    sample_rate: int
    words: tuple[Timed, ...]
    sentences: tuple[Timed, ...]

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


# espeak-ng is one global C state: every call into it holds _lock.
_lock = threading.Lock()
_lib = None
_sample_rate = 0
_failure: PodforgeError | None = None  # a failed initialisation is not retried
_callback = None  # espeak keeps a raw pointer to this thunk; it must never be collected
_pcm: list[bytes] = []
_events: list[tuple[int, int, int]] = []  # (type, 0-based text index, sample)


_interrupted: list[BaseException] = []  # Ctrl-C inside the callback, raised once espeak returns


def _on_synth(wav, numsamples, events):
    """espeak's callback. An exception cannot cross the C frames (ctypes would print it and
    drop it, losing a Ctrl-C), so it is kept, and returning 1 tells espeak to stop."""
    try:
        _collect(wav, numsamples, events)
    except BaseException as exc:  # KeyboardInterrupt, mostly
        _interrupted.append(exc)
        return 1
    return 0


def _collect(wav, numsamples, events):
    if numsamples > 0:
        _pcm.append(C.string_at(wav, numsamples * 2))
    i = 0
    while events and events[i].type != _EVENT_LIST_END:
        event = events[i]
        if event.type in (_EVENT_WORD, _EVENT_SENTENCE):
            _events.append((event.type, event.text_position - 1, event.sample))
        i += 1
    return None


def _load():
    """Initialise espeak-ng on first use, so importing podforge never needs it. Hold _lock."""
    global _lib, _sample_rate, _failure, _callback
    if _lib is not None:
        return _lib
    if _failure is not None:
        raise _failure
    hint = "the espeak-ng library and its voice data come from `pip install espeakng-loader`"
    try:
        import espeakng_loader

        lib = C.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path()
        lib.espeak_Initialize.argtypes = [C.c_int, C.c_int, C.c_char_p, C.c_int]
        lib.espeak_SetVoiceByName.argtypes = [C.c_char_p]
        lib.espeak_SetParameter.argtypes = [C.c_int, C.c_int, C.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_Synth.argtypes = [C.c_char_p, C.c_size_t, C.c_uint, C.c_int, C.c_uint,
                                     C.c_uint, C.c_void_p, C.c_void_p]
    except (ImportError, OSError, RuntimeError, AttributeError) as exc:
        _failure = PodforgeError(f"draft voice: cannot load espeak-ng ({exc}); {hint}")
        raise _failure from exc
    # The path names the directory holding espeak-ng-data (the data dir itself also works).
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS,
                                 os.fsencode(os.path.dirname(data)), _INITIALIZE_DONT_EXIT)
    if rate <= 0:
        _failure = PodforgeError(f"draft voice: espeak-ng failed to initialise with the voice data "
                                 f"in {data} (reinstall it); {hint}")
        raise _failure
    _callback = _CALLBACK(_on_synth)
    lib.espeak_SetSynthCallback(_callback)
    _lib, _sample_rate = lib, rate
    return lib


# espeak-ng keeps function statics in wavegen.c from one utterance to the next that no API call
# resets (not even espeak_Terminate): the phase of the pitch flutter (Flutter_ix, which moves where
# voiced stretches end) and of the roughness modulation (cycle_count). The same text then came out
# a few samples different after other text, so a draft build depended on what its worker had said
# before. speak() therefore closes the library after each utterance and the next loads it afresh:
# about 5 ms a call (load 1.0 ms, espeak listing its voices again 4.0), a few per cent of a
# paragraph's synthesis.
def _unload():
    """Close the library, so that the next call loads it afresh, statics and all. Hold _lock."""
    global _lib
    import _ctypes

    _lib.espeak_Terminate()
    (getattr(_ctypes, "dlclose", None) or _ctypes.FreeLibrary)(_lib._handle)
    _lib = None


def available() -> bool:
    """Whether the draft voice can speak here: benchmarks and tests say so instead of failing."""
    try:
        with _lock:
            _load()
    except PodforgeError:
        return False
    return True


_voices: dict[str, str] | None = None
MIN_WPM, MAX_WPM = 80, 450


def voices() -> dict[str, str]:
    """Every spelling espeak-ng knows a voice by → the identifier it loads it by.

    A voice answers to its identifier ("gmw/en"), its file name ("en-us"), its name ("English
    (Great Britain)") and its language code ("en-gb"); espeak_SetVoiceByName alone knows only
    the first three, which is why "en-gb" used to be refused.
    """
    global _voices
    with _lock:
        if _voices is None:
            lib = _load()
            lib.espeak_ListVoices.restype = C.POINTER(C.POINTER(_Voice))
            lib.espeak_ListVoices.argtypes = [C.c_void_p]
            found: dict[str, str] = {}
            listed = lib.espeak_ListVoices(None)
            i = 0
            while listed[i]:
                v = listed[i].contents
                ident = v.identifier.decode()
                languages, at = [], v.languages
                while at and C.string_at(at, 1) != b"\0":
                    code = C.string_at(at + 1)
                    languages.append(code.decode().lower())
                    at += 2 + len(code)
                for key in (ident, ident.rsplit("/", 1)[-1].lower(), v.name.decode().lower(),
                            *languages[:1]):
                    found.setdefault(key, ident)
                i += 1
            _voices = found
        return _voices


def voice_id(name: str) -> str | None:
    """The identifier of the voice `name` names, or None if espeak-ng has no such voice. A
    variant after `+` (en+m3, en-gb+Mike) is kept: espeak-ng applies it to the voice."""
    base, plus, variant = name.partition("+")
    known = voices()
    ident = known.get(base) or known.get(base.lower())
    return ident + plus + variant if ident else None


def output_rate() -> int:
    """The rate espeak-ng speaks at (it has one): draft narration is kept at it."""
    with _lock:
        _load()
        return _sample_rate


def speak(text: str, *, voice: str = "en-us", wpm: int = 160, pitch: int | None = None) -> Speech:
    """Synthesize `text` (UTF-8, any punctuation/quotes/dashes/unicode) with espeak-ng."""
    import numpy as np  # here: listing voices (show.yaml's check) needs no numpy

    if not MIN_WPM <= wpm <= MAX_WPM:
        raise PodforgeError(f"draft voice: wpm {wpm} is outside espeak-ng's range "
                            f"{MIN_WPM}–{MAX_WPM}")
    ident = voice_id(voice)
    if ident is None:
        raise PodforgeError(f"draft voice: espeak-ng has no voice {voice!r} (try 'en-us')")
    if pitch is not None and not 0 <= pitch <= 100:
        raise PodforgeError(f"draft voice: pitch {pitch} is outside espeak-ng's range 0–100")
    with _lock:
        lib = _load()
        rate = _sample_rate
        if not text.strip():
            return Speech(np.zeros(0, np.float32), rate, (), ())
        if lib.espeak_SetVoiceByName(ident.encode()) != 0:
            raise PodforgeError(f"draft voice: espeak-ng has no voice {voice!r} (try 'en-us')")
        lib.espeak_SetParameter(_RATE, int(wpm), 0)
        lib.espeak_SetParameter(_PITCH, 50 if pitch is None else int(pitch), 0)  # 50 = voice default
        # One byte for NUL and for unencodable code points keeps positions counting code points.
        data = text.replace("\0", " ").encode("utf-8", "replace")
        try:
            status = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0,
                                      _CHARS_UTF8 | _ENDPAUSE, None, None)
            pcm, events = b"".join(_pcm), list(_events)
            if _interrupted:
                raise _interrupted[0]
        finally:
            _pcm.clear()
            _events.clear()
            _interrupted.clear()
            _unload()  # the same text, the same samples, whatever came before
    if status != 0:
        raise PodforgeError(f"draft voice: espeak-ng failed to synthesize (error {status})")
    ints = np.frombuffer(pcm, np.int16)
    speech_end = _audible_end(ints)
    words, sentences = _timings(text, events, len(ints), speech_end)
    samples = ints.astype(np.float32)
    samples *= np.float32(1 / 32768)  # exact: a power of two
    return Speech(samples, rate,
                  tuple(Timed(s / rate, e / rate, t) for s, e, t in words),
                  tuple(Timed(s / rate, e / rate, t) for s, e, t in sentences))


def _audible_end(ints) -> int:
    """Where the last sample above _SILENCE ends (0: none), looked for from the end a growing
    stretch at a time: only the pause after the speech is read, not the whole utterance."""
    import numpy as np

    end, size = len(ints), 4096
    while end > 0:
        start = max(0, end - size)
        tail = ints[start:end]
        loud = np.flatnonzero((tail > _SILENCE) | (tail < -_SILENCE))
        if len(loud):
            return start + int(loud[-1]) + 1
        end, size = start, size * 4
    return 0


# Words are split at whitespace, dashes and ellipses, which espeak voices as separate words even
# without spaces ("was—I"); hyphens, slashes and periods inside a word ("well-known", "3.50") keep
# it whole, since espeak may voice one such word as several (numbers) or as one ("well-known").
_BREAK = re.compile(r"[\s\u2013\u2014\u2015\u2026]+|--+|\.\.+")
_SPOKEN_SYMBOLS = "%#&@"


def _silent(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P") and ch not in _SPOKEN_SYMBOLS


def _chunks(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for m in _BREAK.finditer(text):
        if m.start() > pos:
            spans.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    return spans


def _timings(text, events, total, speech_end):
    """Word and sentence (start, end, text), times in samples, from espeak's events and the text."""
    chunks = _chunks(text)
    chunk_starts = [start for start, _ in chunks]

    def chunk_at(index):
        i = bisect_right(chunk_starts, index) - 1
        return i if i >= 0 and index < chunks[i][1] else None

    # A chunk's first word event starts its word. Later events in it are the extra words espeak
    # makes of numbers and symbols; events in whitespace belong to the word being spoken (a
    # two-word emoji name reports its second word at the following space).
    words, last_chunk = [], -1  # (text index, start sample, text)
    for kind, index, sample in events:
        i = chunk_at(index)
        if kind != _EVENT_WORD or i is None or i <= last_chunk:
            continue
        start, end = chunks[i]
        while start < end and _silent(text[start]):  # quotes, brackets and stops are not heard
            start += 1
        while end > start and _silent(text[end - 1]):
            end -= 1
        if start < end:
            at = min(max(sample, words[-1][1] if words else 0), total)
            words.append((start, at, text[start:end]))
            last_chunk = i
    ends = [w[1] for w in words[1:]] + ([max(words[-1][1], speech_end)] if words else [])

    # A sentence runs from its SENTENCE event's position to the next one's, so sentences cover
    # the text; an opening quote or ¡ before the reported position belongs to the sentence.
    marks = []  # (text index, start sample)
    for kind, index, sample in events:
        if kind != _EVENT_SENTENCE:
            continue
        i = chunk_at(index)
        if i is not None and all(_silent(ch) for ch in text[chunks[i][0]:index]):
            index = chunks[i][0]
        if not marks:
            index = 0
        elif index <= marks[-1][0]:
            continue
        marks.append((index, min(max(sample, marks[-1][1] if marks else 0), total)))
    if words and not marks:
        marks = [(0, 0)]
    sentences, w = [], 0
    for k, (begin, start) in enumerate(marks):
        stop, next_start = marks[k + 1] if k + 1 < len(marks) else (len(text), total)
        end = start
        while w < len(words) and words[w][0] < stop:  # each ends where its last word does
            end = max(end, ends[w])
            w += 1
        if text[begin:stop].strip():
            sentences.append((start, min(end, next_start), text[begin:stop].strip()))
    return [(start, end, t) for (_, start, t), end in zip(words, ends)], sentences
