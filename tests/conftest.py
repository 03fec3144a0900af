"""Shared pytest fixtures. Keep each fixture small and documented."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # make `import core` work without installing the project
    sys.path.insert(0, str(REPO))
# one Keras engine for the whole test process, whichever test imports Keras first: TensorFlow,
# which training needs; tests/test_keras_torch.py checks the serving default (torch) in a subprocess
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (`$MAMMO_SHARED_DATA`, else `../shared/data`); skip when absent."""
    env = os.environ.get("MAMMO_SHARED_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"real data folder not found at {path} (set MAMMO_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def mias_records(shared_data: Path):
    """The 322 mini-MIAS records (listing only, no decoding)."""
    from core.datasets import load_dataset

    return load_dataset("mias", shared_data / "mini-mias")


@pytest.fixture(scope="session")
def sample_dicom() -> Path:
    """One full-field CBIS-DDSM DICOM of the embedded sample (RLE, 16-bit)."""
    from core.datasets import load_dataset

    return Path(load_dataset("sample")[0].path)


@pytest.fixture(scope="module")
def browser():
    """A headless Debian chromium driven by Playwright (skipped where either is missing)."""
    from browser_kit import chromium

    with chromium() as b:
        yield b
