"""Run the U-Net's folds: `python -m core.lesion.run_unet RECIPE.yaml [--folds 0 1 ..]` (resumable per fold)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..evaluate import choose_threshold
from .folds import fold_parts, run_folds
from .score_rules import candidate_rules, get_rule
from .train_unet import UNetRecipe, build_seg_data, dice_iou, predict_maps, train_unet


def _auc(y, s) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else float("nan")


def run_fold(recipe: dict, data, fold: int, out: Path, log=print) -> None:
    r = UNetRecipe.from_dict(recipe.get("train", {}))
    parts = fold_parts(data.records, fold)
    t0 = time.time()
    log(f"[{recipe['name']}] fold {fold}: train {len(parts['train'])} val {len(parts['val'])} test {len(parts['test'])}")
    net, history, info = train_unet(data, parts["train"], parts["val"], r, log)
    maps = predict_maps(net, data.inputs, info["data_config"])
    labels = np.array([x.label != "normal" for x in data.records])
    val = parts["val"]
    scale = (r.size / 1024) ** 2
    rules = {rule: _auc(labels[val], [get_rule(rule)(maps[i]) for i in val]) for rule in candidate_rules(scale)}
    best_rule = max(rules, key=lambda k: np.nan_to_num(rules[k], nan=-1))
    score = np.array([get_rule(best_rule)(m) for m in maps])
    threshold = choose_threshold(labels[val], score[val])
    rows = pd.DataFrame({"image_id": [x.image_id for x in data.records], "patient_id": [x.patient_id for x in data.records], "fold": fold, "label": [x.label for x in data.records]})
    part_of = np.empty(len(data.records), object)
    for name, idx in parts.items():
        part_of[idx] = name
    rows["part"] = part_of
    rows["p_normal"], rows["p_lesion"] = 1 - score, score
    di = [dice_iou(maps[i], data.masks[i]) if (labels[i] and data.masks[i].any()) else (np.nan, np.nan) for i in range(len(maps))]
    rows["dice"], rows["iou"] = [d for d, _ in di], [u for _, u in di]
    torch.save({"net": net.state_dict(), "rule": best_rule, "rule_candidates": rules, "threshold": threshold, "info": info, "recipe": recipe, "seconds": round(time.time() - t0, 1)}, out / f"fold{fold}.pt")
    pd.DataFrame(history).to_csv(out / f"fold{fold}_history.csv", index=False)
    rows.to_csv(out / f"fold{fold}.csv", index=False)
    log(f"[{recipe['name']}] fold {fold} done in {time.time() - t0:.0f} s; rule {best_rule}; test Dice {np.nanmean(rows.loc[parts['test'], 'dice']):.3f}")


def main(argv: list[str] | None = None) -> None:
    run_folds(argv, smoke_train={"epochs": 1, "max_batches": 2}, build_data=lambda records, recipe: build_seg_data(records, int(recipe.get("train", {}).get("size", 256))), run_fold=run_fold, description="B-Cir U-Net: fold runs")


if __name__ == "__main__":
    main()
