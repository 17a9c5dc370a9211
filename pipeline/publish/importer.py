"""`podforge import FEED`: bring an existing show in from its RSS feed.

The channel becomes show.yaml, each item an `episodes/<slug>/script.txt` whose front matter keeps
what listeners' apps already know about it (the guid above all: a changed guid is a new episode
to every subscriber), the exact pubDate (`published:`) and the enclosure (`audio:`). There is no
script to import, so the body is a short note; the audio stays where it was published unless
`--download` fetches it. The feed is parsed with the standard library's XML parser; a local
file never touches the network.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import os
import re
import unicodedata
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import yaml

from pipeline.errors import PodforgeError

ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
PODCAST = "{https://podcastindex.org/namespace/1.0}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
MAX_FEED = 64_000_000  # bytes: the largest real feeds are a few MB
TIMEOUT = 30  # seconds per network read
AUDIO_EXTENSIONS = {"audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/mp4": ".m4a",
                    "audio/x-m4a": ".m4a", "audio/aac": ".aac", "audio/ogg": ".ogg",
                    "audio/opus": ".opus", "audio/wav": ".wav", "audio/x-wav": ".wav"}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png"}


class FeedImportError(PodforgeError):
    """The feed cannot be imported as asked."""


@dataclass(frozen=True)
class Item:
    """One episode as the feed published it."""

    title: str
    guid: str
    published: dt.datetime | None
    summary: str | None
    notes: str | None  # the show notes as plain text
    season: int | None
    episode: int | None
    explicit: bool | None
    url: str | None
    length: int | None
    type: str | None
    duration: float | None


@dataclass(frozen=True)
class Channel:
    title: str
    description: str
    author: str | None
    host: str | None
    owner_name: str | None
    owner_email: str | None
    language: str
    categories: tuple[str, ...]
    explicit: bool
    image: str | None
    link: str | None
    guid: str | None
    locked: bool | None
    copyright: str | None
    items: tuple[Item, ...] = ()


@dataclass(frozen=True)
class ImportResult:
    show_file: Path
    episodes: tuple[Path, ...]  # the script files written
    downloaded: int
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        lines = [f"imported {len(self.episodes)} episode(s) into {self.show_file.parent}: "
                 f"{self.show_file.name} and episodes/" +
                 (f" ({self.downloaded} file(s) downloaded)" if self.downloaded else "")]
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


# ---------------------------------------------------------------- reading the feed (pure)


def _text(node: ET.Element | None, path: str) -> str | None:
    found = node.find(path) if node is not None else None
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def plain(markup: str | None) -> str | None:
    """Show notes HTML → plain text: paragraphs kept, tags dropped, entities decoded."""
    if not markup:
        return None
    text = re.sub(r"(?i)<\s*(br|/p|/div|/li|/h[1-6])\b[^>]*>", "\n", markup)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text or None


def person(text: str | None) -> str | None:
    """itunes:author as some feeds write it, "email (Name)" → "Name"."""
    found = re.fullmatch(r"\s*\S+@\S+\s*\((.+)\)\s*", text or "")
    return found.group(1).strip() if found else text


def _bool(text: str | None) -> bool | None:
    if text is None:
        return None
    return {"yes": True, "true": True, "explicit": True, "no": False, "false": False,
            "clean": False}.get(text.lower())


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def duration_seconds(text: str | None) -> float | None:
    """itunes:duration: seconds, or [[H:]M:]S."""
    if not text:
        return None
    try:
        parts = [float(p) for p in text.strip().split(":")]
    except ValueError:
        return None
    if not parts or len(parts) > 3 or any(p < 0 for p in parts):
        return None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def pub_date(text: str | None) -> dt.datetime | None:
    """RFC 822 pubDate (what RSS uses) or ISO 8601 (what some generators write)."""
    if not text:
        return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            when = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


NAMESPACES = {"itunes": ITUNES[1:-1], "podcast": PODCAST[1:-1], "content": CONTENT[1:-1],
              "atom": "http://www.w3.org/2005/Atom",
              "googleplay": "http://www.google.com/schemas/play-podcasts/1.0"}


def _declare_namespaces(data: bytes) -> bytes:
    """Feeds in the wild use itunes: or podcast: without declaring them; declare the usual ones
    on <rss> so the XML parser can read them as every podcast app does."""
    found = re.search(rb"<rss\b[^>]*?(/?)>", data)
    if not found:
        return data
    missing = b"".join(b' xmlns:%s="%s"' % (prefix.encode(), uri.encode())
                       for prefix, uri in NAMESPACES.items()
                       if b"xmlns:" + prefix.encode() + b"=" not in found.group(0))
    end = found.end() - len(found.group(1)) - 1
    return data[:end] + missing + data[end:]


def read_feed(data: bytes, source: str) -> Channel:
    """RSS bytes → Channel; an unreadable feed is one line naming `source`."""
    try:
        try:
            root = ET.fromstring(data)
        except ET.ParseError as err:
            if "unbound prefix" not in str(err):
                raise
            root = ET.fromstring(_declare_namespaces(data))
    except ET.ParseError as err:
        line, column = err.position
        raise FeedImportError(f"{source}:{line}:{column}: not well-formed XML ({err}); is it "
                           f"an RSS feed?") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise FeedImportError(f"{source}: not an RSS feed (the document is <{root.tag}>, with "
                           f"no <channel>); give the show's RSS feed")
    title = _text(channel, "title")
    if not title:
        raise FeedImportError(f"{source}: the channel has no <title>; a show needs one")
    categories = []
    for top in channel.findall(f"{ITUNES}category"):
        parent = top.get("text", "").strip()
        subs = [s.get("text", "").strip() for s in top.findall(f"{ITUNES}category")]
        categories += [f"{parent} > {s}" for s in subs if s] or ([parent] if parent else [])
    hosts = [p.text.strip() for p in channel.findall(f"{PODCAST}person")
             if p.text and p.get("role", "host").lower() == "host"]
    owner = channel.find(f"{ITUNES}owner")
    image = channel.find(f"{ITUNES}image")
    links = [link for link in channel.findall("link") if link.text and link.text.strip()]
    return Channel(
        title=title,
        description=plain(_text(channel, "description") or _text(channel, f"{ITUNES}summary"))
        or title,
        author=person(_text(channel, f"{ITUNES}author")),
        host=hosts[0] if hosts else None,
        owner_name=_text(owner, f"{ITUNES}name"), owner_email=_text(owner, f"{ITUNES}email"),
        language=_text(channel, "language") or "en",
        categories=tuple(dict.fromkeys(categories)),
        explicit=bool(_bool(_text(channel, f"{ITUNES}explicit"))),
        image=(image.get("href") if image is not None else None) or _text(channel, "image/url"),
        link=links[0].text.strip() if links else None,
        guid=_text(channel, f"{PODCAST}guid"),
        locked=_bool(_text(channel, f"{PODCAST}locked")),
        copyright=_text(channel, "copyright"),
        items=tuple(_item(node) for node in channel.findall("item")))


def _item(node: ET.Element) -> Item:
    enclosure = node.find("enclosure")
    url = enclosure.get("url") if enclosure is not None else None
    summary = _text(node, f"{ITUNES}subtitle") or _text(node, f"{ITUNES}summary")
    notes = plain(_text(node, f"{CONTENT}encoded") or _text(node, "description"))
    title = _text(node, "title") or _text(node, f"{ITUNES}title") or "Untitled episode"
    return Item(
        title=" ".join(title.split()),
        guid=_text(node, "guid") or url or title,  # no guid: apps key the item by its URL
        published=pub_date(_text(node, "pubDate")),
        summary=" ".join((plain(summary) or (notes or "").split("\n\n")[0]).split()) or None,
        notes=notes,
        season=_int(_text(node, f"{ITUNES}season") or _text(node, f"{PODCAST}season")),
        episode=_int(_text(node, f"{ITUNES}episode") or _text(node, f"{PODCAST}episode")),
        explicit=_bool(_text(node, f"{ITUNES}explicit")),
        url=url.strip() if url else None,
        length=_int(enclosure.get("length")) if enclosure is not None else None,
        type=enclosure.get("type") if enclosure is not None else None,
        duration=duration_seconds(_text(node, f"{ITUNES}duration")))


def slugify(title: str) -> str:
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text.replace("'", "").replace("’", "")).strip("-")
    return slug[:60].rstrip("-") or "episode"


def unique_slugs(titles: list[str]) -> list[str]:
    """A slug per title, made unique with -2, -3 … in feed order."""
    taken: set[str] = set()
    out = []
    for title in titles:
        base = slugify(title)
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug)
        out.append(slug)
    return out


def show_yaml(channel: Channel, source: str, artwork: str | None) -> tuple[str, list[str]]:
    """show.yaml's text for the channel, and notes on what could not be carried over."""
    notes = []
    host = channel.host or channel.author or channel.owner_name or channel.title
    data: dict = {"title": channel.title, "host": host,
                  "network": channel.author or channel.owner_name or channel.title,
                  "description": channel.description, "language": channel.language}
    if channel.author:
        data["author"] = channel.author
    if channel.owner_name and channel.owner_email:
        data["owner"] = {"name": channel.owner_name, "email": channel.owner_email}
    if channel.categories:
        data["categories"] = list(channel.categories)
    data["explicit"] = channel.explicit
    data["artwork"] = artwork
    if channel.link and urlsplit(channel.link).scheme in ("http", "https"):
        data["base_url"] = channel.link
    if channel.guid:
        try:
            data["guid"] = str(uuid.UUID(channel.guid))
        except ValueError:
            notes.append(f"the feed's podcast:guid {channel.guid!r} is not a UUID; show.yaml "
                         f"leaves it out (podcast:guid must be one)")
    if channel.locked is not None:
        data["locked"] = channel.locked
    if channel.copyright:
        data["copyright"] = channel.copyright
    head = [f"# Imported by `podforge import` from {source}.",
            "# Check host and network; add the episode format and sound design when the show",
            "# makes new episodes with podforge (see the example show.yaml)."]
    if channel.image and not artwork:
        head.append(f"# The feed's cover art: {channel.image} (--download fetches it)")
    if not channel.host:
        notes.append(f"the feed names no host (podcast:person role=\"host\"); show.yaml says "
                     f"{host!r}: check it")
    return "\n".join(head) + "\n" + _dump(data), notes


