"""Shared fixtures: the reference documents (when present) and small shows made on the spot."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import settings

# Property tests explore, but the same way on every run: CI never fails on an example no one
# can replay. HYPOTHESIS_PROFILE=explore searches anew.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DATA = ROOT / "tests" / "data"
# An original episode shaped like the seed transcript, glitches included (tests/data/README.md).
STANDIN = DATA / "scripts" / "standin-halifax-explosion.txt"


def shared(relative: str) -> Path:
    """A file from ../shared, or a skip that says why (a fresh clone has no ../shared)."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"reference file {path} is absent (it lives outside the repository, "
                    "next to the project checkout)")
    return path


def podforge(*args: str, cwd: Path | None = None):
    """The CLI in-process, run from `cwd` (the show's folder, as a user would stand in it)."""
    from pipeline.cli import main

    old = Path.cwd()
    os.chdir(cwd or ROOT)
    try:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)


def tone(seconds: float, rate: int, channels: int = 1, hz: float = 440.0,
         amplitude: float = 0.5) -> np.ndarray:
    """A sine of known level: (frames, channels) float32."""
    t = np.arange(round(seconds * rate)) / rate
    x = (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def read_chapters(mp3: Path):
    """The chapters as a podcast app reads them: mutagen's CHAP frames in the CTOC's order."""
    from mutagen.id3 import ID3, CTOCFlags, ID3NoHeaderError

    from pipeline.model import Chapter

    try:
        tags = ID3(os.fspath(mp3))
    except ID3NoHeaderError:
        return []
    chapters = {f.element_id: f for f in tags.getall("CHAP")}
    tocs = [t for t in tags.getall("CTOC") if t.flags & CTOCFlags.TOP_LEVEL]
    order = tocs[0].child_element_ids if tocs else sorted(
        chapters, key=lambda i: chapters[i].start_time)

    def title(chap) -> str:
        frame = chap.sub_frames.get("TIT2")
        return str(frame.text[0]) if frame and frame.text else ""

    return [Chapter(title(chapters[i]), chapters[i].start_time / 1000,
                    chapters[i].end_time / 1000) for i in order if i in chapters]



def ffmpeg_ebur128(path, *, ffmpeg: str | None = None):
    """ffmpeg's own EBU R128 meter (`ebur128=peak=true`) on a file: the independent check that
    podforge's figures are what a listener's file measures."""
    import re
    import subprocess

    from pipeline.audio.encode import find_ffmpeg
    from pipeline.audio.measure import Loudness

    done = subprocess.run([ffmpeg or find_ffmpeg(), "-hide_banner", "-nostdin", "-nostats",
                           "-i", os.fspath(path), "-af", "ebur128=peak=true", "-f", "null", "-"],
                          stdin=subprocess.DEVNULL, capture_output=True)
    log = done.stderr.decode(errors="replace")
    assert done.returncode == 0 and "Summary:" in log, log[-500:]
    summary = log[log.rindex("Summary:"):]

    def number(pattern: str) -> float:
        return float(re.search(pattern + r"\s+(-?(?:\d+(?:\.\d+)?|inf))", summary).group(1))

    return Loudness(number(r"I:"), number(r"Peak:"), number(r"LRA:"))


# The smallest script the default format accepts: every segment, two acts, one credit.
MINIMAL = textwrap.dedent("""\
    Jan. 15, 2026

    The Test Event

    January 15, 1919. Something happened in a test.

    Cold Open

    A scene opens.

    From Test Network, I'm Ann Host and this is Test Show.

    A tagline for the show.

    Today is January 15th, 1919: The Test Event.

    Act One: Start

    The story starts.

    Act Two: End

    The story ends.

    Next on Test Show. Another day, another story.

    From Test Network, this is Test Show, hosted by me, Ann Host.

    Audio editing by Bo Editor.
    """)

SHOW_YAML = textwrap.dedent("""\
    title: Test Show
    host: Ann Host
    network: Test Network
    description: A show made by the tests.
    owner: {name: Ann Host, email: ann@example.org}
    categories: [History]
    base_url: https://test.example.org/
    format:
      minutes: {min: 0, max: 90}
    sound:
      manifest: assets/manifest.yaml
    """)

MANIFEST_YAML = textwrap.dedent("""\
    assets:
      - {name: bell, file: bell.ogg, role: sfx, seconds: 1.0, loudness_lufs: -18.0}
      - {name: theme, file: theme.ogg, role: theme, seconds: 10.0, loudness_lufs: -20.0}
    """)


@pytest.fixture
def show_dir(tmp_path: Path) -> Path:
    """A project folder with show.yaml, a manifest and episodes/test-event/script.txt."""
    (tmp_path / "show.yaml").write_text(SHOW_YAML, encoding="utf-8")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "manifest.yaml").write_text(MANIFEST_YAML, encoding="utf-8")
    episode = tmp_path / "episodes" / "test-event"
    episode.mkdir(parents=True)
    (episode / "script.txt").write_text(MINIMAL, encoding="utf-8")
    return tmp_path
