"""PyTorch backend: timm / torchvision backbones, safetensors weights, pytorch-grad-cam.

torch is imported here only, so the dashboard pays for it when a torch model is first used.
A served backend (`load_backend`) runs its forward passes in ONNX Runtime (`runtime.py`)
and, for a global-average-pool + linear head, takes Grad-CAM from the forward features.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import threading

import numpy as np

from core.models.backends.forward_cam import KEPT as FEATURES_KEPT, RecentOutputs, forward_cam, scale_cam as _scale  # noqa: F401
from core.models.backends.trainable import trainable_suffix

WEIGHTS_FILE = "weights.safetensors"


def build_network(arch: dict[str, Any], num_classes: int):
    """A fresh network from the card's architecture entry (timm registry names)."""
    import timm

    if arch.get("kind", "timm") != "timm":
        raise ValueError(f"unknown torch architecture kind {arch.get('kind')!r}")
    return timm.create_model(arch["model"], pretrained=False, num_classes=num_classes, drop_rate=float(arch.get("drop_rate", 0.0)))


class TorchBackend:
    framework = "torch"
    saliency_method = "Guided backprop"

    def __init__(self, net, cam_layer: str, device: str | None = None) -> None:
        import torch

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.net = net.to(self.device).eval()
        self.cam_layer = cam_layer
        self.optimizer = None
        self._cam = None
        self._guided = None
        self._guided_lock = threading.Lock()
        self.onnx = None  # runtime.OnnxModel once `serve_onnx` succeeded
        self._head: np.ndarray | None = None  # class weights when Grad-CAM follows from the features
        self._features = RecentOutputs()  # recent inputs -> their CAM-layer features

    @property
    def runtime(self) -> str:
        return "onnx" if self.onnx is not None else "torch"

    def serve_onnx(self, name: str, sha256: str) -> bool:
        """Serve forward passes from ONNX Runtime (False: stays on eager torch). With a pooled
        linear head the graph also returns the CAM layer's output, for `cam`."""
        from core.models.backends import onnx_runtime as runtime

        head = pooled_linear_head(self.net, self.cam_layer)
        module = _served_module(self.net, with_features=head is not None)
        outputs = ("probs", "features") if head is not None else ("probs",)
        axes = {"x": {0: "batch", 2: "height", 3: "width"}, "probs": {0: "batch"}, "features": {0: "batch", 2: "fh", 3: "fw"}}
        model = runtime.try_build(module, self.torch.zeros(1, 3, 224, 224), name=name, sha256=sha256, output_names=outputs, dynamic_axes={k: v for k, v in axes.items() if k in ("x",) + outputs}, variant="probs-features" if head is not None else "probs")
        if model is not None:
            self.onnx, self._head = model, head
        return model is not None

    # ------------------------------------------------------------------ inference
    def _tensor(self, batch: np.ndarray):
        return self.torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2))).float().to(self.device)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        if self.onnx is not None:
            return self._forward_onnx(batch)
        self.net.eval()
        with self.torch.inference_mode():
            out = []
            for i in range(0, len(batch), 32):
                logits = self.net(self._tensor(batch[i : i + 32]))
                out.append(self.torch.softmax(logits.float(), dim=1).cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def _forward_onnx(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities from ONNX Runtime; the features of the last few inputs are kept so
        that `cam` of the same input (predict, then explain) runs nothing."""
        out = []
        for i in range(0, len(batch), 32):
            chunk = np.asarray(batch[i : i + 32], np.float32)
            results = self.onnx(chunk.transpose(0, 3, 1, 2))
            out.append(results[0])
            if self._head is not None and len(batch) <= FEATURES_KEPT:
                for x, f in zip(chunk, results[1]):
                    self._keep_features(x, f)
        return np.concatenate(out).astype(np.float32)

    def _keep_features(self, x: np.ndarray, features: np.ndarray) -> None:
        self._features.keep(x, features)

    def _kept_features(self, x: np.ndarray) -> np.ndarray | None:
        return self._features.find(x)

    def cam(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """Grad-CAM of one class on the input grid (0..1). Served with a pooled linear head it
        is computed from the forward features (those of the last forward of this input when
        kept); otherwise pytorch-grad-cam runs a backward pass."""
        if self.onnx is not None and self._head is not None:
            x = np.asarray(x, np.float32)
            features = self._kept_features(x)
            if features is None:
                features = self.onnx(x[None].transpose(0, 3, 1, 2))[1][0]
            return forward_cam(features, self._head[class_index], (x.shape[1], x.shape[0]))
        return self._backward_cam(x, class_index)

    def _backward_cam(self, x: np.ndarray, class_index: int) -> np.ndarray:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        self.net.eval()
        if self._cam is None:
            layer = self.net.get_submodule(self.cam_layer)
            self._cam = GradCAM(model=self.net, target_layers=[layer])
        try:
            grid = self._cam(input_tensor=self._tensor(x[None]), targets=[ClassifierOutputTarget(class_index)])
        finally:
            self._release_cam()
        return np.asarray(grid[0], np.float32)

    def _release_cam(self) -> None:
        """Drop what a Grad-CAM call leaves behind on the shared network: the output it keeps
        (with the autograd graph that `backward(retain_graph=True)` saved: every activation of
        the pass, ~30 MB for EfficientNet-Lite0 at 224 px), the hooked layer's tensors and the
        parameters' gradients (one more copy of the weights)."""
        cam = self._cam
        if cam is not None:
            cam.outputs = None
            cam.activations_and_grads.activations = []
            cam.activations_and_grads.gradients = []
        self.net.zero_grad(set_to_none=True)

    def saliency(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """Guided back-propagation (pytorch-grad-cam's `GuidedBackpropReLUModel`), |gradient|
        max over colour channels. It swaps ReLU modules while it runs, so it runs on its own
        copy of the network: the shared one keeps serving other sessions. (Networks built on
        ReLU6, such as EfficientNet-Lite and MobileNetV2, keep ReLU6: their map is the plain
        input gradient through those layers.)"""
        import copy

        from pytorch_grad_cam import GuidedBackpropReLUModel

        with self._guided_lock:
            if self._guided is None:
                net = copy.deepcopy(self.net).eval()
                for p in net.parameters():
                    p.grad = None  # no copy of gradients a Grad-CAM call may have left
                    p.requires_grad_(False)
                self._guided = GuidedBackpropReLUModel(net, device=self.device)
            with self.torch.enable_grad():
                grad = self._guided(self._tensor(x[None]), target_category=class_index)
        return np.abs(np.asarray(grad, np.float32)).max(axis=-1)

    def n_params(self) -> int:
        return int(sum(p.numel() for p in self.net.parameters()))

    # ------------------------------------------------------------------ training
    def set_stage(self, trainable: str, lr: float, weight_decay: float) -> None:
        names = [n for n, _ in self.net.named_parameters()]
        head = {n for n in names if n.startswith(_classifier_prefix(self.net))}
        train = trainable_suffix(names, trainable) | head
        for n, p in self.net.named_parameters():
            p.requires_grad_(n in train)
        params = [p for p in self.net.parameters() if p.requires_grad]
        self.optimizer = self.torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)

    def set_lr(self, lr: float) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] = lr

    def fit_batch(self, x: np.ndarray, y: np.ndarray, class_weight: np.ndarray) -> float:
        torch = self.torch
        self.net.train()
        logits = self.net(self._tensor(x))
        target = torch.from_numpy(y.astype(np.int64)).to(self.device)
        weight = torch.from_numpy(class_weight.astype(np.float32)).to(self.device)
        loss = torch.nn.functional.cross_entropy(logits, target, weight=weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach().cpu())

    def save(self, folder: str, fp16: bool) -> str:
        from safetensors.torch import save_file

        state = {k: (v.half() if fp16 and v.is_floating_point() else v).contiguous().cpu() for k, v in self.net.state_dict().items()}
        save_file(state, str(Path(folder) / WEIGHTS_FILE))
        return WEIGHTS_FILE

    def save_checkpoint(self, path: str) -> None:
        self.torch.save({"net": self.net.state_dict(), "opt": self.optimizer.state_dict() if self.optimizer else None}, path)

    def load_checkpoint(self, path: str, with_optimizer: bool = True) -> None:
        state = self.torch.load(path, map_location=self.device, weights_only=True)
        self.net.load_state_dict(state["net"])
        if with_optimizer and self.optimizer is not None and state.get("opt"):
            self.optimizer.load_state_dict(state["opt"])


def pooled_linear_head(net, cam_layer: str) -> np.ndarray | None:
    """The classifier's weights (classes x channels) when `cam_layer`'s output is what
    `forward_features` returns and the head is global average pooling then one Linear:
    then Grad-CAM's channel weights are those weights / (h * w), known without a backward
    pass. None when any part of that does not hold (Grad-CAM then runs backward)."""
    import torch
    from torch import nn

    if not all(hasattr(net, a) for a in ("forward_features", "forward_head", "get_classifier", "global_pool")):
        return None
    head, pool = net.get_classifier(), net.global_pool
    pool_type = getattr(pool, "pool_type", None)
    is_avg = isinstance(pool, nn.AdaptiveAvgPool2d) or (pool_type == "avg" and getattr(pool, "flatten", None) is not None)
    if not isinstance(head, nn.Linear) or not is_avg:
        return None
    try:
        layer = net.get_submodule(cam_layer)
    except AttributeError:
        return None
    seen: list = []
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out))
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            probe = torch.linspace(-2, 2, 3 * 96 * 96).reshape(1, 3, 96, 96)
            features = net.forward_features(probe)
            logits = net(probe)
    finally:
        handle.remove()
        net.train(was_training)
    if not seen or seen[0] is not features or features.ndim != 4:
        return None
    pooled = head(features.mean((2, 3)))
    if not torch.allclose(pooled, logits, atol=1e-5, rtol=1e-5):
        return None
    return head.weight.detach().cpu().numpy().astype(np.float32)


