"""Lettering for the drawn cover: a small original stroke font, word wrapping and rendering.

No imaging or font library: each glyph is a few strokes on a grid six units tall (capitals
only), drawn as round-ended pen strokes into a pixel mask at several samples per pixel and
averaged down, so the edges are anti-aliased. Pure numpy, deterministic: same text, same mask.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CAP = 6.0  # the grid's cap height: glyphs span y 0 (top) … 6 (baseline), y grows downwards
PEN = 1.05  # stroke width in grid units: bold enough to read on a 300 px thumbnail
GAP = 1.35  # clear space between letters' strokes (well spaced, reads at a glance)
SPACE = 3.4  # a word space
SUPERSAMPLE = 4  # samples per pixel along each axis
ARC_STEPS = 36  # polygon sides for a full turn of an arc (under half a pixel off at 1400 px)

# Each glyph: its width in grid units and its strokes. A stroke is a run of tokens: "x,y" a
# point, "(cx,cy,rx,ry,a0,a1)" an elliptical arc from angle a0 to a1 in degrees (0 = right,
# 90 = down). A stroke with one point is a dot.
GLYPHS: dict[str, tuple[float, tuple[str, ...]]] = {
    "A": (4.4, ("0,6 2.2,0 4.4,6", "0.8,4 3.6,4")),
    "B": (3.9, ("0,3 0,0 2.3,0 (2.3,1.5,1.4,1.5,-90,90) 0,3 2.4,3 (2.4,4.5,1.5,1.5,-90,90) 0,6 0,3",)),
    "C": (4.0, ("(2.2,3,2.2,3,-42,-318)",)),
    "D": (4.2, ("0,0 0,6 1.6,6 (1.6,3,2.6,3,90,-90) 0,0",)),
    "E": (3.5, ("3.5,0 0,0 0,6 3.5,6", "0,3 3,3")),
    "F": (3.4, ("3.4,0 0,0 0,6", "0,3 2.9,3")),
    "G": (4.3, ("(2.2,3,2.2,3,-42,-360) 4.4,3.2 2.5,3.2",)),
    "H": (4.0, ("0,0 0,6", "4,0 4,6", "0,3 4,3")),
    "I": (0.0, ("0,0 0,6",)),
    "J": (3.0, ("3,0 3,4.5 (1.5,4.5,1.5,1.5,0,180)",)),
    "K": (3.9, ("0,0 0,6", "3.9,0 0,3.9", "1.5,2.4 3.9,6")),
    "L": (3.3, ("0,0 0,6 3.3,6",)),
    "M": (5.0, ("0,6 0,0 2.5,4.2 5,0 5,6",)),
    "N": (4.0, ("0,6 0,0 4,6 4,0",)),
    "O": (4.6, ("(2.3,3,2.3,3,0,360)",)),
    "P": (3.8, ("0,6 0,0 2.2,0 (2.2,1.65,1.6,1.65,-90,90) 0,3.3",)),
    "Q": (4.6, ("(2.3,3,2.3,3,0,360)", "2.8,4.3 4.6,6.2")),
    "R": (3.9, ("0,6 0,0 2.2,0 (2.2,1.65,1.6,1.65,-90,90) 0,3.3", "2,3.3 3.9,6")),
    "S": (3.8, ("(1.9,1.5,1.75,1.5,-20,-270) (1.9,4.5,1.9,1.5,-90,160)",)),
    "T": (4.0, ("0,0 4,0", "2,0 2,6")),
    "U": (4.0, ("0,0 0,4 (2,4,2,2,180,0) 4,0",)),
    "V": (4.4, ("0,0 2.2,6 4.4,0",)),
    "W": (5.8, ("0,0 1.4,6 2.9,1.4 4.4,6 5.8,0",)),
    "X": (4.2, ("0,0 4.2,6", "4.2,0 0,6")),
    "Y": (4.2, ("0,0 2.1,3.2 4.2,0", "2.1,3.2 2.1,6")),
    "Z": (4.0, ("0,0 4,0 0,6 4,6",)),
    "0": (3.8, ("(1.9,3,1.9,3,0,360)",)),
    "1": (1.7, ("0,1.3 1.7,0 1.7,6",)),
    "2": (3.7, ("(1.8,1.8,1.75,1.8,-165,25) 0,6 3.7,6",)),
    "3": (3.6, ("(1.7,1.5,1.6,1.5,-160,90) (1.7,4.5,1.9,1.5,-90,160)",)),
    "4": (4.0, ("3,6 3,0 0,4.2 4,4.2",)),
    "5": (3.7, ("3.5,0 0.4,0 0.2,3 (1.8,4.1,1.9,1.9,-150,150)",)),
    "6": (3.8, ("(1.9,4.1,1.9,1.9,0,360)", "(3.9,4.1,3.9,4.1,-98,-180)")),
    "7": (3.8, ("0,0 3.8,0 1.3,6",)),
    "8": (3.7, ("(1.85,1.5,1.5,1.5,0,360)", "(1.85,4.45,1.85,1.55,0,360)")),
    "9": (3.8, ("(1.9,1.9,1.9,1.9,0,360)", "(-0.1,1.9,3.9,4.1,0,82)")),
    ".": (0.0, ("0,6",)),
    ",": (0.5, ("0.5,6 0,7.2",)),
    ":": (0.0, ("0,2.4", "0,6")),
    ";": (0.5, ("0.5,2.4", "0.5,6 0,7.2")),
    "!": (0.0, ("0,0 0,4.1", "0,6")),
    "?": (3.4, ("(1.7,1.7,1.7,1.7,-165,90) 1.7,4.1", "1.7,6")),
    "'": (0.0, ("0,0 0,1.7",)),
    '"': (1.4, ("0,0 0,1.7", "1.4,0 1.4,1.7")),
    "-": (2.4, ("0,3.4 2.4,3.4",)),
    "+": (3.2, ("0,3.2 3.2,3.2", "1.6,1.6 1.6,4.8")),
    "=": (3.2, ("0,2.4 3.2,2.4", "0,4.2 3.2,4.2")),
    "/": (3.0, ("3,0 0,6",)),
    "(": (1.3, ("(2.6,3,2.6,3.3,235,125)",)),
    ")": (1.3, ("(-1.3,3,2.6,3.3,-55,55)",)),
    "&": (4.4, ("4.4,6 1.1,2.2 (1.9,1.3,1.2,1.35,140,390) 0.3,4.3 "
                "(1.8,4.6,1.55,1.4,190,-25) 4.3,3.4",)),
    "%": (4.2, ("(0.8,1,0.8,1,0,360)", "(3.4,5,0.8,1,0,360)", "3.8,0 0.4,6")),
    "#": (4.2, ("1.4,0.4 0.9,5.6", "3.3,0.4 2.8,5.6", "0,2 4.2,2", "0,4 4.2,4")),
    "*": (3.0, ("1.5,0 1.5,3", "0,0.8 3,2.2", "0,2.2 3,0.8")),
    "$": (3.8, ("(1.9,1.6,1.75,1.3,-20,-270) (1.9,4.2,1.9,1.3,-90,160)", "1.9,-0.5 1.9,6.5")),
    "@": (5.6, ("(2.8,3.4,1,1.2,0,360) 3.8,4.4 (4.6,4.1,0.8,0.8,180,-30) "
                "(2.8,3.4,2.8,2.8,-25,-330)",)),
}
BOX = (3.6, ("0,0 3.6,0 3.6,6 0,6 0,0",))  # any other character: an empty box, as fonts do

# Typographic forms the font draws with its plain ones.
PLAIN = str.maketrans({"‘": "'", "’": "'", "‚": ",", "“": '"', "”": '"', "„": '"', "–": "-",
                       "—": "-", "‐": "-", "‑": "-", "−": "-", "…": "...", "×": "X",
                       "«": '"', "»": '"'})


def letters(text: str) -> str:
    """What the font draws for `text`: capitals, accents dropped, typographic marks plain."""
    decomposed = unicodedata.normalize("NFKD", text.translate(PLAIN))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.upper().translate(PLAIN).split())


@lru_cache(maxsize=None)
def _strokes(char: str) -> tuple[float, tuple[np.ndarray, ...]]:
    """A glyph's width and its strokes as point arrays (n, 2) in grid units."""
    width, specs = GLYPHS.get(char, BOX)
    strokes = []
    for spec in specs:
        points: list[tuple[float, float]] = []
        for token in spec.replace("(", " (").replace(")", ") ").split():
            if token.startswith("("):
                cx, cy, rx, ry, a0, a1 = map(float, token.strip("()").split(","))
                steps = max(2, math.ceil(abs(a1 - a0) / 360 * ARC_STEPS))
                for angle in np.radians(np.linspace(a0, a1, steps + 1)):
                    points.append((cx + rx * math.cos(angle), cy + ry * math.sin(angle)))
            else:
                x, y = map(float, token.split(","))
                points.append((x, y))
        strokes.append(np.array(points, np.float64))
    return width, tuple(strokes)


