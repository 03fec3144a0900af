"""The bootstrap's loop forms of the metrics give scikit-learn's numbers, on the committed
out-of-fold rows and on random resamples with ties, absent classes and one class only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from core.evaluation import resampled
from core.evaluation.metrics import binary_metrics, multiclass_metrics


def _same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or abs(a - b) <= 1e-12


def _committed_oof() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 3-class model's out-of-fold rows from models/: truth, probabilities, most probable class."""
    from core.models import registry
    from core.evaluation.oof import read_oof

    card = registry.card("patch-lite0-dense")
    oof = read_oof(card)
    classes = list(card["classes"])
    probs = oof[[f"p_{c}" for c in classes]].to_numpy(float)
    return oof["truth"].map({c: i for i, c in enumerate(classes)}).to_numpy(), probs, probs.argmax(1)


def _cases():
    y, probs, pred = _committed_oof()
    rng = np.random.default_rng(0)
    yield "committed", y, probs, pred
    for i in range(60):  # resamples of the committed rows, then small random sets with ties
        pick = rng.integers(0, len(y), rng.integers(5, 60))
        yield f"resample{i}", y[pick], probs[pick], pred[pick]
    for i in range(40):
        n = int(rng.integers(3, 30))
        raw = rng.integers(0, 5, (n, 3)).astype(float) + 0.1  # coarse values: many ties
        yield f"random{i}", rng.integers(0, 3 if i % 4 else 2, n), raw / raw.sum(1, keepdims=True), rng.integers(0, 3, n)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true:UserWarning")  # the oracle's, on resamples missing a class
def test_loop_forms_equal_scikit_learn():
    for case in _cases():
        _check(*case)


def _check(name: str, y: np.ndarray, probs: np.ndarray, pred: np.ndarray) -> None:
    lesion, score = (y > 0).astype(int), 1 - probs[:, 0]
    want = binary_metrics(lesion, score, 0.5)
    got = resampled.binary_figures(lesion, score, 0.5)
    both = len(np.unique(lesion)) == 2
    for key, value in got.items():
        if key in ("roc_auc", "pr_auc") and not both:
            assert np.isnan(value), (name, key)
        else:
            assert _same(value, float(want[key])), (name, key, value, want[key])
    want3 = multiclass_metrics(y, probs, pred)
    got3 = resampled.multiclass_figures(y, probs, pred)
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "malignant_auc", "lesion_auc", "brier"):
        assert _same(got3[key], float(want3[key])), (name, key, got3[key], want3[key])
    recall = skm.recall_score(y, pred, labels=[0, 1, 2], average=None, zero_division=0)
    np.testing.assert_allclose(got3["recall"], recall, atol=1e-12)
    f1_all = skm.f1_score(y, pred, average="macro", labels=[0, 1, 2], zero_division=0)
    assert _same(resampled.macro_f1(y, pred, 3, labels=range(3)), f1_all)


def test_patient_resamples_are_the_pandas_grouping():
    """Whole patients, in sorted order, rows of a patient in file order: the same resamples
    (and so the same committed intervals) as grouping with pandas."""
    patients = np.array(["b", "a", "c", "a", "b", "d", "c"], dtype=object)
    groups = pd.Series(np.arange(len(patients))).groupby(patients).apply(lambda s: s.to_numpy()).tolist()
    rng = np.random.default_rng(3)
    want = [np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))]) for _ in range(20)]
    got = resampled.patient_resamples(patients, 20, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
    ints = resampled.patient_resamples(np.array([10, 9, 10, 2]), 5, seed=1)
    assert all(set(r) <= {0, 1, 2, 3} and (0 in r) == (2 in r) for r in ints)  # patient 10's two rows go together


def test_percentile_interval_needs_more_than_ten_finite_values():
    assert np.isnan(resampled.percentile_ci([0.5] * 10 + [float("nan")] * 50)[0])
    lo, hi = resampled.percentile_ci(np.linspace(0, 1, 101))
    assert lo == pytest.approx(0.025) and hi == pytest.approx(0.975)


def test_midranks_are_scipys_average_ranks():
    """The numpy ranks inside ROC-AUC's loop equal scipy's `rankdata` (ties averaged, NaN propagated)."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(1)
    for i in range(500):
        n = int(rng.integers(0, 60))
        s = rng.integers(0, 5, n).astype(float) if i % 2 else rng.random(n)
        np.testing.assert_array_equal(resampled.midranks(s), rankdata(s))
    assert np.isnan(resampled.midranks(np.array([0.2, np.nan, 0.1]))).all() and np.isnan(rankdata([0.2, np.nan, 0.1])).all()
