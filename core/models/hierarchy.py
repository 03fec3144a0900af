"""Seed 001's `hierarchy_pred` with seed 003's localisation, as one 3-class classifier.

Stage 1 (whole mammogram) says normal or lesion. Only when it says lesion does stage 2
(a patch model) run, on the patch at stage 1's Grad-CAM peak, and split the lesion mass
into benign / malignant. Where stage 2 does not run, the lesion mass is split by the
benign : malignant ratio stage 2 was trained on, so the output stays a distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..types import Mammogram
from .base import Heatmap, ImageClassifier, Roi, cam_peak, default_roi, heatmap_layer
from .kinds import register_kind
from .prediction import Prediction


@dataclass
class StageTrace:
    """What happened to one image, stage by stage (the dashboard shows it)."""

    p_lesion: float
    stage1_says_lesion: bool
    roi: Roi | None
    p_malignant: float | None  # None when stage 2 did not run
    probabilities: np.ndarray
    decision: str


class Hierarchy:
    classes = ("normal", "benign", "malignant")
    task = "hierarchy"
    framework = "composite"

    def __init__(self, card: dict[str, Any], stage1: ImageClassifier, stage2: ImageClassifier) -> None:
        self.card = card
        self.name: str = card["name"]
        self.stage1, self.stage2 = stage1, stage2
        self.t1 = float(card["thresholds"]["stage1"])
        self.t2 = float(card["thresholds"]["stage2"])
        self.prior_malignant = float(card.get("stage2_prior_malignant", 0.5))

    def trace(self, image: Mammogram, roi: Roi | None = None) -> StageTrace:
        p1, roi = self.first_stage(image, roi)
        p2 = None if roi is None else float(self.stage2.predict_proba([image], [roi])[0, 1])
        return self.combine(p1, roi, p2)

    def first_stage(self, image: Mammogram, roi: Roi | None = None) -> tuple[float, Roi | None]:
        """Stage 1 alone: p(lesion) and, when it says lesion, the region stage 2 must see
        (split out so that stage 1 and stage 2 can run in different processes: `core.score`)."""
        p1 = float(self.stage1.predict_proba([image])[0, 1])
        if p1 < self.t1:
            return p1, None
        if roi is None:
            roi = default_roi(image.shape, cam_peak(self.stage1.explain(image, 1)))
        return p1, roi

    def combine(self, p1: float, roi: Roi | None, p2: float | None) -> StageTrace:
        """The 3-class output from stage 1's p(lesion) and stage 2's p(malignant) (None: not run)."""
        if p2 is None:
            probs = np.array([1 - p1, p1 * (1 - self.prior_malignant), p1 * self.prior_malignant], np.float32)
            return StageTrace(p1, False, None, None, probs, "normal")
        probs = np.array([1 - p1, p1 * (1 - p2), p1 * p2], np.float32)
        return StageTrace(p1, True, roi, p2, probs, "malignant" if p2 >= self.t2 else "benign")

    def steps(self, t: StageTrace) -> list[dict[str, Any]]:
        """The stage trace a `Prediction` carries."""
        out = [{"stage": "stage 1", "model": self.card["stage1"], "p_lesion": round(t.p_lesion, 4), "threshold": self.t1, "says": "lesion" if t.stage1_says_lesion else "normal"}]
        if t.stage1_says_lesion:
            out.append({"stage": "stage 2", "model": self.card["stage2"], "p_malignant": round(float(t.p_malignant), 4), "threshold": self.t2, "says": t.decision, "roi": [round(v, 1) for v in t.roi] if t.roi else None})
        return out

    def predict(self, image: Mammogram, roi: Roi | None = None, *, with_maps: bool = True) -> Prediction:
        t = self.trace(image, roi)
        steps = self.steps(t)
        maps = {}
        if with_maps:
            maps["saliency"] = heatmap_layer(self.explain(image, self.classes.index(t.decision), roi), image.shape)
        return Prediction(self.name, self.task, self.classes, t.probabilities, t.decision, None, maps, trace=steps)

    def predict_proba(self, images: Sequence[Mammogram], rois: Sequence[Roi | None] | None = None) -> np.ndarray:
        rois = list(rois) if rois is not None else [None] * len(images)
        if not images:
            return np.zeros((0, 3), np.float32)
        return np.stack([self.trace(im, r).probabilities for im, r in zip(images, rois)])

    def explain(self, image: Mammogram, class_index: int, roi: Roi | None = None) -> Heatmap:
        """Normal/lesion evidence from stage 1; benign/malignant from stage 2 on its patch."""
        if class_index == 0:
            return self.stage1.explain(image, 0)
        t = self.trace(image, roi)
        if not t.stage1_says_lesion:
            return self.stage1.explain(image, 1)
        return self.stage2.explain(image, class_index - 1, t.roi)


@register_kind("hierarchy", composite=True)
def build_hierarchy_model(card: dict[str, Any], root: str) -> Hierarchy:
    from . import registry

    return Hierarchy(card, registry.load(card["stage1"], root), registry.load(card["stage2"], root))
