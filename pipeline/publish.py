"""The publish stage: built episodes → feed/feed.xml, the media beside it, and a static site.

The core is pure: (Show, [Episode], public URLs) → feed bytes and pages. The edge, publish(),
reads the scripts and build reports (no audio is decoded: sizes come from os.stat, durations
and chapters from report.json), checks everything before it writes anything, then writes each
file under a temporary name and renames it into place, feed.xml last, holding a lock. A crash
or a second publish therefore never leaves a podcast app looking at a half-written feed.

Media are published as hard links to the built files (copies where a link cannot go): the
build replaces its files rather than rewriting them, so a link never changes under a reader.
Pages whose inputs are unchanged are not drawn again; when many must be (a first publish),
forked worker processes draw them while this one makes the feed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.pool import Pool
from pathlib import Path
from urllib.parse import quote, urlsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml.etree import SubElement

from . import __version__
from .artwork import check_artwork, cover_art
from .errors import PublishError
from .model import Credit, Metadata, Script
from .files import inside
from .parse import clean, read_script
from .podcast_ns import Person, Podcast2EntryExtension, Podcast2Extension, Transcript, feed_guid
from .project import episode_slug
from .show import Show
from .site import design, episode_page, hms, index_page, parse_vtt, show_notes
from .taxonomy import ROLES, group_of

PUBLISH_TIME = dt.time(10, 0, tzinfo=dt.timezone.utc)  # a script has a date; its hour is ours
AUDIO_TYPE = "audio/mpeg"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
ART_DESIGN = "dusk-1"  # change when cover_art() draws differently, so the art gets a new URL
PARALLEL_PAGES = 100  # pages to draw before worker processes repay starting them
PAGES_PER_JOB = 25  # pages a worker draws per job: small enough to share the work out evenly


@dataclass(frozen=True)
class Chapter:
    title: str
    start: float  # seconds


@dataclass(frozen=True)
class Episode:
    """A script that has been built: what the feed and the site say about it."""

    slug: str
    metadata: Metadata
    credits: tuple[Credit, ...]
    audio: Path  # the built MP3
    audio_bytes: int
    duration: float  # seconds
    chapters: tuple[Chapter, ...] = ()
    sources: tuple[str, ...] = ()
    chapters_file: Path | None = None
    transcript_vtt: Path | None = None
    transcript_srt: Path | None = None

    @property
    def title(self) -> str:
        return self.metadata.title or self.slug

    @property
    def date(self) -> dt.date:
        assert self.metadata.date is not None, "publish() only makes episodes of dated scripts"
        return self.metadata.date

    @property
    def published(self) -> dt.datetime:
        return dt.datetime.combine(self.date, PUBLISH_TIME)

    @property
    def media(self) -> tuple[Path, ...]:
        """The built files published beside the episode's page."""
        extra = (self.chapters_file, self.transcript_vtt, self.transcript_srt)
        return (self.audio, *(p for p in extra if p is not None))


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


@dataclass(frozen=True)
class PublishResult:
    feed: Path
    feed_url: str
    episodes: tuple[str, ...]  # slugs in the feed, newest first
    scheduled: tuple[str, ...]  # dated after `now`: held back
    drafts: tuple[str, ...]
    written: int  # files written or copied; the rest were already up to date
    notes: tuple[str, ...] = ()  # worth telling the user, not worth stopping for

    def summary(self) -> str:
        """What `podforge publish` prints."""
        lines = [f"published {len(self.episodes)} episode(s) to {self.feed} "
                 f"({self.written} file(s) updated)", f"feed: {self.feed_url}"]
        if self.scheduled:
            lines.append(f"scheduled, held back: {', '.join(self.scheduled)} "
                         f"(--include-scheduled to publish them now)")
        if self.drafts:
            lines.append(f"drafts, not published: {', '.join(self.drafts)}")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


# ---------------------------------------------------------------- the pure core


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


def podcast_guid(show: Show, urls: Urls) -> str:
    """The show's podcast:guid: show.yaml's, else the one the spec derives from the feed URL."""
    if show.guid is None:
        return feed_guid(urls.feed)
    try:
        return str(uuid.UUID(show.guid))
    except ValueError:
        raise PublishError(f"show.yaml: guid: {show.guid!r} is not a UUID; podcast:guid must "
                           f"be one, e.g. {feed_guid(urls.feed)} (derived from the feed URL)"
                           ) from None


