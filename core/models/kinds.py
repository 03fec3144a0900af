"""The one table of kinds, keyed on a card's or a recipe's `kind` (like timm's `@register_model`).

An entry says everything the code asks of a kind: how serving builds a model from its
verified card (`build`), whether it is a composite of other models, how a fold run of it is
rebuilt (`fold_loader`, for ensembles' held-out scores), and how training makes it
(`train`, its required recipe keys, whether its epochs run on Ray Train). Serving, packing
and `python -m core train` all read this table; no caller tests a kind's name.

This module imports no kind. Each kind's module registers itself: `core/models/__init__.py`
imports the model kinds (as timm's `models/__init__.py` does), so their builders are here
whenever `core.models` is imported; `core.training.trainers` imports the trainers (they
import torch), which `core.training.train_recipe` does before it looks a recipe's kind up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

Builder = Callable[[dict[str, Any], str], Any]
FoldLoader = Callable[[dict[str, Any], int], Any]
Trainer = Callable[..., list[Path]]  # (recipe, TrainOptions, log) -> the model folders written


@dataclass(frozen=True)
class Kind:
    name: str
    build: Builder | None = None  # card -> ready model (a model kind)
    composite: bool = False  # built from other registered models, by name
    stage_roles: tuple[str, ...] = ()  # card keys of a composite's stages that can run in separate processes
    fold_loader: FoldLoader | None = None  # (card, fold) -> the model fold f trained, or None
    train: Trainer | None = None  # recipe -> model folders (a recipe kind)
    required: tuple[str, ...] = ()  # recipe keys the trainer cannot do without
    summary: str = ""
    on_ray: bool = False  # its epochs can run on Ray Train workers (`--address`)


_TABLE: dict[str, Kind] = {}


def _update(name: str, **fields: Any) -> None:
    _TABLE[name] = replace(_TABLE.get(name) or Kind(name), **fields)


def register_kind(name: str, *, composite: bool = False, stage_roles: tuple[str, ...] = ()) -> Callable[[Builder], Builder]:
    """How serving builds a model of this kind from its card."""

    def add(fn: Builder) -> Builder:
        _update(name, build=fn, composite=composite, stage_roles=tuple(stage_roles))
        return fn

    return add


def register_fold_loader(name: str) -> Callable[[FoldLoader], FoldLoader]:
    """How a kind rebuilds the model that fold f of its out-of-fold runs trained (fold 0 is
    the shipped one); ensembles score members' held-out parts with these."""

    def add(fn: FoldLoader) -> FoldLoader:
        _update(name, fold_loader=fn)
        return fn

    return add


def register_trainer(name: str, *, required: tuple[str, ...], summary: str, on_ray: bool = False) -> Callable[[Trainer], Trainer]:
    """How `python -m core train` makes a model of this (recipe) kind."""

    def add(fn: Trainer) -> Trainer:
        _update(name, train=fn, required=tuple(required), summary=summary, on_ray=on_ray)
        return fn

    return add


def kind_of(card: dict[str, Any]) -> str:
    """The kind of a card or a recipe: its `kind:` field; those written before kinds existed
    (a task and stages) are plain classifiers, or the hierarchy when their task says so."""
    if card.get("kind"):
        return str(card["kind"])
    return "hierarchy" if card.get("task") == "hierarchy" else "classifier"


def entry(name: str) -> Kind | None:
    return _TABLE.get(name)


def entries() -> list[Kind]:
    return [_TABLE[k] for k in sorted(_TABLE)]


def fold_model(card: dict[str, Any], fold: int) -> Any | None:
    """The model trained with fold `fold` held out, or None when that run is not on this machine."""
    kind = _TABLE.get(kind_of(card))
    return kind.fold_loader(card, fold) if kind and kind.fold_loader else None


def is_composite(card: dict[str, Any]) -> bool:
    kind = _TABLE.get(kind_of(card))
    return bool(kind and kind.composite)


def members(card: dict[str, Any]) -> list[str]:
    """Names of the models a composite is built from (empty for a leaf model)."""
    return list(card.get("members") or [v for k, v in card.items() if k in ("stage1", "stage2") and isinstance(v, str)])


def builder(card: dict[str, Any]) -> Builder:
    kind = _TABLE.get(kind_of(card))
    if kind is None or kind.build is None:
        from core.errors import ModelError

        raise ModelError(f"model {card['name']!r}: unknown kind {kind_of(card)!r} (known: {', '.join(known_kinds())})")
    return kind.build


def known_kinds() -> list[str]:
    """The model kinds serving can build."""
    return sorted(k for k, v in _TABLE.items() if v.build is not None)


def weights_files(card: dict[str, Any]) -> list[Path]:
    """Every weights file a leaf card names (some kinds have more than one)."""
    folder = Path(card["_folder"])
    files = [card["weights"]] + list(card.get("extra_weights", []))
    return [folder / w["file"] for w in files if w]