def episode_text(item: Item, slug: str, audio_file: str | None) -> str:
    """script.txt for an imported episode: the front matter it was published with, and a note."""
    meta: dict = {"slug": slug, "title": item.title, "guid": item.guid}
    if item.published:
        meta["date"] = item.published.date()
        meta["published"] = item.published.isoformat()
    if item.summary:
        meta["summary"] = item.summary
    if item.season is not None:
        meta["season"] = item.season
    if item.episode is not None:
        meta["episode"] = item.episode
    if item.explicit is not None:
        meta["explicit"] = item.explicit
    audio = {k: v for k, v in (("url", item.url), ("length", item.length), ("type", item.type),
                               ("duration", item.duration), ("file", audio_file))
             if v is not None}
    if audio:
        meta["audio"] = audio
    body = [item.title, "", item.summary or item.title, "",  # the header: title, summary
            "This episode was published before podforge; its audio is the one in the front "
            "matter (audio:). Write its script here to rebuild it."]
    if item.notes:
        body += ["", "Show notes as published:", "", item.notes]
    return "---\n" + _dump(meta) + "---\n" + "\n".join(body) + "\n"


def _dump(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100,
                          default_flow_style=False)


# ---------------------------------------------------------------- the edge


def fetch(source: str) -> bytes:
    """The feed's bytes: a local file, or an http(s) URL (the only time the network is used)."""
    if urlsplit(source).scheme in ("http", "https"):
        return _download(source, MAX_FEED)
    path = Path(source)
    try:
        if path.stat().st_size > MAX_FEED:
            raise FeedImportError(f"{path}: {path.stat().st_size / 1e6:.0f} MB is too large for a "
                               f"feed; is it the right file?")
        return path.read_bytes()
    except FileNotFoundError:
        raise FeedImportError(f"{path}: no such file; give the feed's path or its http(s) "
                           f"URL") from None
    except IsADirectoryError:
        raise FeedImportError(f"{path}: is a folder; give the feed file (e.g. feed.xml)") from None
    except OSError as err:
        raise FeedImportError(f"{path}: cannot read: {err.strerror}") from None


