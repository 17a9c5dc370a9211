"""`podforge build` end to end on a small show: real voice, real music, real MP3, read back."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mutagen.id3 import ID3

from conftest import podforge as run, read_chapters
from conftest import ffmpeg_ebur128
from pipeline.build import episode as build_module
from pipeline.build.cache import entries, prune_cache
from pipeline.report import BuildReport
from pipeline.audio.encode import find_ffmpeg

pytestmark = pytest.mark.slow  # every test here builds real audio end to end

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
    return run(*args, cwd=folder)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("show")
    make_show(folder)
    result = podforge(folder, "build")
    assert result.exit_code == 0, result.output
    return folder, folder / "build" / "test-event"


def test_outputs_and_report_contract(built):
    _, out = built
    report = BuildReport.from_json((out / "report.json").read_text())
    assert report.schema == 4 and report.slug == "test-event"
    assert report.metadata.title == "The Test Event"
    assert [(c.name, c.roles) for c in report.credits] == [("Ann Host", ("host",)),
                                                           ("Bo Editor", ("audio editor",))]
    assert report.audio == "test-event.mp3" and (out / report.audio).is_file()
    assert report.files == ("test-event.mp3", "chapters.json", "transcript.vtt",
                            "transcript.srt")
    assert report.lines[0].text == "A scene opens."
    assert report.lines[-1].text == "Audio editing by Bo Editor."
    assert [s.kind for s in report.segments] == ["cold_open", "intro", "act", "act",
                                                       "teaser", "credits"]
    assert {s.voice for s in report.segments} == {"draft"}
    assert report.segments[2].title == "Start"
    assert [c.title for c in report.chapters] == ["Cold Open", "Intro", "Act 1: Start",
                                                  "Act 2: End", "Teaser", "Credits"]


def test_loudness_and_true_peak_meet_the_standard(built):
    _, out = built
    report = BuildReport.from_json((out / "report.json").read_text())
    assert abs(report.integrated_lufs - -16.0) <= 0.5
    assert report.true_peak_dbtp <= -1.0


def _ebur128(mp3: Path) -> str:
    """ffmpeg's own BS.1770 meter over the decoded MP3, with true peak: an independent check."""
    return subprocess.run([find_ffmpeg(), "-hide_banner", "-nostats", "-i", str(mp3), "-af",
                           "ebur128=peak=true", "-f", "null", "-"],
                          capture_output=True, text=True, check=True).stderr


def test_ffmpeg_ebur128_agrees_with_the_report(built):
    _, out = built
    report = BuildReport.from_json((out / "report.json").read_text())
    theirs = ffmpeg_ebur128(out / report.audio)
    assert abs(theirs.integrated_lufs - -16.0) <= 0.5 and theirs.true_peak_dbtp <= -1.0
    assert abs(theirs.integrated_lufs - report.integrated_lufs) <= 0.2
    assert abs(theirs.true_peak_dbtp - report.true_peak_dbtp) <= 0.2
    assert report.lra_lu is not None and report.lra_lu >= 0


def test_each_segment_is_measured_and_printed(built):
    _, out = built
    report = BuildReport.from_json((out / "report.json").read_text())
    assert all(s.integrated_lufs is not None for s in report.segments)
    # the draft voice is levelled and every span mastered alone: segments sit near the target
    assert max(abs(s.integrated_lufs - -16.0) for s in report.segments) < 3.0
    assert max(s.true_peak_dbtp for s in report.segments) <= -1.0
    line = build_module.segment_line(report)
    assert line.startswith("test-event: LUFS by segment: cold open ")
    assert f"act 2 {report.segments[3].integrated_lufs:.1f}" in line


def test_ffmpeg_ebur128_true_peak_of_the_mp3_meets_the_ceiling(built):
    _, out = built
    report = BuildReport.from_json((out / "report.json").read_text())
    (peak,) = re.findall(r"Peak:\s+(-?\d+\.\d) dBFS", _ebur128(out / report.audio))[-1:]
    assert float(peak) <= -1.0 + 0.1  # show.yaml's loudness.true_peak_dbtp, plus rounding


