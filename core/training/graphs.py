"""Export every served network to a committed ONNX graph, checked against its framework model.

`python -m core graphs [NAME ...]` (all served leaf models by default) writes, per model, the
graph(s) beside the weights and records in the card (`serving_graphs`, read by
`core.models.graphs`): file, SHA-256, size, input layout, outputs, and the equality check
run now on real images (the embedded sample's DICOMs and, where the data folder is here,
mini-MIAS films): the largest probability difference and the largest map difference as a
share of the map's peak. A graph whose check exceeds `TOLERANCE` is not written.

Roles: `classifier` (probabilities and, for a global-average-pool + linear head, every
class's forward Grad-CAM map `cams`), `dense` (the dense patch net's softmax maps), `top`
(Shen's whole-image top over the maps), `unet` (the U-Net's sigmoid map). Keras models are
exported by Keras 3 itself (on torch), probabilities only: their Grad-CAM has no forward form.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from core.models import graphs
from core.models.card import read_card, sha256_file, write_card
from core.types import Mammogram

TOLERANCE = 1e-3  # probabilities, and maps as a share of their peak
Log = Callable[[str], None]


def _entry(folder: Path, file: str, *, layout: str, outputs: Sequence[str], equality: dict[str, Any], **extra: Any) -> dict[str, Any]:
    path = folder / file
    return {"file": file, "sha256": sha256_file(path), "bytes": path.stat().st_size, "layout": layout, "outputs": list(outputs),
            "runtime": "onnxruntime", "equality": equality, **extra}


def store_fp16(path: Path) -> dict[str, int]:
    """Store the graph's float32 weights as float16 where that loses nothing (the committed
    weights were saved in fp16 and the export folds nothing, so nearly all are): each such
    initializer becomes fp16 plus a Cast back to fp32, which ONNX Runtime folds when it loads
    the graph. The arithmetic is unchanged, the file half the size. Returns {"fp16": n,
    "fp32": n} initializers."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    kept, halved, casts = [], 0, []
    for init in list(graph.initializer):
        if init.data_type != onnx.TensorProto.FLOAT:
            kept.append(init)
            continue
        values = numpy_helper.to_array(init)
        half = values.astype(np.float16)
        if values.size < 16 or not np.array_equal(half.astype(np.float32), values):
            kept.append(init)
            continue
        stored = numpy_helper.from_array(half, name=f"{init.name}__fp16")
        kept.append(stored)
        casts.append(helper.make_node("Cast", [stored.name], [init.name], to=onnx.TensorProto.FLOAT, name=f"{init.name}__cast"))
        halved += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    for node in reversed(casts):
        graph.node.insert(0, node)
    onnx.save(model, str(path))
    return {"fp16": halved, "fp32": len(kept) - halved}


def _peak_share(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-12))


def _check(name: str, equality: dict[str, Any]) -> None:
    worst = max(equality.get("max_abs_probability", 0.0), equality.get("max_map_share_of_peak", 0.0))
    if not worst <= TOLERANCE:
        raise ValueError(f"{name}: the graph differs from the framework model by {worst:.2e} (> {TOLERANCE:g}); not written")


