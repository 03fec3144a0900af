"""Read any supported mammogram file into a `Mammogram`: one entry point, one error type.

Everything a user uploads passes through `read_image`, so this module is the trust
boundary: the format is decided by magic bytes (never by a file name), sizes are
checked from the header before anything is decoded, every library failure becomes an
`InvalidImageError`, and only de-identified acquisition facts leave in `SafeMeta`.
Nothing is written to disk.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np

from core.errors import InvalidImageError
from core.types import Mammogram, SafeMeta

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
    max_pixels: int = 60_000_000,
) -> Mammogram:
    """Decode a file path or in-memory bytes into float32 H x W pixels in [0, 1], MONOCHROME2.

    `name` only labels error messages (the format comes from the content).
    Raises `InvalidImageError` for anything unreadable, unsupported or unsafe.
    """
    if max_pixels <= 0:
        raise ValueError("max_pixels must be positive")
    data, label = _load_bytes(source, name, max_pixels)
    if not data:
        raise InvalidImageError(f"{label}: empty file")
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
        raise InvalidImageError(f"{label}: image too large to decode in memory") from exc
    except Exception as exc:  # the trust boundary: no library exception leaks past here
        raise InvalidImageError(f"{label}: cannot decode {fmt} image ({_short(exc)})") from exc
    _check_pixels(pixels, label)
    return Mammogram(pixels=pixels, meta=meta)


# --------------------------------------------------------------------------- helpers


def _load_bytes(source: object, name: str | None, max_pixels: int) -> tuple[bytes, str]:
    """Return the raw bytes and a label for messages; refuse files too big to be sane."""
    max_bytes = max_pixels * 8 + (16 << 20)  # 4 x 16-bit samples a pixel, plus headers
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "image"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = name or path.name
        try:
            if path.stat().st_size > max_bytes:
                raise InvalidImageError(f"{label}: file too large")
            data = path.read_bytes()
        except InvalidImageError:
            raise
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise InvalidImageError(f"{label}: cannot open file ({reason})") from exc
    else:
        raise InvalidImageError(f"unsupported source type {type(source).__name__}")
    if len(data) > max_bytes:
        raise InvalidImageError(f"{label}: file too large")
    return data, label


def _short(exc: BaseException) -> str:
    """One line, bounded: library messages can be long or multi-line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _check_size(rows: int, cols: int, label: str, max_pixels: int) -> None:
    """Reject from header dimensions alone, before decoding (decompression bombs)."""
    if rows <= 0 or cols <= 0:
        raise InvalidImageError(f"{label}: image has no pixels ({rows} x {cols})")
    if rows * cols > max_pixels:
        raise InvalidImageError(
            f"{label}: {rows} x {cols} = {rows * cols:,} pixels exceeds the limit of {max_pixels:,}"
        )
    if min(rows, cols) < MIN_SIDE:
        raise InvalidImageError(f"{label}: {rows} x {cols} is too small (under {MIN_SIDE} px a side)")
    if max(rows, cols) / min(rows, cols) > MAX_ASPECT:
        raise InvalidImageError(f"{label}: aspect ratio of {rows} x {cols} exceeds {MAX_ASPECT:g}")


def _check_pixels(pixels: np.ndarray, label: str) -> None:
    if pixels.ndim != 2:
        raise InvalidImageError(f"{label}: expected one grey-level plane, got shape {pixels.shape}")
    if not np.isfinite(pixels).all():
        raise InvalidImageError(f"{label}: image contains non-finite values")


# --------------------------------------------------------------------------- Pillow formats


def _read_pillow(data: bytes, fmt: str, label: str, max_pixels: int) -> tuple[np.ndarray, SafeMeta]:
    """PNG / JPEG / TIFF / PGM / WebP via Pillow, keeping 16-bit precision."""
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data))  # lazy: reads the header only
    except Image.DecompressionBombError as exc:
        raise InvalidImageError(f"{label}: image too large (decompression bomb)") from exc
    except Image.UnidentifiedImageError as exc:  # its message holds a BytesIO repr: say it plainly
        raise InvalidImageError(f"{label}: corrupt or unsupported {fmt} data") from exc
    with im:
        cols, rows = im.size
        _check_size(rows, cols, label, max_pixels)
        if getattr(im, "n_frames", 1) > 1:
            raise InvalidImageError(f"{label}: multi-frame / multi-page images are not supported")
        im.load()
        pixels, bits = _pillow_to_grey(im, label)
    meta = SafeMeta(source_format=fmt, rows=rows, columns=cols, bits_stored=bits)
    return pixels, meta


def _pillow_to_grey(im: object, label: str) -> tuple[np.ndarray, int]:
    """Grey float32 in [0, 1] normalised by the bit depth; colour goes through Pillow's L."""
    mode = im.mode  # type: ignore[attr-defined]
    if mode.startswith("I;16"):
        return (np.asarray(im, dtype=np.float64) / 65535.0).astype(np.float32), 16
    if mode == "I":  # 16-bit PNG/PGM on some Pillow versions: int32 holding 0..65535
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise InvalidImageError(f"{label}: 32-bit integer images are not supported")
        return (arr.astype(np.float64) / 65535.0).astype(np.float32), 16
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise InvalidImageError(f"{label}: image contains non-finite values")
        if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
            raise InvalidImageError(f"{label}: floating-point image outside [0, 1]")
        return arr.copy(), 32
    if mode != "L":
        im = im.convert("L")  # type: ignore[attr-defined]  # ITU-R 601 luma; exact for R=G=B
    return np.asarray(im, dtype=np.float32) / np.float32(255.0), 8


