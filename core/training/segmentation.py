"""Kind `segmentation` (seed 002): the B-Cir U-Net's five folds over the data set's lesion
masks, resumable per fold, then packing; maps are scored batch by batch, never all kept."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core.evaluation.metrics import auc, choose_threshold
from core.training.folds import fold_parts, run_folds
from core.models.nets.score_rules import candidate_rules, get_rule
from functools import partial
from typing import Any

from core.training.data import load_records, recipe_films, with_dataset
from core.training.device import resolve_device
from core.training.folds import K
from core.training.kinds import register_kind
from core.training.options import TrainOptions
from core.training.pack import pack_unet
from core.training.recipe import smoke_name
from core.training.unet_loop import UNetRecipe, build_seg_data, dice_iou, iter_maps, train_unet


def run_fold(recipe: dict, data, fold: int, out: Path, log=print, *, device=None) -> None:
    r = UNetRecipe.from_dict(recipe.get("train", {}))
    parts = fold_parts(data.records, fold)
    t0 = time.time()
    log(f"[{recipe['name']}] fold {fold}: train {len(parts['train'])} val {len(parts['val'])} test {len(parts['test'])}")
    net, history, info = train_unet(data, parts["train"], parts["val"], r, log, device=device)
    labels = np.array([x.label != "normal" for x in data.records])
    val = parts["val"]
    candidates = candidate_rules((r.size / 1024) ** 2)
    by_rule, di = {rule: [] for rule in candidates}, []
    for start, maps in zip(range(0, len(data.records), 8), iter_maps(net, data.inputs, info["data_config"])):
        for i, m in enumerate(maps, start):
            for rule in candidates:
                by_rule[rule].append(get_rule(rule)(m))
            mask = np.asarray(data.masks[i])
            di.append(dice_iou(m, mask) if (labels[i] and mask.any()) else (np.nan, np.nan))
    rules = {rule: auc(labels[val], np.asarray(v)[val]) for rule, v in by_rule.items()}
    best_rule = max(rules, key=lambda k: np.nan_to_num(rules[k], nan=-1))
    score = np.asarray(by_rule[best_rule])
    threshold = choose_threshold(labels[val], score[val])
    rows = pd.DataFrame({"image_id": [x.image_id for x in data.records], "patient_id": [x.patient_id for x in data.records], "fold": fold, "label": [x.label for x in data.records]})
    part_of = np.empty(len(data.records), object)
    for name, idx in parts.items():
        part_of[idx] = name
    rows["part"] = part_of
    rows["p_normal"], rows["p_lesion"] = 1 - score, score
    rows["dice"], rows["iou"] = [d for d, _ in di], [u for _, u in di]
    torch.save({"net": net.state_dict(), "rule": best_rule, "rule_candidates": rules, "threshold": threshold, "info": info, "recipe": recipe, "seconds": round(time.time() - t0, 1)}, out / f"fold{fold}.pt")
    pd.DataFrame(history).to_csv(out / f"fold{fold}_history.csv", index=False)
    rows.to_csv(out / f"fold{fold}.csv", index=False)
    log(f"[{recipe['name']}] fold {fold} done in {time.time() - t0:.0f} s; rule {best_rule}; test Dice {np.nanmean(rows.loc[parts['test'], 'dice']):.3f}")


SMOKE_TRAIN = {"epochs": 1, "max_batches": 2}


@register_kind("segmentation", required=("name", "kind", "train"), summary="B-Cir U-Net lesion segmentation; the map's score is a stage-1 image score")
def train_segmentation(recipe: dict[str, Any], options: TrainOptions, log=print) -> list[Path]:
    recipe = with_dataset(recipe, options)
    if options.smoke:
        recipe = smoke_name(recipe)
        recipe["train"] = dict(recipe.get("train", {}), **SMOKE_TRAIN)
    records = load_records(recipe, options)
    films = recipe_films(records, 1024, options, log)  # the served model's front: limit_size 1,024
    data = build_seg_data(films, int(recipe.get("train", {}).get("size", 256)), log)
    folds = options.folds or ((0,) if options.smoke else tuple(range(K)))
    run_folds(recipe, data, folds, partial(run_fold, device=resolve_device(options.device)), fresh=options.smoke or options.restart, log=log)
    return [pack_unet(recipe, records, options, log=log)]
