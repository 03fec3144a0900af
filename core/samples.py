"""Turn dataset records into model inputs for one task: whole images, or lesion patches.

The slow, deterministic front of a pipeline (decode, crop, CLAHE, resize) is computed
once per image and cached in memory; augmentation and the cheap tail run per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from .io import read_image
from .labels import SPACES, task_truth
from .models.base import Roi, roi_box
from .preprocess import Pipeline, extract_patch
from .types import Mammogram, Record

TASK_CLASSES: dict[str, tuple[str, ...]] = {name: s.classes for name, s in SPACES.items()}


def lesion_rois(record: Record) -> list[tuple[Roi, str]]:
    """(roi, severity) for every lesion with geometry: its centre and radius (MIAS), or the
    centre and half-size of its mask file (CBIS-DDSM ROI masks, Mini-DDSM contours)."""
    out = []
    for lesion in record.lesions:
        if lesion.center is not None:
            out.append(((float(lesion.center[0]), float(lesion.center[1]), float(lesion.radius or 0.0)), lesion.severity))
        elif lesion.mask_path:
            roi = _mask_roi(lesion.mask_path)
            if roi is not None:
                out.append((roi, lesion.severity))
    return out


@lru_cache(maxsize=4096)
def _mask_roi(path: str) -> Roi | None:
    from .lesion.truth import circle_of_mask, read_mask

    return circle_of_mask(read_mask(path))


@dataclass
class TaskSamples:
    """Cached model inputs (front pipeline applied) with labels and their image index."""

    inputs: np.ndarray  # N x H x W float32
    labels: np.ndarray  # N class indices
    image_index: np.ndarray  # N -> index into `records`
    records: list[Record]


def prepare_front(front: Pipeline, image: Mammogram, task_input: str, roi: Roi | None, patch_scale: float) -> np.ndarray:
    if task_input == "patch":
        box = roi_box(image.shape, roi, patch_scale)
        return front.apply(extract_patch(image.pixels, box))[0]
    return front.apply(image.pixels)[0]


def build_samples(records: Sequence[Record], task: str, task_input: str, front: Pipeline, *, patch_scale: float = 2.5, jitter: int = 0, seed: int = 0, progress=None) -> TaskSamples:
    """Inputs for every record in the task; patch tasks get one input per lesion (+ jittered copies)."""
    classes = TASK_CLASSES[task]
    rng = np.random.default_rng(seed)
    inputs, labels, index = [], [], []
    kept: list[Record] = []
    for rec in progress(records) if progress else records:
        truth = task_truth(task, rec)
        if truth is None:
            continue
        rois = lesion_rois(rec) if task_input == "patch" else [None]
        if task_input == "patch" and not rois:
            continue
        image = read_image(rec.path)
        k = len(kept)
        kept.append(rec)
        for roi, severity in (rois if task_input == "patch" else [(None, truth)]):
            label = classes.index(severity if task_input == "patch" else truth)
            variants = [roi] + ([_jitter(roi, rng) for _ in range(jitter)] if roi is not None else [])
            for r in variants:
                inputs.append(prepare_front(front, image, task_input, r, patch_scale))
                labels.append(label)
                index.append(k)
    return TaskSamples(np.stack(inputs).astype(np.float32), np.array(labels), np.array(index), kept)


def _jitter(roi: Roi, rng: np.random.Generator) -> Roi:
    cx, cy, r = roi
    d = max(r, 16.0) * 0.5
    return (cx + rng.uniform(-d, d), cy + rng.uniform(-d, d), r * rng.uniform(0.8, 1.25))
