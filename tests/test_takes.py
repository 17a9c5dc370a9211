"""Take discovery never guesses silently: misnamed takes are named, duplicates refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.build.takes import find_takes, takes_for
from pipeline.errors import PodforgeError
from pipeline.script.parse import parse

from conftest import MINIMAL

SCRIPT = parse(MINIMAL)  # cold-open, intro, act-1, act-2, teaser, credits


def folder_with(tmp_path: Path, *names: str) -> Path:
    (tmp_path / "takes").mkdir()
    for name in names:
        (tmp_path / "takes" / name).write_bytes(b"RIFF")
    return tmp_path


def test_takes_are_found_by_segment_name_in_any_supported_format(tmp_path):
    takes = find_takes(SCRIPT, folder_with(tmp_path, "cold-open.wav", "act-1.FLAC", "act-2.m4a"))
    assert {k: v and v.name for k, v in takes.items()} == {
        "cold-open": "cold-open.wav", "intro": None, "act-1": "act-1.FLAC", "act-2": "act-2.m4a",
        "teaser": None, "credits": None}
    assert takes.warnings == () and takes.episode is None


@pytest.mark.parametrize("name,meant", [("Act 2.wav", "act-2.wav"), ("act-1-take2.wav",
                                                                    "act-1.wav"),
                                        ("Act Two.flac", "act-2.flac"),
                                        ("Cold_Open.mp3", "cold-open.mp3")])
def test_a_misnamed_take_is_named_with_the_name_it_needs(tmp_path, name, meant):
    takes = find_takes(SCRIPT, folder_with(tmp_path, name))
    assert all(v is None for _, v in takes.items())
    assert takes.warnings == (f"{tmp_path / 'takes' / name}: matches no segment, so it is not "
                              f"used; name it {meant}",)


def test_a_take_matching_nothing_lists_the_names(tmp_path):
    [warning] = find_takes(SCRIPT, folder_with(tmp_path, "outtakes.wav")).warnings
    assert warning.endswith("segments are named cold-open, intro, act-1, act-2, teaser, credits "
                            "(or episode for the whole episode)")


def test_two_takes_for_one_segment_stop_the_build_naming_both(tmp_path):
    folder_with(tmp_path, "act-1.wav", "act-1.flac")
    with pytest.raises(PodforgeError, match=r"act-1.flac and .*act-1.wav: two takes for the "
                                            r"act-1 segment"):
        find_takes(SCRIPT, tmp_path)


def test_a_whole_episode_take_and_segment_takes_together(tmp_path):
    takes = takes_for(SCRIPT, folder_with(tmp_path, "episode.wav", "teaser.wav"), True)
    assert takes.episode.name == "episode.wav" and takes["teaser"].name == "teaser.wav"
    assert takes.warnings == (f"{tmp_path / 'takes' / 'episode.wav'}: the segment takes (teaser) "
                              "win over the whole-episode recording for their segments",)


def test_takes_only_names_the_file_it_expected(tmp_path):
    with pytest.raises(PodforgeError, match=r"takes/cold-open.wav: no take for the cold-open "
                                            r"segment \(--takes-only\)"):
        takes_for(SCRIPT, folder_with(tmp_path, "act-1.wav"), True)