def _download(url: str, limit: int | None = None, to: Path | None = None) -> bytes:
    """GET `url` into memory, or into `to` (through a temporary file, renamed when whole)."""
    request = urllib.request.Request(url, headers={"User-Agent": "podforge-import"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            if to is None:
                data = response.read(limit + 1 if limit else -1)
                if limit and len(data) > limit:
                    raise FeedImportError(f"{url}: more than {limit / 1e6:.0f} MB; is it a feed?")
                return data
            temp = to.with_name(f".{to.name}.{os.getpid()}.part")
            try:
                with open(temp, "wb") as out:
                    while chunk := response.read(1 << 20):
                        out.write(chunk)
                os.replace(temp, to)
            finally:
                temp.unlink(missing_ok=True)
            return b""
    except FeedImportError:
        raise
    except (OSError, ValueError) as err:  # URLError, HTTPError and timeouts are OSErrors
        reason = getattr(err, "reason", None) or err
        if isinstance(err, urllib.error.HTTPError):
            reason = f"HTTP {err.code} {err.reason}"
        raise FeedImportError(f"{url}: cannot download ({reason}); check the URL and the "
                           f"network, then import again") from None


def import_feed(source: str, root: Path | str = ".", download: bool = False,
                force: bool = False) -> ImportResult:
    """Write show.yaml and episodes/<slug>/script.txt under `root` from the feed at `source`.

    Refuses, before writing anything, to replace an existing show.yaml or episode unless
    `force`. With `download`, enclosures and cover art are fetched into the episode folders.
    """
    root = Path(root)
    channel = read_feed(fetch(source), source)
    show_file = root / "show.yaml"
    slugs = unique_slugs([item.title for item in channel.items])
    folders = [root / "episodes" / slug for slug in slugs]
    if not force:
        existing = [p for p in (show_file, *(f / "script.txt" for f in folders)) if p.exists()]
        if existing:
            more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
            raise FeedImportError(f"{existing[0]}{more} already exist(s): import into an empty "
                               f"folder, or pass --force to overwrite")
    notes = [f"{item.title!r} has no usable pubDate: add `date:` to episodes/{slug}/script.txt "
             f"before publishing it" for item, slug in zip(channel.items, slugs)
             if item.published is None]
    notes += [f"{item.title!r} has no enclosure: there is no audio to republish"
              for item in channel.items if not item.url]
    downloaded = 0
    artwork = None
    root.mkdir(parents=True, exist_ok=True)
    if download and channel.image:
        suffix = PurePosixPath(urlsplit(channel.image).path).suffix.lower()
        name = f"artwork/cover{suffix if suffix in IMAGE_EXTENSIONS else '.jpg'}"
        (root / "artwork").mkdir(exist_ok=True)
        _download(channel.image, to=root / name)
        artwork, downloaded = name, downloaded + 1
    text, more = show_yaml(channel, source, artwork)
    notes += more
    written = []
    for item, slug, folder in zip(channel.items, slugs, folders):
        folder.mkdir(parents=True, exist_ok=True)
        audio_file = None
        if download and item.url:
            audio_file = "audio" + _audio_suffix(item)
            _download(item.url, to=folder / audio_file)
            downloaded += 1
        (folder / "script.txt").write_text(episode_text(item, slug, audio_file),
                                           encoding="utf-8")
        written.append(folder / "script.txt")
    manifest = root / "assets" / "manifest.yaml"
    if not manifest.exists():
        manifest.parent.mkdir(exist_ok=True)
        manifest.write_text("# The show's music and effects (none yet: the imported episodes "
                            "are already mixed).\nassets: []\n", encoding="utf-8")
    show_file.write_text(text, encoding="utf-8")  # last: its presence means the import finished
    return ImportResult(show_file, tuple(written), downloaded, tuple(notes))


def _audio_suffix(item: Item) -> str:
    suffix = PurePosixPath(urlsplit(item.url or "").path).suffix.lower()
    if re.fullmatch(r"\.[a-z0-9]{2,4}", suffix):
        return suffix
    return AUDIO_EXTENSIONS.get((item.type or "").lower(), ".mp3")
