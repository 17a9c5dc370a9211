"""The show's sound assets: the manifest tells the truth about the files, and the music is music.

The files are made by assets/synth.py; these tests read what is committed, so they run in seconds.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
import yaml

ASSETS = Path(__file__).resolve().parent.parent / "assets"
MANIFEST = ASSETS / "manifest.yaml"
SR = 44100
KEYS = {"name", "file", "role", "seconds", "loudness_lufs", "loop", "licence", "description"}
SFX = {"bell", "wind", "rumble", "crowd", "clock", "whistle", "door"}
MUSIC_ROLES = {"theme", "bed", "stinger", "outro"}


def entries() -> list[dict]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["assets"]


ENTRIES = {e["name"]: e for e in entries()}
MUSIC = [n for n, e in ENTRIES.items() if e["role"] in MUSIC_ROLES]
BEDS = [n for n, e in ENTRIES.items() if e["role"] == "bed"]


@functools.cache
def audio(name: str) -> tuple[np.ndarray, int]:
    return sf.read(ASSETS / ENTRIES[name]["file"], always_2d=True)


def loudness(x: np.ndarray) -> float:
    return pyloudnorm.Meter(SR).integrated_loudness(x)


def pitch_classes(mono: np.ndarray, frames: int = 10, n: int = 8192) -> set[int]:
    """Pitch classes of the strong spectral peaks (60 Hz-2 kHz) in frames spread over the file."""
    found: set[int] = set()
    f = np.fft.rfftfreq(n, 1 / SR)
    band = (f > 60) & (f < 2000)
    for start in np.linspace(0, len(mono) - n, frames).astype(int):
        mag = np.abs(np.fft.rfft(mono[start:start + n] * np.hanning(n)))[band]
        peak = (mag[1:-1] > mag[:-2]) & (mag[1:-1] > mag[2:]) & (mag[1:-1] > 0.1 * mag.max())
        for freq in f[band][1:-1][peak]:
            found.add(int(round(12 * np.log2(freq / 440) + 69)) % 12)  # MIDI pitch class
    return found


def level_spread_db(mono: np.ndarray) -> float:
    """How much the 50 ms RMS level moves (10th to 90th percentile): rhythm, not a held tone.

    Pre-emphasis first, so note attacks show through sustained pads and bass.
    """
    mono = np.append(mono[:1], mono[1:] - 0.95 * mono[:-1])
    w = SR // 20
    rms = np.sqrt(np.mean(mono[: len(mono) // w * w].reshape(-1, w) ** 2, axis=1))
    db = 20 * np.log10(rms + 1e-9)
    return float(np.percentile(db, 90) - np.percentile(db, 10))


def flatness(mono: np.ndarray, n: int = 4096) -> float:
    """Median spectral flatness over frames: near 0 for tones, about 0.5 for white noise."""
    values = []
    for start in range(0, len(mono) - n, n * 4):
        power = np.abs(np.fft.rfft(mono[start:start + n] * np.hanning(n))) ** 2 + 1e-20
        values.append(np.exp(np.mean(np.log(power))) / np.mean(power))
    return float(np.median(values))


def is_music(mono: np.ndarray) -> bool:
    return len(pitch_classes(mono)) >= 3 and level_spread_db(mono) >= 3 and flatness(mono) < 0.3


# ------------------------------------------------------------------ the manifest


def test_manifest_shape_and_licence():
    text = MANIFEST.read_text(encoding="utf-8")
    assert "CC0" in text.split("assets:")[0], "the header comment states the licence"
    assert len(ENTRIES) == len(entries()), "asset names are unique"
    for e in entries():
        assert set(e) == KEYS, e["name"]
        assert e["role"] in MUSIC_ROLES | {"sfx"}
        assert e["loop"] is (e["role"] in {"bed", "outro"}), e["name"]
        assert e["licence"].startswith("CC0-1.0") and "synth.py" in e["licence"]
        assert isinstance(e["seconds"], float) and isinstance(e["loudness_lufs"], float)
        assert e["description"].strip() and "\n" not in e["description"]
        assert (ASSETS / e["file"]).parent == ASSETS


def test_roles_cover_the_show():
    roles = {e["role"] for e in entries()}
    assert MUSIC_ROLES <= roles
    assert len(BEDS) >= 3
    assert SFX <= {n for n, e in ENTRIES.items() if e["role"] == "sfx"}


def test_assets_are_small():
    assert sum((ASSETS / e["file"]).stat().st_size for e in entries()) < 3_000_000


# ------------------------------------------------------------------ every file


@pytest.mark.parametrize("name", ENTRIES)
def test_file_matches_manifest(name):
    e = ENTRIES[name]
    info = sf.info(ASSETS / e["file"])
    assert (info.format, info.subtype) == ("OGG", "VORBIS")
    x, sr = audio(name)
    assert sr == SR and x.shape[1] == 2
    assert abs(len(x) / sr - e["seconds"]) <= 0.05
    assert abs(loudness(x) - e["loudness_lufs"]) <= 0.5
    assert np.abs(x).max() < 10 ** (-1 / 20), "peaks stay below -1 dBFS"
    target = -18 if e["role"] == "sfx" else -20
    assert abs(e["loudness_lufs"] - target) <= 1.5


@pytest.mark.parametrize("name", ENTRIES)
def test_not_silent_and_stereo(name):
    x, _ = audio(name)
    assert np.sqrt(np.mean(x ** 2)) > 10 ** (-45 / 20)
    assert not np.allclose(x[:, 0], x[:, 1]), "has some stereo spread"


# ------------------------------------------------------------------ music is music


def test_the_detector_rejects_test_tones_and_noise():
    t = np.arange(10 * SR) / SR
    assert not is_music(0.3 * np.sin(2 * np.pi * 440 * t))
    assert not is_music(0.1 * np.random.default_rng(0).standard_normal(len(t)))
    beeps = 0.3 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    assert not is_music(beeps), "a pulsing single tone is still a test tone"


@pytest.mark.parametrize("name", MUSIC)
def test_music_is_music(name):
    mono = audio(name)[0].mean(axis=1)
    assert len(pitch_classes(mono)) >= 3, "more than one pitch class: chords and a tune"
    assert level_spread_db(mono) >= 3, "the level moves: rhythm, attacks and decays"
    assert flatness(mono) < 0.3, "tonal, not noise"


@pytest.mark.parametrize("name", BEDS + ["outro"])
def test_loops_join_seamlessly(name):
    x, sr = audio(name)
    half = sr // 2
    head, tail = loudness(x[:half]), loudness(x[-half:])
    assert head > -40 and tail > -40, "no silence at the join"
    assert abs(head - tail) <= 3, "the level carries across the join"
    steps = np.abs(np.diff(x, axis=0)).max(axis=1)
    join = np.abs(x[0] - x[-1]).max()
    assert join <= 2 * np.percentile(steps, 99.9), "no click where the end meets the start"


# ------------------------------------------------------------------ reproducible


@pytest.mark.slow
def test_synth_is_deterministic(tmp_path):
    """A rebuild gives the committed audio (the OGG bytes differ only in stream serial numbers)."""
    spec = importlib.util.spec_from_file_location("synth", ASSETS / "synth.py")
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    for name in ("bell", "stinger"):
        first = synth.ASSETS[name][0](synth.rng_for(name))
        assert np.array_equal(first, synth.ASSETS[name][0](synth.rng_for(name)))
        entry = synth.build(name, tmp_path)
        assert entry == ENTRIES[name]
        rebuilt, _ = sf.read(tmp_path / entry["file"], always_2d=True)
        assert rebuilt.shape == audio(name)[0].shape
        assert np.allclose(rebuilt, audio(name)[0], atol=1e-3)


def _sounds(show: Path, bell_seconds: float) -> None:
    import soundfile as sf

    rate = 44100
    for name, seconds in (("bell", bell_seconds), ("theme", 10.0)):
        t = np.arange(round(seconds * rate)) / rate
        sf.write(show / "assets" / f"{name}.ogg", 0.3 * np.sin(2 * np.pi * 440 * t), rate)


def test_an_asset_length_is_measured_from_its_file(show_dir):
    from conftest import MINIMAL, podforge

    manifest = show_dir / "assets" / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("seconds: 1.0, ", ""), encoding="utf-8")
    _sounds(show_dir, 1.5)
    script = show_dir / "episodes" / "test-event" / "script.txt"
    script.write_text(MINIMAL.replace("The story starts.", "The story starts.\n\n[SFX: bell]"),
                      encoding="utf-8")
    result = podforge("build", "--plan", cwd=show_dir)
    assert result.exit_code == 0, result.output
    [bell] = [line for line in result.stdout.splitlines() if " bell " in line]
    assert "0:01.5" in bell  # the file's 1.5 s, not a typed-in length


def test_a_declared_length_that_disagrees_with_the_file_is_an_error(show_dir):
    from conftest import podforge

    _sounds(show_dir, 1.5)  # the manifest says 1.0
    result = podforge("build", "--plan", cwd=show_dir)
    assert result.exit_code == 2
    assert "asset 'bell': seconds: 1 but bell.ogg lasts 1.50 s; correct it, or leave " \
           "`seconds` out" in result.output
