"""The recipe kinds `python -m core train` knows: one registered trainer per kind.

As in timm's model registry, each trainer registers itself where it is defined
(`@register_kind`), and the command looks the recipe's kind up here; nothing else tests a
recipe's kind. A trainer takes the recipe and the options and returns the model folders it
wrote.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import UsageError
from .options import TrainOptions

Trainer = Callable[[dict[str, Any], TrainOptions, Callable[[str], None]], list[Path]]

# modules that register kinds, imported on the first lookup (they import torch)
_MODULES = ("classifier", "patch_dense", "segmentation", "map_top", "built_from_members")


@dataclass(frozen=True)
class Kind:
    name: str
    train: Trainer
    required: tuple[str, ...]  # recipe keys the kind cannot do without
    summary: str
    on_ray: bool = False  # its epochs can run on Ray Train workers (`--address`)


_KINDS: dict[str, Kind] = {}
_LOADED = False  # a module imported on its own registers only its kind: load them all once


def register_kind(name: str, *, required: tuple[str, ...], summary: str, on_ray: bool = False) -> Callable[[Trainer], Trainer]:
    def wrap(fn: Trainer) -> Trainer:
        _KINDS[name] = Kind(name, fn, required, summary, on_ray)
        return fn

    return wrap


def kind_name(recipe: dict[str, Any]) -> str:
    """The recipe's kind: its `kind:` field; recipes of the original format (a task and
    stages) are whole-image classifiers, or the hierarchy when their task says so."""
    if recipe.get("kind"):
        return str(recipe["kind"])
    return "hierarchy" if recipe.get("task") == "hierarchy" else "classifier"


def get_kind(name: str) -> Kind:
    global _LOADED
    if not _LOADED:
        for module in _MODULES:
            importlib.import_module(f"{__package__}.{module}")
        _LOADED = True
    if name not in _KINDS:
        raise UsageError(f"unknown recipe kind {name!r}; known kinds: {', '.join(sorted(_KINDS))}")
    return _KINDS[name]


def kinds() -> list[Kind]:
    get_kind("classifier")
    return [_KINDS[k] for k in sorted(_KINDS)]
