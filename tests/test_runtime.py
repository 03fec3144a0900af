"""The served runtime: every network the dashboard serves gives in ONNX Runtime what it gives
in eager torch, and Grad-CAM from the forward features equals pytorch-grad-cam's, on real
images (the embedded full-field DICOMs and mini-MIAS films); `MAMMO_RUNTIME=torch` and a
missing onnxruntime fall back to eager torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

PROB_ATOL = 1e-4  # softmax probabilities
MAP_ATOL = 1e-3  # probability maps and Grad-CAM maps, both on [0, 1]


@pytest.fixture(scope="module")
def images(request):
    """Two sample DICOMs (a benign mass, another case) and, where the data is here, a
    malignant and a normal MIAS film."""
    from core.datasets import load_dataset
    from core.io.reader import read_image

    sample = load_dataset("sample")
    out = [read_image(sample[0].path), read_image(sample[-1].path)]
    try:
        records = request.getfixturevalue("mias_records")
    except pytest.skip.Exception:
        return out
    for label in ("malignant", "normal"):
        out.append(read_image(next(r for r in records if r.label == label).path))
    return out


@pytest.fixture(autouse=True)
def without_committed_graphs(monkeypatch):
    """These tests hold the start-time export: a model whose graph is not committed yet (just
    trained, before `python -m core graphs`) is exported when it is first loaded. The committed
    graphs are held by tests/test_serving_graphs.py."""
    from core.models import graphs, registry

    monkeypatch.setattr(graphs, "serves", lambda card, role: False)
    registry.clear_cache()
    yield
    registry.clear_cache()


def served_torch_classifiers() -> list[str]:
    from core.models import registry

    return [c["name"] for c in registry.discover() if c.get("framework") == "torch" and c.get("cam_layer") and registry.weights_available(c)]


def _eager_probs(backend, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return torch.softmax(backend.net(backend._tensor(x[None])), 1).numpy()[0]


@pytest.mark.parametrize("name", served_torch_classifiers())
def test_classifier_onnx_equals_eager_torch_and_cam_equals_grad_cam(name, images):
    from core.models import registry
    from core.models.classifier import _channels

    model = registry.load(name)
    backend = model.backend
    assert backend.runtime == "onnx" and backend._head is not None, "timm pooled-linear heads serve Grad-CAM from the forward pass"
    for image in images:
        x = _channels(model.prepare(image)[0])
        served = backend.forward(x[None])[0]
        assert backend._kept_features(x) is not None, "the forward keeps its features for the map"
        np.testing.assert_allclose(served, _eager_probs(backend, x), atol=PROB_ATOL)
        for c in range(len(model.classes)):
            forward_only = backend.cam(x, c)  # features kept from the forward above
            reference = backend._backward_cam(x, c)  # pytorch-grad-cam, backward pass
            assert forward_only.shape == reference.shape == x.shape[:2]
            np.testing.assert_allclose(forward_only, reference, atol=MAP_ATOL)
    # without a kept forward (another input), cam runs the graph once and gives the same map
    backend._features.clear()
    np.testing.assert_allclose(backend.cam(x, 0), backend._backward_cam(x, 0), atol=MAP_ATOL)


def test_dense_patch_maps_onnx_equal_eager_torch(images):
    from core.models.nets.dense import patch_maps
    from core.models import registry
    from core.preprocess.pipeline import breast_mask

    model = registry.load("patch-lite0-dense")
    assert model.runtime == "onnx"
    assert registry.load("flat3-lite0-maps").onnx is model.onnx, "the whole-image top reuses its base's session"
    for image in images[:3]:
        work, _ = model.front.apply(image.pixels)
        args = (model.net, work, breast_mask(work), model.cfg["mean"], model.cfg["std"])
        served, eager = patch_maps(*args, model._dense_probabilities()), patch_maps(*args)
        for key in served:
            np.testing.assert_allclose(served[key], eager[key], atol=MAP_ATOL)
        np.testing.assert_allclose(model.predict_proba([image])[0], model._probabilities(eager), atol=PROB_ATOL)


def test_unet_probability_onnx_equals_eager_torch(images):
    from core.models import registry

    model = registry.load("unet-bcir-lite0")
    assert model.runtime == "onnx"
    onnx = model.onnx
    for image in images:
        served = model._probability_map(image)
        model.onnx = None
        try:
            eager = model._probability_map(image)
        finally:
            model.onnx = onnx
        np.testing.assert_allclose(served, eager, atol=MAP_ATOL)


def test_fallback_to_eager_torch(monkeypatch, images):
    """`MAMMO_RUNTIME=torch`, or no onnxruntime: eager torch and pytorch-grad-cam, as before."""
    from core.models import registry
    from core.models.backends import onnx_runtime as runtime
    from core.models.classifier import _channels
    from core.models.backends.torch_backend import load_backend

    card = registry.card("s1-mobilenetv2-torch")
    monkeypatch.setenv("MAMMO_RUNTIME", "torch")
    assert runtime.choice() == "torch"
    eager = load_backend(card, Path(card["_folder"]))
    monkeypatch.setenv("MAMMO_RUNTIME", "onnx")
    monkeypatch.setattr(runtime, "available", lambda: False)
    missing = load_backend(card, Path(card["_folder"]))
    served = registry.load(card["name"])
    x = _channels(served.prepare(images[0])[0])
    for backend in (eager, missing):
        assert backend.runtime == "torch"
        np.testing.assert_allclose(backend.forward(x[None]), served.backend.forward(x[None]), atol=PROB_ATOL)
        np.testing.assert_allclose(backend.cam(x, 1), served.backend.cam(x, 1), atol=MAP_ATOL)


def test_head_check_refuses_what_is_not_pooled_linear():
    """Grad-CAM of a layer before the last feature map needs the backward pass."""
    from core.models.backends.torch_backend import build_network, pooled_linear_head

    net = build_network({"kind": "timm", "model": "mobilenetv2_100"}, 2)
    assert pooled_linear_head(net, "bn2") is not None
    assert pooled_linear_head(net, "blocks.5") is None
    assert pooled_linear_head(net, "no.such.layer") is None


def test_export_cache_and_in_memory_fallback(monkeypatch, tmp_path):
    import torch

    from core.models.backends import onnx_runtime as runtime

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()).eval()
    x = torch.randn(1, 3, 40, 24)
    kwargs = dict(name="tiny net", sha256="0" * 64, output_names=("y",), dynamic_axes={"x": {0: "b", 2: "h", 3: "w"}, "y": {0: "b", 2: "h", 3: "w"}}, n_threads=1)
    monkeypatch.setattr(runtime, "cache_dir", lambda: tmp_path / "onnx")
    first, second = runtime.build(net, x, **kwargs), runtime.build(net, x, **kwargs)
    assert (first.source, second.source) == ("export", "cache")
    assert [p.name for p in (tmp_path / "onnx").iterdir()] == [runtime.cache_name("tiny net", "0" * 64)]
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setattr(runtime, "cache_dir", lambda: tmp_path / "file" / "onnx")
    memory = runtime.build(net, x, **kwargs)
    assert memory.source == "memory"
    other = torch.randn(2, 3, 64, 32)  # dynamic batch and spatial axes
    with torch.no_grad():
        np.testing.assert_allclose(memory(other.numpy())[0], net(other).numpy(), atol=1e-5)
