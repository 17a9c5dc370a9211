"""Odd and hostile input, each with the smallest case that used to break podforge.

Nothing may write outside the show, hang, print a traceback or publish something wrong.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from pipeline.audio import encode

from pipeline.build import assemble as render
from pipeline.cli import main
from pipeline.errors import PodforgeError, ScriptError, ShowError
from pipeline.files import inside
from pipeline.manifest import Asset, load_manifest
from pipeline.script.parse import parse, read_script
from pipeline.show import load_show

from conftest import MINIMAL, ROOT, SHOW_YAML


def podforge(folder: Path, *args: str):
    old = Path.cwd()
    os.chdir(folder)
    try:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def tone(path: Path, seconds: float = 1.0, rate: int = 44100, freq: float = 440.0) -> None:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)


def voice_show(folder: Path, script: str = MINIMAL) -> Path:
    """A show with no music at all (an empty manifest): it builds voice-only."""
    (folder / "show.yaml").write_text(SHOW_YAML, encoding="utf-8")
    (folder / "assets").mkdir()
    (folder / "assets" / "manifest.yaml").write_text("assets: []\n", encoding="utf-8")
    episode = folder / "episodes" / "test-event"
    episode.mkdir(parents=True)
    (episode / "script.txt").write_text(script, encoding="utf-8")
    return episode


# ----------------------------------------------------------------- 1. names that become paths

def test_a_slug_escaping_the_show_fails_validate_and_build_writes_nothing_outside(tmp_path):
    show = tmp_path / "show"
    show.mkdir()
    voice_show(show, "---\nslug: ../../escape\n---\n" + MINIMAL)
    result = podforge(show, "validate")
    assert result.exit_code == 1 and " M003 error: front matter slug '../../escape'" in \
        result.stdout
    result = podforge(show, "build")
    assert result.exit_code == 2 and ":2:1: M003 error:" in result.output
    result = podforge(show, "build", "--no-validate")  # still refused: it is no folder name
    assert result.exit_code == 2
    assert not list(tmp_path.rglob("*.mp3")) and not (tmp_path / "escape").exists()


def test_inside_refuses_dot_dot_and_symlinks_out(tmp_path):
    show, outside = tmp_path / "show", tmp_path / "outside"
    show.mkdir(), outside.mkdir()
    (show / "link").symlink_to(outside)
    assert inside(show, show / "a" / "b", "x") == show.resolve() / "a" / "b"
    for path in (show / ".." / "outside", show / "link" / "file", outside):
        with pytest.raises(PodforgeError, match="leads outside the show's folder"):
            inside(show, path, "x")
    assert inside(show, show / "link", "x", allow_outside=True) == outside.resolve()


def test_manifest_files_and_takes_stay_inside_unless_allowed(tmp_path):
    (tmp_path / "secret.ogg").write_bytes(b"")
    manifest = tmp_path / "show" / "assets" / "manifest.yaml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("assets:\n  - {name: bell, file: ../../secret.ogg, role: sfx, "
                        "seconds: 1, loudness_lufs: -20}\n")
    with pytest.raises(ShowError, match=r"assets\[0\].file leads outside"):
        load_manifest(manifest)
    assert load_manifest(manifest, allow_outside=True)["bell"].path.name == "secret.ogg"
    manifest.write_text("assets:\n  - {name: ../bell, file: bell.ogg, role: sfx, seconds: 1, "
                        "loudness_lufs: -20}\n")
    with pytest.raises(ShowError, match=r"assets\[0\].name: '../bell' is not a plain name"):
        load_manifest(manifest)


def test_a_take_linked_from_outside_the_show_is_refused(tmp_path):
    show = tmp_path / "show"
    show.mkdir()
    episode = voice_show(show)
    tone(tmp_path / "elsewhere.wav")
    (episode / "takes").mkdir()
    (episode / "takes" / "cold-open.wav").symlink_to(tmp_path / "elsewhere.wav")
    result = podforge(show, "build", "--plan")
    assert result.exit_code == 2 and "this take leads outside the show's folder" in result.output


def test_show_yaml_paths_stay_inside_unless_written_in_full_or_allowed(tmp_path, show_dir):
    show = show_dir / "show.yaml"
    text = show.read_text(encoding="utf-8")
    show.write_text(text.replace("manifest: assets/manifest.yaml",
                                 "manifest: ../elsewhere/manifest.yaml"), encoding="utf-8")
    result = podforge(show_dir, "validate")
    assert result.exit_code == 2 and "sound.manifest leads outside the show's folder" in \
        result.output
    outside = tmp_path.parent / f"{tmp_path.name}-assets"
    outside.mkdir()
    (outside / "manifest.yaml").write_text("assets: []\n", encoding="utf-8")
    for manifest, extra in ((outside / "manifest.yaml", ""),  # written in full: chosen
                            (f"../{outside.name}/manifest.yaml", "allow_outside: true\n")):
        show.write_text(extra + text.replace("manifest: assets/manifest.yaml",
                                             f"manifest: {manifest}"), encoding="utf-8")
        assert podforge(show_dir, "validate").exit_code == 0
    show.write_text(text + "artwork: ../../cover.png\n", encoding="utf-8")
    result = podforge(show_dir, "publish")
    assert result.exit_code == 2 and "artwork leads outside" in result.output


def test_publish_out_outside_the_show_is_refused(tmp_path, show_dir):
    result = podforge(show_dir, "publish", "--out", "../elsewhere")
    assert result.exit_code == 2 and "leads outside the show's folder" in result.output
    assert not (tmp_path.parent / "elsewhere").exists()


# ----------------------------------------------------------------- 2. bounded parsing

LAUGHS = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
                 for i in range(1, 10))


def test_a_billion_laughs_in_front_matter_is_refused_at_once(tmp_path):
    path = tmp_path / "script.txt"
    path.write_text("---\nkeywords: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
                    + LAUGHS + "sources: *l9\n---\n" + MINIMAL, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(ScriptError, match=r"script.txt:\d+:\d+: front matter YAML error: more "
                                          r"than \d+ aliases"):
        read_script(path)
    assert time.perf_counter() - started < 5  # a guard against a hang, not a speed test


@pytest.mark.parametrize("name", ["show.yaml", "manifest"])
def test_a_billion_laughs_or_deep_nesting_in_show_files_is_one_line(tmp_path, name):
    for body in ("a: &l0 [lol, lol]\n" + LAUGHS, "a: " + "[" * 5000 + "]" * 5000 + "\n"):
        path = tmp_path / "x.yaml"
        path.write_text(body, encoding="utf-8")
        with pytest.raises(ShowError, match=r"x.yaml:\d+:\d+: YAML error: (more than|nested)"):
            load_show(path) if name == "show.yaml" else load_manifest(path)


def test_symlink_loops_and_unreadable_scripts_are_messages(tmp_path, show_dir):
    episodes = show_dir / "episodes"
    (episodes / "x").symlink_to("y")
    (episodes / "y").symlink_to("x")
    (episodes / "self").mkdir()
    (episodes / "self" / "script.txt").symlink_to("script.txt")
    result = podforge(show_dir, "validate")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "self/script.txt:1:1: E001 error:" in result.stdout
    result = podforge(show_dir, "validate", "episodes/x")
    assert result.exit_code == 2 and "symlink loop" in result.output
    assert podforge(show_dir, "build", "--plan", "episodes/x").exit_code == 2


def test_an_unreadable_episodes_folder_is_a_message(show_dir, monkeypatch):
    """Tests run as root here, where chmod 000 hides nothing: the refusal is made directly."""
    real = os.scandir
    locked = show_dir / "episodes" / "test-event"

    def scandir(path="."):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = podforge(show_dir, "validate")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{locked}: cannot read this folder (Permission denied)" in result.output


def test_generated_scripts_and_show_files_never_crash():
    """A few hundred of bench/fuzz.py's cases, so the fuzz itself keeps working."""
    import tempfile
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import fuzz
    finally:
        sys.path.remove(str(ROOT / "bench"))
    with tempfile.TemporaryDirectory() as tmp:
        crashes = [crash for seed in range(1, 301)
                   if (crash := fuzz.run_case(seed, Path(tmp))[1])]
    assert crashes == []


