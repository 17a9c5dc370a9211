"""End to end: `podforge build` of a short show recorded in one take, with a retake."""


import pytest
import soundfile as sf

from pipeline.audio.takecheck import segment_lines
from pipeline.report import BuildReport
from pipeline.script.parse import parse
from takes import make_take, needs_voice
from test_build import SCRIPT, make_show, podforge



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
    # The report names the recording the team made, and the stretch of it each segment is.
    assert all(s.take.startswith("episodes/test-event/takes/episode.wav (") for s in report.segments)
    assert ".podforge-cache" not in result.output
    # The flub was cut before narration: no take has speech its script lacks.
    act_1 = next(s for s in report.segments if s.kind == "act" and s.number == 1)
    assert not any("T002" in f for f in act_1.findings), result.output  # (recognition elsewhere
    # on a synthetic voice may hear a word or two wrong: the claim is about the cut flub)
    # The bell (4 s) is cued in a pause of under a second: faded out as the voice comes back.
    assert "[SFX: bell] (script line" in result.output and \
        "lasts 4.0 s but the recorded pause there is" in result.output
    # The second build uses the split and the narrations it cached.
    again = podforge(tmp_path, "build")
    assert again.exit_code == 0 and "finding the segments" not in again.output


@needs_voice
@pytest.mark.slow
def test_an_effect_may_play_under_the_words_where_the_show_says_so(tmp_path):
    episode = make_show(tmp_path)
    script = parse(SCRIPT)
    act = next(s for s in script.segments if s.slug == "act-1")
    take = make_take([line.text for line in segment_lines(act)], rate=44100, seed=3,
                     gaps=(0.5, 0.7))
    (episode / "takes").mkdir()
    sf.write(episode / "takes" / "act-1.wav", take.samples, take.rate)
    result = podforge(tmp_path, "build")
    assert result.exit_code == 0, result.output
    assert "takes/act-1.wav: [SFX: bell] (script line" in result.output  # 4 s in a short pause
    show = tmp_path / "show.yaml"
    show.write_text(show.read_text().replace("sound:\n", "sound:\n  sfx_over_voice: true\n", 1))
    allowed = podforge(tmp_path, "build", "--force")  # every segment made again, and told
    assert allowed.exit_code == 0, allowed.output
    assert "recorded pause there is" not in allowed.output  # allowed: no warning, no fade
