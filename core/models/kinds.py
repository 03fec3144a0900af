"""The table of model kinds, keyed on the card's `kind` (like timm's `@register_model`).

A builder turns a verified card into a ready model; composites (the hierarchy, ensembles)
load their members by name through the same `registry.load`, so a new kind is one
decorated function, not a branch in every caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

Builder = Callable[[dict[str, Any], str], Any]
_KINDS: dict[str, Builder] = {}
_COMPOSITE: set[str] = set()


def register_kind(name: str, *, composite: bool = False) -> Callable[[Builder], Builder]:
    def add(fn: Builder) -> Builder:
        _KINDS[name] = fn
        if composite:
            _COMPOSITE.add(name)
        return fn

    return add


def kind_of(card: dict[str, Any]) -> str:
    """The card's kind; cards written before kinds existed are plain classifiers or hierarchies."""
    if card.get("kind"):
        return str(card["kind"])
    return "hierarchy" if card.get("task") == "hierarchy" else "classifier"


def is_composite(card: dict[str, Any]) -> bool:
    _import_builders()
    return kind_of(card) in _COMPOSITE


def members(card: dict[str, Any]) -> list[str]:
    """Names of the models a composite is built from (empty for a leaf model)."""
    return list(card.get("members") or [v for k, v in card.items() if k in ("stage1", "stage2") and isinstance(v, str)])


def builder(card: dict[str, Any]) -> Builder:
    _import_builders()
    kind = kind_of(card)
    if kind not in _KINDS:
        from ..errors import ModelError

        raise ModelError(f"model {card['name']!r}: unknown kind {kind!r} (known: {', '.join(sorted(_KINDS))})")
    return _KINDS[kind]


def known_kinds() -> list[str]:
    _import_builders()
    return sorted(_KINDS)


def _import_builders() -> None:
    """Each kind's module registers itself on import; importing them imports no framework."""
    from . import base, dense_patch, hierarchy, segmenter  # noqa: F401


def weights_files(card: dict[str, Any]) -> list[Path]:
    """Every weights file a leaf card names (some kinds have more than one)."""
    folder = Path(card["_folder"])
    files = [card["weights"]] + list(card.get("extra_weights", []))
    return [folder / w["file"] for w in files if w]
