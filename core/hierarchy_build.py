"""Compose the hierarchical pipeline from trained stage models and judge it like any model.

Which stage-1 and stage-2 models, and their thresholds, are chosen on the validation
split only (each stage card's validation ROC-AUC and Youden threshold).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

from .datasets import load_dataset
from .errors import UsageError
from .models import registry
from .models.card import default_models_dir
from .splits import split_patients


def pick_stage(task: str, wanted: str, models_dir: Path, smoke: bool = False) -> dict[str, Any]:
    cards = [c for c in registry.discover(models_dir) if c["task"] == task and registry.weights_available(c) and bool(c.get("smoke")) == smoke]
    if wanted != "auto":
        cards = [c for c in cards if c["name"] == wanted]
    if not cards:
        raise UsageError(f"no trained {task} model with weights available ({wanted})")
    return max(cards, key=lambda c: c["validation"]["metrics"]["roc_auc"]["value"])


def build_hierarchy(recipe: dict[str, Any], data_dir: str | Path | None = None, models_dir: str | Path | None = None, log: Callable[[str], None] = print) -> Path:
    from .finish import finish
    from .train import default_data_dir

    t0 = time.time()
    root = Path(models_dir) if models_dir else default_models_dir()
    smoke = bool(recipe.get("smoke"))
    s1 = pick_stage("stage1", recipe.get("stage1", "auto"), root, smoke)
    s2 = pick_stage("stage2", recipe.get("stage2", "auto"), root, smoke)
    log(f"stage 1: {s1['name']} (val AUC {s1['validation']['metrics']['roc_auc']['value']:.3f}); stage 2: {s2['name']} (val AUC {s2['validation']['metrics']['roc_auc']['value']:.3f})")
    train_counts = s2["data"]["split_counts"].get("train", {})
    prior = train_counts.get("malignant", 1) / max(train_counts.get("malignant", 1) + train_counts.get("benign", 1), 1)
    card: dict[str, Any] = {
        "name": recipe["name"], "kind": "hierarchy", "task": "hierarchy", "input": "whole", "classes": ["normal", "benign", "malignant"], "framework": "composite",
        "seed_system": recipe.get("seed_system", "001 + 003"), "description": recipe.get("description", ""),
        "stage1": s1["name"], "stage2": s2["name"], "selection": "best validation ROC-AUC per stage; thresholds are each stage's validation Youden point",
        "thresholds": {"stage1": s1["threshold"], "stage2": s2["threshold"]}, "stage2_prior_malignant": round(prior, 4),
        "preprocessing": s1["preprocessing"], "parameters": int(s1["parameters"]) + int(s2["parameters"]),
        "weights": {"file": None, "bytes": int(s1["weights"]["bytes"]) + int(s2["weights"]["bytes"]), "shipped": True, "note": "composed of its two stage models"},
        "data": s1["data"], "recipe": {k: v for k, v in recipe.items() if k != "recipe_file"}, "recipe_file": recipe.get("recipe_file"), "cam_method": "Grad-CAM (stage 1, then stage 2 on its patch)",
    }
    folder = root / card["name"]
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    data = recipe.get("data", {"dataset": "mias"})
    records = load_dataset(data["dataset"], Path(data_dir) if data_dir else default_data_dir(data["dataset"]))
    assignment = split_patients(records, seed=int(s1["data"]["split_seed"]))
    if smoke:
        records = [r for r in records if assignment[r.image_id] in ("val", "test")][:12]
    return finish(card, folder, records, assignment, data_dir=data_dir, t_start=t0, smoke=smoke, log=log)
