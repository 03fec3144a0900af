"""Everything the dashboard computes, with no Streamlit import: tables, curves, overlays, exports.

The pages in `pages/` only lay out what these functions return, so every number and
picture on screen can be recomputed (and tested) without a browser:

    from core.dashboard_data import leaderboard_table, operating_point, overlay_image
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .errors import InvalidImageError, MammoError
from .types import Lesion, Mammogram, Record

DISPLAY_LONG_SIDE = 1024
THUMB_LONG_SIDE = 200
NOTICE = (
    "Research use only — not a medical device. These models were trained on small public "
    "datasets; their outputs must never inform a diagnosis."
)
# one colour per model, stable in the order of `registry.discover()` (plotly's "Bold"-like set)
PALETTE = ("#3366CC", "#DC3912", "#109618", "#FF9900", "#990099", "#0099C6", "#DD4477", "#66AA00", "#B82E2E", "#316395")
TASK_TITLES = {
    "stage1": "Stage 1 — normal vs lesion (whole image)",
    "stage2": "Stage 2 — benign vs malignant (lesion patch)",
    "flat3": "Flat 3-class — normal / benign / malignant",
    "hierarchy": "Hierarchical pipeline — stage 1 then stage 2",
    "segmentation": "Segmentation (U-Net)",
}
CLASS_TASKS = ("stage1", "stage2", "flat3", "hierarchy")
# "positive" events a curve can be drawn for, per task family
EVENTS_BINARY = {"stage1": "lesion", "stage2": "malignant"}
EVENTS_MULTI = ("malignant", "lesion")  # malignant vs rest; benign+malignant vs normal


# --------------------------------------------------------------------------- cards / tables
def model_colors(names: Sequence[str]) -> dict[str, str]:
    """A stable colour per model name (same everywhere on the dashboard)."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def backbone(card: dict[str, Any]) -> str:
    arch = card.get("architecture") or {}
    if card.get("task") == "hierarchy":
        return f"{card.get('stage1')} → {card.get('stage2')}"
    return str(arch.get("model") or arch.get("kind") or "—")


def initial_weights(card: dict[str, Any]) -> str:
    init = card.get("initial_weights") or {}
    if card.get("task") == "hierarchy":
        return "its two stages"
    src = init.get("source")
    if not src:
        return "—"
    return "ImageNet" if init.get("sha256") and "imagenet" in str(src).lower() else str(src).split(" (")[0]


def is_shipped(card: dict[str, Any]) -> bool:
    if card.get("task") == "hierarchy":
        return True
    return bool((card.get("weights") or {}).get("shipped", True))


def _metric(card: dict[str, Any], key: str, part: str = "test") -> tuple[float, float, float]:
    m = ((card.get(part) or {}).get("metrics") or {}).get(key)
    if not m or m.get("value") is None:
        return (math.nan, math.nan, math.nan)
    lo, hi = (m.get("ci95") or [math.nan, math.nan])[:2]
    return (float(m["value"]), float(lo) if lo is not None else math.nan, float(hi) if hi is not None else math.nan)


def fmt_ci(value: float, lo: float, hi: float, digits: int = 3) -> str:
    if value is None or not np.isfinite(value):
        return "—"
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{lo:.2f}–{hi:.2f}]"


LEADERBOARD_METRICS = ("roc_auc", "pr_auc", "sensitivity", "specificity", "accuracy", "f1", "balanced_accuracy", "macro_f1", "malignant_auc", "lesion_auc", "brier")
METRIC_LABELS = {
    "roc_auc": "ROC AUC", "pr_auc": "PR AUC", "sensitivity": "Sensitivity", "specificity": "Specificity",
    "accuracy": "Accuracy", "f1": "F1", "precision": "Precision", "balanced_accuracy": "Balanced acc.",
    "macro_f1": "Macro F1", "malignant_auc": "Malignant AUC", "lesion_auc": "Lesion AUC", "brier": "Brier",
}


