"""Script + sound design + narration lengths → Timeline: where every sound goes, as data.

The plan touches no audio, so a producer can review it (`podforge build --plan`) and the cache can
key each segment's render on exactly the clips it holds. Every span lasts a whole number of MP3
frames (1152 samples at 32 kHz and above: at most 26 ms of padding), so every span starts on the
encoder's frame grid and is encoded in pieces of its own: an edit to one act moves the later
spans by whole frames, and their encoded pieces stay valid.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import replace

from pipeline.errors import PodforgeError
from pipeline.manifest import Asset
from pipeline.model import (Clip, Cue, Narration, Paragraph, Script, Segment, Span, Timeline,
                            count_words)
from pipeline.timefmt import tenths
from pipeline.show import Music, SoundDesign

SFX_GAP = 1.0  # a draft's narration waits this long after an [SFX] cue
CUE_GAP = 0.5  # … and after [MUSIC] or [BED]
PARAGRAPH_GAP = 0.35
CUE_FADE = 1.5


def frame_samples(rate: int) -> int:
    """Samples per MP3 frame: 1152 at MPEG-1 rates (32 kHz and above), else 576."""
    return 1152 if rate >= 32000 else 576


def cue_gap(cue: Cue) -> float:
    """How long a draft voice leaves for a cue: the pause asked for, or room for the sound."""
    if cue.kind == "pause":
        return cue.seconds or 0.0
    return SFX_GAP if cue.kind == "sfx" else CUE_GAP


def music_for(segment: Segment, sound: SoundDesign) -> Music | None:
    """The show's music under a segment: theme, beds (acts take the act beds in turn), outro."""
    if segment.kind == "intro":
        return sound.theme
    if segment.kind == "cold_open":
        return sound.cold_open_bed
    if segment.kind == "act" and sound.act_beds:
        return sound.act_beds[((segment.number or 1) - 1) % len(sound.act_beds)]
    if segment.kind == "teaser":
        return sound.teaser_bed
    if segment.kind == "credits":
        return sound.outro
    return None


def named_music(sound: SoundDesign) -> list[tuple[str, Music]]:
    """Every piece of music show.yaml places, with its key there."""
    named = [("theme", sound.theme), ("cold_open_bed", sound.cold_open_bed),
             *((f"act_beds[{i}]", m) for i, m in enumerate(sound.act_beds)),
             ("stinger", sound.stinger), ("teaser_bed", sound.teaser_bed),
             ("outro", sound.outro)]
    return [(key, music) for key, music in named if music]


def check_sound(sound: SoundDesign, assets: dict[str, Asset], show_file: str) -> None:
    """Every asset show.yaml names exists in the manifest (before any audio work starts)."""
    for key, music in named_music(sound):
        if music.asset not in assets:
            raise PodforgeError(f"{show_file}: sound.{key}.asset: no asset {music.asset!r} in "
                                f"the manifest; known: {', '.join(sorted(assets))}")


def estimate(segment: Segment, words_per_minute: float) -> Narration:
    """Narration length from the word count, for a plan made before any voice exists."""
    at, cue_times = 0.0, []
    for item in segment.body():
        if isinstance(item, Cue):
            cue_times.append((item, at))
            at += cue_gap(item)
        else:
            at += count_words(item.text) / words_per_minute * 60 + PARAGRAPH_GAP
    return Narration(segment.slug, round(at, 3), tuple(cue_times), "draft", estimated=True)


def plan(script: Script, sound: SoundDesign, assets: dict[str, Asset],
         narrations: dict[str, Narration]) -> Timeline:
    """Place every segment and its clips, one after the other."""
    last = len(script.segments) - 1
    return sequence([place(segment, narrations[segment.slug], sound, assets, last=i == last)
                     for i, segment in enumerate(script.segments)], sound)


def sequence(spans: list[Span], sound: SoundDesign) -> Timeline:
    """Spans placed end to end: the episode's Timeline."""
    placed, frames, rate = [], 0, sound.output.sample_rate
    for span in spans:
        placed.append(replace(span, start=frames / rate))
        frames += round(span.duration * rate)
    return Timeline(tuple(placed), sound.output.sample_rate, sound.output.channels)


def scenes(segment: Segment) -> tuple[Segment, ...]:
    """An act cut into scenes at each sound effect cued between its paragraphs.

    Each scene opens with the act's bed from the top, under the effect (a sound designer's
    scene change), so a scene sounds the same wherever it falls: the draft voice narrates,
    mixes, masters and encodes each on its own, and an edit makes its own scene again, not the
    act. A take is one recording of the act: its span holds the scenes (place() restarts the
    bed at each), and sounds the same."""
    if segment.kind != "act" or segment.parts > 1:
        return (segment,)
    body = segment.body()
    said = [isinstance(item, Paragraph) for item in body]
    cuts = [i for i, item in enumerate(body) if isinstance(item, Cue) and item.kind == "sfx"
            and any(said[:i]) and any(said[i + 1:])]
    bounds = [0, *cuts, len(body)]
    if len(bounds) == 2:
        return (segment,)
    return tuple(replace(
        segment, start_line=body[a].line if k else segment.start_line,
        end_line=body[b].line - 1 if b < len(body) else segment.end_line,
        heading_line=None if k else segment.heading_line,
        paragraphs=tuple(i for i in body[a:b] if isinstance(i, Paragraph)),
        cues=tuple(i for i in body[a:b] if isinstance(i, Cue)), part=k, parts=len(bounds) - 1)
        for k, (a, b) in enumerate(zip(bounds, bounds[1:])))


