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

import io
import os
import re
import struct
from pathlib import Path

import numpy as np

from core import privacy, quiet  # noqa: F401  (quiet: library warnings dropped before they are raised)
from core.errors import ImageTooLargeError, InvalidImageError
from core.types import Mammogram, SafeMeta

MAX_PIXELS = 50_000_000  # decoded pixels; the largest real full-field mammograms are about 30 M
BLOCK_ROWS = 256  # rows converted to float at a time (bounds the float64 temporaries)
MIN_SIDE = 32
MAX_ASPECT = 10.0
SUPPORTED = "DICOM, PNG, JPEG, TIFF, PGM or WebP"

# CBIS-DDSM folder names such as "Mass-Test_P_00173_LEFT_CC" carry side and view.
_SIDE_VIEW = re.compile(r"(?<![A-Z])(LEFT|RIGHT)[_\- ]+(CC|MLO|ML|LM|XCCL)(?![A-Z])", re.IGNORECASE)
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
        raise _error(label, "empty file")
    fmt = image_format(data)
    try:
        if fmt == "dicom":
            pixels, meta = _read_dicom(data, label, max_pixels, force=False)
        elif fmt != "unknown":
            pixels, meta = _read_pillow(data, fmt, label, max_pixels)
        else:
            pixels, meta = _read_dicom(data, label, max_pixels, force=True)
    except InvalidImageError:
        raise
    except MemoryError as exc:
        raise _error(label, "image too large to decode in memory", ImageTooLargeError) from exc
    except Exception as exc:  # the trust boundary: no library exception (or its text) leaks past here
        raise _error(label, f"cannot decode {fmt} image ({type(exc).__name__})") from exc
    _check_pixels(pixels, label)
    return Mammogram(pixels=pixels, meta=meta)


# --------------------------------------------------------------------------- helpers


def _error(label: str | None, text: str, kind: type[InvalidImageError] = InvalidImageError) -> InvalidImageError:
    return kind(f"{label}: {text}" if label else text)


def _load_bytes(source: object, label: str | None, max_pixels: int) -> bytes:
    """Return the raw bytes; refuse files too big to be sane. Messages never hold the path."""
    max_bytes = max_pixels * 8 + (16 << 20)  # 4 x 16-bit samples a pixel, plus headers
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            if path.stat().st_size > max_bytes:
                raise _error(label, "file too large", ImageTooLargeError)
            data = path.read_bytes()
        except InvalidImageError:
            raise
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise _error(label, f"cannot open file ({reason})") from None
    else:
        raise _error(label, f"unsupported source type {type(source).__name__}")
    if len(data) > max_bytes:
        raise _error(label, "file too large", ImageTooLargeError)
    return data


def _limit_text(max_pixels: int) -> str:
    return f"{max_pixels / 1e6:g} megapixels" if max_pixels >= 1_000_000 else f"{max_pixels:,} pixels"


def _check_size(rows: int, cols: int, label: str | None, max_pixels: int) -> None:
    """Reject from header dimensions alone, before decoding (decompression bombs).

    The dimensions are not repeated: a header field's value never appears in a message.
    """
    if rows <= 0 or cols <= 0:
        raise _error(label, "image has no pixels")
    if rows * cols > max_pixels:
        raise _error(label, f"image too large: its decoded size exceeds the limit of {_limit_text(max_pixels)}",
                     ImageTooLargeError)
    if min(rows, cols) < MIN_SIDE:
        raise _error(label, f"image is too small (under {MIN_SIDE} px a side)")
    if max(rows, cols) / min(rows, cols) > MAX_ASPECT:
        raise _error(label, f"image aspect ratio exceeds {MAX_ASPECT:g}")


def _check_pixels(pixels: np.ndarray, label: str | None) -> None:
    if pixels.ndim != 2:
        raise _error(label, "expected one grey-level plane")
    if not np.isfinite(pixels).all():
        raise _error(label, "image contains non-finite values")


def _to_unit_float32(arr: np.ndarray, scale: float) -> np.ndarray:
    """float32(arr / scale), computed in float64 a block of rows at a time (same values, less memory)."""
    out = np.empty(arr.shape, dtype=np.float32)
    for start in range(0, arr.shape[0], BLOCK_ROWS):
        block = arr[start:start + BLOCK_ROWS].astype(np.float64)
        block /= scale
        out[start:start + BLOCK_ROWS] = block
    return out


# --------------------------------------------------------------------------- Pillow formats


