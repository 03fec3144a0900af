"""A predictions table read in any task it can answer, and judged: the figures a card holds.

Every kind's finish step, the leaderboard's `--check`, the cards' derived views, the pages'
curves and the conformal sets read a model's rows through `view_frame`, so a 3-class model
is judged in stage 1 and stage 2 exactly as the card says, wherever it is asked.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from core.evaluation.metrics import choose_threshold, evaluate_predictions, prob_columns
from core.labels import project, space, tasks_for


def view_frame(pred: pd.DataFrame, classes: Sequence[str], task: str) -> pd.DataFrame:
    """A predictions table read in another task's classes (rows outside the task dropped)."""
    target = space(task)
    if tuple(classes) == target.classes:
        return pred
    truth_map = {"stage1": {"normal": "normal", "benign": "lesion", "malignant": "lesion", "lesion": "lesion"}, "stage2": {"benign": "benign", "malignant": "malignant"}}[task]
    rows = pred[pred["truth"].isin(truth_map)].copy()
    p = project(rows[prob_columns(classes)].to_numpy(), classes, task)
    out = rows[[c for c in rows.columns if not c.startswith("p_") and c != "pred"]].copy()
    out["truth"] = out["truth"].map(truth_map)
    for k, c in enumerate(target.classes):
        out[f"p_{c}"] = p[:, k]
    return out.reset_index(drop=True)


def judge(pred: pd.DataFrame, classes: Sequence[str], smoke: bool = False) -> dict[str, Any]:
    """Threshold (binary, from validation), test and validation metrics for one table."""
    out: dict[str, Any] = {}
    if len(classes) == 2:
        val = pred[pred["split"] == "val"]
        out["threshold"] = choose_threshold((val["truth"] == classes[1]).to_numpy(), val[f"p_{classes[1]}"].to_numpy())
    else:
        out["threshold"] = None
    out["test"] = evaluate_predictions(pred, classes, "test", threshold=out["threshold"], n_boot=200 if smoke else 1000)
    out["validation"] = evaluate_predictions(pred, classes, "val", threshold=out["threshold"], n_boot=200)
    return out


def external_summary(card: dict[str, Any]) -> dict[str, Any]:
    """How many of the 8 embedded CBIS-DDSM lesion images the model calls 'lesion' at its
    validation threshold (stage-1 reading of its output); never used for any choice."""
    classes = list(card["classes"])
    rows = card.get("external_check") or []
    if not rows or "stage1" not in tasks_for(classes):
        return {}
    view = card if tuple(classes) == space("stage1").classes else card["views"]["stage1"]
    t = view.get("threshold")
    if t is None:
        return {}
    p = project(np.array([[r["probabilities"][c] for c in classes] for r in rows]), classes, "stage1")[:, 1]
    return {"images": len(rows), "called_lesion": int((p >= t).sum()), "threshold": t, "rule": "stage-1 reading of the output at the validation threshold"}
