"""A dense patch net over one whole image: class-probability maps on the image grid.

Shared by training, out-of-fold runs and the registered model, so a card's figures and
a user's prediction go through one function.
"""

from __future__ import annotations

from typing import Callable

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.models.nets.inputs import normalised
from core.models.nets.score_rules import get_rule
from core.preprocess.geometry import cells_to_image, pad_to_multiple
from core.preprocess.pipeline import mask_bounds

if TYPE_CHECKING:  # torch is imported by the eager path only; a served graph needs none
    from core.models.nets.patch_net import DensePatchNet

MAP_NAMES = ("lesion", "benign", "malignant")


@dataclass(frozen=True)
class NetGrid:
    """The cell grid of a dense patch net (pixels between cells, cells a window): all that
    `patch_maps` needs of the net when a served graph computes the probabilities."""

    stride: int
    window: int


def breast_box(mask: np.ndarray, margin: int = 16) -> tuple[int, int, int, int]:
    h, w = mask.shape
    bounds = mask_bounds(mask)
    if bounds is None:
        return 0, 0, w, h
    x0, y0, x1, y1 = bounds
    return max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin + 1), min(h, y1 + margin + 1)


# N x 3 x H x W normalised input -> N x K x n_y x n_x softmax probabilities (served: ONNX Runtime)
DenseProbabilities = Callable[[np.ndarray], np.ndarray]


def dense_probabilities(net: "DensePatchNet", x: np.ndarray) -> np.ndarray:
    """Eager torch: what training, out-of-fold runs and the reference of the served graph use."""
    import torch

    net.eval()
    device = next(net.parameters()).device  # a net still on the GPU it trained on maps there
    with torch.inference_mode():
        t = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(device).contiguous(memory_format=torch.channels_last)
        return torch.softmax(net.dense_logits(t).float(), 1).cpu().numpy()


def patch_maps(net: "DensePatchNet", gray: np.ndarray, breast: np.ndarray, mean: list[float], std: list[float], probabilities: DenseProbabilities | None = None) -> dict[str, np.ndarray]:
    """lesion (1 - p(background)), benign and malignant probability maps, zero outside the breast.

    `probabilities` runs the net (default: eager torch); the served model passes its ONNX
    Runtime session (and for `net` anything with the net's `stride` and `window`), so one
    function makes both a card's figures and a user's maps."""
    h, w = gray.shape
    x0, y0, x1, y1 = breast_box(breast)
    side = net.stride * net.window
    crop = gray[y0:y1, x0:x1]
    ch, cw = crop.shape
    padded = pad_to_multiple(np.pad(crop, ((0, max(0, side - ch)), (0, max(0, side - cw)))), net.stride)
    x = normalised(padded, mean, std)
    probs = (probabilities or (lambda a: dense_probabilities(net, a)))(x)[0]
    out = {}
    for name, k in (("lesion", 0), ("benign", 1), ("malignant", 2)):
        cells = 1.0 - probs[0] if name == "lesion" else probs[k]
        full = np.zeros((h, w), np.float32)
        full[y0:y1, x0:x1] = cells_to_image(cells, padded.shape, net.stride, net.window)[:ch, :cw]
        out[name] = full * breast
    return out


def stage_scores(maps: dict[str, np.ndarray], stage1_rule: str, stage2_rule: str) -> tuple[float, float]:
    """Image scores from the maps: lesion vs normal, and malignant share among lesion cells."""
    s1 = get_rule(stage1_rule)(maps["lesion"])
    r2 = get_rule(stage2_rule)
    m, b = r2(maps["malignant"]), r2(maps["benign"])
    s2 = m / (m + b) if m + b > 0 else 0.5
    return float(s1), float(s2)


def three_class(s1: float, s2: float) -> np.ndarray:
    """normal / benign / malignant probabilities from the two stage scores."""
    return np.array([1.0 - s1, s1 * (1.0 - s2), s1 * s2], np.float32)


def top_input(maps: dict[str, np.ndarray], size: int = 64) -> np.ndarray:
    """The maps as the whole-image top layers see them: 3 x size x size (area-averaged)."""
    import cv2

    return np.stack([cv2.resize(maps[n], (size, size), interpolation=cv2.INTER_AREA) for n in MAP_NAMES]).astype(np.float32)
