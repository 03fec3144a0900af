"""Compose the hierarchical pipeline from trained stage models and judge it like any model.

Which stage-1 and stage-2 models: the best validation ROC-AUC of each task (`select:
validation`, the old hierarchy) or the best complete out-of-fold ROC-AUC (`select: oof`, the
leaderboard's ranking); thresholds are each stage's validation Youden point. With `oof`
the hierarchy also gets out-of-fold rows built from its stages' held-out rows.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from core.datasets import load_dataset
from core.errors import UsageError
from core.evaluation.metrics import prob_columns
from core.labels import project
from core.training.folds import K
from core.models import registry
from core.models.card import default_models_dir, read_card, write_card
from core.models.composites.hierarchy import combine_stages
from core.datasets.splits import split_patients


def pick_stage(task: str, wanted: str, models_dir: Path, smoke: bool = False, by: str = "validation") -> dict[str, Any]:
    """The stage model: named, or the best of `task` by its validation ROC-AUC or, `by: oof`,
    by its out-of-fold ROC-AUC over a complete cross-validation (what the leaderboard ranks)."""
    cards = [c for c in registry.discover(models_dir) if c["task"] == task and registry.weights_available(c) and bool(c.get("smoke")) == smoke]
    if wanted != "auto":
        cards = [c for c in cards if c["name"] == wanted]
    if by == "oof":
        cards = [c for c in cards if (c.get("oof") or {}).get(task) and (smoke or c["oof"][task]["folds"] == K)]
    if not cards:
        raise UsageError(f"no trained {task} model with weights available ({wanted})")
    if by == "oof":
        return max(cards, key=lambda c: c["oof"][task]["roc_auc"]["value"])
    return max(cards, key=lambda c: c["validation"]["metrics"]["roc_auc"]["value"])


def stage_rows(card: dict[str, Any], task: str) -> pd.DataFrame | None:
    """A stage model's held-out rows in its task, the images outside it included (a composite
    stage 2 keeps its normal films' scores in `oof_outside_task.csv`), with per-fold thresholds."""
    from core.training.composites.ensemble import OUTSIDE_FILE
    from core.evaluation.oof import read_oof

    oof = read_oof(card)
    if oof is None:
        return None
    outside = Path(card["_folder"]) / OUTSIDE_FILE
    rows = pd.concat([oof, pd.read_csv(outside)] if outside.exists() else [oof], ignore_index=True)
    score = project(rows[prob_columns(card["classes"])].to_numpy(), card["classes"], task)[:, 1]
    threshold = rows["threshold"] if "threshold" in rows.columns else card["threshold"]
    return pd.DataFrame({"image_id": rows["image_id"], "patient_id": rows["patient_id"], "fold": rows["fold"], "score": score, "threshold": threshold})


def hierarchy_oof(s1: dict[str, Any], s2: dict[str, Any], records, prior_malignant: float) -> pd.DataFrame | None:
    """The hierarchy's out-of-fold rows from its stages' out-of-fold rows: every image scored
    by the fold models that did not see it, each stage at its own fold's validation threshold.
    None when a stage lacks held-out scores for an image the other has (no partial figures)."""
    a, b = stage_rows(s1, "stage1"), stage_rows(s2, "stage2")
    if a is None or b is None:
        return None
    both = a.merge(b, on=["image_id", "patient_id"], suffixes=("_1", "_2"))
    if len(both) != len(a) or (both["fold_1"] != both["fold_2"]).any():
        return None
    label = {r.image_id: r.label for r in records}
    out = []
    for r in both.itertuples(index=False):
        lesion = r.score_1 >= r.threshold_1
        probs, decision = combine_stages(float(r.score_1), float(r.score_2) if lesion else None, float(r.threshold_2), prior_malignant)
        out.append({"image_id": r.image_id, "patient_id": r.patient_id, "fold": int(r.fold_1), "truth": label[r.image_id],
                    **{f"p_{c}": float(v) for c, v in zip(("normal", "benign", "malignant"), probs)}, "pred": decision,
                    "stage1_p_lesion": r.score_1, "stage1_threshold": r.threshold_1, "stage2_p_malignant": r.score_2, "stage2_threshold": r.threshold_2})
    return pd.DataFrame(out).sort_values("image_id").reset_index(drop=True)


