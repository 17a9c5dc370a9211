"""Atomic writes: every file podforge makes appears whole under its name, or not at all.

One implementation: write a temporary file beside the target, rename it over the target. With
`durable`, the file and then its folder are fsynced, so the rename survives a power cut too
(publish asks it for feed.xml and the ledger; a cache entry or page lost to a power cut is
simply made again, and syncing thousands of them would cost more than the rest together).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import numpy as np


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
