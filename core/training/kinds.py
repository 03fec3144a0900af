"""The recipe kinds `python -m core train` knows: one registered trainer per kind.

As in timm's model registry, each trainer registers itself where it is defined
(`@register_kind`), and the command looks the recipe's kind up here; nothing else tests a
recipe's kind. A trainer takes the recipe and the options and returns the model folders it
wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from core.errors import UsageError
from core.models.kinds import kind_of
from core.training.options import TrainOptions

Trainer = Callable[[dict[str, Any], TrainOptions, Callable[[str], None]], list[Path]]



@dataclass(frozen=True)
class Kind:
    name: str
    train: Trainer
    required: tuple[str, ...]  # recipe keys the kind cannot do without
    summary: str
    on_ray: bool = False  # its epochs can run on Ray Train workers (`--address`)


_KINDS: dict[str, Kind] = {}  # filled by the trainer modules (`core.training.trainers` imports them all)


def register_kind(name: str, *, required: tuple[str, ...], summary: str, on_ray: bool = False) -> Callable[[Trainer], Trainer]:
    def wrap(fn: Trainer) -> Trainer:
        _KINDS[name] = Kind(name, fn, required, summary, on_ray)
        return fn

    return wrap


def kind_name(recipe: dict[str, Any]) -> str:
    """The recipe's kind: the same rule as a card's (`core.models.kinds.kind_of`)."""
    return kind_of(recipe)


def get_kind(name: str) -> Kind:
    if name not in _KINDS:
        raise UsageError(f"unknown recipe kind {name!r}; known kinds: {', '.join(sorted(_KINDS))}")
    return _KINDS[name]


def kinds() -> list[Kind]:
    """The registered trainers (all of them once `core.training.trainers` is imported)."""
    return [_KINDS[k] for k in sorted(_KINDS)]
