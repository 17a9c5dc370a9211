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
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from pipeline.errors import PublishError
from pipeline.publish import output, pages
from pipeline.publish.artwork import cover_art, drawn_cover_name, read_cover
from pipeline.publish.episodes import Catalogue, Episode, find_episodes
from pipeline.publish.feed import feed_xml, new_item_guid, newest_first, public_urls, show_guid_of
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


def publish(show: Show, root: Path | str, out_dir: Path | str = "feed",
            base_url: str | None = None, include_scheduled: bool = False,
            now: dt.datetime | None = None) -> PublishResult:
    """Publish every built episode under `root` to `root/out_dir` (`podforge publish`).

    `base_url` (--base-url) overrides show.yaml's. Drafts are never published; episodes dated
    after `now` wait unless `include_scheduled`. Raises PublishError for anything the user must
    fix, before writing a single file.
    """
    root = Path(root)
    now = now or dt.datetime.now(dt.timezone.utc)
    now = now if now.tzinfo else now.replace(tzinfo=dt.timezone.utc)
    urls = public_urls(base_url or show.base_url,
                       flag="--base-url" if base_url else "show.yaml: base_url:")
    found = find_episodes(root, now, include_scheduled)
    notes = [*found.notes, *_left_out(found)]
    show_guid = show_guid_of(show, urls)
    if show.guid is None:
        notes.append(f"show.yaml has no guid; using {show_guid}, derived from {urls.feed}. "
                     f"Add `guid: {show_guid}` to show.yaml so it stays if the feed moves")
    ordered = newest_first(found.published)
    if not ordered:  # an empty feed, deployed, would wipe the show from every app
        raise PublishError(_nothing(found))
    guids = {e.slug: new_item_guid(show_guid, e) for e in ordered}
    _check_unique_guids(ordered, guids)
    cover = read_cover(show)
    art_name = cover.name if cover else drawn_cover_name(show.title)

    out = root / out_dir
    with output.lock(root):
        out.mkdir(parents=True, exist_ok=True)
        written = _write_site(show, out, ordered, urls.feed, art_name, cover)
        feed = feed_xml(show, ordered, urls, urls.base + quote(art_name), show_guid, guids, now)
        written += output.write(out / "feed.xml", feed, durable=True)
        output.prune(out, {e.slug for e in ordered}, {art_name})
    return PublishResult(out / "feed.xml", urls.feed, tuple(e.slug for e in ordered),
                         tuple(e.slug for e in found.scheduled),
                         tuple(e.slug for e in found.drafts), written, tuple(notes))


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
    with pages.workers(len(todo)) as pool:  # the pages and art are drawn meanwhile
        art = pages.start(pool, cover_art, show.title) \
            if art_bytes is None and not (out / art_name).is_file() else None
        drawn = [pages.start(pool, pages.draw_pages, show, todo[i:i + pages.PAGES_PER_JOB])
                 for i in range(0, len(todo), pages.PAGES_PER_JOB)]
        index = index_page(show, ordered, feed_url, art_name).encode()
        written = sum(job.get() for job in drawn)
        art_bytes = art.get() if art else art_bytes
    # Drawing a page made its folder: one listing finds those missing, not a mkdir apiece.
    folders = {entry.name for entry in os.scandir(out) if entry.is_dir()}
    for e in ordered:
        folder = out / e.slug
        if e.slug not in folders:
            folder.mkdir(exist_ok=True)
        written += sum(output.sync(src, folder / src.name) for src in e.media)
    written += output.write(out / art_name, art_bytes) if art_bytes is not None else 0
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


def _check_unique_guids(episodes: list[Episode], guids: dict[str, str]) -> None:
    seen: dict[str, str] = {}
    for e in episodes:
        guid = guids[e.slug]
        if guid in seen:
            raise PublishError(f"episodes {seen[guid]!r} and {e.slug!r} share the guid "
                               f"{guid!r}; each episode needs its own")
        seen[guid] = e.slug
