"""Committed serving graphs: every served network has one, it is the framework model, and an
upload through every default model imports no training stack.

The graphs were exported by `python -m core graphs`, which recorded an equality check on 48
real images in each card; here that record is held to the tolerance, the files to their
SHA-256, and the check is run again on two of the embedded sample's DICOMs, graph against
framework (eager torch, or Keras on torch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

from core.models import graphs, kinds, registry
from core.models.card import sha256_file
from core.training.graphs import EXPORTERS, TOLERANCE

MODELS = REPO / "models"
GIT_BUDGET_MB = 60


def served_cards() -> list[dict]:
    return [c for c in registry.discover(MODELS) if kinds.kind_of(c) in EXPORTERS and registry.weights_available(c)]


def test_every_served_network_has_a_checked_graph():
    cards = served_cards()
    assert len(cards) >= 7
    for card in cards:
        role = EXPORTERS[kinds.kind_of(card)][0]
        entry = graphs.entry(card, role)
        assert entry, f"{card['name']}: no committed {role} graph (python -m core graphs {card['name']})"
        assert sha256_file(Path(card["_folder"]) / entry["file"]) == entry["sha256"]
        check = entry["equality"]
        assert check["images"] >= 8
        assert check["max_abs_probability"] <= TOLERANCE, card["name"]
        assert check.get("max_map_share_of_peak", 0.0) <= TOLERANCE, card["name"]


def test_models_folder_stays_within_the_git_budget():
    tracked = subprocess.run(["git", "ls-files", "models"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    total = sum((REPO / f).stat().st_size for f in tracked if (REPO / f).is_file())
    untracked_graphs = [p for p in MODELS.glob("*/*.onnx") if str(p.relative_to(REPO)) not in tracked]
    total += sum(p.stat().st_size for p in untracked_graphs)
    assert total / 2**20 <= GIT_BUDGET_MB, f"{total / 2**20:.1f} MB under models/"


@pytest.fixture(scope="module")
def sample_images():
    from core.datasets import load_dataset
    from core.io.reader import read_image

    return [read_image(r.path) for r in load_dataset("sample")[:2]]


def _load(name: str, runtime: str):
    old = os.environ.get("MAMMO_RUNTIME")
    os.environ["MAMMO_RUNTIME"] = runtime
    try:
        registry.clear_cache()
        return registry.load(name, MODELS)
    finally:
        registry.clear_cache()
        if old is None:
            os.environ.pop("MAMMO_RUNTIME")
        else:
            os.environ["MAMMO_RUNTIME"] = old


@pytest.mark.parametrize("name", [c["name"] for c in served_cards()])
def test_graph_equals_the_framework_model_on_sample_dicoms(name, sample_images):
    served, reference = _load(name, "onnx"), _load(name, "torch")
    for image in sample_images:
        a, b = served.predict(image), reference.predict(image)
        assert np.max(np.abs(a.probabilities - b.probabilities)) <= TOLERANCE
        for key, layer in a.maps.items():
            want = b.maps[key].values
            assert np.max(np.abs(layer.values - want)) <= TOLERANCE * max(float(np.max(want)), 1e-12), (name, key)
        waiting = set(b.maps) - set(a.maps)  # a map with no forward form waits on demand, never disappears
        assert waiting <= {"saliency"}, name
        for key in waiting:
            on_demand = f"saliency_{a.decision}"
            assert on_demand in a.on_demand, name
            got, want = served.map_on_demand(image, on_demand).values, b.maps[key].values  # a backward pass now
            assert np.max(np.abs(got - want)) <= TOLERANCE * max(float(np.max(want)), 1e-12), name
        assert set(a.on_demand) - set(b.on_demand) <= {f"saliency_{a.decision}"}, name


def test_served_classifier_runs_no_framework():
    from core.models.backends.graph_backend import GraphBackend

    for card in served_cards():
        if kinds.kind_of(card) == "classifier":
            model = registry.load(card["name"], MODELS)
            assert isinstance(model.backend, GraphBackend), card["name"]


FRESH = r"""
import json, sys
sys.path.insert(0, {repo!r})
from core.datasets.sample import warm_up_image
from core.dashboard import cards as dcards
from core.models import registry
from core.serving import inference
names = [c["name"] for c in registry.discover() if dcards.is_shipped(c) and registry.weights_available(c) and not dcards.on_demand(c)]
image = warm_up_image()
results = [r for _, r in inference.run_models([registry.load(n) for n in names], image)]
table = inference.comparison_frame(results, {{c["name"]: c for c in registry.discover()}}, 0.9)  # what Upload opens with: conformal sets too
assert len(table) == len(names)
heavy = ["torch", "timm", "keras", "tensorflow", "sklearn", "ray", "pytorch_grad_cam", "safetensors"]
print(json.dumps({{"models": names, "errors": [r.name for r in results if r.error], "maps": sum(len(r.prediction.maps) for r in results if r.prediction),
                  "imported": [m for m in heavy if m in sys.modules]}}))
"""


def test_an_upload_through_every_default_model_imports_no_training_stack():
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "MAMMO_RUNTIME")}
    out = subprocess.run([sys.executable, "-c", FRESH.format(repo=str(REPO))], capture_output=True, text=True, env=env, timeout=600, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(got["models"]) >= 10 and not got["errors"] and got["maps"] >= len(got["models"])
    assert got["imported"] == [], f"the serving path imported {got['imported']}"


@pytest.mark.parametrize("name", ["s1-mobilenetv2-torch", "unet-bcir-lite0"])
def test_export_writes_a_checked_graph_that_serving_loads(name, tmp_path, sample_images):
    """`python -m core graphs` on a copy of a model folder: the graph is written fp16 where
    lossless, recorded with its SHA-256 and equality check, and serving then loads it."""
    import shutil

    from core.training.graphs import export

    src = MODELS / name
    shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("*.onnx"))
    card = json.loads((tmp_path / name / "card.json").read_text())
    card.pop(graphs.CARD_KEY, None)
    (tmp_path / name / "card.json").write_text(json.dumps(card))
    assert export([name], tmp_path, sample_images, log=lambda _: None) == [name]
    registry.clear_cache()
    served = registry.card(name, tmp_path)
    role = EXPORTERS[kinds.kind_of(served)][0]
    entry = graphs.entry(served, role)
    assert entry["equality"]["images"] == len(sample_images) and entry["equality"]["max_abs_probability"] <= TOLERANCE
    assert sha256_file(tmp_path / name / entry["file"]) == entry["sha256"]
    assert entry["bytes"] <= 1.05 * (src / entry["file"]).stat().st_size  # weights stored fp16, as committed
    model = registry.load(name, tmp_path)
    committed = registry.load(name, MODELS)
    np.testing.assert_allclose(model.predict_proba(sample_images[:1]), committed.predict_proba(sample_images[:1]), atol=TOLERANCE)
    registry.clear_cache()
