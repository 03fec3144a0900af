"""Out-of-fold runs of a classifier recipe (`python -m core train RECIPE --oof` or `--folds`).

Fold 0 (fold 1 validating) is the fixed split, so the shipped model is trained as always
and its test rows are fold 0's out-of-fold rows; folds 1-4 train the same recipe under
`.cache/oof_models/` and only their held-out rows are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pandas as pd

from core.datasets import load_dataset
from core.training.folds import K, fold_parts
from core.models.card import default_models_dir, read_card, scratch_dir, write_card
from core.evaluation.oof import OOF_FILE, card_oof
from core.training.classifier import smoke_recipe, train
from core.training.kinds import register_kind
from core.training.options import TrainOptions
from core.training.recipe import default_data_dir

Log = Callable[[str], None]
REQUIRED = ("name", "task", "framework", "architecture", "preprocessing", "stages")


@register_kind("classifier", required=REQUIRED, summary="whole-image or patch classifier (torch / timm or Keras), staged unfreezing; --oof trains folds 1-4 too")
def train_classifier(recipe: dict[str, Any], options: TrainOptions, log: Log = print) -> list[Path]:
    from core.training.data import data_dir_of, with_dataset

    recipe = with_dataset(recipe, options)
    if options.smoke:
        return [train(smoke_recipe(recipe), data_dir_of(options), options.models_dir, resume=False, log=log, device=options.device)]
    if options.oof or options.folds:
        return [train_oof(recipe, data_dir=data_dir_of(options), models_dir=options.models_dir, folds=list(options.folds) if options.folds else None, log=log, reuse_shipped=not options.restart, device=options.device)]
    return [train(recipe, data_dir_of(options), options.models_dir, resume=not options.restart, log=log, device=options.device)]



def _held_out(folder: Path, fold: int) -> pd.DataFrame:
    pred = pd.read_csv(folder / "predictions.csv")
    rows = pred[pred["split"] == "test"].drop(columns=[c for c in ("split", "pred") if c in pred])
    rows.insert(2, "fold", fold)
    return rows


def train_oof(recipe: dict[str, Any], data_dir: str | Path | None = None, models_dir: str | Path | None = None, folds: list[int] | None = None, log: Log = print, reuse_shipped: bool = False, device: str = "auto") -> Path:
    """Fold 0 is the shipped model (retrained unless `reuse_shipped`: its split is the fixed one)."""
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    records = load_dataset(recipe.get("data", {}).get("dataset", "mias"), data_dir)
    scratch = scratch_dir("oof_models")
    parts = []
    for fold in folds if folds is not None else range(K):
        split = fold_parts(records, fold)
        assignment = {records[i].image_id: part for part, idx in split.items() for i in idx}
        if fold == 0:
            shipped = (Path(models_dir) if models_dir else default_models_dir()) / recipe["name"]
            if not reuse_shipped or not (shipped / "predictions.csv").exists():
                shipped = train(recipe, data_dir, models_dir, log=log, assignment=assignment, device=device)
            folder = shipped
        else:
            name = f"{recipe['name']}-fold{fold}"
            folder = scratch / name
            if not (folder / "predictions.csv").exists():
                folder = train(recipe | {"name": name}, data_dir, scratch, log=log, assignment=assignment, device=device)
        parts.append(_held_out(folder, fold))
    oof = pd.concat(parts).sort_values("image_id").reset_index(drop=True)
    oof.to_csv(shipped / OOF_FILE, index=False)
    card = read_card(shipped)
    card["oof"] = card_oof(card, oof)
    done = sorted(int(f) for f in oof["fold"].unique())
    card["oof_protocol"] = {"folds_run": done, "protocol": "patient-level stratified 5-fold (seed 0); fold f held out, fold f+1 validation (epoch, threshold), the other three train; same recipe"}
    if len(done) < K:
        card["oof_protocol"]["incomplete"] = f"{len(done)} of {K} folds run ({len(oof)} held-out images): the CPU budget of the session ran out"
    write_card(shipped, card)
    return shipped
