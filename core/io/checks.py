"""The reader's checks and its one error: sizes from the header, pixels after decoding.

A message names what is wrong, never a value, file name or path (`core.privacy`); every
decoder of the package raises through `error`.
"""

from __future__ import annotations

import numpy as np

from core.errors import ImageTooLargeError, InvalidImageError

MAX_PIXELS = 50_000_000  # decoded pixels; the largest real full-field mammograms are about 30 M
BLOCK_ROWS = 256  # rows converted to float at a time (bounds the float64 temporaries)
MIN_SIDE = 32
MAX_ASPECT = 10.0
SUPPORTED = "DICOM, PNG, JPEG, TIFF, PGM or WebP"


def error(label: str | None, text: str, kind: type[InvalidImageError] = InvalidImageError) -> InvalidImageError:
    return kind(f"{label}: {text}" if label else text)


def limit_text(max_pixels: int) -> str:
    return f"{max_pixels / 1e6:g} megapixels" if max_pixels >= 1_000_000 else f"{max_pixels:,} pixels"


def check_size(rows: int, cols: int, label: str | None, max_pixels: int) -> None:
    """Reject from header dimensions alone, before decoding (decompression bombs).

    The dimensions are not repeated: a header field's value never appears in a message.
    """
    if rows <= 0 or cols <= 0:
        raise error(label, "image has no pixels")
    if rows * cols > max_pixels:
        raise error(label, f"image too large: its decoded size exceeds the limit of {limit_text(max_pixels)}",
                     ImageTooLargeError)
    if min(rows, cols) < MIN_SIDE:
        raise error(label, f"image is too small (under {MIN_SIDE} px a side)")
    if max(rows, cols) / min(rows, cols) > MAX_ASPECT:
        raise error(label, f"image aspect ratio exceeds {MAX_ASPECT:g}")


def check_pixels(pixels: np.ndarray, label: str | None) -> None:
    if pixels.ndim != 2:
        raise error(label, "expected one grey-level plane")
    if not np.isfinite(pixels).all():
        raise error(label, "image contains non-finite values")


def to_unit_float32(arr: np.ndarray, scale: float) -> np.ndarray:
    """float32(arr / scale), computed in float64 a block of rows at a time (same values, less memory)."""
    out = np.empty(arr.shape, dtype=np.float32)
    for start in range(0, arr.shape[0], BLOCK_ROWS):
        block = arr[start:start + BLOCK_ROWS].astype(np.float64)
        block /= scale
        out[start:start + BLOCK_ROWS] = block
    return out