def _read_pillow(data: bytes, fmt: str, label: str | None, max_pixels: int) -> tuple[np.ndarray, SafeMeta]:
    """PNG / JPEG / TIFF / PGM / WebP via Pillow, keeping 16-bit precision.

    Text chunks (PNG tEXt / zTXt / iTXt, TIFF and EXIF tags) are never read into the metadata.
    """
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data))  # lazy: reads the header only
    except Image.DecompressionBombError as exc:
        raise _error(label, "image too large (decompression bomb)", ImageTooLargeError) from exc
    except Image.UnidentifiedImageError as exc:  # its message holds a BytesIO repr: say it plainly
        raise _error(label, f"corrupt or unsupported {fmt} data") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise _error(label, f"corrupt or unsupported {fmt} data") from exc
    with im:
        cols, rows = im.size
        _check_size(rows, cols, label, max_pixels)
        try:
            frames = getattr(im, "n_frames", 1)
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise _error(label, f"corrupt or truncated {fmt} data") from exc
        if frames > 1:
            raise _error(label, "multi-frame / multi-page images are not supported")
        try:
            im.load()
            pixels, bits = _pillow_to_grey(im, label)
        except InvalidImageError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
            raise _error(label, f"corrupt or truncated {fmt} data") from exc
    meta = SafeMeta(source_format=fmt, rows=rows, columns=cols, bits_stored=bits)
    return pixels, meta


def _pillow_to_grey(im: object, label: str | None) -> tuple[np.ndarray, int]:
    """Grey float32 in [0, 1] normalised by the bit depth; colour goes through Pillow's L."""
    mode = im.mode  # type: ignore[attr-defined]
    if mode.startswith("I;16"):
        return _to_unit_float32(np.asarray(im), 65535.0), 16
    if mode == "I":  # 16-bit PNG/PGM on some Pillow versions: int32 holding 0..65535
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise _error(label, "32-bit integer images are not supported")
        return _to_unit_float32(arr, 65535.0), 16
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise _error(label, "image contains non-finite values")
        if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
            raise _error(label, "floating-point image outside [0, 1]")
        return arr.copy(), 32
    if mode != "L":
        im = im.convert("L")  # type: ignore[attr-defined]  # ITU-R 601 luma; exact for R=G=B
    return np.asarray(im, dtype=np.float32) / np.float32(255.0), 8


# --------------------------------------------------------------------------- DICOM


def _read_dicom(data: bytes, label: str | None, max_pixels: int, *, force: bool) -> tuple[np.ndarray, SafeMeta]:
    """DICOM via pydicom: modality LUT, VOI LUT / window, MONOCHROME1 inverted.

    Every header value used is parsed through `_number`, so a malformed one is refused
    by naming its field; the decoded size is checked before the pixel data is touched.
    """
    import pydicom

    not_supported = _error(label, f"not a supported image ({SUPPORTED})")
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=force, stop_before_pixels=False)
    except Exception as exc:
        if force:
            raise not_supported from exc
        raise _error(label, f"corrupt DICOM ({type(exc).__name__})") from exc
    if force and not ("PixelData" in ds and "Rows" in ds and "Columns" in ds):
        raise not_supported  # a forced parse of arbitrary bytes
    if "PixelData" not in ds:
        raise _error(label, "DICOM has no pixel data (or the file is truncated)")
    frames = _number(ds, "NumberOfFrames", int, label, default=1)
    if frames > 1:
        raise _error(label, "tomosynthesis / multi-frame not supported")
    rows = _number(ds, "Rows", int, label)
    cols = _number(ds, "Columns", int, label)
    _check_size(rows, cols, label, max_pixels)
    photometric = _text(ds, "PhotometricInterpretation") or "MONOCHROME2"
    photometric = photometric.upper()
    samples = _number(ds, "SamplesPerPixel", int, label, default=1)
    bits = _number(ds, "BitsStored", int, label, default=0) or _number(ds, "BitsAllocated", int, label, default=16)
    if not 1 <= bits <= 32:
        raise _error(label, "DICOM field BitsStored is out of range")
    _ensure_transfer_syntax(ds)

    if samples == 1 and photometric in ("MONOCHROME1", "MONOCHROME2"):
        lo, hi = _output_range(ds, bits, label)
        _drop_malformed_window(ds)
        stored = _pixel_array(ds, label)
        if stored.shape != (rows, cols):
            raise _error(label, "decoded shape does not match the header")
        pixels = _grey_blocks(stored, ds, lo, hi, invert=photometric == "MONOCHROME1", label=label)
    elif samples == 3:  # pydicom hands colour back as RGB; take the ITU-R 601 luma
        stored = _pixel_array(ds, label)
        if stored.shape[:2] != (rows, cols):
            raise _error(label, "decoded shape does not match the header")
        pixels = np.empty((rows, cols), dtype=np.float32)
        luma = np.array([0.299, 0.587, 0.114])
        for start in range(0, rows, BLOCK_ROWS):
            rgb = np.asarray(stored[start:start + BLOCK_ROWS], dtype=np.float64) / (2**bits - 1)
            pixels[start:start + BLOCK_ROWS] = np.clip(rgb @ luma, 0.0, 1.0)
    else:
        raise _error(label, "unsupported DICOM field PhotometricInterpretation / SamplesPerPixel")
    if pixels.shape != (rows, cols):
        raise _error(label, "decoded shape does not match the header")
    return pixels, _dicom_meta(ds, rows, cols, bits)


