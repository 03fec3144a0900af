"""What the zoomable mammogram viewer needs, in original-image pixels (no Streamlit, no plotly).

The browser gets the display-size picture (long side 1,024 px, a JPEG data URI of ~0.1 MB)
stretched over the original image's coordinates, and every map layer on its own coarse grid
with the coordinates that stretch it over the original: a Grad-CAM or patch map costs
kilobytes however large the image is. The original resolution (a 4,432 x 2,864 DICOM is a
~1-2 MB JPEG) is sent only when the visitor asks for full detail to zoom into real pixels
(`full_resolution_uri`).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np
import pandas as pd

from core.models.prediction import MapLayer
from core.types import Lesion, Mammogram
from core.dashboard.overlays import downscale, to_uint8

JPEG_QUALITY = 88
# A layer whose values span less than this shows nothing on the image: the viewer's colour
# scales are see-through below 0.08 and reach a quarter of the opacity at 0.2 (a U-Net map
# peaking at 0.09 on a sample film drew as nothing at all, yet was the viewer's first layer).
SHOWS_SOMETHING = 0.2


def shows_something(layer: MapLayer) -> bool:
    """The layer has something to show on this image: its values span at least
    `SHOWS_SOMETHING` (a U-Net map with no lesion, or patch scores near zero everywhere, do not).
    The viewer opens on such a layer."""
    values = np.asarray(layer.values, np.float32)
    return values.size > 0 and float(np.nanmax(values) - np.nanmin(values)) >= SHOWS_SOMETHING


@dataclass(frozen=True)
class ImageView:
    """One image as the pages show it: original shape, the display-size picture and its scale
    (new / original), the display-size picture as the viewer's JPEG, the de-identified
    metadata (uploads)."""

    shape: tuple[int, int]
    base8: np.ndarray
    scale: float
    picture_uri: str
    meta: pd.DataFrame | None = None


def image_view(image: Mammogram, meta: pd.DataFrame | None = None) -> ImageView:
    base8, scale = downscale(image.pixels)
    return ImageView(tuple(image.shape), base8, scale, jpeg_uri(base8), meta)


def full_resolution_uri(image: Mammogram) -> str:
    """The image at its original resolution as a JPEG data URI (the viewer's full detail)."""
    return jpeg_uri(to_uint8(image.pixels))


def jpeg_uri(img8: np.ndarray, quality: int = JPEG_QUALITY) -> str:
    """A grey uint8 image as a `data:image/jpeg;base64,...` URI (what plotly's Image trace takes)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img8).save(buf, format="JPEG", quality=quality, optimize=False)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass(frozen=True)
class Grid:
    """A map on its own grid and where its cells lie on the original image (cell centres)."""

    z: np.ndarray  # float32, rows x columns, 0..1
    x0: float
    dx: float
    y0: float
    dy: float


def layer_grid(layer: MapLayer, max_side: int = 256) -> Grid:
    """The layer's values (at most `max_side` cells a side) placed over the original image."""
    h, w = layer.image_shape
    z = np.nan_to_num(np.asarray(layer.values, np.float32))
    if max(z.shape) > max_side:
        f = max_side / max(z.shape)
        z = cv2.resize(z, (max(1, round(z.shape[1] * f)), max(1, round(z.shape[0] * f))), interpolation=cv2.INTER_AREA)
    dy, dx = h / z.shape[0], w / z.shape[1]
    return Grid(np.clip(z, 0.0, 1.0), dx / 2.0, dx, dy / 2.0, dy)


def outline_paths(lesions: Sequence[Lesion], shape: tuple[int, int]) -> list[dict[str, Any]]:
    """Ground-truth outlines in original pixels: {"type": "circle"|"rect", x0, y0, x1, y1} or
    {"type": "path", "path": svg} for a mask (traced at up to 1,024 px, then scaled back)."""
    out: list[dict[str, Any]] = []
    for les in lesions:
        if les.mask_path:
            path = _mask_path(les.mask_path, shape)
            if path:
                out.append({"type": "path", "path": path})
        elif les.center is not None:
            cx, cy = les.center
            r = float(les.radius) if les.radius else 0.005 * max(shape)
            out.append({"type": "circle", "x0": cx - r, "y0": cy - r, "x1": cx + r, "y1": cy + r})
        elif les.bbox is not None:
            x0, y0, x1, y1 = les.bbox
            out.append({"type": "rect", "x0": x0, "y0": y0, "x1": x1, "y1": y1})
    return out


def _mask_path(path: str, shape: tuple[int, int], long_side: int = 1024) -> str | None:
    from PIL import Image

    h, w = shape
    f = min(1.0, long_side / max(h, w))
    try:
        with Image.open(path) as im:
            small = np.asarray(im.convert("L").resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.NEAREST)) > 127
    except (OSError, ValueError):
        return None
    contours, _ = cv2.findContours(small.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    parts = []
    for c in contours:
        pts = c[:, 0, :] / f
        if len(pts) >= 3:
            parts.append("M " + " L ".join(f"{x:.0f},{y:.0f}" for x, y in pts) + " Z")
    return " ".join(parts) or None
