"""Forced alignment: where each word and sentence of a segment's text falls in a recorded take.

A take is the truth about timing: transcripts, chapter marks and cues placed between paragraphs
should follow what the narrator did, not a words-per-minute guess. pocketsphinx (offline, its
wheel ships an English acoustic model and dictionary) aligns the text to 16 kHz audio; words the
dictionary lacks are spelled out (numbers, dates, money) or given espeak-ng's pronunciation
(names). When alignment cannot run or fails, the word-count estimate is returned with a
warning, never an exception: a take must always build.
"""

from __future__ import annotations

import ctypes as C
import hashlib
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
            "nine": "ninth", "twelve": "twelfth"}
_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "st": "saint",
                  "jr": "junior", "sr": "senior", "vs": "versus", "etc": "et cetera",
                  "mt": "mount", "ft": "fort", "gen": "general",
                  "capt": "captain", "col": "colonel", "lt": "lieutenant", "sgt": "sergeant",
                  "prof": "professor", "jan": "january", "feb": "february", "mar": "march",
                  "apr": "april", "jun": "june", "jul": "july", "aug": "august",
                  "sep": "september", "sept": "september", "oct": "october", "nov": "november",
                  "dec": "december"}
_SYMBOLS = {"&": "and", "%": "percent", "@": "at", "+": "plus", "#": "number"}
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
             "€": ("euro", "euros", "cent", "cents")}


def cardinal(n: int) -> list[str]:
    """0 → ["zero"], 1234 → ["one", "thousand", "two", "hundred", "thirty", "four"]."""
    if n < 0:
        return ["minus", *cardinal(-n)]
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        tens, ones = divmod(n, 10)
        return [_TENS[tens]] + ([_ONES[ones]] if ones else [])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return [_ONES[hundreds], "hundred"] + (cardinal(rest) if rest else [])
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return cardinal(high) + [name] + (cardinal(rest) if rest else [])
    raise AssertionError(n)


def ordinal(n: int) -> list[str]:
    """15 → ["fifteenth"], 21 → ["twenty", "first"]."""
    words = cardinal(n)
    last = words[-1]
    if last in _ORDINAL:
        last = _ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return words[:-1] + [last]


def year(n: int) -> list[str]:
    """How a year is read: 1919 → nineteen nineteen, 1905 → nineteen oh five, 2008 → two
    thousand eight, 1900 → nineteen hundred."""
    if not 1000 <= n <= 9999 or 2000 <= n <= 2009:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return cardinal(high) + ["hundred"]
    return cardinal(high) + (["oh"] if low < 10 else []) + cardinal(low)


def _decimal(digits: str) -> list[str]:
    return [_ONES[int(d)] for d in digits]


_NUMBER = re.compile(r"^(?P<cur>[$£€])?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
                     r"(?P<suffix>st|nd|rd|th|s|'s|’s|%)?$", re.IGNORECASE)


def number_words(token: str, *, as_year: bool = True) -> list[str] | None:
    """A written number ("1919", "15th", "$3.50", "1,200", "40%", "1920s") as spoken words, or None."""
    m = _NUMBER.match(token)
    if not m:
        return None
    digits, frac, cur = m["int"].replace(",", ""), m["frac"], m["cur"]
    suffix = (m["suffix"] or "").lower().replace("’", "'")
    n = int(digits)
    if suffix in ("st", "nd", "rd", "th"):
        return ordinal(n)
    yearish = as_year and len(digits) == 4 and "," not in m["int"] and not cur and not frac \
        and 1000 <= n <= 2099
    words = year(n) if yearish else cardinal(n)
    if suffix == "s":  # decades: "1920s", "90s"
        last = words[-1]
        words[-1] = last[:-1] + "ies" if last.endswith("y") else last + "s"
        return words
    if cur:
        one, many, small_one, small_many = _CURRENCY[cur]
        words += [one if n == 1 else many]
        if frac:
            cents = int((frac + "0")[:2])
            if cents:
                words += cardinal(cents) + [small_one if cents == 1 else small_many]
        return words
    if frac:
        words += ["point", *_decimal(frac)]
    if suffix == "%":
        words.append("percent")
    return words


def _with_and(words: list[str]) -> list[str]:
    """The British "and": one hundred and twenty, two thousand and eight."""
    out = []
    for i, word in enumerate(words):
        out.append(word)
        if word in ("hundred", "thousand") and i + 1 < len(words) and words[i + 1] not in (
                "thousand", "million", "billion", "dollars", "pounds", "euros", "percent", "point"):
            if word == "hundred" or "hundred" not in words[i + 1:]:
                out.append("and")
    return out