def place(segment: Segment, narration: Narration, sound: SoundDesign, assets: dict[str, Asset],
          last: bool) -> Span:
    """One segment's span (or one scene's), starting at 0: its clips depend on nothing outside
    it, so each span can be planned, rendered and cached on its own. It ends with the show's
    gap of silence (a scene before another of its act has none), padded to a whole number of
    MP3 frames, so every span starts on the encoder's frame grid.

    Every scene runs its act's bed from the top; a cue's bed or music plays to the end of its
    scene at most."""
    clips, lead = [], 0.0
    music = music_for(segment, sound)
    opening, closing = segment.part == 0, segment.part == segment.parts - 1
    if segment.kind == "act" and sound.stinger and opening:
        stinger = assets[sound.stinger.asset]
        clips.append(_clip(sound.stinger, stinger, 0.0, stinger.seconds, "stinger"))
        lead = sound.stinger.lead or min(stinger.seconds * 0.6, 2.0)
    if music and opening:
        lead = max(lead, music.lead)
    voice_end = lead + narration.seconds
    body = voice_end + (music.tail if music and closing else 0.0)
    clips.append(Clip(None, lead, narration.seconds, role="voice"))
    changes = {s.cues[0] for s in scenes(segment)[1:]}  # the scenes a take holds
    starts = [lead + at for cue, at in narration.cue_times if cue in changes]
    ends = [*starts, body]  # each scene's end
    bed_ends = list(ends)  # where each scene's own bed stops: a cued bed takes over
    for cue, at in narration.cue_times:
        start = lead + at
        scene = bisect.bisect_right(starts, start)
        end = ends[scene]
        if cue.kind == "sfx":
            asset = assets[cue.name]
            length = cue.length or asset.seconds
            fade = min(cue.fade or 0.0, length / 2)
            clips.append(Clip(cue.name, start, length, cue.gain_db or 0.0, fade, fade,
                              loop=length > asset.seconds and asset.loop, role="sfx"))
        elif cue.kind in ("music", "bed"):
            asset = assets[cue.name]
            length = end - start if cue.kind == "bed" or asset.loop else \
                min(asset.seconds, end - start)
            if cue.length:
                length = round(min(cue.length, end - start), 3)
            fade = CUE_FADE if cue.fade is None else cue.fade
            clips.append(Clip(cue.name, start, max(length, 0.0), _cue_gain(cue, music, sound),
                              fade_in=min(0.5 if cue.fade is None else fade, length / 2),
                              fade_out=min(fade, length / 2),
                              loop=asset.loop or cue.kind == "bed", ducked=True,
                              role=cue.kind))
            if cue.kind == "bed":
                bed_ends[scene] = min(bed_ends[scene], start + CUE_FADE)  # the new bed takes over
    if music:
        asset = assets[music.asset]
        first = min(lead, 1.0) if segment.kind == "act" and sound.stinger and opening else 0.0
        role = {"intro": "theme", "credits": "outro"}.get(segment.kind, "bed")
        for start, end in zip([first, *starts], bed_ends):
            length = end - start if asset.loop else min(end - start, asset.seconds)
            clips.append(_clip(music, asset, start, length, role, loop=asset.loop))
    gap = 0.0 if last or not closing else sound.gap_seconds
    rate = sound.output.sample_rate
    spf = frame_samples(rate)
    frames = math.ceil(round((body + gap) * rate / spf, 6)) * spf
    return Span(segment.slug, segment.kind, segment.number, segment.label, 0.0,
                frames / rate, lead, narration.voice,
                tuple(sorted(clips, key=lambda c: c.start)), segment.part)


def _cue_gain(cue: Cue, music: Music | None, sound: SoundDesign) -> float:
    """A cued bed or music plays at the level its line asks for, else at the level the show
    gives the segment's own bed (a bed at 0 dB would drown the voice), else the act beds'."""
    if cue.gain_db is not None:
        return cue.gain_db
    if music is not None and cue.kind == "bed":
        return music.gain_db
    beds = [m for m in (*sound.act_beds, sound.cold_open_bed) if m]
    return beds[0].gain_db if beds else 0.0


def _clip(music: Music, asset: Asset, start: float, length: float, role: str,
          loop: bool = False) -> Clip:
    length = max(length, 0.0)
    return Clip(asset.name, round(start, 3), round(length, 3), music.gain_db,
                min(music.fade_in, length / 2), min(music.fade_out, length / 2), 0.0, loop,
                music.duck, role)


def describe(timeline: Timeline) -> str:
    """The plan as a producer reviews it: one line per clip, times in m:ss.s."""
    lines = [f"{'span':<28} {'start':>8} {'length':>8}  clips"]
    for span in timeline.spans:
        lines.append(f"{span.label[:28]:<28} {tenths(span.start):>8} {tenths(span.duration):>8}"
                     f"  ({span.voice} voice)")
        for c in span.clips:
            extras = [f"{c.gain_db:+.1f} dB" if c.gain_db else "",
                      f"fade {c.fade_in:g}/{c.fade_out:g} s" if c.fade_in or c.fade_out else "",
                      "loop" if c.loop else "", "ducked" if c.ducked else ""]
            lines.append(f"{'':<28} {tenths(span.start + c.start):>8} {tenths(c.duration):>8}"
                         f"    {c.role:<8} {c.source:<24} {' '.join(e for e in extras if e)}")
    lines.append(f"{'total':<28} {'':>8} {tenths(timeline.duration):>8}")
    return "\n".join(lines)
