"""Model cards as tables: the leaderboard (out-of-fold and test side by side), card facts,
metrics, preprocessing, the external check, the committed predictions and history, colours.

Reads JSON and CSV only: no weights are loaded and no framework is imported. What a model
is comes from its card's fields (`kinds.kind_of`, `kinds.is_composite`, `labels.tasks_for`),
never from a list of task names.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from core.labels import SPACES, space, tasks_for
from core.models import kinds
from core.models.card import backbone

NOTICE = (
    "Research use only — not a medical device. These models were trained on small public "
    "datasets; their outputs must never inform a diagnosis."
)
# one colour per model, stable in the order of `registry.discover()`: Okabe & Ito's
# colour-blind-safe set (black left out: it vanishes on the dark theme), then Paul Tol's
# "muted" colours, which stay apart under deuteranopia, protanopia and tritanopia
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#882255", "#44AA99", "#999933", "#6699CC", "#AA4499", "#DDCC77", "#117733", "#88CCEE")
METRIC_LABELS = {
    "roc_auc": "ROC AUC", "pr_auc": "PR AUC", "sensitivity": "Sensitivity", "specificity": "Specificity",
    "accuracy": "Accuracy", "f1": "F1", "precision": "Precision", "balanced_accuracy": "Balanced acc.",
    "macro_f1": "Macro F1", "malignant_auc": "Malignant AUC", "lesion_auc": "Lesion AUC", "brier": "Brier",
    "dice": "Dice", "iou": "IoU", "centre_hit_rate": "Centre in region",
}


def model_colors(names: Sequence[str]) -> dict[str, str]:
    """A stable colour per model name (same everywhere on the dashboard)."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def task_title(task: str) -> str:
    """A label space's title; a model's own task string when it is not a label space (e.g. "hierarchy")."""
    return SPACES[task].title if task in SPACES else str(task)


def short_task_title(task: str) -> str:
    return task_title(task).split(" — ")[0]


def tasks_of(card: dict[str, Any]) -> tuple[str, ...]:
    """Every task the card's output can be read in (its own label space and the views of it)."""
    return tasks_for(card.get("classes") or ())


def rankable(cards: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cards whose output can be read in at least one task (what the leaderboard and Compare list)."""
    return [c for c in cards if tasks_of(c)]


def task_order(tasks) -> list[str]:
    order = {t: i for i, t in enumerate(SPACES)}
    return sorted(set(tasks), key=lambda t: (order.get(t, 99), t))


def initial_weights(card: dict[str, Any]) -> str:
    if kinds.is_composite(card):
        return "its parts'"
    init = card.get("initial_weights") or {}
    src = init.get("source")
    if not src:
        return "—"
    return "ImageNet" if init.get("sha256") and "imagenet" in str(src).lower() else str(src).split(" (")[0]


def is_shipped(card: dict[str, Any]) -> bool:
    """Whether the card's own weights are in git (a composite without weights of its own: yes)."""
    if kinds.is_composite(card) and not card.get("weights"):
        return True
    return bool((card.get("weights") or {}).get("shipped", True))


def _metric(card: dict[str, Any], key: str, part: str = "test") -> tuple[float, float, float]:
    m = ((card.get(part) or {}).get("metrics") or {}).get(key)
    if not m or m.get("value") is None:
        return (math.nan, math.nan, math.nan)
    lo, hi = (m.get("ci95") or [m.get("ci_low", math.nan), m.get("ci_high", math.nan)])[:2]
    return (float(m["value"]), float(lo) if lo is not None else math.nan, float(hi) if hi is not None else math.nan)


def fmt_ci(value: float | None, lo: float | None, hi: float | None, digits: int = 3) -> str:
    if value is None or not np.isfinite(value):
        return "—"
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{lo:.2f}–{hi:.2f}]"


def _ci_text(m: dict[str, float] | None) -> str | None:
    if not m or m.get("ci_low") is None or not np.isfinite(m["ci_low"]):
        return None
    return f"{m['ci_low']:.2f}–{m['ci_high']:.2f}"


def _fold_text(mean: float | None, sd: float | None) -> str | None:
    if mean is None or mean != mean:
        return None
    return f"{mean:.3f} ± {sd:.3f}" if sd is not None and sd == sd else f"{mean:.3f} (one fold)"