# ----------------------------------------------------------------- 3. values checked on entry

@pytest.mark.parametrize("old, new, message", [
    ("title: Test Show", "title: \"Test\\x07Show\"", "title: control character U+0007"),
    ("minutes: {min: 0, max: 90}", "minutes: {min: 30, max: 8}",
     "format.minutes: min 30 is greater than max 8"),
    ("minutes: {min: 0, max: 90}", "minutes: {min: 0, max: 90}\n  teaser: 'Next on {shwo}'",
     "format.teaser: unknown placeholder {shwo}"),
    ("  manifest:", "  output: {channels: 6}\n  manifest:",
     "sound.output.channels: 6 is not one of 1, 2"),
    ("  manifest:", "  output: {sample_rate: 12345}\n  manifest:",
     "sound.output.sample_rate: 12345 is not one of 8000"),
    ("  manifest:", "  output: {sample_rate: 22050, bitrate_kbps: 192}\n  manifest:",
     "sound.output.bitrate_kbps: 192 kb/s is not an MP3 bitrate at 22050 Hz"),
    ("  manifest:", "  loudness: {integrated_lufs: 16}\n  manifest:",
     "sound.loudness.integrated_lufs: 16 is out of range: it must be within -40 … -5 LUFS"),
    ("  manifest:", "  loudness: {true_peak_dbtp: 2}\n  manifest:",
     "sound.loudness.true_peak_dbtp: 2 is out of range"),
    ("  manifest:", "  loudness: loud\n  manifest:", "sound.loudness: no preset 'loud'"),
    ("  manifest:", "  ducking: {depth_db: -3}\n  manifest:",
     "sound.ducking.depth_db: -3 is out of range: it must be more than 0"),
    ("  manifest:", "  ducking: {attack_ms: 0}\n  manifest:", "sound.ducking.attack_ms: 0 is out"),
    ("  manifest:", "  voice: {name: xx-nope}\n  manifest:",
     "sound.voice.name: espeak-ng has no voice 'xx-nope'"),
    ("  manifest:", "  voice: {words_per_minute: 20}\n  manifest:",
     "sound.voice.words_per_minute: 20 is out of range"),
    ("  manifest:", "  theme: {asset: theme, fade_in: .nan}\n  manifest:",
     "sound.theme.fade_in: nan is out of range"),
])
def test_show_yaml_values_are_checked_when_it_loads(tmp_path, old, new, message):
    assert old in SHOW_YAML
    path = tmp_path / "show.yaml"
    path.write_text(SHOW_YAML.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ShowError) as caught:
        load_show(path)
    assert str(caught.value).startswith(f"{path}: {message}"), str(caught.value)


