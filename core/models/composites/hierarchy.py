"""Seed 001's `hierarchy_pred` with seed 003's localisation, as one 3-class classifier.

Stage 1 (whole mammogram) says normal or lesion. Only when it says lesion does stage 2
run and split the lesion mass into benign / malignant: a patch model on the patch at
stage 1's Grad-CAM peak (seed 003), or a whole-image model that finds the lesion itself
(the lesion-geometry models and their ensembles). Each stage is any registered model whose
output can be read in its task. Where stage 2 does not run, the lesion mass is split by
the benign : malignant ratio stage 2 was trained on, so the output stays a distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from core.labels import project
from core.types import Mammogram
from core.models.classifier import Heatmap, cam_peak
from core.preprocess.roi import Roi, default_roi
from core.models.kinds import register_kind
from core.models.prediction import layer_on_demand, prefixed, MapLayer, Prediction


def combine_stages(p1: float, p2: float | None, t2: float, prior_malignant: float) -> tuple[np.ndarray, str]:
    """Seed 001's rule: normal unless stage 1 said lesion (then stage 2 ran, p2 is not None);
    the lesion mass split by stage 2's p(malignant), or by its training prior where it did not run.
    Shared by the live model and its out-of-fold rows (`core.hierarchy_build`)."""
    if p2 is None:
        return np.array([1 - p1, p1 * (1 - prior_malignant), p1 * prior_malignant], np.float32), "normal"
    return np.array([1 - p1, p1 * (1 - p2), p1 * p2], np.float32), ("malignant" if p2 >= t2 else "benign")


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
    looks_at_roi = False  # its stage 2 finds its own region (stage 1's CAM peak)

    def __init__(self, card: dict[str, Any], stage1: Any, stage2: Any) -> None:
        self.card = card
        self.name: str = card["name"]
        self.stage1, self.stage2 = stage1, stage2
        self.t1 = float(card["thresholds"]["stage1"])
        self.t2 = float(card["thresholds"]["stage2"])
        self.prior_malignant = float(card.get("stage2_prior_malignant", 0.5))
        # cards written before whole-image stage 2 models existed had patch stage 2 models
        self.stage2_on_patch = card.get("stage2_input", "patch") == "patch"

    def trace(self, image: Mammogram, roi: Roi | None = None) -> StageTrace:
        p1, lesion, roi = self.first_stage(image, roi)
        return self.combine(p1, roi, self.second_stage(image, roi) if lesion else None)

    def first_stage(self, image: Mammogram, roi: Roi | None = None) -> tuple[float, bool, Roi | None]:
        """Stage 1 alone: p(lesion), whether it says lesion, and the region a patch stage 2
        must see (split out so that the stages can run in different processes: `core.score`)."""
        p1 = float(project(self.stage1.predict_proba([image]), self.stage1.classes, "stage1")[0, 1])
        if p1 < self.t1:
            return p1, False, None
        return p1, True, self._stage2_roi(image, roi)

    def _stage2_roi(self, image: Mammogram, roi: Roi | None) -> Roi | None:
        """Where a patch stage 2 looks: the given region, else stage 1's Grad-CAM peak (seed
        003); a whole-image stage 2 needs none."""
        if not self.stage2_on_patch:
            return None
        return roi if roi is not None else default_roi(image.shape, cam_peak(self.stage1.explain(image, 1)))

    def second_stage(self, image: Mammogram, roi: Roi | None) -> float:
        """Stage 2's p(malignant): on the patch at `roi`, or on the whole image."""
        probs = self.stage2.predict_proba([image], [roi]) if self.stage2_on_patch else self.stage2.predict_proba([image])
        return float(project(probs, self.stage2.classes, "stage2")[0, 1])

    def combine(self, p1: float, roi: Roi | None, p2: float | None) -> StageTrace:
        """The 3-class output from stage 1's p(lesion) and stage 2's p(malignant) (None: not run)."""
        probs, decision = combine_stages(p1, p2, self.t2, self.prior_malignant)
        return StageTrace(p1, p2 is not None, roi if p2 is not None else None, p2, probs, decision)

    def steps(self, t: StageTrace) -> list[dict[str, Any]]:
        """The stage trace a `Prediction` carries."""
        out = [{"stage": "stage 1", "model": self.card["stage1"], "p_lesion": round(t.p_lesion, 4), "threshold": self.t1, "says": "lesion" if t.stage1_says_lesion else "normal"}]
        if t.stage1_says_lesion:
            out.append({"stage": "stage 2", "model": self.card["stage2"], "p_malignant": round(float(t.p_malignant), 4), "threshold": self.t2, "says": t.decision, "roi": [round(v, 1) for v in t.roi] if t.roi else None})
        return out

    def parts(self, image: Mammogram) -> list[tuple[Any, Mammogram]]:
        """Stage 1's prediction, for `run_models` to run ahead (stage 2 runs only where stage 1
        says lesion, so it is not asked for ahead)."""
        return [(self.stage1, image)]

    def predict(self, image: Mammogram, roi: Roi | None = None, *, with_maps: bool = True) -> Prediction:
        """The 3-class output, the stage trace, and each stage's own maps as layers (stage 2's
        only where it ran): one pass of each stage model."""
        first = self.stage1.predict(image, with_maps=with_maps)
        p1 = float(project(first.probabilities[None], first.classes, "stage1")[0, 1])
        second = None
        if p1 >= self.t1:
            roi = self._stage2_roi(image, roi)
            second = self.stage2.predict(image, roi, with_maps=with_maps)
        p2 = None if second is None else float(project(second.probabilities[None], second.classes, "stage2")[0, 1])
        t = self.combine(p1, roi if second is not None else None, p2)
        maps = _stage_maps("stage 1", first) | (_stage_maps("stage 2", second) if second is not None else {})
        later = prefixed(first.on_demand, "stage1", "stage 1 · ") | (prefixed(second.on_demand, "stage2", "stage 2 · ") if second is not None else {})
        return Prediction(self.name, self.task, self.classes, t.probabilities, t.decision, None, maps, trace=self.steps(t), on_demand=later)

    def map_on_demand(self, image: Mammogram, key: str, roi: Roi | None = None) -> MapLayer:
        """A stage's on-demand layer (`stage1/<key>`, `stage2/<key>`: stage 2 on the region it read)."""
        from dataclasses import replace

        from core.errors import ModelError

        stage, _, inner = key.partition("/")
        if stage == "stage1":
            layer = layer_on_demand(self.stage1, image, inner)
        elif stage == "stage2":
            layer = layer_on_demand(self.stage2, image, inner, self._stage2_roi(image, roi))
        else:
            raise ModelError(f"model {self.name!r} has no such map layer")
        return replace(layer, name=f"{stage[:5]} {stage[5:]} · {layer.name}")

    def predict_proba(self, images: Sequence[Mammogram], rois: Sequence[Roi | None] | None = None) -> np.ndarray:
        rois = list(rois) if rois is not None else [None] * len(images)
        if not images:
            return np.zeros((0, 3), np.float32)
        return np.stack([self.trace(im, r).probabilities for im, r in zip(images, rois)])


