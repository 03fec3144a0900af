"""Read any supported mammogram file into a `Mammogram`: one entry point, one error type.

Everything a user uploads passes through `read_image`, so this module is the trust
boundary: the format is decided by magic bytes (never by a file name), sizes are
checked from the header before anything is decoded, every library failure becomes an
`InvalidImageError`, and only de-identified acquisition facts leave in `SafeMeta`.
Nothing is written to disk.

Privacy: a message never quotes a header value, a file name or a path; it names the
field ("DICOM field RescaleSlope is not a valid number"). Metadata leaves only through
the fixed vocabularies of `core.privacy`. Library warnings are dropped (`core.quiet`).

Memory: the decoded size is checked from the header before any pixel is decoded
(default limit 50 megapixels; the largest full-field mammograms are about 30), and the
conversion to float32 runs in row blocks, so one image costs about 8 bytes a pixel at
most (about 400 MB at the limit) instead of a float64 copy of the whole plane.
"""

from __future__ import annotations

import os
from pathlib import Path

from core import privacy, quiet  # noqa: F401  (quiet: library warnings dropped before they are raised)
from core.errors import ImageTooLargeError, InvalidImageError
from core.io.checks import MAX_PIXELS, check_pixels, error
from core.io.dicom import read_dicom
from core.io.raster import read_pillow
from core.types import Mammogram


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"P5", "pgm"),
    (b"P2", "pgm"),
)


def image_format(data: bytes) -> str:
    """Name the format from magic bytes: dicom | png | jpeg | tiff | pgm | webp | unknown.

    A DICOM without its 128-byte preamble cannot be recognised this cheaply; it comes
    back as "unknown" and `read_image` then tries a forced DICOM parse.
    """
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    return "unknown"


def read_image(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Mammogram:
    """Decode a file path or in-memory bytes into float32 H x W pixels in [0, 1], MONOCHROME2.

    `name` labels error messages only when it is a neutral label ("upload 1", "file 2");
    any other name (a file name can identify a person) is never repeated. The format
    comes from the content. Raises `InvalidImageError` (`ImageTooLargeError` for the
    decoded-size budget) for anything unreadable, unsupported or unsafe.
    """
    if max_pixels <= 0:
        raise ValueError("max_pixels must be positive")
    label = name if privacy.is_neutral_label(name) else None
    data = _load_bytes(source, label, max_pixels)
    if not data:
        raise error(label, "empty file")
    fmt = image_format(data)
    try:
        if fmt == "dicom":
            pixels, meta = read_dicom(data, label, max_pixels, force=False)
        elif fmt != "unknown":
            pixels, meta = read_pillow(data, fmt, label, max_pixels)
        else:
            pixels, meta = read_dicom(data, label, max_pixels, force=True)
    except InvalidImageError:
        raise
    except MemoryError as exc:
        raise error(label, "image too large to decode in memory", ImageTooLargeError) from exc
    except Exception as exc:  # the trust boundary: no library exception (or its text) leaks past here
        raise error(label, f"cannot decode {fmt} image ({type(exc).__name__})") from exc
    check_pixels(pixels, label)
    return Mammogram(pixels=pixels, meta=meta)


def _load_bytes(source: object, label: str | None, max_pixels: int) -> bytes:
    """Return the raw bytes; refuse files too big to be sane. Messages never hold the path."""
    max_bytes = max_pixels * 8 + (16 << 20)  # 4 x 16-bit samples a pixel, plus headers
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            if path.stat().st_size > max_bytes:
                raise error(label, "file too large", ImageTooLargeError)
            data = path.read_bytes()
        except InvalidImageError:
            raise
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise error(label, f"cannot open file ({reason})") from None
    else:
        raise error(label, f"unsupported source type {type(source).__name__}")
    if len(data) > max_bytes:
        raise error(label, "file too large", ImageTooLargeError)
    return data
