"""Curves and operating points from committed predictions, read in any task the model's
output can be read in (a 3-class model is also a stage-1 and a stage-2 model; a U-Net's
image score is a stage-1 model), and the paired out-of-fold comparison of two models.

Every function takes DataFrames and returns numbers; the pages cache them
(`ui.cached.task_curves`, `ui.cached.paired_oof`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from core.evaluation import resampled
from core.labels import space, tasks_for

EVENTS_MULTI = ("malignant", "lesion")  # 3 classes: malignant vs rest; benign + malignant vs normal
EVENT_TEXT = {"malignant": "malignant vs rest", "lesion": "lesion (benign + malignant) vs normal"}


@dataclass
class TaskData:
    """One model's committed predictions read in one task."""

    name: str
    task: str
    classes: tuple[str, ...]  # the task's classes
    frame: pd.DataFrame  # image_id, patient_id, split, truth, p_<class> in the task's classes
    view: dict[str, Any]  # the card's figures in this task: threshold, test / validation metrics
    own: bool  # the task is the model's own label space (not a reading of it)


def task_data(card: dict[str, Any], pred: pd.DataFrame, task: str) -> TaskData:
    """The model's predictions and card figures in `task` (one of `tasks_for(card["classes"])`)."""
    from core.evaluation.judge import view_frame
    from core.reports.leaderboard import task_view

    classes = tuple(card["classes"])
    if task not in tasks_for(classes):
        raise ValueError(f"{card['name']} cannot be read as {task!r}")
    own = classes == space(task).classes
    frame = pred if own else view_frame(pred, classes, task)
    return TaskData(card["name"], task, space(task).classes, frame, task_view(card, task), own)


def events_for(task: str) -> tuple[str, ...]:
    """Binary events a curve can be drawn for: the task's positive class, or malignant / lesion for 3 classes."""
    s = space(task)
    return (s.positive,) if s.binary else EVENTS_MULTI


def event_truth_score(pred: pd.DataFrame, classes: Sequence[str], event: str, split: str = "test") -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(truth 0/1, score, rows) of one split for a binary event."""
    rows = pred[pred["split"] == split] if split != "all" else pred
    rows = rows.reset_index(drop=True)
    classes = list(classes)
    if len(classes) == 2:
        truth = (rows["truth"] == classes[1]).to_numpy().astype(int)
        score = rows[f"p_{classes[1]}"].to_numpy(float)
    elif event == "lesion":
        truth = (rows["truth"] != classes[0]).to_numpy().astype(int)
        score = 1.0 - rows[f"p_{classes[0]}"].to_numpy(float)
    else:
        truth = (rows["truth"] == event).to_numpy().astype(int)
        score = rows[f"p_{event}"].to_numpy(float)
    return truth, np.clip(np.nan_to_num(score), 0.0, 1.0), rows


def default_threshold(td: TaskData, event: str) -> float:
    """The card's validation-chosen threshold in this task; for 3-class events Youden's J on validation rows."""
    if len(td.classes) == 2 and td.view.get("threshold") is not None:
        return float(td.view["threshold"])
    from core.evaluation.metrics import choose_threshold

    y, s, _ = event_truth_score(td.frame, td.classes, event, "val")
    return float(choose_threshold(y, s)) if len(np.unique(y)) == 2 else 0.5


def _event_labels(classes: Sequence[str], event: str) -> list[str]:
    if len(classes) == 2:
        return list(classes)
    return ["normal", "lesion"] if event == "lesion" else ["not malignant", "malignant"]


def operating_point(pred: pd.DataFrame, classes: Sequence[str], threshold: float, event: str | None = None, split: str = "test") -> dict[str, Any]:
    """Sensitivity, specificity, precision, accuracy and the 2x2 confusion at one threshold."""
    from core.evaluation.metrics import binary_metrics

    event = event or (classes[1] if len(classes) == 2 else "malignant")
    y, s, _ = event_truth_score(pred, classes, event, split)
    if len(y) == 0:
        return {"n": 0, "threshold": threshold, "confusion": [[0, 0], [0, 0]], "labels": _event_labels(classes, event)}
    m = binary_metrics(y, s, threshold)
    return {
        "n": int(len(y)), "threshold": float(threshold), "sensitivity": float(m["sensitivity"]),
        "specificity": float(m["specificity"]), "precision": float(m["precision"]), "accuracy": float(m["accuracy"]),
        "f1": float(m["f1"]), "confusion": m["confusion"], "labels": _event_labels(classes, event),
    }


def confusion_3class(pred: pd.DataFrame, classes: Sequence[str], split: str = "test") -> np.ndarray:
    """Confusion matrix of the model's own decisions (committed `pred` column, else argmax), rows = truth."""
    from sklearn.metrics import confusion_matrix

    rows = pred[pred["split"] == split] if split != "all" else pred
    predicted = rows["pred"] if "pred" in rows.columns else rows[[f"p_{c}" for c in classes]].idxmax(axis=1).str[2:]
    return confusion_matrix(rows["truth"], predicted, labels=list(classes))


