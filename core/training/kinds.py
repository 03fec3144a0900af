"""The recipe kinds `python -m core train` knows, read from the one kind table.

Each trainer registers itself where it is defined (`@register_kind`), into
`core.models.kinds`, the table serving reads too; `core.training.trainers` imports every
trainer module and the command looks the recipe's kind up here. Nothing else tests a
recipe's kind. A trainer takes the recipe and the options and returns the model folders it
wrote.
"""

from __future__ import annotations

from typing import Any

from core.errors import UsageError
from core.models import kinds as table
from core.models.kinds import Kind, kind_of

register_kind = table.register_trainer


def kind_name(recipe: dict[str, Any]) -> str:
    """The recipe's kind: the same rule as a card's (`core.models.kinds.kind_of`)."""
    return kind_of(recipe)


def get_kind(name: str) -> Kind:
    kind = table.entry(name)
    if kind is None or kind.train is None:
        raise UsageError(f"unknown recipe kind {name!r}; known kinds: {', '.join(k.name for k in kinds())}")
    return kind


def kinds() -> list[Kind]:
    """The registered trainers (all of them once `core.training.trainers` is imported)."""
    return [k for k in table.entries() if k.train is not None]
