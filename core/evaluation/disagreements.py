"""The films a supervisor opens first: where the chosen models disagree out of fold, and where
a model is confidently wrong.

Disagreement: on the films every model scored, each model's decision at the threshold the
film was judged at (its fold's). A film ranks higher the more evenly the models split
(the smaller side's count), then the wider the models' scores lie around their thresholds
(largest minus smallest of score − threshold): two models far on both sides of their
thresholds disagree more than two that straddle them by a hair.

Confidently wrong: the film's one-class conformal set, calibrated on the other folds
(`core.evaluation.conformal.held_out_sets`), does not hold the truth: the model is sure at
that coverage, and wrong. Ranked by how little probability the model gave the truth.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from core.evaluation.conformal import DEFAULT_COVERAGE, held_out_sets


def disagreements(views: dict[str, pd.DataFrame], limit: int | None = 50) -> pd.DataFrame:
    """Films ranked by disagreement: image_id, patient_id, y, per model its probability
    (`p::name`) and call (`call::name`), `called_positive` (of k), `split` (smaller side) and
    `spread` (of score − threshold). Films on which all agree are left out."""
    names = list(views)
    if len(names) < 2:
        return pd.DataFrame()
    joined = None
    for name in names:
        v = views[name][["image_id", "patient_id", "y", "score", "threshold"]].rename(columns={"score": f"p::{name}", "threshold": f"t::{name}"})
        joined = v if joined is None else joined.merge(v.drop(columns=["patient_id", "y"]), on="image_id")
    p = joined[[f"p::{n}" for n in names]].to_numpy(float)
    t = joined[[f"t::{n}" for n in names]].to_numpy(float)
    calls = p >= t
    margin = p - t
    positive = calls.sum(1)
    out = joined[["image_id", "patient_id", "y"]].copy()
    for i, n in enumerate(names):
        out[f"p::{n}"] = p[:, i]
        out[f"call::{n}"] = calls[:, i]
    out["called_positive"] = positive
    out["split"] = np.minimum(positive, len(names) - positive)
    out["spread"] = margin.max(1) - margin.min(1)
    out = out[out["split"] > 0].sort_values(["split", "spread", "image_id"], ascending=[False, False, True]).reset_index(drop=True)
    return out if limit is None else out.head(limit)


def confidently_wrong(view: pd.DataFrame, classes: Sequence[str], coverage: float = DEFAULT_COVERAGE, limit: int | None = 50) -> pd.DataFrame:
    """Films whose out-of-fold conformal set holds one class, not the truth: image_id,
    patient_id, y, score, p_truth (the probability given to the truth), the set's class."""
    view = view.reset_index(drop=True)
    inside = held_out_sets(view, classes, coverage)
    y = view["y"].to_numpy(int)
    one = inside.sum(1) == 1
    wrong = one & ~inside[np.arange(len(y)), y]
    s = view["score"].to_numpy(float)
    p_truth = np.where(y == 1, s, 1 - s)
    out = view.loc[wrong, ["image_id", "patient_id", "y", "score"]].assign(p_truth=p_truth[wrong], set_class=[classes[int(k)] for k in inside[wrong].argmax(1)])
    out = out.sort_values(["p_truth", "image_id"]).reset_index(drop=True)
    return out if limit is None else out.head(limit)
