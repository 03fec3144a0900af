"""Kind `ensemble` (seed 004): registered members, each run on the original and flipped
image, probabilities read in the ensemble's task and combined by a named rule.

The prediction carries what no single model has: the spread (sd across members and
augmentations) beside the probability, and every member's maps put back on the original
grid and averaged over the augmentations.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from core.labels import project, space
from core.types import Mammogram
from core.models.composites import tta
from core.models.kinds import register_kind
from core.models.prediction import MapLayer, Prediction, RecentResults, decide, layer_on_demand, prefixed, shared


class Ensemble:
    framework = "composite"
    input = "whole"
    looks_at_roi = False

    def __init__(self, card: dict[str, Any], members: list[Any]) -> None:
        self.card, self.members = card, members
        self.name: str = card["name"]
        self.task: str = card["task"]
        self.classes: tuple[str, ...] = space(self.task).classes
        self.augmentations = tta.check(list(card.get("tta", ["none"])))
        self.combination: dict[str, Any] = card.get("combine", {"rule": "mean"})
        self.threshold: float | None = card.get("threshold")
        self._recent = RecentResults()

    def _views(self, image: Mammogram) -> list[tuple[str, Mammogram]]:
        """The views `tta.views` shares with every other ensemble (a member's result for a view
        is computed once)."""
        return tta.views(image, self.augmentations, _shared_front_side(self.members))

    def parts(self, image: Mammogram) -> list[tuple[Any, Mammogram]]:
        """The (member, view) predictions this ensemble combines, for `run_models` to run ahead."""
        return [(m, view) for _, view in self._views(image) for m in self.members]

    def runs(self, image: Mammogram, with_maps: bool) -> list[tuple[Any, str, Prediction]]:
        """Every (member, augmentation) prediction of one image."""
        return [(m, aug, m.predict(view, with_maps=with_maps)) for aug, view in self._views(image) for m in self.members]

    def _read(self, member: Any, probabilities: np.ndarray) -> np.ndarray:
        return project(probabilities[None], member.classes, self.task)[0]

    def _combine(self, runs: list[tuple[Any, str, Prediction]]) -> tuple[np.ndarray, np.ndarray]:
        read = np.array([self._read(m, p.probabilities) for m, _, p in runs])
        per_member = np.array([read[[i for i, (m, _, _) in enumerate(runs) if m is member]].mean(0) for member in self.members])
        from core.models.composites.combine import combine

        return combine(per_member, self.combination), read.std(0).astype(np.float32)

    def predict_proba(self, images: Sequence[Mammogram], rois=None) -> np.ndarray:
        if not images:
            return np.zeros((0, len(self.classes)), np.float32)
        return np.stack([self._combine(self.runs(im, with_maps=False))[0] for im in images])

    def predict(self, image: Mammogram, roi=None, *, with_maps: bool = True) -> Prediction:
        """Remembered per image: a study model over this ensemble reads the same prediction."""
        return shared(self._recent.remember(image.pixels, ("prediction", with_maps), lambda: self._predict(image, with_maps)))

    def _predict(self, image: Mammogram, with_maps: bool) -> Prediction:
        runs = self.runs(image, with_maps)
        probs, spread = self._combine(runs)
        trace = []
        for member in self.members:
            mine = [self._read(member, p.probabilities)[-1] for m, _, p in runs if m is member]
            trace.append({"stage": "member", "model": member.name, f"p_{self.classes[-1]}": round(float(np.mean(mine)), 4), "augmentations": len(mine), "sd": round(float(np.std(mine)), 4)})
        maps = self._maps(runs) if with_maps else {}
        later = {}
        for m, aug, p in runs:  # a backward map is computed on the original view only
            if aug == "none":
                later |= prefixed(p.on_demand, m.name, f"{m.name} (original view): ")
        return Prediction(self.name, self.task, self.classes, probs, decide(self.classes, probs, self.threshold), self.threshold, maps,
                          spread=spread, trace=trace, on_demand=later)

    def map_on_demand(self, image: Mammogram, key: str, roi=None) -> MapLayer:
        """A member's on-demand layer (`<member>/<key>`) of the original view."""
        from dataclasses import replace

        from core.errors import ModelError

        name, _, inner = key.partition("/")
        member = next((m for m in self.members if m.name == name), None)
        if member is None:
            raise ModelError(f"model {self.name!r} has no such map layer")
        layer = layer_on_demand(member, image, inner)
        return replace(layer, name=f"{member.name} (original view): {layer.name}")

    def _maps(self, runs: list[tuple[Any, str, Prediction]]) -> dict[str, MapLayer]:
        """Each member's layers, restored to the original orientation and averaged over
        augmentations; a layer equal to one already kept (two readings of one patch map) is
        shown once, under the first member's name."""
        from dataclasses import replace

        out: dict[str, MapLayer] = {}
        for member in self.members:
            mine = [(aug, p) for m, aug, p in runs if m is member]
            for key, first in mine[0][1].maps.items():
                values = _mean_restored([(aug, p.maps[key].values) for aug, p in mine if key in p.maps and np.shape(p.maps[key].values) == np.shape(first.values)])
                if any(k.split("/", 1)[1] == key and np.array_equal(kept.values, values) for k, kept in out.items()):
                    continue
                layer = replace(first, name=f"{member.name}: {first.name}", values=values)
                out[f"{member.name}/{key}"] = replace(layer, score=layer.rescore() if layer.score_rule else None)
        return out


def _mean_restored(grids: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """The mean of maps computed on augmented views, each put back on the original grid: the
    same float32 sums as `np.mean(stacked, 0)`, without stacking (or copying) the flipped maps."""
    aug, values = grids[0]
    total = np.array(tta.AUGMENTATIONS[aug](np.asarray(values, np.float32)), np.float32, copy=True)
    for aug, values in grids[1:]:
        total += tta.AUGMENTATIONS[aug](np.asarray(values, np.float32))
    total /= len(grids)
    return total


def _shared_front_side(members: list[Any]) -> int | None:
    """The `max_side` of the `limit_size` step that every member applies first to a whole
    image (None when a member does not, looks at a patch, or is itself a composite)."""
    sides = set()
    for m in members:
        pipe = getattr(m, "front", None) or getattr(m, "pipeline", None)
        if getattr(m, "input", "whole") != "whole" or pipe is None or not pipe.steps or pipe.steps[0][0] != "limit_size":
            return None
        sides.add(int(pipe.steps[0][1].get("max_side", 1024)))
    return sides.pop() if len(sides) == 1 else None


@register_kind("ensemble", composite=True)
def build_ensemble(card: dict[str, Any], root: str) -> Ensemble:
    from core.models import registry

    return Ensemble(card, [registry.load(name, root) for name in card["members"]])
