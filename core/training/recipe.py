"""A recipe file -> the dict every trainer reads (its kind's required keys are checked by
`core.training.train_recipe`, which knows every kind)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import UsageError
from core.models.card import repo_root


def load_recipe(path: str | Path) -> dict[str, Any]:
    import yaml

    try:
        recipe = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError as exc:
        raise UsageError("recipe not found (give a recipes/NAME.yaml file)") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"recipe is not valid YAML ({type(exc).__name__})") from exc
    if not isinstance(recipe, dict):
        raise UsageError("recipe is not a YAML mapping")
    recipe["recipe_file"] = str(Path(path))
    return recipe


def default_data_dir() -> Path:
    return repo_root().parent / "shared" / "data"


def copy(recipe: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(recipe))


def smoke_name(recipe: dict[str, Any]) -> dict[str, Any]:
    """A smoke run writes `<name>-smoke`, never over the shipped model."""
    return recipe | {"name": recipe["name"] + "-smoke"}
