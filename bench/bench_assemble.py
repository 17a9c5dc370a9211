"""pydub assembly (the build's mixer) against a plain numpy mix, on one 10-minute span, in the
same run. The numpy mix lives here only, as the reference: the build has one mixer.

    .venv/bin/python bench/bench_assemble.py [--minutes 10]

Times (a) numpy_mix (the reference below), (b) assemble.assemble_span (pydub) on the same span (a
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

from pipeline.audio import loudness  # noqa: E402
from pipeline.build import assemble  # noqa: E402
from pipeline.audio.encode import Mp3Writer  # noqa: E402
from pipeline.manifest import Asset  # noqa: E402
from pipeline.model import Clip, Narration, Span  # noqa: E402
from pipeline.build.narrate import HOP, Spoken  # noqa: E402
from pipeline.build.assemble import AssetBank, WINDOW, duck_levels, _ramp  # noqa: E402
from pipeline.show import Ducking  # noqa: E402
from synth import RATE, music, sine, speech  # noqa: E402


def numpy_mix(span: Span, spoken: Spoken, bank: AssetBank, ducking: Ducking, rate: int,
              channels: int, out: Path) -> Path:
    """The same span mixed with numpy alone, window by window (the reference)."""
    frames = round(span.duration * rate)
    duck = duck_levels(span, spoken, ducking)
    meter = loudness.LoudnessMeter(rate, channels)  # the build meters every span either way
    with open(out, "wb") as sink, open(spoken.audio_file, "rb") as narration:
        for w0 in range(0, frames, WINDOW):
            mixed = np.zeros((min(WINDOW, frames - w0), channels), np.float32)
            for clip in span.clips:
                c0 = round(clip.start * rate)
                c1 = c0 + round(clip.duration * rate)
                a, b = max(w0, c0), min(w0 + len(mixed), c1)
                if a >= b:
                    continue
                offset = round(clip.offset * rate) + (a - c0)
                if clip.asset is None:
                    narration.seek(offset * 4)
                    voice = np.fromfile(narration, "<f4", b - a)
                    mixed[a - w0:a - w0 + len(voice)] += voice[:, None]
                    continue
                source = bank[clip.asset]
                if clip.loop:
                    piece = source[(offset + np.arange(b - a)) % len(source)]
                else:
                    piece = source[offset:offset + (b - a)]
                    b = a + len(piece)
                piece = piece * np.float32(10 ** (clip.gain_db / 20))
                _ramp(piece, a - c0, round(clip.fade_in * rate), rising=True)
                _ramp(piece, c1 - b, round(clip.fade_out * rate), rising=False)
                if clip.ducked:
                    hops = np.arange(a, b, dtype=np.float64) / (rate * HOP)
                    piece *= np.interp(hops, np.arange(len(duck)), duck).astype(
                        np.float32)[:, None]
                mixed[a - w0:b - w0] += piece
            meter.add(mixed)
            sink.write(mixed.tobytes())
    np.save(out.with_suffix(".steps.npy"), meter.steps())
    return out


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
        bank.segment("bed"), bank.segment("sting")  # decoded and converted before timing, as the build does before forking
        (folder / "a").mkdir(), (folder / "b").mkdir()

        t = time.perf_counter()
        reference = numpy_mix(span, spoken, bank, Ducking(), RATE, 2, folder / "a" / "span.f32")
        a = time.perf_counter() - t
        t = time.perf_counter()
        pydub_mix = assemble.assemble_span(span, spoken, bank, Ducking(), RATE, 2,
                                           folder / "b" / "span")
        b = time.perf_counter() - t
        t = time.perf_counter()
        with Mp3Writer(folder / "span.mp3", RATE, 2, 128) as writer:
            x = np.fromfile(reference, "<f4").reshape(-1, 2)
            for i in range(0, len(x), WINDOW):
                writer.write(x[i:i + WINDOW])
        c = time.perf_counter() - t
        x = np.fromfile(reference, "<f4")
        y = np.fromfile(pydub_mix.audio_file, "<f4")
    print(f"span: {seconds / 60:.1f} min stereo at {RATE} Hz")
    print(f"(a) numpy mix          : {a:6.2f} s")
    print(f"(b) assemble_span, pydub: {b:6.2f} s   b/a = {b / a:.2f}")
    print(f"(c) MP3 encode, 128k   : {c:6.2f} s")
    print(f"pydub's extra cost: (b-a)/(a+c) = {(b - a) / (a + c):.1%} of mix + encode")
    print(f"largest difference: {np.abs(x - y).max():.2e}")


if __name__ == "__main__":
    main()
