"""The plan: a Timeline as pure data, from a script, the sound design and narration lengths."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import PodforgeError
from pipeline.manifest import Asset
from pipeline.model import Narration
from pipeline.script.parse import parse
from pipeline.build.plan import check_sound, describe, estimate, place, plan, scenes
from pipeline.show import Music, SoundDesign
from pipeline.build.transcript import chapters_json, split_long, srt, vtt
from pipeline.model import Chapter, TimedLine as Line

from conftest import MINIMAL


def asset(name, role, seconds, loop=False):
    return Asset(name, Path(f"{name}.ogg"), role, seconds, -20.0, loop)


ASSETS = {a.name: a for a in [asset("theme", "theme", 20), asset("bed", "bed", 30, True),
                              asset("sting", "stinger", 3), asset("outro", "outro", 25, True),
                              asset("bell", "sfx", 2)]}
SOUND = SoundDesign(theme=Music("theme", gain_db=-2, lead=5, tail=2, fade_out=3),
                    cold_open_bed=Music("bed", gain_db=-6, fade_in=1),
                    act_beds=(Music("bed", gain_db=-8),), stinger=Music("sting", duck=False),
                    outro=Music("outro", lead=2, tail=4, fade_out=5), gap_seconds=0.8)
SCRIPT = parse(MINIMAL.replace("The story starts.", "The story starts.\n\n[SFX: bell]\n\nOn."))


def narrations(seconds=10.0):
    return {s.slug: Narration(s.slug, seconds, tuple((c, 4.0) for c in s.cues))
            for s in SCRIPT.segments}


def test_spans_follow_each_other_on_the_mp3_frame_grid():
    timeline = plan(SCRIPT, SOUND, ASSETS, narrations(10.03))
    assert [s.slug for s in timeline.spans] == ["cold-open", "intro", "act-1", "act-2",
                                                "teaser", "credits"]
    rate = SOUND.output.sample_rate
    frames = 0
    for span in timeline.spans:
        assert span.start * rate == pytest.approx(frames, abs=1e-6)  # exact sample starts
        samples = span.duration * rate
        assert samples == pytest.approx(round(samples), abs=1e-6) and round(samples) % 1152 == 0
        frames += round(samples)
    assert timeline.duration * rate == pytest.approx(frames, abs=1e-6)


def test_frame_padding_is_under_one_frame():
    short = plan(SCRIPT, SOUND, ASSETS, narrations(10.0)).spans
    for extra in (0.001, 0.013, 0.0261):
        longer = plan(SCRIPT, SOUND, ASSETS, narrations(10.0 + extra)).spans
        for a, b in zip(short, longer):
            assert 0 <= b.duration - a.duration <= 1152 / SOUND.output.sample_rate + 1e-9


def test_the_theme_plays_alone_first_then_under_the_voice():
    intro = plan(SCRIPT, SOUND, ASSETS, narrations()).spans[1]
    theme = next(c for c in intro.clips if c.role == "theme")
    voice = next(c for c in intro.clips if c.role == "voice")
    assert (theme.start, voice.start, intro.voice_start) == (0.0, 5.0, 5.0)
    assert theme.ducked and theme.gain_db == -2 and theme.fade_out == 3
    assert theme.duration == 17.0  # lead 5 + voice 10 + tail 2, shorter than the theme
    assert intro.duration == pytest.approx(17.8, abs=0.0262)  # plus the gap, on the frame grid


def test_each_act_opens_with_a_stinger_over_its_bed():
    act = plan(SCRIPT, SOUND, ASSETS, narrations()).spans[2]
    roles = [(c.role, c.start, c.ducked) for c in act.clips]
    assert roles[0] == ("stinger", 0.0, False)
    bed = next(c for c in act.clips if c.role == "bed")
    assert bed.loop and bed.ducked and bed.gain_db == -8
    assert next(c for c in act.clips if c.role == "voice").start == act.voice_start > 0


def test_an_act_is_cut_into_scenes_at_each_effect_between_its_paragraphs():
    act = SCRIPT.acts[0]  # The story starts. [SFX: bell] On.
    one, two = scenes(act)
    assert [p.text for p in one.paragraphs] == ["The story starts."] and one.cues == ()
    assert [p.text for p in two.paragraphs] == ["On."] and [c.name for c in two.cues] == ["bell"]
    assert (one.part, two.part, one.parts, two.slug, two.label) == (0, 1, 2, "act-1", act.label)
    assert one.start_line == act.start_line and two.end_line == act.end_line
    assert one.end_line < two.start_line == two.cues[0].line and two.heading_line is None
    assert scenes(two) == (two,) and scenes(SCRIPT.acts[1]) == (SCRIPT.acts[1],)
    assert scenes(SCRIPT.segments[0]) == (SCRIPT.segments[0],)  # only acts
    for edge in ("[SFX: bell]\n\nThe story starts.", "The story starts.\n\n[SFX: bell]"):
        first = parse(MINIMAL.replace("The story starts.", edge)).acts[0]
        assert scenes(first) == (first,)  # an effect that opens or closes the act cuts nothing


def test_a_scene_sounds_as_it_does_inside_its_whole_act():
    """A take's act is one span holding its scenes; the draft's scenes are spans of their own:
    both run the act's bed from the top at the effect, and place the same clips there."""
    act = SCRIPT.acts[0]
    bell = act.cues[0]
    whole = place(act, Narration(act.slug, 10.0, ((bell, 4.0),)), SOUND, ASSETS, last=False)
    one, two = scenes(act)
    first = place(one, Narration(act.slug, 4.0, ()), SOUND, ASSETS, last=False)
    second = place(two, Narration(act.slug, 6.0, ((bell, 0.0),)), SOUND, ASSETS, last=False)
    at = whole.voice_start + 4.0  # the effect, in the whole act
    beds = [c for c in whole.clips if c.role == "bed"]
    assert [(c.start, c.duration) for c in beds] == [(1.0, at - 1.0), (at, 6.0)]
    assert [c.role for c in first.clips] == ["stinger", "bed", "voice"]
    assert first.duration == pytest.approx(at, abs=0.0262)  # no gap inside the act
    assert (second.voice_start, second.part) == (0.0, 1)
    assert second.duration == pytest.approx(6.8, abs=0.0262)  # the gap after the act
    later = sorted((c.role, round(c.start - at, 6), c.duration, c.loop, c.fade_in, c.fade_out)
                   for c in whole.clips if c.start >= at)
    assert later == sorted((c.role, c.start, c.duration, c.loop, c.fade_in, c.fade_out)
                           for c in second.clips if c.role != "voice")


