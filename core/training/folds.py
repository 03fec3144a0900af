"""Patient-level folds: fold f is held out, fold f+1 validates, the rest train.

Fold 0 with fold 1 as validation is exactly `split_patients` (the fixed 60/20/20 split),
so the shipped model is the first out-of-fold model and costs no extra training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from core.datasets.splits import check_no_leak, kfold
from core.types import Record

K = 5


def fold_parts(records: Sequence[Record], fold: int, k: int = K, seed: int = 0) -> dict[str, np.ndarray]:
    folds = kfold(records, k=k, seed=seed)
    test, val = folds[fold], folds[(fold + 1) % k]
    train = np.concatenate([folds[j] for j in range(k) if j not in (fold, (fold + 1) % k)])
    assignment = {records[i].image_id: part for part, idx in (("train", train), ("val", val), ("test", test)) for i in idx}
    check_no_leak(records, assignment)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def run_folds(recipe: dict[str, Any], data, folds: Sequence[int], run_fold: Callable[..., None], *, fresh: bool = False, log: Callable[[str], None] = print) -> Path:
    """Run each fold not yet saved under `.cache/lesion_runs/<name>/`, so a stopped run
    resumes between folds (and, where the kind checkpoints epochs, within one)."""
    import json
    import shutil

    from core.models.fold_runs import run_dir

    out = run_dir(recipe["name"])
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps({k: v for k, v in recipe.items() if k != "recipe_file"}, indent=1))
    for fold in folds:
        if (out / f"fold{fold}.csv").exists():
            log(f"[{recipe['name']}] fold {fold}: done already")
            continue
        run_fold(recipe, data, fold, out, log=log)
    return out