@pytest.mark.parametrize("preset, figures", [("apple", (-16, -1)), ("spotify", (-14, -1)),
                                             ("ebu-r128", (-23, -1))])
def test_loudness_presets_and_the_en_gb_voice(tmp_path, preset, figures):
    path = tmp_path / "show.yaml"
    path.write_text(SHOW_YAML.replace("  manifest:", f"  loudness: {preset}\n  voice: "
                                      "{name: en-gb}\n  manifest:"), encoding="utf-8")
    sound = load_show(path).sound
    assert (sound.loudness.integrated_lufs, sound.loudness.true_peak_dbtp) == figures
    assert sound.voice.name == "en-gb"


def test_manifest_numbers_are_checked(tmp_path):
    path = tmp_path / "manifest.yaml"
    for entry, message in (("seconds: -1, loudness_lufs: -20", r"assets\[0\].seconds: -1"),
                           ("seconds: 1, loudness_lufs: 12", r"assets\[0\].loudness_lufs: 12")):
        path.write_text(f"assets:\n  - {{name: a, file: a.ogg, role: sfx, {entry}}}\n")
        with pytest.raises(ShowError, match=message):
            load_manifest(path)


def test_control_characters_never_reach_the_feed(tmp_path, show_dir):
    """A title with a bell character used to end in lxml's ValueError inside publish."""
    import feedparser
    from publish_fixtures import Planned, mp3, write_build

    episode = show_dir / "episodes" / "test-event"
    (episode / "script.txt").write_text(MINIMAL.replace("The Test Event\n", "The Test\x07 "
                                                        "Event\x1b\n", 1), encoding="utf-8")
    (episode / "sources.txt").write_text("A book\x0c, 1999\n", encoding="utf-8")
    read = read_script(episode / "script.txt")  # what the build reports is what the parser read
    write_build(show_dir, "test-event", mp3(tmp_path / "a.mp3").read_bytes(),
                Planned(read.metadata, read.credits))
    result = podforge(show_dir, "publish")
    assert result.exit_code == 0, result.output
    feed = feedparser.parse((show_dir / "feed" / "feed.xml").read_bytes())
    assert not feed.bozo and feed.entries[0].title == "The Test Event"
    page = (show_dir / "feed" / "test-event" / "index.html").read_text(encoding="utf-8")
    assert "A book, 1999" in page and "\x0c" not in page and "\x07" not in page


