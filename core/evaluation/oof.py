"""Out-of-fold ranking: pooled k-fold predictions, patient-level bootstrap CIs, fold spread,
and the paired bootstrap of two models' AUC difference on the same images.

A 66-image test split gives AUC intervals about 0.3 wide; 322 out-of-fold predictions
rank models, the fixed test split stays for the cards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from core.evaluation import resampled
from core.evaluation.metrics import auc, skm
from core.labels import space, tasks_for

OOF_FILE = "oof_predictions.csv"


def read_oof(card: dict[str, Any]) -> pd.DataFrame | None:
    path = Path(card["_folder"]) / OOF_FILE
    return pd.read_csv(path) if path.exists() else None


def complete(card: dict[str, Any]) -> bool:
    """Out-of-fold rows from every fold (every film held out once), not a partial run's."""
    return bool(card.get("oof")) and "incomplete" not in (card.get("oof_protocol") or {})


def oof_view(oof: pd.DataFrame, classes: Sequence[str], task: str) -> pd.DataFrame:
    """Rows of the task with truth 0/1 and the positive score (binary tasks only)."""
    from core.evaluation.judge import view_frame

    frame = view_frame(oof.assign(split="oof"), classes, task)
    pos = space(task).positive
    return pd.DataFrame({"image_id": frame["image_id"], "patient_id": frame["patient_id"], "fold": frame["fold"], "y": (frame["truth"] == pos).astype(int), "score": frame[f"p_{pos}"]})


