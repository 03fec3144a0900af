"""Kinds built from other models' predictions, not from pixels: seed 004's ensembles,
seed 001's hierarchy, and the study model (views and the other breast)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.training.data import data_dir_of, load_records, with_dataset
from core.training.kinds import register_kind
from core.training.options import TrainOptions


@register_kind("ensemble", required=("name", "kind", "task", "candidates"), summary="seed 004's ensemble: members chosen on validation, test-time augmentation, out-of-fold rows pooled")
def train_ensemble(recipe: dict[str, Any], options: TrainOptions, log=print) -> list[Path]:
    from core.training.composites.ensemble import build_ensemble

    recipe = with_dataset(recipe, options)
    if options.smoke:  # over the smoke-trained candidates (one fold, the first films)
        recipe = recipe | {"smoke": True, "name": recipe["name"] + "-smoke", "candidates": [c + "-smoke" for c in recipe["candidates"]]}
    return [build_ensemble(recipe, records=load_records(recipe, options), data_dir=data_dir_of(options), models_dir=options.models_dir, log=log)]


@register_kind("hierarchy", required=("name", "task"), summary="seed 001's hierarchy: normal vs lesion, then benign vs malignant, stage models chosen on validation or out of fold")
def train_hierarchy(recipe: dict[str, Any], options: TrainOptions, log=print) -> list[Path]:
    from core.training.composites.hierarchy import build_hierarchy

    recipe = with_dataset(recipe, options) | ({"smoke": True} if options.smoke else {})
    return [build_hierarchy(recipe, data_dir=data_dir_of(options), models_dir=options.models_dir, log=log)]


@register_kind("study", required=("name", "kind", "member"), summary="a study model over a member's committed out-of-fold rows: views combined, the other breast subtracted")
def train_study(recipe: dict[str, Any], options: TrainOptions, log=print) -> list[Path]:
    from core.training.composites.study import build

    recipe = with_dataset(recipe, options)
    member, name = recipe["member"], recipe["name"]
    if options.smoke:
        member, name = member + "-smoke", name + "-smoke"
    records = load_records(recipe, options)
    return [build(member, name, records=records, models_dir=options.models_dir, weight=float(recipe.get("weight", 0.5)), rule=recipe.get("rule", "mean"), log=log)]