def test_an_impossible_date_in_front_matter_is_a_finding_not_a_traceback(show_dir):
    script = show_dir / "episodes" / "test-event" / "script.txt"
    script.write_text("---\ndate: 2026-02-30\n---\n" + MINIMAL, encoding="utf-8")
    result = podforge(show_dir, "validate")
    assert result.exit_code == 1 and ":2:1: H005 error: front matter date '2026-02-30'" in \
        result.stdout


# ----------------------------------------------------------------- 4. the build validates first

def test_acts_out_of_order_stop_the_build(tmp_path):
    voice_show(tmp_path, MINIMAL.replace("Act Two: End", "Act Three: End"))
    result = podforge(tmp_path, "build")
    assert result.exit_code == 2
    assert "script.txt:21:1: A001 error: act numbered 3 where act 2 belongs" in result.output
    assert "1 error found by validate" in result.output and not (tmp_path / "build").exists()


def test_a_pause_in_the_credits_stops_the_build(tmp_path):
    voice_show(tmp_path, MINIMAL + "\n[PAUSE 1s]\n")
    result = podforge(tmp_path, "build", "--plan")
    assert result.exit_code == 2 and "Q003 error: [PAUSE 1s] inside the credits" in result.output


def test_warnings_are_printed_and_the_plan_goes_on(tmp_path):
    voice_show(tmp_path, MINIMAL.replace("The Test Event\n", "The Test\x07 Event\n", 1))
    result = podforge(tmp_path, "build", "--plan")
    assert result.exit_code == 0, result.output
    assert "X001 warning" in result.stderr and "total" in result.stdout


# ----------------------------------------------------------------- 6. tools checked before work

def test_a_broken_ffmpeg_on_path_is_passed_over_for_the_bundled_one(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'error while loading shared libraries' >&2\nexit 127\n")
    fake.chmod(0o755)
    monkeypatch.delenv("PODFORGE_FFMPEG", raising=False)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    import imageio_ffmpeg
    assert encode.find_ffmpeg() == imageio_ffmpeg.get_ffmpeg_exe()
    assert "exited with status 127" in encode._CHECKED[str(fake)]


@pytest.mark.slow  # a real build
def test_the_build_says_which_ffmpeg_it_uses(tmp_path):
    voice_show(tmp_path)
    result = podforge(tmp_path, "build")
    assert result.exit_code == 0, result.output
    assert f"ffmpeg: {encode.find_ffmpeg()}" in result.output


def test_prune_tolerates_entries_vanishing(tmp_path, monkeypatch):
    from pipeline.build import cache as build
    cache = tmp_path / ".podforge-cache"
    cache.mkdir()
    for name in ("span-a.f32", "span-b.f32", "narration-c.f32"):
        (cache / name).write_bytes(b"x")
        os.utime(cache / name, (0, 0))
    real_stat = Path.stat

    def racing_stat(self, *a, **k):  # another build removes span-b between listing and stat
        if self.name == "span-b.f32":
            (cache / "span-b.f32").unlink(missing_ok=True)
        return real_stat(self, *a, **k)

    monkeypatch.setattr(Path, "stat", racing_stat)
    build.prune_cache(tmp_path, grace=0)  # no error for the entry that vanished mid-prune
    assert list(cache.iterdir()) == []


def test_an_edited_asset_is_decoded_again(tmp_path):
    path = tmp_path / "a.wav"
    tone(path, 0.5, freq=440)
    bank = render.AssetBank({"a": Asset("a", path, "sfx", 0.5, -20)}, 44100, 1)
    first = bank["a"].copy()
    time.sleep(0.01)
    tone(path, 0.75, freq=880)
    second = bank["a"]
    assert len(first) == 22050 and len(second) == 33075


@pytest.mark.slow
@pytest.mark.parametrize("to", ["the process group", "podforge alone"])
def test_ctrl_c_exits_130_and_leaves_no_temporary_files(tmp_path, to):
    long = MINIMAL.replace("The story starts.", " ".join(["The story starts again."] * 3000))
    voice_show(tmp_path, long)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", "from pipeline.cli import main; main()",
                             "build"], cwd=tmp_path, env=env, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (tmp_path / ".podforge-cache").exists():
        time.sleep(0.05)
    time.sleep(1.5)  # in the middle of narrating
    if to == "the process group":  # as a terminal's Ctrl-C does
        os.killpg(proc.pid, signal.SIGINT)
    else:  # kill -INT: the workers hear nothing, podforge stops them
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    time.sleep(0.5)  # forked workers finish their cleanup
    leftovers = [p.name for p in tmp_path.rglob("*") if ".tmp" in p.name]
    assert leftovers == []


