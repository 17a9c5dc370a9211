"""The asset manifest: which sounds the show owns, by name, so cues and show.yaml can name them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.errors import ShowError

ROLES = ("theme", "bed", "stinger", "outro", "sfx")


@dataclass(frozen=True)
class Asset:
    name: str
    path: Path
    role: str
    seconds: float
    loudness_lufs: float
    loop: bool = False
    licence: str = ""


def load_manifest(path: Path) -> dict[str, Asset]:
    """manifest.yaml → {name: Asset}; a broken manifest names the file and the entry."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ShowError(f"{path}: asset manifest not found: set sound.manifest in show.yaml "
                        "or run `python assets/synth.py`") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ShowError(f"{where}: YAML error: {getattr(err, 'problem', None) or err}: fix the "
                        "manifest's syntax") from None
    except (UnicodeDecodeError, OSError) as err:
        raise ShowError(f"{path}: cannot read the asset manifest: {err}") from None
    entries = data.get("assets") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ShowError(f"{path}: expected `assets:` with a list of entries")
    assets = {}
    for i, entry in enumerate(entries):
        try:
            asset = Asset(str(entry["name"]), path.parent / str(entry["file"]),
                          str(entry["role"]), float(entry["seconds"]),
                          float(entry["loudness_lufs"]), bool(entry.get("loop", False)),
                          str(entry.get("licence", "")))
        except (KeyError, TypeError, ValueError) as err:
            raise ShowError(f"{path}: assets[{i}]: missing or invalid {err}: each entry needs "
                            "name, file, role, seconds and loudness_lufs") from None
        if asset.role not in ROLES:
            raise ShowError(f"{path}: assets[{i}].role: {asset.role!r} is not one of "
                            f"{', '.join(ROLES)}")
        assets[asset.name] = asset
    return assets
