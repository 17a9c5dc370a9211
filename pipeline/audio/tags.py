"""ID3v2.4 tags and chapters for an episode's MP3.

Chapters follow the ID3 chapter addendum: one CHAP frame per chapter (times in milliseconds, a TIT2
inside for its title) and a top-level, ordered CTOC listing them, which is what podcast apps read.
write_tags works on any path: the renderer tags Mp3Writer's temporary file (its before_commit hook)
so the published file appears complete, tags included, in one rename.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date as Date

from mutagen.id3 import (APIC, CHAP, COMM, CTOC, ID3, TALB, TCON, TDRC, TIT2, TPE1, CTOCFlags,
                         PictureType)
from mutagen.id3._tags import save_frame

from pipeline.model import Chapter

StrPath = str | os.PathLike[str]

_UTF8 = 3  # ID3v2.4 text encoding
_TOC_ID = "toc"
_IMAGE_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


def write_tags(mp3_path: StrPath, *, title: str, artist: str, album: str, date: str,
               comment: str = "", genre: str = "Podcast", cover: bytes | None = None,
               cover_mime: str | None = None, chapters: Sequence[Chapter] = ()) -> None:
    """Replace the file's tags with these; `date` is YYYY-MM-DD or "" (none), cover_mime is
    sniffed if None."""
    if date:
        Date.fromisoformat(date)  # ValueError on anything but a real YYYY-MM-DD date
    _check(chapters)
    tags = _InOrder()
    ids = [f"chp{i}" for i in range(len(chapters))]
    tags.add(TIT2(encoding=_UTF8, text=title))
    tags.add(TPE1(encoding=_UTF8, text=artist))
    tags.add(TALB(encoding=_UTF8, text=album))
    if date:
        tags.add(TDRC(encoding=_UTF8, text=date))
    tags.add(TCON(encoding=_UTF8, text=genre))
    if comment:
        tags.add(COMM(encoding=_UTF8, lang="eng", desc="", text=comment))
    if cover is not None:
        tags.add(APIC(encoding=_UTF8, mime=cover_mime or _sniff(cover),
                      type=PictureType.COVER_FRONT, desc="cover", data=cover))
    if chapters:
        tags.add(CTOC(element_id=_TOC_ID, flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                      child_element_ids=ids, sub_frames=[]))
        for element_id, chapter in zip(ids, chapters):
            # Byte offsets 0xFFFFFFFF mean "unused": players seek by time.
            tags.add(CHAP(element_id=element_id, start_time=chapter.start_ms,
                          end_time=chapter.end_ms, start_offset=0xFFFFFFFF,
                          end_offset=0xFFFFFFFF,
                          sub_frames=[TIT2(encoding=_UTF8, text=chapter.title)]))
    tags.save(os.fspath(mp3_path), v1=0, v2_version=4)  # v1=0 drops any ID3v1 tag


class _InOrder(ID3):
    """ID3 that writes its frames in a reader's order: CHAP frames by start time.

    mutagen sorts frames by importance and then by size, so CHAP frames came out in the order
    of their titles' lengths, and ffprobe (which lists chapters in frame order) scrambled
    them. Here: text frames, the table of contents, chapters by start, pictures last.
    """

    def _write(self, config):
        def key(item):
            i, frame = item
            rank = {"CTOC": 1, "CHAP": 2, "APIC": 3}.get(frame.FrameID, 0)
            return (rank, frame.start_time if rank == 2 else 0, i)

        ordered = sorted(enumerate(self.values()), key=key)
        return bytearray().join(save_frame(frame, config=config) for _, frame in ordered)


def _check(chapters: Sequence[Chapter]) -> None:
    previous = 0
    for chapter in chapters:
        start, end = chapter.start_ms, chapter.end_ms
        if not previous <= start < end:
            raise ValueError(f"chapter {chapter.title!r} ({start}-{end} ms) must start at or "
                             f"after {previous} ms, where the one before ends, and end after "
                             "it starts")
        previous = end


def _sniff(image: bytes) -> str:
    for magic, mime in _IMAGE_TYPES.items():
        if image.startswith(magic):
            return mime
    raise ValueError("cover is neither JPEG nor PNG; pass cover_mime")
