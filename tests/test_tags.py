"""ID3v2.4 tags and chapters, on a real MP3 made by the encoder."""

import re

import numpy as np
import pytest
import soundfile as sf
from mutagen.id3 import ID3
from mutagen.mp3 import MP3

from conftest import read_chapters
from pipeline.model import Chapter
from pipeline.audio import encode

from pipeline.audio import tags

RATE = 44100
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # tags store bytes; they need not decode
CHAPTERS = [Chapter("Cold open", 0, 12.345), Chapter("The tank — 1919", 12.345, 61.001),
            Chapter("Aftermath", 61.5, 179.999)]
FIELDS = dict(title="The Great Molasses Flood", artist="Podforge Radio", album="Strange Floods",
              date="2024-01-15", comment="Boston, 15 January 1919.")


@pytest.fixture
def mp3(tmp_path):
    path = tmp_path / "episode.mp3"
    with encode.Mp3Writer(path, RATE, 2) as writer:
        writer.write(np.zeros((RATE, 2), np.float32))
    return path


def test_tags_and_chapters_round_trip(mp3):
    tags.write_tags(mp3, **FIELDS, cover=PNG, chapters=CHAPTERS)

    assert read_chapters(mp3) == list(CHAPTERS)
    found = ID3(mp3)
    assert found.version == (2, 4, 0)
    assert [str(found[key]) for key in ("TIT2", "TPE1", "TALB", "TDRC", "TCON")] == [
        FIELDS["title"], FIELDS["artist"], FIELDS["album"], "2024-01-15", "Podcast"]
    assert found.getall("COMM")[0].text == [FIELDS["comment"]]
    [cover] = found.getall("APIC")
    assert (cover.mime, cover.type, cover.data) == ("image/png", 3, PNG)
    [toc] = found.getall("CTOC")
    assert toc.child_element_ids == ["chp0", "chp1", "chp2"] and toc.flags == 3  # top-level, ordered
    # The audio is untouched and still decodes.
    assert MP3(mp3).info.length == pytest.approx(1.0, abs=0.1)
    assert sf.info(mp3).samplerate == RATE


def test_the_table_of_contents_sets_the_order(mp3):
    tags.write_tags(mp3, **FIELDS, chapters=CHAPTERS)
    found = ID3(mp3)
    found["CTOC:toc"].child_element_ids = ["chp2", "chp0", "chp1"]
    found.save(v2_version=4)
    assert [c.title for c in read_chapters(mp3)] == ["Aftermath", "Cold open",
                                                                  "The tank — 1919"]


def test_writing_again_replaces_the_tags(mp3):
    tags.write_tags(mp3, **FIELDS, cover=PNG, chapters=CHAPTERS)
    tags.write_tags(mp3, **{**FIELDS, "title": "Take two"}, chapters=CHAPTERS[:1])
    found = ID3(mp3)
    assert str(found["TIT2"]) == "Take two"
    assert found.getall("APIC") == [] and len(found.getall("CHAP")) == 1
    assert read_chapters(mp3) == [Chapter("Cold open", 0, 12.345)]


def test_tagging_inside_the_writer_publishes_a_tagged_file(tmp_path):
    path = tmp_path / "episode.mp3"
    jpeg = b"\xff\xd8\xff\xe0" + bytes(100)
    with encode.Mp3Writer(path, RATE, 2, before_commit=lambda temp: tags.write_tags(
            temp, **FIELDS, cover=jpeg, chapters=CHAPTERS)) as writer:
        writer.write(np.zeros((RATE, 2), np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["episode.mp3"]
    assert ID3(path).getall("APIC")[0].mime == "image/jpeg"
    assert len(read_chapters(path)) == 3


def test_an_untagged_file_has_no_chapters(mp3):
    assert read_chapters(mp3) == []


@pytest.mark.parametrize("change,complaint", [
    (dict(date="15/01/2024"), "Invalid isoformat"),
    (dict(chapters=[Chapter("A", 0, 0.1), Chapter("B", 0.05, 0.2)]),
     "must start at or after 100 ms"),
    (dict(chapters=[Chapter("A", 0.1, 0.1)]), "end after it starts"),
    (dict(cover=b"GIF89a"), "neither JPEG nor PNG"),
])
def test_bad_tag_data_is_refused_before_touching_the_file(mp3, change, complaint):
    before = mp3.read_bytes()
    with pytest.raises(ValueError, match=complaint):
        tags.write_tags(mp3, **{**FIELDS, **change})
    assert mp3.read_bytes() == before


def test_chap_frames_are_written_in_start_order(mp3):
    """ffmpeg lists chapters in frame order: long and short titles must not reorder them."""
    import subprocess

    chapters = [Chapter(title, i * 0.5, (i + 1) * 0.5) for i, title in enumerate(
        ("A much longer title for the cold open", "B", "Credits, thanks and a long goodbye",
         "D", "Eleventh-hour", "F", "G", "H", "I", "J", "K", "L"))]
    tags.write_tags(mp3, title="t", artist="a", album="b", date="", chapters=chapters)
    raw = mp3.read_bytes()  # each CHAP frame: a 10-byte header, then its element id
    ids = [raw[m.end() + 6:raw.index(b"\0", m.end() + 6)].decode()
           for m in re.finditer(b"CHAP", raw)]
    assert ids == [f"chp{i}" for i in range(len(chapters))]  # frame after frame, by start
    found = subprocess.run([encode.find_ffmpeg(), "-hide_banner", "-i", str(mp3), "-f",
                            "ffmetadata", "-"], capture_output=True, text=True, check=True).stdout
    titles = [line[len("title="):] for line in found.split("[CHAPTER]", 1)[1].splitlines()
              if line.startswith("title=")]
    assert titles == [c.title for c in chapters]
