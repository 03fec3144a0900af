"""Named, composable, serialisable preprocessing steps.

A `Pipeline` is a list of `(step_name, params)`; it is stored in every model card so a
model is always fed exactly as it was trained. Every geometric step records itself in a
`Transform`, which maps a heatmap on the model grid back onto the original mammogram.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import cv2
import numpy as np

from core.errors import UsageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------- transform
@dataclass
class Transform:
    """The geometric history of one preprocessed image: crop, flip, resize, pad."""

    original_shape: tuple[int, int]
    ops: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def inverse(self, heatmap: np.ndarray, to_original: bool = True) -> np.ndarray:
        """Map a map on the model-input grid back to the original image grid (zeros outside).

        to_original=False stops before undoing a leading resize (`limit_size`): the map then
        covers the original's field of view on the grid that resize made, and one bilinear
        stretch to the original shape (exactly what undoing it does) puts it there when needed."""
        out = np.asarray(heatmap, dtype=np.float32)
        ops = self.ops
        if not to_original and ops and ops[0][0] == "resize":
            ops = ops[1:]
        for op, p in reversed(ops):
            if op == "crop":
                full = np.zeros(p["in_shape"], np.float32)
                x0, y0, x1, y1 = p["box"]
                full[y0:y1, x0:x1] = _fit(out, (y1 - y0, x1 - x0))
                out = full
            elif op == "flip":
                out = out[:, ::-1]
            elif op == "resize":
                out = _fit(out, tuple(p["in_shape"]))
            elif op == "pad":
                top, left = p["top"], p["left"]
                h, w = p["in_shape"]
                out = out[top : top + h, left : left + w]
        return np.ascontiguousarray(out)

    def forward_points(self, points: np.ndarray) -> np.ndarray:
        """Map (x, y) points from the original grid onto the model-input grid."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2).copy()
        for op, p in self.ops:
            if op == "crop":
                pts -= (p["box"][0], p["box"][1])
            elif op == "flip":
                pts[:, 0] = p["in_shape"][1] - 1 - pts[:, 0]
            elif op == "resize":
                (ih, iw), (oh, ow) = p["in_shape"], p["out_shape"]
                pts *= (ow / iw, oh / ih)
            elif op == "pad":
                pts += (p["left"], p["top"])
        return pts