def number_readings(token: str) -> list[list[str]] | None:
    """Every common way to read a written number, the most likely first ("1919": nineteen
    nineteen, nineteen hundred and nineteen, one thousand nine hundred nineteen…)."""
    main = number_words(token)
    if main is None:
        return None
    readings = [main]
    m = _NUMBER.match(token.translate(_PLAIN))
    n = int(m["int"].replace(",", ""))
    if not m["suffix"] and main != number_words(token, as_year=False):
        readings.append(number_words(token, as_year=False))
        high, low = divmod(n, 100)
        if low and n < 10000:
            readings.append(cardinal(high) + ["hundred"] + cardinal(low))
    if m["cur"] and m["frac"] and int((m["frac"] + "0")[:2]):  # "$3.50": three fifty
        cents = cardinal(int((m["frac"] + "0")[:2]))
        readings.append(cardinal(n) + cents)
        readings.append(main[:-1])  # without "cents"
        readings.append(main[:len(cardinal(n)) + 1] + ["and"] + main[len(cardinal(n)) + 1:])
    for reading in list(readings):
        readings.append(_with_and(reading))
    unique = []
    for reading in readings:
        if reading not in unique:
            unique.append(reading)
    return unique


@dataclass(frozen=True)
class SpokenWord:
    """A word as the script writes it and the ways a narrator may say it (the first likeliest)."""

    text: str  # the script's word, quotes and stops stripped
    readings: tuple[tuple[str, ...], ...]  # lowercase tokens, ASCII apostrophes

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.readings[0]


# Word breaks follow pipeline.audio.voice: whitespace, dashes and ellipses.
_BREAK = re.compile(r"[\s\u2013\u2014\u2015\u2026/]+|--+|\.\.+")
_PLAIN = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "“": '"', "”": '"', "„": '"',
                        "‐": "-", "‑": "-"})


