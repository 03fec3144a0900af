"""What every model returns for one image: the `Prediction` contract.

Pages, the CLI and exports draw whatever fields a prediction carries (maps, spread,
stage trace) without knowing which kind of model made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

MAP_KINDS = ("saliency", "segmentation", "patch_scores")


@dataclass(frozen=True)
class MapLayer:
    """One named map of an image. `values` lie on the model's working grid; `on_grid()` puts
    them on the original image grid (held once, at the image's size, only when asked)."""

    name: str  # e.g. "Grad-CAM (malignant)", "lesion probability"
    kind: str  # saliency | segmentation | patch_scores
    values: np.ndarray  # float32, 0..1
    image_shape: tuple[int, int]  # rows, columns of the original image
    method: str = ""
    class_name: str | None = None
    box: tuple[int, int, int, int] | None = None  # region the model saw, original pixels
    score_rule: str | None = None  # the rule that turns this map into an image score
    score: float | None = None  # that score, as the model reported it
    threshold: float | None = None  # a level that outlines a region (segmentation)

    def on_grid(self) -> np.ndarray:
        h, w = self.image_shape
        v = np.asarray(self.values, np.float32)
        if v.shape == (h, w):
            return v
        return cv2.resize(v, (w, h), interpolation=cv2.INTER_LINEAR)

    def rescore(self) -> float | None:
        """The image score recomputed from this map by its named rule."""
        if self.score_rule is None:
            return None
        from ..lesion.score_rules import get_rule

        return get_rule(self.score_rule)(np.asarray(self.values, np.float32))


@dataclass
class Prediction:
    model: str
    task: str
    classes: tuple[str, ...]
    probabilities: np.ndarray  # one per class, sums to 1
    decision: str
    threshold: float | None = None
    maps: dict[str, MapLayer] = field(default_factory=dict)
    spread: np.ndarray | None = None  # per-class spread (sd) across augmentations or members
    trace: list[dict[str, Any]] | None = None  # stage by stage (composites)
    seconds: float = 0.0

    @property
    def positive_probability(self) -> float:
        return float(self.probabilities[-1])

    @property
    def uncertain(self) -> bool | None:
        """The spread reaches across the decision threshold (None: no spread or no threshold)."""
        from ..uncertainty import uncertain

        if self.spread is None or len(self.classes) != 2:
            return None
        return uncertain(self.positive_probability, float(self.spread[-1]), self.threshold)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model, "task": self.task, "decision": self.decision, "threshold": self.threshold,
            "probabilities": {c: round(float(p), 4) for c, p in zip(self.classes, self.probabilities)},
            "maps": {k: {"kind": m.kind, "method": m.method, "class": m.class_name, "score_rule": m.score_rule, "score": None if m.score is None else round(float(m.score), 4), "grid": list(np.shape(m.values)), "image_shape": list(m.image_shape)} for k, m in self.maps.items()},
        }
        if self.spread is not None:
            out["spread"] = {c: round(float(s), 4) for c, s in zip(self.classes, self.spread)}
            out["uncertain"] = self.uncertain
        if self.trace:
            out["trace"] = self.trace
        return out


class LastResult:
    """A model's result for the last image it saw, found again by the identity of that image's
    pixel array (predict, then explain, then the maps: one preprocessing per image).

    It holds only a weak reference to the pixels: a full-field DICOM is 51 MB of float32, and a
    strong one kept every model's last image alive after its session had dropped it (and
    during the next upload's decoding). A dead reference never matches, so ids cannot collide.
    """

    def __init__(self) -> None:
        self._entry: tuple[Any, Any, Any] | None = None  # (weakref to pixels, key, value), swapped whole

    def get(self, pixels: np.ndarray, key: Any = None, default: Any = None) -> Any:
        entry = self._entry
        if entry is not None and entry[0]() is pixels and entry[1] == key:
            return entry[2]
        return default

    def put(self, pixels: np.ndarray, value: Any, key: Any = None) -> Any:
        import weakref

        try:
            ref = weakref.ref(pixels)
        except TypeError:  # an object without weak references: keep it, as before
            ref = lambda p=pixels: p  # noqa: E731
        self._entry = (ref, key, value)
        return value


def decide(classes: tuple[str, ...], probs: np.ndarray, threshold: float | None) -> str:
    """Binary: positive at or above the validation threshold; otherwise the most probable class."""
    if len(classes) == 2 and threshold is not None:
        return classes[1] if float(probs[1]) >= threshold else classes[0]
    return classes[int(np.argmax(probs))]
