"""Turn dataset records into model inputs for one task: whole images, or lesion patches.

The slow, deterministic front of a pipeline (decode, crop, CLAHE, resize) is computed
once per image, held in memory for a few films or written to disk for an archive
(`core.training.sample_store`); augmentation and the cheap tail run per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np

from core.io.reader import read_image
from core.labels import SPACES, task_truth
from core.preprocess.roi import Roi, roi_box
from core.preprocess.pipeline import Pipeline, extract_patch
from core.types import Mammogram, Record

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
    from core.datasets.lesion_truth import circle_of_mask, read_mask

    return circle_of_mask(read_mask(path))


@dataclass
class TaskSamples:
    """Cached model inputs (front pipeline applied) with labels and their image index."""

    inputs: np.ndarray  # N x H x W float32, in memory or rows read from disk (`RowFile`)
    labels: np.ndarray  # N class indices
    image_index: np.ndarray  # N -> index into `records`
    records: list[Record]


def prepare_front(front: Pipeline, image: Mammogram, task_input: str, roi: Roi | None, patch_scale: float) -> np.ndarray:
    if task_input == "patch":
        box = roi_box(image.shape, roi, patch_scale)
        return front.apply(extract_patch(image.pixels, box))[0]
    return front.apply(image.pixels)[0]


@dataclass(frozen=True)
class SamplePlan:
    """Which inputs a task makes, before any pixel is read: one row per whole image, or one
    per lesion plus its jittered copies (centre first). Knowing the rows up front lets a
    store write them straight to disk."""

    records: list[Record]  # the records that give at least one row
    rows: list[tuple[int, Roi | None, int]]  # (index into records, patch roi or None, label)

    def __len__(self) -> int:
        return len(self.rows)


def plan_samples(records: Sequence[Record], task: str, task_input: str, *, jitter: int = 0, seed: int = 0) -> SamplePlan:
    classes = TASK_CLASSES[task]
    rng = np.random.default_rng(seed)
    kept: list[Record] = []
    rows: list[tuple[int, Roi | None, int]] = []
    for rec in records:
        truth = task_truth(task, rec)
        if truth is None:
            continue
        rois = lesion_rois(rec) if task_input == "patch" else [(None, truth)]
        if not rois:
            continue
        k = len(kept)
        kept.append(rec)
        for roi, severity in rois:
            label = classes.index(severity if task_input == "patch" else truth)
            variants = [roi] + ([_jitter(roi, rng) for _ in range(jitter)] if roi is not None else [])
            rows += [(k, r, label) for r in variants]
    return SamplePlan(kept, rows)


def render_samples(plan: SamplePlan, task_input: str, front: Pipeline, *, patch_scale: float = 2.5, progress=None) -> Iterator[np.ndarray]:
    """The plan's inputs in row order, each film decoded once."""
    by_record: dict[int, list[Roi | None]] = {}
    for k, roi, _ in plan.rows:
        by_record.setdefault(k, []).append(roi)
    for k in progress(range(len(plan.records))) if progress else range(len(plan.records)):
        image = read_image(plan.records[k].path)
        for roi in by_record[k]:
            yield np.asarray(prepare_front(front, image, task_input, roi, patch_scale), np.float32)


def build_samples(records: Sequence[Record], task: str, task_input: str, front: Pipeline, *, patch_scale: float = 2.5, jitter: int = 0, seed: int = 0, progress=None) -> TaskSamples:
    """Inputs for every record in the task, held in memory (a few films: demos, tests)."""
    plan = plan_samples(records, task, task_input, jitter=jitter, seed=seed)
    inputs = np.stack(list(render_samples(plan, task_input, front, patch_scale=patch_scale, progress=progress)))
    return samples_of(plan, inputs)


def samples_of(plan: SamplePlan, inputs) -> TaskSamples:
    return TaskSamples(inputs, np.array([label for _, _, label in plan.rows]), np.array([k for k, _, _ in plan.rows]), list(plan.records))


def _jitter(roi: Roi, rng: np.random.Generator) -> Roi:
    cx, cy, r = roi
    d = max(r, 16.0) * 0.5
    return (cx + rng.uniform(-d, d), cy + rng.uniform(-d, d), r * rng.uniform(0.8, 1.25))
