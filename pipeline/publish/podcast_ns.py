"""The Podcasting 2.0 namespace as a feedgen extension: guid, locked, person, chapters, transcript,
season and episode.

feedgen knows only the iTunes tags; this adds the open namespace the same way its own
extensions do, so the feed is still built by one library:

    fg.register_extension("podcast2", Podcast2Extension, Podcast2EntryExtension)
    fg.podcast2.guid(feed_guid(url)); fe.podcast2.person(Person("Nora Vance", "host"))
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from lxml.etree import SubElement

NAMESPACE = "https://podcastindex.org/namespace/1.0"
PREFIX = "podcast"
GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")  # the spec's "podcast" UUID
CHAPTERS_TYPE = "application/json+chapters"

_TAG = "{%s}%%s" % NAMESPACE
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def feed_guid(feed_url: str) -> str:
    """The podcast:guid a feed URL seeds: UUIDv5 of the URL without scheme and trailing slashes."""
    return str(uuid.uuid5(GUID_NAMESPACE, _SCHEME.sub("", feed_url.strip()).rstrip("/")))


@dataclass(frozen=True)
class Person:
    """A `podcast:person`: a name with a taxonomy role and group (the spec assumes host/cast)."""

    name: str
    role: str = "host"
    group: str = "cast"
    href: str | None = None
    img: str | None = None


@dataclass(frozen=True)
class Transcript:
    url: str
    type: str  # text/vtt, application/x-subrip, …
    language: str | None = None
    rel: str | None = None  # "captions" when the file is timed


def _person(parent, person: Person) -> None:
    attrs = {"role": person.role, "group": person.group, "href": person.href, "img": person.img}
    element = SubElement(parent, _TAG % "person", {k: v for k, v in attrs.items() if v})
    element.text = person.name


MEDIUMS = ("podcast", "music", "video", "film", "audiobook", "newsletter", "blog")


class Podcast2Extension(BaseExtension):
    """Channel tags: podcast:guid, locked, person, medium, license, txt, funding, location."""

    def __init__(self) -> None:
        self._guid: str | None = None
        self._locked: tuple[bool, str | None] | None = None
        self._persons: list[Person] = []
        self._simple: list[tuple[str, str, dict[str, str]]] = []  # (tag, text, attributes)

    def tag(self, name: str, text: str, **attributes: str) -> None:
        """A podcast:<name> element of text (medium, license, txt, funding, location)."""
        self._simple.append((name, text, attributes))

    def extend_ns(self) -> dict[str, str]:
        return {PREFIX: NAMESPACE}

    def guid(self, value: str) -> None:
        self._guid = str(uuid.UUID(value))  # the spec allows only a UUID here

    def locked(self, locked: bool, owner: str | None = None) -> None:
        self._locked = (locked, owner)

    def person(self, person: Person) -> None:
        self._persons.append(person)

    def extend_rss(self, rss_feed):
        channel = rss_feed[0]
        if self._guid:
            SubElement(channel, _TAG % "guid").text = self._guid
        if self._locked is not None:
            locked, owner = self._locked
            element = SubElement(channel, _TAG % "locked", {"owner": owner} if owner else {})
            element.text = "yes" if locked else "no"
        for person in self._persons:
            _person(channel, person)
        for name, text, attributes in self._simple:
            SubElement(channel, _TAG % name, attributes).text = text
        return rss_feed

    def extend_atom(self, atom_feed):
        return atom_feed  # the namespace is defined for RSS only


class Podcast2EntryExtension(BaseEntryExtension):
    """Item tags: podcast:person, podcast:chapters, podcast:transcript, podcast:season/episode."""

    def __init__(self) -> None:
        self._persons: list[Person] = []
        self._chapters: str | None = None
        self._transcripts: list[Transcript] = []
        self._season: int | None = None
        self._episode: int | float | None = None
        self._soundbite: tuple[float, float, str] | None = None

    def soundbite(self, start: float, duration: float, title: str) -> None:
        self._soundbite = (start, duration, title)

    def person(self, person: Person) -> None:
        self._persons.append(person)

    def chapters(self, url: str) -> None:
        self._chapters = url

    def transcript(self, transcript: Transcript) -> None:
        self._transcripts.append(transcript)

    def season(self, number: int) -> None:
        self._season = number

    def episode(self, number: int | float) -> None:
        self._episode = number

    def extend_rss(self, entry):
        for person in self._persons:
            _person(entry, person)
        if self._chapters:
            SubElement(entry, _TAG % "chapters", {"url": self._chapters, "type": CHAPTERS_TYPE})
        for t in self._transcripts:
            attrs = {"url": t.url, "type": t.type, "language": t.language, "rel": t.rel}
            SubElement(entry, _TAG % "transcript", {k: v for k, v in attrs.items() if v})
        if self._season is not None:
            SubElement(entry, _TAG % "season").text = str(self._season)
        if self._episode is not None:
            SubElement(entry, _TAG % "episode").text = f"{self._episode:g}"
        if self._soundbite is not None:
            start, duration, title = self._soundbite
            SubElement(entry, _TAG % "soundbite", {"startTime": f"{start:.3f}",
                                                   "duration": f"{duration:.3f}"}).text = title
        return entry

    def extend_atom(self, entry):
        return entry
