"""Keras models served on torch (the dashboard's default) against Keras on TensorFlow.

Each engine runs in its own process (Keras picks its engine once, at import): the shipped
`.keras` models give the same probabilities on both, and the torch-autograd Grad-CAM gives
the same map as tf-keras-vis's Gradcam, the torch-autograd gradient the same map as
tf-keras-vis's Saliency. Skipped when TensorFlow or a shipped Keras model
is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from core import quiet  # noqa: F401
from pathlib import Path
from core.models import registry
from core.models.backends.keras_backend import load_backend
out = {}
for name in sys.argv[2:]:
    card = registry.card(name)  # the Keras model itself (the pages serve its committed graph)
    backend, classes = load_backend(card, Path(card["_folder"])), card["classes"]
    shape = tuple(backend.model.inputs[0].shape[1:])
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    out[name] = {"engine": backend.engine, "p": backend.forward(x[None])[0].tolist(),
                 "cam": [backend.cam(x, k).tolist() for k in range(len(classes))],
                 "saliency": [backend.saliency(x, k).tolist() for k in range(len(classes))]}
print(json.dumps(out))
"""


def _keras_models() -> list[str]:
    from core.dashboard import cards as dcards
    from core.models import registry

    return [c["name"] for c in registry.discover() if c.get("framework") == "keras" and dcards.is_shipped(c) and registry.weights_available(c)]


def _run(engine: str, names: list[str]) -> dict:
    env = dict(os.environ, KERAS_BACKEND=engine, TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO), *names], env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_keras_on_torch_matches_tensorflow():
    if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("tf_keras_vis") is None:
        pytest.skip("TensorFlow / tf-keras-vis not installed: nothing to compare the torch engine with")
    names = _keras_models()
    if not names:
        pytest.skip("no shipped Keras model in models/")
    on_torch, on_tf = _run("torch", names), _run("tensorflow", names)
    for n in names:
        assert on_torch[n]["engine"] == "torch" and on_tf[n]["engine"] == "tensorflow"
        np.testing.assert_allclose(on_torch[n]["p"], on_tf[n]["p"], atol=1e-5)
        for k, (a, b) in enumerate(zip(on_torch[n]["cam"], on_tf[n]["cam"])):
            a, b = np.asarray(a), np.asarray(b)
            assert a.shape == b.shape
            scale = max(float(np.abs(b).max()), 1e-6)
            assert float(np.abs(a - b).max()) / scale < 1e-3, (n, k)
        for k, (a, b) in enumerate(zip(on_torch[n]["saliency"], on_tf[n]["saliency"])):
            a, b = np.asarray(a), np.asarray(b)
            assert a.shape == b.shape == np.asarray(on_tf[n]["cam"][k]).shape and b.max() > 0
            assert float(np.abs(a - b).max()) / float(b.max()) < 1e-3, ("saliency", n, k)
