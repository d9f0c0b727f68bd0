"""Sample grids as PNG files, with numpy and zlib alone (no plotting library needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _write_png_gray(path: Path, img: np.ndarray) -> None:
    """An 8-bit grayscale PNG of `img` (2-D, values in [0, 1]) with zlib alone: no plotting library."""
    import struct
    import zlib

    pix = np.clip(np.rint(255 * img), 0, 255).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in pix)  # filter type 0 per scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", pix.shape[1], pix.shape[0], 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                     + chunk(b"IEND", b""))


def _digit_grid(images: np.ndarray, n: int, scale: int = 4) -> np.ndarray:
    """n x n 8x8 images (rows of 64 values in [0, 1]) as one picture: ink dark on white, upscaled."""
    tile = 8 * scale + 2
    grid = np.ones((n * tile, n * tile))
    for k, img in enumerate(images[: n * n]):
        r, c = divmod(k, n)
        big = np.kron(img.reshape(8, 8), np.ones((scale, scale)))
        grid[r * tile + 1: r * tile + 1 + 8 * scale, c * tile + 1: c * tile + 1 + 8 * scale] = 1.0 - big
    return grid
