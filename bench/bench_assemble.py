"""pydub assembly against render.py's numpy mix, on one 10-minute span, in the same run.

    .venv/bin/python bench/bench_assemble.py [--minutes 10]

Times (a) render.render_span (numpy), (b) assemble.assemble_span (pydub) on the same span (a
voice, a ducked looped bed with fades, two stingers), and (c) the MP3 encode of the span's audio
(Mp3Writer, 128 kb/s): the dominant cost of a build. Prints b/a and (b-a)/(c+a): what pydub adds
to a build's audio work on this span (the brief's bar is 10%), and their largest difference.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pipeline.build import assemble  # noqa: E402
from pipeline.audio.encode import Mp3Writer  # noqa: E402
from pipeline.manifest import Asset  # noqa: E402
from pipeline.model import Clip, Narration, Span  # noqa: E402
from pipeline.build.narrate import HOP, Spoken  # noqa: E402
from pipeline.build.mix import AssetBank, read_spans, render_span  # noqa: E402
from pipeline.show import Ducking  # noqa: E402
from synth import RATE, music, sine, speech  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    seconds = round(parser.parse_args().minutes * 60, 1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with open(folder / "voice.f32", "wb") as f:
            for i in range(int(seconds // 10)):
                f.write(speech(10.0, seed=i).astype("<f4").tobytes())
        active = (np.arange(int(seconds / HOP)) % 500) < 400
        np.save(folder / "voice.npy", active)
        spoken = Spoken(Narration("act-1", seconds), folder / "voice.f32", folder / "voice.npy", ())
        sf.write(folder / "bed.wav", music(30.0), RATE, subtype="FLOAT")
        sf.write(folder / "sting.wav", np.repeat(sine(2.0, 660.0)[:, None], 2, 1), RATE)
        bank = AssetBank({"bed": Asset("bed", folder / "bed.wav", "bed", 30.0, -20.0, True),
                          "sting": Asset("sting", folder / "sting.wav", "stinger", 2.0, -20.0,
                                         False)}, RATE, 2)
        clips = (Clip(None, 0.0, seconds, role="voice"),
                 Clip("bed", 0.0, seconds, gain_db=-8.0, fade_in=2.0, fade_out=3.0,
                      loop=True, ducked=True, role="bed"),
                 Clip("sting", 1.0, 2.0, gain_db=-3.0, role="stinger"),
                 Clip("sting", seconds / 2, 2.0, role="stinger"))
        span = Span("act-1", "act", 1, "Act 1", 0.0, seconds, 0.0, "draft", clips)
        bank["bed"], bank["sting"]  # decoded before timing, as the build does before forking
        (folder / "a").mkdir(), (folder / "b").mkdir()

        t = time.perf_counter()
        numpy_mix = render_span(span, spoken, bank, Ducking(), RATE, 2, folder / "a" / "span")
        a = time.perf_counter() - t
        t = time.perf_counter()
        pydub_mix = assemble.assemble_span(span, spoken, bank, Ducking(), RATE, 2,
                                           folder / "b" / "span")
        b = time.perf_counter() - t
        t = time.perf_counter()
        with Mp3Writer(folder / "span.mp3", RATE, 2, 128) as writer:
            for block in read_spans([numpy_mix], 2):
                writer.write(block)
        c = time.perf_counter() - t
        x = np.fromfile(numpy_mix.audio_file, "<f4")
        y = np.fromfile(pydub_mix.audio_file, "<f4")
    print(f"span: {seconds / 60:.1f} min stereo at {RATE} Hz")
    print(f"(a) render_span, numpy : {a:6.2f} s")
    print(f"(b) assemble_span, pydub: {b:6.2f} s   b/a = {b / a:.2f}")
    print(f"(c) MP3 encode, 128k   : {c:6.2f} s")
    print(f"pydub's extra cost: (b-a)/(a+c) = {(b - a) / (a + c):.1%} of mix + encode")
    print(f"largest difference: {np.abs(x - y).max():.2e}")


if __name__ == "__main__":
    main()
