"""A recorded take through narrate: aligned, its cues in the host's real pauses, checked
against its script, phone formats decoded through ffmpeg."""

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf

from pipeline.audio.encode import find_ffmpeg
from pipeline.build import narrate
from pipeline.model import Cue, Paragraph, Segment
from pipeline.show import Voice
from takes import make_take, needs_voice


FIRST = ["The lighthouse keeper climbed the stairs before dawn.",
         "Every night he lit the great lamp and watched the water."]
SECOND = ["Ships passed safely by the rocks, and the sailors waved at him.",
          "In the winter the sea froze over completely."]


def segment():
    cue = Cue("sfx", "foghorn", None, 4, 1, "[SFX: foghorn]")
    return Segment("act", 1, 6, number=1, title="Dawn",
                   paragraphs=(Paragraph(" ".join(FIRST), 3, 3), Paragraph(" ".join(SECOND), 5, 5)),
                   cues=(cue,))


def write_take(path, seed, rate=44100):
    take = make_take(FIRST + SECOND, rate=rate, seed=seed, gaps=(0.4, 0.6))
    if path.suffix == ".m4a":
        wav = path.with_suffix(".wav")
        sf.write(wav, take.samples, rate)
        subprocess.run([find_ffmpeg(), "-v", "error", "-y", "-i", str(wav), "-c:a", "aac",
                        "-b:a", "96k", str(path)], check=True)
        wav.unlink()
    else:
        sf.write(path, take.samples, rate)
    return take


@needs_voice
@pytest.mark.slow
@pytest.mark.parametrize("name,rate", [("act-1.wav", 48000), ("act-1.m4a", 44100),
                                       ("act-1.flac", 16000)])
def test_a_take_is_aligned_and_its_cue_lands_in_the_real_pause(tmp_path, name, rate):
    path = tmp_path / name
    take = write_take(path, seed=5, rate=rate)
    warnings = []
    spoken = narrate.narrate(segment(), path, 44100, Voice(), tmp_path / "n", warnings.append,
                             script="episodes/x/script.md")
    # The cue sits between the paragraphs: at the start of the recorded pause there.
    (cue, at), = spoken.narration.cue_times
    assert take.ends[1] - 0.05 <= at <= take.ends[1] + 0.2 < take.starts[2]
    starts = np.array([s[0] for s in spoken.sentences])
    assert np.max(np.abs(starts - np.array(take.starts))) < 0.15
    assert spoken.alignment["method"] == "aligned" and spoken.findings == ()
    low = [w for w in warnings if "16000 Hz is below" in w]
    assert bool(low) == (rate == 16000)
    # Cached with the narration: the alignment comes back without aligning again.
    again = narrate.load(segment(), tmp_path / "n")
    assert again.alignment == spoken.alignment and again.sentences == spoken.sentences
    assert json.loads((tmp_path / "n.json").read_text())["alignment"]["words"]


@needs_voice
@pytest.mark.slow
def test_a_script_edited_after_recording_gives_a_finding_in_the_linter_form(tmp_path):
    path = tmp_path / "act-1.wav"
    take = write_take(path, seed=6)
    edited = segment()
    extra = "The keeper kept a diary of every ship that passed."
    edited = Segment("act", 1, 6, number=1, title="Dawn",
                     paragraphs=(edited.paragraphs[0],
                                 Paragraph(extra + " " + " ".join(SECOND), 5, 5)),
                     cues=edited.cues)
    warnings = []
    spoken = narrate.narrate(edited, path, 44100, Voice(), tmp_path / "n", warnings.append,
                             script="episodes/x/script.md")
    assert len(spoken.findings) == 1
    finding = spoken.findings[0]
    assert finding.startswith("episodes/x/script.md:5:1: T001 warning: “The keeper kept a diary")
    assert f"is not in {path}" in finding and finding in warnings
    del take


@needs_voice
def test_a_draft_spoken_on_every_core_is_the_serial_draft_sample_for_sample(tmp_path):
    """The edited act's paragraphs are spoken in parallel runs (pipeline.build.episode); the
    narration, its cue times and its sentences are the serial ones, and no run file is left."""
    from pipeline.build import episode

    paragraphs = tuple(Paragraph(f"{FIRST[k % 2]} {SECOND[k % 2]}", 3 + 2 * k, 3 + 2 * k)
                       for k in range(5))
    cue = Cue("sfx", "foghorn", None, 8, 1, "[SFX: foghorn]")
    act = Segment("act", 1, 2, number=1, title="Dawn", paragraphs=paragraphs, cues=(cue,))
    (tmp_path / "serial").mkdir()
    (tmp_path / "parallel").mkdir()
    serial = narrate.narrate(act, None, 44100, Voice(), tmp_path / "serial" / "n")
    parallel = narrate.narrate(act, None, 44100, Voice(), tmp_path / "parallel" / "n",
                               speak_all=episode._speak_on_every_core(tmp_path / "parallel"))
    a, b = sf.read(serial.audio_file)[0], sf.read(parallel.audio_file)[0]
    from pipeline.audio import voice  # the draft is kept at the voice's own rate
    assert sf.info(serial.audio_file).samplerate == serial.rate == voice.output_rate() == 22050
    assert len(a) == len(b) > 22050 * 10 and np.array_equal(a, b)
    assert abs(len(a) / 22050 - serial.narration.seconds) < 1e-9
    assert parallel.sentences == serial.sentences and len(serial.sentences) == 10
    assert parallel.narration == serial.narration
    assert sorted(p.name for p in (tmp_path / "parallel").iterdir()) == ["n.flac", "n.json",
                                                                         "n.npy"]


def test_paragraph_runs_keep_the_order_and_share_the_length():
    from pipeline.build.episode import _runs

    texts = [f"paragraph {k} " + "word " * (k % 4) for k in range(11)]
    for count in (1, 2, 4, 20):
        runs = _runs(texts, count)
        assert [t for run in runs for t in run] == texts and len(runs) <= count
    assert len(_runs(texts, 4)) == 4 and _runs([], 4) == []
