"""Script text → Script: the first stage, a pure function of the text.

The parser reads a script the way a producer skims one: a header, then markers that open each
segment — a heading ("Cold Open", "Act Two: Exile", "## Credits"), or the shape of a line the
show always speaks ("From …, I'm … and this is ….", "Next on …", "From …, this is …"). Everything
keeps its line span; nothing is invented for what is missing, and nothing here raises on odd
text: what it cannot use becomes a Note for the validator.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline import yamlio
from pipeline.script.credits import looks_like_credit, read_credits
from pipeline.errors import ScriptError
from pipeline.files import SLUG_HINT, is_slug
from pipeline.model import Audio, Cue, Identity, Metadata, Note, Paragraph, Script, Segment
from pipeline.show import DEFAULT_INTRO, EpisodeFormat
from pipeline.script.text import (column_of, impossible_date, leading_date, match_template, normalize,
                   parse_date)

MAX_BYTES = 2_000_000  # a two-hour script is ~150 kB; anything this big is not a script
SCRIPT_NAMES = ("script.txt", "script.md")
_ISO_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}\b")
# C0 and C1 controls (tab and newline aside) and lone surrogates: XML, HTML and ID3 refuse them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def clean(text: str) -> str:
    """Text with the control characters no feed, page or tag can carry taken out."""
    return _CONTROL.sub("", text)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

_NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_ROMAN = {r: i for i, r in enumerate(
    "- i ii iii iv v vi vii viii ix x xi xii xiii xiv xv xvi xvii xviii xix xx".split()) if i}
_HASHES = re.compile(r"^#{1,6}\s*")
_ACT = re.compile(r"^act\s+(?P<number>[a-z0-9]+)\s*(?:[:.\-–—]\s*(?P<title>.*?))?\s*$",
                  re.IGNORECASE)
_NAMED = {"cold open": "cold_open", "intro": "intro", "introduction": "intro",
          "teaser": "teaser", "next episode": "teaser", "credits": "credits",
          "end credits": "credits"}
_CUE = re.compile(r"^\[\s*(?P<kind>[A-Za-z]+)\s*(?::\s*(?P<arg>[^\]]*?)|\s+(?P<bare>[^\]]*?))?"
                  r"\s*\]$")
_INLINE_CUE = re.compile(r"\[\s*(?:SFX|MUSIC|BED|PAUSE)\b[^\]]*\]", re.IGNORECASE)
_PAUSE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)?$", re.IGNORECASE)
_CUE_KINDS = {"sfx": "sfx", "sound": "sfx", "music": "music", "bed": "bed", "pause": "pause"}
_FRONT_MATTER = {"slug": str, "date": dt.date, "title": str, "summary": str, "season": int,
                 "episode": int, "explicit": bool, "draft": bool, "draft_voice": bool, "keywords": list,
                 "guid": str, "sources": list, "published": dt.datetime, "audio": dict}
_AUDIO = {"url": str, "length": int, "type": str, "file": str, "duration": float}


@dataclass(frozen=True)
class Block:
    """A run of lines read as one unit: a heading, a cue line or a paragraph."""

    kind: str  # "heading" | "cue" | "text"
    line: int
    end_line: int
    text: str


@dataclass
class _Open:
    """A segment while the parser is still collecting its contents."""

    kind: str
    start_line: int
    heading_line: int | None = None
    number: int | None = None
    title: str | None = None
    items: list = field(default_factory=list)

    def close(self) -> Segment:
        paragraphs = tuple(i for i in self.items if isinstance(i, Paragraph))
        cues = tuple(i for i in self.items if isinstance(i, Cue))
        ends = [self.heading_line or self.start_line,
                *(p.end_line for p in paragraphs), *(c.line for c in cues)]
        return Segment(self.kind, self.start_line, max(ends), self.number, self.title,
                       self.heading_line, paragraphs, cues)


def read_script(path: Path, fmt: EpisodeFormat = EpisodeFormat()) -> Script:
    """The file edge: every reason a file is not a readable script is a ScriptError."""
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ScriptError(f"{path}: is a folder; give a script file, or its folder to "
                              "`podforge validate`")
        if size > MAX_BYTES:
            raise ScriptError(f"{path}: {size / 1e6:.1f} MB is too large for a script "
                              f"(limit {MAX_BYTES / 1e6:.0f} MB); is it the right file?")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScriptError(f"{path}: no such file") from None
    except OSError as err:
        raise ScriptError(f"{path}: cannot read: {err.strerror}") from None
    if b"\x00" in data:
        raise ScriptError(f"{path}: binary data (NUL bytes): a script is plain UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise ScriptError(f"{path}:{line}: not UTF-8 text (byte {err.start}); "
                          "save the script as UTF-8") from None
    if not text.strip():
        raise ScriptError(f"{path}: empty script: write one, or run `podforge new SLUG`")
    try:
        return parse(text, fmt)
    except ScriptError as err:
        raise ScriptError(f"{path}:{err}") from None


def parse(text: str, fmt: EpisodeFormat = EpisodeFormat()) -> Script:
    """Text → Script. Raises ScriptError only for broken front matter ("LINE: problem")."""
    controls = []
    if _CONTROL.search(text):  # taken out before anything can carry them into a feed or tag
        controls = [Note("X001", n, m.start() + 1, f"control character U+{ord(m[0]):04X} "
                         "removed: it cannot appear in a feed, page or tag")
                    for n, line in enumerate(text.split("\n"), start=1)
                    for m in [_CONTROL.search(line)] if m]
        text = clean(text)
    lines = text.splitlines()
    meta, body_start, notes = _front_matter(lines)
    notes[:0] = controls
    blocks = _blocks(lines, body_start)
    header: list[Block] = []
    segments: list[_Open] = []
    identity = Identity()
    for block in blocks:
        current = segments[-1] if segments else None
        if block.kind == "heading":
            opened = _heading(block, notes)
            if opened:
                segments.append(opened)
            continue
        if block.kind == "cue":
            cue = _cue(block)
            if current:
                current.items.append(cue)
            else:
                notes.append(Note("Q003", block.line, 1,
                                  f"cue {block.text} before the first segment: move it into one"))
            continue
        marker = _marker(block, fmt, current, notes)
        if not marker and current and current.kind == "teaser" and looks_like_credit(
                block.text, identity.host, fmt.credits):
            marker = ("credits", {})
        if marker:
            kind, values = marker
            identity = Identity(identity.network or values.get("network"),
                                identity.host or values.get("host"),
                                identity.show or values.get("show"))
            segments.append(current := _Open(kind, block.line))
        if current is None:
            header.append(block)
            continue
        if _INLINE_CUE.search(block.text):
            m = _INLINE_CUE.search(block.text)
            line, column = _position(block, m.start())
            notes.append(Note("Q004", line, column,
                              f"cue {m[0]} inside narration: put it on its own line"))
        current.items.append(Paragraph(block.text, block.line, block.end_line))
    meta, stray = _header(header, meta, notes)
    closed = tuple(s.close() for s in segments)
    credit_paragraphs = [p for s in closed if s.kind == "credits" for p in s.paragraphs]
    credits, credit_notes = read_credits(credit_paragraphs, identity.host, fmt.credits)
    return Script(meta, closed, credits, identity, (*notes, *credit_notes), tuple(stray),
                  len(lines), body_start)


def _position(block: Block, offset: int) -> tuple[int, int]:
    before = block.text[:offset]
    return block.line + before.count("\n"), offset - (before.rfind("\n") + 1) + 1


def _front_matter(lines: list[str]) -> tuple[Metadata, int, list[Note]]:
    """An optional `---` YAML block; a syntax error stops the parse (it names the line)."""
    notes: list[Note] = []
    if not lines or lines[0].strip() != "---":
        return Metadata(), 1, notes
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        raise ScriptError("1: front matter opened with --- is never closed: add a --- line")
    try:
        data = yamlio.load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as err:  # "LINE:COL: YAML error: …"; read_script adds the path
        raise ScriptError(yamlio.describe(err, "", 1, "front matter").lstrip(":")
                          + ": fix the front matter") from None
    if not isinstance(data, dict):
        notes.append(Note("M001", 1, 1, "front matter is not a mapping of keys: ignored"))
        return Metadata(), end + 2, notes
    values = {}
    for key, value in data.items():
        line = next((i + 1 for i in range(1, end) if lines[i].lstrip().startswith(f"{key}:")), 1)
        expected = _FRONT_MATTER.get(str(key))
        if key == "published" and isinstance(value, str):
            value = _instant(value) or value
        if key == "audio" and isinstance(value, dict):
            audio, problem = _audio(value)
            if problem:
                notes.append(Note("M002", line, 1, f"front matter audio: {problem}"))
            else:
                values[key] = audio
            continue
        if expected is None:
            notes.append(Note("M001", line, 1, f"unknown front matter key {str(key)[:40]!r}; "
                                               f"known: {', '.join(_FRONT_MATTER)}"))
            continue
        if expected is dt.date:
            value = yamlio.as_date(value) or (parse_date(value) if isinstance(value, str)
                                              else None) or value
            if isinstance(value, str) and impossible_date(value):
                notes.append(Note("H005", line, 1, f"front matter date {value.strip()!r} is not "
                                  "a day on the calendar: fix the day or the month"))
                continue
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if ok and expected is list:
            ok = all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value)
        if not ok:
            notes.append(Note("M002", line, 1, f"front matter {key}: expected "
                              f"{'a list of text' if expected is list else expected.__name__}, "
                              f"got {_short(value)}"))
            continue
        if isinstance(value, str):
            value = clean(value)
        if key == "slug" and not is_slug(value):
            notes.append(Note("M003", line, 1, f"front matter slug {_short(value)} is not a plain "
                              f"name: {SLUG_HINT}"))
            continue
        values[key] = value
    if "keywords" in values:
        values["keywords"] = tuple(clean(str(k)) for k in values["keywords"])
    if "sources" in values:
        values["sources"] = tuple(clean(str(s)) for s in values["sources"])
    return Metadata(**values), end + 2, notes


def _instant(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None


def _audio(data: dict) -> tuple[Audio | None, str | None]:
    """`audio:` {url, length, type, file, duration} → Audio, or the problem with it."""
    values = {}
    for key, value in data.items():
        expected = _AUDIO.get(str(key))
        if expected is None:
            return None, f"unknown key {key!r}; known: {', '.join(_AUDIO)}"
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if value is not None and (isinstance(value, bool) or not isinstance(value, expected)):
            return None, f"{key}: expected {expected.__name__}, got {value!r}"
        values[key] = value
    if not values.get("url") and not values.get("file"):
        return None, "needs url (the published enclosure) or file (a local copy)"
    return Audio(**values), None


def _blocks(lines: list[str], start: int) -> list[Block]:
    """Headings and cue lines stand alone; other consecutive lines form a paragraph."""
    blocks, para, first = [], [], 0
    for number in range(start, len(lines) + 1):
        raw = lines[number - 1].strip()
        kind = "cue" if _CUE.match(raw) else "heading" if _is_heading(raw) else "text"
        if para and (kind != "text" or not raw):
            blocks.append(Block("text", first, number - 1, "\n".join(para)))
            para = []
        if not raw:
            continue
        if kind == "text":
            first = first if para else number
            para.append(raw)
        else:
            blocks.append(Block(kind, number, number, raw))
    if para:
        blocks.append(Block("text", first, len(lines), "\n".join(para)))
    return blocks


def _is_heading(raw: str) -> bool:
    if raw.startswith("#"):
        return bool(_HASHES.match(raw))
    if len(raw) > 120:
        return False
    plain = normalize(raw).rstrip(":").lower()
    return plain in _NAMED and plain != "next episode" or bool(
        _ACT.match(raw) and _act_number(_ACT.match(raw)["number"]) is not None
        and not (raw.endswith(".") and " " in (_ACT.match(raw)["title"] or "")))


def _act_number(word: str) -> int | None:
    word = word.lower()
    return int(word) if word.isdigit() else _NUMBERS.get(word, _ROMAN.get(word))


def _heading(block: Block, notes: list[Note]) -> _Open | None:
    content = _HASHES.sub("", block.text).strip()
    named = _NAMED.get(normalize(content).rstrip(":").lower())
    if named:
        return _Open(named, block.line, block.line)
    act = _ACT.match(content)
    if act and _act_number(act["number"]) is not None:
        return _Open("act", block.line, block.line, _act_number(act["number"]),
                     (act["title"] or "").strip() or None)
    notes.append(Note("S006", block.line, 1, f"unknown heading {content!r}: segments are "
                      "Cold Open, Act <n>: <title>, Intro, Teaser and Credits"))
    return None


def _cue(block: Block) -> Cue:
    m = _CUE.match(block.text)
    written, arg = m["kind"], (m["arg"] if m["arg"] is not None else m["bare"] or "").strip()
    kind = _CUE_KINDS.get(written.lower())
    if kind is None:
        return Cue(written.lower(), arg, None, block.line, 1, block.text,
                   f"unknown cue kind {written!r}: use SFX, MUSIC, BED or PAUSE")
    if kind == "pause":
        if not arg:
            return Cue(kind, "", 1.0, block.line, 1, block.text)
        seconds = _PAUSE.match(arg)
        if not seconds or not 0 < float(seconds["n"]) <= 30:
            return Cue(kind, "", None, block.line, 1, block.text,
                       f"pause length {arg!r} not understood: write [PAUSE 1.5s] (up to 30 s)")
        return Cue(kind, "", float(seconds["n"]), block.line, 1, block.text)
    arg, settings, problem = _cue_settings(arg)
    name = re.sub(r"[\s_]+", "-", arg.lower())
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        return Cue(kind, name, None, block.line, 1, block.text,
                   f"{written} cue needs an asset name: write [{written.upper()}: bell]")
    if problem:
        return Cue(kind, name, None, block.line, 1, block.text, problem)
    return Cue(kind, name, None, block.line, 1, block.text, **settings)


_SETTING = re.compile(r"\s+(?:(?P<gain>[+-]?\d+(?:\.\d+)?)\s*db|fade\s+(?P<fade>\d+(?:\.\d+)?)\s*s"
                      r"|(?:for\s+)?(?P<length>\d+(?:\.\d+)?)\s*s)\s*$", re.IGNORECASE)


def _cue_settings(arg: str) -> tuple[str, dict, str | None]:
    """`pulse-bed -12dB fade 2s 20s` → the name, and the gain, fade and length the line asks
    for (read from the end, so a name may hold digits); a setting out of range is a problem."""
    settings: dict = {}
    while m := _SETTING.search(" " + arg):
        key = next(k for k in ("gain", "fade", "length") if m[k] is not None)
        if key in settings:
            return arg, {}, f"the cue sets its {key} twice: keep one"
        settings[{"gain": "gain_db"}.get(key, key)] = float(m[key])
        arg = (" " + arg)[:m.start()].strip()
    gain, fade, length = (settings.get(k) for k in ("gain_db", "fade", "length"))
    if gain is not None and not -60 <= gain <= 20:
        return arg, {}, f"cue gain {gain:g} dB is outside -60 … 20 dB"
    if fade is not None and not 0 <= fade <= 60:
        return arg, {}, f"cue fade {fade:g} s is outside 0 … 60 s"
    if length is not None and not 0 < length <= 3600:
        return arg, {}, f"cue length {length:g} s is outside 0 … 3600 s"
    return arg, settings, None


# The usual ways a host opens a show. Without a show.yaml of its own (the default format), any of
# them opens the intro and tells who makes the show.
INTRO_SHAPES = (DEFAULT_INTRO[0], "I'm {host}, and this is {show}.",
                "I'm {host} and this is {show}.", "Welcome to {show}, I'm {host}.", "Welcome to {show}. I'm {host}.",
                "This is {show}, I'm {host}.", "From {network}, this is {show}. I'm {host}.")


def intro_shapes(fmt: EpisodeFormat) -> tuple[str, ...]:
    """The first intro lines that open the intro under `fmt`."""
    if not fmt.intro:
        return ()
    return INTRO_SHAPES if fmt.intro[0] == DEFAULT_INTRO[0] else fmt.intro[:1]


# Where a headless segment may open: the intro anywhere, the teaser after an act, the credits
# after an act or the teaser. Context keeps "Next on Monday, …" inside an act from splitting it.
_OPENS_AFTER = {"intro": None, "teaser": {"act"}, "credits": {"act", "teaser"}}


def _marker(block: Block, fmt: EpisodeFormat, current: _Open | None,
            notes: list[Note]) -> tuple[str, dict] | None:
    """Does this paragraph open a segment that has no heading? By the show's own lines."""
    first = block.text.split("\n", 1)[0]
    kind = current.kind if current else None
    checks = [*(("intro", t) for t in intro_shapes(fmt)),
              ("teaser", fmt.teaser), ("credits", fmt.credits)]
    plain = normalize(first[:40]).lower()
    for target, template in checks:
        after = _OPENS_AFTER[target]
        if not template or target == kind or (after is not None and kind not in after):
            continue
        lead = normalize(template.split(None, 1)[0]).lower()
        if "{" not in lead and not plain.startswith(lead):
            continue  # cheap reject: the line does not even start like the template
        m = match_template(template, first, prefix=True)
        if not m:
            continue
        for offset in m.glued:
            notes.append(Note("G001", block.line, column_of(first, offset),
                              f"words glued together at the {target} line "
                              f"(\"{normalize(first)[max(0, offset - 8):offset + 8]}\"): "
                              "add the missing space"))
        return target, m.values
    return None


