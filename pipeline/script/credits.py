"""Spoken credits → people with Podcasting 2.0 roles.

Credits are read aloud, so they are written as sentences, not tables: "Audio editing by A.",
"This episode is written by B and researched by C.", "Executive Producers are D for X and E for
Y.", "F is our senior editor.", "Music: G and H." A small grammar of four sentence shapes, a
phrase → role map and a name-list splitter cover the ways producers phrase them; whatever it
cannot read comes back as a note quoting the sentence, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.model import Credit, Note
from pipeline.script.taxonomy import ROLES
from pipeline.script.text import match_template, normalize

# Spoken phrase → taxonomy role. Keys are lower-case, singular, without "original"/"additional".
_PHRASES = {
    "host": "host", "hosted": "host", "hosting": "host", "presented": "host",
    "co-host": "co-host", "co-hosted": "co-host", "guest host": "guest host",
    "narrated": "narrator", "narration": "narrator", "read": "narrator", "voiced": "voice actor",
    "voice": "voice actor", "voice acting": "voice actor", "announced": "announcer",
    "reported": "reporter", "reporting": "reporter",
    "edited": "editor", "editing": "editor", "senior editor": "editor",
    "story editor": "story editor", "story editing": "story editor",
    "managing editor": "managing editor", "script editor": "script editor",
    "script editing": "script editor",
    "executive produced": "executive producer", "executive producing": "executive producer",
    "executive production": "executive producer",
    "produced": "producer", "production": "producer", "producing": "producer",
    "senior producer": "senior producer", "supervising producer": "senior producer",
    "associate producer": "associate producer", "directed": "director",
    "written": "writer", "writing": "writer", "script": "writer", "scripted": "writer",
    "co-written": "co-writer", "researched": "researcher", "research": "researcher",
    "fact checking": "fact checker", "fact-checking": "fact checker",
    "fact checked": "fact checker", "fact-checked": "fact checker",
    "fact check": "fact checker", "translated": "translator", "translation": "translator",
    "transcribed": "transcriber", "transcription": "transcriber",
    "audio editing": "audio editor", "audio edited": "audio editor",
    "sound editing": "audio editor", "sound design": "sound designer",
    "sound designed": "sound designer", "foley": "foley artist",
    "music": "composer", "score": "composer", "composed": "composer", "music composed": "composer",
    "theme": "theme music", "theme music": "theme music", "music production": "music production",
    "mixed": "audio engineer", "mixing": "audio engineer", "mastered": "audio engineer",
    "mastering": "audio engineer", "engineered": "audio engineer",
    "audio engineering": "audio engineer", "sound engineering": "audio engineer",
    "recorded": "audio engineer", "recording": "audio engineer",
    "mix": "audio engineer", "technical direction": "technical director",
    "cover art": "cover art designer", "artwork": "cover art designer",
    "social media": "social media manager", "marketing": "marketing manager",
    "production assistance": "production assistant", "consulting": "consultant",
}
_DROP = re.compile(r"^(?:original|additional|our|the|all|with)\s+")
_LIST = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*")
_NAME_PARTICLES = {"de", "da", "di", "del", "della", "van", "von", "der", "den", "la", "le",
                   "du", "bin", "ibn", "al", "el", "y", "dos", "das", "st.", "of", "ten", "ter"}
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'“‘])")
_THIS_EPISODE = re.compile(r"^(?:this|today's|today’s)\s+(?:episode|show|story)\s+(?:is|was)\s+",
                           re.IGNORECASE)


@dataclass(frozen=True)
class Sentence:
    text: str
    line: int
    column: int


def sentences(text: str, line: int) -> list[Sentence]:
    """Split a credits paragraph into sentences, keeping where each starts on its line."""
    out, pos = [], 0
    for piece in _SENTENCE.split(text):
        pos = text.index(piece, pos)
        before = text[:pos]
        out.append(Sentence(piece.strip(), line + before.count("\n"),
                            pos - (before.rfind("\n") + 1) + 1))
        pos += len(piece)
    return [s for s in out if s.text]


def role_of(phrase: str) -> str | None:
    """One spoken role phrase ("Executive Producers", "audio editing") → a taxonomy role."""
    phrase = normalize(phrase).lower().strip(" .,:;")
    while _DROP.match(phrase):
        phrase = _DROP.sub("", phrase, count=1)
    for candidate in (phrase, phrase[:-1] if phrase.endswith("s") else None):
        if candidate in _PHRASES:
            return _PHRASES[candidate]
        if candidate in ROLES:
            return candidate
    return None


def roles_of(phrase: str) -> tuple[str, ...] | None:
    """"hosted, edited, and executive produced" → (host, editor, executive producer)."""
    parts = [p for p in _LIST.split(phrase.strip()) if p]
    roles = [role_of(p) for p in parts]
    if not parts or None in roles:
        return None
    return tuple(dict.fromkeys(roles))


def _is_name(text: str) -> bool:
    words = text.split()
    return 0 < len(words) <= 6 and words[0][:1].isupper() and all(
        w[:1].isupper() or w[:1].isdigit() or w.lower() in _NAME_PARTICLES for w in words)


def names_of(text: str, host: str | None) -> list[tuple[str, str | None]] | None:
    """"A for X and B for Y" / "me, Nora Vance" / "A, B and C" → [(name, organisation)]."""
    text = text.strip().rstrip(".!")
    me = re.match(r"^me(?:,\s*|\s+)(.*)$", text) or (re.match(r"^me$", text) and host and
                                                      re.match(r"^(.*)$", host))
    if me:
        text = me[1]
    people = []
    for part in _LIST.split(text):
        name, _, org = part.partition(" for ")
        name, org = name.strip(), org.strip() or None
        if not _is_name(name) or (org is not None and not org[:1].isupper()):
            return None
        people.append((name, org))
    return people or None


def _by_clauses(text: str, host: str | None) -> list[tuple[tuple[str, ...], list]] | None:
    """"written by A and researched by B" → [((writer,), [A]), ((researcher,), [B])]."""
    chunks = re.split(r"\s+by\s+", text)
    if len(chunks) < 2:
        return None
    phrases, names = [chunks[0]], []
    for middle in chunks[1:-1]:
        # The end of the chunk is the next clause's role phrase, after a list separator.
        for sep in reversed(list(re.finditer(r",\s*(?:and\s+)?|\s+and\s+", middle))):
            if roles_of(middle[sep.end():]):
                names.append(middle[:sep.start()])
                phrases.append(middle[sep.end():])
                break
        else:
            return None
    names.append(chunks[-1])
    clauses = []
    for phrase, who in zip(phrases, names):
        roles, people = roles_of(phrase), names_of(who, host)
        if not roles or not people:
            return None
        clauses.append((roles, people))
    return clauses


THANKS = "special thanks"  # a Credit role outside the taxonomy: publish lists it, maps it to none
_THANKS = re.compile(r"^(?:and\s+)?(?:a\s+)?(?:very\s+)?special\s+thanks\s*"
                     r"(?:(?:go(?:es)?|are\s+due)\s+)?(?:to\s+|:\s*)(?P<names>.+)$",
                     re.IGNORECASE)


def read_sentence(text: str, host: str | None, opener: str) -> list | None:
    """One credit sentence → [(roles, [(name, org)])], or None when it cannot be read."""
    text = normalize(text).rstrip(".!")
    opening = match_template(opener, text, prefix=True)
    if opening:
        rest = text[opening.end:].strip(" ,")
        return [] if not rest else _by_clauses(rest, host)
    thanks = _THANKS.match(text)
    if thanks:  # thanked, not credited: no podcast:person role, but listed in the notes
        people = names_of(re.sub(r"^the\s+", "", thanks["names"]), host)
        return [((THANKS,), people)] if people else None
    stripped = _THIS_EPISODE.sub("", text)
    if " by " in f" {stripped} ":
        return _by_clauses(stripped, host)
    m = re.match(r"^(?P<names>.+?)\s+(?:is|are)\s+(?:our|the|this show's|the show's)\s+"
                 r"(?P<roles>.+)$", text)
    if m and roles_of(m["roles"]) and names_of(m["names"], host):
        return [(roles_of(m["roles"]), names_of(m["names"], host))]
    m = re.match(r"^(?:our\s+)?(?P<roles>[^:]+?)\s+(?:is|are|was|were)\s+(?P<names>.+)$", text,
                 re.IGNORECASE) or re.match(r"^(?P<roles>[^:]+):\s*(?P<names>.+)$", text)
    if m and roles_of(m["roles"]) and names_of(m["names"], host):
        return [(roles_of(m["roles"]), names_of(m["names"], host))]
    return None


def read_credits(paragraphs, host: str | None, opener: str) -> tuple[tuple[Credit, ...],
                                                                    tuple[Note, ...]]:
    """Every credit sentence → people with merged roles, in order of first mention."""
    people: dict[str, tuple[list[str], str | None, int]] = {}
    notes = []
    for paragraph in paragraphs:
        for sentence in sentences(paragraph.text, paragraph.line):
            clauses = read_sentence(sentence.text, host, opener)
            if clauses is None:
                notes.append(Note("C001", sentence.line, sentence.column,
                                  f'credit sentence not understood: "{sentence.text}"; '
                                  'write it as "<role> by <name>." or "<name> is our <role>."'))
                continue
            for roles, names in clauses:
                for name, org in names:
                    held, held_org, line = people.setdefault(name, ([], None, sentence.line))
                    held.extend(r for r in roles if r not in held)
                    if org and not held_org:
                        people[name] = (held, org, line)
    credits = tuple(Credit(name, tuple(roles), org, line)
                    for name, (roles, org, line) in people.items())
    return credits, tuple(notes)


def looks_like_credit(text: str, host: str | None, opener: str) -> bool:
    """A paragraph whose every sentence reads as a credit (credits need no heading)."""
    found = sentences(text, 1)
    return bool(found) and all(read_sentence(s.text, host, opener) for s in found)