def _val(m: dict[str, float] | None) -> float | None:
    return None if not m or m.get("value") is None or m["value"] != m["value"] else float(m["value"])


# --------------------------------------------------------------------------- leaderboard
LEADERBOARD_COLUMNS = ["rank", "model", "OOF ROC AUC", "OOF 95% CI", "test ROC AUC", "test 95% CI", "OOF folds (mean ± sd)", "OOF PR AUC",
                       "OOF images", "test images", "sensitivity", "specificity", "threshold", "external: called lesion",
                       "kind", "seed", "backbone", "init", "CPU ms", "MB", "weights shipped"]


def leaderboard_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """`core.reports.leaderboard.rows` of one task as a table for people: numbers stay numeric (the
    table sorts), CIs go in text columns, the order is the leaderboard's (out-of-fold first)."""
    out = []
    for i, r in enumerate(rows, 1):
        three = not space(r["task"]).binary if r["task"] in SPACES else False
        sens = r.get("macro_f1") if three else r.get("sensitivity")
        spec = r.get("balanced_accuracy") if three else r.get("specificity")
        fold = _fold_text(r.get("oof_fold_mean"), r.get("oof_fold_sd"))
        ext = r.get("external_called_lesion")
        out.append({
            "rank": i, "model": r["model"], "kind": r.get("kind"), "seed": str(r.get("seed") or "—"), "backbone": r.get("backbone"), "init": r.get("init"),
            "OOF ROC AUC": _val(r.get("oof_roc_auc")), "OOF 95% CI": _ci_text(r.get("oof_roc_auc")), "OOF folds (mean ± sd)": fold,
            "OOF PR AUC": _val(r.get("oof_pr_auc")), "OOF images": r.get("oof_images"),
            "test ROC AUC": _val(r.get("test_roc_auc")), "test 95% CI": _ci_text(r.get("test_roc_auc")), "test images": r.get("test_images"),
            "sensitivity": _val(sens), "specificity": _val(spec), "threshold": r.get("threshold"),
            "external: called lesion": None if ext is None else f"{ext} / 8",
            "CPU ms": r.get("latency_ms"), "MB": r.get("size_mb"), "weights shipped": bool(r.get("shipped", True)),
        })
    df = pd.DataFrame(out, columns=LEADERBOARD_COLUMNS)
    numeric = ["OOF ROC AUC", "OOF PR AUC", "OOF images", "test ROC AUC", "test images", "sensitivity", "specificity", "threshold", "CPU ms", "MB"]
    df[numeric] = df[numeric].apply(pd.to_numeric, errors="coerce")  # missing -> NaN (shown blank), never "None"
    text = ["OOF 95% CI", "test 95% CI", "OOF folds (mean ± sd)", "external: called lesion", "kind", "backbone", "init"]
    df[text] = df[text].astype(object).where(df[text].notna(), "—")
    if len(df) and rows and not space(rows[0]["task"]).binary:
        df = df.rename(columns={"sensitivity": "macro F1", "specificity": "balanced acc."})
    return df


def leaderboard_tasks(rows: Sequence[dict[str, Any]]) -> list[str]:
    return task_order(r["task"] for r in rows)


