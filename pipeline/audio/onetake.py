"""One recording of the whole episode, split into its segments, with the retakes cut out.

A narrator who records in one go reads every segment in order and, when a sentence goes wrong,
pauses and reads it again. Forced alignment over a whole episode drifts (a retake adds time the
text does not account for), so the take is anchored first: it is recognised against a model of
the script (pipeline.audio.takecheck), and the words heard in the script's order say roughly
where each sentence is. Then the text is aligned a window at a time, each window's audio chosen
from those anchors, with a grammar that lets every sentence start again from its first word
after a silence: a flub or a whole sentence read twice shows in the trace-back as that restart.
The last complete reading counts; the earlier attempt is cut from the pause before it to the
pause before the retake, joined with a short crossfade in room tone. Segments are cut in the
pause between them, so the build proceeds as from separate takes.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.audio import align, takecheck
from pipeline.audio.align import Alignment
from pipeline.audio.takecheck import Line

RESTART = 1e-9  # the price of starting a sentence again: dear, or room tone passes for a flub
RETAKE = "<retake>"  # the decoder's word for the silence before a sentence is read again
WINDOW = 30.0  # seconds of speech per alignment window
LOOKAHEAD = 1  # sentences aligned past a window's own, to soak up the audio after it
MARGIN = 1.5  # seconds of audio past the anchors of a window's last sentence
FADE = 0.02  # seconds of crossfade at every cut
EDGE = 0.4  # at most this much of a pause is kept either side of a cut or a segment boundary


@dataclass(frozen=True)
class Cut:
    """Audio left out of the take: [start, end) seconds into the whole recording."""

    start: float
    end: float
    reason: str
    line: int  # the script line of the sentence that was read again

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "reason": self.reason, "line": self.line}


@dataclass(frozen=True)
class Part:
    """One segment's stretch of the recording, the cuts inside it, and its alignment in the
    time of the segment's own audio (after the cuts)."""

    slug: str
    start: float
    end: float
    cuts: tuple[Cut, ...]
    alignment: Alignment

    @property
    def seconds(self) -> float:
        """The length of the segment's audio after its cuts."""
        return round(self.end - self.start - sum(c.end - c.start for c in self.cuts), 3)


@dataclass(frozen=True)
class Split:
    parts: tuple[Part, ...]
    warnings: tuple[str, ...] = ()

    @property
    def cuts(self) -> tuple[Cut, ...]:
        return tuple(c for p in self.parts for c in p.cuts)


# ---------------------------------------------------------------------------------------------
# Anchors: where the recogniser heard each sentence (pure over heard words)


def anchors(sentences: Sequence[str], heard: Sequence[takecheck.Heard],
            block: int = 2) -> list[tuple[float, float] | None]:
    """Per sentence, (first, last) time heard for its words in the script's order, or None;
    only runs of `block` or more words in order count (single words match by chance)."""
    out: list[tuple[float, float] | None] = [None] * len(sentences)
    for s, _, i in _heard_in_order(sentences, heard, block):
        h = heard[i]
        old = out[s]
        out[s] = (h.start, h.end) if old is None else (min(old[0], h.start), max(old[1], h.end))
    return out


def mended(samples, rate: int, result: align.Alignment, sentences: Sequence[str],
           heard: Sequence[takecheck.Heard]) -> align.Alignment:
    """A take's alignment with what the recogniser heard (`heard`) setting right the sentences
    speech the script lacks threw off (align.repaired, by heard_starts and speech_before)."""
    return align.repaired(samples, rate, result, heard_starts(sentences, heard),
                          speech_before(sentences, heard))


def heard_starts(sentences: Sequence[str], heard: Sequence[takecheck.Heard],
                 block: int = 2) -> list[float | None]:
    """Per sentence, when its first word was heard, or None where that word was not heard in
    a run of `block` or more words in order (align.repaired checks sentence starts by it)."""
    out: list[float | None] = [None] * len(sentences)
    for s, k, i in _heard_in_order(sentences, heard, block):
        if k == 0:
            out[s] = heard[i].start
    return out


