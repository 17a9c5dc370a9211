"""Script → [Diagnostic]: the script checked against the show's format, like a linter.

Each rule is a small function with a stable code, so editors, CI and people can rely on them:

S001 missing segment   S002 out of order   S003 duplicate   S004 empty   S005 not a script or
stray text   S006 unknown heading   A001 act numbering   A002 untitled act   A003 act count
H001 no date   H002 no title   H003 no summary   H004 summary lacks the event date
I001 a show line off its template   I002 "Today is" date   I003 "Today is" title
C001 credit not understood   C002 no one credited   Q001 unknown asset   Q002 malformed cue
Q003 cue where it cannot play   Q004 cue inside narration   L001 spoken length
G001 words glued at a marker   G002 words glued in narration   M001/M002 front matter
M003 a slug that is not a plain name   H005 a date not on the calendar   X001 control
characters removed   E001 a file that cannot be read at all   P001 a "fill me in" placeholder
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from typing import NamedTuple

from pipeline.model import Diagnostic, Script, Segment, Severity
from pipeline.script.parse import intro_shapes
from pipeline.show import EpisodeFormat, Show
from pipeline.script.text import (column_of, impossible_date, match_template, normalize, parse_date,
                   spoken_date)

PLACEHOLDER = "Fill me in"
_PLACEHOLDER = re.compile(re.escape(PLACEHOLDER), re.IGNORECASE)
_GLUED = re.compile(r"(?<![\w'’])[a-z]{2,}[.!?;:]?(?=[A-Z][a-z]{2})")  # "inMoscow", "end.Next"



class Finding(NamedTuple):
    """What a rule yields; a rule may set the severity, else the code's usual one applies."""

    line: int
    column: int
    code: str
    message: str
    severity: Severity | None = None


Rule = Callable[[Script, EpisodeFormat, Show | None, frozenset[str] | None], Iterator[Finding]]
_WARNINGS = {"S006", "H003", "H004", "C001", "C002", "Q004", "L001", "G001", "G002", "M001",
             "P001", "X001"}  # codes that are warnings unless their rule says otherwise
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def validate(script: Script, path: str, show: Show | None = None,
             assets: frozenset[str] | None = None) -> list[Diagnostic]:
    """Every rule's findings, sorted by position. `assets` None means: do not check cue names."""
    fmt = show.format if show else EpisodeFormat()
    found = [Finding(n.line, n.column, n.code, n.message) for n in script.notes
             if not _has_placeholder(n.message)]
    for check in (_PUBLISHED_RULES if is_published_audio(script) else RULES):
        found.extend(Finding(*f) for f in check(script, fmt, show, assets))
    found.sort(key=lambda f: (f.line, f.column, f.code))
    return [Diagnostic(path, f.line, f.column, f.code,
                       f.severity or ("warning" if f.code in _WARNINGS else "error"), f.message)
            for f in found]


def is_published_audio(script: Script) -> bool:
    """An episode published before podforge (`podforge import`): its audio is in the front
    matter and it has no script yet, so the script's format does not apply to it."""
    return script.metadata.audio is not None and not script.segments


def published_audio(script, fmt, show, assets):
    """What an imported episode needs to be published again as it was: a title and a date."""
    meta = script.metadata
    if not meta.title:
        yield Finding(1, 1, "H002", "no title: add `title:` to the front matter")
    if meta.date is None:
        yield Finding(1, 1, "H001", "no publication date: add `date:` to the front matter")
    audio = meta.audio
    if audio is not None and not audio.file and not audio.url:
        yield Finding(1, 1, "M002", "front matter audio: needs file (a local copy) or url (the "
                                    "published enclosure)")


_PUBLISHED_RULES = [published_audio]


def _has_placeholder(text: str) -> bool:
    return bool(_PLACEHOLDER.search(text))


def _end(script: Script) -> int:
    return max(script.line_count, 1)


@rule
def not_a_script(script, fmt, show, assets):
    if script.segments:
        for p in script.stray:
            yield Finding(p.line, 1, "S005", "text outside any segment: give it a heading "
                          "(Cold Open, Act …) or move it into one", "warning")
        return
    missing = ", ".join(_name(r.kind) for r in fmt.segments if r.required)
    yield 1, 1, "S005", (f"not a podcast script: no segment found (missing {missing}); a script "
                         "has a header, a Cold Open, the intro, titled acts, a teaser and credits")


