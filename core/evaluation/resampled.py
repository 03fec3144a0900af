"""Patient-level bootstrap: the resamples, and the metrics computed inside its loop.

A card's intervals take 1,000 resamples of every figure; scikit-learn's per-call input
checks cost 1.5-2 ms a call, which made `leaderboard --check` minutes long. Point
estimates stay scikit-learn's; inside the loop these numpy forms give the same numbers
(same definitions, ties and absent classes handled as scikit-learn does), and
`tests/test_resampled.py` holds each one against scikit-learn on real and random rows.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

NAN = float("nan")


def patient_resamples(patients: Sequence, n: int, seed: int = 0) -> list[np.ndarray]:
    """Row positions of `n` resamples of whole patients with replacement (patients in sorted order)."""
    codes, _ = _codes(np.asarray(patients))
    order = np.argsort(codes, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        pick = rng.integers(0, len(groups), len(groups))
        out.append(np.concatenate([groups[i] for i in pick]))
    return out


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniques, codes = np.unique(values.astype(str) if values.dtype == object else values, return_inverse=True)
    return codes, uniques


def percentile_ci(values: Sequence[float]) -> tuple[float, float]:
    """95 % percentile interval of the finite values (NaN when 10 or fewer)."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    return (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))) if len(v) > 10 else (NAN, NAN)


def interval(resamples: list[np.ndarray], figure: Callable[[np.ndarray], float]) -> tuple[float, float]:
    return percentile_ci([figure(i) for i in resamples])


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic with mid-ranks (= scikit-learn's trapezoids)."""
    y = np.asarray(y).astype(bool)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return NAN
    ranks = midranks(s)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def midranks(s: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (scipy's `rankdata`, "average"); all NaN when
    any score is NaN, as scipy propagates it. In numpy: scipy's per-call checks were half of
    `leaderboard --check` (50,000 calls)."""
    s = np.asarray(s, dtype=float).ravel()
    if np.isnan(s).any():
        return np.full(len(s), NAN)
    order = np.argsort(s, kind="mergesort")
    ordered = s[order]
    new = np.empty(len(s), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(s))
    ranks = np.empty(len(s))
    ranks[order] = ((starts + 1 + ends) / 2.0)[np.cumsum(new) - 1]
    return ranks


def average_precision(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision, step-wise over distinct scores (scikit-learn's definition)."""
    y = np.asarray(y).astype(float)
    if y.sum() == 0 or y.sum() == len(y):
        return NAN
    order = np.argsort(s, kind="mergesort")[::-1]
    ss, yy = np.asarray(s)[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ss)), len(ss) - 1]
    tps = np.cumsum(yy)[last]
    precision = tps / (last + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(np.asarray(y) * k + np.asarray(pred), minlength=k * k).reshape(k, k)


def binary_figures(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, float]:
    """The card's binary metrics (`core.evaluation.metrics.BINARY_KEYS`) of one resample."""
    y = np.asarray(y).astype(int)
    s = np.asarray(s, dtype=float)
    pred = (s >= threshold).astype(int)
    (tn, fp), (fn, tp) = confusion(y, pred, 2)
    return {
        "accuracy": (tp + tn) / len(y),
        "sensitivity": tp / (tp + fn) if tp + fn else NAN,
        "specificity": tn / (tn + fp) if tn + fp else NAN,
        "precision": tp / (tp + fp) if tp + fp else NAN,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0,
        "roc_auc": roc_auc(y, s), "pr_auc": average_precision(y, s),
        "brier": float(np.mean((s - y) ** 2)),
    }


def macro_f1(y: np.ndarray, pred: np.ndarray, k: int, labels: Sequence[int] | None = None) -> float:
    """Macro-F1 over `labels`, else over the classes in y or pred (scikit-learn's default), 0 for an empty class."""
    c = confusion(y, pred, k)
    tp = np.diag(c)
    denom = c.sum(0) + c.sum(1)
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    keep = list(labels) if labels is not None else np.flatnonzero(denom > 0)
    return float(f1[keep].mean())


def balanced_accuracy(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Mean recall over the classes present in y (scikit-learn drops the others)."""
    c = confusion(y, pred, k)
    support = c.sum(1)
    return float((np.diag(c)[support > 0] / support[support > 0]).mean())


def recalls(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    c = confusion(y, pred, k)
    support = c.sum(1)
    return np.divide(np.diag(c), support, out=np.zeros(k), where=support > 0)


def multiclass_figures(y: np.ndarray, probs: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The card's 3-class metrics (`core.evaluation.metrics.MULTI_KEYS`) and per-class recall of one resample."""
    y, pred = np.asarray(y).astype(int), np.asarray(pred).astype(int)
    k = probs.shape[1]
    present = len(np.unique(y)) == k
    onehot = np.eye(k)[y]
    return {
        "accuracy": float(np.mean(y == pred)),
        "balanced_accuracy": balanced_accuracy(y, pred, k),
        "macro_f1": macro_f1(y, pred, k),
        "roc_auc": float(np.mean([roc_auc(y == j, probs[:, j]) for j in range(k)])) if present else NAN,
        "malignant_auc": roc_auc(y == k - 1, probs[:, -1]) if present else NAN,
        "lesion_auc": roc_auc(y > 0, 1 - probs[:, 0]) if present else NAN,
        "brier": float(np.mean(np.sum((probs - onehot) ** 2, axis=1))),
        "recall": recalls(y, pred, k),
    }


# --------------------------------------------------------------------------- whole bootstraps at once
def resample_weights(patients: Sequence, n: int, seed: int = 0) -> np.ndarray:
    """(n, rows) counts: how often each row is drawn in each of `patient_resamples`' resamples
    (the same draws, same seed), so a figure of all resamples is one matrix expression
    (the slices and operating points take 1,000 resamples of dozens of subsets)."""
    codes, _ = _codes(np.asarray(patients))
    k = int(codes.max()) + 1 if len(codes) else 0
    picks = np.random.default_rng(seed).integers(0, k, (n, k))  # one draw: the same stream as n draws of k
    counts = np.bincount((picks + k * np.arange(n)[:, None]).ravel(), minlength=n * k).reshape(n, k)
    return counts[:, codes].astype(np.float64)


def weighted_roc_auc(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row of weights `w` (resamples × rows): the Mann-Whitney statistic with
    ties counted half, equal to `roc_auc` of the rows repeated as often as their weight
    (Σ w_i w_j [s_i > s_j] over positive i and negative j, one matrix product)."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(s, dtype=float)
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    sp, sn = s[y], s[~y]
    wins = (sp[:, None] > sn[None, :]) + 0.5 * (sp[:, None] == sn[None, :])
    wp, wn = w[:, y], w[:, ~y]
    n1, n0 = wp.sum(1), wn.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = ((wp @ wins) * wn).sum(1) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), value, NAN)


def weighted_rate(hit: np.ndarray, among: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Share of the weighted rows `among` that are `hit`, per row of weights (NaN where none):
    sensitivity is `weighted_rate(called, y == 1, w)`. `hit` may be (rows,) or (resamples, rows)."""
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    among = np.asarray(among, dtype=bool)
    hit = np.asarray(hit, dtype=bool)
    total = w @ among.astype(np.float64)
    part = w @ (hit & among).astype(np.float64) if hit.ndim == 1 else (w * (hit & among)).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, part / total, NAN)
