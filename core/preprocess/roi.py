"""Regions of interest `(cx, cy, r)` in original pixels: where a patch model looks.

Training and evaluation take the annotated lesion, the hierarchy takes stage 1's Grad-CAM
peak, and a bare call looks at the breast centre; all three go through these helpers, so
datasets (records -> inputs) and models agree on the patch a region of interest means.
"""

from __future__ import annotations

import numpy as np

from core.preprocess.pipeline import breast_mask, mask_bounds, patch_box

Roi = tuple[float, float, float]  # cx, cy, radius in original pixels


def default_roi(shape: tuple[int, int], center: tuple[float, float] | None = None) -> Roi:
    """A lesion-sized region (5 % of the long side, ~10 mm on both MIAS and CBIS)."""
    h, w = shape
    cx, cy = center if center is not None else (w / 2.0, h / 2.0)
    return (float(cx), float(cy), 0.05 * max(h, w))


def breast_centre_roi(pixels: np.ndarray) -> Roi:
    """Without a lesion location, look at the middle of the breast (not of the film)."""
    bounds = mask_bounds(breast_mask(pixels))
    if bounds is None:
        return default_roi(pixels.shape)
    x0, y0, x1, y1 = bounds
    return default_roi(pixels.shape, ((x0 + x1) / 2.0, (y0 + y1) / 2.0))


def roi_box(shape: tuple[int, int], roi: Roi, patch_scale: float = 2.5) -> tuple[int, int, int, int]:
    h, w = shape
    min_side = max(32, int(0.09 * max(h, w)))
    return patch_box((roi[0], roi[1]), roi[2], (h, w), scale=patch_scale, min_side=min_side, max_side=int(0.5 * min(h, w)))