@rule
def segments_present_and_ordered(script, fmt, show, assets):
    order = [r.kind for r in fmt.segments]
    present = {s.kind for s in script.segments}
    for r in fmt.segments:
        if r.required and r.kind not in present:
            after = [s for s in script.segments if s.kind in order
                     and order.index(s.kind) > order.index(r.kind)]
            line = after[0].start_line if after else _end(script) if script.segments else 1
            yield line, 1, "S001", (f"missing {_name(r.kind)}: the show's format requires it "
                                    f"{_where(r.kind, order)}")
    rank = -1
    for s in script.segments:
        if s.kind not in order:
            yield s.start_line, 1, "S002", f"{_name(s.kind)} is not part of the show's format"
            continue
        if order.index(s.kind) < rank:
            yield s.start_line, 1, "S002", (f"{_name(s.kind)} is out of order: the format is "
                                            f"{' → '.join(_name(k) for k in order)}")
        rank = max(rank, order.index(s.kind))
    seen: set[str] = set()
    for s in script.segments:
        if s.kind != "act" and s.kind in seen:
            yield s.start_line, 1, "S003", f"a second {_name(s.kind)}: keep one"
        seen.add(s.kind)


def _name(kind: str) -> str:
    return {"cold_open": "cold open", "act": "acts"}.get(kind, kind)


def _where(kind: str, order: list[str]) -> str:
    i = order.index(kind)
    if i + 1 < len(order):
        return f"before the {_name(order[i + 1])}"
    return f"after the {_name(order[i - 1])}" if i else ""


@rule
def empty_segments(script, fmt, show, assets):
    for s in script.segments:
        if not s.paragraphs:
            yield s.start_line, 1, "S004", f"{s.label} is empty: write its narration"


@rule
def acts(script, fmt, show, assets):
    acts = script.acts
    for expected, act in enumerate(acts, start=1):
        if act.number != expected:
            yield act.start_line, 1, "A001", (f"act numbered {act.number} where act {expected} "
                                              "belongs: number acts in sequence from one")
        if not act.title:
            yield act.start_line, 1, "A002", (f"act {act.number} has no title: write "
                                              f'"Act {act.number}: <title>"')
    if acts and not fmt.acts.min <= len(acts) <= fmt.acts.max:
        yield acts[0].start_line, 1, "A003", (
            f"{len(acts)} acts; the show's format allows {fmt.acts.min:g} to {fmt.acts.max:g}")


@rule
def header(script, fmt, show, assets):
    if not script.segments:
        return
    m, first = script.metadata, script.body_start
    if m.date is None and m.date_line is None:  # an impossible date line is H005, from the parser
        yield first, 1, "H001", ("no date line: the script starts with its publication date, "
                                 'e.g. "Jan. 15, 2026"')
    if m.title is None:
        yield first, 1, "H002", "no title: the line after the date is the episode's title"
    elif m.summary is None:
        yield m.title_line or first, 1, "H003", ("no summary: add a one-line summary after the "
                                                 "title that starts with the event's date")
    elif m.event_date is None and impossible_date(normalize(m.summary), prefix=True):
        yield m.summary_line or first, 1, "H005", ("the summary's date is not a day on the "
                                                   "calendar: fix the day or the month")
    elif m.event_date is None and not _has_placeholder(m.summary):
        yield m.summary_line or first, 1, "H004", ('the summary does not start with the event\'s '
                                                   'date, e.g. "January 15, 1919. …"')


@rule
def show_lines(script, fmt, show, assets):
    """The intro, teaser and credits opener against the templates and the show's identity."""
    expected = {"network": show.network, "host": show.host, "show": show.title} if show else {
        k: v for k, v in vars(script.identity).items() if v}
    intro = script.segments_of("intro")[:1]
    if intro and fmt.intro:
        templates = fmt.intro
        if show is None and intro[0].paragraphs:  # no show.yaml: the intro's own usual shape
            first = intro[0].paragraphs[0].text.split("\n", 1)[0]
            shape = next((t for t in intro_shapes(fmt) if match_template(t, first)), None)
            templates = (shape, *fmt.intro[1:]) if shape else templates
        yield from _intro(intro[0], templates, expected, script)
    for kind, template in (("teaser", fmt.teaser), ("credits", fmt.credits)):
        for s in script.segments_of(kind)[:1]:
            if s.paragraphs and template and not _has_placeholder(s.paragraphs[0].text):
                yield from _line(s.paragraphs[0], template, expected, kind, prefix=True,
                                 optional=kind == "credits" and s.heading_line is None)


def _line(paragraph, template, expected, kind, prefix=False, optional=False):
    first = paragraph.text.split("\n", 1)[0]
    m = match_template(template, first, prefix=prefix)
    if m is None:
        if not optional:
            yield paragraph.line, 1, "I001", (f"the {kind} should open with the show's line "
                                              f'"{template}"')
        return None
    for key, value in m.values.items():
        want = expected.get(key)
        if want and normalize(value).casefold() != normalize(want).casefold():
            yield paragraph.line, column_of(first, normalize(first).find(value)) or 1, "I001", (
                f'the {kind} names the {key} "{value}" but the show is "{want}"')
    return m


