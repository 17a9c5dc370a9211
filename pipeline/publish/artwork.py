"""Cover art: reading a square PNG or JPEG's size, and drawing an original cover for a show
that has none. Shared by the build (the MP3's APIC frame) and the publish stage (the feed)."""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import PublishError
from pipeline.publish.lettering import CAP, Lettering, render, set_title

if TYPE_CHECKING:
    from pipeline.show import Show

ART_SIZES = (1400, 3000)  # Apple Podcasts: square, 1400–3000 px on a side


def image_size(data: bytes) -> tuple[str, int, int] | None:
    """("png" | "jpeg", width, height) from an image's header, or None if it is neither."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return "jpeg", width, height
        else:
            i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def check_artwork(path: Path, data: bytes) -> str:
    """The file extension the art is served under; PublishError naming the file if unfit."""
    found = image_size(data)
    if found is None:
        raise PublishError(f"{path}: cover art must be a PNG or JPEG image")
    kind, width, height = found
    low, high = ART_SIZES
    if width != height or not low <= width <= high:
        raise PublishError(f"{path}: cover art is {width}×{height} px; podcast apps need a "
                           f"square image {low}–{high} px on a side (e.g. 3000×3000)")
    return "png" if kind == "png" else "jpg"


@dataclass(frozen=True)
class Cover:
    """show.yaml's cover art, read and checked: what the MP3's APIC frame and the feed carry."""

    data: bytes
    mime: str  # image/png | image/jpeg
    extension: str  # png | jpg

    @property
    def name(self) -> str:
        """Its published file name: a new image gets a new URL (podcast apps cache by URL)."""
        return f"cover-{hashlib.sha256(self.data).hexdigest()[:12]}.{self.extension}"


def read_cover(show: Show) -> Cover | None:
    """show.yaml's artwork, checked (square PNG/JPEG, 1400–3000 px), or None if it names none.

    The one loader: the build tags the MP3 with it and publish serves it, so both refuse the
    same files with the same message.
    """
    if not show.artwork:
        return None
    path = show.resolve(show.artwork, "artwork")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise PublishError(f"{path}: cannot read the cover art named in show.yaml "
                           f"(artwork: {show.artwork}): {err.strerror}") from None
    extension = check_artwork(path, data)
    return Cover(data, "image/png" if extension == "png" else "image/jpeg", extension)


def png(pixels: np.ndarray) -> bytes:
    """An RGB uint8 array as PNG bytes (Sub-filtered rows, zlib): no imaging library needed."""
    height, width, _ = pixels.shape
    rows = np.diff(pixels.astype(np.uint8), axis=1, prepend=np.uint8(0))  # wraps mod 256
    raw = np.concatenate([np.ones((height, 1), np.uint8), rows.reshape(height, -1)], axis=1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


TITLE_BOX = (0.08, 0.06, 0.92, 0.44)  # left, top, right, bottom as parts of the side: the sky
TITLE_CAP = 0.14  # the largest cap height, as a part of the side


def title_lettering(title: str, size: int) -> Lettering:
    """The title set and drawn for a `size` px cover: its ink and halo masks, and where."""
    left, top, right, bottom = (edge * size for edge in TITLE_BOX)
    halo = 0.012 * size
    layout = set_title(title, right - left - 2 * halo, bottom - top - 2 * halo,
                       max_unit=TITLE_CAP * size / CAP)
    return render(layout, size, size, ((left + right) / 2, (top + bottom) / 2), halo)


def cover_art(title: str, size: int = 1400) -> bytes:
    """An original square cover for a show without one: dusk sky, low sun, radio rings, and
    the show's title lettered large in the sky above the sun.

    The sky's hue (teal to magenta) comes from the title, so each show gets its own colours,
    and the same title always gives the same bytes.
    """
    hue = 0.5 + 0.45 * int(hashlib.sha256(title.encode()).hexdigest()[:4], 16) / 0xFFFF  # dusk
    axis = (np.arange(size).astype(np.float32) + 0.5) / size
    y, x = axis[:, None], axis[None, :]  # a column and a row: what depends on one is drawn once

    def colour(h: float, s: float, v: float) -> np.ndarray:  # HSV → RGB
        k = (np.array([5.0, 3.0, 1.0]) + h * 6) % 6
        return (v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)).astype(np.float32)

    t = (y ** 1.4)[..., None]
    sky = colour(hue, 0.7, 0.2) * (1 - t) + colour(hue + 0.06, 0.5, 0.6) * t
    img = np.broadcast_to(sky, (size, size, 3)).copy()
    r = np.hypot(x - 0.5, y - 0.66)
    edge = np.float32(size)  # distances in pixels give one-pixel antialiased edges

    def paint(rgb: np.ndarray, alpha: np.ndarray) -> None:  # only the rows it touches
        rows = np.flatnonzero(alpha.any(axis=1))
        if rows.size:
            part, cover = img[rows[0]:rows[-1] + 1], alpha[rows[0]:rows[-1] + 1]
            part += (rgb - part) * cover[..., None]

    ring = np.clip(0.5 - (np.abs((r - 0.2 + 0.0375) % 0.075 - 0.0375) - 0.004) * edge, 0, 1)
    paint(np.float32([1, 1, 1]), ring * np.clip(0.3 - 0.45 * (r - 0.2), 0, 0.3) * (r > 0.22))
    paint(colour(0.085, 0.42, 1.0), np.clip(0.5 - (r - 0.19) * edge, 0, 1))
    horizon = 0.8 + 0.018 * np.sin(x * 5 * np.pi) + 0.01 * np.sin(x * 14 * np.pi + 1)
    paint(colour(hue + 0.02, 0.6, 0.12), np.clip(0.5 + (y - horizon) * edge, 0, 1))
    text = title_lettering(title, size)
    box = img[text.top:text.top + text.ink.shape[0], text.left:text.left + text.ink.shape[1]]
    box += (colour(hue, 0.7, 0.08) - box) * (text.halo * 0.6)[..., None]  # legible over rings
    box += (colour(0.1, 0.1, 1.0) - box) * text.ink[..., None]  # warm white, the sun's light
    return png((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8))




ART_DESIGN = "dusk-2"  # change when cover_art() draws differently, so the art gets a new URL


def drawn_cover_name(title: str) -> str:
    """The file name of the cover cover_art() draws for a show without one."""
    digest = hashlib.sha256(f"{ART_DESIGN}:{title}".encode()).hexdigest()[:12]
    return f"cover-{digest}.png"


THUMBNAIL = 300  # px: the index shows the cover at 144 CSS px, 288 on a 2× screen


def thumbnail_name(art_name: str) -> str:
    """The small cover's file name beside the full one (it changes when the art does)."""
    return f"{Path(art_name).stem}-{THUMBNAIL}.png"


def thumbnail(data: bytes, ffmpeg: str, size: int = THUMBNAIL) -> bytes:
    """A `size` px PNG of a PNG or JPEG cover, scaled by ffmpeg (no imaging library here)."""
    import subprocess

    done = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "image2pipe",
                           "-i", "-", "-vf", f"scale={size}:{size}:flags=lanczos",
                           "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-"],
                          input=data, capture_output=True, check=False)
    if done.returncode != 0 or image_size(done.stdout) is None:
        raise PublishError(f"cannot make the {size} px thumbnail of the cover art: "
                           f"{done.stderr.decode(errors='replace').strip() or 'ffmpeg failed'}")
    return done.stdout
