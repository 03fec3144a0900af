"""When a prediction is "uncertain", and whether the uncertain images are the wrong ones.

One rule for the pages, the CLI and the out-of-fold analysis: an image is uncertain when
its spread (sd across augmentations and members) reaches across the decision threshold,
|p - t| < sd. Accuracy of confident vs uncertain images comes with Wilson intervals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def uncertain(probability: float, spread: float | None, threshold: float | None) -> bool | None:
    if spread is None or threshold is None or not np.isfinite(spread):
        return None
    return bool(abs(float(probability) - float(threshold)) < float(spread))


def _accuracy(correct: np.ndarray) -> dict[str, Any]:
    from scipy.stats import binomtest

    n, k = int(len(correct)), int(np.sum(correct))
    if n == 0:
        return {"images": 0, "correct": 0, "accuracy": None, "ci_low": None, "ci_high": None}
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return {"images": n, "correct": k, "accuracy": k / n, "ci_low": float(ci.low), "ci_high": float(ci.high)}


def confident_vs_uncertain(oof: pd.DataFrame, classes: list[str]) -> dict[str, Any] | None:
    """Out-of-fold rows with `spread` and per-fold `threshold` columns (binary tasks):
    accuracy of the confident and of the uncertain images, with counts."""
    if "spread" not in oof or "threshold" not in oof or len(classes) != 2:
        return None
    p = oof[f"p_{classes[1]}"].to_numpy()
    t = oof["threshold"].to_numpy()
    flag = np.abs(p - t) < oof["spread"].to_numpy()
    correct = np.where(p >= t, classes[1], classes[0]) == oof["truth"].to_numpy()
    return {"rule": "uncertain when |p - threshold| < spread (sd across augmentations and members)", "confident": _accuracy(correct[~flag]), "uncertain": _accuracy(correct[flag]), "all": _accuracy(correct)}
