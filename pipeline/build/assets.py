"""The show's sounds as their files are: length and loudness measured, cached by content.

The manifest names each sound and its role; how long it lasts and how loud it is are read from
the file itself, once per content hash (`.podforge-cache/assets.json`), so an edited file is
measured again and a typed-in length can never drift from the audio. A length the manifest
still declares is checked against the file: a disagreement is an error naming the key.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from pipeline import interrupts
from pipeline.errors import ShowError
from pipeline.files import save_json
from pipeline.manifest import Asset

TOLERANCE_S = 0.05  # a declared length within this of the file's is the file's


def measured(assets: dict[str, Asset], digests: dict[str, str], cache: Path,
             manifest: Path) -> dict[str, Asset]:
    """`assets` with each one's seconds and loudness_lufs from its file (by its digest)."""
    store = cache / "assets.json"
    try:
        known = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    out, dirty = {}, False
    for i, (name, asset) in enumerate(assets.items()):
        digest = digests[name]
        if digest not in known:
            known[digest] = _measure(asset.path)
            dirty = True
        seconds, lufs = known[digest]["seconds"], known[digest]["loudness_lufs"]
        if asset.declared and abs(asset.seconds - seconds) > TOLERANCE_S:
            raise ShowError(f"{manifest}: asset {name!r}: seconds: {asset.seconds:g} but "
                            f"{asset.path.name} lasts {seconds:.2f} s; correct it, or leave "
                            "`seconds` out: podforge measures the file")
        out[name] = replace(asset, seconds=seconds, loudness_lufs=lufs)
    if dirty and cache.is_dir():
        save_json(store, known)
    return out


def _measure(path: Path) -> dict:
    with interrupts.held():  # the audio stack: only for a new file
        from pipeline.audio import decode, loudness

    info = decode.probe(path)
    samples = decode.read_audio(path, info.sample_rate, min(info.channels, 2))
    meter = loudness.LoudnessMeter(info.sample_rate, samples.shape[1] if samples.ndim > 1 else 1)
    meter.add(samples)  # the build's own meter: a third of pyloudnorm's time, within 0.01 LU
    lufs = meter.integrated
    return {"seconds": round(info.seconds, 3),
            "loudness_lufs": round(lufs, 2) if lufs > -70 else -70.0}