# ----------------------------------------------------------------------------- classifiers
def export_classifier(card: dict[str, Any], images: Sequence[Mammogram], log: Log = print) -> dict[str, Any]:
    import importlib

    from core.models.classifier import ImageClassifier, _BACKENDS, _channels

    folder = Path(card["_folder"])
    backend = importlib.import_module(_BACKENDS[card["framework"]]).load_backend(card, folder, serve=False)
    reference = ImageClassifier(card, backend)
    tmp = folder / ".serving.onnx.tmp"
    if card["framework"] == "torch":
        layout, outputs = "nchw", _export_torch_classifier(backend, tmp)
    else:
        layout, outputs = "nhwc", _export_keras_classifier(backend, tmp)
    from core.models.backends import onnx_runtime

    graph = onnx_runtime.open_graph(tmp, outputs)
    worst_p, worst_map = 0.0, 0.0
    for image in images:
        x = _channels(reference.prepare(image)[0])
        feed = x[None].transpose(0, 3, 1, 2) if layout == "nchw" else x[None]
        got = graph(np.ascontiguousarray(feed, np.float32))
        want = backend.forward(x[None])[0]
        worst_p = max(worst_p, float(np.max(np.abs(got[0][0] - want))))
        if "cams" in outputs:
            from core.models.backends.forward_cam import scale_cam

            k = int(np.argmax(want))
            served = scale_cam(np.maximum(scale_cam(got[1][0][k], (x.shape[1], x.shape[0])), 0))
            worst_map = max(worst_map, _peak_share(served, backend._backward_cam(x, k)))
    equality = {"images": len(images), "max_abs_probability": worst_p, "reference": f"{card['framework']} model, eager"}
    if "cams" in outputs:
        equality |= {"max_map_share_of_peak": worst_map, "map_reference": "pytorch-grad-cam GradCAM (backward pass) of the decided class"}
    _check(card["name"], equality)
    file = "serving.onnx"
    os.replace(tmp, folder / file)
    log(f"[{card['name']}] classifier graph: {', '.join(outputs)}; max |dp| {worst_p:.1e}" + (f", map {worst_map:.1e} of peak" if "cams" in outputs else ""))
    return _entry(folder, file, layout=layout, outputs=outputs, equality=equality)


def _export_torch_classifier(backend, target: Path) -> tuple[str, ...]:
    import torch

    from core.models.backends import onnx_runtime
    from core.models.backends.torch_backend import pooled_linear_head

    net = backend.net.eval()
    head = pooled_linear_head(net, backend.cam_layer)

    class Served(torch.nn.Module):
        """Softmax probabilities and, with a pooled linear head, relu(sum_k w_k / (h w) A_k) of every class."""

        def __init__(self) -> None:
            super().__init__()
            self.net = net
            if head is not None:
                self.register_buffer("class_weights", torch.from_numpy(head))

        def forward(self, x):
            if head is None:
                return self.net(x).float().softmax(1)
            features = self.net.forward_features(x)
            probs = self.net.forward_head(features).float().softmax(1)
            area = features.shape[2] * features.shape[3]
            cams = torch.relu(torch.einsum("kc,nchw->nkhw", self.class_weights / area, features.float()))
            return probs, cams

    outputs = ("probs", "cams") if head is not None else ("probs",)
    axes = {"x": {0: "batch", 2: "height", 3: "width"}, "probs": {0: "batch"}, "cams": {0: "batch", 2: "fh", 3: "fw"}}
    onnx_runtime.export_file(Served(), torch.zeros(1, 3, 224, 224), target, output_names=outputs, dynamic_axes={k: v for k, v in axes.items() if k in ("x",) + outputs})
    store_fp16(target)
    return outputs


def _export_keras_classifier(backend, target: Path) -> tuple[str, ...]:
    """Keras 3 exports its own model (on the torch engine: torch.onnx underneath)."""
    import contextlib
    import io

    shape = tuple(d or 1 for d in backend.model.input_shape)
    backend.forward(np.zeros(shape, np.float32))  # Keras exports only a model that has been called
    with contextlib.redirect_stdout(io.StringIO()):  # "Saved artifact at ..." names a path
        backend.model.export(str(target), format="onnx", verbose=False)
    _name_outputs(target, ("probs",))
    store_fp16(target)
    return ("probs",)


def _name_outputs(path: Path, names: Sequence[str]) -> None:
    """Give the graph's outputs the names serving asks for (Keras numbers them)."""
    import onnx

    model = onnx.load(str(path))
    renames = {out.name: new for out, new in zip(model.graph.output, names)}
    for node in model.graph.node:
        for i, name in enumerate(node.output):
            if name in renames:
                node.output[i] = renames[name]
    for out in model.graph.output:
        out.name = renames.get(out.name, out.name)
    onnx.save(model, str(path))