def test_a_cue_lands_at_its_time_in_the_narration():
    act = plan(SCRIPT, SOUND, ASSETS, narrations()).spans[2]
    bell = next(c for c in act.clips if c.role == "sfx")
    assert (bell.source, bell.start, bell.duration) == ("bell", act.voice_start + 4.0, 2)


def test_the_outro_runs_under_the_credits_and_fades():
    credits = plan(SCRIPT, SOUND, ASSETS, narrations()).spans[-1]
    outro = next(c for c in credits.clips if c.role == "outro")
    assert (outro.start, outro.duration, outro.fade_out, outro.loop) == (0.0, 16.0, 5, True)
    assert credits.duration == pytest.approx(16.0, abs=0.0262)  # no gap after the last span


def test_estimates_come_from_the_word_count():
    act = SCRIPT.segments_of("act")[0]
    n = estimate(act, 150)
    # "The story starts." 3 words at 150 a minute, 1.2 s, and a paragraph gap of 0.35 s; the bell
    # there, with 1 s left for it; "On." 0.4 s and its gap.
    assert n.estimated and n.seconds == pytest.approx(1.2 + 0.35 + 1.0 + 0.4 + 0.35)
    assert [(c.name, at) for c, at in n.cue_times] == [("bell", pytest.approx(1.55))]


def test_describe_lists_every_clip():
    text = describe(plan(SCRIPT, SOUND, ASSETS, narrations()))
    assert " sting " in text and "ducked" in text and text.count("narration") == 6


