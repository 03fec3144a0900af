"""Pictures for the dashboard: display-size images and any `MapLayer` drawn on the mammogram.

Every map kind (Grad-CAM saliency, patch scores, segmentation) goes through one
`overlay_image`; a map with a `threshold` can also be outlined at that level. No
Streamlit here: the pages only show what these functions return.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import cv2
import numpy as np

from core.models.prediction import MapLayer
from core.preprocess.pipeline import area_resize
from core.serving.display import (  # noqa: F401  (what a model's output shrinks to; shared with serving)
    DISPLAY_LONG_SIDE, downscale_map, layer_at, model_input_view, normalisation, shrink_layer, to_uint8)
from core.types import Lesion

THUMB_LONG_SIDE = 200
LESION_COLOR = (255, 255, 255)  # ground truth: white over a black edge, visible on any colour map
LESION_EDGE = (0, 0, 0)
BOX_COLOR = (255, 255, 255)  # the patch a model saw
REGION_COLOR = (255, 0, 255)  # a map's thresholded region

_ANCHORS = {  # position, r, g, b
    "viridis": np.array([[0.000, 0.267, 0.005, 0.329], [0.125, 0.279, 0.175, 0.483], [0.250, 0.230, 0.322, 0.546],
                         [0.375, 0.173, 0.449, 0.558], [0.500, 0.128, 0.567, 0.551], [0.625, 0.153, 0.680, 0.504],
                         [0.750, 0.369, 0.789, 0.383], [0.875, 0.667, 0.862, 0.196], [1.000, 0.993, 0.906, 0.144]]),
    "jet": np.array([[0.00, 0, 0, 0.50], [0.15, 0, 0.15, 1.0], [0.35, 0, 0.85, 1.0], [0.50, 0.35, 1.0, 0.6],
                     [0.65, 1.0, 0.95, 0.0], [0.85, 1.0, 0.35, 0.0], [1.00, 0.75, 0.0, 0.0]]),
    "inferno": np.array([[0.00, 0.0, 0.0, 0.02], [0.25, 0.34, 0.06, 0.43], [0.50, 0.73, 0.21, 0.33],
                         [0.75, 0.98, 0.55, 0.04], [1.00, 0.99, 1.0, 0.64]]),
    "magenta": np.array([[0.00, 0.25, 0.0, 0.25], [1.00, 1.0, 0.0, 1.0]]),
}
_LUTS = {k: (np.stack([np.interp(np.linspace(0, 1, 256), a[:, 0], a[:, i]) for i in (1, 2, 3)], axis=1) * 255 + 0.5).astype(np.uint8) for k, a in _ANCHORS.items()}
# how each map kind is coloured: perceptually uniform maps (readable in grey and by colour-blind
# eyes; "jet" is kept for comparison only); a kind not listed here gets "viridis"
KIND_COLORMAP = {"saliency": "viridis", "patch_scores": "inferno", "segmentation": "viridis"}
PLOTLY_COLORSCALE = {"viridis": "Viridis", "inferno": "Inferno", "jet": "Jet", "magenta": [[0, "#400040"], [1, "#FF00FF"]]}
KIND_TITLE = {"saliency": "saliency", "patch_scores": "patch scores", "segmentation": "segmentation"}


# --------------------------------------------------------------------------- images
def downscale(pixels: np.ndarray, long_side: int = DISPLAY_LONG_SIDE) -> tuple[np.ndarray, float]:
    """(uint8 image with its long side <= long_side, scale = new / old); `pixels` may be floats
    in [0, 1] or uint8 already."""
    from PIL import Image

    h, w = pixels.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    if scale >= 1.0:
        return to_uint8(pixels), 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if pixels.dtype != np.uint8:  # shrink the floats, then quantise: 1 M pixels to convert, not 12 M
        return to_uint8(area_resize(np.asarray(pixels, np.float32), size)), scale
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)), scale


def colorize(values: np.ndarray, colormap: str = "viridis") -> np.ndarray:
    """H x W map in [0, 1] -> H x W x 3 uint8."""
    return _LUTS.get(colormap, _LUTS["viridis"])[to_uint8(values)]


def _blend(gray: np.ndarray, h8: np.ndarray, opacity: float, colormap: str) -> np.ndarray:
    """The colour map blended over the gray image, pixel by pixel, in uint8 through OpenCV's
    tables (5x faster than the same sum in float32; within one grey level of it). Cold areas
    stay see-through: the weight rises from 0 at 0.08 to `opacity` at 0.58."""
    color = cv2.LUT(cv2.merge([h8, h8, h8]), _LUTS.get(colormap, _LUTS["viridis"])[None])
    alpha = (opacity * np.clip((np.arange(256, dtype=np.float32) / 255 - 0.08) * 2.0, 0, 1)).astype(np.float32)[h8]
    return cv2.blendLinear(color, gray, alpha, 1 - alpha)


def thumbnail_of(pixels: np.ndarray, long_side: int = THUMB_LONG_SIDE) -> np.ndarray:
    return downscale(pixels, long_side)[0]


def placeholder(long_side: int = THUMB_LONG_SIDE) -> np.ndarray:
    img = np.full((long_side, int(long_side * 0.65)), 48, np.uint8)
    img[::8, :] = 60
    return img


# --------------------------------------------------------------------------- outlines
def region_edge(values: np.ndarray, threshold: float, width: int = 2) -> np.ndarray:
    """Boolean edge (about `width` px) of the region where `values >= threshold`."""
    region = (np.nan_to_num(values) >= threshold).astype(np.uint8)
    if not region.any():
        return region.astype(bool)
    k = np.ones((3, 3), np.uint8)
    inner = cv2.erode(region, k, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    edge = region & (1 - inner)
    if width > 1:
        edge = cv2.dilate(edge, k, iterations=width - 1)
    return edge.astype(bool)


def region_fraction(values: np.ndarray, threshold: float) -> float:
    """Share of the map at or above the threshold."""
    v = np.nan_to_num(np.asarray(values, np.float32))
    return float((v >= threshold).mean()) if v.size else 0.0


def lesion_shapes(lesions: Sequence[Lesion], scale: float) -> list[tuple[str, Any]]:
    """Ground-truth outlines in display coordinates: ('circle', (cx, cy, r)) | ('box', (x0, y0, x1, y1)) | ('mask', path)."""
    shapes: list[tuple[str, Any]] = []
    for les in lesions:
        if les.mask_path:
            shapes.append(("mask", les.mask_path))
        elif les.center is not None and les.radius:
            cx, cy = les.center
            shapes.append(("circle", (cx * scale, cy * scale, max(3.0, float(les.radius) * scale))))
        elif les.bbox is not None:
            shapes.append(("box", tuple(v * scale for v in les.bbox)))
        elif les.center is not None:
            cx, cy = les.center
            shapes.append(("circle", (cx * scale, cy * scale, 6.0)))
    return shapes


def _mask_outline(path: str, shape: tuple[int, int]) -> np.ndarray | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            small = np.asarray(im.convert("L").resize((shape[1], shape[0]), Image.Resampling.NEAREST)) > 127
    except (OSError, ValueError):
        return None
    return region_edge(small.astype(np.float32), 0.5)


# --------------------------------------------------------------------------- the overlay
def overlay_image(base8: np.ndarray, layer: MapLayer | np.ndarray | None = None, opacity: float = 0.45,
                  lesions: Sequence[Lesion] = (), scale: float = 1.0, threshold: float | None = None,
                  box: tuple[int, int, int, int] | None = None, colormap: str | None = None):
    """The display-size mammogram with one map blended in, its thresholded region outlined, the
    ground-truth lesion outline and the patch box the model saw. Returns a PIL RGB image.

    `base8` is the downscaled uint8 image (`downscale`); `layer` a `MapLayer` (any kind) or an
    array in [0, 1]; `scale` the display / original ratio for lesion and box coordinates;
    `threshold` outlines where the map reaches it (a layer's own `threshold` is the default
    only when the caller passes it: drawing stays the caller's choice); `box` defaults to the
    layer's box.
    """
    from PIL import Image, ImageDraw

    values = None
    if isinstance(layer, MapLayer):
        values = layer_at(layer, base8.shape[:2])
        colormap = colormap or KIND_COLORMAP.get(layer.kind, "viridis")
        box = box if box is not None else layer.box
    elif layer is not None:
        values = downscale_map(layer, base8.shape[:2])
    colormap = colormap or "viridis"
    gray = cv2.merge([base8, base8, base8])
    arr = gray if values is None or opacity <= 0 else _blend(gray, to_uint8(values), opacity, colormap)
    width = max(2, round(max(arr.shape[:2]) / 400))
    if values is not None and threshold is not None:
        arr[region_edge(values, float(threshold), width)] = REGION_COLOR
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    if box is not None:
        x0, y0, x1, y1 = (v * scale for v in box)
        _dashed_rect(draw, (x0, y0, x1, y1), BOX_COLOR, width)
    for kind, geo in lesion_shapes(lesions, scale):
        if kind == "circle":
            cx, cy, r = geo
            draw.ellipse((cx - r - 1, cy - r - 1, cx + r + 1, cy + r + 1), outline=LESION_EDGE, width=width + 2)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=LESION_COLOR, width=width)
        elif kind == "box":
            x0, y0, x1, y1 = geo
            draw.rectangle((x0 - 1, y0 - 1, x1 + 1, y1 + 1), outline=LESION_EDGE, width=width + 2)
            draw.rectangle(geo, outline=LESION_COLOR, width=width)
        else:
            edge = _mask_outline(geo, (img.size[1], img.size[0]))
            if edge is not None:
                arr2 = np.asarray(img).copy()
                arr2[cv2.dilate(edge.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)] = LESION_EDGE
                arr2[edge] = LESION_COLOR
                img = Image.fromarray(arr2)
                draw = ImageDraw.Draw(img)
    return img


def layer_caption(layer: MapLayer, threshold: float | None = None) -> str:
    """One line under an overlay: what the map is, how it became a score, what is outlined."""
    parts = [layer.name or layer.method or KIND_TITLE.get(layer.kind, layer.kind)]
    if layer.score is not None:
        parts.append(f"image score {layer.score:.3f}" + (f" ({layer.score_rule})" if layer.score_rule else ""))
    if threshold is not None:
        parts.append(f"magenta outline: ≥ {threshold:.2f}")
    if layer.box is not None:
        parts.append("dashed box: the patch it saw")
    return " — ".join(parts)


def _dashed_rect(draw, box, color, width, dash: int = 10) -> None:
    x0, y0, x1, y1 = box
    for (ax, ay, bx, by) in ((x0, y0, x1, y0), (x1, y0, x1, y1), (x1, y1, x0, y1), (x0, y1, x0, y0)):
        length = math.hypot(bx - ax, by - ay)
        n = max(1, int(length // dash))
        for i in range(0, n, 2):
            t0, t1 = i / n, min(1.0, (i + 1) / n)
            draw.line((ax + (bx - ax) * t0, ay + (by - ay) * t0, ax + (bx - ax) * t1, ay + (by - ay) * t1), fill=color, width=width)
