"""The build's cache, `.podforge-cache/`: entries named by content keys, pruned when unused.

A key is a digest of everything that decides an output (text, take and asset content, settings,
the render version), so a hit is always right and a change always misses.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from pipeline.errors import AudioError
from pipeline.files import save_json
from pipeline.report import read_report


RENDER_VERSION = "3"  # bump when a change to the code changes the audio or the report


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


def prune_cache(root: Path, grace: float = 3600.0) -> int:
    """Delete cached narrations and spans no episode's build report still uses.

    Spans are raw audio (a 30-minute episode is about 650 MB), so every edit would otherwise
    leave one behind. Entries younger than `grace` seconds are kept: another build may be
    writing them right now.
    """
    used: set[str] = set()
    for path in root.glob("build/*/report.json"):
        if (report := read_report(path)) is not None:
            used.update(report.cache)
    removed, now = 0, time.time()
    for path in (root / ".podforge-cache").glob("*-*"):
        stem = path.name.split(".", 1)[0]
        if stem.startswith(("span-", "narration-")) and stem not in used and \
                now - path.stat().st_mtime > grace:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