def _header(blocks: list[Block], meta: Metadata, notes: list[Note]):
    """Date line, title (a repeat is skipped), one-line summary; anything else is stray."""
    values: dict = {}
    queue = [b for b in blocks if b.kind == "text"]
    if queue and parse_date(queue[0].text):
        values.update(date=parse_date(queue[0].text), date_line=queue[0].line)
        queue.pop(0)
    elif queue and impossible_date(queue[0].text):
        notes.append(Note("H005", queue[0].line, 1, f"the date line {queue[0].text!r} is not a "
                          "day on the calendar: fix the day or the month"))
        values.update(date_line=queue[0].line)
        queue.pop(0)
    if queue:
        values.update(title=" ".join(queue[0].text.split()), title_line=queue[0].line)
        queue.pop(0)
        if queue and normalize(queue[0].text) == normalize(values["title"]):
            queue.pop(0)
    if queue:
        summary = " ".join(queue[0].text.split())
        values.update(summary=summary, summary_line=queue[0].line)
        found = leading_date(normalize(summary))
        if found:
            values["event_date"] = found[0]
        queue.pop(0)
    fm = {k: v for k, v in vars(meta).items() if v is not None and v != ()}
    if "date" in fm and "date" in values and fm["date"] != values["date"]:
        notes.append(Note("M002", values["date_line"], 1,
                          f"header date {values['date']} differs from front matter date "
                          f"{fm['date']}"))
    merged = {**values, **{k: v for k, v in fm.items() if k not in values}}
    stray = [Paragraph(b.text, b.line, b.end_line) for b in queue]
    return Metadata(**merged), stray
