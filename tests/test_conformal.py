"""Split-conformal prediction sets: coverage held out of fold on the committed models, the
guarantee on exchangeable data, the sets on a page and in `predict --json`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from core.evaluation import conformal
from core.labels import space


def _complete_binary_views():
    from core.models import registry
    from core.evaluation.oof import complete, oof_view, read_oof

    for card in registry.discover():
        for task in ("stage1", "stage2"):
            if complete(card) and task in (card.get("oof") or {}):
                yield card["name"], task, oof_view(read_oof(card), card["classes"], task)


@pytest.mark.parametrize("coverage", [0.8, 0.9])
def test_held_out_coverage_of_every_committed_model_is_within_its_interval_of_the_target(coverage):
    views = list(_complete_binary_views())
    assert len(views) >= 8
    for name, task, view in views:
        h = conformal.held_out(view, space(task).classes, coverage, n_boot=500)
        assert h["ci_low"] <= coverage <= h["ci_high"], (name, task, h)
        assert h["single_label_share"] + h["uncertain_share"] + h["empty_share"] == pytest.approx(1)


def test_the_guarantee_on_exchangeable_scores():
    """Many folds of scores from one distribution: held-out coverage at least the target
    (up to sampling noise), and sets grow as coverage does."""
    rng = np.random.default_rng(0)
    n = 4000
    y = rng.integers(0, 2, n)
    score = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.2 * (2 * y - 1))))  # a weak, noisy model
    view = pd.DataFrame({"y": y, "score": score, "fold": np.arange(n) % 5, "patient_id": np.arange(n) // 2})
    sizes = []
    for target in (0.7, 0.8, 0.9, 0.95):
        h = conformal.held_out(view, ("normal", "lesion"), target, n_boot=200)
        assert h["coverage"] >= target - 0.015, (target, h)
        sizes.append(h["uncertain_share"])
    assert sizes == sorted(sizes)
    fit = conformal.SplitConformal.fit(y, score, ("normal", "lesion"))
    assert fit.prediction_set(0.999, 0.8) == ("lesion",) and fit.prediction_set(0.001, 0.8) == ("normal",)
    assert conformal.SplitConformal.fit(y[:5], score[:5], ("normal", "lesion")).cutoff(0.9) == float("inf")  # too few to promise 90 %


def test_predict_json_gives_the_conformal_set():
    from core.models import registry

    name = next(n for n, task, _ in _complete_binary_views() if registry.card(n).get("kind", "classifier") == "classifier" and registry.weights_available(registry.card(n)))
    from core.datasets import load_dataset

    p = subprocess.run([sys.executable, "-m", "core", "predict", str(load_dataset("sample")[0].path), "--model", name, "--json", "--no-maps"],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-1500:]
    row = json.loads(p.stdout)[0]
    calibration = conformal.for_card(registry.card(name), row["task"])
    positive = row["probabilities"][space(row["task"]).positive]
    assert row["coverage"] == 0.9 and row["prediction_set"] == list(calibration.prediction_set(positive, 0.9))
    assert row["uncertain"] == (len(row["prediction_set"]) > 1)


def test_compare_shows_measured_coverage_per_model():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=300).run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "coverage" in d.value.columns)
    assert len(table) >= 1 and table["coverage"].between(0.8, 1.0).all()
    at.sidebar.select_slider(key="coverage").set_value(0.8).run()
    lower = next(d.value for d in at.dataframe if "coverage" in d.value.columns)
    assert (lower["uncertain (both classes)"].to_numpy() <= table["uncertain (both classes)"].to_numpy() + 1e-9).all()