class ExplainedHierarchy(Hierarchy):
    """A hierarchy whose two stages can explain any class (Grad-CAM classifiers), so it can too."""

    def explain(self, image: Mammogram, class_index: int, roi: Roi | None = None) -> Heatmap:
        """Normal/lesion evidence from stage 1; benign/malignant from stage 2 on its patch."""
        if class_index == 0:
            return self.stage1.explain(image, 0)
        t = self.trace(image, roi)
        if not t.stage1_says_lesion:
            return self.stage1.explain(image, 1)
        return self.stage2.explain(image, class_index - 1, t.roi)


def _stage_maps(stage: str, pred: Prediction) -> dict[str, MapLayer]:
    from dataclasses import replace

    return {f"{stage.replace(' ', '')}/{k}": replace(m, name=f"{stage} · {m.name}") for k, m in pred.maps.items()}


@register_kind("hierarchy", composite=True, stage_roles=("stage1", "stage2"))
def build_hierarchy_model(card: dict[str, Any], root: str) -> Hierarchy:
    from core.models import registry

    stage1, stage2 = registry.load(card["stage1"], root), registry.load(card["stage2"], root)
    explained = all(callable(getattr(m, "explain", None)) for m in (stage1, stage2))
    return (ExplainedHierarchy if explained else Hierarchy)(card, stage1, stage2)
