"""The one classifier interface shared by torch, Keras, the hierarchy and ensembles.

A classifier takes whole `Mammogram`s. Patch models (stage 2) also take a region of
interest per image, `(cx, cy, r)` in original pixels; without one they look where a
localiser (seed 003: the stage-1 CAM peak) or, failing that, the whole breast points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import cv2
import numpy as np

from pathlib import Path

from core.preprocess.pipeline import Pipeline, Transform, extract_patch
from core.preprocess.roi import Roi, breast_centre_roi, roi_box
from core.types import Mammogram
from core.models.kinds import register_fold_loader, register_kind
from core.models.prediction import MapLayer, Prediction, RecentResults, decide, shared



# a saliency map is held on a grid with the image's field of view and at most this long side:
# on a 4,432 x 2,864 DICOM a float32 map on the original grid is 51 MB, on this grid 2.7 MB
MAP_LONG_SIDE = 1024


@dataclass(frozen=True)
class Heatmap:
    """A saliency map (float32, 0..1) and where it came from.

    `grid` covers the original image's field of view at the model's own resolution (long
    side <= `MAP_LONG_SIDE`); `values` stretches it onto the original image grid when asked
    (bilinear, as the last step of undoing the preprocessing always did)."""

    grid: np.ndarray
    method: str
    class_name: str
    box: tuple[int, int, int, int] | None = None  # region the model actually saw
    image_shape: tuple[int, int] | None = None  # rows, columns of the original (None: grid is on it)

    @property
    def values(self) -> np.ndarray:
        """The map on the original image grid (built on each call: 51 MB on a full-field DICOM)."""
        if self.image_shape is None or self.grid.shape == tuple(self.image_shape):
            return self.grid
        h, w = self.image_shape
        return cv2.resize(self.grid, (w, h), interpolation=cv2.INTER_LINEAR)


class Classifier(Protocol):
    name: str
    task: str  # stage1 | stage2 | flat3 | hierarchy
    classes: tuple[str, ...]
    card: dict[str, Any]
    looks_at_roi: bool  # a patch model: it takes a region of interest per image (a lesion, else the breast centre)

    def predict_proba(self, images: Sequence[Mammogram], rois: Sequence[Roi | None] | None = None) -> np.ndarray: ...

    def explain(self, image: Mammogram, class_index: int, roi: Roi | None = None) -> Heatmap: ...

    def predict(self, image: Mammogram, roi: Roi | None = None, *, with_maps: bool = True) -> Prediction: ...


class Backend(Protocol):
    """What a framework must do for an `ImageClassifier`: inputs are N x H x W x C float32."""

    framework: str

    def forward(self, batch: np.ndarray) -> np.ndarray: ...

    def cam(self, x: np.ndarray, class_index: int) -> np.ndarray: ...

    def n_params(self) -> int: ...


class ImageClassifier:
    """A trained network behind a preprocessing pipeline; the same for torch and Keras."""

    def __init__(self, card: dict[str, Any], backend: Backend) -> None:
        self.card = card
        self.name: str = card["name"]
        self.task: str = card["task"]
        self.classes: tuple[str, ...] = tuple(card["classes"])
        self.input: str = card.get("input", "whole")
        self.looks_at_roi: bool = self.input == "patch"
        self.pipeline = Pipeline.from_json(card["preprocessing"])
        self.patch_scale: float = float(card.get("patch_scale", 2.5))
        self.backend = backend
        self._recent = RecentResults()  # per image: prepared input, maps, prediction (by roi)

    @property
    def framework(self) -> str:
        return self.backend.framework

    @property
    def forward_cam(self) -> bool:
        """The decided class's Grad-CAM comes with the prediction: the framework backend always
        gives it; a served graph only where the head has a forward form (else it waits, on
        demand, for the framework: a backward pass)."""
        return bool(getattr(self.backend, "forward_cam", True))

    def prepare(self, image: Mammogram, roi: Roi | None = None) -> tuple[np.ndarray, Transform, tuple[int, int, int, int] | None]:
        """Model input for one image, the transform back, and the patch box (patch models).

        Recent results are kept (`RecentResults`: found by the pixels' identity, without keeping
        them alive): the dashboard's predict-then-explain on one upload preprocesses once.
        """
        return self._recent.remember(image.pixels, ("input", roi), lambda: self._prepare(image, roi))

    def _prepare(self, image: Mammogram, roi: Roi | None) -> tuple[np.ndarray, Transform, tuple[int, int, int, int] | None]:
        if not self.looks_at_roi:
            x, tf = self.pipeline.apply(image.pixels)
            return x, tf, None
        box = roi_box(image.shape, roi or breast_centre_roi(image.pixels), self.patch_scale)
        x, tf = self.pipeline.apply(extract_patch(image.pixels, box))
        return x, tf, box

    def predict_proba(self, images: Sequence[Mammogram], rois: Sequence[Roi | None] | None = None) -> np.ndarray:
        rois = list(rois) if rois is not None else [None] * len(images)
        if not images:
            return np.zeros((0, len(self.classes)), np.float32)
        batch = np.stack([_channels(self.prepare(im, r)[0]) for im, r in zip(images, rois)])
        with self._recent.lock:
            return self.backend.forward(batch)

    def predict_inputs(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for already-preprocessed inputs (training / evaluation caches)."""
        with self._recent.lock:
            return self.backend.forward(np.stack([_channels(x) for x in batch]))

    def predict(self, image: Mammogram, roi: Roi | None = None, *, with_maps: bool = True) -> Prediction:
        """Probabilities, the decision at the card's threshold, and Grad-CAM for the decided class.

        Remembered per image and region: a hierarchy whose stage is also shown on its own runs it once."""
        return shared(self._recent.remember(image.pixels, ("prediction", roi, with_maps), lambda: self._predict(image, roi, with_maps)))

    def _predict(self, image: Mammogram, roi: Roi | None, with_maps: bool) -> Prediction:
        probs = self.predict_proba([image], [roi])[0]
        threshold = self.card.get("threshold")
        decision = decide(self.classes, probs, threshold)
        maps, later = {}, {}
        if with_maps:
            index = self.classes.index(decision)
            if self.forward_cam:
                maps["saliency"] = heatmap_layer(self.explain(image, index, roi), image.shape)
            later = self.layers_on_demand(index)
        return Prediction(self.name, self.task, self.classes, probs, decision, threshold, maps, on_demand=later)

    def layers_on_demand(self, decided: int) -> dict[str, str]:
        """{key: label} of the maps left for `map_on_demand`: Grad-CAM of every other class and
        the pixel-level gradient saliency of the decided one (each a backward pass, or at least
        one more map nobody may look at)."""
        method = self.card.get("cam_method", "Grad-CAM")
        out = {f"saliency_{c}": f"{method} ({c})" for i, c in enumerate(self.classes) if i != decided or not self.forward_cam}
        if getattr(self.backend, "saliency", None) is not None:
            c = self.classes[decided]
            out[f"gradient_saliency_{c}"] = f"{getattr(self.backend, 'saliency_method', 'Saliency')} ({c})"
        return out

    def map_on_demand(self, image: Mammogram, key: str, roi: Roi | None = None) -> MapLayer:
        """A layer `layers_on_demand` listed (`<map>_<class>`), computed now."""
        from core.errors import ModelError

        kind, _, class_name = key.rpartition("_")
        if class_name not in self.classes or kind not in ("saliency", "gradient_saliency"):
            raise ModelError(f"model {self.name!r} has no such map layer")
        index = self.classes.index(class_name)
        heatmap = self.explain(image, index, roi) if kind == "saliency" else self.gradient_saliency(image, index, roi)
        if heatmap is None:
            raise ModelError(f"model {self.name!r} has no such map layer")
        return heatmap_layer(heatmap, image.shape)

    def explain(self, image: Mammogram, class_index: int, roi: Roi | None = None) -> Heatmap:
        """Grad-CAM (pytorch-grad-cam / tf-keras-vis) of one class on the original grid (remembered
        per image: the hierarchy's localisation and the dashboard's second map ask again)."""
        return self._recent.remember(image.pixels, ("cam", class_index, roi), lambda: self._explain(image, class_index, roi))

    def _explain(self, image: Mammogram, class_index: int, roi: Roi | None) -> Heatmap:
        x, tf, box = self.prepare(image, roi)
        return self._on_image(self.backend.cam(_channels(x), class_index), tf, box, image, self.card.get("cam_method", "Grad-CAM"), class_index)

    def gradient_saliency(self, image: Mammogram, class_index: int, roi: Roi | None = None) -> Heatmap | None:
        """Seed 004's pixel-level saliency beside Grad-CAM, where the backend has one."""
        fn = getattr(self.backend, "saliency", None)
        if fn is None:
            return None
        x, tf, box = self.prepare(image, roi)
        with self._recent.lock:
            grid = fn(_channels(x), class_index)
        return self._on_image(grid, tf, box, image, getattr(self.backend, "saliency_method", "Guided backprop"), class_index)

    def _on_image(self, grid: np.ndarray, tf: Transform, box, image: Mammogram, method: str, class_index: int) -> Heatmap:
        """The model-input map back over the original field of view, kept at <= MAP_LONG_SIDE:
        whole images stop before undoing the pipeline's first shrink (`limit_size`), so
        `Heatmap.values` equals what undoing every step gave; a patch's map is pasted at its
        box on a grid of that size. No full-resolution array is made here."""
        if box is None:
            return Heatmap(grid=_reduced(tf.inverse(_unit(grid), to_original=False)), method=method, class_name=self.classes[class_index], image_shape=image.shape)
        h, w = image.shape
        s = min(1.0, MAP_LONG_SIDE / max(h, w))
        gh, gw = max(1, round(h * s)), max(1, round(w * s))
        x0, y0, x1, y1 = box
        bx0, by0 = min(gw - 1, int(round(x0 * s))), min(gh - 1, int(round(y0 * s)))
        bx1, by1 = max(bx0 + 1, min(gw, int(round(x1 * s)))), max(by0 + 1, min(gh, int(round(y1 * s))))
        local = tf.inverse(_unit(grid))
        out = np.zeros((gh, gw), np.float32)
        out[by0:by1, bx0:bx1] = cv2.resize(local, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_AREA) if local.shape != (by1 - by0, bx1 - bx0) else local
        return Heatmap(grid=out, method=method, class_name=self.classes[class_index], box=box, image_shape=image.shape)