# --------------------------------------------------------------------------- one card
def card_facts(card: dict[str, Any]) -> dict[str, Any]:
    """Key facts of one card, flat, for a model-card page."""
    data = card.get("data") or {}
    weights = card.get("weights") or {}
    init = card.get("initial_weights") or {}
    threshold = card.get("threshold")
    if threshold is None:
        threshold = card.get("thresholds") or card.get("stage_thresholds") or "argmax"
    facts = {
        "task": task_title(card.get("task")),
        "kind": kinds.kind_of(card),
        "read as": ", ".join(short_task_title(t) for t in tasks_of(card)) or "—",
        "classes": ", ".join(card.get("classes") or []),
        "input": card.get("input", "whole"),
        "framework": card.get("framework") or ("composite" if kinds.is_composite(card) else None),
        "backbone": backbone(card),
        "built from": ", ".join(kinds.members(card)) if kinds.is_composite(card) else None,
        "seed system reproduced": card.get("seed_system"),
        "initial weights": init.get("source") or initial_weights(card),
        "initial weights SHA-256": (init.get("sha256") or "")[:16] + ("…" if init.get("sha256") else "—"),
        "parameters": f"{card['parameters']:,}" if card.get("parameters") else "—",
        "weights file": f"{weights.get('file')} ({weights.get('bytes', 0) / 2**20:.1f} MB, {weights.get('dtype', '?')})" if weights else "—",
        "weights shipped in git": is_shipped(card),
        "dataset": data.get("dataset"),
        "split": data.get("split"),
        "split seed": data.get("split_seed"),
        "decision threshold (from validation)": threshold,
        "score rule (map → image score)": card.get("score_rule") or card.get("score_rules"),
        "CPU latency p50, batch 1 (ms)": card.get("latency_ms_p50_cpu_batch1"),
        "training time (s)": card.get("training_seconds"),
        "trained on": card.get("trained_on"),
        "recipe file": card.get("recipe_file"),
    }

    def tidy(v: Any) -> Any:
        if v is None or v == "":
            return "—"
        if isinstance(v, float):
            return f"{v:.3f}".rstrip("0").rstrip(".")
        if isinstance(v, dict):
            return ", ".join(f"{k} {tidy(x)}" for k, x in v.items())
        return v

    return {k: tidy(v) for k, v in facts.items() if not (v is None and k in ("built from", "score rule (map → image score)"))}


def split_counts_table(card: dict[str, Any]) -> pd.DataFrame:
    counts = (card.get("data") or {}).get("split_counts") or {}
    if not counts:
        return pd.DataFrame()
    df = pd.DataFrame(counts).T.fillna(0).astype(int)
    order = [s for s in ("train", "val", "test") if s in df.index] + [s for s in df.index if s not in ("train", "val", "test")]
    known = ("normal", "benign", "malignant")
    cols = [c for c in known if c in df.columns] + [c for c in df.columns if c not in known]
    df = df.loc[order, cols]
    df["total"] = df.sum(axis=1)
    return df


def metrics_table(card: dict[str, Any]) -> pd.DataFrame:
    """Validation and test metrics side by side with their 95 % CIs."""
    rows = []
    keys: list[str] = []
    for part in ("validation", "test"):
        for k in ((card.get(part) or {}).get("metrics") or {}):
            if k not in keys:
                keys.append(k)
    for k in keys:
        row = {"metric": METRIC_LABELS.get(k, k)}
        for part in ("validation", "test"):
            v, lo, hi = _metric(card, k, part)
            row[part] = fmt_ci(v, lo, hi)
        rows.append(row)
    return pd.DataFrame(rows, columns=["metric", "validation", "test"])


def readings_table(card: dict[str, Any]) -> pd.DataFrame:
    """The card's test and out-of-fold figures in every task its output can be read in."""
    from core.reports.leaderboard import task_view

    rows = []
    for t in tasks_of(card):
        view = task_view(card, t)
        oof = (card.get("oof") or {}).get(t) or {}
        roc = oof.get("roc_auc") or {}
        fold = oof.get("fold_roc_auc") or {}
        thr = view.get("threshold")
        rows.append({
            "task": short_task_title(t),
            "test ROC AUC": fmt_ci(*_metric(view, "roc_auc")),
            "threshold": "argmax" if thr is None else f"{thr:.3f}",
            "out-of-fold ROC AUC": fmt_ci(roc.get("value"), roc.get("ci_low"), roc.get("ci_high")),
            "out-of-fold folds": _fold_text(fold.get("mean"), fold.get("sd")) or "—",
            "out-of-fold images": oof.get("n_images"),
        })
    return pd.DataFrame(rows, columns=["task", "test ROC AUC", "threshold", "out-of-fold ROC AUC", "out-of-fold folds", "out-of-fold images"])


def preprocessing_table(card: dict[str, Any]) -> pd.DataFrame:
    steps = card.get("preprocessing") or []
    return pd.DataFrame([{"step": i + 1, "operation": s[0], "parameters": ", ".join(f"{k}={v}" for k, v in ((s[1] if len(s) > 1 else None) or {}).items()) or "—"} for i, s in enumerate(steps)], columns=["step", "operation", "parameters"])


