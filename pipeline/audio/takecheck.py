"""Script against recording: what the script has that the take does not say, and what the take
says that the script does not have (an ad-lib, a sentence cut from the script after recording).

Forced alignment cannot answer this: it makes the text fit whatever is there. Recognition can,
but pocketsphinx's general English model mishears too much of a narration to compare it word by
word. So the take is recognised with a language model made from the script itself (a trigram
over its words, with a floor for any of them in any order): what was read as written comes back
as the script's words in the script's order, and anything else comes back as words in an order
the script does not have. difflib then lines the heard words up with the script's, and a
sentence with too little of itself heard, or a stretch of heard speech matching nothing, is a
finding. Everything is pure over samples and text except the decoder call.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.audio import align

MISSING = "T001"  # a script sentence the take does not say, or says differently
EXTRA = "T002"  # speech in the take the script does not have
SAID = 0.4  # a sentence counts as said when this share of its words is heard in order
DIFFER = 3  # ... and no run of this many of its words goes unheard
EXTRA_WORDS = 4
LW = 6.5
FLOOR = 0.15  # an unmatched stretch this many words long, or longer, is reported
EXTRA_SECONDS = 1.5  # ... or this long


@dataclass(frozen=True)
class Heard:
    """A word the recogniser heard, in dictionary form, and when."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Line:
    """A sentence of the script and where it is written."""

    text: str
    line: int
    column: int = 1


@dataclass(frozen=True)
class TakeFinding:
    """One disagreement between script and take; `at` is seconds into the take."""

    code: str
    line: int
    column: int
    at: float
    text: str  # the script's sentence (T001) or what was heard (T002)
    message: str

    def to_dict(self) -> dict:
        return {"code": self.code, "line": self.line, "column": self.column, "at": self.at,
                "text": self.text, "message": self.message}


def clock(seconds: float) -> str:
    """1:23.4, the way an editor's timeline shows a time."""
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}:{rest:04.1f}"


# ---------------------------------------------------------------------------------------------
# The script as a language model (pure)


def script_tokens(sentences: Sequence[str]) -> list[list[str]]:
    """Each sentence as the tokens a narrator says for it (every word's likeliest reading)."""
    out = []
    for sentence in sentences:
        tokens = []
        for word in align.spoken_words(sentence):
            tokens += [re.sub(r"[^a-z0-9'.\-]", "", align.fold(t)).strip("'.-")
                       for t in word.tokens]
        out.append([t for t in tokens if t])
    return out


def script_model(sentences: Sequence[Sequence[str]], discount: float = 0.5,
                 floor: float | None = None) -> str:
    """An ARPA trigram model of tokenised sentences, with absolute discounting and backoff;
    `floor` of the unigram mass is spread evenly so any script word may follow any other."""
    floor = FLOOR if floor is None else floor
    grams: list[Counter] = [Counter(), Counter(), Counter()]
    for tokens in sentences:
        padded = ["<s>", *tokens, "</s>"]
        for n in range(3):
            for i in range(len(padded) - n):
                gram = tuple(padded[i:i + n + 1])
                if n == 0 and gram == ("<s>",):
                    continue
                grams[n][gram] += 1
    vocab = sorted({g[0] for g in grams[0]})
    total = sum(grams[0].values()) or 1
    prob: list[dict[tuple, float]] = [{}, {}, {}]
    for (w,), c in grams[0].items():
        prob[0][(w,)] = (1 - floor) * c / total + floor / len(vocab)
    prob[0][("<s>",)] = 0.0
    backoff: list[dict[tuple, float]] = [{}, {}]
    for n in (1, 2):
        by_history: dict[tuple, list[tuple]] = defaultdict(list)
        for gram in grams[n]:
            by_history[gram[:-1]].append(gram)
        for history, seen in by_history.items():
            count = sum(grams[n][g] for g in seen)
            for g in seen:
                prob[n][g] = (grams[n][g] - discount) / count
            left = discount * len(seen) / count
            lower = sum(_p(prob, g[1:]) for g in seen)
            backoff[n - 1][history] = left / max(1e-9, 1 - lower)
    lines = ["\\data\\"] + [f"ngram {n + 1}={len(prob[n])}" for n in range(3)]
    for n in range(3):
        lines += ["", f"\\{n + 1}-grams:"]
        for gram, p in sorted(prob[n].items()):
            logp = -99.0 if p <= 0 else math.log10(p)
            row = f"{logp:.5f} {' '.join(gram)}"
            if n < 2:
                bo = backoff[n].get(gram)
                row += f" {math.log10(bo):.5f}" if bo else " 0.00000"
            lines.append(row)
    return "\n".join(lines + ["", "\\end\\", ""])