def test_a_ctrl_c_while_the_audio_stack_loads_is_held_until_it_has_loaded():
    from pipeline.interrupts import held

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), held():
        signal.raise_signal(signal.SIGINT)
        try:  # as extension modules' initialisation does: Cython's `except: pass`
            time.sleep(0.01)  # the Python handler has run by now
        except BaseException:  # noqa: BLE001
            pytest.fail("the interrupt reached the import, which may lose it")
    assert signal.getsignal(signal.SIGINT) is before


# ----------------------------------------------------------------- 7. a show of one's own

@pytest.mark.slow
def test_init_lays_out_a_show_that_validates_and_builds_voice_only(tmp_path):
    result = podforge(tmp_path, "init", "myshow", "--title", "Test Show", "--host", "Ann Host",
                      "--network", "Test Network")
    assert result.exit_code == 0 and "fill in" in result.output
    show = tmp_path / "myshow"
    assert (show / "assets" / "manifest.yaml").is_file() and (show / "episodes").is_dir()
    assert podforge(tmp_path, "init", "myshow").exit_code == 2  # never over a show
    episode = show / "episodes" / "test-event"
    episode.mkdir()
    (episode / "script.txt").write_text(MINIMAL, encoding="utf-8")
    result = podforge(show, "validate")
    assert "1 script checked: 0 errors, 1 warning" in result.stderr  # L001: a short script
    result = podforge(show, "build")
    assert result.exit_code == 0, result.output
    report = json.loads((show / "build" / "test-event" / "report.json").read_text())
    assert report["integrated_lufs"] == pytest.approx(-16, abs=1)  # the apple preset


def test_the_synth_hint_is_only_for_the_example(tmp_path):
    (tmp_path / "show.yaml").write_text(SHOW_YAML, encoding="utf-8")
    result = podforge(tmp_path, "validate", "--show", "show.yaml")
    assert result.exit_code == 2 and "synth.py" not in result.output
    assert "podforge init" in result.output


# ----------------------------------------------------------------- 8. identity without a show

@pytest.mark.parametrize("intro", [
    "From Test Network, I'm Ann Host and this is Test Show.",
    "I'm Ann Host, and this is Test Show.",
    "I’m Ann Host and this is Test Show.",
    "Welcome to Test Show, I'm Ann Host.",
])
def test_the_identity_is_read_from_any_usual_intro(intro):
    script = parse(MINIMAL.replace("From Test Network, I'm Ann Host and this is Test Show.",
                                   intro))
    assert (script.identity.host, script.identity.show) == ("Ann Host", "Test Show")
    assert [s.kind for s in script.segments][:2] == ["cold_open", "intro"]
