"""The publish stage: built episodes → feed/feed.xml, the media beside it, and a static site.

This module only orchestrates. It finds the builds (episodes.py: it never parses a script),
checks everything before it writes anything, then, holding the show's lock, writes each file
under a temporary name and renames it into place, feed.xml last. A crash or a second publish
therefore never leaves a podcast app looking at a half-written feed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from pipeline.audio.encode import find_ffmpeg
from pipeline.files import inside
from pipeline.errors import PublishError
from pipeline.publish import output, pages
from pipeline.publish.artwork import (THUMBNAIL, cover_art, drawn_cover_name, read_cover,
                                      thumbnail, thumbnail_name)
from pipeline.publish.episodes import Catalogue, Episode, find_episodes
from pipeline.publish.feed import (Urls, check_show, feed_xml, new_item_guid, newest_first, public_urls,
                                   show_guid_of)
from pipeline.publish.ledger import (Ledger, read_ledger, recognise_renames, record,
                                     write_ledger)
from pipeline.publish.site import design, index_page
from pipeline.show import Show


@dataclass(frozen=True)
class PublishResult:
    feed: Path
    feed_url: str
    episodes: tuple[str, ...]  # slugs in the feed, newest first
    scheduled: tuple[str, ...]  # dated after `now`: held back
    drafts: tuple[str, ...]
    written: int  # files written or copied; the rest were already up to date
    notes: tuple[str, ...] = ()  # worth telling the user, not worth stopping for
    removed: tuple[str, ...] = ()  # in the previous feed, taken out on purpose

    def summary(self) -> str:
        """What `podforge publish` prints."""
        lines = [f"published {len(self.episodes)} episode(s) to {self.feed} "
                 f"({self.written} file(s) updated)", f"feed: {self.feed_url}"]
        if self.scheduled:
            lines.append(f"scheduled, held back: {', '.join(self.scheduled)} "
                         f"(--include-scheduled to publish them now)")
        if self.drafts:
            lines.append(f"drafts, not published: {', '.join(self.drafts)}")
        if self.removed:
            lines.append(f"removed from the feed: {', '.join(self.removed)}")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


PreviousFeed = Callable[[], "bytes | None"]  # the live feed.xml, or None if there is none


def publish(show: Show, root: Path | str, out_dir: Path | str = "feed",
            base_url: str | None = None, include_scheduled: bool = False,
            now: dt.datetime | None = None, allow_removal: bool = False,
            previous_feed: PreviousFeed | None = None) -> PublishResult:
    """Publish every built episode under `root` to `root/out_dir` (`podforge publish`).

    `base_url` (--base-url) overrides show.yaml's. Drafts are never published; episodes dated
    after `now` wait unless `include_scheduled`. An item of the previous feed (by default
    out_dir/feed.xml; `previous_feed` reads another, e.g. the one in a bucket) that would
    disappear stops the publish unless `allow_removal` or its episode is now a draft. Raises
    PublishError for anything the user must fix, before writing a single file.
    """
    root = Path(root)
    inside(root, root / out_dir, "the publish folder (--out)", show.allow_outside)
    out = root / out_dir
    now = now or dt.datetime.now(dt.timezone.utc)
    now = now if now.tzinfo else now.replace(tzinfo=dt.timezone.utc)
    urls = public_urls(base_url or show.base_url,
                       flag="--base-url" if base_url else "show.yaml: base_url:")
    check_show(show)
    found = find_episodes(root, now, include_scheduled, show.draft_voice)
    notes = [*found.notes, *_left_out(found)]
    pinned = read_ledger(root)
    ledger, renamed = recognise_renames(pinned,
                                        [*found.published, *found.scheduled, *found.drafts])
    notes += renamed
    _check_unbuilt(found, ledger)
    show_guid = _show_guid(show, urls, ledger, notes)
    ordered = newest_first(found.published)
    guids = _item_guids(ordered, ledger, show_guid)
    previous = (previous_feed or (lambda: _local_feed(out)))()
    removed = _removals(previous, set(guids.values()), ledger, found, allow_removal)
    if not ordered:  # an empty feed, deployed, would wipe the show from every app
        raise PublishError(_nothing(found))
    cover = read_cover(show)
    art_name = cover.name if cover else drawn_cover_name(show.title)

    with output.lock(root):
        out.mkdir(parents=True, exist_ok=True)
        written = _write_site(show, out, ordered, urls.feed, art_name, cover)
        feed = feed_xml(show, ordered, urls, urls.base + quote(art_name), show_guid, guids, now)
        # The ledger first: a feed must never carry a guid the ledger has not pinned.
        written += write_ledger(root, record(ledger, show_guid, (
            (e, guids[e.slug], e.audio_url(urls)) for e in ordered), now.date()), pinned)
        written += output.write(out / "feed.xml", feed, durable=True)
        output.prune(out, {e.slug for e in ordered}, {art_name, thumbnail_name(art_name)})
    return PublishResult(out / "feed.xml", urls.feed, tuple(e.slug for e in ordered),
                         tuple(e.slug for e in found.scheduled),
                         tuple(e.slug for e in found.drafts), written, tuple(notes), removed)


def _show_guid(show: Show, urls: Urls, ledger: Ledger, notes: list[str]) -> str:
    """The channel's podcast:guid: the ledger's once there is one, else chosen now."""
    chosen = show_guid_of(show, urls)  # checks show.yaml's guid is a UUID
    if ledger.podcast_guid is None:
        if show.guid is None:
            notes.append(f"show.yaml has no guid; published.yaml now pins {chosen} (derived "
                         f"from {urls.feed}); you may add `guid: {chosen}` to show.yaml")
        return chosen
    if show.guid is not None and chosen != ledger.podcast_guid:
        raise PublishError(f"show.yaml: guid: {show.guid} is not the podcast:guid this show was "
                           f"published with ({ledger.podcast_guid}, in published.yaml); apps "
                           f"would take it for another show: set it back, or remove the key")
    return ledger.podcast_guid


def _item_guids(ordered: list[Episode], ledger: Ledger, show_guid: str) -> dict[str, str]:
    """slug → <guid>: the ledger's for an episode published before, else a new one."""
    guids: dict[str, str] = {}
    owners = {entry.guid: slug for slug, entry in ledger.episodes.items()}
    for e in ordered:
        entry = ledger.episodes.get(e.slug)
        if entry is not None:
            if e.metadata.guid and e.metadata.guid != entry.guid:
                raise PublishError(f"{e.report.script}: guid: {e.metadata.guid} is not the guid "
                                   f"{e.slug!r} was first published with ({entry.guid}, in "
                                   f"published.yaml); apps would see a new episode: remove "
                                   f"the key or set it back")
            guid = entry.guid
        else:
            guid = new_item_guid(show_guid, e)
            if owners.get(guid, e.slug) != e.slug:
                raise PublishError(f"{e.report.script}: its guid {guid} is already episode "
                                   f"{owners[guid]!r}'s (published.yaml); give it another slug "
                                   f"or guid: in its front matter")
        if guid in guids.values():
            other = next(s for s, g in guids.items() if g == guid)
            raise PublishError(f"episodes {other!r} and {e.slug!r} share the guid {guid!r}; "
                               f"each episode needs its own")
        guids[e.slug] = guid
    return guids


