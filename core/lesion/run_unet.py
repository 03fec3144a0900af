"""Run the U-Net's folds: `python -m core.lesion.run_unet RECIPE.yaml [--folds 0 1 ..]` (resumable per fold)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from ..datasets import load_dataset
from ..evaluate import choose_threshold
from ..models.card import repo_root
from .folds import fold_parts
from .run_patch import run_dir
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
    ap = argparse.ArgumentParser()
    ap.add_argument("recipe")
    ap.add_argument("--data", default=str(repo_root().parent / "shared" / "data"))
    ap.add_argument("--folds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    ap.add_argument("--fresh", action="store_true", help="discard earlier fold runs of this recipe")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = yaml.safe_load(Path(args.recipe).read_text())
    if args.limit:
        recipe["name"] += "-smoke"
        recipe.setdefault("train", {}).update(epochs=1, max_batches=2)
    records = load_dataset("mias", args.data)[: args.limit or None]
    data = build_seg_data(records, int(recipe.get("train", {}).get("size", 256)))
    out = run_dir(recipe["name"])
    if args.fresh and out.exists():
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps(recipe, indent=1))
    for fold in args.folds:
        if (out / f"fold{fold}.csv").exists():
            print(f"fold {fold}: done already")
            continue
        run_fold(recipe, data, fold, out)


if __name__ == "__main__":
    main()
