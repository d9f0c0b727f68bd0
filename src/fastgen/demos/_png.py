"""Digit grids as pictures: the tiled array, and a PNG writer with numpy and zlib alone (the figure
of last resort when matplotlib is missing)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

GUTTER_GREY = 0.6  # the gutters of the plain PNG: mid grey, apart from the white tiles and black ink


def _write_png_gray(path: Path, img: np.ndarray, text: dict[str, str] | None = None) -> None:
    """An 8-bit grayscale PNG of `img` (2-D, values in [0, 1], 1 = white) with zlib alone; `text`
    becomes tEXt chunks (PNG's keywords: "Title", "Description", ...), as matplotlib's metadata does."""
    import struct
    import zlib

    pix = np.clip(np.rint(255 * img), 0, 255).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in pix)  # filter type 0 per scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", pix.shape[1], pix.shape[0], 8, 0, 0, 0, 0)
    texts = b"".join(chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1", "replace"))
                     for key, value in (text or {}).items())
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + texts
                     + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _png_text(path: Path) -> dict[str, str]:
    """The tEXt chunks of a PNG file as {keyword: text} (where matplotlib and _write_png_gray put the
    figure's title and caption)."""
    import struct

    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    out, pos = {}, 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"tEXt":
            key, _, value = data[pos + 8:pos + 8 + length].partition(b"\x00")
            out[key.decode("latin-1")] = value.decode("latin-1")
        if kind == b"IEND":
            break
        pos += 12 + length
    return out


def _digit_grid(images: np.ndarray, n: int, scale: int = 4, n_cols: int | None = None,
                gutter: float = GUTTER_GREY) -> np.ndarray:
    """n x n_cols (default n x n) 8x8 images (rows of 64 ink values in [0, 1]) as one picture, row
    major: ink dark on white tiles (1 = white), each tile upscaled `scale` times inside a one-cell
    border of `gutter` (grey by default; NaN for a colour of matplotlib's choosing), so that
    neighbouring tiles are two cells apart."""
    n_cols = n if n_cols is None else n_cols
    tile = 8 * scale + 2
    grid = np.full((n * tile, n_cols * tile), gutter, dtype=float)
    for k, img in enumerate(np.asarray(images, dtype=float)[: n * n_cols]):
        r, c = divmod(k, n_cols)
        big = np.kron(img.reshape(8, 8), np.ones((scale, scale)))
        grid[r * tile + 1: r * tile + 1 + 8 * scale, c * tile + 1: c * tile + 1 + 8 * scale] = 1.0 - big
    return grid


def _plain_digit_png(path: Path, grids: list[np.ndarray], text: dict[str, str]) -> None:
    """Grids (from _digit_grid with the grey gutter) side by side as one grayscale PNG, a grey band
    between them; `text` as tEXt chunks."""
    height = max(g.shape[0] for g in grids)
    parts = []
    for i, g in enumerate(grids):
        if i:
            parts.append(np.full((height, 12), GUTTER_GREY))
        parts.append(np.vstack([g, np.full((height - g.shape[0], g.shape[1]), GUTTER_GREY)]))
    _write_png_gray(path, np.hstack(parts), text)
