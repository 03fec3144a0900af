"""What a served prediction is shrunk to before it is kept: display-size maps and inputs.

A page never needs a map finer than the screen, so serving keeps every `MapLayer` on a grid
no longer than `DISPLAY_LONG_SIDE` and turns model inputs back into viewable images here;
`core.dashboard.overlays` draws on top of these.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import cv2
import numpy as np

from core.models.prediction import MapLayer

DISPLAY_LONG_SIDE = 1024


def to_uint8(pixels: np.ndarray, block_rows: int = 512) -> np.ndarray:
    """[0, 1] floats -> uint8 (NaN as 0), a block of rows at a time: on a full-field DICOM the
    whole-plane expression held four 51 MB float32 temporaries at once; this holds one block."""
    pixels = np.asarray(pixels)
    if pixels.dtype == np.uint8:
        return pixels
    out = np.empty(pixels.shape, np.uint8)
    for start in range(0, pixels.shape[0], block_rows):
        block = np.nan_to_num(pixels[start:start + block_rows].astype(np.float32, copy=True), copy=False)
        np.clip(block, 0.0, 1.0, out=block)
        block *= 255.0
        block += 0.5
        out[start:start + block_rows] = block.astype(np.uint8)
    return out


def downscale_map(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A float map resized to (h, w) = shape: area-averaged when shrinking, bilinear when growing."""
    h, w = shape
    v = np.asarray(values, np.float32)
    if v.shape == (h, w):
        return np.nan_to_num(v)
    shrink = v.shape[0] > h and v.shape[1] > w
    out = cv2.resize(v, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    if np.isfinite(out).all():  # no NaN or inf in the map (nearly always): the full-size pass is spared
        return out
    return cv2.resize(np.nan_to_num(v), (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def layer_at(layer: MapLayer, shape: tuple[int, int]) -> np.ndarray:
    """The layer's values at display size (h, w): the same as `layer.on_grid()` shrunk to `shape`,
    without building the full-resolution map first."""
    return downscale_map(layer.values, shape)


def shrink_layer(layer: MapLayer, long_side: int = DISPLAY_LONG_SIDE) -> MapLayer:
    """The layer with its values on a grid no larger than `long_side` (same field of view), so a
    cached prediction of a 4,000-px DICOM does not hold a 4,000-px float map per model."""
    h, w = np.shape(layer.values)[:2]
    if max(h, w) <= long_side:
        return layer
    f = long_side / max(h, w)
    return replace(layer, values=downscale_map(layer.values, (max(1, round(h * f)), max(1, round(w * f)))))


def normalisation(card: dict[str, Any]) -> tuple[list[float], list[float]] | None:
    """(mean, std) of the card's `normalize` step, or None (unit range, z-score or none)."""
    from core.preprocess.pipeline import IMAGENET_MEAN, IMAGENET_STD

    for step in card.get("preprocessing") or []:
        if not step or step[0] != "normalize":
            continue
        params = step[1] if len(step) > 1 and step[1] else {}
        mode = params.get("mode", "unit")
        if mode == "imagenet":
            return list(IMAGENET_MEAN), list(IMAGENET_STD)
        if mode == "meanstd" and params.get("mean") is not None and params.get("std") is not None:
            return list(params["mean"]), list(params["std"])
    return None


def model_input_view(x: np.ndarray, norm: tuple[Sequence[float], Sequence[float]] | None = None) -> np.ndarray:
    """A model input (H x W or H x W x C) as a displayable uint8 image: undo the card's
    normalisation `norm` = (mean, std) where given, else stretch a z-scored input."""
    arr = np.asarray(x, np.float32)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if norm is not None:
        mean, std = (np.asarray(v, np.float32) for v in norm)
        if arr.ndim == 3 and arr.shape[2] == len(mean):
            arr = arr * std + mean
        else:
            arr = arr * float(std.mean()) + float(mean.mean())
    elif arr.min() < -0.05 or arr.max() > 1.05:  # z-scored: stretch for display
        lo, hi = np.percentile(arr, [1, 99])
        arr = (arr - lo) / (hi - lo + 1e-6)
    return to_uint8(arr)