def _intro(segment: Segment, templates, expected, script):
    paragraphs = [p for p in segment.paragraphs]
    if "..." in templates:
        cut = templates.index("...")
        head, tail = templates[:cut], templates[cut + 1:]
    else:
        head, tail = templates, ()
    if len(paragraphs) < len(head) + len(tail):
        yield segment.start_line, 1, "I001", (f"the intro has {len(paragraphs)} paragraphs; the "
                                              f"show's intro has {len(head) + len(tail)} lines")
        return
    pairs = [*zip(head, paragraphs), *zip(tail, paragraphs[len(paragraphs) - len(tail):])]
    for template, paragraph in pairs:
        if _has_placeholder(paragraph.text):
            continue
        m = yield from _line(paragraph, template, expected, "intro")
        if m and "date" in m.values and impossible_date(m.values["date"]):
            yield paragraph.line, 1, "H005", (f'the intro says "{m.values["date"]}", which is '
                                              "not a day on the calendar")
        elif m and "date" in m.values and script.metadata.event_date:
            said = parse_date(m.values["date"])
            if said != script.metadata.event_date:
                yield paragraph.line, 1, "I002", (
                    f'the intro says "{m.values["date"]}" but the summary\'s date is '
                    f"{spoken_date(script.metadata.event_date)}")
        if m and "title" in m.values and script.metadata.title and normalize(
                m.values["title"]).casefold() != normalize(script.metadata.title).casefold():
            yield paragraph.line, 1, "I003", (f'the intro says the title is "{m.values["title"]}" '
                                              f'but the header says "{script.metadata.title}"')


@rule
def credits(script, fmt, show, assets):
    for s in script.segments_of("credits"):
        if s.paragraphs and not script.credits and not _has_placeholder(s.text):
            yield s.start_line, 1, "C002", ('the credits name no one: write "<role> by <name>." '
                                            "sentences")


@rule
def cues(script, fmt, show, assets):
    for s in script.segments:
        for cue in s.cues:
            if cue.problem:
                yield cue.line, cue.column, "Q002", f"{cue.text}: {cue.problem}"
                continue
            if s.kind == "credits":
                yield cue.line, cue.column, "Q003", (f"{cue.text} inside the credits: the outro "
                                                     "music plays there; move the cue")
            if assets is not None and cue.name and cue.name not in assets:
                known = ", ".join(sorted(assets)) or "none"
                yield cue.line, cue.column, "Q001", (f"{cue.text} names no known asset "
                                                     f"{cue.name!r}; known: {known}")


@rule
def spoken_length(script, fmt, show, assets):
    if not script.segments or any(_has_placeholder(s.text) for s in script.segments):
        return
    minutes = script.words / fmt.words_per_minute
    if not fmt.minutes.min <= minutes <= fmt.minutes.max:
        yield script.segments[0].start_line, 1, "L001", (
            f"{script.words} words is about {minutes:.1f} minutes at {fmt.words_per_minute:g} "
            f"words a minute; the show runs {fmt.minutes.min:g} to {fmt.minutes.max:g}")


@rule
def glued_words(script, fmt, show, assets):
    marker_lines = {n.line for n in script.notes if n.code == "G001"}
    for s in script.segments:
        for p in s.paragraphs:
            for i, line in enumerate(p.text.split("\n")):
                if p.line + i in marker_lines:
                    continue
                for m in _GLUED.finditer(line):
                    word = line[m.start():].split()[0]
                    yield p.line + i, m.start() + 1, "G002", (
                        f'"{word}" looks like words glued together: add the missing space')


@rule
def placeholders(script, fmt, show, assets):
    paragraphs = [*(p for s in script.segments for p in s.paragraphs), *script.stray]
    lines = [(script.metadata.title_line, script.metadata.title)]
    lines += [(p.line, p.text) for p in paragraphs]
    lines += [(s.heading_line, s.title) for s in script.acts if s.title]
    for line, text in lines:
        if line and text:
            for m in _PLACEHOLDER.finditer(text):
                yield line, m.start() + 1, "P001", "fill me in: replace the placeholder"


def summary(diagnostics: list[Diagnostic], files: int) -> str:
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = sum(d.severity == "warning" for d in diagnostics)
    return (f"{files} script{'s' * (files != 1)} checked: {errors} error{'s' * (errors != 1)}, "
            f"{warnings} warning{'s' * (warnings != 1)}")

