"""Smoke training (one tiny epoch) of a torch and a Keras recipe through the real CLI, then
the trained folders through the registry: load, predict, explain, integrity check, hierarchy.

The torch recipe and the hierarchy train through the command's own entry point
(`core.cli.main`) in this process, as the other smoke-training files do, to spare a torch
import per recipe. The Keras recipe trains in a child process, as users run it: Keras picks
its engine once per process, at import, and a recipe trains on TensorFlow, which a test
process that served a Keras model before (on torch) could no longer give it. The tampered
weights are refused by `predict` in a child process too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.errors import IntegrityError
from core.io.reader import read_image
from core.models import registry

from cli_kit import child, smoke_train

RECIPES = {"torch": "recipes/stage1_mobilenetv2_torch.yaml", "keras": "recipes/seed003_stage2_mobilenet_keras.yaml"}


def train(models_dir: Path, recipe: str, data: Path) -> None:
    p = smoke_train(models_dir, recipe, data)
    assert p.returncode == 0, p.stderr[-2000:]


@pytest.fixture(scope="module")
def smoke_models(tmp_path_factory, shared_data) -> Path:
    out = tmp_path_factory.mktemp("models")
    train(out, RECIPES["torch"], shared_data)
    p = child(out, "train", RECIPES["keras"], "--smoke", "--data", str(shared_data))
    assert p.returncode == 0, p.stderr[-2000:]
    train(out, "recipes/seed001_hierarchy.yaml", shared_data)
    return out


def test_smoke_folders_hold_card_weights_predictions_history(smoke_models):
    cards = {c["name"]: c for c in registry.discover(smoke_models)}
    assert {c["framework"] for c in cards.values()} == {"torch", "keras", "composite"}
    for c in cards.values():
        folder = Path(c["_folder"])
        pred = (folder / "predictions.csv").read_text().splitlines()
        assert pred[0].startswith("image_id,patient_id,split,truth,p_")
        assert set(c["test"]["metrics"]) >= {"accuracy", "roc_auc", "brier"}
        assert c["latency_ms_p50_cpu_batch1"] > 0 and len(c["external_check"]) == 8
        if c["task"] != "hierarchy":
            assert (folder / "history.csv").exists() and c["weights"]["sha256"]
            assert c["preprocessing"] == json.loads(json.dumps(c["recipe"]["preprocessing"]))


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_loaded_model_predicts_and_explains_on_a_full_field_dicom(smoke_models, sample_dicom, framework):
    card = next(c for c in registry.discover(smoke_models) if c["framework"] == framework)
    model = registry.load(card["name"], smoke_models)
    image = read_image(sample_dicom)
    p = model.predict_proba([image, image])
    assert p.shape == (2, len(model.classes)) and np.allclose(p.sum(1), 1, atol=1e-4)
    heat = model.explain(image, 1)
    assert heat.values.shape == image.shape and heat.values.dtype == np.float32
    assert 0 <= heat.values.min() and heat.values.max() <= 1


def test_hierarchy_runs_stage_by_stage(smoke_models, sample_dicom):
    card = next(c for c in registry.discover(smoke_models) if c["task"] == "hierarchy")
    model = registry.load(card["name"], smoke_models)
    trace = model.trace(read_image(sample_dicom))
    assert trace.probabilities.shape == (3,) and abs(float(trace.probabilities.sum()) - 1) < 1e-4
    assert (trace.p_malignant is None) != trace.stage1_says_lesion
    assert trace.decision in ("normal", "benign", "malignant")


def test_tampered_weights_refuse_to_load(smoke_models, tmp_path):
    import shutil

    card = next(c for c in registry.discover(smoke_models) if c["framework"] == "torch")
    copy = tmp_path / "models" / card["name"]
    shutil.copytree(card["_folder"], copy)
    weights = copy / card["weights"]["file"]
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    registry.clear_cache()
    with pytest.raises(IntegrityError):
        registry.load(card["name"], tmp_path / "models")
    p = child(tmp_path / "models", "predict", str(next(iter(Path(card["_folder"]).parent.glob("*")))), "--model", card["name"])
    assert p.returncode in (3, 4) and "Traceback" not in p.stderr
