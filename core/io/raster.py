"""PNG, JPEG, TIFF, PGM and WebP through Pillow, to grey float32 pixels and `SafeMeta`."""

from __future__ import annotations

import io
import struct

import numpy as np

from core.errors import ImageTooLargeError, InvalidImageError
from core.io.checks import check_size, error, to_unit_float32
from core.types import SafeMeta



def read_pillow(data: bytes, fmt: str, label: str | None, max_pixels: int) -> tuple[np.ndarray, SafeMeta]:
    """PNG / JPEG / TIFF / PGM / WebP via Pillow, keeping 16-bit precision.

    Text chunks (PNG tEXt / zTXt / iTXt, TIFF and EXIF tags) are never read into the metadata.
    """
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data))  # lazy: reads the header only
    except Image.DecompressionBombError as exc:
        raise error(label, "image too large (decompression bomb)", ImageTooLargeError) from exc
    except Image.UnidentifiedImageError as exc:  # its message holds a BytesIO repr: say it plainly
        raise error(label, f"corrupt or unsupported {fmt} data") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise error(label, f"corrupt or unsupported {fmt} data") from exc
    with im:
        cols, rows = im.size
        check_size(rows, cols, label, max_pixels)
        try:
            frames = getattr(im, "n_frames", 1)
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise error(label, f"corrupt or truncated {fmt} data") from exc
        if frames > 1:
            raise error(label, "multi-frame / multi-page images are not supported")
        try:
            im.load()
            pixels, bits = _pillow_to_grey(im, label)
        except InvalidImageError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
            raise error(label, f"corrupt or truncated {fmt} data") from exc
    meta = SafeMeta(source_format=fmt, rows=rows, columns=cols, bits_stored=bits)
    return pixels, meta


def _pillow_to_grey(im: object, label: str | None) -> tuple[np.ndarray, int]:
    """Grey float32 in [0, 1] normalised by the bit depth; colour goes through Pillow's L."""
    mode = im.mode  # type: ignore[attr-defined]
    if mode.startswith("I;16"):
        return to_unit_float32(np.asarray(im), 65535.0), 16
    if mode == "I":  # 16-bit PNG/PGM on some Pillow versions: int32 holding 0..65535
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise error(label, "32-bit integer images are not supported")
        return to_unit_float32(arr, 65535.0), 16
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise error(label, "image contains non-finite values")
        if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
            raise error(label, "floating-point image outside [0, 1]")
        return arr.copy(), 32
    if mode != "L":
        im = im.convert("L")  # type: ignore[attr-defined]  # ITU-R 601 luma; exact for R=G=B
    return np.asarray(im, dtype=np.float32) / np.float32(255.0), 8
