"""The table of model kinds, keyed on the card's `kind` (like timm's `@register_model`).

A builder turns a verified card into a ready model; composites (the hierarchy, ensembles)
load their members by name through the same `registry.load`, so a new kind is one
decorated function, not a branch in every caller. This table imports no kind: each kind's
module registers itself, and `core/models/__init__.py` imports them all (as timm's
`models/__init__.py` does), so the table is full whenever `core.models` is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

Builder = Callable[[dict[str, Any], str], Any]
FoldLoader = Callable[[dict[str, Any], int], Any]
_KINDS: dict[str, Builder] = {}
_COMPOSITE: set[str] = set()
_FOLD_LOADERS: dict[str, FoldLoader] = {}


def register_kind(name: str, *, composite: bool = False) -> Callable[[Builder], Builder]:
    def add(fn: Builder) -> Builder:
        _KINDS[name] = fn
        if composite:
            _COMPOSITE.add(name)
        return fn

    return add


def register_fold_loader(name: str) -> Callable[[FoldLoader], FoldLoader]:
    """How a kind rebuilds the model that fold f of its out-of-fold runs trained (fold 0 is
    the shipped one); ensembles score members' held-out parts with these."""

    def add(fn: FoldLoader) -> FoldLoader:
        _FOLD_LOADERS[name] = fn
        return fn

    return add


def fold_model(card: dict[str, Any], fold: int) -> Any | None:
    """The model trained with fold `fold` held out, or None when that run is not on this machine."""
    loader = _FOLD_LOADERS.get(kind_of(card))
    return loader(card, fold) if loader else None


def kind_of(card: dict[str, Any]) -> str:
    """The kind of a card or a recipe: its `kind:` field; those written before kinds existed
    (a task and stages) are plain classifiers, or the hierarchy when their task says so.
    Training's recipe kinds read the same rule."""
    if card.get("kind"):
        return str(card["kind"])
    return "hierarchy" if card.get("task") == "hierarchy" else "classifier"


def is_composite(card: dict[str, Any]) -> bool:
    return kind_of(card) in _COMPOSITE


def members(card: dict[str, Any]) -> list[str]:
    """Names of the models a composite is built from (empty for a leaf model)."""
    return list(card.get("members") or [v for k, v in card.items() if k in ("stage1", "stage2") and isinstance(v, str)])


def builder(card: dict[str, Any]) -> Builder:
    kind = kind_of(card)
    if kind not in _KINDS:
        from core.errors import ModelError

        raise ModelError(f"model {card['name']!r}: unknown kind {kind!r} (known: {', '.join(sorted(_KINDS))})")
    return _KINDS[kind]


def known_kinds() -> list[str]:
    return sorted(_KINDS)


def weights_files(card: dict[str, Any]) -> list[Path]:
    """Every weights file a leaf card names (some kinds have more than one)."""
    folder = Path(card["_folder"])
    files = [card["weights"]] + list(card.get("extra_weights", []))
    return [folder / w["file"] for w in files if w]