def item_guid(show_guid: str, episode: Episode) -> str:
    """Stable forever: from the show's guid and the slug, unless the script pins its own."""
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


class _Explicit(BaseExtension):
    """itunes:explicit as Apple now spells it, true/false (feedgen 1.0 writes yes/no/clean)."""

    value: bool | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"itunes": ITUNES}

    def explicit(self, value: bool) -> None:
        self.value = value

    def extend_rss(self, feed):
        parent = feed[0] if feed.tag == "rss" else feed
        if self.value is not None:
            SubElement(parent, "{%s}explicit" % ITUNES).text = "true" if self.value else "false"
        return feed


class _ExplicitEntry(_Explicit, BaseEntryExtension):
    pass


def feed_xml(show: Show, episodes: Sequence[Episode], urls: Urls, art_url: str,
             show_guid: str, fallback_date: dt.datetime) -> bytes:
    """The RSS document: RSS 2.0 + iTunes + Podcasting 2.0, items newest first.

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

    ordered = newest_first(episodes)
    for e in ordered:
        fe = fg.add_entry(order="append")
        fe.title(e.title)
        fe.link(href=urls.page(e.slug))
        fe.guid(item_guid(show_guid, e), permalink=False)
        fe.pubDate(e.published)
        fe.description(e.metadata.summary or e.title)
        fe.content(show_notes(e))
        fe.enclosure(urls.file(e.slug, e.audio.name), str(e.audio_bytes), AUDIO_TYPE)
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
        if e.chapters_file:
            fe.podcast2.chapters(urls.file(e.slug, e.chapters_file.name))
        for path, kind in ((e.transcript_vtt, "text/vtt"), (e.transcript_srt,
                                                             "application/x-subrip")):
            if path:
                fe.podcast2.transcript(Transcript(urls.file(e.slug, path.name), kind,
                                                  show.language, "captions"))
    newest = ordered[0].published if ordered else fallback_date
    fg.lastBuildDate(newest)
    fg.pubDate(newest)
    return fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)


# ---------------------------------------------------------------- cover art


def _state(script: Script, now: dt.datetime, include_scheduled: bool) -> str:
    if script.metadata.draft:
        return "draft"
    if script.metadata.date is None:
        return "undated"
    when = dt.datetime.combine(script.metadata.date, PUBLISH_TIME)
    return "scheduled" if when > now and not include_scheduled else "published"


# ---------------------------------------------------------------- the edge


def publish(show: Show, root: Path | str, out_dir: Path | str = "feed",
            base_url: str | None = None, include_scheduled: bool = False,
            now: dt.datetime | None = None) -> PublishResult:
    """Publish every built episode under `root` to `root/out_dir` (`podforge publish`).

    `base_url` (--base-url) overrides show.yaml's. Drafts are never published; episodes dated
    after `now` wait unless `include_scheduled`. Raises PublishError for anything the user must
    fix, before writing a single file.
    """
    root = Path(root)
    scripts = [(path, read_script(path, show.format)) for path in script_files(root)]
    return publish_scripts(show, root, scripts, out_dir=out_dir, base_url=base_url,
                           include_scheduled=include_scheduled, now=now)


def script_files(root: Path) -> list[Path]:
    """episodes/<slug>/script.txt (or script.md) for every episode folder, in name order."""
    found: list[Path] = []
    for folder in sorted(p for p in (root / "episodes").glob("*") if p.is_dir()):
        found += [f for f in (folder / "script.txt", folder / "script.md") if f.is_file()][:1]
    return found


def publish_scripts(show: Show, root: Path | str, scripts: Sequence[tuple[Path, Script]],
                    out_dir: Path | str = "feed", base_url: str | None = None,
                    include_scheduled: bool = False,
                    now: dt.datetime | None = None) -> PublishResult:
    """publish() for scripts already read: (script file, Script) pairs."""
    root = Path(root)
    inside(root, root / out_dir, "the publish folder (--out)", show.allow_outside)
    now = now or dt.datetime.now(dt.timezone.utc)
    now = now if now.tzinfo else now.replace(tzinfo=dt.timezone.utc)
    urls = public_urls(base_url or show.base_url,
                       flag="--base-url" if base_url else "show.yaml: base_url:")
    show_guid = podcast_guid(show, urls)

    chosen, scheduled, drafts, notes = [], [], [], []
    for path, script in scripts:
        slug, state = episode_slug(path, script), _state(script, now, include_scheduled)
        if state == "undated":
            raise PublishError(f"{path}: no publication date; add one (first line, or "
                               f"`date:` in the front matter) so the feed can order it")
        {"draft": drafts, "scheduled": scheduled, "published": chosen}[state].append(
            (path, script, slug))
    episodes = [load_episode(slug, script, path, root / "build" / slug)
                for path, script, slug in chosen]
    notes += [f"{path} changed after its build; publishing the older audio (run podforge "
              f"build episodes/{path.parent.name} to update it)"
              for path, _, slug in chosen if _stale(path, root / "build" / slug)]
    _check_unique(episodes, show_guid)
    out = root / out_dir
    art_name, art_bytes = _artwork(show, root)
    if show.guid is None:
        notes.append(f"show.yaml has no guid; using {show_guid}, derived from {urls.feed}. "
                     f"Add `guid: {show_guid}` to show.yaml so it stays if the feed moves")

    out.mkdir(parents=True, exist_ok=True)
    ordered = newest_first(episodes)
    show_key = hashlib.sha256(repr(dataclasses.replace(show, root=None)).encode()
                              + design()).digest()
    with _lock(out):
        pages = []  # (path, episode, key) of each page not drawn from its current inputs
        for e in ordered:
            path, key = out / e.slug / "index.html", _page_key(e, show_key)
            if not _page_current(path, key):
                pages.append((path, e, key))
        with _workers(len(pages)) as pool:  # the pages and art are drawn while we make the feed
            art = _start(pool, cover_art, show.title) \
                if art_bytes is None and not (out / art_name).is_file() else None
            drawn = [_start(pool, _draw_pages, show, pages[i:i + PAGES_PER_JOB])
                     for i in range(0, len(pages), PAGES_PER_JOB)]
            index = index_page(show, ordered, urls.feed, art_name).encode()
            feed = feed_xml(show, ordered, urls, urls.base + quote(art_name), show_guid, now)
            written = sum(job.get() for job in drawn)
            art_bytes = art.get() if art else art_bytes
        # Drawing a page made its folder: one listing finds those missing, not a mkdir apiece.
        folders = {entry.name for entry in os.scandir(out) if entry.is_dir()}
        for e in ordered:
            folder = out / e.slug
            if e.slug not in folders:
                folder.mkdir(exist_ok=True)
            written += sum(_sync(src, folder / src.name) for src in e.media)
        written += _write(out / art_name, art_bytes) if art_bytes is not None else 0
        written += _write(out / "index.html", index)
        written += _write(out / "feed.xml", feed, durable=True)
        _prune(out, {e.slug for e in ordered}, art_name)
    return PublishResult(out / "feed.xml", urls.feed, tuple(e.slug for e in ordered),
                         tuple(s for _, _, s in scheduled), tuple(s for _, _, s in drafts),
                         written, tuple(notes))


def load_episode(slug: str, script: Script, script_path: Path, build: Path) -> Episode:
    """An Episode from its script and build/<slug>/report.json; PublishError if not built."""
    report_path = build / "report.json"
    hint = f"run podforge build episodes/{script_path.parent.name}"
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PublishError(f"episode {slug!r} is not built ({report_path} is missing): "
                           f"{hint}") from None
    except (OSError, ValueError) as err:
        raise PublishError(f"{report_path}: cannot read the build report ({err}): {hint}") from None
    try:
        audio = build / Path(report["audio"]).name
        duration = float(report["duration_seconds"])
        chapters = tuple(Chapter(clean(str(c["title"])), float(c["start_seconds"]))
                         for c in report.get("chapters") or ())
        listed = report.get("files") or {}
        extra = {key: build / Path(listed[key]).name if listed.get(key) else None
                 for key in ("chapters_file", "transcript_vtt", "transcript_srt")}
    except (KeyError, TypeError, ValueError) as err:
        raise PublishError(f"{report_path}: malformed build report (bad or missing {err}): "
                           f"{hint}") from None
    try:
        audio_bytes = audio.stat().st_size
    except FileNotFoundError:
        raise PublishError(f"episode {slug!r}: its audio {audio} is missing: {hint}") from None
    if audio_bytes == 0 or not audio.is_file() or not Path(report["audio"]).name:
        raise PublishError(f"episode {slug!r}: its audio {audio} is empty or not a file: {hint}")
    missing = [str(p) for p in extra.values() if p is not None and not p.is_file()]
    if missing:
        raise PublishError(f"episode {slug!r}: the build lists {', '.join(missing)} but it is "
                           f"missing: {hint}")
    return Episode(
        slug=slug, metadata=script.metadata, credits=script.credits, audio=audio,
        audio_bytes=audio_bytes, duration=duration, chapters=chapters,
        sources=_sources(script.metadata.sources, script_path.parent / "sources.txt"),
        chapters_file=extra["chapters_file"], transcript_vtt=extra["transcript_vtt"],
        transcript_srt=extra["transcript_srt"])


def _page_key(episode: Episode, show_key: bytes) -> str:
    """A digest of what an episode's page is drawn from: show, episode, transcript, design.

    Drawing pages (and reading their transcripts) is most of a publish's work; the page
    records its key, so an unchanged page can be skipped.
    """
    vtt = episode.transcript_vtt.stat() if episode.transcript_vtt else None
    inputs = repr((episode, vtt and (vtt.st_size, vtt.st_mtime_ns))).encode()
    return hashlib.sha256(show_key + inputs).hexdigest()[:32]


def _page_current(path: Path, key: str) -> bool:
    try:
        with open(path, "rb") as page:
            return f"<!-- podforge inputs {key} -->".encode() in page.read(256)
    except FileNotFoundError:
        return False


def _draw_pages(show: Show, pages: Sequence[tuple[Path, Episode, str]]) -> int:
    """Draw and write episode pages (path, episode, key); run in a worker or in this process."""
    for path, episode, key in pages:
        vtt = episode.transcript_vtt
        captions = parse_vtt(vtt.read_text(encoding="utf-8", errors="replace")) if vtt else ()
        path.parent.mkdir(exist_ok=True)
        _replace(path, episode_page(show, episode, captions, key).encode())
    return len(pages)


class _Later:
    """A job for this process, run when its result is asked for: AsyncResult's stand-in."""

    def __init__(self, fn: Callable, *args) -> None:
        self.fn, self.args = fn, args

    def get(self):
        return self.fn(*self.args)