@dataclass
class Curve:
    x: np.ndarray
    y: np.ndarray
    auc: float
    ci: tuple[float, float]
    n: int
    extra: dict[str, Any] = field(default_factory=dict)


def _card_ci(view: dict[str, Any], key: str) -> tuple[float, float] | None:
    m = ((view.get("test") or {}).get("metrics") or {}).get(key)
    if not m or m.get("value") is None:
        return None
    lo, hi = (m.get("ci95") or [None, None])[:2]
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return (float(lo), float(hi))


def _boot_ci(rows: pd.DataFrame, y: np.ndarray, s: np.ndarray, fn, n_boot: int = 300, seed: int = 0) -> tuple[float, float]:
    """Patient-level bootstrap 95 % CI of fn(y, s) (a `core.evaluation.resampled` loop form), through core.evaluation.metrics's bootstrap."""
    from core.evaluation.metrics import bootstrap_ci

    patients = rows["patient_id"].to_numpy() if "patient_id" in rows.columns else rows["image_id"].to_numpy()
    y, s = np.asarray(y), np.asarray(s, dtype=float)
    lo, hi = bootstrap_ci(patients, lambda i: {"v": fn(y[i], s[i])}, ["v"], n=n_boot, seed=seed)["v"]
    return (lo, hi)


def roc_curve_data(td: TaskData, event: str, split: str = "test") -> Curve | None:
    from sklearn.metrics import roc_auc_score

    from core.evaluation.metrics import roc_points

    y, s, rows = event_truth_score(td.frame, td.classes, event, split)
    if len(np.unique(y)) < 2:
        return None
    fpr, tpr, _ = roc_points(y, s)
    auc = float(roc_auc_score(y, s))
    key = "roc_auc" if len(td.classes) == 2 else f"{event}_auc"
    ci = (_card_ci(td.view, key) if split == "test" else None) or _boot_ci(rows, y, s, resampled.roc_auc)
    return Curve(fpr, tpr, auc, ci, len(y))


def pr_curve_data(td: TaskData, event: str, split: str = "test") -> Curve | None:
    from sklearn.metrics import average_precision_score

    from core.evaluation.metrics import pr_points

    y, s, rows = event_truth_score(td.frame, td.classes, event, split)
    if len(np.unique(y)) < 2:
        return None
    recall, precision, _ = pr_points(y, s)
    ap = float(average_precision_score(y, s))
    ci = (_card_ci(td.view, "pr_auc") if split == "test" and len(td.classes) == 2 else None) or _boot_ci(rows, y, s, resampled.average_precision)
    return Curve(recall, precision, ap, ci, len(y), {"prevalence": float(y.mean())})


