"""The project on disk: show.yaml, episodes/<slug>/script.txt, the asset manifest.

This is the file edge the CLI stands on; the stages themselves take plain values.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PodforgeError, ScriptError
from pipeline.files import SLUG_HINT, is_slug, resolved
from pipeline.manifest import Asset, load_manifest
from pipeline.model import Diagnostic, Script
from pipeline.script.parse import SCRIPT_NAMES, clean, read_script
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
        return load_manifest(self.show.resolve(self.show.sound.manifest, "sound.manifest"),
                             self.show.allow_outside)

    def read(self, path: Path) -> Script:
        return read_script(path, self.format)


def open_project(start: Path | None = None, show_file: Path | None = None) -> Project:
    """The show given with --show, else the nearest show.yaml above `start`, else none."""
    start = resolved(start or Path.cwd())
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
        try:
            if path.is_dir():
                scripts = _scripts_in(path)
                if not scripts:
                    raise ScriptError(f"{path}: no script here (looked for "
                                      f"{' or '.join(SCRIPT_NAMES)} in it and its folders, "
                                      "and for .txt or .md files in it)")
                found.extend(scripts)
            elif path.exists() or path.is_symlink():
                found.append(path)  # a dangling or looping link: read_script says which
            else:
                raise ScriptError(f"{path}: no such file or folder")
        except OSError as err:
            raise ScriptError(f"{err.filename or path}: cannot read this folder "
                              f"({err.strerror}); check its permissions") from None
    return list(dict.fromkeys(found))


def read_sources(listed: tuple[str, ...], path: Path) -> tuple[str, ...]:
    """Front-matter sources, then sources.txt's lines (one per line, # for comments)."""
    try:
        lines = clean(path.read_text(encoding="utf-8")).splitlines()  # no \f line breaks
    except FileNotFoundError:
        lines = []
    except (OSError, UnicodeDecodeError) as err:
        raise PodforgeError(f"{path}: cannot read the sources ({err}): make it a UTF-8 text "
                            "file with one source per line") from None
    found = [clean(s).strip() for s in (*listed, *lines)
             if clean(s).strip() and not s.lstrip().startswith("#")]
    return tuple(dict.fromkeys(found))


def _scripts_in(folder: Path) -> list[Path]:
    """Scripts in and under `folder`, walked without following links to folders (no loops);
    a script file that is itself a link is kept, and read_script reports a broken one."""
    found: list[Path] = []

    def fail(err: OSError):
        raise err

    for here, folders, files in os.walk(folder, onerror=fail):
        folders.sort()
        found += [Path(here) / name for name in SCRIPT_NAMES if name in files]
    return sorted(found) or sorted(p for p in folder.iterdir()
                                   if p.suffix in (".txt", ".md") and p.is_file())


def episode_slug(script_path: Path, script: Script) -> str:
    """Front matter slug, else the episode folder's name; either must be a plain name, since it
    becomes build/<slug>/ and feed/<slug>/."""
    slug = script.metadata.slug or script_path.parent.name
    if not is_slug(slug):
        where = "its folder's name" if not script.metadata.slug else "its front matter slug"
        raise ScriptError(f"{script_path}: the episode's slug {slug!r} ({where}) is not a plain "
                          f"name: {SLUG_HINT}; or set `slug:` in the front matter")
    return slug


@dataclass(frozen=True)
class Check:
    """What `podforge validate` found: diagnostics (an unreadable file is an E001 among them)."""

    diagnostics: tuple
    files: int
    unreadable: tuple[str, ...]


_WHERE = re.compile(r"^:(\d+)(?::(\d+))?:?\s*")


def unreadable(path: Path, err: ScriptError) -> Diagnostic:
    """A file that could not be read, as an E001 finding at the line the error names."""
    message = str(err)
    rest = message[len(str(path)):] if message.startswith(str(path)) else ": " + message
    m = _WHERE.match(rest)
    line, column = (int(m[1]), int(m[2] or 1)) if m else (1, 1)
    text = rest[m.end():] if m else rest.lstrip(": ")
    return Diagnostic(str(path), line, column, "E001", "error", text)


def check_scripts(paths: list[Path], project: Project, with_takes: bool = False) -> Check:
    """Every script validated; `with_takes`: each recorded take heard against its script too."""
    from pipeline.script.validate import validate  # the one stage this edge drives

    names = project.assets()
    known = frozenset(names) if names is not None else None
    diagnostics, failed = [], []
    scripts = script_paths(paths, project)
    for path in scripts:
        try:
            script = project.read(path)
        except ScriptError as err:
            failed.append(str(err))
            diagnostics.append(unreadable(path, err))
            continue
        diagnostics.extend(validate(script, str(path), project.show, known))
        if not script.metadata.slug and not is_slug(path.parent.name) and \
                path.name in SCRIPT_NAMES:
            diagnostics.append(Diagnostic(str(path), 1, 1, "M003", "error",
                                          f"the episode folder's name {path.parent.name!r} is "
                                          f"not a plain name: {SLUG_HINT}; rename the folder "
                                          "or set `slug:` in the front matter"))
        if with_takes:
            from pipeline.build.takes import take_findings

            diagnostics.extend(take_findings(script, path))
    return Check(tuple(diagnostics), len(scripts), tuple(failed))
