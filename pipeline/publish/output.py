"""The published folder's edge: one publish at a time, atomic writes, media links, pruning.

Media are published as hard links to the built files (copies where a link cannot go): the
build replaces its files rather than rewriting them, so a link never changes under a reader.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from pipeline.errors import PublishError
from pipeline.files import temporary, write_bytes

LOCK = Path(".podforge-cache") / "publish.lock"  # beside the show, never in what is served


@contextmanager
def lock(root: Path) -> Iterator[None]:
    """Only one publish at a time per show (the ledger is the show's); released on exit, too.

    The lock file lives in the show's cache folder, not the published one, so it is never
    uploaded or served.
    """
    path = root / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError(f"{root}: another publish is running (it holds {path}); "
                               f"wait for it to finish, then publish again") from None
        yield


def write(path: Path, data: bytes, durable: bool = False) -> int:
    """Write atomically unless the file already holds `data`; 1 if written, else 0."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return 0
    except FileNotFoundError:
        pass
    write_bytes(path, data, durable)
    return 1


def sync(source: Path, target: Path) -> int:
    """Publish a built file as a hard link to it, or a copy where a link cannot go.

    A link costs no copying and is safe because the build never writes a file in place: it
    writes a temporary file and renames it over the old name, so a rebuild gives build/<slug>/
    a new file and the published link keeps the old bytes until the next publish relinks it.
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
    temp = temporary(target)
    try:
        temp.unlink(missing_ok=True)  # a crashed publish's, whose process id this one reuses
        try:
            os.link(source, temp)
        except OSError:
            shutil.copy2(source, temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return 1


_OURS = re.compile(rb'<meta name="generator" content="podforge">')


def content_name(name: str, sha256: str) -> str:
    """`episode.mp3` → `episode-<sha256[:12]>.mp3`: a name that changes when the bytes do, so
    an enclosure URL never serves other bytes and can be cached forever."""
    path = PurePosixPath(name)
    return f"{path.stem}-{sha256[:12]}{path.suffix}"


_CONTENT_TAIL = re.compile(r"-[0-9a-f]{12}\.mp3")


def prune_media(folder: Path, stem: str, keep: str) -> None:
    """Remove an episode's audio published under older content names (`stem-<hash>.mp3`).
    One listing and a compiled pattern: pathlib's glob compiles its pattern on every call."""
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if name != keep and name.startswith(stem) and \
                    _CONTENT_TAIL.fullmatch(name, len(stem)):
                Path(entry.path).unlink(missing_ok=True)


def prune(out: Path, slugs: set[str], keep: set[str]) -> None:
    """Take down pages this tool made for episodes no longer published, and replaced art."""
    for child in out.iterdir():
        if child.is_dir() and child.name not in slugs:
            page = child / "index.html"
            if page.is_file() and _OURS.search(page.read_bytes()[:1024]):
                shutil.rmtree(child)
        elif child.name.startswith("cover-") and child.name not in keep and \
                child.suffix in (".png", ".jpg"):
            child.unlink()