def _p(prob, gram: tuple) -> float:
    """The model's probability of a gram's last word after the rest, for the backoff weights."""
    if gram in prob[len(gram) - 1]:
        return prob[len(gram) - 1][gram]
    return _p(prob, gram[1:]) if len(gram) > 1 else 0.0


# ---------------------------------------------------------------------------------------------
# Recognition (the edge: pocketsphinx)


def recognize(samples: np.ndarray, rate: int, sentences: Sequence[str]) -> tuple[Heard, ...]:
    """The words heard in `samples`, recognised against a model of `sentences`.

    Raises align.AlignmentUnavailable when pocketsphinx cannot run.
    """
    tokenised = script_tokens(sentences)
    if not any(tokenised):
        return ()
    pcm = align.to_pcm(samples, rate)
    with align._lock:
        words = align.decoder()  # the English dictionary: spellings and pronunciations
        kept = []
        for tokens in tokenised:
            kept.append([w for t in tokens if (w := align.dictionary_word(words, t))])
        lexicon = _lexicon(words, {w for sentence in kept for w in sentence})
        try:
            with tempfile.TemporaryDirectory(prefix="podforge-check-") as folder:
                paths = os.path.join(folder, "script.dict"), os.path.join(folder, "script.arpa")
                for path, text in zip(paths, (lexicon, script_model(kept))):
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(text)
                dec = _recogniser(paths[0])
                dec.add_lm_file("script", paths[1])
                dec.activate_search("script")
                dec.start_utt()
                dec.process_raw(pcm, full_utt=True)
                dec.end_utt()
                segs = list(dec.seg() or ())
        except OSError as exc:  # no temporary folder to write the script's model in
            raise align.AlignmentUnavailable(f"cannot write the script's model ({exc})") from None
        except (RuntimeError, ValueError) as exc:
            raise align.AlignmentUnavailable(f"recognition failed ({exc})") from None
    return tuple(Heard(re.sub(r"\(\d+\)$", "", s.word), round(s.start_frame * align.FRAME, 3),
                       round((s.end_frame + 1) * align.FRAME, 3))
                 for s in segs if s.word not in align._FILLERS and not s.word.startswith("++"))


def _lexicon(words, kept: set[str]) -> str:
    """A pocketsphinx dictionary of just the script's words, every pronunciation of each.

    A search over a language model is built against the decoder's whole dictionary: with the
    English one (134,000 words) that took 9 s for every take, with this one 2 ms; the words
    it can hear are the model's either way."""
    lines = []
    for word in sorted(kept):
        lines.append(f"{word} {words.lookup_word(word)}")
        k = 2
        while phones := words.lookup_word(f"{word}({k})"):
            lines.append(f"{word}({k}) {phones}")
            k += 1
    return "\n".join(lines) + "\n"


def _recogniser(lexicon: str):
    """A decoder that knows only `lexicon`'s words, for one take: made in milliseconds. The
    two likeliest Gaussians per frame are plenty for a script this small."""
    import pocketsphinx

    try:
        return pocketsphinx.Decoder(lm=None, dict=lexicon, topn=2, lw=LW, loglevel="FATAL")
    except (RuntimeError, ValueError, OSError) as exc:
        raise align.AlignmentUnavailable(f"pocketsphinx cannot load its model ({exc})") from None


# ---------------------------------------------------------------------------------------------
# Script against what was heard (pure)


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return f"\u201c{text if len(text) <= limit else text[:limit - 1].rstrip() + '…'}\u201d"