@lru_cache(maxsize=None)
def advance(char: str) -> float:
    """How far a character moves the pen, in grid units."""
    if char == " ":
        return SPACE
    return _strokes(char)[0] + PEN + GAP


def line_width(line: str) -> float:
    """A line's inked width in grid units (no gap after its last letter)."""
    return sum(advance(c) for c in line) - GAP if line else 0.0


def words(text: str) -> list[str]:
    """The units a line may break between: words, a spaced dash kept with the word before it
    (a line never starts with a dash)."""
    units: list[str] = []
    for word in text.split():
        if units and word.strip("-") == "":
            units[-1] += " " + word
        else:
            units.append(word)
    return units


def wrap(text: str, width: float) -> list[str]:
    """Greedy word wrap to `width` grid units; a word longer than a line is split by letters."""
    lines: list[str] = []
    current = ""
    for word in words(text):
        while line_width(word) > width and len(word) > 1:  # fill what is left, then split
            head = word[:1]
            room = f"{current} " if current else ""
            while len(head) < len(word) and line_width(room + word[:len(head) + 1]) <= width:
                head = word[:len(head) + 1]
            if current and line_width(room + head) > width:
                lines.append(current)
                current = ""
                continue
            lines.append(room + head)
            current, word = "", word[len(head):]
        trial = f"{current} {word}" if current else word
        if current and line_width(trial) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return lines


