"""The asset manifest: which sounds the show owns, by name, so cues and show.yaml can name them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline import yamlio
from pipeline.errors import PodforgeError, ShowError
from pipeline.files import SLUG_HINT, inside, is_slug

ROLES = ("theme", "bed", "stinger", "outro", "sfx")


@dataclass(frozen=True)
class Asset:
    """A sound of the show. Its length and loudness are the file's own, measured by the build
    (pipeline.build.assets); a length the manifest declares is checked against the file."""

    name: str
    path: Path
    role: str
    seconds: float  # 0 until measured, when the manifest does not say
    loudness_lufs: float
    loop: bool = False
    licence: str = ""
    declared: bool = True  # the manifest gave `seconds`: it must agree with the file


def load_manifest(path: Path, allow_outside: bool = False) -> dict[str, Asset]:
    """manifest.yaml → {name: Asset}; a broken manifest names the file and the entry.

    Asset files stay in the manifest's folder unless show.yaml sets allow_outside.
    """
    try:
        data = yamlio.load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        hint = " or run `python assets/synth.py`" if (path.parent / "synth.py").is_file() else \
            " or create it (`podforge init` writes an empty one)"
        raise ShowError(f"{path}: asset manifest not found: set sound.manifest in show.yaml"
                        f"{hint}") from None
    except yaml.YAMLError as err:
        raise ShowError(yamlio.describe(err, str(path)) + ": fix the manifest's syntax") from None
    except (UnicodeDecodeError, OSError) as err:
        raise ShowError(f"{path}: cannot read the asset manifest: {err}") from None
    entries = data.get("assets") if isinstance(data, dict) else None
    if entries is None and isinstance(data, dict) and "assets" in data:
        entries = []  # `assets:` with nothing under it: a show with no sounds yet
    if not isinstance(entries, list):
        raise ShowError(f"{path}: expected `assets:` with a list of entries")
    assets = {}
    for i, entry in enumerate(entries):
        where = f"{path}: assets[{i}]"
        try:
            declared = entry.get("seconds")
            asset = Asset(_text(entry["name"]), path.parent / _text(entry["file"]),
                          _text(entry["role"]),
                          float(declared) if declared is not None else 0.0,
                          float(entry.get("loudness_lufs", -20.0)),
                          bool(entry.get("loop", False)), _text(entry.get("licence", "")),
                          declared=declared is not None)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ShowError(f"{where}: missing or invalid {err}: each entry needs name, file "
                            "and role (seconds and loudness_lufs are measured from the file; "
                            "a declared seconds is checked against it)") from None
        if not is_slug(asset.name):
            raise ShowError(f"{where}.name: {asset.name!r} is not a plain name: {SLUG_HINT}")
        if asset.role not in ROLES:
            raise ShowError(f"{where}.role: {asset.role!r} is not one of {', '.join(ROLES)}")
        if asset.declared and not 0 < asset.seconds <= 3600:
            raise ShowError(f"{where}.seconds: {asset.seconds:g} is out of range: it must be "
                            "more than 0 and at most 3600 s")
        if not -70 <= asset.loudness_lufs <= 0:
            raise ShowError(f"{where}.loudness_lufs: {asset.loudness_lufs:g} is out of range: "
                            "it must be within -70 … 0 LUFS")
        if asset.name in assets:
            raise ShowError(f"{where}.name: {asset.name!r} is listed twice; keep one")
        try:
            inside(path.parent, asset.path, f"assets[{i}].file", allow_outside)
        except PodforgeError as err:
            raise ShowError(f"{path}: {err}") from None
        assets[asset.name] = asset
    return assets


def _text(value) -> str:
    """A manifest string: no mappings or lists, no control characters."""
    if isinstance(value, (dict, list)) or value is None:
        raise TypeError(f"{value!r}")
    text = str(value)
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        raise ValueError(f"{text!r} (control character)")
    return text