def _pixel_array(ds: object, label: str | None) -> np.ndarray:
    try:
        return ds.pixel_array  # type: ignore[attr-defined]
    except MemoryError:
        raise
    except Exception as exc:  # decoder messages can quote header values: name the part only
        raise _error(label, f"DICOM pixel data is corrupt, truncated or in an unsupported encoding ({type(exc).__name__})") from exc


def _grey_blocks(stored: np.ndarray, ds: object, lo: float, hi: float, *, invert: bool, label: str | None) -> np.ndarray:
    """Modality LUT, VOI LUT / window, scale to [0, 1], invert MONOCHROME1 — a block of rows at a
    time, so the float64 temporaries stay small (every step is element-wise: same values)."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    out = np.empty(stored.shape, dtype=np.float32)
    for start in range(0, stored.shape[0], BLOCK_ROWS):
        try:
            arr = apply_voi_lut(apply_modality_lut(stored[start:start + BLOCK_ROWS], ds), ds, index=0)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise _error(label, f"DICOM value transform (modality / VOI LUT) is malformed ({type(exc).__name__})") from exc
        # untouched <= 16-bit integers are exact in float32, and so is one float32 division
        exact32 = arr.dtype.kind in "iu" and arr.dtype.itemsize <= 2
        block = arr.astype(np.float32 if exact32 else np.float64)
        if lo:
            block -= lo
        block /= block.dtype.type(hi - lo)
        np.clip(block, 0.0, 1.0, out=block)
        if invert:
            np.subtract(1.0, block, out=block)
        out[start:start + BLOCK_ROWS] = block
    return out


def _raw(ds: object, keyword: str) -> object:
    """A header value, or None when absent; a value that cannot even be converted counts as malformed."""
    return ds.get(keyword)  # type: ignore[attr-defined]


def _number(ds: object, keyword: str, kind: type, label: str | None, *, default: object = None) -> object:
    """int(...) / float(...) of a header field; a malformed value is refused by naming the field only."""
    try:
        value = _raw(ds, keyword)
        if value is None or (isinstance(value, str) and not value.strip()):
            if default is None:
                raise _error(label, f"DICOM field {keyword} is missing")
            return default
        number = kind(float(value)) if kind is int else kind(value)
    except InvalidImageError:
        raise
    except Exception:  # ValueError("could not convert string to float: '<value>'") must not travel
        raise _error(label, f"DICOM field {keyword} is not a valid number") from None
    if kind is float and not np.isfinite(number):
        raise _error(label, f"DICOM field {keyword} is not a valid number")
    return number


def _numbers(ds: object, keyword: str) -> list[float] | None:
    """A multi-valued numeric field as floats, or None when absent or malformed."""
    try:
        value = _raw(ds, keyword)
        if value is None:
            return None
        items = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
        out = [float(v) for v in items]
        return out if out and all(np.isfinite(out)) else None
    except Exception:
        return None


def _text(ds: object, keyword: str) -> str | None:
    """A short text field for vocabulary matching only (never shown as it is)."""
    try:
        value = _raw(ds, keyword)
    except Exception:
        return None
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _drop_malformed_window(ds: object) -> None:
    """An unreadable display window is dropped (the full value range is used instead)."""
    centre, width = _numbers(ds, "WindowCenter"), _numbers(ds, "WindowWidth")
    if ("WindowCenter" in ds or "WindowWidth" in ds) and (centre is None or width is None or width[0] <= 0):  # type: ignore[operator]
        for keyword in ("WindowCenter", "WindowWidth", "VOILUTFunction", "WindowCenterWidthExplanation"):
            if keyword in ds:  # type: ignore[operator]
                delattr(ds, keyword)


def _ensure_transfer_syntax(ds: object) -> None:
    """A DICOM read without its file meta has no Transfer Syntax UID; infer it from the parse."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = ds.original_encoding  # type: ignore[attr-defined]
    uid = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()  # type: ignore[attr-defined]
    meta.TransferSyntaxUID = uid