def leaderboard_table(cards: Sequence[dict[str, Any]], tasks: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per model: identity, size, speed, and each test metric as value + '95 % CI' text.

    Metric values stay numeric (so the table sorts); the CI goes in a `<metric> 95% CI`
    column. Metric columns that no listed model has are dropped.
    """
    wanted = set(tasks) if tasks is not None else None
    rows = []
    for c in cards:
        if wanted is not None and c.get("task") not in wanted:
            continue
        weights = c.get("weights") or {}
        test = c.get("test") or {}
        row: dict[str, Any] = {
            "model": c["name"],
            "task": c.get("task"),
            "framework": c.get("framework") or ("composite" if c.get("task") == "hierarchy" else "—"),
            "backbone": backbone(c),
            "initial weights": initial_weights(c),
            "seed": str(c.get("seed_system") or "—"),
            "parameters (M)": round(c["parameters"] / 1e6, 2) if c.get("parameters") else None,
            "size (MB)": round(weights["bytes"] / 2**20, 1) if weights.get("bytes") else None,
            "CPU latency (ms)": c.get("latency_ms_p50_cpu_batch1"),
            "test images": test.get("n_images"),
            "weights shipped": is_shipped(c),
        }
        for key in LEADERBOARD_METRICS:
            v, lo, hi = _metric(c, key)
            row[METRIC_LABELS[key]] = v
            row[f"{METRIC_LABELS[key]} 95% CI"] = f"{lo:.2f}–{hi:.2f}" if np.isfinite(lo) and np.isfinite(hi) else None
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["model", "task", "framework", "backbone", "initial weights", "seed"])
    for key in LEADERBOARD_METRICS:
        label = METRIC_LABELS[key]
        if df[label].isna().all():
            df = df.drop(columns=[label, f"{label} 95% CI"])
    front = ["model", "task", "framework", "backbone"]
    metric_cols = [c for c in df.columns if c not in front and (c in METRIC_LABELS.values() or c.endswith(" 95% CI"))]
    rest = [c for c in df.columns if c not in front and c not in metric_cols]
    return df[front + metric_cols + rest]


def card_facts(card: dict[str, Any]) -> dict[str, Any]:
    """Key facts of one card, flat, for a model-card page."""
    data = card.get("data") or {}
    weights = card.get("weights") or {}
    init = card.get("initial_weights") or {}
    facts = {
        "task": TASK_TITLES.get(card.get("task"), card.get("task")),
        "classes": ", ".join(card.get("classes") or []),
        "input": card.get("input", "whole"),
        "framework": card.get("framework"),
        "backbone": backbone(card),
        "seed system reproduced": card.get("seed_system"),
        "initial weights": init.get("source") or initial_weights(card),
        "initial weights SHA-256": (init.get("sha256") or "")[:16] + ("…" if init.get("sha256") else "—"),
        "parameters": f"{card['parameters']:,}" if card.get("parameters") else "—",
        "weights file": f"{weights.get('file')} ({weights.get('bytes', 0) / 2**20:.1f} MB, {weights.get('dtype', '?')})" if weights else "—",
        "weights shipped in git": is_shipped(card),
        "dataset": data.get("dataset"),
        "split": data.get("split"),
        "split seed": data.get("split_seed"),
        "decision threshold (from validation)": card.get("threshold") if card.get("threshold") is not None else (card.get("thresholds") or "argmax"),
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

    return {k: tidy(v) for k, v in facts.items()}


def split_counts_table(card: dict[str, Any]) -> pd.DataFrame:
    counts = (card.get("data") or {}).get("split_counts") or {}
    if not counts:
        return pd.DataFrame()
    df = pd.DataFrame(counts).T.fillna(0).astype(int)
    order = [s for s in ("train", "val", "test") if s in df.index]
    cols = [c for c in ("normal", "benign", "malignant") if c in df.columns] + [c for c in df.columns if c not in ("normal", "benign", "malignant")]
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


def preprocessing_table(card: dict[str, Any]) -> pd.DataFrame:
    steps = card.get("preprocessing") or []
    return pd.DataFrame([{"step": i + 1, "operation": s[0], "parameters": ", ".join(f"{k}={v}" for k, v in (s[1] or {}).items()) or "—"} for i, s in enumerate(steps)], columns=["step", "operation", "parameters"])


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


def segmentation_cards(cards: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in cards if c.get("task") == "segmentation"]


def classifier_cards(cards: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in cards if c.get("task") in CLASS_TASKS]


# --------------------------------------------------------------------------- committed predictions
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


def events_for(task: str) -> tuple[str, ...]:
    """Binary events a curve can be drawn for: the positive class, or malignant / lesion for 3 classes."""
    if task in EVENTS_BINARY:
        return (EVENTS_BINARY[task],)
    return EVENTS_MULTI


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


def default_threshold(card: dict[str, Any], pred: pd.DataFrame | None, event: str) -> float:
    """The card's validation-chosen threshold; for 3-class events Youden's J on validation rows."""
    if len(card.get("classes") or []) == 2 and card.get("threshold") is not None:
        return float(card["threshold"])
    if pred is None:
        return 0.5
    from .evaluate import choose_threshold

    y, s, _ = event_truth_score(pred, card["classes"], event, "val")
    return float(choose_threshold(y, s)) if len(y) else 0.5


def operating_point(pred: pd.DataFrame, classes: Sequence[str], threshold: float, event: str | None = None, split: str = "test") -> dict[str, Any]:
    """Sensitivity, specificity, precision, accuracy and the 2x2 confusion at one threshold."""
    from .evaluate import binary_metrics

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


def _event_labels(classes: Sequence[str], event: str) -> list[str]:
    if len(classes) == 2:
        return list(classes)
    return ["normal", "lesion"] if event == "lesion" else ["not malignant", "malignant"]


def confusion_3class(pred: pd.DataFrame, classes: Sequence[str], split: str = "test") -> np.ndarray:
    """Argmax (committed `pred` column) confusion matrix, rows = truth."""
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


def _card_ci(card: dict[str, Any], key: str) -> tuple[float, float] | None:
    v, lo, hi = _metric(card, key)
    return (lo, hi) if np.isfinite(lo) and np.isfinite(hi) else None


def _boot_ci(rows: pd.DataFrame, y: np.ndarray, s: np.ndarray, fn, n_boot: int = 300, seed: int = 0) -> tuple[float, float]:
    """Patient-level bootstrap 95 % CI of fn(y, s), through core.evaluate's bootstrap."""
    from .evaluate import bootstrap_ci

    frame = pd.DataFrame({"patient_id": rows["patient_id"].to_numpy(), "y": y, "s": s})

    def compute(r: pd.DataFrame) -> dict[str, float]:
        return {"v": float(fn(r["y"], r["s"])) if r["y"].nunique() == 2 else math.nan}

    lo, hi = bootstrap_ci(frame, compute, ["v"], n=n_boot, seed=seed)["v"]
    return (lo, hi)


def roc_curve_data(card: dict[str, Any], pred: pd.DataFrame, event: str, split: str = "test") -> Curve | None:
    from sklearn.metrics import roc_auc_score

    from .evaluate import roc_points

    y, s, rows = event_truth_score(pred, card["classes"], event, split)
    if len(np.unique(y)) < 2:
        return None
    fpr, tpr, _ = roc_points(y, s)
    auc = float(roc_auc_score(y, s))
    key = "roc_auc" if len(card["classes"]) == 2 else f"{event}_auc"
    ci = (_card_ci(card, key) if split == "test" else None) or _boot_ci(rows, y, s, roc_auc_score)
    return Curve(fpr, tpr, auc, ci, len(y))


def pr_curve_data(card: dict[str, Any], pred: pd.DataFrame, event: str, split: str = "test") -> Curve | None:
    from sklearn.metrics import average_precision_score

    from .evaluate import pr_points

    y, s, rows = event_truth_score(pred, card["classes"], event, split)
    if len(np.unique(y)) < 2:
        return None
    recall, precision, _ = pr_points(y, s)
    ap = float(average_precision_score(y, s))
    ci = (_card_ci(card, "pr_auc") if split == "test" and len(card["classes"]) == 2 else None) or _boot_ci(rows, y, s, average_precision_score)
    return Curve(recall, precision, ap, ci, len(y), {"prevalence": float(y.mean())})


def calibration_data(card: dict[str, Any], pred: pd.DataFrame, event: str, split: str = "test", bins: int = 8) -> Curve | None:
    from sklearn.metrics import brier_score_loss

    from .evaluate import calibration_points

    y, s, _ = event_truth_score(pred, card["classes"], event, split)
    if len(np.unique(y)) < 2:
        return None
    mean_pred, frac_pos = calibration_points(y, s, bins=min(bins, max(2, len(y) // 5)))
    return Curve(mean_pred, frac_pos, float(brier_score_loss(y, s)), (math.nan, math.nan), len(y))


def common_test_images(preds: dict[str, pd.DataFrame], split: str = "test") -> pd.DataFrame:
    """Image ids in `split` of every given predictions table, with each model's prediction.

    Used to put the flat 3-class model and the hierarchy side by side on the same images.
    """
    frames = []
    for name, p in preds.items():
        rows = p[p["split"] == split][["image_id", "truth", "pred"]].drop_duplicates("image_id").set_index("image_id")
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


def split_membership(card: dict[str, Any], image_id: str, pred: pd.DataFrame | None, dataset: str | None = None, stage_preds: Sequence[tuple[dict[str, Any], pd.DataFrame | None]] = ()) -> str:
    """train | val | test | "not in its data": whether the model saw this image while being built.

    Decided by the model's own predictions.csv (image_id match), and only when the image
    comes from the dataset the model was trained on. A hierarchy inherits its stages'.
    """
    model_ds = (card.get("data") or {}).get("dataset")
    if dataset is not None and model_ds is not None and dataset != model_ds:
        found = None
    else:
        found = _split_of(pred, image_id)
    if card.get("task") == "hierarchy":
        parts = []
        for stage_card, stage_pred in stage_preds:
            s = split_membership(stage_card, image_id, stage_pred, dataset)
            if s in ("train", "val", "test"):
                parts.append(s)
        if parts:
            rank = {"train": 0, "val": 1, "test": 2}
            found = min(parts + ([found] if found else []), key=lambda p: rank[p])
    return found or "not in its data"


def _split_of(pred: pd.DataFrame | None, image_id: str) -> str | None:
    if pred is None or "image_id" not in pred.columns:
        return None
    hit = pred.loc[pred["image_id"] == image_id, "split"]
    if hit.empty:
        return None
    splits = set(hit.astype(str))
    for s in ("train", "val", "test"):  # an image in train anywhere counts as seen
        if s in splits:
            return s
    return str(hit.iloc[0])


MEMBERSHIP_TEXT = {  # Streamlit material-icon markup; the words alone say it too
    "train": ":orange[:material/warning: in its **training** data]",
    "val": ":orange[:material/warning: in its **validation** data]",
    "test": ":green[:material/check_circle: in its held-out **test** data]",
    "not in its data": ":green[:material/check_circle: not in its data]",
}


# --------------------------------------------------------------------------- records / thumbnails
def records_frame(records: Sequence[Record], split_by_image: dict[str, str] | None = None) -> pd.DataFrame:
    """Records as a table (one row per image) for filtering; split from the record or a model's data."""
    rows = []
    for i, r in enumerate(records):
        split = r.split or (split_by_image or {}).get(r.image_id) or "—"
        rows.append({
            "index": i, "image_id": r.image_id, "patient_id": r.patient_id, "truth": r.label, "split": split,
            "side": r.side or "—", "view": r.view or "—", "density": str(r.density) if r.density not in (None, "") else "—",
            "abnormality": r.abnormality or "none", "lesions": len(r.lesions), "has_image": bool(r.path),
        })
    return pd.DataFrame(rows, columns=["index", "image_id", "patient_id", "truth", "split", "side", "view", "density", "abnormality", "lesions", "has_image"])


FILTER_COLUMNS = ("truth", "split", "side", "view", "density", "abnormality")


def filter_options(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {c: sorted(frame[c].astype(str).unique().tolist()) for c in FILTER_COLUMNS if c in frame.columns}


def filter_records(frame: pd.DataFrame, chosen: dict[str, Sequence[str]]) -> pd.DataFrame:
    """Rows whose every filtered column is in the chosen values (an empty choice keeps all)."""
    keep = np.ones(len(frame), bool)
    for col, values in chosen.items():
        if values:
            keep &= frame[col].astype(str).isin([str(v) for v in values]).to_numpy()
    return frame[keep]


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    return (np.clip(np.nan_to_num(pixels), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def downscale(pixels: np.ndarray, long_side: int = DISPLAY_LONG_SIDE) -> tuple[np.ndarray, float]:
    """(uint8 image with its long side <= long_side, scale = new / old)."""
    from PIL import Image

    h, w = pixels.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    img8 = to_uint8(pixels)
    if scale >= 1.0:
        return img8, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(img8).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)), scale


def downscale_map(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A float map resized to (h, w) = shape (bilinear)."""
    from PIL import Image

    h, w = shape
    if values.shape == (h, w):
        return values.astype(np.float32)
    return np.asarray(Image.fromarray(np.asarray(values, np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR), np.float32)


def thumbnail(path: str | None, long_side: int = THUMB_LONG_SIDE) -> np.ndarray:
    """A small uint8 preview of an image file; a grey placeholder when the file is missing or bad."""
    if not path:
        return _placeholder(long_side)
    from .io import read_image

    try:
        m = read_image(path)
    except MammoError:
        return _placeholder(long_side)
    return downscale(m.pixels, long_side)[0]


def _placeholder(long_side: int) -> np.ndarray:
    img = np.full((long_side, int(long_side * 0.65)), 48, np.uint8)
    img[:: 8, :] = 60
    return img


# --------------------------------------------------------------------------- overlays
_CMAP_ANCHORS = np.array([
    [0.00, 0, 0, 0.50], [0.15, 0, 0.15, 1.0], [0.35, 0, 0.85, 1.0], [0.50, 0.35, 1.0, 0.6],
    [0.65, 1.0, 0.95, 0.0], [0.85, 1.0, 0.35, 0.0], [1.00, 0.75, 0.0, 0.0],
])  # a jet-like map: position, r, g, b
_LUT = np.stack([np.interp(np.linspace(0, 1, 256), _CMAP_ANCHORS[:, 0], _CMAP_ANCHORS[:, k]) for k in (1, 2, 3)], axis=1)
_LUT8 = (_LUT * 255 + 0.5).astype(np.uint8)
LESION_COLOR = (0, 255, 120)
BOX_COLOR = (255, 255, 255)


def colorize(values: np.ndarray) -> np.ndarray:
    """H x W map in [0, 1] -> H x W x 3 uint8 (jet-like)."""
    return _LUT8[to_uint8(values)]


def lesion_shapes(lesions: Sequence[Lesion], scale: float) -> list[tuple[str, Any]]:
    """Ground-truth outlines in display coordinates: ('circle', (cx, cy, r)) | ('box', (x0, y0, x1, y1)) | ('mask', path)."""
    shapes: list[tuple[str, Any]] = []
    for les in lesions:
        if les.mask_path:
            shapes.append(("mask", les.mask_path))
        elif les.center is not None and les.radius:
            cx, cy = les.center
            shapes.append(("circle", (cx * scale, cy * scale, max(3.0, float(les.radius) * scale))))
        elif les.bbox is not None:
            shapes.append(("box", tuple(v * scale for v in les.bbox)))
        elif les.center is not None:
            cx, cy = les.center
            shapes.append(("circle", (cx * scale, cy * scale, 6.0)))
    return shapes


def _mask_outline(path: str, shape: tuple[int, int]) -> np.ndarray | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            small = np.asarray(im.convert("L").resize((shape[1], shape[0]), Image.Resampling.NEAREST)) > 127
    except (OSError, ValueError):
        return None
    inner = small.copy()
    inner[1:-1, 1:-1] = small[1:-1, 1:-1] & small[:-2, 1:-1] & small[2:, 1:-1] & small[1:-1, :-2] & small[1:-1, 2:]
    edge = small & ~inner
    # thicken to 2 px so it shows on a downscaled image
    edge[1:, :] |= edge[:-1, :]
    edge[:, 1:] |= edge[:, :-1]
    return edge


def overlay_image(base8: np.ndarray, heat: np.ndarray | None = None, opacity: float = 0.45, lesions: Sequence[Lesion] = (), scale: float = 1.0, box: tuple[int, int, int, int] | None = None, segmentation: np.ndarray | None = None):
    """The display-size mammogram with the heatmap blended in, the ground-truth outline and the patch box.

    `base8` is the downscaled uint8 image (see `downscale`), `heat` a map of the same size
    in [0, 1], `scale` the display / original ratio used for lesion and box coordinates.
    Returns a PIL RGB image.
    """
    from PIL import Image, ImageDraw

    rgb = np.repeat(base8[..., None], 3, axis=2).astype(np.float32)
    if heat is not None and opacity > 0:
        h = np.clip(np.nan_to_num(heat), 0, 1)
        alpha = (opacity * np.clip((h - 0.08) * 2.0, 0, 1))[..., None]  # cold areas stay see-through
        rgb = rgb * (1 - alpha) + colorize(h).astype(np.float32) * alpha
    if segmentation is not None:
        seg = np.clip(segmentation, 0, 1)[..., None] * 0.5
        rgb = rgb * (1 - seg) + np.array([255, 0, 255], np.float32) * seg
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    width = max(2, round(max(img.size) / 400))
    if box is not None:
        x0, y0, x1, y1 = (v * scale for v in box)
        _dashed_rect(draw, (x0, y0, x1, y1), BOX_COLOR, width)
    for kind, geo in lesion_shapes(lesions, scale):
        if kind == "circle":
            cx, cy, r = geo
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=LESION_COLOR, width=width)
        elif kind == "box":
            draw.rectangle(geo, outline=LESION_COLOR, width=width)
        else:
            edge = _mask_outline(geo, (img.size[1], img.size[0]))
            if edge is not None:
                arr = np.asarray(img).copy()
                arr[edge] = LESION_COLOR
                img = Image.fromarray(arr)
                draw = ImageDraw.Draw(img)
    return img


def _dashed_rect(draw, box, color, width, dash: int = 10) -> None:
    x0, y0, x1, y1 = box
    for (ax, ay, bx, by) in ((x0, y0, x1, y0), (x1, y0, x1, y1), (x1, y1, x0, y1), (x0, y1, x0, y0)):
        length = math.hypot(bx - ax, by - ay)
        n = max(1, int(length // dash))
        for i in range(0, n, 2):
            t0, t1 = i / n, min(1.0, (i + 1) / n)
            draw.line((ax + (bx - ax) * t0, ay + (by - ay) * t0, ax + (bx - ax) * t1, ay + (by - ay) * t1), fill=color, width=width)


def model_input_view(x: np.ndarray) -> np.ndarray:
    """A model input (H x W or H x W x C, maybe ImageNet-normalised) as a displayable uint8 image."""
    from .preprocess import IMAGENET_MEAN, IMAGENET_STD

    arr = np.asarray(x, np.float32)
    if arr.ndim == 3 and arr.shape[2] == 3 and (arr.min() < -0.05 or arr.max() > 1.05):
        arr = arr * np.array(IMAGENET_STD, np.float32) + np.array(IMAGENET_MEAN, np.float32)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.min() < -0.05 or arr.max() > 1.05:  # z-scored: stretch for display
        lo, hi = np.percentile(arr, [1, 99])
        arr = (arr - lo) / (hi - lo + 1e-6)
    return to_uint8(arr)


# --------------------------------------------------------------------------- running models on one image
def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_upload(data: bytes, name: str | None = None) -> Mammogram:
    """Decode uploaded bytes in memory; InvalidImageError (a friendly one-liner) on anything bad."""
    from .io import read_image

    if not data:
        raise InvalidImageError(f"{name or 'the file'} is empty")
    return read_image(data, name=name)


def safe_meta_table(image: Mammogram) -> pd.DataFrame:
    """De-identified acquisition facts only (SafeMeta never carries an identifier)."""
    d = image.meta.to_dict()
    rows = [{"field": k.replace("_", " "), "value": ("×".join(f"{x:g}" for x in v) if isinstance(v, (tuple, list)) else str(v))} for k, v in d.items() if v not in (None, "")]
    return pd.DataFrame(rows, columns=["field", "value"])


@dataclass
class ModelResult:
    """One model's answer on one image, with its heatmap at display size (picklable for caching)."""

    name: str
    task: str
    classes: tuple[str, ...]
    probabilities: list[float]
    decision: str
    threshold: float | None
    heat: np.ndarray | None  # display-size map in [0, 1]
    cam_class: str | None
    cam_method: str | None
    box: tuple[int, int, int, int] | None
    seconds: float
    trace: dict[str, Any] | None = None  # hierarchy: stage by stage
    model_input: np.ndarray | None = None  # uint8 view of the preprocessed input
    error: str | None = None


def decide(card: dict[str, Any], probs: Sequence[float]) -> str:
    classes = list(card["classes"])
    if len(classes) == 2 and card.get("threshold") is not None:
        return classes[1] if probs[1] >= float(card["threshold"]) else classes[0]
    return classes[int(np.argmax(probs))]


_MODEL_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(model: Any) -> threading.Lock:
    with _LOCKS_GUARD:
        return _MODEL_LOCKS.setdefault(id(model), threading.Lock())


def limit_torch_threads() -> int | None:
    """Give torch half the cores when it shares the process with TensorFlow.

    Measured on a 2-core machine: after a Keras Grad-CAM, a torch MobileNetV2 Grad-CAM
    takes 5-10 s with torch's default thread count (both thread pools spin on the same
    cores) and 0.16 s with one thread. Only touches torch if it is already imported.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    n = max(1, (os.cpu_count() or 2) // 2)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def run_model(model: Any, image: Mammogram, display_shape: tuple[int, int], cam: str = "predicted", with_input: bool = False) -> ModelResult:
    """Probabilities, decision and a display-size Grad-CAM of one loaded classifier on one image.

    cam: "predicted" explains the decided class; "abnormal" the last class (lesion / malignant);
    "none" skips the heatmap. One run per model at a time (sessions share cached models).
    """
    limit_torch_threads()
    with _lock_for(model):
        return _run_model(model, image, display_shape, cam, with_input)


def _run_model(model: Any, image: Mammogram, display_shape: tuple[int, int], cam: str, with_input: bool) -> ModelResult:
    import time

    t0 = time.perf_counter()
    card = model.card
    classes = tuple(model.classes)
    try:
        trace = None
        if getattr(model, "task", None) == "hierarchy":
            tr = model.trace(image)
            probs = [float(p) for p in tr.probabilities]
            decision = tr.decision
            trace = {
                "p_lesion": float(tr.p_lesion), "stage1_says_lesion": bool(tr.stage1_says_lesion),
                "threshold_stage1": float(model.t1), "threshold_stage2": float(model.t2),
                "roi": None if tr.roi is None else tuple(float(v) for v in tr.roi),
                "p_malignant": None if tr.p_malignant is None else float(tr.p_malignant),
                "stage1": model.stage1.name, "stage2": model.stage2.name,
            }
        else:
            probs = [float(p) for p in model.predict_proba([image])[0]]
            decision = decide(card, probs)
        heat = box = cam_class = method = None
        if cam != "none":
            idx = classes.index(decision) if cam == "predicted" else len(classes) - 1
            hm = model.explain(image, idx)
            heat = downscale_map(hm.values, display_shape)
            box, cam_class, method = hm.box, hm.class_name, hm.method
        view = None
        if with_input and hasattr(model, "prepare"):
            view = model_input_view(model.prepare(image)[0])
        return ModelResult(model.name, model.task, classes, probs, decision, card.get("threshold"), heat, cam_class, method, box, time.perf_counter() - t0, trace, view)
    except MammoError as exc:
        return _failed(model, classes, str(exc), t0)
    except Exception as exc:  # a library failure on one model must not hide the others
        return _failed(model, classes, f"{type(exc).__name__}: {exc}", t0)


def _failed(model: Any, classes: tuple[str, ...], msg: str, t0: float) -> ModelResult:
    import time

    return ModelResult(model.name, model.task, classes, [], "—", None, None, None, None, None, time.perf_counter() - t0, error=msg)


def probability_frame(results: Sequence[ModelResult]) -> pd.DataFrame:
    """Long table (model, class, probability) for a grouped bar chart."""
    rows = [{"model": r.name, "class": c, "probability": p} for r in results if not r.error for c, p in zip(r.classes, r.probabilities)]
    return pd.DataFrame(rows, columns=["model", "class", "probability"])


def result_rows(results: Sequence[ModelResult], image_name: str, membership: dict[str, str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        row: dict[str, Any] = {"image": image_name, "model": r.name, "task": r.task, "decision": r.decision}
        for c in ("normal", "lesion", "benign", "malignant"):
            row[f"p_{c}"] = ""
        for c, p in zip(r.classes, r.probabilities):
            row[f"p_{c}"] = round(p, 6)
        row["threshold"] = "" if r.threshold is None else round(float(r.threshold), 6)
        row["gradcam_class"] = r.cam_class or ""
        if r.trace:
            row["stage1_p_lesion"] = round(r.trace["p_lesion"], 6)
            row["stage2_p_malignant"] = "" if r.trace["p_malignant"] is None else round(r.trace["p_malignant"], 6)
        if membership is not None:
            row["in_model_data"] = membership.get(r.name, "")
        row["error"] = r.error or ""
        rows.append(row)
    return rows


def result_csv(results: Sequence[ModelResult], image_name: str, membership: dict[str, str] | None = None) -> bytes:
    rows = result_rows(results, image_name, membership)
    cols: list[str] = []
    for row in rows:
        cols += [k for k in row if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, restval="")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def result_png(base8: np.ndarray, results: Sequence[ModelResult], opacity: float, scale: float, lesions: Sequence[Lesion] = (), title: str = "", tile_long_side: int = 512) -> bytes:
    """One PNG: the original, then each model's Grad-CAM overlay, each with a caption."""
    from PIL import Image, ImageDraw

    tiles = [(overlay_image(base8, None, 0, lesions, scale), "original" + (f" — {title}" if title else ""))]
    for r in results:
        if r.error:
            continue
        probs = ", ".join(f"{c} {p:.2f}" for c, p in zip(r.classes, r.probabilities))
        tiles.append((overlay_image(base8, r.heat, opacity, lesions, scale, r.box), f"{r.name}: {r.decision} ({probs})"))
    h0, w0 = base8.shape
    f = min(1.0, tile_long_side / max(h0, w0))
    tw, th = max(1, round(w0 * f)), max(1, round(h0 * f))
    cap = 34
    sheet = Image.new("RGB", (tw * len(tiles), th + cap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, (tile, text) in enumerate(tiles):
        sheet.paste(tile.resize((tw, th)), (i * tw, cap))
        lines = _wrap(text, max(10, tw // 7))
        for j, line in enumerate(lines[:2]):
            draw.text((i * tw + 4, 2 + 15 * j), line, fill=(20, 20, 20))
    out = io.BytesIO()
    sheet.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if len(cur) + len(w) + 1 > width and cur:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    if cur:
        lines.append(cur)
    return lines


def png_bytes(img) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()