def test_mp3_format_tags_and_chapters_match_chapters_json(built):
    _, out = built
    report = BuildReport.from_json((out / "report.json").read_text())
    mp3 = out / report.audio
    from mutagen.mp3 import MP3, BitrateMode
    info = MP3(mp3).info
    assert (info.sample_rate, info.channels) == (44100, 2)
    assert abs(info.bitrate - 128000) < 1000  # from the Info header's bytes and duration
    assert info.bitrate_mode in (BitrateMode.CBR, BitrateMode.UNKNOWN)
    # the Info header's frame count and LAME padding: the duration to the sample
    samples = info.length * 44100
    assert samples == pytest.approx(round(samples), abs=1e-6) and round(samples) % 1152 == 0
    assert info.length == pytest.approx(report.duration, abs=0.5 / 1000)
    tags = ID3(mp3)
    assert tags.version[:2] == (2, 4)
    assert str(tags["TIT2"]) == "The Test Event" and str(tags["TALB"]) == "Test Show"
    assert str(tags["TCON"]) == "Podcast" and str(tags["TDRC"]) == "2026-01-15"
    assert str(tags["TPE1"]) == "Ann Host"
    assert [str(c) for c in tags.getall("COMM")] == [
        "January 15, 1919. Something happened in a test."]  # the summary
    (cover,) = tags.getall("APIC")  # the show has no artwork: podforge draws one
    assert cover.mime == "image/png" and cover.data.startswith(b"\x89PNG")
    chapters = json.loads((out / "chapters.json").read_text())
    assert chapters["version"] == "1.2.0"
    from_id3 = [(c.title, c.start_ms, c.end_ms) for c in read_chapters(mp3)]
    assert from_id3 == [(c["title"], round(c["startTime"] * 1000), round(c["endTime"] * 1000))
                        for c in chapters["chapters"]]
    assert tuple(read_chapters(mp3)) == report.chapters


