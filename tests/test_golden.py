"""Golden pairs: a script in, the exact outputs a user sees out, found by glob.

Every `tests/data/scripts/NAME.txt` (written for the show in tests/data/show.yaml) and every
example episode `episodes/SLUG/script.txt` (the repository's show.yaml) is run through the CLI,
as a user would, and compared with three files beside it in tests/data:

  NAME.outline.json      `podforge outline --json NAME.txt`
  NAME.diagnostics.txt   `podforge validate NAME.txt` (the path as given: relative)
  NAME.plan.txt          `podforge build --plan NAME.txt` (narration lengths estimated), or the
                         one-line error it exits 2 with

To add a case, drop a script in tests/data/scripts/ and run
`PODFORGE_UPDATE_GOLDEN=1 ./run test tests/test_golden.py`; review the new files, commit both.
After an intended change in output, regenerate the same way and review the diff.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from pipeline.script.scaffold import scaffold
from pipeline.show import load_show

from conftest import ROOT, podforge

DATA = Path(__file__).parent / "data"
SCRIPTS = DATA / "scripts"
UPDATE = "PODFORGE_UPDATE_GOLDEN"
KINDS = ("outline.json", "diagnostics.txt", "plan.txt")


def _scripts() -> list[tuple[str, Path, Path, Path | None]]:
    """(id, folder to run in, script relative to it, --show file or None)."""
    cases = [(p.stem, SCRIPTS, Path(p.name), DATA / "show.yaml")
             for p in sorted(SCRIPTS.glob("*.txt")) if "." not in p.stem]  # not NAME.plan.txt
    cases += [(f"episode-{p.parent.name}", ROOT, p.relative_to(ROOT), None)
              for p in sorted((ROOT / "episodes").glob("*/script.txt"))]
    return cases


def _expected(case_id: str, kind: str) -> Path:
    if case_id.startswith("episode-"):
        return DATA / "episodes" / f"{case_id.removeprefix('episode-')}.{kind}"
    return SCRIPTS / f"{case_id}.{kind}"


def produce(folder: Path, script: Path, show: Path | None, kind: str) -> str:
    """What the CLI prints for this output kind (stdout; the error line when it exits 2)."""
    options = ["--show", str(show)] if show else []
    command = {"outline.json": ["outline", "--json"], "diagnostics.txt": ["validate"],
               "plan.txt": ["build", "--plan"]}[kind]
    result = podforge(*command, *options, str(script), cwd=folder)
    expected_exit = {"outline.json": {0}, "diagnostics.txt": {0, 1}, "plan.txt": {0, 2}}[kind]
    assert result.exit_code in expected_exit, result.output
    if result.exit_code == 2:
        assert "Traceback" not in result.output
        return result.stderr
    return result.stdout


def check(path: Path, text: str) -> None:
    """Compare with the golden file; PODFORGE_UPDATE_GOLDEN=1 writes it instead."""
    shown = path.relative_to(ROOT)
    if os.environ.get(UPDATE):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"{shown} is missing: create it with `{UPDATE}=1 ./run test "
                    f"tests/test_golden.py`, review it and commit it")
    assert text == path.read_text(encoding="utf-8"), (
        f"{shown} differs from what podforge prints now: if the change is intended, regenerate "
        f"with {UPDATE}=1 and review the diff")


CASES = [(case, kind) for case in _scripts() for kind in KINDS]


@pytest.mark.parametrize("case, kind", CASES, ids=[f"{c[0]}.{k}" for c, k in CASES])
def test_golden_pair(case, kind):
    case_id, folder, script, show = case
    check(_expected(case_id, kind), produce(folder, script, show, kind))


def test_every_golden_file_has_its_script():
    """An expected file whose script was renamed or deleted would otherwise rot unnoticed."""
    wanted = {_expected(case[0], kind) for case, kind in CASES}
    present = {p for folder in (SCRIPTS, DATA / "episodes") for kind in KINDS
               for p in folder.glob(f"*.{kind}")}
    assert sorted(map(str, present - wanted)) == []


def test_the_corpus_covers_what_it_promises():
    """Each small script is there for a reason; losing one loses its coverage."""
    names = {case[0] for case in _scripts()}
    assert {"markdown-headings", "front-matter", "cues", "digit-acts", "broken",
            "article-sable-island", "standin-halifax-explosion"} <= names
    assert {"episode-great-molasses-flood", "episode-tunguska-event"} <= names


def test_scaffold_of_a_new_episode():
    show = load_show(ROOT / "show.yaml")
    check(DATA / "scaffold" / "next-story.txt",
          scaffold(show, "next-story", dt.date(2026, 11, 23)))
