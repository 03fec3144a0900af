"""Kind `map_top`: seed 001's flat 3-class classifier on the lesion-aware backbone, Shen's
whole-image top over the dense patch map of a patch model's fold runs, trained the seed's
way (normal films undersampled: "storing 1 Normal case for every 4"), one run per fold.

Fold f reuses the patch net that fold f of the patch model trained (`over:` in the recipe),
so no film the top is judged on was seen by the net beneath it either. Each fold's maps are
kept under `.cache/lesion_runs/<name>/` with the run, so a stopped session resumes between
folds; `python -m core train` packs fold 0 into the shipped model and every fold's held-out
part into `oof_predictions.csv`, as for the other lesion models.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.models.nets.dense import top_input
from core.models.fold_runs import load_run
from core.training.folds import fold_parts, run_folds
from core.errors import UsageError
from core.training.data import load_records, recipe_films, with_dataset
from core.training.folds import K
from core.training.kinds import register_kind
from core.training.options import TrainOptions
from core.training.pack import pack_top
from core.training.recipe import smoke_name
from core.training.patch_loop import PatchRecipe, fold_maps, train_map_top

LABELS = ("normal", "benign", "malignant")


def undersample_normals(train_idx: np.ndarray, labels: np.ndarray, keep_one_in: int, seed: int) -> np.ndarray:
    """The training films with one normal film kept for every `keep_one_in` (seed 001)."""
    normal = train_idx[labels[train_idx] == 0]
    if keep_one_in <= 1 or len(normal) == 0:  # CBIS-DDSM has no normal films
        return train_idx
    kept = np.random.default_rng(seed).choice(normal, size=max(1, round(len(normal) / keep_one_in)), replace=False)
    return np.sort(np.concatenate([train_idx[labels[train_idx] != 0], kept]))


def _net_of(run: dict[str, Any]):
    """The patch net a fold run of the patch model trained (built as the shipped one is)."""
    from core.models.dense_patch import _patch_net

    return _patch_net({"architecture": run["recipe"]["train"]}, run["net"])


def _film_side(recipe: dict[str, Any], fold: int) -> int:
    """The films' side: the one the patch model's fold run saw (a smoke run's is smaller)."""
    run = load_run(recipe["over"], fold)
    return int((run["recipe"] if run else recipe).get("input_max_side", 1024))


def run_fold(recipe: dict[str, Any], data, fold: int, out: Path, log=print) -> None:
    over = recipe["over"]
    run = load_run(over, fold)
    if run is None:
        raise UsageError(f"fold {fold} of {over} has not been run: train its recipe first (python -m core train)")
    r = replace(PatchRecipe.from_dict(run["recipe"].get("train", {})), **{k: v for k, v in recipe.get("train", {}).items() if k in ("top_epochs", "top_lr", "seed")})
    parts = fold_parts(data.records, fold)
    labels = np.array([LABELS.index(rec.label) for rec in data.records])
    t0 = time.time()
    cached = out / f"fold{fold}_tops.npy"
    if cached.exists():
        tops = np.load(cached)
    else:
        log(f"[{recipe['name']}] fold {fold}: patch maps of {len(data.records)} films with {over}'s fold-{fold} net")
        tops = np.stack([top_input(m) for m in fold_maps(_net_of(run), data, np.arange(len(data.records)), run["info"]["data_config"])])
        np.save(cached, tops)
    keep_one_in = int(recipe.get("train", {}).get("normal_keep_one_in", 4))
    train = undersample_normals(parts["train"], labels, keep_one_in, r.seed + fold)
    log(f"[{recipe['name']}] fold {fold}: top on {len(train)} of {len(parts['train'])} training films (normal films 1 in {keep_one_in}), validation {len(parts['val'])}")
    top, history = train_map_top(tops[train], labels[train], tops[parts["val"]], labels[parts["val"]], r, log)
    with torch.no_grad():
        probs = torch.softmax(top(torch.from_numpy(tops)), 1).numpy()
    part_of = np.empty(len(data.records), object)
    for name, idx in parts.items():
        part_of[idx] = name
    rows = pd.DataFrame({"image_id": [x.image_id for x in data.records], "patient_id": [x.patient_id for x in data.records], "fold": fold, "part": part_of, "label": [x.label for x in data.records]})
    for k, c in enumerate(LABELS):
        rows[f"e2e_p_{c}"] = probs[:, k]
    torch.save({"top": top.state_dict(), "over": over, "train_films": int(len(train)), "recipe": recipe, "seconds": round(time.time() - t0, 1)}, out / f"fold{fold}.pt")
    pd.DataFrame(history).to_csv(out / f"fold{fold}_top_history.csv", index=False)
    rows.to_csv(out / f"fold{fold}.csv", index=False)
    log(f"[{recipe['name']}] fold {fold} done in {time.time() - t0:.0f} s")


@register_kind("map_top", required=("name", "kind", "task", "over"), summary="seed 001's flat 3-class top over a patch model's map, per fold")
def train_map_top_kind(recipe: dict[str, Any], options: TrainOptions, log=print) -> list[Path]:
    recipe = with_dataset(recipe, options)
    if options.smoke:  # over the smoke run of the patch model
        recipe = smoke_name(recipe) | {"over": recipe["over"] + "-smoke"}
        recipe["train"] = dict(recipe.get("train", {}), top_epochs=3)
    records = load_records(recipe, options)
    folds = options.folds or ((0,) if options.smoke else tuple(range(K)))
    data = recipe_films(records, _film_side(recipe, folds[0]), options, log)
    run_folds(recipe, data, folds, run_fold, fresh=options.smoke or options.restart, log=log)
    return [pack_top(recipe, records, options, log=log)]
