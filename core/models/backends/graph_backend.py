"""A classifier served from its committed graph (`core.models.graphs`): ONNX Runtime only.

The graph returns the class probabilities and, for a head with a forward form of Grad-CAM
(global average pooling then one linear layer), every class's relu(sum_k w_k A_k) on the
feature grid: the upload's saliency map costs no backward pass and no framework. Maps that
need one (guided back-propagation, Grad-CAM of a head without a forward form) build the
framework backend the first time such a layer is picked, and only then import torch or Keras.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import Any

import numpy as np

from core.models import graphs
from core.models.backends.forward_cam import RecentOutputs, scale_cam

FRAMEWORK_BACKENDS = {"torch": "core.models.backends.torch_backend", "keras": "core.models.backends.keras_backend"}
ROLE = "classifier"


class GraphBackend:
    """`Backend` of an `ImageClassifier` whose forward passes run in ONNX Runtime."""

    runtime = "onnx"

    def __init__(self, card: dict[str, Any]) -> None:
        self.card = card
        self.framework: str = card["framework"]
        spec = graphs.entry(card, ROLE) or {}
        self.layout: str = spec.get("layout", "nchw")
        self.has_cams: bool = "cams" in spec.get("outputs", ())
        self.graph = graphs.open_graph(card, ROLE)
        self._cams = RecentOutputs()
        self._framework = None
        self._framework_lock = threading.Lock()

    @property
    def forward_cam(self) -> bool:
        """Grad-CAM of any class follows from the forward pass (no framework needed)."""
        return self.has_cams

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        x = np.asarray(batch, np.float32)
        return self.graph(x.transpose(0, 3, 1, 2) if self.layout == "nchw" else x)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(batch), 32):
            chunk = np.asarray(batch[i : i + 32], np.float32)
            results = self._run(chunk)
            out.append(results[0])
            if self.has_cams and len(batch) <= 8:
                for x, cams in zip(chunk, results[1]):
                    self._cams.keep(x, cams)
        return np.concatenate(out).astype(np.float32)

    def cam(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """Grad-CAM of one class on the input grid (0..1), as the framework backend gives it."""
        if not self.has_cams:
            return self.framework_backend().cam(x, class_index)
        x = np.asarray(x, np.float32)
        cams = self._cams.find(x)
        if cams is None:
            cams = self._run(x[None])[1][0]
        return scale_cam(np.maximum(scale_cam(cams[class_index], (x.shape[1], x.shape[0])), 0))

    def framework_backend(self):
        """The torch or Keras backend of the same weights, built on first need (a backward map)."""
        with self._framework_lock:
            if self._framework is None:
                module = importlib.import_module(FRAMEWORK_BACKENDS[self.framework])
                self._framework = module.load_backend(self.card, Path(self.card["_folder"]), serve=False)
            return self._framework

    @property
    def saliency_method(self) -> str:
        return "Guided backprop" if self.framework == "torch" else "Saliency"

    def saliency(self, x: np.ndarray, class_index: int) -> np.ndarray:
        return self.framework_backend().saliency(x, class_index)

    def n_params(self) -> int:
        return int(self.card.get("parameters") or 0)