# ----------------------------------------------------------------------------- lesion models
def export_dense(card: dict[str, Any], images: Sequence[Mammogram], log: Log = print) -> dict[str, Any]:

    from core.models import dense_patch
    from core.models.backends import onnx_runtime
    from core.models.nets.dense import patch_maps
    from core.preprocess.pipeline import breast_mask
    from safetensors.torch import load_file

    folder = Path(card["_folder"])
    net = dense_patch._patch_net(card, load_file(str(folder / card["weights"]["file"])))
    module, example = dense_patch.dense_graph_module(net)
    tmp = folder / ".dense.onnx.tmp"
    onnx_runtime.export_file(module, example, tmp, output_names=("probs",), dynamic_axes=dense_patch.DENSE_AXES)
    store_fp16(tmp)
    graph = onnx_runtime.open_graph(tmp, ("probs",))
    front, cfg = dense_patch.Pipeline.from_json(card["preprocessing"]), card["data_config"]
    worst_map = worst_p = 0.0
    for image in images:
        work, _ = front.apply(image.pixels)
        mask = breast_mask(work)
        served = patch_maps(net, work, mask, cfg["mean"], cfg["std"], lambda a: graph(a)[0])
        eager = patch_maps(net, work, mask, cfg["mean"], cfg["std"])
        worst_map = max(worst_map, *(_peak_share(served[k], eager[k]) for k in eager))
        worst_p = max(worst_p, *(float(np.max(np.abs(served[k] - eager[k]))) for k in eager))
    equality = {"images": len(images), "max_abs_probability": worst_p, "max_map_share_of_peak": worst_map, "reference": "the patch net in eager torch (patch_maps)"}
    _check(card["name"], equality)
    os.replace(tmp, folder / "dense.onnx")
    log(f"[{card['name']}] dense graph: max map difference {worst_map:.1e} of peak")
    return _entry(folder, "dense.onnx", layout="nchw", outputs=("probs",), equality=equality, stride=int(net.stride), window=int(net.window))


