"""show.yaml: strict loading, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ShowError
from pipeline.show import load_show

from conftest import ROOT, SHOW_YAML


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "show.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_show_loads():
    show = load_show(ROOT / "show.yaml")
    assert (show.title, show.host, show.network) == ("The Daybook", "Nora Vance",
                                                      "Lantern Hill Audio")
    assert show.owner.email and show.categories and show.format.intro[0].startswith("From")
    assert [m.asset for m in show.sound.act_beds][0] == "bed-tension"
    assert show.sound.loudness.integrated_lufs == -16.0


@pytest.mark.parametrize("change, message", [
    ("titel: X\n", "show.yaml: titel: unknown key"),
    ("format:\n  acts: {min: 1, max: many}\n", "format.acts.max: expected a number, got a string"),
    ("sound:\n  ducking: {depth: 3}\n", "sound.ducking.depth: unknown key"),
    ("explicit: maybe\n", "explicit: expected true or false"),
    ("format:\n  segments: [{kind: prologue}]\n", "format.segments[0].kind: unknown segment"),
    ("sound:\n  act_beds: [{gain_db: -3}]\n", "sound.act_beds[0].asset: missing"),
])
def test_bad_values_name_the_file_and_key(tmp_path: Path, change: str, message: str):
    with pytest.raises(ShowError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_show(write(tmp_path, SHOW_YAML.split("format:")[0] + change))


def test_missing_required_field(tmp_path: Path):
    with pytest.raises(ShowError, match="show.yaml: host: missing"):
        load_show(write(tmp_path, SHOW_YAML.replace("host: Ann Host\n", "")))


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path):
    with pytest.raises(ShowError, match=r"show.yaml:\d+:\d+: YAML error"):
        load_show(write(tmp_path, "title: [oops\n"))


def test_not_a_mapping(tmp_path: Path):
    with pytest.raises(ShowError, match="expected a mapping"):
        load_show(write(tmp_path, "- a\n- b\n"))
