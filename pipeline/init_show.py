"""`podforge init [DIR]`: lay out a new show a team can fill in and build from its own folder.

A new show starts voice-only: its manifest lists no sounds and show.yaml places no music, so the
first episode builds as soon as it is written. Sound design is added later, asset by asset.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import PodforgeError
from pipeline.files import write_text

SHOW_TEMPLATE = """\
# {title}: the show's identity, its episode format and its sound design.
# Every key is described in podforge's README ("The show file"). Fill in the lines marked
# "fill in", then `podforge new SLUG` starts an episode.

title: {title}                  # fill in: the show's name, as the host says it
host: {host}                    # fill in: who narrates ("I'm <host>")
network: {network}              # fill in: who makes it ("From <network>, …")
description: >-
  Fill in: two or three sentences on what the show is about, for podcast apps.
language: en
author: {network}
owner: {{name: {host}, email: podcast@example.org}}   # fill in: the feed's contact
categories: [History]           # Apple Podcasts categories, "Parent > Child" for a subcategory
explicit: false
artwork: null                   # a square PNG or JPEG of 1400-3000 px; none: one is drawn
base_url: https://podcast.example.org/   # fill in: where `podforge publish` output is served
locked: true
allow_outside: false            # true lets assets, takes and --out lie outside this folder

format:
  segments:                     # the order every episode follows
    - {{kind: cold_open}}
    - {{kind: intro}}
    - {{kind: act}}
    - {{kind: teaser}}
    - {{kind: credits}}
  acts: {{min: 1, max: 8}}
  intro:                        # {{network}} {{host}} {{show}} {{date}} {{title}}; ... = any lines
    - "From {{network}}, I'm {{host}} and this is {{show}}."
    - "..."
    - "Today is {{date}}: {{title}}."
  teaser: "Next on {{show}}"
  credits: "From {{network}}, this is {{show}}"
  words_per_minute: 150
  minutes: {{min: 3, max: 60}}

sound:
  manifest: assets/manifest.yaml
  # No music yet: episodes build voice-only. Add sounds to assets/manifest.yaml, then place
  # them here, e.g.
  #   theme: {{asset: theme, gain_db: -2, lead: 6, tail: 2, fade_out: 3}}
  #   act_beds: [{{asset: bed, gain_db: -8, fade_in: 2, fade_out: 3}}]
  #   outro: {{asset: outro, gain_db: -4, lead: 2, tail: 4, fade_out: 5}}
  loudness: apple               # apple (-16 LUFS), spotify (-14), ebu-r128 (-23), or figures
  output: {{bitrate_kbps: 128, sample_rate: 44100, channels: 2}}
  voice: {{name: en-us, words_per_minute: 165}}   # the draft voice until takes are recorded
"""

MANIFEST_TEMPLATE = """\
# The show's sounds, by name: cues ([SFX: door]) and show.yaml's music name them.
# Add an entry per file in this folder (WAV, FLAC, OGG or MP3 you own or may use):
#   - name: door              # lower-case letters, digits and hyphens
#     file: door.ogg          # relative to this folder
#     role: sfx               # theme, bed, stinger, outro or sfx
#     seconds: 2.5            # its length
#     loudness_lufs: -20      # its integrated loudness (ffmpeg -af ebur128 measures it)
#     loop: false             # beds usually loop
#     licence: CC0-1.0        # where it comes from and on what terms
assets: []
"""


def init_show(folder: Path, title: str, host: str, network: str) -> list[Path]:
    """show.yaml, assets/manifest.yaml and episodes/ in `folder`; never over an existing show."""
    show = folder / "show.yaml"
    if show.exists():
        raise PodforgeError(f"{show}: a show is already here; edit it, or init another folder")
    for name, value in (("--title", title), ("--host", host), ("--network", network)):
        if not value.strip() or any(c in value for c in "{}:#\n\"'") or value != value.strip():
            raise PodforgeError(f"{name} {value!r}: use plain words (no braces, colons, quotes "
                                "or #); edit show.yaml afterwards for anything fancier")
    manifest = folder / "assets" / "manifest.yaml"
    try:
        (folder / "episodes").mkdir(parents=True, exist_ok=True)
        manifest.parent.mkdir(exist_ok=True)
        if not manifest.exists():
            write_text(manifest, MANIFEST_TEMPLATE)
        write_text(show, SHOW_TEMPLATE.format(title=title, host=host, network=network))
    except OSError as err:
        raise PodforgeError(f"{folder}: cannot lay out a show here ({err.strerror}); check "
                            "that it is a folder you can write to") from None
    return [show, manifest, folder / "episodes"]
