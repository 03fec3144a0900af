"""Kinds `patch_dense` and `patch_dense_e2e`: the patch classifier applied densely over the
breast (seeds 000/004, Shen et al. 2019), its maps, and image scores by named rules.

torch is imported when a model of these kinds is built, not before. The registered model
runs its patch net in ONNX Runtime (`runtime.py`); fold models keep eager torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.preprocess.pipeline import Pipeline, breast_mask
from core.types import Mammogram
from core.models.kinds import register_fold_loader, register_kind
from core.models.backends.passes import LARGE_PASS
from core.models.prediction import MapLayer, Prediction, RecentResults, shared

CLASSES = ("normal", "benign", "malignant")


class DensePatchModel:
    """Three-class output read hierarchically: lesion score from the lesion map, malignant
    share from the benign / malignant maps; decisions at the validation thresholds."""

    classes = CLASSES
    framework = "torch"
    input = "whole"
    looks_at_roi = False

    def __init__(self, card: dict[str, Any], net, onnx=None, grid=None) -> None:
        self.card, self.net = card, net
        self.onnx = onnx  # runtime.OnnxModel of the dense probabilities, None: eager torch
        self.name: str = card["name"]
        self.task: str = card["task"]
        self.rules: dict[str, str] = card["score_rules"]
        self.cfg: dict[str, Any] = card["data_config"]
        self.front = Pipeline.from_json(card["preprocessing"])
        self.grid = net if net is not None else (grid or _grid(card))  # the net's cells (stride, window)
        self._recent = RecentResults()

    def _maps(self, image: Mammogram) -> dict[str, np.ndarray]:
        return self._recent.remember(image.pixels, "maps", lambda: self._patch_maps(image))

    def _patch_maps(self, image: Mammogram) -> dict[str, np.ndarray]:
        from core.models.nets.dense import patch_maps

        work, _ = self.front.apply(image.pixels)
        with LARGE_PASS:
            return patch_maps(self.grid, work, breast_mask(work), self.cfg["mean"], self.cfg["std"], self._dense_probabilities())

    def _dense_probabilities(self):
        onnx = self.onnx
        return (lambda x: onnx(x)[0]) if onnx is not None else None

    @property
    def runtime(self) -> str:
        return "onnx" if self.onnx is not None else "torch"

    def _probabilities(self, maps: dict[str, np.ndarray]) -> np.ndarray:
        from core.models.nets.dense import stage_scores, three_class

        return three_class(*stage_scores(maps, self.rules["stage1"], self.rules["stage2"]))

    def predict_proba(self, images: Sequence[Mammogram], rois=None) -> np.ndarray:
        if not images:
            return np.zeros((0, 3), np.float32)
        return np.stack([self._probabilities(self._maps(im)) for im in images])

    def decision(self, probs: np.ndarray) -> str:
        t = self.card.get("stage_thresholds") or {}
        s1 = 1.0 - float(probs[0])
        s2 = float(probs[2]) / max(float(probs[1] + probs[2]), 1e-12)
        if s1 < float(t.get("stage1", 0.5)):
            return "normal"
        return "malignant" if s2 >= float(t.get("stage2", 0.5)) else "benign"

    def map_layers(self, image: Mammogram, maps: dict[str, np.ndarray]) -> dict[str, MapLayer]:
        from core.models.nets.score_rules import get_rule

        out = {}
        for key, label, rule in (("lesion", "patch scores: lesion (1 − p background)", self._layer_rule("stage1")), ("malignant", "patch scores: malignant", self._layer_rule("stage2"))):
            out[f"patch_{key}"] = MapLayer(name=label, kind="patch_scores", values=maps[key], image_shape=image.shape, method="dense patch classifier", class_name=key, score_rule=rule, score=get_rule(rule)(maps[key]) if rule else None)
        return out

    def _layer_rule(self, stage: str) -> str | None:
        """The score rule that turns this layer into the model's stage score."""
        return self.rules[stage]

    def _trace(self, probs: np.ndarray) -> list[dict[str, Any]]:
        return [{"stage": "lesion map", "rule": self.rules["stage1"], "p_lesion": round(1 - float(probs[0]), 4)}, {"stage": "malignant share", "rule": self.rules["stage2"], "p_malignant_given_lesion": round(float(probs[2]) / max(float(probs[1] + probs[2]), 1e-12), 4)}]

    def predict(self, image: Mammogram, roi=None, *, with_maps: bool = True) -> Prediction:
        """Remembered per image: three ensembles and the model alone read the same views."""
        return shared(self._recent.remember(image.pixels, ("prediction", with_maps), lambda: self._predict(image, with_maps)))

    def _predict(self, image: Mammogram, with_maps: bool) -> Prediction:
        maps = self._maps(image)
        probs = self._probabilities(maps)
        return Prediction(self.name, self.task, self.classes, probs, self.decision(probs), None, self.map_layers(image, maps) if with_maps else {}, trace=self._trace(probs))


