"""Patient-level folds for lesion models: fold f is held out, fold f+1 validates, the rest train.

Fold 0 with fold 1 as validation is exactly `split_patients` (the fixed 60/20/20 split),
so the shipped model is the first out-of-fold model and costs no extra training.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..splits import check_no_leak, kfold
from ..types import Record

K = 5


def fold_parts(records: Sequence[Record], fold: int, k: int = K, seed: int = 0) -> dict[str, np.ndarray]:
    folds = kfold(records, k=k, seed=seed)
    test, val = folds[fold], folds[(fold + 1) % k]
    train = np.concatenate([folds[j] for j in range(k) if j not in (fold, (fold + 1) % k)])
    assignment = {records[i].image_id: part for part, idx in (("train", train), ("val", val), ("test", test)) for i in idx}
    check_no_leak(records, assignment)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def run_folds(argv: list[str] | None, *, smoke_train: dict, build_data, run_fold, description: str) -> None:
    """The command line of a fold runner: parse, load the films once, run each fold not yet
    saved under `.cache/lesion_runs/<name>/` (so a stopped session resumes between folds)."""
    import argparse
    import json
    import shutil
    from pathlib import Path

    import torch
    import yaml

    from ..datasets import load_dataset
    from ..models.card import repo_root
    from .run_dir import run_dir

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("recipe")
    ap.add_argument("--data", default=str(repo_root().parent / "shared" / "data"))
    ap.add_argument("--folds", type=int, nargs="*", default=list(range(K)))
    ap.add_argument("--fresh", action="store_true", help="discard earlier fold runs of this recipe")
    ap.add_argument("--limit", type=int, default=0, help="smoke: the first N films only")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = yaml.safe_load(Path(args.recipe).read_text())
    if args.limit:
        recipe["name"] += "-smoke"
        recipe.setdefault("train", {}).update(smoke_train)
    records = load_dataset("mias", args.data)[: args.limit or None]
    data = build_data(records, recipe)
    out = run_dir(recipe["name"])
    if args.fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps(recipe, indent=1))
    for fold in args.folds:
        if (out / f"fold{fold}.csv").exists():
            print(f"fold {fold}: done already")
            continue
        run_fold(recipe, data, fold, out)
