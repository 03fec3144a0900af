"""Uncertainty with a guarantee: split-conformal prediction sets from out-of-fold scores.

A model's out-of-fold rows (every film scored by fold models that never saw its patient)
calibrate it: the non-conformity of a row is 1 − p(its true class), and at coverage 1 − α
an image's prediction set holds every class whose non-conformity is at most the
⌈(n + 1)(1 − α)⌉-th smallest calibration score. Under exchangeability the set holds the
true class with probability ≥ 1 − α. A set with both classes is *uncertain*; an empty set
means no class fits at that coverage. The old mark (spread across the threshold) flagged
268 of 322 films and told the user nothing; the spread stays, as a number.

`held_out` measures it honestly: each fold's rows get sets calibrated on the other folds
(patient-level folds), with a patient-level bootstrap interval of the coverage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from core.evaluation import resampled

DEFAULT_COVERAGE = 0.90


@dataclass(frozen=True)
class SplitConformal:
    """Calibration scores of one binary task: non-conformity 1 − p(true class) per row."""

    classes: tuple[str, str]
    scores: np.ndarray  # sorted

    @classmethod
    def fit(cls, y: np.ndarray, p_positive: np.ndarray, classes: Sequence[str]) -> "SplitConformal":
        y, p = np.asarray(y).astype(int), np.asarray(p_positive, dtype=float)
        return cls(tuple(classes), np.sort(np.where(y == 1, 1 - p, p)))

    def cutoff(self, coverage: float) -> float:
        """The non-conformity a class may have and still be in the set (inf: every class)."""
        n = len(self.scores)
        k = math.ceil((n + 1) * coverage)
        return float("inf") if k > n or n == 0 else float(self.scores[k - 1])

    def sets(self, p_positive: np.ndarray, coverage: float) -> np.ndarray:
        """(n, 2) booleans: class 0 / class 1 in each image's prediction set."""
        q = self.cutoff(coverage)
        p = np.asarray(p_positive, dtype=float)
        return np.stack([p <= q, 1 - p <= q], axis=1)  # non-conformity of class 0 is p, of class 1 is 1 − p

    def prediction_set(self, p_positive: float, coverage: float) -> tuple[str, ...]:
        inside = self.sets(np.array([p_positive]), coverage)[0]
        return tuple(c for c, keep in zip(self.classes, inside) if keep)


def uncertain(prediction_set: Sequence[str]) -> bool:
    return len(prediction_set) > 1


def held_out_sets(view: pd.DataFrame, classes: Sequence[str], coverage: float = DEFAULT_COVERAGE) -> np.ndarray:
    """(n, 2) booleans: each out-of-fold row's prediction set, calibrated on the other folds only."""
    inside = np.zeros((len(view), 2), bool)
    y = view["y"].to_numpy().astype(int)
    s = view["score"].to_numpy(float)
    folds = view["fold"].to_numpy()
    for f in np.unique(folds):
        out = folds == f
        inside[out] = SplitConformal.fit(y[~out], s[~out], classes).sets(s[out], coverage)
    return inside


def held_out(view: pd.DataFrame, classes: Sequence[str], coverage: float = DEFAULT_COVERAGE, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Out-of-fold rows (`y`, `score`, `fold`, `patient_id`): each fold's sets calibrated on
    the other folds; measured coverage (patient-bootstrap 95 % CI) and share of one-class sets."""
    inside = held_out_sets(view, classes, coverage)
    y = view["y"].to_numpy().astype(int)
    folds = view["fold"].to_numpy()
    covered = inside[np.arange(len(y)), y]
    single = inside.sum(1) == 1
    boots = resampled.patient_resamples(view["patient_id"].to_numpy(), n_boot, seed)
    lo, hi = resampled.interval(boots, lambda i: float(covered[i].mean()))
    return {"target": coverage, "images": int(len(y)), "folds": int(len(np.unique(folds))),
            "coverage": float(covered.mean()), "ci_low": lo, "ci_high": hi,
            "single_label_share": float(single.mean()), "uncertain_share": float((inside.sum(1) == 2).mean()),
            "empty_share": float((inside.sum(1) == 0).mean()),
            "single_label_accuracy": float(covered[single].mean()) if single.any() else float("nan")}


def for_card(card: dict[str, Any], task: str) -> SplitConformal | None:
    """The calibration of a model in a binary task from its committed out-of-fold rows (None
    without a complete out-of-fold run); re-read when the file changes."""
    from core.labels import space
    from core.evaluation.oof import OOF_FILE, complete

    if not complete(card) or not space(task).binary or task not in (card.get("oof") or {}):
        return None
    path = Path(card["_folder"]) / OOF_FILE
    if not path.exists():
        return None
    return _fitted(str(path), path.stat().st_mtime_ns, tuple(card["classes"]), task)


@lru_cache(maxsize=64)
def _fitted(path: str, mtime_ns: int, classes: tuple[str, ...], task: str) -> SplitConformal:
    from core.labels import space
    from core.evaluation.oof import oof_view

    view = oof_view(pd.read_csv(path), classes, task)
    return SplitConformal.fit(view["y"].to_numpy(), view["score"].to_numpy(), space(task).classes)
