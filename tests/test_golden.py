"""Golden files for the outputs that must stay stable: the outline contract and the scaffold.

Regenerate after an intended change with PODFORGE_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from pipeline.script.outline import outline
from pipeline.script.parse import read_script
from pipeline.script.scaffold import scaffold
from pipeline.show import load_show

from conftest import ROOT

GOLDEN = Path(__file__).parent / "golden"


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PODFORGE_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{name} changed: review, then regenerate"


@pytest.mark.parametrize("slug", ["great-molasses-flood", "tunguska-event"])
def test_outline_of_the_example_episodes(slug: str):
    show = load_show(ROOT / "show.yaml")
    script = read_script(ROOT / "episodes" / slug / "script.txt", show.format)
    check(f"outline-{slug}.json",
          json.dumps(outline(script, show), indent=2, ensure_ascii=False) + "\n")


def test_scaffold_of_a_new_episode():
    show = load_show(ROOT / "show.yaml")
    check("scaffold-next-story.txt", scaffold(show, "next-story", dt.date(2026, 11, 23)))
