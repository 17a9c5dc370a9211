"""Atomic writes: every file podforge makes appears whole under its name, or not at all.

One implementation: write a temporary file beside the target, rename it over the target. With
`durable`, the file and then its folder are fsynced, so the rename survives a power cut too
(publish asks it for feed.xml and the ledger; a cache entry or page lost to a power cut is
simply made again, and syncing thousands of them would cost more than the rest together).

The file edge also holds the one check that keeps every path podforge reads or writes inside
the show.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
import re
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import numpy as np

from pipeline.errors import PodforgeError


def temporary(path: Path) -> Path:
    """The temporary name `path` is written under: per process, as builds and publishes fork."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _atomic(path: Path, write: Callable[[BinaryIO], object], durable: bool) -> None:
    tmp = temporary(path)
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; litter only if something failed
    if durable:  # the rename itself is durable only once the folder is synced
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def write_bytes(path: Path, data: bytes, durable: bool = False) -> None:
    _atomic(Path(path), lambda handle: handle.write(data), durable)


def write_text(path: Path, text: str, durable: bool = False) -> None:
    write_bytes(path, text.encode("utf-8"), durable)


def save_json(path: Path, data, durable: bool = False) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", durable)


def save_array(path: Path, array: np.ndarray) -> None:
    import numpy as np  # not at the top: a build with nothing to do loads no numpy

    _atomic(Path(path), lambda handle: np.save(handle, array), False)


SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SLUG_HINT = "use lower-case letters, digits and hyphens, e.g. great-molasses-flood"


def is_slug(name: object) -> bool:
    """A plain name that is safe as one path component: no dots, slashes or spaces."""
    return isinstance(name, str) and len(name) <= 100 and bool(SLUG.fullmatch(name))


def resolved(path: Path) -> Path:
    """path.resolve(), with a symlink loop or an unreadable folder as a PodforgeError."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError) as err:  # RuntimeError: 3.11's "Symlink loop from …"
        raise PodforgeError(f"{path}: cannot follow this path ({_why(err)}); "
                            "fix or remove the link") from None


def inside(root: Path, path: Path, what: str, allow_outside: bool = False) -> Path:
    """`path`, resolved, if it stays inside the show's folder `root`; else a PodforgeError.

    Every name that becomes a path (slugs, asset files, takes, --out) goes through here, for
    writes and reads alike, so `..` or a symlink can never lead podforge out of the show.
    """
    target = resolved(path)
    if allow_outside:
        return target
    base = resolved(root)
    if target != base and base not in target.parents:
        raise PodforgeError(f"{path}: {what} leads outside the show's folder {base}; keep it "
                            "inside, or set `allow_outside: true` in show.yaml to allow this")
    return target


def _why(err: BaseException) -> str:
    if isinstance(err, RuntimeError):
        return "a symlink loop"
    return getattr(err, "strerror", None) or str(err)
