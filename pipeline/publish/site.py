"""The static site and the show notes: HTML made from the same Episode values as the feed.

Pure functions from data to text. Every string that came from a script, a build report or
show.yaml goes through html.escape exactly once, here, so a title with `<b>` or `]]>` in it
shows as written everywhere. Pages link relatively and load nothing from elsewhere, so the
published folder works from any host, or offline.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from html import escape as _escape
from importlib.resources import files
from string import Template
from typing import Iterable, Sequence

from pipeline.model import Chapter, Credit, TimedLine
from pipeline.publish.episodes import Episode
from pipeline.script.credits import THANKS
from pipeline.show import Show
from pipeline.timefmt import stamp


def escape(text: str) -> str:
    """For text and double-quoted attributes alike (apostrophes stay readable)."""
    return _escape(text, quote=False).replace('"', "&quot;")


def long_date(day: dt.date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def credits_by_role(credits: Iterable[Credit]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Role → the people in it, roles in the order the credits first name them."""
    roles: dict[str, list[str]] = {}
    for credit in credits:
        name = f"{credit.name} ({credit.organization})" if credit.organization else credit.name
        for role in credit.roles:
            people = roles.setdefault(role, [])
            if name not in people:
                people.append(name)
    thanks = roles.pop(THANKS, None)  # thanked last, after everyone credited with a role
    if thanks:
        roles[THANKS] = thanks
    return tuple((role, tuple(people)) for role, people in roles.items())


def role_label(role: str) -> str:
    return role[:1].upper() + role[1:]


_URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'’”]")


def linkify(text: str) -> str:
    """Escaped text whose http(s) URLs are links."""
    out, last = [], 0
    for m in _URL.finditer(text):
        url = escape(m.group())
        out += [escape(text[last:m.start()]), f'<a href="{url}">{url}</a>']
        last = m.end()
    out.append(escape(text[last:]))
    return "".join(out)


# ---------------------------------------------------------------- show notes (content:encoded)


def show_notes(episode: Episode) -> str:
    """The episode's notes as the HTML podcast apps show: summary, chapters, credits, sources.

    Only the tags Apple documents for notes (p, ul, li, a), so every app renders them alike.
    """
    parts = [f"<p>{escape(p)}</p>" for p in _paragraphs(episode.metadata.summary)]
    if episode.chapters:
        parts.append("<p>Chapters</p><ul>" + "".join(
            f"<li>{stamp(c.start)} {escape(c.title)}</li>" for c in episode.chapters) + "</ul>")
    credits = credits_by_role(episode.credits)
    if credits:
        parts.append("<p>Credits</p><ul>" + "".join(
            f"<li>{escape(role_label(role))}: {escape(', '.join(people))}</li>"
            for role, people in credits) + "</ul>")
    if episode.sources:
        parts.append("<p>Sources and further reading</p><ul>" + "".join(
            f"<li>{linkify(s)}</li>" for s in episode.sources) + "</ul>")
    return "\n".join(parts)


def _paragraphs(text: str | None) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]


# ---------------------------------------------------------------- pages


@cache
def _text(name: str) -> str:
    return files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


@cache
def _template(name: str) -> tuple[str, ...]:
    """A template, read and split at its $names once: (text, name, text, name, …, text).

    Filling one is then a join, where string.Template would scan the text for every page.
    """
    source = _text(name)
    parts, text, at = [], "", 0
    for m in Template.pattern.finditer(source):
        text += source[at:m.start()]
        at = m.end()
        if m["escaped"] is not None:
            text += "$"
        elif m["named"] or m["braced"]:
            parts += [text, m["named"] or m["braced"]]
            text = ""
        else:
            raise ValueError(f"templates/{name}: a $ that names nothing at {m.start()}")
    return (*parts, text + source[at:])


def _fill(name: str, **values: str) -> str:
    """The template with each $name replaced by values[name] (KeyError if one is missing)."""
    parts = list(_template(name))
    parts[1::2] = [values[key] for key in parts[1::2]]
    return "".join(parts)


def _page(show: Show, title: str, feed_href: str, body: str, script: str = "",
          key: str = "", description: str | None = None) -> str:
    about = " ".join((description or show.description).split())
    return _fill("base.html",
                 stamp=f"\n<!-- podforge inputs {escape(key)} -->" if key else "",
                 lang=escape(show.language), title=escape(title), show=escape(show.title),
                 description=escape(about), feed=escape(feed_href), body=body, script=script)


def design() -> bytes:
    """The code and templates that draw pages: a change to them must redraw every page."""
    folder = files(__package__)
    return b"".join(folder.joinpath(*part).read_bytes() for part in (
        ("site.py",), ("templates", "base.html"), ("templates", "episode.html"),
        ("templates", "player.js")))


def _minutes(seconds: float) -> str:
    return f"{max(1, round(seconds / 60))} min"


def _meta(episode: Episode) -> str:
    bits = [long_date(episode.date), _minutes(episode.duration)]
    m = episode.metadata
    if m.season is not None and m.episode is not None:
        bits.insert(0, f"Season {m.season}, episode {m.episode}")
    elif m.episode is not None:
        bits.insert(0, f"Episode {m.episode}")
    return " · ".join(escape(b) for b in bits)


