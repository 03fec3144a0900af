"""The one training path: `python -m core train RECIPE` for every recipe kind.

    from core.training import TrainOptions, train_recipe
    folders = train_recipe("recipes/seed000_patch_dense_lite0.yaml", TrainOptions(smoke=True))

The recipe's kind picks its registered trainer (`kinds.py`); the films come from the data
set the recipe names, decoded once into the film cache (`cache.py`, `films.py`); folds,
fold runs and packing into model folders are shared (`folds.py`, `fold_runs.py`,
`pack.py`, `finish.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from core.training.options import TrainOptions


def train_recipe(recipe_file: str | Path, options: TrainOptions = TrainOptions(), log: Callable[[str], None] = print) -> list[Path]:
    """Train the recipe; the model folders written."""
    from core.errors import UsageError
    from core.training import trainers  # noqa: F401  (every trainer registers itself)
    from core.training.kinds import get_kind, kind_name
    from core.training.recipe import load_recipe

    recipe = load_recipe(recipe_file)
    kind = get_kind(kind_name(recipe))
    missing = [k for k in kind.required if k not in recipe]
    if missing:
        raise UsageError(f"recipe lacks {missing}")
    if options.address and not kind.on_ray:
        raise UsageError(f"--address: recipes of kind {kind.name} train in one process; the dense patch net (kind patch_dense) runs on Ray Train")
    return kind.train(recipe, options, log)


__all__ = ["TrainOptions", "train_recipe"]