def compare(lines: Sequence[Line], heard: Sequence[Heard], take: str) -> list[TakeFinding]:
    """The findings for a take named `take` whose recognised words are `heard`."""
    tokens = script_tokens([line.text for line in lines])
    script, owner = [], []
    for s, words in enumerate(tokens):
        script += words
        owner += [s] * len(words)
    said = [h.word for h in heard]
    match = difflib.SequenceMatcher(None, script, said, autojunk=False)
    heard_at: dict[int, int] = {}  # script token -> heard token
    for a, b, size in match.get_matching_blocks():
        for k in range(size):
            heard_at[a + k] = b + k
    found, unsaid = [], set()
    for s, line in enumerate(lines):
        mine = [i for i, o in enumerate(owner) if o == s]
        if not mine:
            continue
        hits = [i for i in mine if i in heard_at]
        gap = _longest_gap(mine, heard_at)
        if len(hits) >= SAID * len(mine) and (gap is None or gap[1] - gap[0] < DIFFER):
            continue
        before = [heard_at[i] for i in heard_at if i < mine[0]]
        after = [heard_at[i] for i in heard_at if i > mine[-1]]
        near = heard[max(before)].end if before else heard[min(after)].start if after else 0.0
        if len(hits) >= SAID * len(mine):  # said, but a run of its words was not
            a, b = gap
            j1 = heard_at[a - 1] + 1 if a - 1 in heard_at else heard_at[hits[0]]
            j2 = heard_at[b] if b in heard_at else j1
            near = heard[j1].start if j1 < len(heard) else near
            got = " ".join(said[j1:j2]) or "nothing"
            missing = " ".join(script[a:b])
            message = (f"{_quote(line.text)} is not said as written in {take} (near "
                       f"{clock(near)}: {_quote(missing)} is heard as {_quote(got)})")
        elif hits:
            unsaid.add(s)
            got = " ".join(said[heard_at[hits[0]]:heard_at[hits[-1]] + 1])
            message = (f"{_quote(line.text)} is not said as written in {take} (near "
                       f"{clock(near)} it has {_quote(got)})")
        else:
            unsaid.add(s)
            message = f"{_quote(line.text)} is not in {take} (expected near {clock(near)})"
        found.append(TakeFinding(MISSING, line.line, line.column, round(near, 3), line.text,
                                 message))
    for tag, i1, i2, j1, j2 in match.get_opcodes():
        # Heard words in place of sentences that were not said count as extra speech too.
        kept = sum(1 for i in range(i1, i2) if owner[i] not in unsaid)
        extra = (j2 - j1) - kept if tag in ("replace", "insert") else 0
        if extra <= 0:
            continue
        start, end = heard[j1].start, heard[j2 - 1].end
        if extra < EXTRA_WORDS and (tag != "insert" or end - start < EXTRA_SECONDS):
            continue
        where = lines[owner[i1]] if i1 < len(owner) else lines[-1]
        got = " ".join(said[j1:j2])
        found.append(TakeFinding(
            EXTRA, where.line, where.column, round(start, 3), got,
            f"{take} has speech the script does not at {clock(start)}\u2013{clock(end)} "
            f"(heard {_quote(got)}): an ad-lib, or a sentence cut from the script?"))
    found.sort(key=lambda f: (f.at, f.code))
    return found


def _longest_gap(mine: list[int], heard_at: dict[int, int]) -> tuple[int, int] | None:
    """The longest run [a, b) of a sentence's tokens with nothing heard for them."""
    best, start = None, None
    for i in [*mine, mine[-1] + 1]:
        if i <= mine[-1] and i not in heard_at:
            start = i if start is None else start
        elif start is not None:
            if best is None or i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best


def segment_lines(segment) -> list[Line]:
    """A segment's spoken sentences with the line and column each starts at."""
    from pipeline.script.credits import sentences

    out = []
    for paragraph in segment.paragraphs:
        for s in sentences(paragraph.text, paragraph.line):
            out.append(Line(" ".join(s.text.split()), s.line, s.column))
    return out


def check(samples: np.ndarray, rate: int, lines: Sequence[Line], take: str) -> list[TakeFinding]:
    """Recognise the take against its script lines and compare; [] if recognition cannot run
    (the alignment's own warning already says so)."""
    heard = listen(samples, rate, lines)
    return [] if heard is None else compare(lines, heard, take)


def listen(samples: np.ndarray, rate: int, lines: Sequence[Line]) -> tuple[Heard, ...] | None:
    """recognize() against the script lines, or None if recognition cannot run."""
    try:
        return recognize(samples, rate, [line.text for line in lines])
    except align.AlignmentUnavailable:
        return None


def diagnostics(findings: Sequence[TakeFinding], path: str):
    """Findings as the linter's Diagnostics (warnings: the take still builds)."""
    from pipeline.model import Diagnostic

    return [Diagnostic(path, f.line, f.column, f.code, "warning", f.message) for f in findings]
