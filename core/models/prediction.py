"""What every model returns for one image: the `Prediction` contract.

Pages, the CLI and exports draw whatever fields a prediction carries (maps, spread,
stage trace) without knowing which kind of model made it.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

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
        from core.models.nets.score_rules import get_rule

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
    # {map key: label} of the layers a backward pass would give (guided back-propagation,
    # Grad-CAM of another class): computed only when asked, by `layer_on_demand`
    on_demand: dict[str, str] = field(default_factory=dict)
    # the score this film brings to a study reading (a study model: its member's positive score);
    # `core score` keeps it per row so the per-breast rows need no second pass over the archive
    study_input: float | None = None

    @property
    def positive_probability(self) -> float:
        return float(self.probabilities[-1])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model, "task": self.task, "decision": self.decision, "threshold": self.threshold,
            "probabilities": {c: round(float(p), 4) for c, p in zip(self.classes, self.probabilities)},
            "maps": {k: {"kind": m.kind, "method": m.method, "class": m.class_name, "score_rule": m.score_rule, "score": None if m.score is None else round(float(m.score), 4), "grid": list(np.shape(m.values)), "image_shape": list(m.image_shape)} for k, m in self.maps.items()},
        }
        if self.spread is not None:
            out["spread"] = {c: round(float(s), 4) for c, s in zip(self.classes, self.spread)}
        if self.trace:
            out["trace"] = self.trace
        if self.on_demand:
            out["maps_on_demand"] = dict(self.on_demand)
        return out


class RecentResults:
    """A model's results for the last few images it saw, found again by the identity of each
    image's pixel array: predict, then explain, then the maps cost one preprocessing, and the
    ensembles that share a member on one upload (each on the same original and flipped views,
    see `tta.views`) run it once per view instead of once per ensemble.

    Only weak references to the pixels are held: a full-field DICOM is 51 MB of float32, and a
    strong one kept every model's last image alive after its session had dropped it. An entry
    is dropped as soon as its image is freed (so its result is freed too), and a dead
    reference never matches, so ids cannot collide. Entries are swapped whole: concurrent
    sessions reading and writing one model's results see either the old or the new list.

    `lock` is the model's own: a network is run by one thread at a time (Grad-CAM hooks and
    autograd state live on the module), and two threads asking for one result compute it
    once. It is re-entrant (predict -> explain -> prepare) and only ever taken inside out
    (a top over a base model takes the base's inside its own), so it cannot deadlock.
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.lock = threading.RLock()
        self._entries: tuple[tuple[Any, Any, Any], ...] = ()  # (weakref to pixels, key, value), newest first
        _EVERY_CACHE.add(self)

    def __len__(self) -> int:
        return sum(1 for ref, _, _ in self._entries if ref() is not None)

    def get(self, pixels: np.ndarray, key: Any = None, default: Any = None) -> Any:
        for ref, k, value in self._entries:
            if ref() is pixels and k == key:
                return value
        return default

    def put(self, pixels: np.ndarray, value: Any, key: Any = None) -> Any:
        try:
            ref = weakref.ref(pixels, self._forget)
        except TypeError:  # an object without weak references: keep it, as before
            ref = lambda p=pixels: p  # noqa: E731
        kept = tuple(e for e in self._entries if e[0]() is not None and not (e[0]() is pixels and e[1] == key))
        self._entries = ((ref, key, value),) + kept[: self.size - 1]
        return value

    def remember(self, pixels: np.ndarray, key: Any, compute: Callable[[], Any]) -> Any:
        """The result for (pixels, key), computed once while the image lives and stays recent."""
        hit = self.get(pixels, key)
        if hit is not None:
            return hit
        with self.lock:
            hit = self.get(pixels, key)
            return hit if hit is not None else self.put(pixels, compute(), key)

    def forget(self, pixels: np.ndarray) -> None:
        """Drop every result of this image now (it may live on, but is done with)."""
        self._entries = tuple(e for e in self._entries if e[0]() is not pixels)

    def _forget(self, dead: Any) -> None:
        self._entries = tuple(e for e in self._entries if e[0] is not dead)


_EVERY_CACHE: "weakref.WeakSet[RecentResults]" = weakref.WeakSet()


def forget_image(pixels: np.ndarray) -> None:
    """Drop what every model (and `tta.views`) remembers of one image. The dashboard calls it
    when an image's analysis is done: the page's reader keeps the image until the next script
    run, and without this each model would keep its maps of it (up to 8 results a model) for
    as long, in every session."""
    for cache in list(_EVERY_CACHE):
        cache.forget(pixels)


def remembered() -> int:
    """How many results all models remember now, of images still alive (tests, benchmarks)."""
    return sum(len(cache) for cache in list(_EVERY_CACHE))


def shared(pred: Prediction) -> Prediction:
    """A remembered prediction handed out again: its own map dict and trace list, so that a
    caller adding a layer does not add it to the remembered one (the arrays are shared, read only)."""
    from dataclasses import replace

    return replace(pred, maps=dict(pred.maps), trace=None if pred.trace is None else [dict(t) for t in pred.trace], on_demand=dict(pred.on_demand))


def layer_on_demand(model: Any, image: Any, key: str, roi: Any = None) -> MapLayer:
    """One of `Prediction.on_demand`'s layers of `image`, computed now (a backward pass).

    Every kind that lists such layers answers `map_on_demand(image, key, roi)`; composites
    hand the key's member part to the member it names."""
    from core.errors import ModelError

    fn = getattr(model, "map_on_demand", None)
    if fn is None:
        raise ModelError(f"model {getattr(model, 'name', 'model')!r} computes no map on demand")
    return fn(image, key, roi)


def prefixed(on_demand: dict[str, str], prefix: str, label: str) -> dict[str, str]:
    """A member's on-demand layers under a composite's key prefix and label."""
    return {f"{prefix}/{k}": f"{label}{v}" for k, v in on_demand.items()}


def decide(classes: tuple[str, ...], probs: np.ndarray, threshold: float | None) -> str:
    """Binary: positive at or above the validation threshold; otherwise the most probable class."""
    if len(classes) == 2 and threshold is not None:
        return classes[1] if float(probs[1]) >= threshold else classes[0]
    return classes[int(np.argmax(probs))]
