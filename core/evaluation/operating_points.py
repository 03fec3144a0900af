"""What a model would do at a screening operating point, out of fold: sensitivity at a chosen
specificity and specificity at a chosen sensitivity, with patient-bootstrap intervals, and
the paired difference of two models there.

A threshold fitted on the films it is then judged on flatters the model (the target would
be met by construction). So each fold's films are called at a threshold taken from the
**other folds'** out-of-fold rows only: at specificity s, the score below or at which a
share s of the other folds' negatives lie (a film is called positive above it); at
sensitivity s, the highest score at or above which a share s of their positives lie (called
positive at or above it). The achieved figure on the held-out films is then measured, not
assumed. Each bootstrap resample of patients repeats the whole thing, threshold choice included.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.evaluation import resampled
from core.evaluation.slices import weights

N_BOOT = 1000
DEFAULT_SPECIFICITY = 0.90
DEFAULT_SENSITIVITY = 0.90


def _cut(scores: np.ndarray, w: np.ndarray, share: float, descending: bool) -> np.ndarray:
    """Per row of weights: the first score (in the given order) at which the cumulative weight
    reaches `share` of the total (NaN where the rows weigh nothing)."""
    order = np.argsort(-scores if descending else scores, kind="mergesort")
    ss, ww = scores[order], w[:, order]
    cum = np.cumsum(ww, axis=1)
    total = cum[:, -1:] if cum.shape[1] else np.zeros((len(w), 1))
    reached = cum >= share * total - 1e-9 * np.maximum(total, 1)
    idx = reached.argmax(axis=1)
    return np.where(total[:, 0] > 0, ss[idx] if len(ss) else np.nan, np.nan)


def fold_calls(view: pd.DataFrame, target: float, fixed: str, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(calls, thresholds): each film's positive call (resamples × rows) at the threshold of the
    other folds, and that threshold per resample and fold (resamples × folds, in sorted fold
    order). `fixed` is the figure held at `target`: "specificity" or "sensitivity"."""
    y = view["y"].to_numpy(int)
    s = view["score"].to_numpy(float)
    folds = view["fold"].to_numpy()
    w = np.ones((1, len(y))) if w is None else np.atleast_2d(w)
    calls = np.zeros((len(w), len(y)), dtype=bool)
    cuts = []
    for f in np.unique(folds):
        held, other = folds == f, folds != f
        if fixed == "specificity":
            keep = other & (y == 0)
            t = _cut(s[keep], w[:, keep], target, descending=False)
            calls[:, held] = s[held][None, :] > t[:, None]
        elif fixed == "sensitivity":
            keep = other & (y == 1)
            t = _cut(s[keep], w[:, keep], target, descending=True)
            calls[:, held] = s[held][None, :] >= t[:, None]
        else:
            raise ValueError(f"fixed must be 'specificity' or 'sensitivity', not {fixed!r}")
        cuts.append(t)
    return calls, np.stack(cuts, axis=1)


def _figures(y: np.ndarray, calls: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    return {"sensitivity": resampled.weighted_rate(calls, y == 1, w), "specificity": resampled.weighted_rate(~calls, y == 0, w)}


def _interval(values: np.ndarray) -> tuple[float, float]:
    return resampled.percentile_ci(values)


def operating_point(view: pd.DataFrame, target: float = DEFAULT_SPECIFICITY, fixed: str = "specificity", n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """One model's out-of-fold operating point with `fixed` held at `target` on the other folds:
    the other figure (the one that matters) and the fixed one as achieved, with intervals."""
    y = view["y"].to_numpy(int)
    calls, cuts = fold_calls(view, target, fixed)
    point = _figures(y, calls, np.ones((1, len(y))))
    w = weights(view["patient_id"].to_numpy(), n_boot, seed)
    boot_calls, _ = fold_calls(view, target, fixed, w)
    boots = _figures(y, boot_calls, w)
    out: dict[str, Any] = {"fixed": fixed, "target": float(target), "n_images": int(len(y)), "positives": int(y.sum()), "negatives": int(len(y) - y.sum()),
                           "fold_thresholds": [float(t) for t in cuts[0]]}
    for k in ("sensitivity", "specificity"):
        lo, hi = _interval(boots[k])
        out[k] = {"value": float(point[k][0]), "ci_low": lo, "ci_high": hi}
    return out


def paired_operating_point(a: pd.DataFrame, b: pd.DataFrame, target: float = DEFAULT_SPECIFICITY, fixed: str = "specificity", n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """figure(a) − figure(b) at the same operating point on the films both scored, each model's
    thresholds from its own other folds, the same patient resamples for both."""
    both = a.merge(b[["image_id", "score", "fold"]], on="image_id", suffixes=("", "_b"))
    va = both[["image_id", "patient_id", "fold", "y", "score"]]
    vb = both[["image_id", "patient_id", "y"]].assign(fold=both["fold_b"], score=both["score_b"])
    y = both["y"].to_numpy(int)
    ones = np.ones((1, len(y)))
    w = weights(both["patient_id"].to_numpy(), n_boot, seed)
    pa, pb = _figures(y, fold_calls(va, target, fixed)[0], ones), _figures(y, fold_calls(vb, target, fixed)[0], ones)
    ba, bb = _figures(y, fold_calls(va, target, fixed, w)[0], w), _figures(y, fold_calls(vb, target, fixed, w)[0], w)
    out: dict[str, Any] = {"fixed": fixed, "target": float(target), "n_images": int(len(y)), "n_patients": int(both["patient_id"].nunique())}
    for k in ("sensitivity", "specificity"):
        lo, hi = _interval(ba[k] - bb[k])
        out[k] = {"a": float(pa[k][0]), "b": float(pb[k][0]), "difference": float(pa[k][0] - pb[k][0]), "ci_low": lo, "ci_high": hi}
    return out