class DensePatchTopModel(DensePatchModel):
    """The same maps, read by Shen's whole-image top layers trained on whole images."""

    def __init__(self, card: dict[str, Any], base: DensePatchModel, top, top_graph=None) -> None:
        super().__init__(card | {"score_rules": base.card["score_rules"], "data_config": base.card["data_config"], "preprocessing": base.card["preprocessing"]}, base.net, base.onnx, base.grid)
        self.base, self.top, self.top_graph = base, top, top_graph  # top: the torch MapTop, or None when its graph serves

    def _maps(self, image: Mammogram) -> dict[str, np.ndarray]:
        return self.base._maps(image)

    def parts(self, image: Mammogram) -> list[tuple[Any, Mammogram]]:
        """The patch model whose maps this top reads, for `run_models` to run ahead."""
        return [(self.base, image)]

    def _probabilities(self, maps: dict[str, np.ndarray]) -> np.ndarray:
        from core.models.nets.dense import top_input

        if self.top_graph is not None:  # the committed graph: softmax included
            return np.asarray(self.top_graph(top_input(maps)[None])[0][0], np.float32)
        import torch

        with torch.inference_mode():
            return torch.softmax(self.top(torch.from_numpy(top_input(maps)[None])), 1)[0].numpy().astype(np.float32)

    def _layer_rule(self, stage: str) -> None:
        """The top reads the whole maps; no score rule of the patch model decides here."""
        return None

    def _trace(self, probs: np.ndarray) -> list[dict[str, Any]]:
        return [{"stage": "whole-image top over the patch maps", "member": self.base.name, **{f"p_{c}": round(float(v), 4) for c, v in zip(self.classes, probs)}}]


def _grid(card: dict[str, Any]):
    """The net's cell grid as its committed graph's entry recorded it."""
    from core.models import graphs
    from core.models.nets.dense import NetGrid

    spec = graphs.entry(card, "dense") or {}
    return NetGrid(int(spec["stride"]), int(spec["window"]))


def _load_state(module, path: Path) -> None:
    from safetensors.torch import load_file

    state = load_file(str(path))
    ref = module.state_dict()
    module.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()})


@register_kind("patch_dense")
def build_patch_dense(card: dict[str, Any], root: str) -> DensePatchModel:
    from core.models import graphs

    if graphs.serves(card, "dense"):  # the committed graph: ONNX Runtime, no torch
        return DensePatchModel(card, None, graphs.open_graph(card, "dense"))
    from safetensors.torch import load_file

    net = _patch_net(card, load_file(str(Path(card["_folder"]) / card["weights"]["file"])))
    return DensePatchModel(card, net, serve_dense(net, card["name"], card["weights"]["sha256"]))


DENSE_AXES = {"x": {0: "batch", 2: "height", 3: "width"}, "probs": {0: "batch", 2: "cells_y", 3: "cells_x"}}


def dense_graph_module(net):
    """What is exported of a dense patch net: its softmax maps, and an example input (every
    padded input is at least stride * window a side)."""
    import torch

    class DenseProbabilities(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return torch.softmax(self.net.dense_logits(x).float(), 1)

    side = max(256, 2 * net.stride * net.window)
    return DenseProbabilities().eval(), torch.zeros(1, 3, side, side)


def serve_dense(net, name: str, sha256: str):
    """The net's dense softmax maps as an ONNX Runtime session exported now (a model with no
    committed graph yet; any breast size, multiples of the stride), or None for eager torch."""
    from core.models.backends import onnx_runtime as runtime

    module, example = dense_graph_module(net)
    return runtime.try_build(module, example, name=name, sha256=sha256, output_names=("probs",), dynamic_axes=DENSE_AXES, variant="dense")


def _patch_net(card: dict[str, Any], state: dict[str, Any]):
    import torch

    from core.models.nets.patch_net import DensePatchNet

    arch = card["architecture"]
    net = DensePatchNet(arch["backbone"], 3, int(arch["window"]), 0.0)
    ref = net.state_dict()
    net.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()})
    return net.to(memory_format=torch.channels_last).eval()


@register_fold_loader("patch_dense")
def fold_patch_dense(card: dict[str, Any], fold: int) -> DensePatchModel | None:
    """Fold f's patch net with the rules and thresholds chosen on fold f's validation part."""
    from core.models.fold_runs import load_run

    run = load_run(card["name"], fold)
    if run is None:
        return None
    rules = {"stage1": run["rules"]["stage1_rule"], "stage2": run["rules"]["stage2_rule"]}
    return DensePatchModel(card | {"score_rules": rules, "stage_thresholds": run["thresholds"]}, _patch_net(card, run["net"]))


@register_kind("patch_dense_e2e", composite=True)
def build_patch_dense_top(card: dict[str, Any], root: str) -> DensePatchTopModel:
    from core.models import graphs, registry

    registry.verify(card)
    base = registry.load(card["members"][0], root)
    if graphs.serves(card, "top"):  # the committed graph: ONNX Runtime, no torch
        return DensePatchTopModel(card, base, None, graphs.open_graph(card, "top"))
    from core.models.nets.patch_net import MapTop

    top = MapTop()
    _load_state(top, Path(card["_folder"]) / card["weights"]["file"])
    return DensePatchTopModel(card, base, top.eval())


@register_fold_loader("patch_dense_e2e")
def fold_patch_dense_top(card: dict[str, Any], fold: int) -> DensePatchTopModel | None:
    """Fold f's top over fold f's patch net: neither saw fold f's films."""
    from core.models.fold_runs import load_run
    from core.models.nets.patch_net import MapTop
    from core.models import registry

    run = load_run(card.get("fold_runs") or card["members"][0], fold)
    base = fold_patch_dense(registry.card(card["members"][0], Path(card["_folder"]).parent), fold)
    if run is None or run.get("top") is None or base is None:
        return None
    top = MapTop()
    top.load_state_dict({k: v.float() for k, v in run["top"].items()})
    return DensePatchTopModel(card, base, top.eval())