_BACKENDS = {"torch": "core.models.backends.torch_backend", "keras": "core.models.backends.keras_backend"}


@register_kind("classifier")
def build_classifier(card: dict[str, Any], root: str) -> "ImageClassifier":
    """A torch or Keras network behind its card's pipeline; the framework is imported now."""
    import importlib

    from core.errors import ModelError

    from core.models import graphs

    framework = card.get("framework")
    if framework not in _BACKENDS:
        raise ModelError(f"model {card['name']!r}: unknown framework {framework!r}")
    if graphs.serves(card, "classifier"):  # the committed graph: ONNX Runtime, no framework import
        from core.models.backends.graph_backend import GraphBackend

        return ImageClassifier(card, GraphBackend(card))
    backend = importlib.import_module(_BACKENDS[framework]).load_backend(card, Path(card["_folder"]))
    return ImageClassifier(card, backend)


@register_fold_loader("classifier")
def fold_classifier(card: dict[str, Any], fold: int) -> "ImageClassifier | None":
    """Fold 0 is the shipped model; folds 1-4 live where `train --oof` left them."""
    from core.models import registry
    from core.models.card import scratch_dir

    if fold == 0:
        return registry.load(card["name"], Path(card["_folder"]).parent) if registry.weights_available(card) else None
    scratch = scratch_dir("oof_models")
    name = f"{card['name']}-fold{fold}"
    return registry.load(name, scratch) if (scratch / name / "predictions.csv").exists() else None  # a finished run


def _channels(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 3 else x[..., None]


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.nan_to_num(np.asarray(m, np.float32))
    m = np.maximum(m, 0)
    top = float(m.max())
    return m / top if top > 0 else m


def _reduced(m: np.ndarray) -> np.ndarray:
    """A map with at most MAP_LONG_SIDE a side (area-averaged; most maps are already there)."""
    m = np.asarray(m, np.float32)
    h, w = m.shape
    if max(h, w) <= MAP_LONG_SIDE:
        return m
    s = MAP_LONG_SIDE / max(h, w)
    return cv2.resize(m, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def heatmap_layer(hm: Heatmap, image_shape: tuple[int, int]) -> MapLayer:
    """The heatmap as a map layer on its own grid (`MapLayer.on_grid()` stretches it)."""
    return MapLayer(name=f"{hm.method} ({hm.class_name})", kind="saliency", values=hm.grid, image_shape=image_shape, method=hm.method, class_name=hm.class_name, box=hm.box)


def cam_peak(heatmap: Heatmap) -> tuple[float, float]:
    """(x, y) of the hottest point of a heatmap on the original grid: seed 003's CAM localisation."""
    values = heatmap.values
    y, x = np.unravel_index(int(np.argmax(values)), values.shape)
    return float(x), float(y)
