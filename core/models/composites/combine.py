"""How an ensemble turns its members' probabilities into one: named, swappable rules.

`mean` is seed 004's plain average; `logistic` weighs members by a logistic regression on
their logits, fitted on a validation part only (never on the images it is judged on).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Combiner = Callable[[np.ndarray, dict[str, Any]], np.ndarray]
_RULES: dict[str, Combiner] = {}
EPS = 1e-4


def rule(name: str) -> Callable[[Combiner], Combiner]:
    def add(fn: Combiner) -> Combiner:
        _RULES[name] = fn
        return fn

    return add


def combine(member_probs: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """`member_probs`: members x classes (each member's probabilities, averaged over its
    augmentations, read in the ensemble's classes) -> classes."""
    name = spec.get("rule", "mean")
    if name not in _RULES:
        raise ValueError(f"unknown combination rule {name!r}; known: {', '.join(sorted(_RULES))}")
    out = _RULES[name](np.asarray(member_probs, np.float64), spec)
    return (out / out.sum()).astype(np.float32)


@rule("mean")
def _mean(p: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    return p.mean(0)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


@rule("logistic")
def _logistic(p: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    z = float(spec["intercept"]) + float(np.dot(np.asarray(spec["coef"], np.float64), logit(p[:, 1])))
    q = 1.0 / (1.0 + np.exp(-z))
    return np.array([1 - q, q])


def fit_logistic(positive_probs: np.ndarray, y: np.ndarray, c: float = 1.0) -> dict[str, Any]:
    """Weights over member logits (images x members) from one validation part."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=c, max_iter=1000).fit(logit(positive_probs), y)
    return {"rule": "logistic", "coef": [round(float(v), 6) for v in lr.coef_[0]], "intercept": round(float(lr.intercept_[0]), 6), "C": c}


def combine_rows(member_pos: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Binary positive scores for many images at once (images x members -> images)."""
    p = np.asarray(member_pos, np.float64)
    if spec.get("rule", "mean") == "mean":
        return p.mean(1)
    return np.array([combine(np.stack([1 - r, r], 1), spec)[1] for r in p])