def speech_before(sentences: Sequence[str], heard: Sequence[takecheck.Heard], block: int = 2,
                  least: int = takecheck.EXTRA_WORDS, pause: float = 0.25) -> list[float | None]:
    """Per sentence, where speech the script lacks ends just before it (an ad-lib: `least` or
    more heard words matching no script word since the last heard word of the sentences
    before), at the last pause of `pause` seconds or more in that speech; else None. The
    sentence cannot start before it; its own first words, misheard, come after that pause."""
    pairs = list(_heard_in_order(sentences, heard, block))
    matched = {i for _, _, i in pairs}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for s, _, i in pairs:
        first[s], last[s] = min(first.get(s, i), i), max(last.get(s, i), i)
    out: list[float | None] = [None] * len(sentences)
    before = -1  # the last heard word of the sentences so far
    for s in sorted(first):
        extra = [i for i in range(before + 1, first[s]) if i not in matched]
        if len(extra) >= least:
            stops = [i for i in range(extra[0], first[s])
                     if heard[i + 1].start - heard[i].end >= pause]
            out[s] = heard[stops[-1]].end if stops else None
        before = max(before, last[s])
    return out


def _heard_in_order(sentences: Sequence[str], heard: Sequence[takecheck.Heard], block: int):
    """(sentence, its token's index in it, the heard word's index) for each script token heard
    in a run of `block` or more tokens in the script's order."""
    tokens = takecheck.script_tokens(sentences)
    script, owner = [], []
    for s, words in enumerate(tokens):
        script += words
        owner += [(s, k) for k in range(len(words))]
    match = difflib.SequenceMatcher(None, script, [h.word for h in heard], autojunk=False)
    for a, b, size in match.get_matching_blocks():
        if size >= block:
            for k in range(size):
                yield *owner[a + k], b + k


# ---------------------------------------------------------------------------------------------
# The grammar with restarts, and reading its trace-back


def _grammar(sentences: Sequence[str]) -> align._Text:
    """align's grammar, plus an arc from after each word of a sentence back to its first word
    through a silence. Hold align._lock."""
    text = align._prepare(sentences)
    dec = align.decoder()
    if not dec.lookup_word(RETAKE):
        dec.add_word(RETAKE, "SIL", True)
    start_of: dict[int, int] = {}  # sentence -> the state its first word leaves from
    end_of: dict[int, int] = {}  # word -> the state after it
    for a, b, _, entry, w in text.arcs:
        if w < 0:
            continue
        s = text.sentence_of[w]
        if s not in start_of or a < start_of[s]:
            start_of[s] = a
        end_of[w] = max(end_of.get(w, b), b)
    restarts = []
    for w, end in end_of.items():
        s = text.sentence_of[w]
        restarts.append((end, start_of[s], RESTART, RETAKE, -2 - s))
    return align._Text(text.sentences, text.words, text.sentence_of, text.arcs + tuple(restarts),
                       text.final)


@dataclass(frozen=True)
class _Token:
    start: float
    end: float
    owner: int  # script word, or -2 - sentence for a restart


def _tokens(pcm: bytes, text: align._Text, offset: float) -> list[_Token] | None:
    found = align._decode(pcm, text)
    if found is None:
        return None
    times, owners = found
    return [_Token(round(a + offset, 3), round(b + offset, 3), w) for (a, b), w in zip(times, owners)]


def retake_cuts(tokens: Sequence[_Token], text: align._Text, lines: Sequence[Line],
                floor: float = 0.0) -> list[Cut]:
    """Every earlier attempt at a sentence, from the pause before it to the pause before the
    reading that follows the restart (pure over the trace-back)."""
    cuts = []
    for i, tok in enumerate(tokens):
        if tok.owner > -2:
            continue
        s = -2 - tok.owner
        # The attempt: this sentence's word tokens back to the previous restart or sentence.
        j = i - 1
        while j >= 0 and tokens[j].owner >= 0 and text.sentence_of[tokens[j].owner] == s:
            j -= 1
        first = j + 1
        if first >= i or i + 1 >= len(tokens):
            continue
        before = tokens[j].end if j >= 0 and tokens[j].owner >= 0 else \
            cuts[-1].end if cuts and j >= 0 else floor
        attempt_start, attempt_end = tokens[first].start, tokens[i - 1].end
        again = tokens[i + 1].start
        start = attempt_start - min(EDGE, max(0.0, attempt_start - before) / 2)
        end = again - min(EDGE, max(0.0, again - attempt_end) / 2)
        if cuts and start < cuts[-1].end:  # a second restart of the same sentence
            start = cuts[-1].end
        cuts.append(Cut(round(start, 3), round(end, 3), "retake", lines[s].line))
    return [c for c in cuts if c.end > c.start]


