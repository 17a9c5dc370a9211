"""The published MP3 as a listener gets it: every build measured by ffmpeg's ebur128, at each
preset's target; uneven takes levelled; a bad take named."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from conftest import podforge as run
from conftest import ffmpeg_ebur128
from pipeline.report import BuildReport
from synth import RATE, speech
from test_build import make_show
from test_mastering import hot_peaks

pytestmark = pytest.mark.slow  # real builds, end to end


def built_report(folder: Path) -> BuildReport:
    return BuildReport.from_json((folder / "build" / "test-event" / "report.json").read_text())


def set_loudness(folder: Path, lufs: float, ceiling: float) -> None:
    show = folder / "show.yaml"
    show.write_text(show.read_text() + f"  loudness: {{integrated_lufs: {lufs}, "
                    f"true_peak_dbtp: {ceiling}}}\n")


@pytest.mark.parametrize("lufs, ceiling", [(-14, -1.0), (-19, -1.5), (-23, -2.0)])
def test_each_target_is_met_on_the_published_file(tmp_path: Path, lufs: float, ceiling: float):
    make_show(tmp_path)  # -16 is the shared fixture's, in test_build.py
    set_loudness(tmp_path, lufs, ceiling)
    result = run("build", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    report = built_report(tmp_path)
    theirs = ffmpeg_ebur128(tmp_path / "build" / "test-event" / report.audio)
    assert abs(theirs.integrated_lufs - lufs) <= 0.5
    assert theirs.true_peak_dbtp <= ceiling
    assert abs(report.integrated_lufs - theirs.integrated_lufs) <= 0.2
    assert abs(report.true_peak_dbtp - theirs.true_peak_dbtp) <= 0.2
    last = result.output.strip().splitlines()[-1]
    assert f"{report.integrated_lufs:.1f} LUFS" in last and "LRA" in last


def test_uneven_takes_come_out_level_and_a_hopeless_one_is_named(tmp_path: Path):
    """One take recorded 12 dB low, one with hot peaks, one 30 dB low (past the leveler's +20 dB
    reach): the voice across segments within 3 LU, and the quiet take named in a warning."""
    episode = make_show(tmp_path)
    takes = episode / "takes"
    takes.mkdir()
    sf.write(takes / "cold-open.wav", speech(8.0, 0.0, seed=1), RATE, subtype="FLOAT")
    sf.write(takes / "act-1.wav", speech(8.0, -12.0, seed=2), RATE, subtype="FLOAT")
    sf.write(takes / "act-2.wav", hot_peaks(speech(8.0, 3.0, seed=3), seed=4), RATE,
             subtype="FLOAT")
    sf.write(takes / "teaser.wav", speech(8.0, -36.0, seed=5), RATE, subtype="FLOAT")
    result = run("build", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert f"warning: {takes / 'teaser.wav'}: speech at" in result.output
    report = built_report(tmp_path)
    voiced = {s.kind + str(s.number or ""): s.integrated_lufs for s in report.segments}
    levelled = [voiced[k] for k in ("cold_open", "act1", "act2")]
    assert max(levelled) - min(levelled) <= 3.0, voiced
    theirs = ffmpeg_ebur128(tmp_path / "build" / "test-event" / report.audio)
    assert abs(theirs.integrated_lufs - -16) <= 0.5 and theirs.true_peak_dbtp <= -1.0
    line = next(l for l in result.output.splitlines() if "LUFS by segment" in l)
    assert "act 1 " in line and "teaser " in line


def test_a_new_episode_starts_from_the_trim_the_show_has_learned(tmp_path: Path):
    """What the encoder takes away belongs to the show's sound and bitrate: the show's first
    build measures it on excerpts before the master (one pass, on target); the next episode
    starts from what the first one learned, with nothing measured first."""
    make_show(tmp_path)
    first = run("build", cwd=tmp_path)
    assert first.exit_code == 0, first.output
    assert "measured on excerpts" in first.output
    assert "mastering and encoding again" not in first.output  # the pilot was right
    report = built_report(tmp_path)
    learned = report.trim_db
    assert learned > 0.1  # 128 kb/s takes a few tenths of a LU off this sound
    theirs = ffmpeg_ebur128(tmp_path / "build" / "test-event" / report.audio)
    assert abs(theirs.integrated_lufs - (-16)) <= 0.2
    other = tmp_path / "episodes" / "other-event"
    other.mkdir()
    script = (tmp_path / "episodes" / "test-event" / "script.txt").read_text()
    (other / "script.txt").write_text(
        script.replace("The Test Event", "The Other Event").replace(
            "The story starts.", "The other story starts slowly, with a long walk by the "
            "river and a letter nobody reads.").replace(
            "The story ends.", "It ends with the letter read aloud at last."))
    second = run("build", cwd=tmp_path)
    assert second.exit_code == 0, second.output
    assert "measured on excerpts" not in second.output
    assert "other-event: the MP3 measures" not in second.output
    report = BuildReport.from_json((tmp_path / "build" / "other-event" / "report.json")
                                   .read_text())
    assert report.trim_db == learned
    assert abs(report.integrated_lufs - (-16)) <= 0.2
    # At another bitrate the encoder takes another amount: measured again, once, first.
    show = tmp_path / "show.yaml"
    show.write_text(show.read_text() + "  output: {bitrate_kbps: 256}\n")
    third = run("build", cwd=tmp_path)
    assert third.exit_code == 0, third.output
    assert third.output.count("measured on excerpts") == 1, third.output
    assert "mastering and encoding again" not in third.output
    assert abs(built_report(tmp_path).integrated_lufs - (-16)) <= 0.2
