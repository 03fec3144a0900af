"""Run the dense patch model's folds: `python -m core.lesion.run_patch RECIPE.yaml [--folds 0 1 ..]`.

Each fold is saved under `.cache/lesion_runs/<name>/` as soon as it ends (a session can stop
between folds and resume); `python -m core train` then packs fold 0 into the shipped model
and the held-out parts of all folds into `oof_predictions.csv`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..evaluate import choose_threshold
from .dense import stage_scores, three_class, top_input
from .folds import fold_parts, run_folds
from .mias_arrays import load_lesion_images
from .train_patch import PatchRecipe, choose_rules, fold_maps, train_map_top, train_patch_net

LABEL_INDEX = {"normal": 0, "benign": 1, "malignant": 2}


def run_fold(recipe: dict[str, Any], data, fold: int, out: Path, log=print) -> None:
    r = PatchRecipe.from_dict(recipe.get("train", {}))
    parts = fold_parts(data.records, fold)
    t0 = time.time()
    log(f"[{recipe['name']}] fold {fold}: train {len(parts['train'])} val {len(parts['val'])} test {len(parts['test'])} images")
    net, history, info = train_patch_net(data, parts["train"], parts["val"], r, log)
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


def main(argv: list[str] | None = None) -> None:
    run_folds(argv, smoke_train={"epochs": 1, "head_epochs": 1, "max_batches": 2, "top_epochs": 3}, build_data=lambda records, recipe: load_lesion_images(records), run_fold=run_fold, description="Dense patch model: fold runs")


if __name__ == "__main__":
    main()