def index_page(show: Show, episodes: Sequence[Episode], feed_url: str,
               cover: str | None) -> str:
    """The show's front page: every published episode, newest first, and the feed."""
    items = "\n".join(
        f'<li><h3><a href="{escape(e.slug)}/index.html">{escape(e.title)}</a></h3>'
        f'<p class="meta">{_meta(e)}</p>'
        + (f"<p>{escape(e.metadata.summary)}</p>" if e.metadata.summary else "") + "</li>"
        for e in episodes)
    byline = " · ".join(escape(b) for b in (f"Hosted by {show.host}", show.network) if b)
    body = _fill(
        "index.html",
        cover=f'<img src="{escape(cover)}" alt="" width="144" height="144">' if cover else "",
        show=escape(show.title), byline=byline, description=escape(show.description),
        feed_url=escape(feed_url),
        episodes=f'<ol class="episodes">\n{items}\n</ol>' if items else "<p>No episodes yet.</p>")
    return _page(show, show.title, "feed.xml", body)


def _seek(start: float, end: float, title: str) -> str:
    return (f'<button type="button" class="seek" data-start="{start:g}" data-end="{end:g}" '
            f'aria-label="Play from {stamp(start)}: {escape(title)}">{stamp(start)}</button>')


def _transcript(lines: Sequence[TimedLine], chapters: Sequence[Chapter]) -> str:
    """The transcript as paragraphs (one per chapter, and where the speaker changes), each
    sentence a span the player highlights as it is spoken and a click seeks to.

    The hot loop of a publish (hundreds of thousands of lines in a catalogue), so the lines'
    text is escaped in one call and each time is formatted once.
    """
    texts = escape("\n".join([line.text for line in lines])).split("\n")
    if len(texts) != len(lines):  # a line's own text has a line break
        texts = [escape(line.text) for line in lines]
    breaks = sorted({c.start for c in chapters[1:]})
    paragraphs: list[str] = []
    spans: list[str] = []
    speaker, marks, at = None, {}, 0  # marks: time → its data-start/-end text
    for line, text in zip(lines, texts):
        start, end, who = line.start, line.end, line.speaker
        turn = at < len(breaks) and start >= breaks[at] - 1e-6
        while at < len(breaks) and start >= breaks[at] - 1e-6:
            at += 1
        if spans and (turn or (who and who != speaker)):
            paragraphs.append("<p>" + " ".join(spans) + "</p>")
            spans = []
        if (a := marks.get(start)) is None:
            a = marks[start] = f"{start:g}"
        if (z := marks.get(end)) is None:
            z = marks[end] = f"{end:g}"
        lead = ""
        if not spans:
            lead = f'<span class="at">{stamp(start)}</span> '
            if who:
                lead += f'<span class="who">{escape(who)}</span>'
        speaker = who or speaker
        spans.append(f'{lead}<span class="line" data-start="{a}" data-end="{z}" tabindex="0">'
                     f"{text}</span>")
    if spans:
        paragraphs.append("<p>" + " ".join(spans) + "</p>")
    return "\n".join(paragraphs)


def episode_page(show: Show, episode: Episode, key: str = "") -> str:
    """One episode: player, chapters and transcript that seek it, credits, notes, sources.

    `key` (a digest of the page's inputs) is recorded in it as a comment, so the publisher
    can tell a page is current without drawing it again.
    """
    ends = [c.start for c in episode.chapters[1:]] + [episode.duration]
    chapters = "".join(f"<li>{_seek(c.start, end, c.title)} {escape(c.title)}</li>"
                       for c, end in zip(episode.chapters, ends))
    lines = _transcript(episode.lines, episode.chapters) if episode.lines else ""
    credits = "".join(f"<dt>{escape(role_label(role))}</dt><dd>{escape(', '.join(people))}</dd>"
                      for role, people in credits_by_role(episode.credits))
    sources = "".join(f"<li>{linkify(s)}</li>" for s in episode.sources)
    notes = "".join(f"<p>{escape(p)}</p>" for p in _paragraphs(episode.metadata.summary))
    audio = episode.report.enclosure or episode.audio_name  # served beside the page, or where
    files_ = [(audio, "MP3")] + [(path.name, label) for path, label in (  # it always was
        (episode.chapters_file, "Chapters (JSON)"),
        (episode.transcript_vtt, "Transcript (WebVTT)"),
        (episode.transcript_srt, "Transcript (SRT)")) if path is not None]
    body = _fill(
        "episode.html", show=escape(show.title), title=escape(episode.title), meta=_meta(episode),
        audio=escape(audio),
        notes=_section("Show notes", notes, "notes"),
        chapters=_section("Chapters", chapters and f'<ol class="chapters">{chapters}</ol>',
                          "chapters"),
        transcript=_section("Transcript", lines and f'<div class="transcript">{lines}</div>',
                            "transcript"),
        credits=_section("Credits", credits and f'<dl class="credits">{credits}</dl>', "credits"),
        sources=_section("Sources and further reading", sources and f"<ul>{sources}</ul>",
                         "sources"),
        files="\n".join(f'<li><a href="{escape(name)}">{escape(label)}</a></li>'
                        for name, label in files_))
    script = f"<script>\n{_text('player.js')}</script>"
    return _page(show, f"{episode.title} · {show.title}", "../feed.xml", body, script, key,
                 episode.metadata.summary)


def _section(heading: str, html: str, anchor: str) -> str:
    return f'<section id="{anchor}">\n<h2>{heading}</h2>\n{html}\n</section>' if html else ""
