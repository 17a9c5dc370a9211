"""The drawn cover carries the show's title: decoded from the PNG bytes cover_art() writes,
the letters are there, where they should be, inside the cover, and the same title gives the
same bytes."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from pipeline.publish.artwork import (ART_DESIGN, TITLE_BOX, cover_art, drawn_cover_name,
                                      image_size)
from pipeline.publish.lettering import (BOX, CAP, GLYPHS, PEN, _strokes, letters, line_width,
                                        set_title, wrap)

SIZE = 700  # big enough for clear letters, small enough to draw quickly


def decode(data: bytes) -> np.ndarray:
    """An 8-bit RGB PNG as a (height, width, 3) array, read chunk by chunk with its CRCs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    i, chunks = 8, {}
    while i < len(data):
        (length,), kind = struct.unpack(">I", data[i:i + 4]), data[i + 4:i + 8]
        body = data[i + 8:i + 8 + length]
        assert struct.unpack(">I", data[i + 8 + length:i + 12 + length])[0] == \
            zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks[kind] = chunks.get(kind, b"") + body
        i += 12 + length
    assert list(chunks)[-1] == b"IEND"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour, interlace) == (8, 2, 0)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, -1)
    filters, rows = raw[:, 0], raw[:, 1:].reshape(height, width, 3)
    assert set(filters.tolist()) <= {0, 1}  # None or Sub: what this writer uses
    sub = filters == 1
    rows = rows.copy()
    rows[sub] = np.cumsum(rows[sub], axis=1, dtype=np.uint8)  # undo Sub, mod 256
    return rows


def bright(pixels: np.ndarray) -> np.ndarray:
    """Where the lettering's warm white is: the sky, rings and shadows never get this light.

    The sun is as bright in red but far less in blue, so blue tells them apart.
    """
    return (pixels.min(axis=2) > 200)


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in a 1-D array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def test_a_cover_without_title_has_no_lettering_and_one_with_has():
    empty = decode(cover_art("", SIZE))
    assert image_size(cover_art("", SIZE)) == ("png", SIZE, SIZE)
    assert not bright(empty).any()  # the design alone has nothing so light
    ab = bright(decode(cover_art("AB", SIZE)))
    assert ab.sum() > 0.01 * SIZE * SIZE  # big letters, not specks


def test_the_letters_stand_apart_centred_in_the_sky():
    ab = bright(decode(cover_art("AB", SIZE)))
    columns, rows = runs(ab.any(axis=0)), runs(ab.any(axis=1))
    assert len(columns) == 2, columns  # A, a clear gap, B
    assert len(rows) == 1  # one line
    left, right = columns[0][0], columns[-1][1]
    assert abs((left + right) / 2 - SIZE / 2) < 0.02 * SIZE  # centred across
    top, bottom = rows[0]
    box_top, box_bottom = TITLE_BOX[1] * SIZE, TITLE_BOX[3] * SIZE
    assert box_top <= top and bottom <= box_bottom  # above the sun
    assert bottom - top > 0.08 * SIZE  # large letters


def test_lowercase_and_accents_draw_as_plain_capitals():
    assert letters("Café  Zürich’s “Nights” — vol. 2") == "CAFE ZURICH'S \"NIGHTS\" - VOL. 2"
    plain, lower = bright(decode(cover_art("CAFE", SIZE))), bright(decode(cover_art("café", SIZE)))
    assert (plain != lower).sum() < 0.02 * plain.sum()  # the same letters (edges blend with
    # each title's own sky colour, so a few edge pixels fall either side of the threshold)


def test_two_titles_differ_in_the_title_area():
    one, other = bright(decode(cover_art("The Daybook", SIZE))), \
        bright(decode(cover_art("The Nightbook", SIZE)))
    assert (one != other).sum() > 0.005 * SIZE * SIZE
    rows = np.flatnonzero((one != other).any(axis=1))
    assert TITLE_BOX[1] * SIZE <= rows.min() and rows.max() <= TITLE_BOX[3] * SIZE


def test_same_title_same_bytes_and_a_new_design_name():
    assert cover_art("The Daybook", 300) == cover_art("The Daybook", 300)
    assert ART_DESIGN != "dusk-1"  # the lettered cover is a new design: published under a new URL
    assert drawn_cover_name("The Daybook") != drawn_cover_name("The Nightbook")


@pytest.mark.parametrize("title", [
    "Tales from the Quiet Coast: Stories of 1998 & Beyond",
    " ".join(["Word"] * 60),
    "Supercalifragilisticexpialidociousnessesque",
])
def test_a_long_title_wraps_and_stays_inside_the_cover(title):
    ink = bright(decode(cover_art(title, SIZE)))
    lines = runs(ink.any(axis=1))
    assert 2 <= len(lines) <= 4, lines
    columns = np.flatnonzero(ink.any(axis=0))
    left, top, right, bottom = (edge * SIZE for edge in TITLE_BOX)
    assert left <= columns.min() and columns.max() <= right
    assert top <= lines[0][0] and lines[-1][1] <= bottom


def test_set_title_keeps_every_line_in_the_box_and_balances_them():
    width, height = 1000.0, 400.0
    layout = set_title("Tales from the Quiet Coast: Stories of 1998 & Beyond", width, height)
    assert 2 <= len(layout.lines) <= 4
    assert all((line_width(line) + PEN) * layout.unit <= width + 1e-6 for line in layout.lines)
    ink_height = (len(layout.lines) - 1) * layout.leading + (CAP + PEN) * layout.unit
    assert ink_height <= height + 1e-6
    assert " ".join(layout.lines) == letters("Tales from the Quiet Coast: Stories of 1998 & "
                                             "Beyond")  # nothing lost or reordered
    widths = [line_width(line) for line in layout.lines]
    assert min(widths) > 0.5 * max(widths)  # balanced: no lone word on the last line
    cut = set_title(" ".join(["Word"] * 60), width, height)
    assert len(cut.lines) == 4 and cut.lines[-1].endswith("...")


def test_wrap_splits_only_a_word_longer_than_the_line():
    assert wrap("AB CD", line_width("AB CD")) == ["AB CD"]
    assert wrap("AB CD", line_width("AB")) == ["AB", "CD"]
    assert wrap("ABCDEF", line_width("ABC")) == ["ABC", "DEF"]


def test_every_glyph_keeps_to_its_cell_and_others_get_a_box():
    for char, (width, _) in GLYPHS.items():
        points = np.concatenate(_strokes(char)[1])
        assert points[:, 0].min() >= -0.15 and points[:, 0].max() <= width + 0.15, char
        assert points[:, 1].min() >= -0.6 and points[:, 1].max() <= CAP + 1.3, char
    for other in ("~", "\u4e16", "\u00bd"):
        assert _strokes(other)[0] == BOX[0]
        assert all(np.array_equal(a, b) for a, b in zip(_strokes(other)[1], _strokes("~")[1]))
    boxed = bright(decode(cover_art("~", SIZE)))
    (top, bottom), = runs(boxed.any(axis=1))
    assert len(runs(boxed[(top + bottom) // 2])) == 2  # a box: two sides, empty inside


def test_a_line_never_starts_with_a_dash():
    assert wrap("CAFE - NIGHTS", line_width("CAFE - N")) == ["CAFE -", "NIGHTS"]
    layout = set_title("Café Zürich — “Nights” (Vol. 2)?!", 1176, 532)
    assert not any(line.startswith("-") for line in layout.lines), layout.lines