def balance(text: str, count: int, width: float) -> list[str] | None:
    """`text`'s words in `count` lines no wider than `width`, as even as they can be (least
    sum of squared slack, the last line included), or None if they do not fit."""
    units = words(text)
    n = len(units)
    ends = np.concatenate([[0.0], np.cumsum([line_width(unit) + GAP for unit in units])])

    def span(i: int, j: int) -> float:  # line_width(" ".join(units[i:j])), from the sums
        return ends[j] - ends[i] + (j - i - 1) * SPACE - GAP
    inf = float("inf")
    # cost[k][j]: the best k lines holding the first j words; back[k][j]: where the last began
    cost = [[inf] * (n + 1) for _ in range(count + 1)]
    back = [[0] * (n + 1) for _ in range(count + 1)]
    cost[0][0] = 0.0
    for k in range(1, count + 1):
        for j in range(1, n + 1):
            for i in range(k - 1, j):
                if cost[k - 1][i] < inf and (room := width - span(i, j)) >= -1e-9:
                    c = cost[k - 1][i] + room ** 2
                    if c < cost[k][j]:
                        cost[k][j], back[k][j] = c, i
    if cost[count][n] == inf:
        return None
    lines, j = [], n
    for k in range(count, 0, -1):
        i = back[k][j]
        lines.append(" ".join(units[i:j]))
        j = i
    return lines[::-1]


@dataclass(frozen=True)
class Layout:
    """A title set for a box: its lines and the pixel size of one grid unit."""

    lines: tuple[str, ...]
    unit: float  # px per grid unit
    leading: float  # baseline to baseline, px


def set_title(text: str, box_width: float, box_height: float, max_lines: int = 4,
              max_unit: float | None = None) -> Layout:
    """The largest setting of `text` that fits the box in at most `max_lines` lines.

    Each line count is tried and the one giving the biggest letters wins; its lines are then
    balanced (the narrowest wrap with as many lines), so no word is left alone on a last line.
    A title that would come out small (too many words, or one very long word) is set at the
    size of `max_lines` full lines instead, words split where they must and the end cut with an
    ellipsis: never drawn outside the box.
    """
    text = letters(text)
    line_gap = 0.5  # of the cap height, between lines
    tall = CAP + PEN  # ink height of one line in grid units (pen ends stick out by PEN/2)

    def fit_height(count: int) -> float:
        unit = box_height / (count * tall + (count - 1) * line_gap * CAP)
        return min(unit, max_unit) if max_unit else unit

    def layout(lines: list[str], unit: float) -> Layout:
        return Layout(tuple(lines), unit, (CAP + line_gap * CAP) * unit)

    if not text:
        return layout([], fit_height(1))
    widest_word = max(map(line_width, words(text)))
    best: Layout | None = None
    for count in range(1, max_lines + 1):
        low, high = widest_word, max(widest_word, line_width(text))  # high: one line, fits
        if len(wrap(text, low)) <= count:
            high = low
        for _ in range(30 if high > low else 0):  # the narrowest line width that still takes `count` lines
            middle = (low + high) / 2
            low, high = (low, middle) if len(wrap(text, middle)) <= count else (middle, high)
        lines = balance(text, len(wrap(text, high)), high) or wrap(text, high)
        unit = min(fit_height(count), box_width / (max(map(line_width, lines)) + PEN))
        if best is None or unit > best.unit * 1.08:  # more lines only for clearly bigger letters
            best = layout(lines, unit)
    floor = fit_height(max_lines)
    if best is not None and best.unit >= 0.75 * floor:
        return best
    width = box_width / floor - PEN
    lines = wrap(text, width)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and line_width(last + "...") > width:
            last = last[:-1].rstrip()
        lines[-1] = last + "..."
    return layout(lines, floor)


