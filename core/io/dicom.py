"""DICOM through pydicom and its codecs (RLE, JPEG baseline / lossless, JPEG 2000): pixels in
MONOCHROME2 after the modality and VOI look-up tables, and de-identified `SafeMeta` taken
field by field through `core.privacy`'s fixed vocabularies."""

from __future__ import annotations

import io
import re

import numpy as np

from core import privacy
from core.errors import InvalidImageError
from core.io.checks import BLOCK_ROWS, SUPPORTED, check_size, error
from core.types import SafeMeta

# CBIS-DDSM folder names such as "Mass-Test_P_00173_LEFT_CC" carry side and view.
_SIDE_VIEW = re.compile(r"(?<![A-Z])(LEFT|RIGHT)[_\- ]+(CC|MLO|ML|LM|XCCL)(?![A-Z])", re.IGNORECASE)



def read_dicom(data: bytes, label: str | None, max_pixels: int, *, force: bool) -> tuple[np.ndarray, SafeMeta]:
    """DICOM via pydicom: modality LUT, VOI LUT / window, MONOCHROME1 inverted.

    Every header value used is parsed through `_number`, so a malformed one is refused
    by naming its field; the decoded size is checked before the pixel data is touched.
    """
    import pydicom

    not_supported = error(label, f"not a supported image ({SUPPORTED})")
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=force, stop_before_pixels=False)
    except Exception as exc:
        if force:
            raise not_supported from exc
        raise error(label, f"corrupt DICOM ({type(exc).__name__})") from exc
    if force and not ("PixelData" in ds and "Rows" in ds and "Columns" in ds):
        raise not_supported  # a forced parse of arbitrary bytes
    if "PixelData" not in ds:
        raise error(label, "DICOM has no pixel data (or the file is truncated)")
    frames = _number(ds, "NumberOfFrames", int, label, default=1)
    if frames > 1:
        raise error(label, "tomosynthesis / multi-frame not supported")
    rows = _number(ds, "Rows", int, label)
    cols = _number(ds, "Columns", int, label)
    check_size(rows, cols, label, max_pixels)
    photometric = _text(ds, "PhotometricInterpretation") or "MONOCHROME2"
    photometric = photometric.upper()
    samples = _number(ds, "SamplesPerPixel", int, label, default=1)
    bits = _number(ds, "BitsStored", int, label, default=0) or _number(ds, "BitsAllocated", int, label, default=16)
    if not 1 <= bits <= 32:
        raise error(label, "DICOM field BitsStored is out of range")
    _ensure_transfer_syntax(ds)

    if samples == 1 and photometric in ("MONOCHROME1", "MONOCHROME2"):
        lo, hi = _output_range(ds, bits, label)
        _drop_malformed_window(ds)
        stored = _pixel_array(ds, label)
        if stored.shape != (rows, cols):
            raise error(label, "decoded shape does not match the header")
        pixels = _grey_blocks(stored, ds, lo, hi, invert=photometric == "MONOCHROME1", label=label)
    elif samples == 3:  # pydicom hands colour back as RGB; take the ITU-R 601 luma
        stored = _pixel_array(ds, label)
        if stored.shape[:2] != (rows, cols):
            raise error(label, "decoded shape does not match the header")
        pixels = np.empty((rows, cols), dtype=np.float32)
        luma = np.array([0.299, 0.587, 0.114])
        for start in range(0, rows, BLOCK_ROWS):
            rgb = np.asarray(stored[start:start + BLOCK_ROWS], dtype=np.float64) / (2**bits - 1)
            pixels[start:start + BLOCK_ROWS] = np.clip(rgb @ luma, 0.0, 1.0)
    else:
        raise error(label, "unsupported DICOM field PhotometricInterpretation / SamplesPerPixel")
    if pixels.shape != (rows, cols):
        raise error(label, "decoded shape does not match the header")
    return pixels, _dicom_meta(ds, rows, cols, bits)


def _pixel_array(ds: object, label: str | None) -> np.ndarray:
    try:
        return ds.pixel_array  # type: ignore[attr-defined]
    except MemoryError:
        raise
    except Exception as exc:  # decoder messages can quote header values: name the part only
        raise error(label, f"DICOM pixel data is corrupt, truncated or in an unsupported encoding ({type(exc).__name__})") from exc


def _grey_blocks(stored: np.ndarray, ds: object, lo: float, hi: float, *, invert: bool, label: str | None) -> np.ndarray:
    """Modality LUT, VOI LUT / window, scale to [0, 1], invert MONOCHROME1 — a block of rows at a
    time, so the float64 temporaries stay small (every step is element-wise: same values)."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    out = np.empty(stored.shape, dtype=np.float32)
    for start in range(0, stored.shape[0], BLOCK_ROWS):
        try:
            arr = apply_voi_lut(apply_modality_lut(stored[start:start + BLOCK_ROWS], ds), ds, index=0)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise error(label, f"DICOM value transform (modality / VOI LUT) is malformed ({type(exc).__name__})") from exc
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
                raise error(label, f"DICOM field {keyword} is missing")
            return default
        number = kind(float(value)) if kind is int else kind(value)
    except InvalidImageError:
        raise
    except Exception:  # ValueError("could not convert string to float: '<value>'") must not travel
        raise error(label, f"DICOM field {keyword} is not a valid number") from None
    if kind is float and not np.isfinite(number):
        raise error(label, f"DICOM field {keyword} is not a valid number")
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
        raise error(label, "DICOM has an empty value range (field RescaleSlope)")
    return lo, hi


def _raw_present(ds: object, keyword: str) -> bool:
    return keyword in ds  # type: ignore[operator]


def _sequence(ds: object, keyword: str, label: str | None) -> object:
    try:
        return _raw(ds, keyword)
    except Exception:
        raise error(label, f"DICOM field {keyword} is malformed") from None


def _lut_bits(item: object, keyword: str, label: str | None) -> int:
    try:
        bits = int(item.LUTDescriptor[2])  # type: ignore[attr-defined]
    except Exception:
        raise error(label, f"DICOM field {keyword} (LUTDescriptor) is malformed") from None
    if not 1 <= bits <= 16:
        raise error(label, f"DICOM field {keyword} (LUTDescriptor) is out of range")
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