# ---------------------------------------------------------------------------------------------
# The whole take


def split(samples: np.ndarray, rate: int, segments: Sequence[tuple[str, Sequence[Line]]],
          *, language: str = "en", name: str = "takes/episode") -> Split:
    """Each segment's range in `samples`, its retake cuts and its alignment.

    Raises align.AlignmentUnavailable if pocketsphinx cannot run, and ValueError naming the
    recording if it does not follow the script closely enough to split.
    """
    if not align.is_english(language):
        raise align.AlignmentUnavailable(f"no acoustic model for language {language!r}")
    lines = [line for _, seg in segments for line in seg]
    owner = [k for k, (_, seg) in enumerate(segments) for _ in seg]
    texts = [" ".join(line.text.split()) for line in lines]
    duration = len(samples) / rate
    heard = takecheck.recognize(samples, rate, texts)
    anchor = _fill(anchors(texts, heard), duration)
    pcm = align.to_pcm(samples, rate)
    tokens: list[_Token] = []
    cuts: list[Cut] = []
    cursor, i = 0.0, 0
    while i < len(texts):
        j = i + 1
        while j < len(texts) and anchor[j][1] - anchor[i][0] < WINDOW:
            j += 1
        ahead = min(len(texts), j + LOOKAHEAD)
        stop = duration if ahead == len(texts) else min(duration, anchor[ahead - 1][1] + MARGIN)
        with align._lock:
            text = _grammar(texts[i:ahead])
        got = _tokens(pcm[int(cursor * align.RATE) * 2:int(stop * align.RATE) * 2], text, cursor)
        if got is None:
            raise ValueError(f"{name}: the recording does not follow the script closely enough "
                             f"to split it (lost near {takecheck.clock(cursor)}, at "
                             f"{_quote(texts[i])}, line {lines[i].line})")
        kept_words = [t for t in got if t.owner >= 0 and t.owner < _words_in(text, j - i)]
        keep_until = kept_words[-1].end if kept_words else cursor
        mine = [t for t in got if t.start < keep_until + 1e-6 and
                (t.owner >= 0 and t.owner < _words_in(text, j - i) or t.owner <= -2 and
                 -2 - t.owner < j - i)]
        cuts += retake_cuts(mine, text, lines[i:ahead], cursor)
        base = sum(len(align.spoken_words(t)) for t in texts[:i])
        tokens += [_Token(t.start, t.end, t.owner + base if t.owner >= 0 else t.owner - i)
                   for t in mine]
        cursor, i = keep_until, j
    with align._lock:
        whole = align._prepare(texts)
    return _parts(segments, owner, whole, tokens, cuts, duration, samples, rate)


def _words_in(text: align._Text, sentences: int) -> int:
    return sum(1 for s in text.sentence_of if s < sentences)


def _fill(found: list[tuple[float, float] | None], duration: float) -> list[tuple[float, float]]:
    """Sentences the recogniser did not place get times between their placed neighbours."""
    out: list[tuple[float, float]] = []
    known = [i for i, a in enumerate(found) if a is not None]
    for i, a in enumerate(found):
        if a is not None:
            out.append(a)
            continue
        lo = max((k for k in known if k < i), default=None)
        hi = min((k for k in known if k > i), default=None)
        t0 = found[lo][1] if lo is not None else 0.0
        t1 = found[hi][0] if hi is not None else duration
        share = (i - (lo if lo is not None else -1)) / ((hi if hi is not None else len(found))
                                                      - (lo if lo is not None else -1))
        mid = t0 + (t1 - t0) * share
        out.append((mid, mid))
    return out


def _quote(text: str) -> str:
    return f"\u201c{text[:50]}{'…' if len(text) > 50 else ''}\u201d"


