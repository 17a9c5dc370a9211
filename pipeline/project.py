"""The project on disk: show.yaml, episodes/<slug>/script.txt, the asset manifest.

This is the file edge the CLI stands on; the stages themselves take plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PodforgeError, ScriptError
from pipeline.manifest import Asset, load_manifest
from pipeline.model import Script
from pipeline.script.parse import SCRIPT_NAMES, read_script
from pipeline.show import EpisodeFormat, Show, find_show, load_show


@dataclass(frozen=True)
class Project:
    root: Path  # the folder holding show.yaml (or where podforge was run)
    show: Show | None

    @property
    def format(self) -> EpisodeFormat:
        return self.show.format if self.show else EpisodeFormat()

    @property
    def episodes(self) -> Path:
        return self.root / "episodes"

    def assets(self) -> dict[str, Asset] | None:
        """The show's assets by name, or None without a show (nothing to check cues against)."""
        if self.show is None:
            return None
        return load_manifest(self.show.resolve(self.show.sound.manifest))

    def read(self, path: Path) -> Script:
        return read_script(path, self.format)


def open_project(start: Path | None = None, show_file: Path | None = None) -> Project:
    """The show given with --show, else the nearest show.yaml above `start`, else none."""
    start = (start or Path.cwd()).resolve()
    found = show_file or find_show(start)
    if found is None:
        return Project(start if start.is_dir() else start.parent, None)
    show = load_show(found)
    return Project(found.resolve().parent, show)


def script_paths(paths: list[Path], project: Project) -> list[Path]:
    """Files as given; a folder means every script in or under it; nothing means every episode."""
    if not paths:
        if not project.episodes.is_dir():
            raise PodforgeError(f"{project.episodes}: no episodes folder: pass a script, or run "
                                "`podforge new SLUG`")
        paths = [project.episodes]
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            scripts = sorted(p for name in SCRIPT_NAMES for p in path.rglob(name)) or sorted(
                p for p in path.iterdir() if p.suffix in (".txt", ".md") and p.is_file())
            if not scripts:
                raise ScriptError(f"{path}: no script here (looked for "
                                  f"{' or '.join(SCRIPT_NAMES)} in it and its folders, "
                                  "and for .txt or .md files in it)")
            found.extend(scripts)
        elif path.exists():
            found.append(path)
        else:
            raise ScriptError(f"{path}: no such file or folder")
    return list(dict.fromkeys(found))


def read_sources(listed: tuple[str, ...], path: Path) -> tuple[str, ...]:
    """Front-matter sources, then sources.txt's lines (one per line, # for comments)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    except (OSError, UnicodeDecodeError) as err:
        raise PodforgeError(f"{path}: cannot read the sources ({err}): make it a UTF-8 text "
                            "file with one source per line") from None
    found = [s.strip() for s in (*listed, *lines) if s.strip() and not s.lstrip().startswith("#")]
    return tuple(dict.fromkeys(found))


def episode_slug(script_path: Path, script: Script) -> str:
    """Front matter slug, else the episode folder's name."""
    return script.metadata.slug or script_path.parent.name


@dataclass(frozen=True)
class Check:
    """What `podforge validate` found: diagnostics, and the files it could not read at all."""

    diagnostics: tuple
    files: int
    unreadable: tuple[str, ...]


def check_scripts(paths: list[Path], project: Project) -> Check:
    from pipeline.script.validate import validate  # the one stage this edge drives

    names = project.assets()
    known = frozenset(names) if names is not None else None
    diagnostics, unreadable = [], []
    scripts = script_paths(paths, project)
    for path in scripts:
        try:
            script = project.read(path)
        except ScriptError as err:
            unreadable.append(str(err))
            continue
        diagnostics.extend(validate(script, str(path), project.show, known))
    return Check(tuple(diagnostics), len(scripts), tuple(unreadable))
