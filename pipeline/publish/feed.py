"""The RSS document: RSS 2.0 + iTunes + Podcasting 2.0, made by feedgen from plain values.

Pure: (Show, [Episode], Urls, guids) → bytes. Every URL comes from one Urls value and every
GUID is handed in (the ledger pins them), so the same inputs always give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml.etree import SubElement

from pipeline import __version__
from pipeline.errors import PublishError
from pipeline.model import Credit
from pipeline.publish.episodes import Episode
from pipeline.publish.podcast_ns import (MEDIUMS, Person, Podcast2EntryExtension,
                                         Podcast2Extension, Transcript, feed_guid)
from pipeline.publish.site import show_notes
from pipeline.script.taxonomy import ROLES, group_of
from pipeline.show import Show
from pipeline.timefmt import hms

AUDIO_TYPE = "audio/mpeg"
SOUNDBITE = (30.0, 60.0)  # seconds: the shortest and longest soundbite the cold open gives
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"


@dataclass(frozen=True)
class Urls:
    """Where the published folder lives on the web; every URL in the feed comes from here."""

    base: str  # absolute, ends in "/"

    @property
    def feed(self) -> str:
        return self.base + "feed.xml"

    def page(self, slug: str) -> str:
        return f"{self.base}{quote(slug)}/"

    def file(self, slug: str, name: str) -> str:
        return f"{self.base}{quote(slug)}/{quote(name)}"


def public_urls(base_url: str | None, *, flag: str = "base_url") -> Urls:
    """The published folder's URL, which must be absolute http(s): feeds are read elsewhere."""
    if not base_url:
        raise PublishError("no base URL: set base_url in show.yaml (e.g. "
                           "https://example.com/podcast/) or pass --base-url")
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PublishError(f"{flag} {base_url!r} is not an absolute http(s) URL; podcast apps "
                           f"fetch the feed from elsewhere, so use e.g. "
                           f"https://example.com/podcast/")
    return Urls(base_url.strip().rstrip("/") + "/")


def show_guid_of(show: Show, urls: Urls) -> str:
    """A new show's podcast:guid: show.yaml's, else the one the spec derives from the feed URL.

    Used once, at the first publish; the ledger keeps it from then on.
    """
    if show.guid is None:
        return feed_guid(urls.feed)
    try:
        return str(uuid.UUID(show.guid))
    except ValueError:
        raise PublishError(f"show.yaml: guid: {show.guid!r} is not a UUID; podcast:guid must "
                           f"be one, e.g. {feed_guid(urls.feed)} (derived from the feed URL)"
                           ) from None


def new_item_guid(show_guid: str, episode: Episode) -> str:
    """A new episode's <guid>: the front matter's, else from the show's guid and the slug."""
    return episode.metadata.guid or str(uuid.uuid5(uuid.UUID(show_guid), episode.slug))


def newest_first(episodes: Sequence[Episode]) -> list[Episode]:
    return sorted(episodes, key=lambda e: (e.published, e.metadata.season or 0,
                                           e.metadata.episode or 0, e.slug), reverse=True)


def persons(credits: Sequence[Credit]) -> list[Person]:
    """podcast:person for each credited role the taxonomy knows (organisations have no place)."""
    return [Person(c.name, role, group_of(role))
            for c in credits for role in c.roles if role.lower() in ROLES]


def categories(show: Show) -> list[dict[str, str]]:
    """show.yaml's "Parent > Child" categories as feedgen's nested iTunes categories."""
    out = []
    for text in show.categories:
        parent, _, child = (part.strip() for part in text.partition(">"))
        out.append({"cat": parent, "sub": child} if child else {"cat": parent})
    return out


def soundbite(episode: Episode) -> tuple[float, float] | None:
    """(start, duration) of the cold open's first 30–60 s, from the report's segments.

    (Scripts have no front-matter key to choose another stretch yet: the cold open it is.)
    """
    cold = next((s for s in episode.report.segments if s.kind == "cold_open"), None)
    if cold is None:
        return None
    low, high = SOUNDBITE
    duration = min(max(cold.end - cold.start, low), high, episode.duration - cold.start)
    return (cold.start, duration) if duration > 0 else None


def check_show(show: Show) -> None:
    """What the feed needs of show.yaml beyond its types; PublishError naming the key."""
    if show.medium not in MEDIUMS:
        raise PublishError(f"show.yaml: medium: {show.medium!r} is not a podcast:medium; use "
                           f"one of {', '.join(MEDIUMS)}")
    if show.funding is not None and urlsplit(show.funding.url).scheme not in ("http", "https"):
        raise PublishError(f"show.yaml: funding.url: {show.funding.url!r} is not an http(s) "
                           f"URL; give the page where listeners can support the show")