def _parts(segments, owner, whole: align._Text, tokens: list[_Token], cuts: list[Cut],
           duration: float, samples: np.ndarray, rate: int) -> Split:
    """Segment ranges cut in the pauses between them, alignments in each segment's own time."""
    def inside(t: _Token) -> bool:
        return not any(c.start <= t.start < c.end for c in cuts)

    words = [t for t in tokens if t.owner >= 0 and inside(t)]
    first_word = {}
    last_word = {}
    for t in words:
        k = owner[whole.sentence_of[t.owner]]
        first_word.setdefault(k, t)
        last_word[k] = t
    segment_of = {line.line: k for k, (_, seg) in enumerate(segments) for line in seg}
    bounds = [0.0]
    for k in range(1, len(segments)):
        prev = last_word.get(k - 1)
        nxt = first_word.get(k)
        if prev is None or nxt is None:
            bounds.append(bounds[-1])
            continue
        gap = max(0.0, nxt.start - prev.end)
        at = prev.end + min(gap / 2, max(gap - EDGE, gap / 2))
        # A segment whose first sentence was read twice starts at its first attempt's cut.
        at = min([at] + [c.start for c in cuts if segment_of.get(c.line) == k])
        bounds.append(round(at, 3))
    bounds.append(duration)
    parts = []
    lines_before = 0
    for k, (slug, seg) in enumerate(segments):
        start, end = bounds[k], bounds[k + 1]
        if k == 0 and k in first_word:
            start = max(0.0, first_word[k].start - EDGE)
        if k == len(segments) - 1 and k in last_word:
            end = min(duration, last_word[k].end + EDGE)
        mine = tuple(c for c in cuts if start <= c.start < end)
        sentences = [" ".join(line.text.split()) for line in seg]
        own = [t for t in words if owner[whole.sentence_of[t.owner]] == k]
        first_w = sum(1 for s in whole.sentence_of if owner[s] < k)
        count = sum(1 for s in whole.sentence_of if owner[s] == k)
        sub = align._Text(tuple(sentences), whole.words[first_w:first_w + count],
                          tuple(s - lines_before for s in whole.sentence_of[first_w:first_w + count]),
                          (), 0)
        times = [(_moved(t.start, start, mine), _moved(t.end, start, mine)) for t in own]
        result = align._assemble(sub, times, [t.owner - first_w for t in own], "aligned")
        parts.append(Part(slug, round(start, 3), round(end, 3), mine, result))
        lines_before += len(seg)
    return Split(tuple(parts))


def _moved(t: float, start: float, cuts: Sequence[Cut]) -> float:
    """A time in the recording as a time in the segment's audio after its cuts."""
    gone = sum(min(c.end, max(t, c.start)) - c.start for c in cuts if c.start < t)
    return round(max(0.0, t - start - gone), 3)


# ---------------------------------------------------------------------------------------------
# The segment's audio


def render(samples: np.ndarray, rate: int, part: Part) -> np.ndarray:
    """The segment's samples with its cuts taken out, each join a FADE equal-power crossfade
    (centred on the cut's edges, which lie in pauses)."""
    x = np.asarray(samples, np.float32)
    keep, at = [], part.start
    for c in part.cuts:
        keep.append((at, max(at, c.start)))
        at = max(at, min(c.end, part.end))
    keep.append((at, part.end))
    n = max(1, round(FADE * rate))
    out = x[round(keep[0][0] * rate):round(keep[0][1] * rate)].copy()
    for a, b in keep[1:]:
        # The fade overlaps the last n samples before the cut with the n before its end, so
        # the audio is exactly as long as what is kept (the alignment's times stay true).
        begin = round(a * rate)
        m = min(n, len(out), begin)
        piece = x[begin - m:round(b * rate)]
        if m == 0 or len(piece) < m:
            out = np.concatenate([out, x[begin:round(b * rate)]])
            continue
        t = (np.arange(m, dtype=np.float32) + 0.5) / m
        tail = out[len(out) - m:] * np.cos(t * np.pi / 2) + piece[:m] * np.sin(t * np.pi / 2)
        out = np.concatenate([out[:len(out) - m], tail.astype(np.float32), piece[m:]])
    return out