def external_check_table(card: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for e in card.get("external_check") or []:
        row = {"image": e.get("image_id"), "truth": e.get("truth")}
        for k, v in (e.get("probabilities") or {}).items():
            row[f"p({k})"] = v
        if e.get("note"):
            row["note"] = e["note"]
        rows.append(row)
    return pd.DataFrame(rows)


def external_summary_text(card: dict[str, Any]) -> str | None:
    s = card.get("external_summary") or {}
    if not s.get("images"):
        return None
    return f"calls {s['called_lesion']} of {s['images']} embedded CBIS-DDSM lesion images \"lesion\" at its validation threshold {s['threshold']:.3f} ({s.get('rule', 'stage-1 reading')})"


# --------------------------------------------------------------------------- committed files
def read_predictions(card: dict[str, Any]) -> pd.DataFrame | None:
    """The model's committed predictions.csv, or None when it has none (yet)."""
    path = Path(card.get("_folder", "")) / "predictions.csv"
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path, dtype={"image_id": str, "patient_id": str, "split": str, "truth": str, "pred": str})
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    needed = {"image_id", "split", "truth"} | {f"p_{c}" for c in card.get("classes") or []}
    return df if needed <= set(df.columns) else None


def read_history(card: dict[str, Any]) -> pd.DataFrame | None:
    path = Path(card.get("_folder", "")) / "history.csv"
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    if df.empty or "epoch" not in df.columns:
        return None
    df = df.reset_index(drop=True)
    df["step"] = np.arange(1, len(df) + 1)  # epochs run on across unfreezing stages
    return df


