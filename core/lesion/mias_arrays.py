"""MIAS at native resolution in memory: grey images, breast masks, lesion circles.

Decoding all 322 films takes a few seconds, so training runs decode once per process
instead of keeping a derived copy of the data set on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..io import read_image
from ..preprocess import breast_mask
from ..types import Record


@dataclass
class LesionImages:
    records: list[Record]
    images: list[np.ndarray]  # H x W float32 in [0, 1]
    breasts: list[np.ndarray]  # H x W bool
    circles: list[list[tuple[float, float, float, str]]]  # (cx, cy, r, severity) per image

    def index(self, image_ids: Sequence[str]) -> np.ndarray:
        where = {r.image_id: i for i, r in enumerate(self.records)}
        return np.array([where[i] for i in image_ids], int)


def circles_of(record: Record) -> list[tuple[float, float, float, str]]:
    return [(float(l.center[0]), float(l.center[1]), float(l.radius or 0.0), l.severity) for l in record.lesions if l.center is not None]


def load_lesion_images(records: Sequence[Record], progress=None) -> LesionImages:
    images, breasts, circles = [], [], []
    for rec in progress(records) if progress else records:
        px = read_image(Path(rec.path)).pixels.astype(np.float32)
        images.append(px)
        breasts.append(breast_mask(px))
        circles.append(circles_of(rec))
    return LesionImages(list(records), images, breasts, circles)