def build_hierarchy(recipe: dict[str, Any], data_dir: str | Path | None = None, models_dir: str | Path | None = None, log: Callable[[str], None] = print) -> Path:
    from core.training.finish import finish
    from core.training.recipe import default_data_dir

    t0 = time.time()
    root = Path(models_dir) if models_dir else default_models_dir()
    smoke = bool(recipe.get("smoke"))
    by = recipe.get("select", "validation")
    s1 = pick_stage("stage1", recipe.get("stage1", "auto"), root, smoke, by)
    s2 = pick_stage("stage2", recipe.get("stage2", "auto"), root, smoke, by)
    log(f"stage 1: {s1['name']} (val AUC {s1['validation']['metrics']['roc_auc']['value']:.3f}); stage 2: {s2['name']} (val AUC {s2['validation']['metrics']['roc_auc']['value']:.3f})")
    train_counts = s2["data"]["split_counts"].get("train", {})
    prior = train_counts.get("malignant", 1) / max(train_counts.get("malignant", 1) + train_counts.get("benign", 1), 1)
    card: dict[str, Any] = {
        "name": recipe["name"], "kind": "hierarchy", "task": "hierarchy", "input": "whole", "classes": ["normal", "benign", "malignant"], "framework": "composite",
        "seed_system": recipe.get("seed_system", "001 + 003"), "description": recipe.get("description", ""),
        "stage1": s1["name"], "stage2": s2["name"], "stage2_input": s2.get("input", "whole"),
        "selection": ("best complete out-of-fold ROC-AUC per stage (the leaderboard's ranking)" if by == "oof" else "best validation ROC-AUC per stage") + "; thresholds are each stage's validation Youden point",
        "thresholds": {"stage1": s1["threshold"], "stage2": s2["threshold"]}, "stage2_prior_malignant": round(prior, 4),
        "preprocessing": s1.get("preprocessing"), "parameters": int(s1["parameters"]) + int(s2["parameters"]),
        "weights": {"file": None, "bytes": int(s1["weights"]["bytes"]) + int(s2["weights"]["bytes"]), "shipped": True, "note": "composed of its two stage models"},
        "data": s1["data"], "recipe": {k: v for k, v in recipe.items() if k != "recipe_file"}, "recipe_file": recipe.get("recipe_file"), "cam_method": "Grad-CAM (stage 1, then stage 2 on its patch)" if s2.get("input") == "patch" else "each stage's own maps (stage 2's where it ran)",
    }
    folder = root / card["name"]
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    data = recipe.get("data", {"dataset": "mias"})
    records = every_record = load_dataset(data["dataset"], Path(data_dir) if data_dir else default_data_dir())
    assignment = split_patients(records, seed=int(s1["data"]["split_seed"]))
    if smoke:
        records = [r for r in records if assignment[r.image_id] in ("val", "test")][:12]
    folder = finish(card, folder, records, assignment, data_dir=data_dir, t_start=t0, smoke=smoke, log=log)
    if by == "oof":
        write_oof(folder, s1, s2, every_record, log)
    return folder


def flat_comparisons(card: dict[str, Any], oof: pd.DataFrame, models_dir: Path) -> list[dict[str, Any]]:
    """Seed 001's question out of fold: this hierarchy against every flat 3-class model whose
    out-of-fold rows decide every film the hierarchy's do (a partial run's fewer films would
    make a different question), paired patient-level bootstrap on those films."""
    from core.evaluation.oof import paired_three_class, read_oof

    out = []
    for c in registry.discover(models_dir):
        flat = read_oof(c) if c["task"] == "flat3" and (c.get("oof") or {}).get("flat3") else None
        if flat is not None and set(oof["image_id"]) <= set(flat["image_id"]):
            out.append({"flat": c["name"]} | paired_three_class(oof, flat, card["classes"]))
    return out


def write_oof(folder: Path, s1: dict[str, Any], s2: dict[str, Any], records, log: Callable[[str], None] = print) -> None:
    """The hierarchy's out-of-fold rows and summaries (flat 3 classes and both stages)."""
    from core.evaluation.oof import OOF_FILE, card_oof

    card = read_card(folder)
    oof = hierarchy_oof(s1, s2, records, float(card["stage2_prior_malignant"]))
    if oof is None:
        log("no out-of-fold rows: a stage lacks held-out scores on some image")
        return
    oof.to_csv(folder / OOF_FILE, index=False)
    card["oof"] = card_oof(card, oof)
    card["flat_vs_hierarchy"] = flat_comparisons(card, oof, folder.parent)
    card["oof_protocol"] = {"folds_run": sorted(int(f) for f in oof["fold"].unique()),
                            "protocol": f"stage models' patient-level {K}-fold held-out scores ({s1['name']}, {s2['name']}), each at its fold's validation threshold"}
    write_card(folder, card)
    f = card["oof"]["flat3"]
    log(f"[{card['name']}] out of fold, 3 classes: macro-F1 {f['macro_f1']['value']:.3f}, balanced accuracy {f['balanced_accuracy']['value']:.3f}")
