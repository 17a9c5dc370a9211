"""`podforge build` end to end on a small show: real voice, real music, real MP3, read back."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from mutagen.id3 import ID3

from pipeline import build as build_module
from pipeline.cli import main
from pipeline.encode import find_ffmpeg
from pipeline.tags import read_chapters

from conftest import MINIMAL, ROOT, SHOW_YAML

SOUND = """\
sound:
  manifest: {manifest}
  theme: {{asset: theme, gain_db: -2, lead: 3, tail: 1, fade_out: 2}}
  cold_open_bed: {{asset: bed-suspense, gain_db: -6, fade_in: 1, fade_out: 2}}
  act_beds: [{{asset: bed-tension, gain_db: -8}}, {{asset: bed-reflective, gain_db: -8}}]
  stinger: {{asset: stinger, gain_db: -3, duck: false}}
  outro: {{asset: outro, gain_db: -4, lead: 1, tail: 2, fade_out: 2}}
"""
SCRIPT = MINIMAL.replace("The story starts.", "The story starts.\n\n[SFX: bell]\n\n"
                         "[PAUSE 1s]\n\nAnd goes on.")


def make_show(folder: Path, script: str = SCRIPT) -> Path:
    show = SHOW_YAML.split("sound:")[0] + SOUND.format(manifest=ROOT / "assets" / "manifest.yaml")
    (folder / "show.yaml").write_text(show, encoding="utf-8")
    episode = folder / "episodes" / "test-event"
    episode.mkdir(parents=True)
    (episode / "script.txt").write_text(script, encoding="utf-8")
    return episode


def podforge(folder: Path, *args: str):
    import os
    old = Path.cwd()
    os.chdir(folder)
    try:
        return CliRunner().invoke(main, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("show")
    make_show(folder)
    result = podforge(folder, "build")
    assert result.exit_code == 0, result.output
    return folder, folder / "build" / "test-event"


def test_outputs_and_report_contract(built):
    _, out = built
    report = json.loads((out / "report.json").read_text())
    assert {"audio", "duration_seconds", "integrated_lufs", "true_peak_dbtp", "chapters",
            "segments", "files"} <= set(report)
    assert report["audio"] == "test-event.mp3" and (out / report["audio"]).is_file()
    assert report["files"] == {"chapters_file": "chapters.json",
                               "transcript_vtt": "transcript.vtt",
                               "transcript_srt": "transcript.srt"}
    assert [s["kind"] for s in report["segments"]] == ["cold_open", "intro", "act", "act",
                                                       "teaser", "credits"]
    assert {s["voice"] for s in report["segments"]} == {"draft"}
    assert report["segments"][2]["title"] == "Start"
    assert [c["title"] for c in report["chapters"]][2] == "Act 1: Start"


def test_loudness_and_true_peak_meet_the_standard(built):
    _, out = built
    report = json.loads((out / "report.json").read_text())
    assert abs(report["integrated_lufs"] - -16.0) <= 0.5
    assert report["true_peak_dbtp"] <= -1.0


def test_ffmpeg_ebur128_agrees_with_the_report(built):
    _, out = built
    report = json.loads((out / "report.json").read_text())
    log = subprocess.run([find_ffmpeg(), "-hide_banner", "-nostats", "-i",
                          str(out / report["audio"]), "-af", "ebur128", "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    measured = float(re.findall(r"I:\s+(-?\d+\.\d) LUFS", log)[-1])
    assert abs(measured - report["integrated_lufs"]) <= 0.5


def test_mp3_format_tags_and_chapters_match_chapters_json(built):
    _, out = built
    report = json.loads((out / "report.json").read_text())
    mp3 = out / report["audio"]
    from mutagen.mp3 import MP3, BitrateMode
    info = MP3(mp3).info
    assert (info.bitrate, info.sample_rate, info.channels) == (128000, 44100, 2)
    assert info.bitrate_mode in (BitrateMode.CBR, BitrateMode.UNKNOWN)
    assert abs(info.length - report["duration_seconds"]) < 0.1
    tags = ID3(mp3)
    assert tags.version[:2] == (2, 4)
    assert str(tags["TIT2"]) == "The Test Event" and str(tags["TALB"]) == "Test Show"
    assert str(tags["TCON"]) == "Podcast" and str(tags["TDRC"]) == "2026-01-15"
    assert str(tags["TPE1"]) == "Ann Host" and tags.getall("COMM")
    (cover,) = tags.getall("APIC")  # the show has no artwork: podforge draws one
    assert cover.mime == "image/png" and cover.data.startswith(b"\x89PNG")
    chapters = json.loads((out / "chapters.json").read_text())
    assert chapters["version"] == "1.2.0"
    from_id3 = [(title, start) for title, start, _ in read_chapters(mp3)]
    assert from_id3 == [(c["title"], round(c["startTime"] * 1000)) for c in chapters["chapters"]]


def test_transcripts_are_timed_within_the_episode(built):
    _, out = built
    report = json.loads((out / "report.json").read_text())
    vtt = (out / "transcript.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "<v Ann Host>A scene opens." in vtt
    stamps = re.findall(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> ", vtt)
    starts = [int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000 for h, m, s, ms in stamps]
    assert starts == sorted(starts) and starts[-1] < report["duration_seconds"]
    srt = (out / "transcript.srt").read_text()
    assert srt.startswith("1\n00:00:") and "Audio editing by Bo Editor." in srt


def test_a_second_build_does_no_audio_work(built, monkeypatch):
    folder, out = built
    before = (out / "test-event.mp3").stat().st_mtime_ns

    def forbidden(*args, **kwargs):
        raise AssertionError("audio work on an unchanged episode")
    monkeypatch.setattr(build_module, "render_span", forbidden)
    monkeypatch.setattr(build_module, "master", forbidden)
    monkeypatch.setattr(build_module.narration_stage, "narrate", forbidden)
    result = podforge(folder, "build")
    assert result.exit_code == 0 and "up to date" in result.output
    assert (out / "test-event.mp3").stat().st_mtime_ns == before


def test_editing_one_act_re_renders_only_that_act(tmp_path: Path, monkeypatch):
    episode = make_show(tmp_path)
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0
    rendered = []
    original = build_module.render_span
    monkeypatch.setattr(build_module, "render_span",
                        lambda span, *a, **k: rendered.append(span.slug) or original(span, *a, **k))
    script = episode / "script.txt"
    script.write_text(SCRIPT.replace("The story ends.", "The story ends, later."))
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0
    assert rendered == ["act-2"]
    started = time.time_ns()
    assert podforge(tmp_path, "build", "--quiet", "--force").exit_code == 0
    spans = (tmp_path / ".podforge-cache").glob("span-*.f32")
    assert len([p for p in spans if p.stat().st_mtime_ns >= started]) == 6  # all of them again


def write_wav(path: Path, rate: int, channels: int, seconds: float, level: float = 0.3,
              subtype: str = "PCM_16") -> None:
    t = np.arange(int(rate * seconds)) / rate
    tone = level * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 1.5 * t) > -0.3)
    sf.write(path, np.repeat(tone[:, None], channels, axis=1), rate, subtype=subtype)


def test_takes_at_any_rate_are_used_and_low_rates_warn(tmp_path: Path):
    episode = make_show(tmp_path)
    (episode / "takes").mkdir()
    write_wav(episode / "takes" / "intro.wav", 8000, 1, 4.0)
    write_wav(episode / "takes" / "teaser.wav", 96000, 2, 3.0, subtype="PCM_24")
    result = podforge(tmp_path, "build")
    assert result.exit_code == 0, result.output
    assert "8000 Hz is below 22050 Hz" in result.output
    report = json.loads((tmp_path / "build" / "test-event" / "report.json").read_text())
    voices = {s["kind"]: s["voice"] for s in report["segments"]}
    assert voices["intro"] == voices["teaser"] == "take" and voices["cold_open"] == "draft"


@pytest.mark.parametrize("content, message", [
    ("silent", "is silent"), ("corrupt", "not audio"), ("truncated", "truncated")])
def test_unusable_takes_exit_2_naming_the_file(tmp_path: Path, content: str, message: str):
    episode = make_show(tmp_path)
    take = episode / "takes" / "act-1.wav"
    take.parent.mkdir()
    if content == "silent":
        write_wav(take, 44100, 1, 2.0, level=0.0)
    elif content == "corrupt":
        take.write_bytes(b"RIFF\x00\x00\x00\x00not really a wave file" * 10)
    else:
        write_wav(take, 44100, 1, 2.0)
        take.write_bytes(take.read_bytes()[:40000])
    result = podforge(tmp_path, "build")
    assert result.exit_code == 2, result.output
    assert str(take) in result.output and message in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.glob("build/**/*.mp3"))


def test_takes_only_names_the_missing_take(tmp_path: Path):
    episode = make_show(tmp_path)
    result = podforge(tmp_path, "build", "--takes-only")
    assert result.exit_code == 2
    assert str(episode / "takes" / "cold-open.wav") in result.output


@pytest.mark.parametrize("script, message", [
    (SCRIPT.replace("[SFX: bell]", "[SFX: gong]"), "no known asset 'gong'"),
    (SCRIPT + "\n[SFX: bell]\n", "inside the credits"),
])
def test_bad_cues_exit_2_naming_the_line(tmp_path: Path, script: str, message: str):
    make_show(tmp_path, script)
    result = podforge(tmp_path, "build")
    assert result.exit_code == 2 and message in result.output
    assert re.search(r"script.txt:\d+:\d+: Q00\d error: \[SFX", result.output)


def test_no_ffmpeg_exits_2(tmp_path: Path, monkeypatch):
    make_show(tmp_path)
    monkeypatch.setenv("PODFORGE_FFMPEG", str(tmp_path / "no-such-ffmpeg"))
    result = podforge(tmp_path, "build")
    assert result.exit_code == 2 and "no-such-ffmpeg" in result.output


def test_plan_prints_the_timeline_without_audio(tmp_path: Path, monkeypatch):
    make_show(tmp_path)
    monkeypatch.setattr(build_module.narration_stage, "narrate",
                        lambda *a, **k: pytest.fail("--plan touched audio"))
    result = podforge(tmp_path, "build", "--plan")
    assert result.exit_code == 0
    assert "asset:stinger" in result.output and "ducked" in result.output
    assert not (tmp_path / "build").exists()


def test_progress_is_plain_lines_off_a_terminal_and_silent_when_quiet(tmp_path: Path):
    make_show(tmp_path)
    loud = podforge(tmp_path, "build")
    assert "test-event: narrate and mix" in loud.output and "\r" not in loud.output
    quiet = podforge(tmp_path, "build", "--force", "--quiet")
    assert quiet.exit_code == 0 and quiet.output == ""


def test_the_terminal_gets_a_bar():
    import io
    from pipeline.progress import Progress
    stream = io.StringIO()
    progress = Progress(stream, tty=True)
    progress.stage("ep", "mix")
    progress.update(0.5)
    progress.close()
    assert "[###############---------------]  50%" in stream.getvalue()


def test_a_mono_show_at_minus_19_lufs(tmp_path: Path):
    make_show(tmp_path)
    show = tmp_path / "show.yaml"
    show.write_text(show.read_text() + "  loudness: {integrated_lufs: -19, true_peak_dbtp: -2}\n"
                    "  output: {bitrate_kbps: 64, sample_rate: 44100, channels: 1}\n")
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0
    report = json.loads((tmp_path / "build" / "test-event" / "report.json").read_text())
    assert abs(report["integrated_lufs"] - -19.0) <= 0.5 and report["true_peak_dbtp"] <= -2.0
    from mutagen.mp3 import MP3
    info = MP3(tmp_path / "build" / "test-event" / "test-event.mp3").info
    assert (info.channels, info.bitrate) == (1, 64000)


def test_cache_entries_no_build_uses_are_pruned(tmp_path: Path):
    episode = make_show(tmp_path)
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0
    cache = tmp_path / ".podforge-cache"
    (episode / "script.txt").write_text(SCRIPT.replace("The story ends.", "It ends."))
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0
    stale = set(cache.glob("span-*.f32"))
    assert len(stale) == 7  # the old act 2 is still there: younger than the grace period
    report = json.loads((tmp_path / "build" / "test-event" / "report.json").read_text())
    # The old act 2: its span (.f32, .steps.npy) and its narration (.f32, .npy, .json).
    assert build_module.prune_cache(tmp_path, grace=0) == 5
    assert len(list(cache.glob("span-*.f32"))) == 6
    assert {p.name.split(".")[0] for p in cache.glob("*-*")} == set(report["cache"])


def test_what_does_not_change_the_audio_does_not_re_render_it(tmp_path: Path, monkeypatch):
    """A shifted line or a new host name: no narration or mix again; the host does reach the
    transcript."""
    episode = make_show(tmp_path)
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0
    monkeypatch.setattr(build_module, "_in_parallel",
                        lambda fn, jobs, tick, **_: jobs and pytest.fail(
                            f"re-rendered {len(jobs)}"))
    (episode / "script.txt").write_text("\n\n" + SCRIPT)  # every cue moves down two lines
    show = tmp_path / "show.yaml"
    show.write_text(show.read_text().replace("host: Ann Host", "host: Ann B. Host"))
    result = podforge(tmp_path, "build", "--quiet", "--no-validate")  # the intro names Ann
    assert result.exit_code == 0, result.output
    vtt = (tmp_path / "build" / "test-event" / "transcript.vtt").read_text()
    assert "<v Ann B. Host>" in vtt


def test_a_damaged_cache_entry_is_made_again(tmp_path: Path):
    make_show(tmp_path)
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0
    for steps in (tmp_path / ".podforge-cache").glob("span-*.steps.npy"):
        steps.write_bytes(steps.read_bytes()[:20])
    (tmp_path / "build" / "test-event" / "report.json").unlink()
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0


def test_a_script_without_a_date_builds_without_a_date_tag(tmp_path: Path):
    make_show(tmp_path, SCRIPT.replace("Jan. 15, 2026\n\n", ""))
    assert podforge(tmp_path, "build", "--quiet").exit_code == 2  # H001 stops it …
    result = podforge(tmp_path, "build", "--quiet", "--no-validate")  # … unless asked
    assert result.exit_code == 0, result.output
    assert "TDRC" not in ID3(tmp_path / "build" / "test-event" / "test-event.mp3")
