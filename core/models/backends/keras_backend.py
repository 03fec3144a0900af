"""Keras 3 backend: keras.applications backbones, `.keras` files, Grad-CAM.

Keras is imported here only, when a Keras model is first used. Which engine runs it is
chosen once per process, before Keras is imported: `$KERAS_BACKEND` when set, else
`torch` for serving (the dashboard, `predict`): measured with both shipped `.keras`
models, Keras on torch costs ~470 MB less than Keras on TensorFlow (1.00 vs 1.48 GB peak
RSS with torch already loaded, imports 3.5 s vs 9.6 s) and gives the same probabilities
to ~1e-6 (`benchmarks/bench_memory.py --keras`). Training (`core.train`) asks for
TensorFlow, on which the shipped models were trained. Grad-CAM goes through tf-keras-vis
on TensorFlow, and through torch autograd on the same feature map otherwise (tf-keras-vis
needs TensorFlow); the two agree (`tests/test_keras_torch.py`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from core.models.backends.trainable import trainable_suffix

WEIGHTS_FILE = "model.keras"
SERVE_BACKEND = "torch"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", SERVE_BACKEND)  # no effect once Keras is imported


def _preload_triton() -> None:
    """Load torch's triton (if installed) before TensorFlow: both bundle LLVM, and importing
    triton after TensorFlow segfaults (seen: a torch model loaded after a Keras one, via
    torchvision -> torch._dynamo -> triton). The other order is safe."""
    import importlib.util

    if importlib.util.find_spec("triton") is not None:
        try:
            import triton  # noqa: F401
        except Exception:  # a broken triton only matters to torch's compiler, never used here
            pass


_preload_triton()


class KerasBackend:
    framework = "keras"

    def __init__(self, model, cam_layer: str) -> None:
        import keras

        self.keras = keras
        self.engine = keras.backend.backend()
        self.model = model
        self.cam_layer = cam_layer
        self._gradcam = None
        self._saliency = None
        self._cam_model = None
        self._compiled_spec: tuple | None = None

    # ------------------------------------------------------------------ inference
    def forward(self, batch: np.ndarray) -> np.ndarray:
        with _no_grad(self.engine):
            out = [self.keras.ops.convert_to_numpy(self.model(batch[i : i + 32].astype(np.float32), training=False)) for i in range(0, len(batch), 32)]
        return np.concatenate(out).astype(np.float32)

    def cam(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """Grad-CAM of `class_index` at the input's size (unnormalised, ReLU'd), on the logits."""
        if self.engine == "torch":
            return self._torch_cam(x, class_index)
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore

        if self._gradcam is None:
            self._gradcam = Gradcam(self.model, model_modifier=ReplaceToLinear(), clone=True)
        grid = self._gradcam(CategoricalScore([class_index]), x[None].astype(np.float32), penultimate_layer=self.cam_layer, normalize_cam=False)
        return np.asarray(grid[0], np.float32)

    def _torch_cam(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """tf-keras-vis's Gradcam (ReplaceToLinear, normalize_cam=False) computed with torch
        autograd: gradients of the class logit on the output of the convolution at or before
        the CAM layer (tf-keras-vis seeks it too), averaged over space, weight its channels;
        ReLU; zoomed (order 1) to the input's size."""
        import torch
        from scipy.ndimage import zoom

        self._linear_model()
        with torch.enable_grad():
            feats, logits = self._cam_model(torch.from_numpy(np.ascontiguousarray(x[None], np.float32)), training=False)
            grads = torch.autograd.grad(logits[0, class_index], feats)[0]
        f, g = feats.detach().cpu().numpy()[0], grads.cpu().numpy()[0]
        cam = np.maximum((f * g.mean(axis=(0, 1), keepdims=True)).sum(axis=-1), 0.0)
        return zoom(cam, (x.shape[0] / cam.shape[0], x.shape[1] / cam.shape[1]), order=1).astype(np.float32)

    @property
    def saliency_method(self) -> str:
        return "Saliency"

    def saliency(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """Seed 004's gradient saliency: |d logit / d input|, max over colour channels —
        tf-keras-vis's `Saliency` (ReplaceToLinear, normalize_map=False) on TensorFlow, the
        same gradient through torch autograd when Keras serves the model on torch."""
        if self.engine == "torch":
            import torch

            self._linear_model()
            inp = torch.from_numpy(np.ascontiguousarray(x[None], np.float32)).requires_grad_(True)
            with torch.enable_grad():
                _, logits = self._cam_model(inp, training=False)
                grad = torch.autograd.grad(logits[0, class_index], inp)[0]
            return np.abs(grad.cpu().numpy()[0]).max(axis=-1).astype(np.float32)
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore

        if self._saliency is None:
            self._saliency = Saliency(self.model, model_modifier=ReplaceToLinear(), clone=True)
        grid = self._saliency(CategoricalScore([class_index]), x[None].astype(np.float32), normalize_map=False)
        return np.asarray(grid[0], np.float32)

    def _linear_model(self):
        """The CAM layer's feature map and the logits (tf-keras-vis's ReplaceToLinear: the last
        layer without its activation).

        With a Dense head (both shipped models) the logits are that layer's affine part on its
        input, read from a functional view of the same layers: no copy of the network, and no
        `clone_model`, whose config round trip makes Keras import TensorFlow where it is
        installed (its lazy `tf.available` check in `serialize_keras_object`): +450 MB of RSS
        for a model served on torch. Other heads fall back to a clone."""
        if self._cam_model is None:
            head = self.model.layers[-1]
            if isinstance(head, self.keras.layers.Dense) and not getattr(head, "quantization_mode", None):
                trunk = self.keras.Model(self.model.input, [_seek_conv(self.model, self.cam_layer).output, head.input])
                ops = self.keras.ops

                def cam_model(x, training=False):
                    feats, h = trunk(x, training=training)
                    logits = ops.matmul(h, head.kernel)
                    return feats, (logits + head.bias if head.use_bias else logits)

                self._cam_model = cam_model
                return self._cam_model
            clone = self.keras.models.clone_model(self.model)
            clone.set_weights(self.model.get_weights())
            clone.layers[-1].activation = self.keras.activations.linear
            self._cam_model = self.keras.Model(clone.inputs, [_seek_conv(clone, self.cam_layer).output, clone.outputs[0]])
        return self._cam_model

    def n_params(self) -> int:
        return int(self.model.count_params())

    # ------------------------------------------------------------------ training
    def set_stage(self, trainable: str, lr: float, weight_decay: float) -> None:
        from core.models.nets.keras_nets import head_layer_names

        names = [l.name for l in self.model.layers if l.weights]
        train = trainable_suffix(names, trainable) | head_layer_names(self.model)
        for layer in self.model.layers:
            layer.trainable = layer.name in train or not layer.weights
        optimizer = self.keras.optimizers.Adam(learning_rate=lr)
        self.model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")

    def calibrate_bn(self, x: np.ndarray) -> None:
        """Precise BN: set every BatchNorm's moving statistics to those of one large training batch.

        With few steps from random weights the running averages lag the weights, and the
        eval-mode network collapses to a constant; recomputing them fixes the mismatch.
        """
        bns = [l for l in self.model.layers if isinstance(l, self.keras.layers.BatchNormalization) and l.trainable]
        if not bns:
            return
        saved = [l.momentum for l in bns]
        for l in bns:
            l.momentum = 0.0
        self.model(x.astype(np.float32), training=True)
        for l, m in zip(bns, saved):
            l.momentum = m

    def set_lr(self, lr: float) -> None:
        self.model.optimizer.learning_rate.assign(lr)

    def fit_batch(self, x: np.ndarray, y: np.ndarray, class_weight: np.ndarray) -> float:
        sample_weight = class_weight[y.astype(int)].astype(np.float32)
        loss = self.model.train_on_batch(x.astype(np.float32), y.astype(np.int32), sample_weight=sample_weight)
        return float(np.asarray(loss).ravel()[0])

    def save(self, folder: str, fp16: bool) -> str:
        # a fresh model from the config, so the file holds weights and graph but no optimizer
        # state (clone_model keeps it: 10 MB instead of 3.6 MB for MobileNet 0.5)
        plain = self.keras.Model.from_config(self.model.get_config())
        plain.set_weights(self.model.get_weights())
        plain.save(str(Path(folder) / WEIGHTS_FILE))  # .keras offers no fp16 storage
        return WEIGHTS_FILE

    def save_checkpoint(self, path: str) -> None:
        self.model.save_weights(path if path.endswith(".weights.h5") else path + ".weights.h5")

    def load_checkpoint(self, path: str, with_optimizer: bool = True) -> None:
        self.model.load_weights(path if path.endswith(".weights.h5") else path + ".weights.h5")


def _seek_conv(model, name: str):
    """The convolution layer at or before `name` in the flat graph (tf-keras-vis's
    `seek_penultimate_conv_layer`), so both engines explain the same feature map."""
    from keras.src.layers.convolutional.base_conv import BaseConv

    layers = model.layers
    idx = next(i for i, l in enumerate(layers) if l.name == name)
    return next((l for l in reversed(layers[: idx + 1]) if isinstance(l, BaseConv)), layers[idx])


def _no_grad(engine: str):
    """torch.no_grad() when Keras runs on torch (inference needs no graph), else nothing."""
    import contextlib

    if engine == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()


def load_backend(card: dict[str, Any], folder: Path, serve: bool = True) -> KerasBackend:
    """The `.keras` model (`serve` is the torch backend's switch; Keras has one engine here)."""
    import keras

    model = keras.saving.load_model(str(folder / card["weights"]["file"]), compile=False, safe_mode=True)
    return KerasBackend(model, card["cam_layer"])


def new_backend(card: dict[str, Any], init_state: dict | None = None) -> KerasBackend:
    import keras

    from core.models.nets.keras_nets import build_keras_network

    keras.utils.set_random_seed(int(card.get("seed", 0)))
    model = build_keras_network(card["architecture"], len(card["classes"]))
    return KerasBackend(model, card["cam_layer"])