def _local_feed(out: Path) -> bytes | None:
    try:
        return (out / "feed.xml").read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise PublishError(f"{out / 'feed.xml'}: cannot read the previous feed "
                           f"({err.strerror}) to check nothing disappears from it") from None


def _removals(previous: bytes | None, keeping: set[str], ledger: Ledger, found: Catalogue,
              allow_removal: bool) -> tuple[str, ...]:
    """Items of the previous feed this publish leaves out; PublishError unless meant.

    Leaving an item out on purpose: --allow-removal, or `draft: true` in its episode.
    """
    if previous is None:
        return ()
    try:
        items = ET.fromstring(previous).iter("item")
        old = [(i.findtext("guid") or "", i.findtext("title") or "") for i in items]
    except ET.ParseError:
        raise PublishError("the previous feed.xml is not XML, so publish cannot tell what "
                           "would disappear from it: restore it, or remove it to start afresh"
                           ) from None
    owners = {entry.guid: slug for slug, entry in ledger.episodes.items()}
    drafts = {ledger.episodes[e.slug].guid for e in found.drafts if e.slug in ledger.episodes}
    gone = [(owners.get(guid), title) for guid, title in old
            if guid not in keeping and guid not in drafts]
    named = tuple(f"{slug} ({title})" if slug else title for slug, title in gone)
    if named and not allow_removal:
        raise PublishError(f"this publish would remove {len(named)} episode(s) from the live "
                           f"feed: {', '.join(named)}; nothing was written. Build them again, "
                           f"mark them `draft: true`, or pass --allow-removal to remove them "
                           f"on purpose")
    return named