def area_resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """INTER_AREA resize to (w, h); very large reductions go through OpenCV's fast integer-factor path first."""
    w, h = size
    k = int(min(img.shape[1] / w, img.shape[0] / h) // 2)
    if k >= 4:
        img = cv2.resize(img, (img.shape[1] // k, img.shape[0] // k), interpolation=cv2.INTER_AREA)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def _fit(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if arr.shape[:2] == tuple(shape):
        return arr
    return cv2.resize(arr.astype(np.float32), (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)


# --------------------------------------------------------------------------- steps
Step = Callable[..., tuple[np.ndarray, Transform]]
STEPS: dict[str, Step] = {}


def step(name: str) -> Callable[[Step], Step]:
    def register(fn: Step) -> Step:
        STEPS[name] = fn
        return fn

    return register


def breast_mask(img: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Largest bright connected component: the breast, without film labels and artefacts."""
    small_scale = 512 / max(img.shape)
    small = cv2.resize(img, None, fx=small_scale, fy=small_scale, interpolation=cv2.INTER_AREA) if small_scale < 1 else img
    u8 = np.clip(small * 255, 0, 255).astype(np.uint8)
    if threshold is None:
        t, _ = cv2.threshold(cv2.GaussianBlur(u8, (5, 5), 0), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        t = max(min(t * 0.5, 60.0), 8.0)  # Otsu splits dense tissue; half of it keeps fatty skin-line
    else:
        t = threshold * 255
    binary = (u8 > t).astype(np.uint8)
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 1:
        return np.ones(img.shape, bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = (labels == largest).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    if mask.shape != img.shape:
        mask = cv2.resize(mask, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
    return mask.astype(bool)


def mask_bounds(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x_min, y_min, x_max, y_max) of a mask's set pixels, inclusive; None when it has none.
    What `np.nonzero` gives, from two reductions (a full-field mask has 12 M pixels, and the
    coordinates of every set one were a large share of a page's preprocessing)."""
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


@step("limit_size")
def limit_size(img: np.ndarray, tf: Transform, max_side: int = 1024) -> tuple[np.ndarray, Transform]:
    """Shrink so the long side is at most `max_side`: full-field DICOMs (~4,600 px) then cost
    what a 1,024-px film costs in every later step. A no-op on images already that small."""
    h, w = img.shape[:2]
    if max(h, w) <= max_side:
        return img, tf
    s = max_side / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    tf.ops.append(("resize", {"in_shape": (h, w), "out_shape": (nh, nw)}))
    return area_resize(img, (nw, nh)), tf


@step("breast_crop")
def breast_crop(img: np.ndarray, tf: Transform, margin: float = 0.02, threshold: float | None = None) -> tuple[np.ndarray, Transform]:
    mask = breast_mask(img, threshold)
    h, w = img.shape[:2]
    bx0, by0, bx1, by1 = mask_bounds(mask) or (0, 0, w - 1, h - 1)  # never empty: the largest component, or all
    my, mx = int(margin * h), int(margin * w)
    x0, x1 = max(bx0 - mx, 0), min(bx1 + 1 + mx, w)
    y0, y1 = max(by0 - my, 0), min(by1 + 1 + my, h)
    cleaned = np.where(mask, img, 0).astype(np.float32)[y0:y1, x0:x1]
    tf.ops.append(("crop", {"box": (x0, y0, x1, y1), "in_shape": (h, w)}))
    return cleaned, tf


@step("orient_left")
def orient_left(img: np.ndarray, tf: Transform) -> tuple[np.ndarray, Transform]:
    """Flip so the chest wall is on the left: the seeds train on one orientation."""
    half = img.shape[1] // 2
    if img[:, half:].sum() > img[:, :half].sum():
        tf.ops.append(("flip", {"in_shape": img.shape[:2]}))
        img = np.ascontiguousarray(img[:, ::-1])
    return img, tf


def _to_u16(img: np.ndarray) -> np.ndarray:
    return np.clip(img * 65535.0 + 0.5, 0, 65535).astype(np.uint16)


@step("clahe")
def clahe(img: np.ndarray, tf: Transform, clip_limit: float = 2.0, tiles: int = 8) -> tuple[np.ndarray, Transform]:
    op = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
    return op.apply(_to_u16(img)).astype(np.float32) / 65535.0, tf


@step("median")
def median(img: np.ndarray, tf: Transform, ksize: int = 3) -> tuple[np.ndarray, Transform]:
    if ksize not in (3, 5):
        raise UsageError("median filter ksize must be 3 or 5 (16-bit precision)")
    return cv2.medianBlur(_to_u16(img), ksize).astype(np.float32) / 65535.0, tf


@step("hist_eq")
def hist_eq(img: np.ndarray, tf: Transform, bins: int = 4096) -> tuple[np.ndarray, Transform]:
    """Global histogram equalisation (seed 002) over the breast, background kept at 0."""
    fg = img > 0
    if fg.sum() < 16:
        return img, tf
    hist, edges = np.histogram(img[fg], bins=bins, range=(0.0, 1.0))
    cdf = np.cumsum(hist).astype(np.float64)
    cdf /= cdf[-1]
    out = np.interp(img, edges[1:], cdf).astype(np.float32)
    return np.where(fg, out, 0).astype(np.float32), tf


@step("resize")
def resize(img: np.ndarray, tf: Transform, size: int = 224) -> tuple[np.ndarray, Transform]:
    """Plain resize to a square (seed 000): aspect ratio not kept."""
    h, w = img.shape[:2]
    out = area_resize(img, (size, size))
    tf.ops.append(("resize", {"in_shape": (h, w), "out_shape": (size, size)}))
    return out, tf


@step("resize_pad")
def resize_pad(img: np.ndarray, tf: Transform, size: int = 256) -> tuple[np.ndarray, Transform]:
    """Aspect-preserving resize, zero padding to a square (seed 001); content top-left."""
    h, w = img.shape[:2]
    s = size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = area_resize(img, (nw, nh))
    tf.ops.append(("resize", {"in_shape": (h, w), "out_shape": (nh, nw)}))
    out = np.zeros((size, size), np.float32)
    out[:nh, :nw] = small
    tf.ops.append(("pad", {"top": 0, "left": 0, "in_shape": (nh, nw)}))
    return out, tf


@step("stack3")
def stack3(img: np.ndarray, tf: Transform) -> tuple[np.ndarray, Transform]:
    return np.repeat(img[..., None], 3, axis=-1).astype(np.float32), tf


@step("normalize")
def normalize(img: np.ndarray, tf: Transform, mode: str = "unit", mean: list[float] | None = None, std: list[float] | None = None) -> tuple[np.ndarray, Transform]:
    """unit: keep [0, 1]; imagenet: ImageNet mean/std per channel; zscore: per image;
    meanstd: the given per-channel mean / std (a backbone's own data config, resolved by
    the trainer from `mode: backbone` and written into the card)."""
    if mode == "meanstd":
        if mean is None or std is None:
            raise UsageError("normalize mode 'meanstd' needs mean and std")
        return ((img - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32), tf
    if mode == "backbone":
        raise UsageError("normalize mode 'backbone' is resolved when training starts; a card must hold 'meanstd'")
    if mode == "unit":
        return img.astype(np.float32), tf
    if mode == "imagenet":
        if img.ndim != 3:
            raise UsageError("imagenet normalisation needs 3 channels: put 'stack3' before it")
        return ((img - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32), tf
    if mode == "zscore":
        return ((img - img.mean()) / (img.std() + 1e-6)).astype(np.float32), tf
    raise UsageError(f"unknown normalisation mode {mode!r}")


# --------------------------------------------------------------------------- pipeline
@dataclass
class Pipeline:
    steps: list[tuple[str, dict[str, Any]]]

    def __post_init__(self) -> None:
        self.steps = [(str(n), dict(p or {})) for n, p in self.steps]
        unknown = [n for n, _ in self.steps if n not in STEPS]
        if unknown:
            raise UsageError(f"unknown preprocessing step(s) {unknown}; known: {sorted(STEPS)}")

    def apply(self, pixels: np.ndarray) -> tuple[np.ndarray, Transform]:
        tf = Transform(original_shape=(int(pixels.shape[0]), int(pixels.shape[1])))
        img = np.asarray(pixels, dtype=np.float32)
        for name, params in self.steps:
            img, tf = STEPS[name](img, tf, **params)
        return img, tf

    def to_json(self) -> list[list[Any]]:
        return [[n, p] for n, p in self.steps]

    @classmethod
    def from_json(cls, data: list | str) -> "Pipeline":
        if isinstance(data, str):
            data = json.loads(data)
        return cls([(n, p) for n, p in data])

    def describe(self) -> str:
        return " → ".join(n + (f"({', '.join(f'{k}={v}' for k, v in p.items())})" if p else "") for n, p in self.steps)


# --------------------------------------------------------------------------- patches
def patch_box(center: tuple[float, float], radius: float | None, shape: tuple[int, int], *, scale: float = 2.5, min_side: int = 96, max_side: int = 512) -> tuple[int, int, int, int]:
    """Square box around a lesion, `scale` x its diameter-ish, clipped inside the image."""
    h, w = shape
    side = int(np.clip((radius or min_side / scale) * scale, min_side, min(max_side, h, w)))
    cx, cy = center
    x0 = int(np.clip(round(cx - side / 2), 0, w - side))
    y0 = int(np.clip(round(cy - side / 2), 0, h - side))
    return x0, y0, x0 + side, y0 + side


def extract_patch(pixels: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.ascontiguousarray(pixels[y0:y1, x0:x1])


def sample_background_boxes(pixels: np.ndarray, lesion_boxes: list[tuple[int, int, int, int]], n: int, side: int, rng: np.random.Generator, *, min_breast: float = 0.75, tries: int = 200) -> list[tuple[int, int, int, int]]:
    """Random patches mostly inside the breast and not touching any lesion box."""
    mask = breast_mask(pixels)
    h, w = pixels.shape
    out: list[tuple[int, int, int, int]] = []
    for _ in range(tries):
        if len(out) >= n:
            break
        x0, y0 = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
        box = (x0, y0, x0 + side, y0 + side)
        if mask[y0 : y0 + side, x0 : x0 + side].mean() < min_breast:
            continue
        if any(_overlap(box, b) for b in lesion_boxes):
            continue
        out.append(box)
    return out


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])
