"""The build's cache, `.podforge-cache/`: entries named by content keys, pruned when unused.

A key is a digest of everything that decides an output (text, take and asset content, settings,
the render version), so a hit is always right and a change always misses.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import AudioError
from pipeline.files import save_json
from pipeline.report import read_report


RENDER_VERSION = "15"  # bump when a change to the code changes the audio or the report, take
# analysis included (a take's alignment and findings are kept with its narration)


def key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


class Hashes:
    """Content hashes of files, remembered by (path, size, mtime) so each file is read once."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._known = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._known = {}
        self._dirty = False

    def __call__(self, file: Path) -> str:
        try:
            st = file.stat()
            known = f"{file.resolve()}|{st.st_size}|{st.st_mtime_ns}"
            if known not in self._known:
                digest = hashlib.sha256()
                with open(file, "rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
                self._known[known] = digest.hexdigest()
                self._dirty = True
        except OSError as err:
            raise AudioError(f"{file}: cannot read it ({err.strerror}); check the file") from None
        return self._known[known]

    def save(self) -> None:
        if self._dirty:
            save_json(self.path, self._known)


@dataclass(frozen=True)
class Entry:
    """One cache entry: the files sharing a key (a narration's .flac/.npy/.json, a mastered
    span's settings and edges, an encoded piece and its measurements)."""

    name: str  # as build reports list it: "narration-…", "master-…", "pieces/…"
    files: tuple[Path, ...]
    size: int
    used: float  # the newest mtime of its files: entries are touched when used


def entries(cache: Path) -> list[Entry]:
    """Every entry in the cache, least recently used first; a file that vanishes while it is
    listed (another build's pruning) is left out."""
    groups: dict[str, list[tuple[Path, int, float]]] = {}
    for folder, prefix in ((cache, ""), (cache / "pieces", "pieces/")):
        try:
            names = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for item in names:
            stem = item.name.split(".", 1)[0]
            if not stem or "-" not in stem and not prefix or stem.startswith("work-"):
                continue  # temporaries (".…"), hashes.json, a build's working folder
            try:
                if not item.is_file():
                    continue
                st = item.stat()
            except FileNotFoundError:
                continue
            groups.setdefault(prefix + stem, []).append((Path(item.path), st.st_size,
                                                         st.st_mtime))
    out = [Entry(name, tuple(f for f, _, _ in files), sum(n for _, n, _ in files),
                 max(t for _, _, t in files)) for name, files in groups.items()]
    return sorted(out, key=lambda e: (e.used, e.name))


def to_remove(found: list[Entry], used: set[str], max_bytes: float, now: float,
              grace: float) -> list[Entry]:
    """What pruning removes: entries no build report uses, then the least recently used until
    the cache fits in max_bytes; never an entry used in the last `grace` seconds (a build
    running now may be writing or reading it)."""
    old = [e for e in found if now - e.used > grace]
    gone = [e for e in old if e.name not in used]
    size = sum(e.size for e in found) - sum(e.size for e in gone)
    for e in old:  # least recently used first
        if size <= max_bytes:
            break
        if e.name in used:
            gone.append(e)
            size -= e.size
    return gone


def remove(gone: list[Entry]) -> int:
    """Delete the entries' files (one that is already gone is no error); bytes freed."""
    freed = 0
    for e in gone:
        for f in e.files:
            try:
                size = f.stat().st_size
                f.unlink()
                freed += size
            except FileNotFoundError:
                pass
    return freed


def used_entries(root: Path) -> set[str]:
    used: set[str] = set()
    for path in root.glob("build/*/report.json"):
        if (report := read_report(path)) is not None:
            used.update(report.cache)
    return used


def prune_cache(root: Path, max_mb: float = 2048.0, grace: float = 3600.0) -> int:
    """After a build: entries no build report uses any more (once `grace` old), and the least
    recently used beyond `max_mb`. Returns the number of entries removed."""
    gone = to_remove(entries(root / ".podforge-cache"), used_entries(root), max_mb * 1e6,
                     time.time(), grace)
    remove(gone)
    abandoned(root / ".podforge-cache")
    return len(gone)


def abandoned(cache: Path) -> list[Path]:
    """Remove the working folders of builds that were killed (their process is gone, so
    nothing removed them): what they held, mixes and masters, is only ever that build's."""
    gone = []
    if os.name != "posix":  # signal 0 asks whether a process runs only there
        return gone
    for folder in cache.glob("work-*"):
        try:
            os.kill(int(folder.name[5:]), 0)
            continue  # that build still runs (or its number has been reused: left alone)
        except ValueError:
            continue  # not a name a build gives
        except ProcessLookupError:
            pass
        except OSError:  # not ours to signal: running
            continue
        shutil.rmtree(folder, ignore_errors=True)
        gone.append(folder)
    return gone


def touch(*paths: Path) -> None:
    """Mark cache files used now (least recently used go first)."""
    for path in paths:
        try:
            os.utime(path)
        except FileNotFoundError:
            pass
