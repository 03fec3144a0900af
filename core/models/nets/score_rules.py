"""Named rules that turn a map on the image grid into one image score.

One swappable part instead of hard-coded maxima: the training code chooses a rule on
validation, writes its name into the card, and every prediction applies that rule to
the very map it returns, so a map always reproduces its image score.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

ScoreRule = Callable[[np.ndarray], float]
_RULES: dict[str, Callable[..., float]] = {}


def _rule(name: str):
    def register(fn: Callable[..., float]) -> Callable[..., float]:
        _RULES[name] = fn
        return fn

    return register


@_rule("max")
def _max(values: np.ndarray) -> float:
    return float(np.max(values)) if values.size else 0.0


@_rule("top_area_mean")
def _top_area_mean(values: np.ndarray, area: float = 4096.0) -> float:
    """Mean of the `area` hottest pixels: a lesion-sized region, not a single pixel."""
    flat = values.ravel()
    k = int(min(max(1, round(area)), flat.size))
    # A map is mostly zeros outside the breast, and ties make `np.partition` ~20x slower:
    # the hottest `k` are among the positive values when there are k of them (a NaN, which
    # `np.partition` ranks highest and so makes the score NaN, takes the full path below).
    hot = flat[flat > 0]
    if hot.size >= k and not np.isnan(flat.max()):
        return float(np.partition(hot, hot.size - k)[hot.size - k :].mean())
    return float(np.partition(flat, flat.size - k)[flat.size - k :].mean())


@_rule("mean")
def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else 0.0


def rule_names() -> list[str]:
    return sorted(_RULES)


def get_rule(spec: str) -> ScoreRule:
    """'max', 'mean' or 'top_area_mean:4096' (argument after the colon)."""
    name, _, arg = spec.partition(":")
    if name not in _RULES:
        raise ValueError(f"unknown score rule {name!r}; known: {', '.join(rule_names())}")
    fn = _RULES[name]
    if arg:
        value = float(arg)
        return lambda values: fn(values, value)
    return fn


def candidate_rules(scale: float = 1.0) -> list[str]:
    """The rules a training run compares on validation (areas in pixels of the map grid)."""
    return ["max", f"top_area_mean:{int(4096 * scale)}", f"top_area_mean:{int(16384 * scale)}"]


def rescaled(spec: str, area_scale: float) -> str:
    """The same rule on a grid whose pixel area is `area_scale` times smaller (an area
    argument grows with it; `max` and `mean` do not change)."""
    name, _, arg = spec.partition(":")
    return f"{name}:{int(round(float(arg) * area_scale))}" if arg else name