def _start(pool: Pool | None, fn: Callable, *args):
    """fn(*args) in a worker if there is a pool, else later here; .get() gives the result."""
    return pool.apply_async(fn, args) if pool is not None else _Later(fn, *args)


@contextmanager
def _workers(pages: int) -> Iterator[Pool | None]:
    """Worker processes to draw `pages` pages, or None when this process should draw them.

    Drawing is Python-bound, so threads would not help; forked processes start in
    milliseconds with everything imported. Only where fork is safe (not macOS, not from a
    process that already runs threads) and only for enough pages to repay it. On the way out,
    even after an error, the workers finish what they began: no page is left half written.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = min(cpus or 1, 8, -(-pages // PAGES_PER_JOB))
    pool = None
    if pages >= PARALLEL_PAGES and count >= 2 and sys.platform != "darwin" and \
            "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        try:
            pool = multiprocessing.get_context("fork").Pool(count, _ignore_interrupts)
        except OSError:  # no processes to be had: draw them here
            pool = None
    try:
        yield pool
    finally:
        if pool is not None:
            pool.close()
            pool.join()


def _ignore_interrupts() -> None:
    """In a worker: Ctrl-C is the publishing process's to handle (it waits for the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stale(script_path: Path, build: Path) -> bool:
    try:
        return script_path.stat().st_mtime > (build / "report.json").stat().st_mtime
    except FileNotFoundError:
        return False


