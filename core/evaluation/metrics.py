"""Metrics with patient-level bootstrap CIs, thresholds chosen on validation only.

Curves and point estimates come from scikit-learn; the bootstrap's loop uses
`core.evaluation.resampled`'s forms of the same metrics (held equal to scikit-learn by a test). This
module decides which numbers are computed on which rows, so every figure is recomputable
from `predictions.csv`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from core.evaluation import resampled

BINARY_KEYS = ("accuracy", "sensitivity", "specificity", "precision", "f1", "roc_auc", "pr_auc", "brier")
MULTI_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "malignant_auc", "lesion_auc", "brier")


class _LazyMetrics:
    """`sklearn.metrics`, imported when a metric is first computed: serving reads thresholds,
    task views and conformal sets through this package without computing one, and so never
    imports scikit-learn (tests/test_serving_graphs.py)."""

    def __getattr__(self, name: str):
        from sklearn import metrics

        return getattr(metrics, name)


skm = _LazyMetrics()


def prob_columns(classes: Sequence[str]) -> list[str]:
    return [f"p_{c}" for c in classes]


def auc(y_true, score) -> float:
    """ROC-AUC of a binary truth and a score, as a float; NaN unless the truth holds exactly two
    classes (one class present, or a multi-class truth), where scikit-learn would raise. The one
    form the training loops, rule and member choices and the out-of-fold summaries share."""
    y_true = np.asarray(y_true)
    return float(skm.roc_auc_score(y_true, score)) if len(np.unique(y_true)) == 2 else float("nan")


def choose_threshold(y_true: np.ndarray, score: np.ndarray) -> float:
    """Youden's J on the validation ROC: the operating point a card reports."""
    y_true = np.asarray(y_true).astype(int)
    if len(np.unique(y_true)) < 2:
        return 0.5
    fpr, tpr, thr = skm.roc_curve(y_true, score)
    j = tpr - fpr
    best = int(np.argmax(j))
    return float(min(max(thr[best], 0.0), 1.0))


def binary_metrics(y_true: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, Any]:
    y_true = np.asarray(y_true).astype(int)
    score = np.asarray(score, dtype=float)
    pred = (score >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y_true, pred, labels=[0, 1]).ravel()
    both = len(np.unique(y_true)) == 2
    return {
        "accuracy": skm.accuracy_score(y_true, pred),
        "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "f1": skm.f1_score(y_true, pred, zero_division=0),
        "roc_auc": skm.roc_auc_score(y_true, score) if both else float("nan"),
        "pr_auc": skm.average_precision_score(y_true, score) if both else float("nan"),
        "brier": skm.brier_score_loss(y_true, score),
        "confusion": [[int(tn), int(fp)], [int(fn), int(tp)]],
    }


def multiclass_metrics(y_true: np.ndarray, probs: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    y_true, pred = np.asarray(y_true).astype(int), np.asarray(pred).astype(int)
    k = probs.shape[1]
    present = len(np.unique(y_true)) == k
    onehot = np.eye(k)[y_true]
    return {
        "accuracy": skm.accuracy_score(y_true, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, pred),
        "macro_f1": skm.f1_score(y_true, pred, average="macro", zero_division=0),
        "roc_auc": skm.roc_auc_score(y_true, probs, multi_class="ovr", average="macro", labels=list(range(k))) if present else float("nan"),
        "malignant_auc": skm.roc_auc_score(y_true == k - 1, probs[:, -1]) if present else float("nan"),
        "lesion_auc": skm.roc_auc_score(y_true > 0, 1 - probs[:, 0]) if present else float("nan"),
        "brier": float(np.mean(np.sum((probs - onehot) ** 2, axis=1))),
        "confusion": skm.confusion_matrix(y_true, pred, labels=list(range(k))).tolist(),
    }


def bootstrap_ci(patients: Sequence, figures: Callable[[np.ndarray], dict[str, float]], keys: Sequence[str], n: int = 1000, seed: int = 0) -> dict[str, list[float]]:
    """95 % percentile CIs, resampling whole patients with replacement; `figures(rows)`
    gives the metrics of the rows at those positions (`core.evaluation.resampled`'s loop forms)."""
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for idx in resampled.patient_resamples(patients, n, seed):
        m = figures(idx)
        for k in keys:
            samples[k].append(m[k])
    return {k: list(resampled.percentile_ci(v)) for k, v in samples.items()}


def evaluate_predictions(pred: pd.DataFrame, classes: Sequence[str], split: str = "test", threshold: float | None = None, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Card metrics for one split of a predictions table (threshold from 'val' when not given)."""
    cols = prob_columns(classes)
    rows = pred[pred["split"] == split].reset_index(drop=True) if split != "all" else pred.reset_index(drop=True)
    index = {c: i for i, c in enumerate(classes)}
    truth_idx = rows["truth"].map(index).to_numpy()
    if len(classes) == 2:
        if threshold is None:
            val = pred[pred["split"] == "val"]
            threshold = choose_threshold((val["truth"] == classes[1]).to_numpy(), val[cols[1]].to_numpy())
        y, s = (rows["truth"] == classes[1]).to_numpy().astype(int), rows[cols[1]].to_numpy(float)
        point = binary_metrics(y, s, threshold)

        def figures(i: np.ndarray) -> dict[str, float]:
            return resampled.binary_figures(y[i], s[i], threshold)

        keys = BINARY_KEYS
    else:
        y, p, probs = truth_idx.astype(int), rows["pred"].map(index).to_numpy().astype(int), rows[cols].to_numpy(float)
        point = multiclass_metrics(y, probs, p)

        def figures(i: np.ndarray) -> dict[str, float]:
            return resampled.multiclass_figures(y[i], probs[i], p[i])

        keys = MULTI_KEYS
    ci = bootstrap_ci(rows["patient_id"].to_numpy(), figures, keys, n=n_boot, seed=seed)
    out: dict[str, Any] = {"split": split, "n_images": int(len(rows)), "n_patients": int(rows["patient_id"].nunique()), "threshold": threshold, "confusion": point.pop("confusion"), "confusion_labels": list(classes)}
    out["class_counts"] = {c: int((truth_idx == i).sum()) for i, c in enumerate(classes)}
    out["metrics"] = {k: {"value": float(point[k]), "ci95": ci[k]} for k in keys}
    return out


def roc_points(truth: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return skm.roc_curve(truth, score)


def pr_points(truth: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    precision, recall, thr = skm.precision_recall_curve(truth, score)
    return recall, precision, thr


def calibration_points(truth: np.ndarray, score: np.ndarray, bins: int = 8) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.calibration import calibration_curve

    frac_pos, mean_pred = calibration_curve(truth, score, n_bins=bins, strategy="quantile")
    return mean_pred, frac_pos