def _silent(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PZ" and ch not in "%#&@'" or ch in "'\""


def _strip(word: str) -> str:
    start, end = 0, len(word)
    while start < end and (_silent(word[start]) and word[start] != "$"):
        start += 1
    while end > start and _silent(word[end - 1]):
        end -= 1
    return word[start:end]


def _fold(token: str) -> str:
    """Accents off, lowercase: "Tomás" → "tomas" (the letter-to-sound rules get the original)."""
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _tokens(word: str) -> list[str]:
    plain = word.translate(_PLAIN)
    if (said := number_words(plain)) is not None:
        return said
    if plain in _SYMBOLS:
        return [_SYMBOLS[plain]]
    bare = plain.rstrip(".").lower()
    if plain.endswith(".") and bare in _ABBREVIATIONS:
        return _ABBREVIATIONS[bare].split()
    if re.fullmatch(r"(?:[A-Za-z]\.){2,}", plain):  # initialisms: "U.S." → the letters
        return [ch.lower() for ch in plain if ch.isalpha()]
    out = []
    for part in re.split(r"(?<=\D)-|-(?=\D)", plain):  # "well-known" → two words, "1-2" kept
        part = part.strip(".,;:!?\"()[]{}'")
        if not part:
            continue
        if (said := number_words(part)) is not None:
            out += said
            continue
        pieces = re.split(r"([%&@+#$£€])", part)
        for piece in pieces:
            piece = piece.strip(".")
            if not piece:
                continue
            if piece in _SYMBOLS:
                out.append(_SYMBOLS[piece])
            elif piece in _CURRENCY:
                out.append(_CURRENCY[piece][1])
            elif (said := number_words(piece)) is not None:
                out += said
            elif any(ch.isalnum() for ch in piece):
                out.append(piece.lower())
    return out


def spoken_words(text: str) -> list[SpokenWord]:
    """The words of `text` in order, each with what is said for it."""
    out = []
    for chunk in _BREAK.split(text):
        word = _strip(chunk)
        if word and any(ch.isalnum() or ch in _SYMBOLS for ch in word):
            dots = len(chunk.rstrip("\"'”’)]}")) - len(chunk.rstrip("\"'”’)]}").rstrip("."))
            said = word + "." * min(dots, 1) if not word.endswith(".") else word
            readings = number_readings(said.rstrip(".")) or [_tokens(said)]
            out.append(SpokenWord(word, tuple(tuple(r) for r in readings)))
    return out


def fold(token: str) -> str:
    """The dictionary form of a spoken token (no accents, lowercase)."""
    return _fold(token)


# ---------------------------------------------------------------------------------------------
# Results

ALIGNER = "pocketsphinx-2"  # part of the cache key: bump when results would change
RATE = 16000  # the acoustic model's rate
FRAME = 0.01  # seconds per pocketsphinx frame
LONG_TAKE = 240.0  # seconds: longer takes are aligned window by window


@dataclass(frozen=True)
class Word:
    text: str  # the script's word ("15th", "Tomás"), quotes and stops stripped
    start: float  # seconds from the start of the take
    end: float


@dataclass(frozen=True)
class Sentence:
    text: str
    start: float
    end: float
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Pause:
    """Silence in the take between words[after] and words[after + 1]."""

    start: float
    end: float
    after: int


@dataclass(frozen=True)
class Alignment:
    sentences: tuple[Sentence, ...]
    words: tuple[Word, ...]
    method: str  # "aligned" (from the audio) or "estimated" (word count over the voiced time)
    warning: str | None = None

    def to_dict(self) -> dict:
        """JSON-able; words are stored once, sentences point at them by count."""
        return {"method": self.method, "warning": self.warning,
                "words": [[w.text, w.start, w.end] for w in self.words],
                "sentences": [[s.text, s.start, s.end, len(s.words)] for s in self.sentences]}

    @classmethod
    def from_dict(cls, data: dict) -> Alignment:
        """The inverse of to_dict; a damaged entry raises ValueError (the caller re-aligns)."""
        try:
            words = tuple(Word(str(t), float(a), float(b)) for t, a, b in data["words"])
            sentences, at = [], 0
            for text, start, end, count in data["sentences"]:
                sentences.append(Sentence(str(text), float(start), float(end),
                                          words[at:at + int(count)]))
                at += int(count)
            if at != len(words) or data["method"] not in ("aligned", "estimated"):
                raise ValueError("sentences and words disagree")
            return cls(tuple(sentences), words, data["method"], data.get("warning"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an alignment: {exc}") from None

    def shifted(self, seconds: float) -> Alignment:
        """The same alignment with every time moved by `seconds` (a segment cut from a longer take)."""
        def move(w):
            return Word(w.text, round(w.start + seconds, 3), round(w.end + seconds, 3))
        return Alignment(tuple(Sentence(s.text, round(s.start + seconds, 3),
                                        round(s.end + seconds, 3), tuple(move(w) for w in s.words))
                               for s in self.sentences),
                         tuple(move(w) for w in self.words), self.method, self.warning)


def cache_key(samples: np.ndarray, rate: int, sentences: Sequence[str], language: str = "en") -> str:
    """What an alignment depends on: the take's samples and rate, the text, the language."""
    h = hashlib.sha256(f"{ALIGNER}\0{rate}\0{language}\0".encode())
    h.update("\0".join(sentences).encode("utf-8"))
    h.update(np.ascontiguousarray(samples, dtype="<f4").tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Pronunciations: the dictionary, else espeak-ng's letter-to-sound rules mapped to ARPAbet

_IPA = {"aɪ": "AY", "aɪə": "AY ER", "aɪɚ": "AY ER", "aʊ": "AW", "b": "B", "d": "D", "dʒ": "JH",
        "eɪ": "EY", "f": "F", "h": "HH", "i": "IY", "iə": "IY AH", "iː": "IY", "j": "Y", "k": "K",
        "l": "L", "m": "M", "n": "N", "n̩": "AH N", "oʊ": "OW", "p": "P", "s": "S", "t": "T",
        "tʃ": "CH", "uː": "UW", "u": "UW", "v": "V", "w": "W", "x": "K", "z": "Z", "æ": "AE",
        "ð": "DH", "ŋ": "NG", "ɐ": "AH", "ɑː": "AA", "ɑ": "AA", "ɑːɹ": "AA R", "ɔ": "AO",
        "ɔɪ": "OY", "ɔː": "AO", "ɔːɹ": "AO R", "ə": "AH", "əl": "AH L", "ɚ": "ER", "ɛ": "EH",
        "ɛɹ": "EH R", "ɜː": "ER", "ɜ": "ER", "ɡ": "G", "g": "G", "ɪ": "IH", "ɪɹ": "IH R",
        "ɹ": "R", "r": "R", "ɾ": "D", "ʃ": "SH", "ʊ": "UH", "ʊɹ": "UH R", "ʌ": "AH", "ʒ": "ZH",
        "ʔ": "T", "θ": "TH", "ᵻ": "IH", "e": "EY", "o": "OW", "ɒ": "AA", "əʊ": "OW",
        "eə": "EH R", "ɪə": "IH R", "ʊə": "UH R", "a": "AA", "ɬ": "L", "ç": "HH", "ʍ": "W",
        "ɫ": "L", "l̩": "AH L", "y": "UW", "ø": "ER", "œ": "ER", "ɣ": "G", "β": "B", "ɲ": "N Y"}
_IPA_PHONES = sorted({p for v in _IPA.values() for p in v.split()})


def _espeak_ipa(word: str) -> list[str]:
    """espeak-ng's (en-us) phonemes for `word`, as IPA symbols one per phoneme."""
    from pipeline.audio import voice

    with voice._lock:  # espeak-ng is one global C state, shared with the draft voice
        lib = voice._load()  # loaded afresh after each utterance: its signature is set each time
        lib.espeak_TextToPhonemes.restype = C.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [C.POINTER(C.c_void_p), C.c_int, C.c_int]
        if lib.espeak_SetVoiceByName(b"en-us") != 0:
            return []
        buf = C.create_string_buffer(word.encode("utf-8"))
        ptr = C.c_void_p(C.addressof(buf))
        out = []
        while ptr.value:  # one call per clause; a word is one clause
            got = lib.espeak_TextToPhonemes(C.byref(ptr), 1, 0x02 | (ord(" ") << 8))  # IPA, spaced
            if not got:
                break
            out += got.decode("utf-8", "replace").split()
    return [p.replace("ˈ", "").replace("ˌ", "") for p in out if p.strip("ˈˌ")]


def _arpabet(ipa: list[str]) -> list[str]:
    phones = []
    for symbol in ipa:
        if symbol in _IPA:
            phones += _IPA[symbol].split()
            continue
        rest = symbol.replace("ː", "") if symbol.replace("ː", "") in _IPA else symbol
        while rest:  # an unlisted cluster: longest known prefixes, unknown marks dropped
            for size in (3, 2, 1):
                if rest[:size] in _IPA:
                    phones += _IPA[rest[:size]].split()
                    rest = rest[size:]
                    break
            else:
                rest = rest[1:]
    return phones


def letter_to_sound(word: str) -> str | None:
    """ARPAbet for a word the dictionary lacks (a name), from espeak-ng; None if it has none."""
    try:
        phones = _arpabet(_espeak_ipa(word))
    except Exception:  # noqa: BLE001 - no draft voice: the caller falls back to an estimate
        return None
    return " ".join(phones) or None


# ---------------------------------------------------------------------------------------------
# The decoder

_FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "(NULL)"}
_lock = threading.RLock()  # one decoder, one utterance at a time
_decoders: dict[str, object] = {}


class AlignmentUnavailable(Exception):
    """pocketsphinx or its model is missing: every alignment falls back to the estimate."""


def decoder(kind: str = "align"):
    """The shared pocketsphinx decoder ("align": no language model; "recognize": with one). Hold _lock."""
    if kind in _decoders:
        return _decoders[kind]
    try:
        import pocketsphinx
    except ImportError as exc:
        raise AlignmentUnavailable(f"pocketsphinx is not installed ({exc})") from None
    try:
        # Aligning keeps the grammar's best path as the search found it. Rescoring it over a
        # lattice (bestpath) cost a third of the time and moved only where words end: it ran a
        # word on over the pause after it, once leaving the next word no time at all (sentence
        # times were the same to the millisecond).
        options = {"loglevel": "FATAL"} if kind == "recognize" else \
            {"lm": None, "bestpath": False, "loglevel": "FATAL"}
        made = pocketsphinx.Decoder(**options)
    except (RuntimeError, ValueError, OSError) as exc:
        raise AlignmentUnavailable(f"pocketsphinx cannot load its English model ({exc})") from None
    _decoders[kind] = made
    return made


def dictionary_word(dec, token: str) -> str | None:
    """The decoder's dictionary entry for a spoken token, added from letter-to-sound if missing."""
    key = re.sub(r"[^a-z0-9'.\-]", "", fold(token)).strip("'.-")
    if not key:
        return None
    if dec.lookup_word(key):
        return key
    phones = None
    if key.endswith("'s") and (stem := dec.lookup_word(key[:-2])):
        phones = stem + (" IH Z" if stem.split()[-1] in ("S", "Z", "SH", "ZH", "CH", "JH") else
                         " S" if stem.split()[-1] in ("P", "T", "K", "F", "TH") else " Z")
    phones = phones or letter_to_sound(token.replace("'s", "s"))
    if not phones:
        return None
    dec.add_word(key, phones, True)
    return key


def to_pcm(samples: np.ndarray, rate: int) -> bytes:
    """Mono float audio at any rate → 16 kHz int16 bytes, the model's input."""
    x = np.asarray(samples, dtype=np.float32).reshape(len(samples), -1).mean(axis=1)
    if rate != RATE:
        import soxr

        x = soxr.resample(x, rate, RATE)
    # Digital silence (an edited take, a synthetic one) has no spectrum for the features to
    # normalise, and the search then finds no path: a fixed -80 dBFS dither keeps it defined.
    x = x + np.random.default_rng(0).standard_normal(len(x)).astype(np.float32) * 1e-4
    return (np.clip(x, -1.0, 1.0) * 32767).astype("<i2").tobytes()


# ---------------------------------------------------------------------------------------------
# Aligning a take


@dataclass(frozen=True)
class _Text:
    """A segment's text as a grammar: script words, every reading of each, optional words."""

    sentences: tuple[str, ...]
    words: tuple[SpokenWord, ...]
    sentence_of: tuple[int, ...]  # per word
    # (from state, to state, probability, dictionary word or None for a skip, word index)
    arcs: tuple[tuple[int, int, float, str | None, int], ...]
    final: int

    @property
    def tokens(self) -> int:
        return sum(1 for arc in self.arcs if arc[3] and arc[3] != "<sil>" and arc[4] >= 0)

    def transitions(self) -> list[tuple]:
        return [(a, b, p, e) if e else (a, b, p) for a, b, p, e, _ in self.arcs]


SKIP = 1e-8  # a scripted word the narrator dropped: allowed, at a price
ALTERNATIVES = 0.3  # the share of every reading of a word but its likeliest


def _prepare(sentences: Sequence[str], *, skippable: bool = True) -> _Text:
    """The text as a left-to-right grammar: a silence before each sentence, each word by any
    of its readings or (rarely) not at all. Hold _lock (it may add words to the dictionary)."""
    dec = decoder()
    words, sentence_of, arcs = [], [], []
    here, free = 0, 1  # the state the next word leaves from; the next unused state

    def new_state():
        nonlocal free
        free += 1
        return free - 1

    for s, sentence in enumerate(sentences):
        for k, word in enumerate(spoken_words(sentence)):
            w = len(words)
            words.append(word)
            sentence_of.append(s)
            if k == 0 and w:
                arcs.append((here, here := new_state(), "<sil>", -1))
            readings = [[dictionary_word(dec, t) for t in r] for r in word.readings]
            readings = [r for r in readings if r and None not in r]
            if not readings:
                continue
            end = new_state()
            for r, reading in enumerate(readings):
                at = here
                for i, entry in enumerate(reading):
                    to = end if i == len(reading) - 1 else new_state()
                    arcs.append((at, to, entry, w, r))
                    at = to
            if skippable:
                arcs.append((here, end, None, w, -1))
            here = end
    state = here
    # Weights: the likeliest reading, then the rest, then skipping the word.
    out = []
    for arc in arcs:
        if len(arc) == 4:
            out.append((arc[0], arc[1], 1.0, arc[2], arc[3]))
        else:
            a, b, entry, w, r = arc
            p = SKIP if r < 0 else (1.0 - SKIP) * ((1 - ALTERNATIVES) if r == 0 else ALTERNATIVES)
            out.append((a, b, p, entry, w))
    return _Text(tuple(sentences), tuple(words), tuple(sentence_of), tuple(out), state)


def _replay(text: _Text, said: Sequence[str]) -> list[int] | None:
    """Which script word each recognised token belongs to: the decoder reports words, not
    grammar states, so its path is traced back through the grammar."""
    exits: dict[int, list] = {}
    for a, b, _, entry, w in text.arcs:
        exits.setdefault(a, []).append((b, None if entry == "<sil>" else entry, w))

    def closure(layer):  # state -> back pointer; empty arcs keep the pointer
        todo = list(layer)
        while todo:
            state = todo.pop()
            for b, entry, _ in exits.get(state, ()):
                if entry is None and b not in layer:
                    layer[b] = layer[state]
                    todo.append(b)
        return layer

    layers = [closure({0: None})]
    for token in said:
        nxt = {}
        for state in layers[-1]:
            for b, entry, w in exits.get(state, ()):
                if entry == token and b not in nxt:
                    nxt[b] = (state, w)
        if not nxt:
            return None
        layers.append(closure(nxt))
    if text.final not in layers[-1]:
        return None
    owners, state = [], text.final
    for layer in reversed(layers[1:]):
        state, w = layer[state]
        owners.append(w)
        # `state` is in the previous layer's closure; its own pointer is found there
    owners.reverse()
    return owners


_searches = 0


def _decode(pcm: bytes, text: _Text) -> tuple[list[tuple[float, float]], list[int]] | None:
    """Run the grammar over `pcm`: (start, end) seconds per token and its script word, or None."""
    global _searches
    with _lock:
        dec = decoder()
        try:
            _searches += 1
            name = f"align{_searches % 2}"
            fsg = dec.create_fsg(name, 0, text.final, text.transitions())
            dec.add_fsg(name, fsg)
            dec.activate_search(name)
            dec.start_utt()
            dec.process_raw(pcm, full_utt=True)
            dec.end_utt()
            segs = [(s.word, s.start_frame * FRAME, (s.end_frame + 1) * FRAME)
                    for s in dec.seg() or () if s.word not in _FILLERS]
        except (RuntimeError, TypeError, ValueError):
            return None
    if not segs:
        return None
    owners = _replay(text, [re.sub(r"\(\d+\)$", "", word) for word, _, _ in segs])
    if owners is None:
        return None
    return [(a, b) for _, a, b in segs], owners


def is_english(language: str) -> bool:
    return language.strip().lower().replace("_", "-").split("-")[0] in ("en", "eng", "english")


def align(samples: np.ndarray, rate: int, sentences: Sequence[str], *, language: str = "en",
          segment: str = "take") -> Alignment:
    """Where each sentence and word of `sentences` is spoken in `samples` (mono, any rate).

    Never raises for a take that cannot be aligned: the result is then "estimated", with a
    warning naming `segment` and why.
    """
    sentences = tuple(" ".join(s.split()) for s in sentences)
    duration = len(samples) / rate if rate else 0.0

    def fallback(why: str) -> Alignment:
        return estimate(samples, rate, sentences,
                        f"{segment}: {why}; its transcript times are estimated from word counts")

    if not is_english(language):
        return fallback(f"no acoustic model for language {language!r} (only English is bundled)")
    try:
        with _lock:
            text = _prepare(sentences)
    except AlignmentUnavailable as exc:
        return fallback(f"cannot align ({exc})")
    if not text.tokens:
        return fallback("nothing in its text can be aligned")
    if duration < 0.1 * text.tokens:
        return fallback(f"the take is {duration:.1f} s long, too short for "
                        f"{len(text.words)} words")
    pcm = to_pcm(samples, rate)
    if duration > LONG_TAKE:
        result = _align_windows(pcm, sentences, duration)
    else:
        found = _decode(pcm, text)
        result = found and _assemble(text, *found, "aligned")
    if result is None:
        return fallback("the recording does not follow its text closely enough to align "
                        "(check it is this segment's take)")
    return _snap_onsets(result, samples, rate)


ASTRAY = 0.5  # seconds a sentence may start from where the recogniser heard it begin
MARGIN = 0.3  # seconds before a heard start that a sentence aligned again may begin


def repaired(samples: np.ndarray, rate: int, result: Alignment,
             heard: Sequence[float | None],
             after: Sequence[float | None] = ()) -> Alignment:
    """`result` with the runs of sentences that start more than ASTRAY from where a recogniser
    heard them start (`heard`, per sentence, None where it did not) aligned again, each run
    alone in the audio from just before its first heard start to the next sentence that
    agrees. One grammar over a take has nowhere to put speech its text lacks (an ad-lib, a
    number read otherwise): it squeezes the sentences after it into that speech, and they stay
    seconds early to the end; the recogniser's times are where the words were said.

    `after` (per sentence, None where unknown) is where such speech was heard to end before a
    sentence: a run also takes in the sentences not heard to start before it, back to one that
    follows such speech, and starts there."""
    if result.method != "aligned":
        return result
    n = len(result.sentences)
    heard = [*heard[:n], *[None] * (n - len(heard))]  # a sentence not listed was not heard
    after = [*after[:n], *[None] * (n - len(after))]
    astray = [h is not None and abs(s.start - h) > ASTRAY
              for s, h in zip(result.sentences, heard)]
    agrees = [h is not None and not a for h, a in zip(heard, astray)]
    sentences, i = list(result.sentences), 0
    while i < n:
        if not astray[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and not agrees[j + 1]:
            j += 1
        k = i
        while k > 0 and heard[k - 1] is None:
            k -= 1
        first = next((m for m in range(k, i) if after[m] is not None), i)
        bounds = [sentences[first - 1].end if first else 0.0, after[first] or 0.0]
        start = max(0.0, *bounds, *([heard[i] - MARGIN] if first == i else []))
        end = sentences[j + 1].start if j + 1 < n else len(samples) / rate
        a, b = round(start * rate), round(end * rate)
        if b > a:
            again = align(samples[a:b], rate, [s.text for s in sentences[first:j + 1]])
            if again.method == "aligned":
                sentences[first:j + 1] = again.shifted(a / rate).sentences
        i = j + 1
    if sentences == list(result.sentences):
        return result
    words = tuple(w for s in sentences for w in s.words)
    return Alignment(tuple(sentences), words, result.method, result.warning)


def _snap_onsets(result: Alignment, samples: np.ndarray, rate: int) -> Alignment:
    """A word after a pause sometimes takes the pause too (its first phone scores as well on
    room noise as on itself): a word that starts in silence starts where the voice does."""
    from pipeline.audio.dynamics import voice_activity

    active = voice_activity(samples, rate, FRAME, hangover=0.05)
    if not active.any():
        return result
    onsets = np.flatnonzero(active[1:] & ~active[:-1]) + 1

    def snap(w: Word) -> Word:
        i = int(w.start / FRAME)
        if i >= len(active) or active[i]:
            return w
        k = np.searchsorted(onsets, i)
        if k < len(onsets) and onsets[k] * FRAME < w.end - 0.03:
            return Word(w.text, round(onsets[k] * FRAME, 3), w.end)
        return w

    words = tuple(snap(w) for w in result.words)
    moved = dict(zip(result.words, words))
    sentences = tuple(Sentence(s.text, moved[s.words[0]].start if s.words else s.start, s.end,
                               tuple(moved[w] for w in s.words)) for s in result.sentences)
    return Alignment(sentences, words, result.method, result.warning)


def _assemble(text: _Text, times: Sequence[tuple[float, float]], owners: Sequence[int],
              method: str, warning: str | None = None) -> Alignment:
    """Token times → script words and sentences; a word with no token takes a neighbour's edge."""
    spans: list[tuple[float, float] | None] = [None] * len(text.words)
    for (start, end), w in zip(times, owners):
        if not isinstance(w, int) or w < 0:
            continue
        old = spans[w]
        spans[w] = (start, end) if old is None else (old[0], end)
    last = 0.0
    for i, span in enumerate(spans):
        if span is None:
            spans[i] = (last, last)
        else:
            last = span[1]
    words = tuple(Word(w.text, round(a, 3), round(b, 3)) for w, (a, b) in zip(text.words, spans))
    sentences, at = [], 0
    for s, sentence in enumerate(text.sentences):
        begin = at
        while at < len(words) and text.sentence_of[at] == s:
            at += 1
        mine = words[begin:at]
        if mine:
            sentences.append(Sentence(sentence, mine[0].start, mine[-1].end, mine))
        else:
            edge = words[begin - 1].end if begin else 0.0
            sentences.append(Sentence(sentence, edge, edge, ()))
    return Alignment(tuple(sentences), words, method, warning)


WINDOW = 30.0  # seconds of text per window in a long take
LOOKAHEAD = 2  # sentences aligned past a window's own, to take up the audio that follows it


def _align_windows(pcm: bytes, sentences: tuple[str, ...], duration: float) -> Alignment | None:
    """A long take, a window at a time: one grammar over ten minutes is slow (the search keeps
    too much alive) and, if it loses its way, loses everything. Each window holds about WINDOW
    seconds of text (at the take's own speaking rate) plus the next LOOKAHEAD sentences, which
    soak up whatever audio follows and are then dropped; the next window starts where this
    one's last kept word ended, so an error in the estimate never accumulates."""
    weights = np.array([len(s) + 1 for s in sentences], float)
    seconds = weights / weights.sum() * duration
    bounds, length, begin = [], 0.0, 0
    for i, est in enumerate(seconds):
        length += est
        if length >= WINDOW or i == len(sentences) - 1:
            bounds.append((begin, i + 1))
            begin, length = i + 1, 0.0
    cursor, sentences_out, words_out = 0.0, [], []
    for k, (a, b) in enumerate(bounds):
        last = k == len(bounds) - 1
        ahead = min(len(sentences), b + LOOKAHEAD)
        stop = duration if last else min(duration, cursor + seconds[a:ahead].sum() * 1.6 + 8.0)
        with _lock:
            text = _prepare(sentences[a:ahead])
        found = _decode(pcm[int(cursor * RATE) * 2:int(stop * RATE) * 2], text)
        if found is None:
            return None
        part = _assemble(text, *found, "aligned").shifted(cursor)
        kept = part.sentences[:b - a]
        sentences_out += kept
        words_out += [w for s in kept for w in s.words]
        cursor = max([cursor] + [w.end for w in words_out[-1:]])
    return Alignment(tuple(sentences_out), tuple(words_out), "aligned")


def estimate(samples: np.ndarray, rate: int, sentences: Sequence[str],
             warning: str | None = None) -> Alignment:
    """Today's rule, kept as the fallback: words share the voiced time by their spoken length."""
    from pipeline.audio.dynamics import voice_activity

    sentences = tuple(" ".join(s.split()) for s in sentences)
    words, sentence_of = [], []
    for s, sentence in enumerate(sentences):
        for word in spoken_words(sentence):
            words.append(word)
            sentence_of.append(s)
    weights = np.array([len(" ".join(w.tokens) or w.text) + 1 for w in words], float)
    activity = voice_activity(samples, rate, FRAME) if len(samples) else np.zeros(0, bool)
    voiced = np.cumsum(activity) * FRAME  # voiced seconds up to each frame
    total = voiced[-1] if len(voiced) and voiced[-1] > 0 else 0.0

    def at(share: float) -> float:
        if total == 0:
            return share * len(samples) / rate if rate else 0.0
        return float(np.searchsorted(voiced, share * total, side="left")) * FRAME

    edges = np.concatenate([[0.0], np.cumsum(weights)]) / (weights.sum() or 1)
    times = []
    for i in range(len(words)):
        start, end = at(edges[i] + 1e-9), at(edges[i + 1])
        times.append((start, max(start, end)))
    text = _Text(sentences, tuple(words), tuple(sentence_of), (), 0)
    return _assemble(text, times, range(len(words)), "estimated", warning)


# ---------------------------------------------------------------------------------------------
# What the times are used for


def pauses(words: Sequence[Word], minimum: float = 0.1) -> list[Pause]:
    """The recorded silences between consecutive words at least `minimum` seconds long."""
    return [Pause(a.end, b.start, i) for i, (a, b) in enumerate(zip(words, words[1:]))
            if b.start - a.end >= minimum]


def pause_after(words: Sequence[Word], index: int) -> Pause:
    """The gap after words[index] (zero-length when the narrator ran on): where a cue between
    that word and the next one starts."""
    a = words[index]
    b = words[index + 1] if index + 1 < len(words) else None
    return Pause(a.end, max(a.end, b.start) if b else a.end, index)


def split_long(sentences: Sequence[Sentence], speaker: str | None = None):
    """Transcript lines (TimedLine) from aligned sentences; a long sentence is split at its
    words' recorded times, keeping the script's punctuation."""
    from pipeline.build.transcript import split_timed
    from pipeline.model import TimedLine as Line

    out = []
    for s in sentences:
        if not s.words:
            out.append(Line(s.start, s.end, s.text, speaker))
            continue
        timed, at, last = [], 0, s.words[0].start
        for chunk in s.text.split():  # whitespace pieces keep their punctuation
            count = len(spoken_words(chunk))
            mine = s.words[at:at + count]
            at += count
            if mine:
                timed.append((mine[0].start, mine[-1].end, chunk))
                last = mine[-1].end
            else:
                timed.append((last, last, chunk))
        out += split_timed(timed, speaker)
    return out