def test_transcripts_are_timed_within_the_episode(built):
    _, out = built
    report = BuildReport.from_json((out / "report.json").read_text())
    vtt = (out / "transcript.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "<v Ann Host>A scene opens." in vtt
    stamps = re.findall(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> ", vtt)
    starts = [int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000 for h, m, s, ms in stamps]
    assert starts == sorted(starts) and starts[-1] < report.duration
    srt = (out / "transcript.srt").read_text()
    assert srt.startswith("1\n00:00:") and "Audio editing by Bo Editor." in srt


AUDIO_STACK = ("numpy", "soundfile", "soxr", "scipy", "pyloudnorm", "mutagen", "pydub")


def test_a_second_build_loads_no_audio_stack_and_touches_nothing(built):
    folder, out = built
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    cache = {p.name: p.stat().st_mtime_ns for p in (folder / ".podforge-cache").iterdir()}
    probe = ("import sys\nfrom pipeline.cli import main\n"
             "try:\n    main(['build'])\nexcept SystemExit as e:\n    code = e.code\n"
             f"print('loaded:', sorted({{m.split('.')[0] for m in sys.modules}} & {set(AUDIO_STACK)!r}))"
             "\nprint('exit:', code)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's pipeline, from any folder
    done = subprocess.run([sys.executable, "-c", probe], cwd=folder, capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.stdout.splitlines()[-2:] == ["loaded: []", "exit: 0"], done.stdout + done.stderr
    assert "test-event: up to date" in done.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert {p.name: p.stat().st_mtime_ns for p in (folder / ".podforge-cache").iterdir()} == cache


def test_a_build_after_a_forced_build_is_up_to_date(tmp_path: Path):
    make_show(tmp_path)
    assert podforge(tmp_path, "build", "--force", "--quiet").exit_code == 0
    result = podforge(tmp_path, "build")
    assert result.exit_code == 0 and result.output.strip() == "test-event: up to date"


def test_editing_one_act_re_encodes_only_that_acts_pieces(tmp_path: Path):
    """Observed in the cache (the workers are forked): one span mastered again, and only the
    pieces whose samples changed encoded again: the edit is act 2's last sentence, so its first
    piece (and act 1's last, whose context frames are act 2's first) read what they read before
    (the span's gains are held on a grid: pipeline.audio.loudness.on_grid)."""
    episode = make_show(tmp_path)
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0
    cache = tmp_path / ".podforge-cache"
    masters = {p.name for p in cache.glob("master-*.json")}
    pieces = {p.name: p.stat().st_ino for p in (cache / "pieces").glob("*.mp3frames")}
    script = episode / "script.txt"
    script.write_text(SCRIPT.replace("The story ends.", "The story ends, later."))
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0
    assert len({p.name for p in cache.glob("master-*.json")} - masters) == 1
    now = {p.name: p.stat().st_ino for p in (cache / "pieces").glob("*.mp3frames")}
    new = set(now) - set(pieces)
    # act 2 (under a minute): its middle and last piece, and the teaser's first, whose context
    # frames are act 2's last
    assert len(new) == 3 and len(now) > 5 * len(new)
    assert all(now[name] == pieces[name] for name in set(now) & set(pieces))  # not written again (touched only)
    mp3 = tmp_path / "build" / "test-event" / "test-event.mp3"
    theirs = ffmpeg_ebur128(mp3)
    assert abs(theirs.integrated_lufs - -16.0) <= 0.5 and theirs.true_peak_dbtp <= -1.0
    edited = mp3.read_bytes()
    started = time.time_ns()
    assert podforge(tmp_path, "build", "--quiet", "--force").exit_code == 0
    again = [p for p in cache.glob("master-*.json") if p.stat().st_mtime_ns >= started]
    assert len(again) == 7  # all of them again: six segments, act 1 in two scenes
    assert mp3.read_bytes() == edited  # the pieces kept are the ones a whole build makes


def test_editing_a_draft_scene_re_encodes_that_scene_not_its_act(tmp_path: Path):
    """Act 1 in two scenes (cut at its bell), the second of about 80 s: an edit to the act's
    first sentence masters its first scene again and encodes its pieces, and the edge pieces
    beside them; the second scene, later by whole frames, keeps the rest (made whole, the
    act would be encoded again from the edit on: 80 s)."""
    long = " ".join(["The harbour is quiet tonight and the lamps along the pier burn low."] * 18)
    script = SCRIPT.replace("And goes on.", long)
    episode = make_show(tmp_path, script)
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0
    cache = tmp_path / ".podforge-cache"
    masters = {p.name for p in cache.glob("master-*.json")}
    pieces = {p.name for p in (cache / "pieces").glob("*.mp3frames")}
    (episode / "script.txt").write_text(script.replace("The story starts.",
                                                       "The story starts, a little later."))
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0
    assert len({p.name for p in cache.glob("master-*.json")} - masters) == 1
    new = {p for p in (cache / "pieces").glob("*.mp3frames")} - {cache / "pieces" / n
                                                                  for n in pieces}
    assert sum(p.stat().st_size for p in new) < 10 * 128_000 / 8  # under 10 s of CBR frames
    report = json.loads((tmp_path / "build" / "test-event" / "report.json").read_text())
    act = [s for s in report["segments"] if s["kind"] == "act"][0]
    assert act["end"] - act["start"] > 80 and act["integrated_lufs"] is not None
    chapters = read_chapters(tmp_path / "build" / "test-event" / "test-event.mp3")
    assert len(chapters) == 6  # a chapter an act, not a scene
    edited = (tmp_path / "build" / "test-event" / "test-event.mp3").read_bytes()
    assert podforge(tmp_path, "build", "--quiet", "--force").exit_code == 0
    assert (tmp_path / "build" / "test-event" / "test-event.mp3").read_bytes() == edited


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
    report = BuildReport.from_json((tmp_path / "build" / "test-event" / "report.json").read_text())
    voices = {s.kind: s.voice for s in report.segments}
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
    assert " stinger " in result.output and "ducked" in result.output
    assert not (tmp_path / "build").exists()


def test_progress_is_plain_lines_off_a_terminal_and_silent_when_quiet(tmp_path: Path):
    make_show(tmp_path)
    loud = podforge(tmp_path, "build")
    assert "test-event: narrate" in loud.output and "test-event: mix, master" in loud.output and "\r" not in loud.output
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


@pytest.fixture(scope="module")
def mono(tmp_path_factory):
    """A mono 64 kbps show at -19 LUFS with a -2 dBTP ceiling, built once: (report, MP3)."""
    folder = tmp_path_factory.mktemp("mono")
    make_show(folder)
    show = folder / "show.yaml"
    show.write_text(show.read_text() + "  loudness: {integrated_lufs: -19, true_peak_dbtp: -2}\n"
                    "  output: {bitrate_kbps: 64, sample_rate: 44100, channels: 1}\n")
    assert podforge(folder, "build", "--quiet").exit_code == 0
    out = folder / "build" / "test-event"
    return BuildReport.from_json((out / "report.json").read_text()), out / "test-event.mp3"


def test_a_mono_show_at_minus_19_lufs(mono):
    report, mp3 = mono
    assert abs(report.integrated_lufs - -19.0) <= 0.5 and report.true_peak_dbtp <= -2.0
    measured = float(re.findall(r"I:\s+(-?\d+\.\d) LUFS", _ebur128(mp3))[-1])
    assert abs(measured - report.integrated_lufs) <= 0.5
    from mutagen.mp3 import MP3
    info = MP3(mp3).info
    # 64 kb/s frames; mutagen averages the Xing header's bytes over its frames, and each piece
    # starts LAME's padding slots afresh (a frame of 208 or 209 bytes): within a byte a piece
    assert info.channels == 1 and abs(info.bitrate - 64000) <= 16


def test_a_mono_show_mp3_true_peak_meets_its_ceiling(mono):
    _, mp3 = mono
    (peak,) = re.findall(r"Peak:\s+(-?\d+\.\d) dBFS", _ebur128(mp3))[-1:]
    assert float(peak) <= -2.0 + 0.1


def test_cache_entries_no_build_uses_are_pruned_and_clean_says_what(tmp_path: Path):
    episode = make_show(tmp_path)
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0
    cache = tmp_path / ".podforge-cache"
    (episode / "script.txt").write_text(SCRIPT.replace("The story ends.", "It ends."))
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0
    report = BuildReport.from_json((tmp_path / "build" / "test-event" / "report.json").read_text())
    names = {e.name for e in entries(cache)}
    stale = names - set(report.cache)
    # the old act 2: its narration, its mastered span, its pieces and its neighbours' edges;
    # still there, younger than the grace period
    assert {n.split("-")[0].split("/")[0] for n in stale} == {"narration", "master", "pieces"}
    dry = podforge(tmp_path, "clean", "--dry-run")
    assert dry.exit_code == 0 and "would remove 0 entries" in dry.output  # all under a minute
    assert prune_cache(tmp_path, grace=0) == len(stale)
    assert {e.name for e in entries(cache)} == set(report.cache)
    listed = podforge(tmp_path, "clean", "--all", "--dry-run")
    assert f"would remove {len(report.cache)} entries" in listed.output
    assert all(name in listed.output for name in report.cache)
    assert podforge(tmp_path, "clean", "--all").exit_code == 0
    assert entries(cache) == []


def test_the_cache_stays_small_beside_the_mp3(built):
    folder, out = built
    cache = sum(e.size for e in entries(folder / ".podforge-cache"))
    assert cache <= 5 * (out / "test-event.mp3").stat().st_size


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
    for edge in (tmp_path / ".podforge-cache").glob("master-*.head.npy"):
        edge.write_bytes(edge.read_bytes()[:20])
    for frames in (tmp_path / ".podforge-cache" / "pieces").glob("*.mp3frames"):
        frames.write_bytes(frames.read_bytes()[:100])
    (tmp_path / "build" / "test-event" / "report.json").unlink()
    assert podforge(tmp_path, "build", "--quiet").exit_code == 0


def test_a_script_without_a_date_builds_without_a_date_tag(tmp_path: Path):
    make_show(tmp_path, SCRIPT.replace("Jan. 15, 2026\n\n", ""))
    assert podforge(tmp_path, "build", "--quiet").exit_code == 2  # H001 stops it …
    result = podforge(tmp_path, "build", "--quiet", "--no-validate")  # … unless asked
    assert result.exit_code == 0, result.output
    assert "TDRC" not in ID3(tmp_path / "build" / "test-event" / "test-event.mp3")


def test_a_build_keeps_freed_audio_blocks_for_reuse_where_glibc_allows_it():
    """glibc would map every freed megabyte block afresh (the kernel zeroing each page): the
    build asks it to keep them (elsewhere it does nothing)."""
    import platform

    from pipeline.build.run import _keep_freed_blocks

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt's thresholds are glibc's")
    assert _keep_freed_blocks() is True


def test_a_build_runs_as_batch_work_and_gives_the_callers_policy_back():
    """Under SCHED_BATCH the kernel stops preempting the build each time its own ffmpeg or a
    worker wakes; what the build starts inherits it, and the caller's policy returns after."""
    import os
    import subprocess
    import sys

    from pipeline.build.run import batch_scheduling

    if not hasattr(os, "SCHED_BATCH"):
        pytest.skip("SCHED_BATCH is Linux's")
    before = os.sched_getscheduler(0)
    with batch_scheduling() as took:
        if not took:
            pytest.skip("this machine refuses SCHED_BATCH")
        assert os.sched_getscheduler(0) == os.SCHED_BATCH
        child = subprocess.run([sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
                               capture_output=True, text=True, check=True)
        assert int(child.stdout) == os.SCHED_BATCH
    assert os.sched_getscheduler(0) == before
