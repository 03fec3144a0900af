"""Where the cells of a dense patch map sit on the image grid, and maps back onto it.

A fully convolutional trunk of stride `s` gives a feature grid; a `k`-cell average
window over it is one `s*k`-pixel patch. Window (i, j) covers rows [s*i, s*i + s*k).
"""

from __future__ import annotations

import cv2
import numpy as np


def pad_to_multiple(img: np.ndarray, multiple: int) -> np.ndarray:
    h, w = img.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return img
    return np.pad(img, ((0, ph), (0, pw)) + ((0, 0),) * (img.ndim - 2))


def cells_to_image(cells: np.ndarray, shape: tuple[int, int], stride: int, window: int) -> np.ndarray:
    """Each pixel takes the value of the window centred nearest to it (exact, blocky)."""
    h, w = shape
    n_y, n_x = cells.shape
    ys = np.clip(np.round((np.arange(h) + 0.5 - stride * window / 2) / stride).astype(int), 0, n_y - 1)
    xs = np.clip(np.round((np.arange(w) + 0.5 - stride * window / 2) / stride).astype(int), 0, n_x - 1)
    return np.ascontiguousarray(cells[ys][:, xs]).astype(np.float32)


def resize_map(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A map of any size onto the image grid (bilinear)."""
    h, w = shape
    return cv2.resize(values.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def circle_mask(shape: tuple[int, int], circles: list[tuple[float, float, float]]) -> np.ndarray:
    """Binary mask of lesion circles (cx, cy, r) in image pixels."""
    mask = np.zeros(shape, np.uint8)
    for cx, cy, r in circles:
        cv2.circle(mask, (int(round(cx)), int(round(cy))), max(1, int(round(r))), 1, thickness=-1)
    return mask.astype(bool)