def _sources(listed: Sequence[str], path: Path) -> tuple[str, ...]:
    """Front-matter sources, then sources.txt's lines (one per line, # for comments)."""
    try:
        lines = clean(path.read_text(encoding="utf-8")).splitlines()  # no \f line breaks
    except FileNotFoundError:
        lines = []
    except (OSError, UnicodeDecodeError) as err:
        raise PublishError(f"{path}: cannot read the sources ({err}): make it a UTF-8 text file "
                           "with one source per line") from None
    found = [clean(s).strip() for s in (*listed, *lines)
             if clean(s).strip() and not s.lstrip().startswith("#")]
    return tuple(dict.fromkeys(found))


def _check_unique(episodes: Sequence[Episode], show_guid: str) -> None:
    seen: dict[str, str] = {}
    for e in episodes:
        for key in (f"slug {e.slug!r}", f"guid {item_guid(show_guid, e)!r}"):
            if key in seen:
                raise PublishError(f"episodes {seen[key]!r} and {e.slug!r} share the {key}; "
                                   f"each episode needs its own")
            seen[key] = e.slug


def _artwork(show: Show, root: Path) -> tuple[str, bytes | None]:
    """(file name, bytes) of show.yaml's cover art, checked, or (name, None) of an original one.

    A new image gets a new name (podcast apps cache art by URL). The original is drawn by
    cover_art(), only when it is not already in place: that is a publish's slowest drawing.
    """
    if show.artwork:
        path = show.resolve(show.artwork, "artwork") if show.root else root / show.artwork
        try:
            data = path.read_bytes()
        except OSError as err:
            raise PublishError(f"{path}: cannot read the cover art named in show.yaml "
                               f"(artwork: {show.artwork}): {err.strerror}") from None
        extension = check_artwork(path, data)
        return f"cover-{hashlib.sha256(data).hexdigest()[:12]}.{extension}", data
    digest = hashlib.sha256(f"{ART_DESIGN}:{show.title}".encode()).hexdigest()[:12]
    return f"cover-{digest}.png", None


@contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """Only one publish at a time per output folder (released when the process ends, too)."""
    path = folder / ".publish.lock"
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError(f"{folder}: another publish is running (it holds {path}); "
                               f"wait for it to finish, then publish again") from None
        yield


def _write(path: Path, data: bytes, durable: bool = False) -> int:
    """Write atomically (temp file, then rename) unless the file already holds `data`."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return 0
    except FileNotFoundError:
        pass
    _replace(path, data, durable)
    return 1


def _replace(path: Path, data: bytes, durable: bool = False) -> None:
    """Write `data` to a temporary file, then rename it over `path`; `durable`: fsync both.

    Only the feed is made durable: a page or copy lost to a power cut is written again by the
    next publish, and syncing thousands of them would cost more than the rest together.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:  # the rename itself survives a power cut only once the folder is synced
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _sync(source: Path, target: Path) -> int:
    """Publish a built file as a hard link to it, or a copy where a link cannot go.

    A link costs no copying and is safe because the build never writes a file in place: it
    writes a temporary file and renames it over the old name, so a rebuild gives build/<slug>/
    a new file and the published link keeps the old bytes until the next publish relinks it.
    (Only something that rewrote a published or built file in place would show in both.)
    Up to date: the same file, or, for a copy, one with the built file's size and time
    (copy2 keeps both).
    """
    src = os.stat(source)
    try:
        dst = os.stat(target)
    except FileNotFoundError:
        try:
            os.link(source, target)  # a new name: appears whole, nothing to replace
            return 1
        except OSError:  # another file system, or one without links: copy it
            pass
    else:
        if os.path.samestat(src, dst) or (dst.st_size == src.st_size and
                                          dst.st_mtime_ns == src.st_mtime_ns):
            return 0
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temp.unlink(missing_ok=True)  # a crashed publish's, whose process id this one reuses
        try:
            os.link(source, temp)
        except OSError:
            shutil.copy2(source, temp)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return 1


_OURS = re.compile(rb'<meta name="generator" content="podforge">')


def _prune(out: Path, slugs: set[str], art_name: str) -> None:
    """Take down pages this tool made for episodes no longer published, and replaced art."""
    for child in out.iterdir():
        if child.is_dir() and child.name not in slugs:
            page = child / "index.html"
            if page.is_file() and _OURS.search(page.read_bytes()[:1024]):
                shutil.rmtree(child)
        elif child.name.startswith("cover-") and child.name != art_name and \
                child.suffix in (".png", ".jpg"):
            child.unlink()