# --------------------------------------------------------------------------- DICOM


def _read_dicom(data: bytes, label: str, max_pixels: int, *, force: bool) -> tuple[np.ndarray, SafeMeta]:
    """DICOM via pydicom: modality LUT, VOI LUT / window, MONOCHROME1 inverted."""
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    not_supported = f"{label}: not a supported image ({SUPPORTED})"
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=force, stop_before_pixels=False)
    except Exception as exc:
        if force:
            raise InvalidImageError(not_supported) from exc
        raise InvalidImageError(f"{label}: corrupt DICOM ({_short(exc)})") from exc
    if force and not ("PixelData" in ds and "Rows" in ds and "Columns" in ds):
        raise InvalidImageError(not_supported)  # a forced parse of arbitrary bytes
    if "PixelData" not in ds:
        raise InvalidImageError(f"{label}: DICOM has no pixel data (or the file is truncated)")
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames > 1:
        raise InvalidImageError(f"{label}: tomosynthesis / multi-frame not supported ({frames} frames)")
    rows, cols = int(ds.Rows), int(ds.Columns)
    _check_size(rows, cols, label, max_pixels)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    samples = int(ds.get("SamplesPerPixel") or 1)
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    _ensure_transfer_syntax(ds)

    arr = ds.pixel_array
    if samples == 1 and photometric in ("MONOCHROME1", "MONOCHROME2"):
        lo, hi = _output_range(ds, bits)
        arr = apply_voi_lut(apply_modality_lut(arr, ds), ds, index=0)
        # untouched <= 16-bit integers are exact in float32, and so is one float32 division
        exact32 = arr.dtype.kind in "iu" and arr.dtype.itemsize <= 2
        pixels = arr.astype(np.float32 if exact32 else np.float64)
        if lo:
            pixels -= lo
        pixels /= pixels.dtype.type(hi - lo)
        np.clip(pixels, 0.0, 1.0, out=pixels)
        if photometric == "MONOCHROME1":
            np.subtract(1.0, pixels, out=pixels)
    elif samples == 3:  # pydicom hands colour back as RGB; take the ITU-R 601 luma
        rgb = np.asarray(arr, dtype=np.float64) / (2**bits - 1)
        pixels = np.clip(rgb @ np.array([0.299, 0.587, 0.114]), 0.0, 1.0)
    else:
        raise InvalidImageError(f"{label}: unsupported DICOM photometric interpretation {photometric}")
    if pixels.shape != (rows, cols):
        raise InvalidImageError(f"{label}: decoded shape {pixels.shape} does not match the header")
    return pixels.astype(np.float32, copy=False), _dicom_meta(ds, rows, cols, bits)


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


def _output_range(ds: object, bits: int) -> tuple[float, float]:
    """The value range after modality + VOI LUT, so 16-bit data keeps its full precision.

    Mirrors pydicom's own rules: a VOI LUT maps into 0 .. 2**bits_per_entry - 1, a
    window into the modality output range, which is the stored range rescaled.
    """
    get = ds.get  # type: ignore[attr-defined]
    voi_seq = get("VOILUTSequence")
    if voi_seq:
        return 0.0, float(2 ** int(voi_seq[0].LUTDescriptor[2]) - 1)
    mod_seq = get("ModalityLUTSequence")
    if mod_seq:
        lo, hi = 0.0, float(2 ** int(mod_seq[0].LUTDescriptor[2]) - 1)
    elif int(get("PixelRepresentation") or 0) == 1:
        lo, hi = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    else:
        lo, hi = 0.0, 2.0**bits - 1
    slope, intercept = get("RescaleSlope"), get("RescaleIntercept")
    if slope is not None and intercept is not None:
        lo, hi = sorted((lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)))
    if hi <= lo:
        raise InvalidImageError("DICOM has an empty value range")
    return lo, hi


def _dicom_meta(ds: object, rows: int, cols: int, bits: int) -> SafeMeta:
    """Acquisition facts only. Identifying tags are read solely to derive side and view."""
    get = ds.get  # type: ignore[attr-defined]

    def text(keyword: str) -> str | None:
        value = get(keyword)
        return (str(value).strip() or None) if value is not None else None

    side = (text("ImageLaterality") or text("Laterality") or "").upper()
    side = side if side in ("L", "R") else None
    view = (text("ViewPosition") or "").upper() or None
    if side is None or view is None:
        for keyword in ("PatientID", "SeriesDescription"):  # CBIS-DDSM puts them in PatientID
            match = _SIDE_VIEW.search(text(keyword) or "")
            if match:
                side = side or match.group(1).upper()[0]
                view = view or match.group(2).upper()
                break
    model = " ".join(v for v in (text("Manufacturer"), text("ManufacturerModelName")) if v) or None
    try:  # optional and often malformed: a bad value must not reject the image
        spacing = get("PixelSpacing") or get("ImagerPixelSpacing")
        spacing_mm = (float(spacing[0]), float(spacing[1])) if spacing and len(spacing) == 2 else None
    except (TypeError, ValueError):
        spacing_mm = None
    ts = ds.file_meta.get("TransferSyntaxUID")  # type: ignore[attr-defined]
    return SafeMeta(
        source_format="dicom",
        rows=rows,
        columns=cols,
        bits_stored=bits,
        photometric="MONOCHROME2",
        modality=text("Modality"),
        laterality=side,
        view=view,
        manufacturer_model=model,
        pixel_spacing_mm=spacing_mm,
        transfer_syntax=ts.name if ts else None,
    )