def test_unknown_assets_in_show_yaml_stop_the_build():
    with pytest.raises(PodforgeError, match="sound.outro.asset: no asset 'nope'"):
        check_sound(SoundDesign(outro=Music("nope")), ASSETS, "show.yaml")


def test_transcripts_and_chapters():
    lines = [Line(0.0, 2.5, "First line.", "Ann Host"), Line(2.5, 3.0, "A < b & c.")]
    assert vtt(lines).splitlines()[:4] == ["WEBVTT", "", "00:00:00.000 --> 00:00:02.500",
                                           "<v Ann Host>First line."]
    assert "A &lt; b &amp; c." in vtt(lines)
    assert srt(lines).splitlines()[:3] == ["1", "00:00:00,000 --> 00:00:02,500", "First line."]
    long = split_long([Line(0, 20, " ".join(["word"] * 60))])
    # 20 s is three captions of at most 7 s; 60 equal words split 20, 20, 20, a third of the time
    assert [(x.start, x.end, x.text) for x in long] == [
        (0.0, 6.667, " ".join(["word"] * 20)), (6.667, 13.333, " ".join(["word"] * 20)),
        (13.333, 20.0, " ".join(["word"] * 20))]
    import json
    data = json.loads(chapters_json([Chapter("Cold Open", 0, 61.234),
                                     Chapter("Act 1: X", 61.234, 70)], "T"))
    assert data == {"version": "1.2.0", "title": "T", "chapters": [
        {"startTime": 0.0, "endTime": 61.234, "title": "Cold Open"},
        {"startTime": 61.234, "endTime": 70.0, "title": "Act 1: X"}]}


def test_a_cue_line_sets_its_own_gain_fade_and_length():
    script = parse(MINIMAL.replace("The story starts.", "The story starts.\n\n"
                                   "[SFX: bell -6dB fade 0.2s]\n\nOn.\n\n[BED: bed -12dB fade 1s 3s]"
                                   "\n\nStill on."))
    cues = script.acts[0].cues
    assert [(c.name, c.gain_db, c.fade, c.length, c.problem) for c in cues] == [
        ("bell", -6.0, 0.2, None, None), ("bed", -12.0, 1.0, 3.0, None)]
    narr = {s.slug: Narration(s.slug, 10.0, tuple((c, 4.0 + i) for i, c in enumerate(s.cues)))
            for s in script.segments}
    act = plan(script, SOUND, ASSETS, narr).spans[2]
    bell, = [c for c in act.clips if c.role == "sfx"]
    assert (bell.gain_db, bell.fade_in, bell.fade_out, bell.duration) == (-6.0, 0.2, 0.2, 2)
    cued, = [c for c in act.clips if c.role == "bed" and c.asset == "bed" and c.gain_db == -12]
    assert (cued.fade_in, cued.fade_out, cued.duration) == (1.0, 1.0, 3.0)


def test_a_bed_started_by_a_cue_plays_at_the_bed_level():
    script = parse(MINIMAL.replace("The story starts.", "The story starts.\n\n[BED: bed]\n\nOn."))
    narr = {s.slug: Narration(s.slug, 10.0, tuple((c, 4.0) for c in s.cues))
            for s in script.segments}
    act = plan(script, SOUND, ASSETS, narr).spans[2]
    cued = [c for c in act.clips if c.role == "bed" and c.start > act.voice_start]
    assert [c.gain_db for c in cued] == [-8.0]  # the show's act bed, not 0 dB


@pytest.mark.parametrize("cue,problem", [("[SFX: bell -90dB]", "outside -60 … 20 dB"),
                                         ("[BED: bed fade 2s fade 3s]", "sets its fade twice"),
                                         ("[SFX: bell 0s]", "outside 0 … 3600 s")])
def test_a_cue_setting_out_of_range_is_a_malformed_cue(cue, problem):
    from pipeline.script.validate import validate

    script = parse(MINIMAL.replace("The story starts.", f"The story starts.\n\n{cue}\n\nOn."))
    [found] = [d for d in validate(script, "s.txt") if d.code == "Q002"]
    assert problem in found.message
