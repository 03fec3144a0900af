"""Is a model worth using at all? Decision curves from their definition (Vickers & Elkin 2006).

Calling a film positive when its probability reaches a threshold probability pt says a
reader would trade pt / (1 − pt) false positives for one true positive. The net benefit of
a model at pt is then TP/n − FP/n · pt / (1 − pt); "treat all" calls every film positive
(prevalence − (1 − prevalence) · pt / (1 − pt)) and "treat none" is 0. A model is worth
using at the pt where its curve lies above both. Computed here from the definition so the
dashboard's install does not need `dcurves` (statsmodels, lifelines, matplotlib);
tests/test_judging.py holds it equal to `dcurves.dca` where that package is installed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

DEFAULT_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def net_benefit(y: np.ndarray, p: np.ndarray, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> np.ndarray:
    """Net benefit of calling positive every film with p ≥ pt, at each threshold probability pt."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=float)
    pt = np.asarray(thresholds, dtype=float)
    called = p[None, :] >= pt[:, None]
    n = len(y)
    tp, fp = (called & y).sum(1) / n, (called & ~y).sum(1) / n
    return tp - fp * pt / (1 - pt)


def treat_all(y: np.ndarray, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> np.ndarray:
    """Net benefit of calling every film positive."""
    prevalence = float(np.mean(np.asarray(y).astype(bool)))
    pt = np.asarray(thresholds, dtype=float)
    return prevalence - (1 - prevalence) * pt / (1 - pt)


def decision_curves(views: dict[str, pd.DataFrame], thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """Long table (model, threshold, net_benefit) of the models' out-of-fold rows (`y`,
    `score`) on the films every model scored, with 'treat all' and 'treat none' rows."""
    common = None
    for v in views.values():
        ids = set(v["image_id"])
        common = ids if common is None else common & ids
    if not views or not common:
        return pd.DataFrame(columns=["model", "threshold", "net_benefit", "n_images"])
    pt = np.asarray(thresholds, dtype=float)
    frames, y = [], None
    for name, v in views.items():
        rows = v[v["image_id"].isin(common)].sort_values("image_id")
        y = rows["y"].to_numpy(int)
        frames.append(pd.DataFrame({"model": name, "threshold": pt, "net_benefit": net_benefit(y, rows["score"].to_numpy(float), pt)}))
    frames.append(pd.DataFrame({"model": "treat all", "threshold": pt, "net_benefit": treat_all(y, pt)}))
    frames.append(pd.DataFrame({"model": "treat none", "threshold": pt, "net_benefit": np.zeros(len(pt))}))
    return pd.concat(frames, ignore_index=True).assign(n_images=len(common))