def _segment_distance(px: np.ndarray, py: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from the sample grid (px row, py column) to the segment a–b."""
    dx, dy = b - a
    length2 = dx * dx + dy * dy
    ox, oy = px - a[0], py - a[1]
    if length2 == 0:
        return np.hypot(ox, oy)
    t = np.clip((ox * dx + oy * dy) / length2, 0, 1)
    return np.hypot(ox - t * dx, oy - t * dy)


def _paint_glyph(distance: np.ndarray, char: str, left: float, top: float, scale: float,
                 reach: float) -> None:
    """Lower `distance` (samples, from the nearest stroke's centre line) for one glyph.

    Each segment only touches the samples within `reach` of its bounding box, so the cost
    follows the ink, not the glyph's box.
    """
    rows, cols = distance.shape
    for stroke in _strokes(char)[1]:
        points = stroke * scale + (left, top)
        pairs = zip(points[:-1], points[1:]) if len(points) > 1 else [(points[0], points[0])]
        for a, b in pairs:
            x0 = max(0, int(min(a[0], b[0]) - reach))
            x1 = min(cols, int(max(a[0], b[0]) + reach) + 1)
            y0 = max(0, int(min(a[1], b[1]) - reach))
            y1 = min(rows, int(max(a[1], b[1]) + reach) + 1)
            if x0 >= x1 or y0 >= y1:
                continue
            px = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
            py = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
            window = distance[y0:y1, x0:x1]
            np.minimum(window, _segment_distance(px, py, a.astype(np.float32),
                                                 b.astype(np.float32)), out=window)


@dataclass(frozen=True)
class Lettering:
    """Coverage masks (0–1, float32) of set lines, cut to their box at (top, left) px."""

    top: int
    left: int
    ink: np.ndarray
    halo: np.ndarray  # the same ink grown by the halo's width


def render(layout: Layout, width: int, height: int, centre: tuple[float, float],
           halo: float = 0.0) -> Lettering:
    """The lines centred on `centre` (px) of a `width` × `height` picture, with a halo.

    The halo, laid dark under the letters, keeps them legible whatever the background does
    behind them. Samples are taken SUPERSAMPLE² per pixel, in or out of the ink, and averaged.
    """
    s = SUPERSAMPLE
    empty = Lettering(0, 0, np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32))
    if not layout.lines:
        return empty
    scale = layout.unit * s  # samples per grid unit
    cx, cy = centre
    block = (len(layout.lines) - 1) * layout.leading + CAP * layout.unit
    first_top = cy - block / 2
    margin = PEN / 2 * layout.unit + halo + 2
    inked = [(line, cx - line_width(line) * layout.unit / 2, first_top + i * layout.leading)
             for i, line in enumerate(layout.lines)]
    # work only on the block's bounding box, in whole pixels
    bx0 = max(0, int(min(left for _, left, _ in inked) - margin))
    bx1 = min(width, int(max(left + line_width(line) * layout.unit
                             for line, left, _ in inked) + margin) + 1)
    by0 = max(0, int(first_top - margin))
    by1 = min(height, int(first_top + block + PEN * layout.unit + margin) + 1)
    if bx0 >= bx1 or by0 >= by1:
        return empty
    distance = np.full(((by1 - by0) * s, (bx1 - bx0) * s), np.inf, np.float32)
    reach = PEN / 2 * scale + 1
    for line, left, top in inked:
        pen = left + PEN / 2 * layout.unit  # the first stroke's edge sits on the line's left
        for char in line:
            if char != " ":
                _paint_glyph(distance, char, (pen - bx0) * s, (top - by0) * s, scale, reach)
            pen += advance(char) * layout.unit
    radius = PEN / 2 * scale

    def down(inside: np.ndarray) -> np.ndarray:  # the share of each s × s block inside
        h, w = inside.shape
        counts = inside.view(np.uint8).reshape(h // s, s, w // s, s).sum(axis=(1, 3),
                                                                           dtype=np.uint8)
        return counts.astype(np.float32) / np.float32(s * s)

    ink = down(distance <= radius)
    return Lettering(by0, bx0, ink, _spread(ink, halo))


def _box_blur(mask: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """A running mean 2·radius + 1 px wide along one axis (edges padded with zeros)."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius + 1, radius)
    total = np.cumsum(np.pad(mask, pad), axis=axis, dtype=np.float32)
    ahead = total.take(np.arange(2 * radius + 1, total.shape[axis]), axis=axis)
    behind = total.take(np.arange(0, total.shape[axis] - 2 * radius - 1), axis=axis)
    return (ahead - behind) / np.float32(2 * radius + 1)


def _spread(ink: np.ndarray, halo: float) -> np.ndarray:
    """The ink grown into a soft halo about `halo` px wide: two box blurs, then lifted so the
    halo is solid close to the letters and fades out."""
    radius = max(1, round(halo / 2))
    soft = ink
    for _ in range(2):
        soft = _box_blur(_box_blur(soft, radius, 0), radius, 1)
    return np.clip(soft * 3, 0, 1).astype(np.float32)
