"""The early speaker: draft paragraphs spoken while the audio stack loads, read back by the
workers as they would have spoken them (real espeak-ng; a few seconds)."""

import json
import time

import numpy as np
import pytest

from conftest import ROOT, SHOW_YAML
from pipeline.audio import voice
from pipeline.build import run, speech
from pipeline.build.cache import Hashes
from pipeline.build.inputs import Options, draft_paragraphs, narration_key
from pipeline.progress import Progress
from pipeline.project import open_project
from pipeline.show import Voice

pytestmark = pytest.mark.skipif(not voice.available(), reason="espeak-ng is not available")

TEXTS = ["The harbour lights came on one by one.", "Nobody on the pier said a word.",
         "By morning the ship had gone."]


def wait_for(done, seconds=60.0):
    end = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < end, "the early speaker did not finish"
        time.sleep(0.02)


def test_what_the_early_speaker_spoke_reads_back_as_the_voice_speaks_it(tmp_path):
    settings, rate = Voice(), voice.output_rate()
    speaker = speech.EarlySpeaker(TEXTS, settings, tmp_path)
    try:
        wait_for(lambda: all(speech.spoken(t, rate, settings, tmp_path) for t in TEXTS))
    finally:
        speaker.stop()
    fresh = [speech.speak_paragraph(t, rate, settings) for t in TEXTS]
    for text, (samples, sentences) in zip(TEXTS, fresh):
        early = speech.speak_paragraph(text, rate, settings, tmp_path)
        assert np.array_equal(early[0], samples) and early[1] == sentences
        assert len(samples) > rate and sentences[0][2] == text
    # Other settings are other speech: not read.
    slower = Voice(words_per_minute=120)
    assert not speech.spoken(TEXTS[0], rate, slower, tmp_path)
    # A paragraph cut short is spoken afresh, not read.
    f32 = next(tmp_path.glob("speech-*.f32"))
    f32.write_bytes(f32.read_bytes()[:-400])
    text = next(t for t in TEXTS if f32.stem == speech._name(t, rate, settings))
    again = speech.speak_paragraph(text, rate, settings, tmp_path)
    assert np.array_equal(again[0], fresh[TEXTS.index(text)][0])


def test_stop_ends_the_speaker_at_once_leaving_whole_paragraphs_last_first(tmp_path):
    settings, rate = Voice(), voice.output_rate()
    texts = [f"Paragraph {n}: the tide turned and the boats came home again, slowly." * 4
             for n in range(60)]
    speaker = speech.EarlySpeaker(texts, settings, tmp_path)
    wait_for(lambda: speech.spoken(texts[-1], rate, settings, tmp_path))
    started = time.monotonic()
    speaker.stop()
    assert time.monotonic() - started < 1.0
    done = [speech.spoken(t, rate, settings, tmp_path) for t in texts]
    assert done[-1] and not done[0]  # last to first, and stopped before the end
    assert done == sorted(done)  # a run from the end, no gaps
    for meta in tmp_path.glob("speech-*.json"):
        frames = json.loads(meta.read_text())["frames"]
        assert meta.with_suffix(".f32").stat().st_size == 4 * frames


def test_the_early_speaker_is_given_what_the_build_will_narrate_ends_first(show_dir):
    (show_dir / "show.yaml").write_text(SHOW_YAML.replace(
        "assets/manifest.yaml", str(ROOT / "assets" / "manifest.yaml")), encoding="utf-8")
    project = open_project(show_dir)
    path = show_dir / "episodes" / "test-event" / "script.txt"
    cache = show_dir / ".podforge-cache"
    cache.mkdir()
    job = run._job(project, path, project.read(path), Options(), Progress(quiet=True),
                   Hashes(cache / "hashes.json"))
    texts = draft_paragraphs(job, cache, force=False)
    every = [t for s in job.script.segments for t in speech.paragraphs(s)]
    assert sorted(texts) == sorted(every)
    lasts = {speech.paragraphs(s)[-1] for s in job.script.segments}
    assert set(texts[:len(lasts)]) == lasts  # each segment's last paragraph first
    # A segment narrated before is not spoken again, unless the build is forced.
    first = job.script.segments[0]
    (cache / f"narration-{narration_key(first, None, job.show.sound)}.json").write_text("{}")
    assert set(draft_paragraphs(job, cache, force=False)) == \
        set(every) - set(speech.paragraphs(first))
    assert sorted(draft_paragraphs(job, cache, force=True)) == sorted(every)


def test_a_build_killed_outright_takes_its_early_speaker_with_it(tmp_path):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    texts = [f"Paragraph {n}: the lamp burned all night over the water." * 6 for n in range(400)]
    listed = tmp_path / "texts.json"
    listed.write_text(json.dumps(texts))
    build = subprocess.Popen(
        [sys.executable, "-c", "import json, os, sys, time; from pathlib import Path; "
         "from pipeline.build.speech import EarlySpeaker; from pipeline.show import Voice; "
         "s = EarlySpeaker(json.loads(Path(sys.argv[1]).read_text()), Voice(), "
         "Path(sys.argv[2])); print(s._process.pid, flush=True); time.sleep(60)",
         str(listed), str(tmp_path / "work")], stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    speaker = int(build.stdout.readline())
    wait_for(lambda: any((tmp_path / "work").glob("speech-*.json")))
    build.kill()
    build.wait()

    def gone():
        try:
            with open(f"/proc/{speaker}/stat") as f:
                return f.read().split(") ")[1][0] in "ZX"  # ended (a zombie until reaped)
        except FileNotFoundError:
            return True
    if sys.platform.startswith("linux"):
        wait_for(gone, seconds=2)  # not the seconds the rest would take to speak


def test_no_room_for_an_early_speaker_leaves_the_workers_to_speak_it_all(tmp_path):
    settings, rate = Voice(), voice.output_rate()
    (tmp_path / "file").write_text("not a folder")
    speaker = speech.EarlySpeaker(TEXTS, settings, tmp_path / "file" / "work")
    speaker.stop()  # nothing started: nothing to stop, no error
    samples, sentences = speech.speak_paragraph(TEXTS[0], rate, settings, speaker.folder)
    assert len(samples) > rate and sentences[0][2] == TEXTS[0]
