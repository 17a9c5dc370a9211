"""Draft speech, a paragraph at a time, light enough to start while the audio stack loads.

A build that narrates spends its first moments on one core, importing the audio stack and
reading its inputs. The draft voice needs none of it (espeak-ng and numpy), so the build starts
an early speaker first: a process of its own that speaks the paragraphs the workers will come
to last, each into a file of the build's working folder, until the workers start (stop()). A
worker that finds its paragraph spoken reads it back: the same samples, since a paragraph alone
always speaks the same (pipeline.audio.voice), and it speaks the rest itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.audio import voice
from pipeline.model import Cue, Segment
from pipeline.show import Voice


def paragraphs(segment: Segment) -> list[str]:
    """The segment's paragraphs as the draft voice speaks them: one line each."""
    return [" ".join(item.text.split()) for item in segment.body() if not isinstance(item, Cue)]


def speak_paragraph(text: str, rate: int, settings: Voice, early: Path | None = None
                    ) -> tuple:
    """One paragraph in the draft voice at `rate`, and its sentences: (start, end, text) in
    seconds into it; read from `early` (an early speaker's folder) where it is spoken there."""
    import numpy as np

    name = _name(text, rate, settings)
    if early is not None:
        try:
            said = json.loads((early / f"{name}.json").read_text(encoding="utf-8"))
            samples = np.fromfile(early / f"{name}.f32", "<f4")
            if len(samples) == said["frames"]:
                return samples, tuple(tuple(s) for s in said["sentences"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not spoken (yet), or cut short: spoken here
    speech = voice.speak(text, voice=settings.name, wpm=settings.words_per_minute)
    samples = speech.samples
    if speech.sample_rate != rate:
        import soxr

        samples = soxr.resample(samples, speech.sample_rate, rate, quality="HQ")
    return samples, tuple((s.start, s.end, s.text) for s in speech.sentences)


def spoken(text: str, rate: int, settings: Voice, early: Path | None) -> bool:
    """Whether the early speaker has spoken this paragraph (speak_paragraph reads it)."""
    return early is not None and (early / f"{_name(text, rate, settings)}.json").is_file()


def speak_serially(texts: list[str], rate: int, settings: Voice, early: Path | None = None):
    return (speak_paragraph(text, rate, settings, early) for text in texts)


def _name(text: str, rate: int, settings: Voice) -> str:
    digest = hashlib.sha256(repr((text, rate, dataclasses.asdict(settings))).encode())
    return f"speech-{digest.hexdigest()[:32]}"


class EarlySpeaker:
    """The early speaker: `texts` spoken last to first into `folder` by a process of its own."""

    def __init__(self, texts: list[str], settings: Voice, folder: Path):
        self.folder = folder  # where the workers look (speak_paragraph's `early`)
        job = folder / "early-speaker.json"  # a file, not a pipe: nothing waits on its start
        try:
            folder.mkdir(parents=True, exist_ok=True)
            job.write_text(json.dumps({"texts": texts[::-1], "folder": str(folder),
                                       "voice": dataclasses.asdict(settings)}), encoding="utf-8")
            self._process = subprocess.Popen(
                [sys.executable, "-m", "pipeline.build.speech", str(job)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(Path(__file__).parents[2]),
                                  os.environ.get("PYTHONPATH")]))})
        except OSError:  # no room for the list, no process to spare: the workers speak it all
            self._process = None

    def stop(self) -> None:
        """Stop at once (a paragraph half spoken is left unfinished, and unread) and wait."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


def _speak_all(job: dict) -> None:
    """The early speaker's work: each text into `folder` unless already there, the samples
    first, then the sentences (with the length they belong to), each file whole or absent."""
    import numpy as np

    settings = Voice(**job["voice"])
    folder = Path(job["folder"])
    rate = voice.output_rate()
    for text in job["texts"]:
        name = _name(text, rate, settings)
        if (folder / f"{name}.json").is_file():
            continue
        samples, sentences = speak_paragraph(text, rate, settings)
        _whole(folder / f"{name}.f32", np.ascontiguousarray(samples, "<f4").tobytes())
        _whole(folder / f"{name}.json", json.dumps({"frames": len(samples),
                                                    "sentences": sentences}).encode())


def _whole(path: Path, data: bytes) -> None:
    """`path` holding `data`, or (stopped half way) not there at all."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _die_with_the_build() -> None:
    """A build killed outright takes its early speaker with it (Linux; elsewhere it stops at
    its last paragraph, and the next build removes what it left)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):
        pass


if __name__ == "__main__":
    _die_with_the_build()
    try:
        _speak_all(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
    except (KeyboardInterrupt, Exception):  # the workers speak what is missing, and say why
        sys.exit(1)
