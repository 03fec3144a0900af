"""Kind `segmentation`: seed 002's U-Net; its probability map is a layer, and the map's
named score rule gives a stage-1 (lesion vs normal) image score. The registered model runs
the U-Net in ONNX Runtime (`runtime.py`); fold models keep eager torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.preprocess.pipeline import Pipeline
from core.types import Mammogram
from core.models.kinds import register_fold_loader, register_kind
from core.models.backends.passes import LARGE_PASS
from core.models.prediction import MapLayer, Prediction, RecentResults, decide, shared


class Segmenter:
    framework = "torch"
    input = "whole"
    looks_at_roi = False

    def __init__(self, card: dict[str, Any], net, onnx=None) -> None:
        self.card, self.net = card, net
        self.onnx = onnx  # runtime.OnnxModel of the sigmoid map, None: eager torch
        self.name: str = card["name"]
        self.task: str = card["task"]
        self.classes: tuple[str, ...] = tuple(card["classes"])
        self.front = Pipeline.from_json(card["front"])  # onto the working grid (long side <= 1,024)
        self.pipeline = Pipeline.from_json(card["preprocessing"])  # working grid -> network input
        self.cfg = card["data_config"]
        self.rule: str = card["score_rule"]
        self._recent = RecentResults()

    def probability_map(self, image: Mammogram) -> np.ndarray:
        """Lesion probability on the working grid (the image itself for MIAS-sized films)."""
        return self._recent.remember(image.pixels, "probability", lambda: self._probability_map(image))

    def _probability_map(self, image: Mammogram) -> np.ndarray:
        from core.models.nets.inputs import normalised

        work, _ = self.front.apply(image.pixels)
        x, tf = self.pipeline.apply(work)
        onnx = self.onnx
        if onnx is not None:  # ONNX Runtime: a committed graph, or one exported at start
            with LARGE_PASS:
                prob = onnx(normalised(x, self.cfg["mean"], self.cfg["std"]))[0][0, 0]
        else:
            import torch

            from core.models.nets.patch_net import to_tensor

            with LARGE_PASS, torch.inference_mode():
                self.net.eval()
                prob = torch.sigmoid(self.net(to_tensor(x, self.cfg["mean"], self.cfg["std"])))[0, 0].numpy()
        return np.clip(tf.inverse(prob), 0, 1).astype(np.float32)

    @property
    def runtime(self) -> str:
        return "onnx" if self.onnx is not None else "torch"

    def _score(self, prob: np.ndarray) -> float:
        from core.models.nets.score_rules import get_rule

        return float(get_rule(self.rule)(prob))

    def predict_proba(self, images: Sequence[Mammogram], rois=None) -> np.ndarray:
        if not images:
            return np.zeros((0, 2), np.float32)
        s = np.array([self._score(self.probability_map(im)) for im in images], np.float32)
        return np.stack([1 - s, s], 1)

    def predict(self, image: Mammogram, roi=None, *, with_maps: bool = True) -> Prediction:
        """Remembered per image, like the map (ensembles share this model's views)."""
        return shared(self._recent.remember(image.pixels, ("prediction", with_maps), lambda: self._predict(image, with_maps)))

    def _predict(self, image: Mammogram, with_maps: bool) -> Prediction:
        prob = self.probability_map(image)
        score = self._score(prob)
        probs = np.array([1 - score, score], np.float32)
        threshold = self.card.get("threshold")
        maps = {}
        if with_maps:
            maps["segmentation"] = MapLayer(name="U-Net lesion probability", kind="segmentation", values=prob, image_shape=image.shape, method="B-Cir U-Net", class_name="lesion", score_rule=self.rule, score=score, threshold=float(self.card.get("mask_threshold", 0.5)))
        return Prediction(self.name, self.task, self.classes, probs, decide(self.classes, probs, threshold), threshold, maps)


def _net(state: dict[str, Any]):
    from core.models.nets.unet import BCirUNet

    net = BCirUNet(dropout=0.0)
    ref = net.state_dict()
    net.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()})
    return net.eval()


@register_kind("segmentation")
def build_segmenter(card: dict[str, Any], root: str) -> Segmenter:
    from core.models import graphs

    if graphs.serves(card, "unet"):  # the committed graph: ONNX Runtime, no torch
        return Segmenter(card, None, graphs.open_graph(card, "unet"))
    from safetensors.torch import load_file

    net = _net(load_file(str(Path(card["_folder"]) / card["weights"]["file"])))
    return Segmenter(card, net, serve_unet(net, card["name"], card["weights"]["sha256"]))


UNET_AXES = {"x": {0: "batch", 2: "height", 3: "width"}, "probability": {0: "batch", 2: "height", 3: "width"}}


def unet_graph_module(net):
    """What is exported of the U-Net: its sigmoid map, and an example input (any size, multiples of 32)."""
    import torch

    class Probability(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return torch.sigmoid(self.net(x))

    return Probability().eval(), torch.zeros(1, 3, 256, 256)


def serve_unet(net, name: str, sha256: str):
    """The U-Net's sigmoid map as an ONNX Runtime session exported now (a model with no
    committed graph yet), or None for eager torch."""
    from core.models.backends import onnx_runtime as runtime

    module, example = unet_graph_module(net)
    return runtime.try_build(module, example, name=name, sha256=sha256, output_names=("probability",), dynamic_axes=UNET_AXES, variant="sigmoid")


@register_fold_loader("segmentation")
def fold_segmenter(card: dict[str, Any], fold: int) -> Segmenter | None:
    """Fold f's U-Net with the score rule chosen on fold f's validation part."""
    from core.models.fold_runs import load_run
    from core.models.nets.score_rules import rescaled

    run = load_run(card["name"], fold)
    if run is None:
        return None
    size = int(run["recipe"]["train"]["size"])
    rule = rescaled(run["rule"], (1024 / size) ** 2)
    return Segmenter(card | {"score_rule": rule, "threshold": None}, _net(run["net"]))