def calibration_data(td: TaskData, event: str, split: str = "test", bins: int = 8) -> Curve | None:
    from sklearn.metrics import brier_score_loss

    from core.evaluation.metrics import calibration_points

    y, s, _ = event_truth_score(td.frame, td.classes, event, split)
    if len(np.unique(y)) < 2:
        return None
    mean_pred, frac_pos = calibration_points(y, s, bins=min(bins, max(2, len(y) // 5)))
    return Curve(mean_pred, frac_pos, float(brier_score_loss(y, s)), (math.nan, math.nan), len(y))


def task_curves(td: TaskData, event: str, split: str = "test") -> tuple[Curve | None, Curve | None, Curve | None]:
    """(ROC, PR, calibration) of one model in one task, event and split."""
    roc = roc_curve_data(td, event, split)
    if roc is None:
        return None, None, None
    return roc, pr_curve_data(td, event, split), calibration_data(td, event, split)


def common_test_images(preds: dict[str, pd.DataFrame], split: str = "test") -> pd.DataFrame:
    """Image ids in `split` of every given predictions table, with each model's decision.

    Puts 3-class models (flat, hierarchy, patch → whole image) side by side on the same images.
    """
    frames = []
    for name, p in preds.items():
        rows = p[p["split"] == split]
        decided = rows["pred"] if "pred" in rows.columns else rows[[c for c in rows.columns if c.startswith("p_")]].idxmax(axis=1).str[2:]
        rows = rows.assign(pred=decided)[["image_id", "truth", "pred"]].drop_duplicates("image_id").set_index("image_id")
        frames.append(rows.rename(columns={"pred": name, "truth": f"truth::{name}"}))
    if not frames:
        return pd.DataFrame()
    joined = pd.concat(frames, axis=1, join="inner")
    truth_cols = [c for c in joined.columns if c.startswith("truth::")]
    joined.insert(0, "truth", joined[truth_cols[0]])
    return joined.drop(columns=truth_cols).reset_index()


def agreement_summary(table: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Per model: accuracy on the shared images; plus how often all models agree."""
    if table.empty:
        return pd.DataFrame()
    rows = [{"model": n, "correct": int((table[n] == table["truth"]).sum()), "of": len(table), "accuracy": float((table[n] == table["truth"]).mean())} for n in names]
    if len(names) > 1:
        agree = (table[list(names)].nunique(axis=1) == 1)
        rows.append({"model": "all agree", "correct": int(agree.sum()), "of": len(table), "accuracy": float(agree.mean())})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- out of fold
def has_oof(card: dict[str, Any]) -> bool:
    from core.evaluation.oof import OOF_FILE

    return (Path(card.get("_folder", "")) / OOF_FILE).is_file()


def oof_candidates(cards: Sequence[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """Cards with out-of-fold predictions that can be read in a binary `task`."""
    if not space(task).binary:
        return []
    return [c for c in cards if task in tasks_for(c.get("classes") or ()) and has_oof(c)]


def distinct_rival(card_a: dict[str, Any], rivals: Sequence[dict[str, Any]], task: str) -> int | None:
    """Index of the first rival whose out-of-fold scores in `task` are not A's own (None when
    none differ). A hierarchy read in stage 1 is its stage-1 model: set side by side, the two
    show a difference of exactly 0, which says nothing, so it is not the page's first pick."""
    from core.evaluation.oof import oof_view, read_oof

    a = read_oof(card_a)
    if a is None:
        return None
    mine = oof_view(a, card_a["classes"], task).set_index("image_id")["score"]
    for i, rival in enumerate(rivals):
        b = read_oof(rival)
        if b is None:
            continue
        theirs = oof_view(b, rival["classes"], task).set_index("image_id")["score"]
        common = mine.index.intersection(theirs.index)
        if len(common) and not np.allclose(mine[common].to_numpy(), theirs[common].to_numpy()):
            return i  # (a rival with no image in common has nothing to compare)
    return None


def paired_oof(card_a: dict[str, Any], card_b: dict[str, Any], task: str, n_boot: int = 1000, seed: int = 0) -> dict[str, Any] | None:
    """Paired patient-level bootstrap of AUC(a) − AUC(b) on the out-of-fold images both scored,
    in a binary task; None when either model has no out-of-fold predictions."""
    from core.evaluation.oof import oof_view, paired_difference, read_oof

    a, b = read_oof(card_a), read_oof(card_b)
    if a is None or b is None:
        return None
    va, vb = oof_view(a, card_a["classes"], task), oof_view(b, card_b["classes"], task)
    out = paired_difference(va, vb, n_boot=n_boot, seed=seed)
    out.update({"model_a": card_a["name"], "model_b": card_b["name"], "task": task, "n_boot": n_boot})
    return out


def paired_text(d: dict[str, Any]) -> str:
    """One sentence on a paired difference: what it is and whether the CI excludes zero."""
    lo, hi = d["ci_low"], d["ci_high"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        verdict = "too few images for an interval"
    elif lo > 0:
        verdict = f"{d['model_a']} ranks higher: the interval lies above 0"
    elif hi < 0:
        verdict = f"{d['model_b']} ranks higher: the interval lies below 0"
    else:
        verdict = "the interval contains 0: no difference shown"
    return (f"AUC({d['model_a']}) − AUC({d['model_b']}) = {d['difference']:+.3f} (95 % CI {lo:+.3f} to {hi:+.3f}) "
            f"on {d['n_images']} out-of-fold images of {d['n_patients']} patients; {verdict}.")