def _boot_indices(patients: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    return resampled.patient_resamples(patients, n, seed)




def _ap(y: np.ndarray, s: np.ndarray) -> float:
    return float(skm.average_precision_score(y, s)) if len(np.unique(y)) == 2 else float("nan")


def _ci(values: list[float]) -> tuple[float, float]:
    return resampled.percentile_ci(values)


def oof_summary(view: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """ROC-AUC and PR-AUC with patient-level 95 % CIs, and the fold mean ± sd of ROC-AUC."""
    y, s = view["y"].to_numpy(), view["score"].to_numpy()
    boots = _boot_indices(view["patient_id"].to_numpy(), n_boot, seed)
    roc = [resampled.roc_auc(y[i], s[i]) for i in boots]
    pr = [resampled.average_precision(y[i], s[i]) for i in boots]
    per_fold = [auc(g["y"].to_numpy(), g["score"].to_numpy()) for _, g in view.groupby("fold")]
    lo, hi = _ci(roc)
    plo, phi = _ci(pr)
    return {
        "n_images": int(len(view)), "n_patients": int(view["patient_id"].nunique()), "positives": int(y.sum()), "folds": int(view["fold"].nunique()),
        "roc_auc": {"value": auc(y, s), "ci_low": lo, "ci_high": hi},
        "pr_auc": {"value": _ap(y, s), "ci_low": plo, "ci_high": phi},
        "fold_roc_auc": {"mean": float(np.nanmean(per_fold)) if np.isfinite(per_fold).any() else float("nan"), "sd": float(np.nanstd(per_fold, ddof=1)) if np.isfinite(per_fold).sum() > 1 else float("nan"), "values": [float(v) for v in per_fold]},
    }


def three_class_summary(oof: pd.DataFrame, classes: Sequence[str], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Out-of-fold 3-class figures with patient-level 95 % CIs: macro-F1, balanced accuracy,
    per-class recall, one-vs-rest ROC-AUC, and the confusion matrix. The decision is the
    model's own (`pred`: the hierarchy's stage thresholds) or else the most probable class."""
    from core.evaluation.metrics import bootstrap_ci, multiclass_metrics, prob_columns

    classes = list(classes)
    rows = oof.reset_index(drop=True)
    rows = rows.assign(pred=decisions(rows, classes))
    index = {c: i for i, c in enumerate(classes)}

    def compute(r: pd.DataFrame) -> dict[str, Any]:
        y, p = r["truth"].map(index).to_numpy(), r["pred"].map(index).to_numpy()
        m = multiclass_metrics(y, r[prob_columns(classes)].to_numpy(), p)
        recall = skm.recall_score(y, p, labels=list(range(len(classes))), average=None, zero_division=0)
        return m | {f"recall_{c}": float(v) for c, v in zip(classes, recall)}

    keys = ["macro_f1", "balanced_accuracy", "roc_auc"] + [f"recall_{c}" for c in classes]
    point = compute(rows)
    y, p, probs = rows["truth"].map(index).to_numpy(), rows["pred"].map(index).to_numpy(), rows[prob_columns(classes)].to_numpy(float)

    def figures(i: np.ndarray) -> dict[str, float]:
        m = resampled.multiclass_figures(y[i], probs[i], p[i])
        return m | {f"recall_{c}": float(v) for c, v in zip(classes, m["recall"])}

    ci = bootstrap_ci(rows["patient_id"].to_numpy(), figures, keys, n=n_boot, seed=seed)
    per_fold = [compute(g)["macro_f1"] for _, g in rows.groupby("fold")]
    return {
        "n_images": int(len(rows)), "n_patients": int(rows["patient_id"].nunique()), "folds": int(rows["fold"].nunique()),
        "class_counts": {c: int((rows["truth"] == c).sum()) for c in classes}, "confusion": point["confusion"], "confusion_labels": classes,
        **{k: {"value": float(point[k]), "ci_low": ci[k][0], "ci_high": ci[k][1]} for k in keys},
        "fold_macro_f1": {"mean": float(np.mean(per_fold)), "sd": float(np.std(per_fold, ddof=1)) if len(per_fold) > 1 else float("nan"), "values": [float(v) for v in per_fold]},
    }


def decisions(oof: pd.DataFrame, classes: Sequence[str]) -> pd.Series:
    """Each row's 3-class decision: the model's own (`pred`) or else the most probable class."""
    if "pred" in oof.columns:
        return oof["pred"]
    from core.evaluation.metrics import prob_columns

    return pd.Series([list(classes)[i] for i in oof[prob_columns(classes)].to_numpy().argmax(1)], index=oof.index)


def paired_three_class(a: pd.DataFrame, b: pd.DataFrame, classes: Sequence[str], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Macro-F1 and balanced accuracy of a minus b on the out-of-fold images both decided,
    resampling patients (paired), e.g. the hierarchy against the flat 3-class model."""
    both = a.assign(pred_a=decisions(a, classes))[["image_id", "patient_id", "truth", "pred_a"]].merge(
        b.assign(pred_b=decisions(b, classes))[["image_id", "pred_b"]], on="image_id")
    index = {c: i for i, c in enumerate(classes)}
    y, pa, pb = (both[c].map(index).to_numpy() for c in ("truth", "pred_a", "pred_b"))
    k = len(classes)
    figures = {"macro_f1": lambda t, p: skm.f1_score(t, p, average="macro", labels=list(range(k)), zero_division=0),
               "balanced_accuracy": skm.balanced_accuracy_score}
    in_loop = {"macro_f1": lambda t, p: resampled.macro_f1(t, p, k, labels=range(k)),
               "balanced_accuracy": lambda t, p: resampled.balanced_accuracy(t, p, k)}
    boots = _boot_indices(both["patient_id"].to_numpy(), n_boot, seed)
    out: dict[str, Any] = {"n_images": int(len(both)), "n_patients": int(both["patient_id"].nunique())}
    for key, fn in figures.items():
        fast = in_loop[key]
        diffs = [fast(y[i], pa[i]) - fast(y[i], pb[i]) for i in boots]
        lo, hi = _ci(diffs)
        out[key] = {"a": float(fn(y, pa)), "b": float(fn(y, pb)), "difference": float(fn(y, pa) - fn(y, pb)), "ci_low": lo, "ci_high": hi}
    return out


def card_oof(card: dict[str, Any], oof: pd.DataFrame, n_boot: int = 1000) -> dict[str, Any]:
    """The card's `oof` entry: one summary per task its classes can be read in (binary tasks:
    AUCs; the 3-class task, for a 3-class output: the decisions' figures)."""
    classes = list(card["classes"])
    out = {t: oof_summary(oof_view(oof, classes, t), n_boot) for t in tasks_for(classes) if space(t).binary}
    out |= {t: three_class_summary(oof, classes, n_boot) for t in tasks_for(classes) if not space(t).binary}
    return out


def metric_figures(summary: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The entries of a summary that are figures with an interval (what `leaderboard --check` recomputes)."""
    return {k: v for k, v in summary.items() if isinstance(v, dict) and {"value", "ci_low", "ci_high"} <= set(v)}


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """AUC(a) − AUC(b) on the images both scored, resampling patients (paired)."""
    both = a.merge(b[["image_id", "score"]], on="image_id", suffixes=("_a", "_b"))
    y = both["y"].to_numpy()
    sa, sb = both["score_a"].to_numpy(), both["score_b"].to_numpy()
    boots = _boot_indices(both["patient_id"].to_numpy(), n_boot, seed)
    diffs = [resampled.roc_auc(y[i], sa[i]) - resampled.roc_auc(y[i], sb[i]) for i in boots]
    lo, hi = _ci(diffs)
    d = np.array([x for x in diffs if np.isfinite(x)])
    return {
        "n_images": int(len(both)), "n_patients": int(both["patient_id"].nunique()),
        "auc_a": auc(y, sa), "auc_b": auc(y, sb), "difference": auc(y, sa) - auc(y, sb), "ci_low": lo, "ci_high": hi,
        "share_above_zero": float((d > 0).mean()) if len(d) else float("nan"),
    }