class _Explicit(BaseExtension):
    """itunes:explicit as Apple now spells it, true/false (feedgen 1.0 writes yes/no/clean).

    On the channel it also moves itunes:owner before itunes:author: feedparser reports the
    last author-like element as the feed's author, and the owner is not the author.
    """

    value: bool | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"itunes": ITUNES}

    def explicit(self, value: bool) -> None:
        self.value = value

    def extend_rss(self, feed):
        parent = feed[0] if feed.tag == "rss" else feed
        if self.value is not None:
            SubElement(parent, "{%s}explicit" % ITUNES).text = "true" if self.value else "false"
        owner, author = (parent.find("{%s}%s" % (ITUNES, tag)) for tag in ("owner", "author"))
        if owner is not None and author is not None:
            author.addprevious(owner)  # lxml moves the element
        return feed


class _ExplicitEntry(_Explicit, BaseEntryExtension):
    pass


def feed_xml(show: Show, episodes: Sequence[Episode], urls: Urls, art_url: str,
             show_guid: str, guids: Mapping[str, str], fallback_date: dt.datetime) -> bytes:
    """The RSS document, items newest first; `guids` maps each slug to its pinned <guid>.

    lastBuildDate is the newest episode's date, not the clock, so publishing the same
    episodes again gives the same bytes (`fallback_date` serves a feed with none yet).
    """
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.register_extension("podcast2", Podcast2Extension, Podcast2EntryExtension)
    fg.register_extension("apple", _Explicit, _ExplicitEntry)
    fg.title(show.title)
    fg.description(show.description)
    fg.link(href=urls.feed, rel="self", type="application/rss+xml")
    fg.link(href=urls.base, rel="alternate")  # after "self": feedgen's <link> is the last set
    fg.language(show.language)
    fg.generator(f"podforge {__version__}")
    if show.copyright:
        fg.copyright(show.copyright)
    fg.image(url=art_url, title=show.title, link=urls.base)
    fg.podcast.itunes_image(art_url)
    fg.podcast.itunes_author(show.author or show.network)
    fg.podcast.itunes_type("episodic")
    if show.owner:
        fg.podcast.itunes_owner(name=show.owner.name, email=show.owner.email)
    if show.categories:
        fg.podcast.itunes_category(categories(show))
    fg.apple.explicit(show.explicit)
    fg.podcast2.guid(show_guid)
    fg.podcast2.locked(show.locked, show.owner.email if show.owner else None)
    fg.podcast2.person(Person(show.host, "host", "cast"))
    fg.podcast2.tag("medium", show.medium)
    if show.license:
        fg.podcast2.tag("license", show.license)
    if show.txt:
        fg.podcast2.tag("txt", show.txt)
    if show.funding:
        fg.podcast2.tag("funding", show.funding.text, url=show.funding.url)
    if show.location:
        fg.podcast2.tag("location", show.location)

    ordered = newest_first(episodes)
    for e in ordered:
        fe = fg.add_entry(order="append")
        fe.title(e.title)
        fe.link(href=urls.page(e.slug))
        fe.guid(guids[e.slug], permalink=False)
        fe.pubDate(e.published)
        fe.description(e.metadata.summary or e.title)
        fe.content(show_notes(e))
        fe.enclosure(e.audio_url(urls), str(e.audio_bytes),
                     (e.metadata.audio and e.metadata.audio.type) or AUDIO_TYPE)
        fe.podcast.itunes_title(e.title)
        fe.podcast.itunes_duration(hms(e.duration))
        fe.podcast.itunes_episode_type("full")
        if e.metadata.season is not None:
            fe.podcast.itunes_season(e.metadata.season)
            fe.podcast2.season(e.metadata.season)
        if e.metadata.episode is not None:
            fe.podcast.itunes_episode(e.metadata.episode)
            fe.podcast2.episode(e.metadata.episode)
        fe.apple.explicit(show.explicit if e.metadata.explicit is None else e.metadata.explicit)
        for person in persons(e.credits):
            fe.podcast2.person(person)
        if (bite := soundbite(e)) is not None:
            fe.podcast2.soundbite(*bite, e.title)
        if e.chapters_file is not None:
            fe.podcast2.chapters(urls.file(e.slug, e.chapters_file.name))
        for path, kind in ((e.transcript_vtt, "text/vtt"),
                           (e.transcript_srt, "application/x-subrip")):
            if path is not None:
                fe.podcast2.transcript(Transcript(urls.file(e.slug, path.name), kind,
                                                  show.language, "captions"))
    newest = ordered[0].published if ordered else fallback_date
    fg.lastBuildDate(newest)
    fg.pubDate(newest)
    return fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)
