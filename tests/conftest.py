"""Shared pytest fixtures. Keep each fixture small and documented."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# under CI=true a skip fails unless its reason is declared in tests/ci_skips.py
pytest_plugins = ["ci_skips"]

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # make `import core` work without installing the project
    sys.path.insert(0, str(REPO))
# one Keras engine for the whole test process, whichever test imports Keras first: TensorFlow,
# which training needs; tests/test_keras_torch.py checks the serving default (torch) in a subprocess
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# no background warm-up of every model when a test opens the Upload page (two test workers share two cores)
os.environ.setdefault("MAMMO_WARM_UP", "0")
# Each test worker gets its share of the cores for the thread pools of torch (OpenMP), TensorFlow
# and BLAS, as the app gives each model worker one (`limit_torch_threads`). Set before any of them
# is imported; the servers and commands a test starts inherit it. With two workers each running
# two spinning threads on two cores, a smoke-training file took 2x as long (measured: the Mini-DDSM
# train-command smoke beside the lesion smokes 145 s / 185 s, with a share each 71 s / 122 s).
THREAD_POOLS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def _share_the_cores() -> None:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if workers > 1:
        share = str(max(1, (os.cpu_count() or 1) // workers))
        for name in THREAD_POOLS:
            os.environ.setdefault(name, share)


_share_the_cores()


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


# Longest files first (measured `--durations`, whole files), a file that trains beside one that
# mostly waits (browsers, Ray's start): with `-n 2 --dist loadfile` each file runs whole on one
# worker (its module fixtures once); two smoke-training files side by side still slow each other
# (each has one core's share of threads, see `_share_the_cores`).
LONGEST_FIRST = ["test_train_command.py", "test_browser.py", "test_lesion_models.py", "test_browser_load.py", "test_training.py", "test_score.py",
                 "test_direct_links.py", "test_pages.py", "test_browser_evaluate.py", "test_privacy.py", "test_serving_graphs.py",
                 "test_contract.py", "test_keras_torch.py", "test_study_pages.py", "test_session.py", "test_entry_navigation.py",
                 "test_ensemble_parts.py", "test_studies.py", "test_judging.py", "test_recalibration.py", "test_cli.py", "test_frameworks_together.py",
                 "test_html_report.py", "test_ci_skips.py", "test_evaluate_page.py"]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's own order is kept
