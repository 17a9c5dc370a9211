"""The command line, run as a user runs it: exit codes, output shapes, clear errors."""

from __future__ import annotations

import re
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main

from conftest import MINIMAL, ROOT, shared
from conftest import podforge as run


def test_version_and_help_on_every_command():
    assert run("--version").output.startswith("podforge, version ")
    for command in [[], *[[name] for name in main.commands]]:
        result = run(*command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output, command


def test_validate_clean_episode_exits_0(show_dir: Path):
    result = run("validate", cwd=show_dir)
    assert result.exit_code == 0, result.output
    assert "1 script checked: 0 errors, 0 warnings" in result.stderr


def test_validate_problems_exit_1_with_linter_lines(show_dir: Path):
    script = show_dir / "episodes" / "test-event" / "script.txt"
    script.write_text(MINIMAL.replace("Act Two: End", "Act Two"), encoding="utf-8")
    result = run("validate", str(script), cwd=show_dir)
    assert result.exit_code == 1
    assert f"{script}:21:1: A002 error: act 2 has no title" in result.stdout


def test_validate_json_is_a_list_with_the_same_fields(show_dir: Path):
    script = show_dir / "episodes" / "test-event" / "script.txt"
    script.write_text(MINIMAL.replace("Next on Test", "Next onTest"), encoding="utf-8")
    result = run("validate", "--format", "json", cwd=show_dir)
    assert result.exit_code == 1
    (d,) = json.loads(result.stdout)
    assert set(d) == {"path", "line", "column", "code", "severity", "message"}
    assert (d["line"], d["column"], d["code"], d["severity"]) == (25, 8, "G001", "warning")
    assert d["path"].endswith("script.txt")


def test_validate_the_seed_article_is_rejected():
    article = shared("seeds/article-trotsky-struggle-against-stalinism.txt")
    result = run("validate", str(article), cwd=article.parent)
    assert result.exit_code == 1
    assert "not a podcast script" in result.stdout
    for segment in ("cold open", "intro", "acts", "credits"):
        assert f"S001 error: missing {segment}" in result.stdout


@pytest.mark.parametrize("content", [b"\x00\x01binary", b"caf\xe9", b""])
def test_validate_unreadable_input_exits_2(tmp_path: Path, content: bytes):
    path = tmp_path / "script.txt"
    path.write_bytes(content)
    result = run("validate", str(path), cwd=tmp_path)
    assert result.exit_code == 2
    assert f"{path}:" in result.stdout and " E001 error: " in result.stdout
    assert "1 script checked: 1 error, 0 warnings" in result.stderr
    assert "Traceback" not in result.output
    as_json = run("validate", "--format", "json", str(path), cwd=tmp_path)
    assert as_json.exit_code == 2
    assert [d["code"] for d in json.loads(as_json.stdout)] == ["E001"]


def test_validate_a_folder_with_no_scripts_exits_2(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    result = run("validate", str(tmp_path / "empty"), cwd=tmp_path)
    assert result.exit_code == 2 and "no script here" in result.stderr


def test_validate_a_10_mb_script_exits_2(tmp_path: Path):
    path = tmp_path / "script.txt"
    path.write_text("words " * 1_700_000, encoding="utf-8")
    result = run("validate", str(path), cwd=tmp_path)
    assert result.exit_code == 2 and "too large" in result.stderr


def test_show_yaml_error_names_its_line(show_dir: Path):
    (show_dir / "show.yaml").write_text("title: [unclosed\nhost: x\n", encoding="utf-8")
    result = run("validate", cwd=show_dir)
    assert result.exit_code == 2
    # libyaml and PyYAML's own parser word the error differently: the place and the hint are ours
    assert re.fullmatch(re.escape(f"podforge: {show_dir / 'show.yaml'}:2:5: YAML error: ") +
                        r"(did not find expected|expected) ',' or '\]'(, but got ':')?: "
                        r"fix the YAML syntax\n", result.stderr), result.stderr


def test_front_matter_error_names_its_line(tmp_path: Path):
    path = tmp_path / "script.txt"
    path.write_text("---\nslug: a\nseason: [2\n---\n" + MINIMAL, encoding="utf-8")
    result = run("validate", str(path), cwd=tmp_path)
    assert result.exit_code == 2 and f"{path}:" in result.stderr
    assert "front matter YAML error" in result.stderr


def test_bad_usage_exits_2():
    assert run("validate", "--format", "xml").exit_code == 2
    assert run("outline").exit_code == 2


def test_outline_json_contract():
    seed = shared("seeds/history-daily-trotsky-exile.txt")
    data = json.loads(run("outline", "--json", str(seed), cwd=seed.parent).stdout)
    assert set(data) == {"metadata", "show", "segments", "credits"}
    assert data["metadata"] == {
        "title": "Leon Trotsky is Forced Into Exile", "date": "2023-01-31",
        "summary": data["metadata"]["summary"], "event_date": "1928-01-31"}
    assert data["show"] == {"name": "History Daily", "host": "Lindsay Graham",
                            "network": "Noiser and Airship"}
    first = data["segments"][0]
    assert set(first) == {"kind", "number", "title", "start_line", "end_line", "words",
                          "estimated_seconds"}
    assert [(s["kind"], s["number"], s["start_line"]) for s in data["segments"]][2:5] == [
        ("act", 1, 43), ("act", 2, 73), ("act", 3, 97)]
    assert first["estimated_seconds"] == round(first["words"] / 150 * 60, 1)
    assert data["credits"][-1] == {"name": "Pascal Hughes", "roles": ["executive producer"],
                                   "organization": "Noiser"}


def test_outline_text_lists_segments_and_credits(show_dir: Path):
    result = run("outline", "episodes/test-event/script.txt", cwd=show_dir)
    assert result.exit_code == 0
    assert "act 2: End" in result.output and "Bo Editor: audio editor" in result.output


def test_new_scaffolds_a_script_with_only_fill_me_in_warnings(show_dir: Path):
    result = run("new", "next-story", "--date", "2026-11-23", cwd=show_dir)
    assert result.exit_code == 0, result.output
    path = show_dir / "episodes" / "next-story" / "script.txt"
    check = run("validate", str(path), cwd=show_dir)
    codes = {line.split()[1] for line in check.stdout.splitlines()}
    assert codes == {"P001"} and check.exit_code == 1
    assert run("new", "next-story", cwd=show_dir).exit_code == 2  # never overwrites
    assert run("new", "Bad Slug", cwd=show_dir).exit_code == 2


def test_the_example_show_with_the_real_command():
    """The installed console script, in a subprocess, on the bundled example."""
    exe = Path(sys.executable).parent / "podforge"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's pipeline
    result = subprocess.run([str(exe), "validate"], cwd=ROOT, capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_publish_without_a_build_or_with_a_bad_base_url_exits_2(show_dir: Path):
    result = run("publish", cwd=show_dir)
    assert result.exit_code == 2 and "podforge build" in result.stderr
    result = run("publish", "--base-url", "ftp://example.org/", cwd=show_dir)
    assert result.exit_code == 2 and "ftp://example.org/" in result.stderr
    assert not (show_dir / "feed" / "feed.xml").exists()


def test_new_where_episodes_is_a_file_exits_2(show_dir: Path):
    import shutil
    shutil.rmtree(show_dir / "episodes")
    (show_dir / "episodes").write_text("not a folder")
    result = run("new", "a-story", cwd=show_dir)
    assert result.exit_code == 2 and "cannot create it" in result.stderr


def test_a_manifest_yaml_error_is_one_line_with_its_position(show_dir: Path):
    (show_dir / "assets" / "manifest.yaml").write_text("assets: [\n  - {name: x\n")
    result = run("validate", cwd=show_dir)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "manifest.yaml:" in line and "YAML error" in line


LAUGHS = "a: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 10))


@pytest.mark.parametrize("command", [
    ["validate"], ["validate", "--format", "json"], ["outline", "episodes/test-event/script.txt"],
    ["new", "next-story"], ["build"], ["build", "--plan"], ["publish"],
])
@pytest.mark.parametrize("hostile", ["billion laughs", "channels 6", "deep nesting",
                                     "control character", "binary"])
def test_no_command_prints_a_traceback_on_a_hostile_show(show_dir: Path, command, hostile):
    show = show_dir / "show.yaml"
    text = show.read_text(encoding="utf-8")
    show.write_bytes({
        "billion laughs": (text + LAUGHS).encode(),
        "channels 6": text.replace("sound:\n", "sound:\n  output: {channels: 6}\n").encode(),
        "deep nesting": (text + "x: " + "[" * 3000 + "]" * 3000 + "\n").encode(),
        "control character": text.replace("title: Test Show", "title: \"Test\\x1bShow\"").encode(),
        "binary": b"\x00\x01\x02\xff" * 64,
    }[hostile])
    result = run(*command, cwd=show_dir)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and str(show) in result.output
    assert len(result.stderr.strip().splitlines()) == 1  # one line naming the file


@pytest.mark.parametrize("args, script", [
    (["validate"], b"\x00binary"), (["validate", "--format", "json"], b"\xff\xfe"),
    (["outline", "episodes/test-event/script.txt"], b"---\nslug: [\n---\n"),
    (["build", "--plan"], b"---\nslug: ../../escape\n---\n" + MINIMAL.encode()),
    (["build"], MINIMAL.replace("Act Two: End", "Act Three: End").encode()),
    (["publish"], b"---\ndate: 2026-02-30\n---\n" + MINIMAL.encode()),
    (["new", "../../escape"], MINIMAL.encode()),
    (["init", "."], MINIMAL.encode()),  # a show is already here
    (["serve", "no-such-folder"], MINIMAL.encode()),
])
def test_no_command_prints_a_traceback_on_a_hostile_script(show_dir: Path, args, script):
    (show_dir / "episodes" / "test-event" / "script.txt").write_bytes(script)
    result = run(*args, cwd=show_dir)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "podforge: " in result.output
