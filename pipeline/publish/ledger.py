"""published.yaml: what has been published, so GUIDs are pinned forever and feeds never shrink.

The show's podcast:guid and each item's <guid> are chosen once, at an episode's first publish,
and recorded here, beside show.yaml (commit it with the show). From then on they are read, not
derived: a new base URL, a move between local and S3 publishing, or a renamed episode folder
changes no GUID, so no podcast app sees a "new" episode or loses a listener's progress.

A renamed folder (a new slug) is recognised by its build: the report's script hash, or its
title and date, match an entry whose slug no longer has a build; the entry moves to the new
slug, keeping its guid. (Nothing is written into the script: that would make its build stale.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from pipeline import yamlio

from pipeline.errors import PublishError
from pipeline.files import write_text
from pipeline.publish.episodes import Episode

NAME = "published.yaml"
HEADER = ("# Written by `podforge publish`: the GUIDs podcast apps know this show and its\n"
          "# episodes by, fixed at first publish. Commit it with the show; do not edit it.\n")


@dataclass(frozen=True)
class Enclosure:
    url: str
    bytes: int
    since: str  # ISO date of the publish that first carried it


@dataclass(frozen=True)
class Entry:
    guid: str
    first_published: str  # the item's pubDate at its first publish, ISO
    script: str
    script_sha256: str
    title: str
    enclosures: tuple[Enclosure, ...] = ()
    renamed_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ledger:
    podcast_guid: str | None = None
    episodes: dict[str, Entry] = field(default_factory=dict)  # slug → entry

    def guid_owner(self, guid: str) -> str | None:
        return next((slug for slug, e in self.episodes.items() if e.guid == guid), None)


def read_ledger(root: Path) -> Ledger:
    """The show's ledger, or an empty one before the first publish; PublishError if damaged."""
    path = root / NAME
    try:
        data = yamlio.load(path.read_text(encoding="utf-8"), limit=64 << 20)  # libyaml, bounded
    except FileNotFoundError:
        return Ledger()
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise PublishError(f"{path}: cannot read the publish ledger ({err}); restore it from "
                           f"version control: it holds the GUIDs apps know") from None
    try:
        episodes = {}
        for slug, e in (data.get("episodes") or {}).items():
            episodes[str(slug)] = Entry(
                guid=str(e["guid"]), first_published=str(e["first_published"]),
                script=str(e["script"]), script_sha256=str(e["script_sha256"]),
                title=str(e["title"]),
                enclosures=tuple(Enclosure(str(x["url"]), int(x["bytes"]), str(x["since"]))
                                 for x in e.get("enclosures") or ()),
                renamed_from=tuple(str(s) for s in e.get("renamed_from") or ()))
        guid = data.get("podcast_guid")
        return Ledger(str(guid) if guid else None, episodes)
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise PublishError(f"{path}: the publish ledger is damaged ({type(err).__name__}: "
                           f"{err}); restore it from version control") from None


def ledger_text(ledger: Ledger) -> str:
    data: dict = {"podcast_guid": ledger.podcast_guid, "episodes": {}}
    for slug in sorted(ledger.episodes):
        e = ledger.episodes[slug]
        item = {"guid": e.guid, "first_published": e.first_published, "title": e.title,
                "script": e.script, "script_sha256": e.script_sha256,
                "enclosures": [{"url": x.url, "bytes": x.bytes, "since": x.since}
                               for x in e.enclosures]}
        if e.renamed_from:
            item["renamed_from"] = list(e.renamed_from)
        data["episodes"][slug] = item
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: 10x faster
    return HEADER + yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True,
                              width=100)


def write_ledger(root: Path, ledger: Ledger, read: Ledger | None = None) -> int:
    """Write published.yaml (durably: it outlives any feed) if it changed; 1 if written.
    `read`: the ledger as read from the file; one equal to it is not even put into words."""
    if read is not None and ledger == read and (root / NAME).is_file():
        return 0
    path, text = root / NAME, ledger_text(ledger)
    try:
        if path.read_text(encoding="utf-8") == text:
            return 0
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    write_text(path, text, durable=True)
    return 1


def recognise_renames(ledger: Ledger, built: Sequence[Episode]) -> tuple[Ledger, list[str]]:
    """Move entries whose folder was renamed to their new slug; (ledger, notes).

    A build whose slug the ledger does not know takes over an entry whose slug has no build
    now, if the report's script hash, or else its title and date, match the entry's.
    """
    slugs = {e.slug for e in built}
    orphans = {s: entry for s, entry in ledger.episodes.items() if s not in slugs}
    episodes, notes = dict(ledger.episodes), []
    for e in built:
        if e.slug in episodes or not orphans:
            continue
        match = next((s for s, entry in orphans.items()
                      if entry.script_sha256 == e.report.script_sha256), None) or next(
            (s for s, entry in orphans.items() if entry.title == e.title and
             e.metadata.date and entry.first_published.startswith(e.metadata.date.isoformat())),
            None)
        if match is None:
            continue
        entry = orphans.pop(match)
        del episodes[match]
        episodes[e.slug] = replace(entry, renamed_from=(*entry.renamed_from, match))
        same = "script" if entry.script_sha256 == e.report.script_sha256 else "title and date"
        notes.append(f"{e.slug!r} is {match!r} renamed (the same {same}): it keeps its guid "
                     f"{entry.guid}")
    return Ledger(ledger.podcast_guid, episodes), notes


def record(ledger: Ledger, podcast_guid: str, items: Iterable[tuple[Episode, str, str]],
           today: dt.date) -> Ledger:
    """The ledger after publishing `items` (episode, guid, enclosure URL)."""
    episodes = dict(ledger.episodes)
    for e, guid, url in items:
        old = episodes.get(e.slug)
        enclosures = old.enclosures if old else ()
        if not enclosures or (enclosures[-1].url, enclosures[-1].bytes) != (url, e.audio_bytes):
            enclosures = (*enclosures, Enclosure(url, e.audio_bytes, today.isoformat()))
        episodes[e.slug] = Entry(
            guid=guid, first_published=old.first_published if old else e.published.isoformat(),
            script=e.report.script, script_sha256=e.report.script_sha256, title=e.title,
            enclosures=enclosures, renamed_from=old.renamed_from if old else ())
    return Ledger(podcast_guid, episodes)