def _write_site(show: Show, out: Path, ordered: list[Episode], feed_url: str, art_name: str,
                cover) -> int:
    """Pages (drawn in workers when many), media links, art and the index; files written."""
    show_key = hashlib.sha256(repr(dataclasses.replace(show, root=None)).encode()
                              + design()).digest()
    todo = []  # (path, episode, key) of each page not drawn from its current inputs
    for e in ordered:
        path, key = out / e.slug / "index.html", pages.page_key(e, show_key)
        if not pages.page_current(path, key):
            todo.append((path, e, key))
    art_bytes = cover.data if cover else None
    thumb_name = thumbnail_name(art_name)
    thumb = None
    if not (out / thumb_name).is_file():
        thumb = thumbnail(cover.data, find_ffmpeg()) if cover else None
    with pages.workers(len(todo)) as pool:  # the pages and art are drawn meanwhile
        art = pages.start(pool, cover_art, show.title) \
            if art_bytes is None and not (out / art_name).is_file() else None
        small = pages.start(pool, cover_art, show.title, THUMBNAIL) \
            if cover is None and not (out / thumb_name).is_file() else None
        drawn = [pages.start(pool, pages.draw_pages, show, todo[i:i + pages.PAGES_PER_JOB])
                 for i in range(0, len(todo), pages.PAGES_PER_JOB)]
        index = index_page(show, ordered, feed_url, thumb_name).encode()
        written = sum(job.get() for job in drawn)
        art_bytes = art.get() if art else art_bytes
        thumb = small.get() if small else thumb
    # Drawing a page made its folder: one listing finds those missing, not a mkdir apiece.
    folders = {entry.name for entry in os.scandir(out) if entry.is_dir()}
    for e in ordered:
        folder = out / e.slug
        if e.slug not in folders:
            folder.mkdir(exist_ok=True)
        written += sum(output.sync(src, folder / name) for src, name in e.published_media)
        if e.report.audio:
            output.prune_media(folder, e.audio.stem, e.audio_name)
    written += output.write(out / art_name, art_bytes) if art_bytes is not None else 0
    written += output.write(out / thumb_name, thumb) if thumb is not None else 0
    return written + output.write(out / "index.html", index)


def _left_out(found: Catalogue) -> list[str]:
    """Notes for what is on disk but not published: scripts never built, builds orphaned."""
    notes = [f"{script} is not built, so it is left out: run podforge build "
             f"{Path(script).parent.as_posix()}" for script in found.unbuilt]
    notes += [f"build/{e.folder.name} was built from {e.report.script}, which is gone; left "
              f"out" for e in found.gone]
    return notes


def _nothing(found: Catalogue) -> str:
    """Why there is nothing to publish, and what to do; nothing has been written."""
    why = []
    if found.unbuilt:
        why.append(f"not built: {', '.join(found.unbuilt)} (run podforge build "
                   f"{Path(found.unbuilt[0]).parent.as_posix()})")
    if found.scheduled:
        why.append(f"scheduled: {', '.join(e.slug for e in found.scheduled)} "
                   f"(--include-scheduled to publish now)")
    if found.drafts:
        why.append(f"drafts: {', '.join(e.slug for e in found.drafts)}")
    return ("nothing to publish, so nothing was written: " +
            ("; ".join(why) if why else "no built episodes (run podforge build)"))


def _check_unbuilt(found: Catalogue, ledger: Ledger) -> None:
    """A script with no build is only a note, unless it was published: then it must be built."""
    for script in found.unbuilt:
        slug = next((s for s, e in ledger.episodes.items() if e.script == script), None)
        if slug is not None:
            raise PublishError(f"{script} was published as {slug!r} (published.yaml) but has no "
                               f"build: run podforge build {Path(script).parent.as_posix()}")