def _output_range(ds: object, bits: int, label: str | None) -> tuple[float, float]:
    """The value range after modality + VOI LUT, so 16-bit data keeps its full precision.

    Mirrors pydicom's own rules: a VOI LUT maps into 0 .. 2**bits_per_entry - 1, a
    window into the modality output range, which is the stored range rescaled.
    """
    voi_seq = _sequence(ds, "VOILUTSequence", label)
    if voi_seq:
        return 0.0, float(2 ** _lut_bits(voi_seq[0], "VOILUTSequence", label) - 1)
    mod_seq = _sequence(ds, "ModalityLUTSequence", label)
    if mod_seq:
        lo, hi = 0.0, float(2 ** _lut_bits(mod_seq[0], "ModalityLUTSequence", label) - 1)
    elif _number(ds, "PixelRepresentation", int, label, default=0) == 1:
        lo, hi = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    else:
        lo, hi = 0.0, 2.0**bits - 1
    has_slope, has_intercept = _raw_present(ds, "RescaleSlope"), _raw_present(ds, "RescaleIntercept")
    if has_slope and has_intercept:
        slope = _number(ds, "RescaleSlope", float, label)
        intercept = _number(ds, "RescaleIntercept", float, label)
        lo, hi = sorted((lo * slope + intercept, hi * slope + intercept))
    if hi <= lo:
        raise _error(label, "DICOM has an empty value range (field RescaleSlope)")
    return lo, hi


def _raw_present(ds: object, keyword: str) -> bool:
    return keyword in ds  # type: ignore[operator]


def _sequence(ds: object, keyword: str, label: str | None) -> object:
    try:
        return _raw(ds, keyword)
    except Exception:
        raise _error(label, f"DICOM field {keyword} is malformed") from None


def _lut_bits(item: object, keyword: str, label: str | None) -> int:
    try:
        bits = int(item.LUTDescriptor[2])  # type: ignore[attr-defined]
    except Exception:
        raise _error(label, f"DICOM field {keyword} (LUTDescriptor) is malformed") from None
    if not 1 <= bits <= 16:
        raise _error(label, f"DICOM field {keyword} (LUTDescriptor) is out of range")
    return bits


def _dicom_meta(ds: object, rows: int, cols: int, bits: int) -> SafeMeta:
    """Allow-listed acquisition facts in a fixed vocabulary; every other field is ignored.

    Identifying tags (PatientID, SeriesDescription) are read solely to derive side and
    view, which leave only as L / R and a view code. A free-text or malformed value
    becomes "unrecognised"; nothing is copied as it is.
    """
    side = privacy.laterality(_text(ds, "ImageLaterality") or _text(ds, "Laterality"))
    view = privacy.view(_text(ds, "ViewPosition"))
    if side in (None, privacy.UNRECOGNISED) or view in (None, privacy.UNRECOGNISED):
        for keyword in ("PatientID", "SeriesDescription"):  # CBIS-DDSM puts them in PatientID
            match = _SIDE_VIEW.search(_text(ds, keyword) or "")
            if match:
                if side in (None, privacy.UNRECOGNISED):
                    side = match.group(1).upper()[0]
                if view in (None, privacy.UNRECOGNISED):
                    view = match.group(2).upper()
                break
    spacing = _numbers(ds, "PixelSpacing") or _numbers(ds, "ImagerPixelSpacing")
    spacing_mm = None
    if spacing and len(spacing) == 2 and all(0.001 <= v <= 5.0 for v in spacing):  # plausible detector pitch only
        spacing_mm = (round(spacing[0], 4), round(spacing[1], 4))
    return SafeMeta(
        source_format="dicom",
        rows=rows,
        columns=cols,
        bits_stored=bits,
        photometric="MONOCHROME2",
        modality=privacy.modality(_text(ds, "Modality")),
        laterality=side,
        view=view,
        manufacturer=privacy.vendor(_text(ds, "Manufacturer")),
        pixel_spacing_mm=spacing_mm,
        transfer_syntax=_transfer_syntax_name(ds),
    )


def _transfer_syntax_name(ds: object) -> str | None:
    """The standard name of a known transfer syntax; any other UID is "unrecognised"."""
    from pydicom.uid import AllTransferSyntaxes

    try:
        uid = ds.file_meta.get("TransferSyntaxUID")  # type: ignore[attr-defined]
    except Exception:
        return privacy.UNRECOGNISED
    if not uid:
        return None
    return uid.name if uid in AllTransferSyntaxes else privacy.UNRECOGNISED
