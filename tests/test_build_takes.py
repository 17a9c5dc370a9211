"""End to end: `podforge build` of a short show recorded in one take, with a retake."""


import pytest
import soundfile as sf

from pipeline.audio import voice
from pipeline.audio.takecheck import segment_lines
from pipeline.report import BuildReport
from pipeline.script.parse import parse
from takes import make_take
from test_build import SCRIPT, make_show, podforge

needs_voice = pytest.mark.skipif(not voice.available(), reason="espeak-ng is not available")


@needs_voice
@pytest.mark.slow
def test_a_show_recorded_in_one_take_builds_from_its_segments_with_the_retake_cut(tmp_path):
    episode = make_show(tmp_path)
    script = parse(SCRIPT)
    spoken, flub_line = [], None
    for segment in script.segments:
        for line in segment_lines(segment):
            if line.text == "The story starts.":
                spoken.append("The story")  # a flub, read again
                flub_line = line.line
            spoken.append(line.text)
    take = make_take(spoken, rate=44100, seed=7, gaps=(0.6, 0.9))
    (episode / "takes").mkdir()
    sf.write(episode / "takes" / "episode.wav", take.samples, take.rate)
    result = podforge(tmp_path, "build")
    assert result.exit_code == 0, result.output
    report = BuildReport.from_json((tmp_path / "build" / "test-event" / "report.json").read_text())
    assert {s.voice for s in report.segments} == {"take"}
    cuts = [(s.kind, c.line) for s in report.segments for c in s.cuts]
    assert cuts == [("act", flub_line)]
    assert f"(retake, line {flub_line}) from the act-1 segment" in result.output
    # The flub was cut before narration: no take has speech its script lacks.
    assert not any("T002" in f for s in report.segments for f in s.findings), result.output
    # The second build uses the split and the narrations it cached.
    again = podforge(tmp_path, "build")
    assert again.exit_code == 0 and "finding the segments" not in again.output