def _served_module(net, with_features: bool):
    """What is exported: softmax probabilities, and the CAM layer's output when `with_features`."""
    from torch import nn

    class Served(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            if not with_features:
                return self.net(x).float().softmax(1)
            features = self.net.forward_features(x)
            return self.net.forward_head(features).float().softmax(1), features

    return Served().eval()


def _classifier_prefix(net) -> str:
    name = getattr(net, "default_cfg", {}).get("classifier", "classifier") if hasattr(net, "default_cfg") else "classifier"
    return name if isinstance(name, str) else name[0]


def load_backend(card: dict[str, Any], folder: Path, serve: bool = True) -> TorchBackend:
    """Rebuild the network from its card and load the safetensors weights (fp16 -> fp32);
    served from ONNX Runtime unless `MAMMO_RUNTIME=torch` or `serve=False` (the eager
    network: a backward-pass map of a graph-served model; training uses `new_backend`)."""
    from safetensors.torch import load_file

    net = build_network(card["architecture"], len(card["classes"]))
    state = load_file(str(folder / card["weights"]["file"]))
    reference = net.state_dict()
    net.load_state_dict({k: v.to(reference[k].dtype) for k, v in state.items()})
    backend = TorchBackend(net, card["cam_layer"], device="cpu")
    if serve:
        backend.serve_onnx(card["name"], card["weights"]["sha256"])
    return backend


def _small_head(net) -> None:
    """timm's Google-style init draws the classifier from U(±1/sqrt(num_classes)): with two
    classes that is ±0.7 per weight and logits in the tens. Start the head near zero."""
    import torch

    head = net.get_classifier()
    torch.nn.init.normal_(head.weight, std=0.01)
    torch.nn.init.zeros_(head.bias)


def new_backend(card: dict[str, Any], init_state: dict | None = None, device: str | None = None) -> TorchBackend:
    """A network for training; `init_state` holds ImageNet weights (classifier dropped)."""
    import torch

    torch.manual_seed(int(card.get("seed", 0)))
    net = build_network(card["architecture"], len(card["classes"]))
    _small_head(net)
    if init_state:
        own = net.state_dict()
        usable = {k: v for k, v in init_state.items() if k in own and own[k].shape == v.shape}
        missing = [k for k in own if k not in usable]
        net.load_state_dict(usable, strict=False)
        if any(not k.startswith(_classifier_prefix(net)) for k in missing):
            raise ValueError(f"initial weights miss backbone keys: {missing[:5]}")
    return TorchBackend(net, card["cam_layer"], device=device)