def export_top(card: dict[str, Any], images: Sequence[Mammogram], log: Log = print) -> dict[str, Any]:
    import torch

    from core.models import registry
    from core.models.backends import onnx_runtime
    from core.models.dense_patch import _load_state
    from core.models.nets.dense import top_input
    from core.models.nets.patch_net import MapTop

    folder = Path(card["_folder"])
    top = MapTop()
    _load_state(top, folder / card["weights"]["file"])
    top.eval()

    class Probabilities(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.top = top

        def forward(self, maps):
            return torch.softmax(self.top(maps), 1)

    tmp = folder / ".top.onnx.tmp"
    onnx_runtime.export_file(Probabilities(), torch.zeros(1, 3, 64, 64), tmp, output_names=("probs",), dynamic_axes={"x": {0: "batch"}, "probs": {0: "batch"}})
    store_fp16(tmp)
    graph = onnx_runtime.open_graph(tmp, ("probs",))
    base = registry.load(card["members"][0], folder.parent)
    worst = 0.0
    for image in images:
        x = top_input(base._maps(image))[None]
        with torch.inference_mode():
            want = torch.softmax(top(torch.from_numpy(x)), 1).numpy()
        worst = max(worst, float(np.max(np.abs(graph(x)[0] - want))))
    equality = {"images": len(images), "max_abs_probability": worst, "reference": "the top in eager torch, on the member's maps"}
    _check(card["name"], equality)
    os.replace(tmp, folder / "top.onnx")
    log(f"[{card['name']}] top graph: max |dp| {worst:.1e}")
    return _entry(folder, "top.onnx", layout="nchw", outputs=("probs",), equality=equality)


def export_unet(card: dict[str, Any], images: Sequence[Mammogram], log: Log = print) -> dict[str, Any]:
    import torch

    from core.models import segmenter
    from core.models.backends import onnx_runtime
    from core.models.nets.inputs import normalised
    from core.preprocess.pipeline import Pipeline
    from safetensors.torch import load_file

    folder = Path(card["_folder"])
    net = segmenter._net(load_file(str(folder / card["weights"]["file"])))
    module, example = segmenter.unet_graph_module(net)
    tmp = folder / ".unet.onnx.tmp"
    onnx_runtime.export_file(module, example, tmp, output_names=("probability",), dynamic_axes=segmenter.UNET_AXES)
    store_fp16(tmp)
    graph = onnx_runtime.open_graph(tmp, ("probability",))
    front, pipeline, cfg = Pipeline.from_json(card["front"]), Pipeline.from_json(card["preprocessing"]), card["data_config"]
    worst = 0.0
    for image in images:
        x, _ = pipeline.apply(front.apply(image.pixels)[0])
        a = normalised(x, cfg["mean"], cfg["std"])
        with torch.inference_mode():
            want = torch.sigmoid(net(torch.from_numpy(a)))[0, 0].numpy()
        worst = max(worst, float(np.max(np.abs(graph(a)[0][0, 0] - want))))
    equality = {"images": len(images), "max_abs_probability": worst, "max_map_share_of_peak": worst, "reference": "the U-Net in eager torch"}
    _check(card["name"], equality)
    os.replace(tmp, folder / "unet.onnx")
    log(f"[{card['name']}] U-Net graph: max |dp| {worst:.1e}")
    return _entry(folder, "unet.onnx", layout="nchw", outputs=("probability",), equality=equality)


# ----------------------------------------------------------------------------- the command
EXPORTERS: dict[str, tuple[str, Callable[..., dict[str, Any]]]] = {
    "classifier": ("classifier", export_classifier),
    "patch_dense": ("dense", export_dense),
    "patch_dense_e2e": ("top", export_top),
    "segmentation": ("unet", export_unet),
}


def check_images(data_dir: str | Path | None = None, n_mias: int = 40) -> list[Mammogram]:
    """The equality check's images: the 8 embedded sample DICOMs and the first `n_mias`
    mini-MIAS films where the data folder is here."""
    from core.datasets import load_dataset
    from core.io.reader import read_image

    images = [read_image(r.path) for r in load_dataset("sample")]
    mias = None
    if data_dir:  # the data folder, or its mini-mias/ itself
        mias = next((p for p in (Path(data_dir) / "mini-mias", Path(data_dir)) if (p / "Info.txt").is_file() or (p / "info.txt").is_file()), None)
    if mias is not None:
        images += [read_image(r.path) for r in load_dataset("mias", mias)[:n_mias]]
    return images


def export(names: Sequence[str], models_dir: str | Path, images: Sequence[Mammogram], log: Log = print) -> list[str]:
    """Export and record the graphs of `names` (served leaf models; others are skipped)."""
    from core.models import kinds, registry

    done = []
    for name in names:
        card = registry.card(name, models_dir)
        kind = kinds.kind_of(card)
        if kind not in EXPORTERS or not registry.weights_available(card) or not (card.get("weights") or {}).get("shipped", True):
            continue  # nothing to serve, or weights over the git budget (their graph would be too)
        role, fn = EXPORTERS[kind]
        registry.verify(card)
        entry = fn(card, images, log)
        card = read_card(card["_folder"])
        card[graphs.CARD_KEY] = (card.get(graphs.CARD_KEY) or {}) | {role: entry}
        write_card(card["_folder"], card)
        registry.clear_cache()
        done.append(name)
    return done


def summary(models_dir: str | Path) -> list[dict[str, Any]]:
    """One row per committed graph (what `python -m core graphs --list` prints)."""
    from core.models import registry

    rows = []
    for card in registry.discover(models_dir):
        for role, e in (card.get(graphs.CARD_KEY) or {}).items():
            rows.append({"model": card["name"], "role": role, "file": e["file"], "mb": round(e["bytes"] / 2**20, 2), "outputs": ",".join(e["outputs"]),
                         "images": e["equality"]["images"], "max_abs_probability": e["equality"].get("max_abs_probability"),
                         "max_map_share_of_peak": e["equality"].get("max_map_share_of_peak")})
    return rows