def history_long(history: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """history.csv in long form (step, stage, series, value) for a line chart."""
    cols = [c for c in columns if c in history.columns]
    keep = ["step"] + (["stage"] if "stage" in history.columns else [])
    out = history[keep + cols].melt(id_vars=keep, value_vars=cols, var_name="series", value_name="value")
    return out.dropna(subset=["value"])


def history_series(history: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(loss columns, other validation columns) a history has, whatever the kind wrote."""
    skip = ("epoch", "step", "stage", "lr", "seconds", "best", "patches")
    numeric = [c for c in history.columns if c not in skip and pd.api.types.is_numeric_dtype(history[c]) and not pd.api.types.is_bool_dtype(history[c])]
    losses = [c for c in numeric if "loss" in c]
    others = [c for c in numeric if c not in losses]
    return losses, others


ON_DEMAND_MS = 1500.0  # one image slower than this on CPU (an ensemble with TTA) is not run on every upload


def on_demand(card: dict[str, Any]) -> bool:
    """Picked by hand, not preselected: the card's measured CPU latency is over the budget."""
    return float(card.get("latency_ms_p50_cpu_batch1") or 0.0) > ON_DEMAND_MS


def uncertainty_table(cards: Sequence[dict[str, Any]], task: str) -> pd.DataFrame:
    """Out of fold, per model with a spread: accuracy of its confident vs its uncertain
    images (card field `uncertainty_oof`), with counts and Wilson 95 % intervals."""
    rows = []
    for c in cards:
        u = c.get("uncertainty_oof")
        if not u or c.get("task") != task:
            continue
        for group in ("confident", "uncertain", "all"):
            g = u[group]
            rows.append({"model": c["name"], "images": group, "count": g["images"], "correct": g["correct"],
                         "accuracy": g["accuracy"], "95 % CI": fmt_ci(g["accuracy"], g["ci_low"], g["ci_high"], 2) if g["accuracy"] is not None else "—"})
    return pd.DataFrame(rows, columns=["model", "images", "count", "correct", "accuracy", "95 % CI"])


def conformal_table(cards: Sequence[dict[str, Any]], task: str, coverage: float) -> pd.DataFrame:
    """Out of fold, per model with a complete run in a binary task: split-conformal sets, each
    fold calibrated on the others; measured coverage (patient-bootstrap 95 % CI) against the
    target, and how often a set names one class (and how often that class is right)."""
    from core.evaluation import conformal
    from core.labels import space
    from core.evaluation.oof import complete, oof_view, read_oof

    rows = []
    for c in cards:
        if not complete(c) or task not in (c.get("oof") or {}) or (oof := read_oof(c)) is None:
            continue
        h = conformal.held_out(oof_view(oof, c["classes"], task), space(task).classes, coverage)
        rows.append({"model": c["name"], "images": h["images"], "coverage": h["coverage"], "95 % CI": fmt_ci(h["coverage"], h["ci_low"], h["ci_high"], 3),
                     "one-class sets": h["single_label_share"], "uncertain (both classes)": h["uncertain_share"],
                     "accuracy of one-class sets": h["single_label_accuracy"]})
    return pd.DataFrame(rows, columns=["model", "images", "coverage", "95 % CI", "one-class sets", "uncertain (both classes)", "accuracy of one-class sets"])


THREE_CLASS_FIGURES = {"macro_f1": "macro-F1", "balanced_accuracy": "balanced accuracy", "recall_normal": "recall normal",
                       "recall_benign": "recall benign", "recall_malignant": "recall malignant"}


def three_class_oof_table(cards: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Out of fold, per 3-class model (flat or hierarchical) with a complete run: its decisions'
    figures with patient-level 95 % intervals, from the card (`oof.flat3`), so nothing is recomputed."""
    from core.evaluation.oof import complete

    rows = []
    for c in cards:
        f = (c.get("oof") or {}).get("flat3")
        if not f or not complete(c):
            continue
        row = {"model": c["name"], "pipeline": "hierarchical" if c.get("task") == "hierarchy" else "flat", "images": f["n_images"], "folds": f["folds"]}
        row |= {label: fmt_ci(f[k]["value"], f[k]["ci_low"], f[k]["ci_high"], 3) for k, label in THREE_CLASS_FIGURES.items()}
        rows.append(row)
    return pd.DataFrame(rows, columns=["model", "pipeline", "images", "folds", *THREE_CLASS_FIGURES.values()])


def three_class_confusion(card: dict[str, Any]) -> tuple[list[list[int]], list[str]] | None:
    """The out-of-fold 3-class confusion matrix of a card and its labels, or None (also for a
    partial run: its films are not the others' films)."""
    from core.evaluation.oof import complete

    f = (card.get("oof") or {}).get("flat3")
    return (f["confusion"], list(f["confusion_labels"])) if f and complete(card) else None


def versus_seeds_table(cards: Sequence[dict[str, Any]], task: str) -> pd.DataFrame:
    """Each own recipe of the task against each seed recipe, out of fold (card field
    `versus_seeds`, written by `python -m core.reports.card_views`): beaten only when the whole
    paired interval is above 0."""
    rows = [{"own recipe": c["name"], "seed recipe": r["seed_recipe"], "seed": r["seed"], "own AUC": r["own_auc"], "seed AUC": r["seed_auc"],
             "own − seed (95 % CI)": f"{r['difference']:+.3f} [{r['ci_low']:+.3f} to {r['ci_high']:+.3f}]", "beaten": "yes" if r["beats"] else "no", "images": r["images"]}
            for c in cards if c.get("task") == task for r in c.get("versus_seeds") or []]
    return pd.DataFrame(rows, columns=["own recipe", "seed recipe", "seed", "own AUC", "seed AUC", "own − seed (95 % CI)", "beaten", "images"])


def flat_vs_hierarchy_table(cards: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Each hierarchy against each flat model on the same out-of-fold images: the paired
    patient-level bootstrap of the macro-F1 and balanced-accuracy differences (card field)."""
    rows = []
    for c in cards:
        for d in c.get("flat_vs_hierarchy") or []:
            for key, label in (("macro_f1", "macro-F1"), ("balanced_accuracy", "balanced accuracy")):
                f = d[key]
                rows.append({"hierarchy": c["name"], "flat": d["flat"], "figure": label, "hierarchy value": round(f["a"], 3), "flat value": round(f["b"], 3),
                             "difference (95 % CI)": f"{f['difference']:+.3f} [{f['ci_low']:+.3f} to {f['ci_high']:+.3f}]",
                             "verdict": "hierarchy better" if f["ci_low"] > 0 else "flat better" if f["ci_high"] < 0 else "no difference shown", "images": d["n_images"]})
    return pd.DataFrame(rows, columns=["hierarchy", "flat", "figure", "hierarchy value", "flat value", "difference (95 % CI)", "verdict", "images"])
