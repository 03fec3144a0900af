"""Kind `patch_dense` (seeds 000 / 004): the dense patch net's five folds, then packing.

Each fold is saved under `.cache/lesion_runs/<name>/` as soon as it ends (a run can stop
between folds and resume); fold 0 becomes the shipped model and the held-out parts of all
folds `oof_predictions.csv`. The films come from the film cache at the recipe's resolution
(`input_max_side`), so any data set with lesion geometry trains the same way.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.evaluation.metrics import choose_threshold
from core.models.nets.dense import stage_scores, three_class, top_input
from functools import partial

from core.training.folds import K, fold_parts, run_folds
from core.training.data import load_records, recipe_films, with_dataset
from core.training.device import resolve_device
from core.training.kinds import register_kind
from core.training.options import TrainOptions, smoke_side
from core.training.pack import pack_patch
from core.training.recipe import smoke_name
from core.training.patch_loop import PatchRecipe, choose_rules, fold_maps, train_map_top, train_patch_net

LABEL_INDEX = {"normal": 0, "benign": 1, "malignant": 2}


def run_fold(recipe: dict[str, Any], data, fold: int, out: Path, log=print, *, device=None, workers: int = 0, options: TrainOptions | None = None) -> None:
    r = PatchRecipe.from_dict(recipe.get("train", {}))
    parts = fold_parts(data.records, fold)
    t0 = time.time()
    log(f"[{recipe['name']}] fold {fold}: train {len(parts['train'])} val {len(parts['val'])} test {len(parts['test'])} images")
    net, history, info = train_patch_net(data, parts["train"], parts["val"], r, log, device=device, workers=workers, ray=_ray_target(options, out / f"ray_fold{fold}", device))
    every = np.arange(len(data.records))
    # Shen's top is trained on the training images' maps: fold 0 (the shipped model) always,
    # other folds only when the recipe asks (`oof_top: true`), since dense maps of every
    # training film are most of a fold's CPU time. The plain model is the same either way.
    with_top = fold == 0 or bool(recipe.get("oof_top", False))
    need = every if with_top else np.sort(np.concatenate([parts["val"], parts["test"]]))
    computed = dict(zip(need.tolist(), fold_maps(net, data, need, info["data_config"])))
    maps = [computed.get(i) for i in every]
    rules = choose_rules([maps[i] for i in parts["val"]], data, parts["val"])
    scores = np.array([stage_scores(m, rules["stage1_rule"], rules["stage2_rule"]) if m is not None else (np.nan, np.nan) for m in maps])
    plain = np.stack([three_class(s1, s2) for s1, s2 in scores])
    labels = np.array([LABEL_INDEX[rec.label] for rec in data.records])
    if with_top:
        tops = np.stack([top_input(m) for m in maps])
        top, top_history = train_map_top(tops[parts["train"]], labels[parts["train"]], tops[parts["val"]], labels[parts["val"]], r, log)
        with torch.no_grad():
            e2e = torch.softmax(top(torch.from_numpy(tops)), 1).numpy()
    else:
        top, top_history, e2e = None, [], np.full((len(every), 3), np.nan, np.float32)
    part_of = np.empty(len(every), object)
    for name, idx in parts.items():
        part_of[idx] = name
    rows = pd.DataFrame({"image_id": [x.image_id for x in data.records], "patient_id": [x.patient_id for x in data.records], "fold": fold, "part": part_of, "label": [x.label for x in data.records]})
    for k, c in enumerate(("normal", "benign", "malignant")):
        rows[f"plain_p_{c}"] = plain[:, k]
        rows[f"e2e_p_{c}"] = e2e[:, k]
    val = parts["val"]
    thresholds = {"stage1": choose_threshold(labels[val] > 0, scores[val, 0]), "stage2": choose_threshold(labels[val][labels[val] > 0] == 2, scores[val][labels[val] > 0, 1])}
    torch.save({"net": net.state_dict(), "top": top.state_dict() if top is not None else None, "rules": rules, "thresholds": thresholds, "info": info, "recipe": recipe, "seconds": round(time.time() - t0, 1)}, out / f"fold{fold}.pt")
    pd.DataFrame(history).to_csv(out / f"fold{fold}_history.csv", index=False)
    pd.DataFrame(top_history).to_csv(out / f"fold{fold}_top_history.csv", index=False)
    rows.to_csv(out / f"fold{fold}.csv", index=False)
    log(f"[{recipe['name']}] fold {fold} done in {time.time() - t0:.0f} s; rules {rules['stage1_rule']} / {rules['stage2_rule']}")


def _ray_target(options: TrainOptions | None, storage: Path, device):
    """`--address`: this fold's epochs on Ray Train (`--workers` workers, GPUs when the
    device is CUDA); checkpoints per epoch under the fold's run folder, so a rerun resumes."""
    if options is None or not options.address:
        return None
    from core.training.ray_fit import RayTarget

    return RayTarget(options.address, max(1, options.workers), getattr(device, "type", "cpu") == "cuda", storage.resolve())


SMOKE_TRAIN = {"epochs": 1, "head_epochs": 1, "max_batches": 2, "top_epochs": 3}


@register_kind("patch_dense", required=("name", "kind", "train"), summary="dense patch classifier over the whole breast, map -> image score, and Shen's end-to-end top", on_ray=True)
def train_patch_dense(recipe: dict[str, Any], options: TrainOptions, log=print) -> list[Path]:
    recipe = with_dataset(recipe, options)
    if options.smoke:
        recipe = smoke_name(recipe)
        recipe["train"] = dict(recipe.get("train", {}), **SMOKE_TRAIN) | {"head_epochs": min(1, int(recipe.get("train", {}).get("head_epochs", 1)))}
        recipe["input_max_side"] = smoke_side(recipe.get("input_max_side", 1024))
    records = load_records(recipe, options)
    data = recipe_films(records, int(recipe.get("input_max_side", 1024)), options, log)
    folds = options.folds or ((0,) if options.smoke else tuple(range(K)))
    run_folds(recipe, data, folds, partial(run_fold, device=resolve_device(options.device), workers=0 if options.address else options.workers, options=options), fresh=options.smoke or options.restart, log=log)
    return pack_patch(recipe, records, options, log=log)
