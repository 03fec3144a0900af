"""A film's lesion truth, wherever the data set keeps it: centres and radii (MIAS), or mask
files (CBIS-DDSM ROI-mask DICOMs, Mini-DDSM contour JPEGs)."""

from __future__ import annotations

import numpy as np

from core.types import Record
from core.preprocess.geometry import circle_mask

Circle = tuple[float, float, float, str]  # (cx, cy, r, severity) on the film's own grid


def circles_of(record: Record, *, from_masks: bool = False) -> list[Circle]:
    """The lesions the data set gives as centre and radius; with `from_masks`, also those it
    gives as mask files (centre and radius of the mask: a full-size read each)."""
    out = []
    for l in record.lesions:
        if l.center is not None:
            out.append((float(l.center[0]), float(l.center[1]), float(l.radius or 0.0), l.severity))
        elif from_masks and l.mask_path:
            c = circle_of_mask(read_mask(l.mask_path))
            if c is not None:
                out.append((*c, l.severity))
    return out


def read_mask(path: str) -> np.ndarray:
    """A lesion mask file as bool: DICOM ROI masks through the project's reader, JPEG / PNG
    contour masks thresholded as the Mini-DDSM loader does (they carry JPEG noise)."""
    from core.datasets.minidds import read_mask as read_contour
    from core.io.reader import read_image

    if str(path).lower().endswith(".dcm"):
        return read_image(path).pixels > 0.5
    return read_contour(path)


def circle_of_mask(mask: np.ndarray) -> tuple[float, float, float] | None:
    """Centre and radius of a lesion mask (radius: half the bounding box's larger side)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return float(xs.mean()), float(ys.mean()), float(max(xs.max() - xs.min(), ys.max() - ys.min()) + 1) / 2


def has_truth(record: Record) -> bool:
    return any(l.center is not None or l.mask_path for l in record.lesions)


def truth_mask(record: Record, shape: tuple[int, int]) -> np.ndarray:
    """Every lesion of the film as one bool mask on a grid of `shape` (the film's own, or a
    shrunk copy of it): mask files resized, circles drawn."""
    import cv2

    out = np.zeros(shape, bool)
    circles = circles_of(record)
    for lesion in record.lesions:
        if lesion.mask_path and lesion.center is None:
            m = read_mask(lesion.mask_path).astype(np.uint8)
            out |= cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    if circles:
        out |= circle_mask(shape, [(c[0], c[1], c[2]) for c in circles]).astype(bool)
    return out
