"""Small text tools shared by the parser and the validator: dates and line templates.

Both are tolerant the way a human reader is: "Jan. 31, 2023", "January 31st, 1928" and
"2023-01-31" are the same kind of thing, and curly and straight apostrophes are equal.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

_MONTHS = {name: i for i, names in enumerate((
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
    ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
    ("october", "oct"), ("november", "nov"), ("december", "dec")), start=1) for name in names}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{3,4})"
_DATE_FORMS = [re.compile(p, re.IGNORECASE) for p in (
    r"(?P<year>\d{4})-(?P<mnum>\d{2})-(?P<day>\d{2})\b",
    _MONTH + r"\s+" + _DAY + r",?\s+" + _YEAR + r"\b",
    _DAY + r"\s+(?:of\s+)?" + _MONTH + r",?\s+" + _YEAR + r"\b",
)]


def leading_date(text: str) -> tuple[dt.date, int] | None:
    """A date at the very start of `text`, and where it ends; None if there is none."""
    for form in _DATE_FORMS:
        m = form.match(text)
        if m:
            month = int(m["mnum"]) if "mnum" in m.groupdict() and m["mnum"] else \
                _MONTHS[m["month"].lower()]
            try:
                return dt.date(int(m["year"]), month, int(m["day"])), m.end()
            except ValueError:
                return None
    return None


def impossible_date(text: str, prefix: bool = False) -> bool:
    """`text` is (or with `prefix`, starts with) something shaped like a date that names no day
    on the calendar ("February 30, 2026")."""
    text = text.strip()
    for form in _DATE_FORMS:
        m = form.match(text)
        if m and (prefix or not text[m.end():].strip(" .,;:")):
            return leading_date(text) is None
    return False


def parse_date(text: str) -> dt.date | None:
    """`text` is a date and nothing else (trailing punctuation aside)."""
    found = leading_date(text.strip())
    if found and not text.strip()[found[1]:].strip(" .,;:"):
        return found[0]
    return None


def spoken_date(day: dt.date) -> str:
    """How a host says a date: "January 15th, 1919"."""
    suffix = "th" if 10 <= day.day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day.day % 10, "th")
    return f"{day:%B} {day.day}{suffix}, {day.year}"


_PLAIN = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": "-", "–": "-"})


def normalize(text: str) -> str:
    """Compare text as a listener hears it: quotes, dashes and spacing do not matter."""
    return " ".join(text.translate(_PLAIN).split())


def column_of(text: str, offset: int) -> int:
    """The 1-based column in `text` of `offset` in normalize(text), for pointing at a glitch."""
    seen, previous_space = -1, True
    for i, ch in enumerate(text):
        if ch.isspace():
            if not previous_space:
                seen += 1  # a run of spaces is one space in the normalized text
            previous_space = True
            continue
        seen, previous_space = seen + 1, False
        if seen >= offset:
            return i + 1
    return len(text) + 1


@dataclass(frozen=True)
class TemplateMatch:
    values: dict[str, str]
    end: int  # where the match ends in the (normalized) text
    glued: tuple[int, ...]  # 0-based offsets where a required space is missing


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@lru_cache(maxsize=256)
def _compile(template: str, prefix: bool) -> re.Pattern:
    """Template → regex; every space becomes a named `\\s*` group so a glued word can be found."""
    template = normalize(template).rstrip(" .!:")
    spaces = iter(range(10_000))
    parts, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        parts.append(_literal(template[pos:m.start()], spaces))
        last = m.end() == len(template)
        parts.append(f"(?P<{m[1]}>[^.,:;!?]+)" if last and prefix else f"(?P<{m[1]}>.+?)")
        pos = m.end()
    parts.append(_literal(template[pos:], spaces))
    tail = r"\s*[.!:]?" if prefix else r"\s*[.!?:]?\s*$"
    return re.compile("^" + "".join(parts) + tail, re.IGNORECASE)


def _literal(text: str, spaces) -> str:
    return "".join(f"(?P<_s{next(spaces)}>\\s*)" if chunk.isspace() else re.escape(chunk)
                   for chunk in re.split(r"(\s+)", text) if chunk)


def match_template(template: str, text: str, *, prefix: bool = False) -> TemplateMatch | None:
    """Match a show line template such as "From {network}, I'm {host} and this is {show}.".

    Spaces in the template may be missing in the text (a real script glitch, reported as
    glued words); placeholders must start with a capital or a digit, like the names they
    stand for.
    """
    norm = normalize(text)
    m = _compile(template, prefix).match(norm)
    if not m:
        return None
    values, glued = {}, []
    for key, value in m.groupdict().items():
        if key.startswith("_s"):
            start = m.start(key)
            if value == "" and 0 < start < len(norm) and norm[start - 1].isalpha() \
                    and norm[start].isalpha():
                glued.append(start)
        elif value is not None:
            value = value.strip()
            if not value or not (value[0].isupper() or value[0].isdigit()):
                return None
            values[key] = value
    return TemplateMatch(values, m.end(), tuple(glued))


def render_template(template: str, **values: str) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), template)
