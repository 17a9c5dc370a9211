"""The file edge: atomic writes (every file appears whole or not at all), and the one check that
keeps every path podforge reads or writes inside the show."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .errors import PodforgeError


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")  # per process: builds may share


def write_text(path: Path, text: str) -> None:
    tmp = _temporary(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def save_array(path: Path, array) -> None:
    import numpy as np  # here, not at the top: the script stages import this module too

    tmp = _temporary(path)
    try:
        with open(tmp, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
