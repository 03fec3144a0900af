"""Which actor pools score which models: one pool per model, one framework per process.

A leaf model or a composite whose members share a framework is one step. A composite that
mixes torch and Keras (the hierarchy: a torch stage 1, a Keras stage 2) is split into one
step per stage, so no process ever imports both frameworks on the scoring path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from core.errors import MammoError, ModelError, UsageError
from core.labels import tasks_for
from core.reports.leaderboard import task_view
from core.models import kinds, registry
from core.models.card import default_models_dir

@dataclass(frozen=True)
class Step:
    """One actor pool's job: the scored model, the model the actor loads, its framework, its role."""

    model: str
    load: str
    framework: str
    role: str = "whole"  # whole | stage1 | stage2 (a split composite)

    @property
    def key(self) -> str:
        return f"{self.model}::{self.role}"


@dataclass(frozen=True)
class ModelInfo:
    """What the rows of one model need from its card (so the output is self-contained)."""

    name: str
    task: str
    classes: tuple[str, ...]
    thresholds: dict[str, float | None]  # task -> the card's validation-chosen threshold there
    scored_maps: bool  # its maps carry image scores (patch scores, segmentation): ask for them


@dataclass(frozen=True)
class Plan:
    models_dir: str
    models: tuple[ModelInfo, ...]
    steps: tuple[Step, ...]

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    @property
    def classes(self) -> list[str]:
        """Every class any chosen model predicts, in label order (the probability columns)."""
        order = ("normal", "lesion", "benign", "malignant")
        seen = {c for m in self.models for c in m.classes}
        return [c for c in order if c in seen] + sorted(seen - set(order))


def frameworks(card: dict[str, Any], root: Path) -> set[str]:
    """The frameworks a model's process must import (a composite: its members')."""
    if not kinds.is_composite(card):
        return {str(card.get("framework"))}
    out = {str(card["framework"])} if card.get("framework") not in (None, "composite") else set()
    for m in kinds.members(card):
        out |= frameworks(registry.card(m, root), root)
    return out


def _has_score_rule(card: dict[str, Any], root: Path) -> bool:
    """A card naming a score rule (its own or a member's) has maps that carry an image score;
    a saliency map has none and would cost a Grad-CAM pass, so it is not asked for."""
    if card.get("score_rule") or card.get("score_rules"):
        return True
    return any(_has_score_rule(registry.card(m, root), root) for m in kinds.members(card))


def available_names(models_dir: str | Path | None = None) -> list[str]:
    """Every registered model whose weights are in this checkout (what `--model all` scores)."""
    out = []
    for c in registry.discover(models_dir):
        try:
            ok = registry.weights_available(c)
        except MammoError:
            ok = False
        if ok:
            out.append(c["name"])
    return out


def model_info(card: dict[str, Any], root: Path) -> ModelInfo:
    classes = tuple(card["classes"])
    thresholds = {t: task_view(card, t).get("threshold") for t in tasks_for(classes)}
    return ModelInfo(card["name"], str(card["task"]), classes, thresholds, _has_score_rule(card, root))


def steps_for(card: dict[str, Any], root: Path) -> list[Step]:
    fws = frameworks(card, root)
    kind = kinds.entry(kinds.kind_of(card))
    roles = kind.stage_roles if kind else ()  # a composite whose stages can run in separate processes
    if len(fws) > 1 and roles:
        return [Step(card["name"], card[role], next(iter(frameworks(registry.card(card[role], root), root))), role) for role in roles]
    return [Step(card["name"], card["name"], "+".join(sorted(fws)))]


def make_plan(names: Sequence[str], models_dir: str | Path | None = None) -> Plan:
    """The steps that score `names` ("all": every model whose weights are here)."""
    root = Path(models_dir) if models_dir else default_models_dir()
    chosen = available_names(root) if list(names) == ["all"] else list(dict.fromkeys(names))
    if not chosen:
        raise ModelError("no model to score: none has its weights in this checkout")
    infos, steps = [], []
    for n in chosen:
        card = registry.card(n, root)  # ModelError (exit 4) for an unknown name
        if not registry.weights_available(card):
            raise ModelError(f"model {n!r}: its weights are not in this checkout")
        infos.append(model_info(card, root))
        steps.extend(steps_for(card, root))
    if not steps:
        raise UsageError("no model chosen")
    return Plan(str(root), tuple(infos), tuple(steps))
