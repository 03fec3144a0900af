"""Keras first, then torch, in one process: the order a dashboard user can trigger."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_torch_model_after_a_keras_model_in_one_process():
    code = "import core.models.backends.keras_backend, tensorflow, timm, torchvision; print('ok')"
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "ok" in p.stdout, p.stderr[-800:]
