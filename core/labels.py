"""Every label space in one place: classes, truth rule, positive event, title.

A model declares the space it predicts in (`card["task"]`); a 3-class prediction can
also be judged as stage 1 (lesion = 1 - p(normal)) and stage 2 (malignant share of the
lesion mass), so a lesion model that outputs three classes is ranked in all three tasks
through one rule here instead of `if task == ...` in every caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from core.types import Record


@dataclass(frozen=True)
class LabelSpace:
    name: str
    classes: tuple[str, ...]
    title: str
    positive: str  # the class whose probability is the score of a binary task
    truth: Callable[[Record], str | None]
    binary: bool = True

    @property
    def headline(self) -> str:
        """The figure that ranks models in this space: ROC-AUC of the positive class for a
        binary task, the decisions' macro-F1 for several classes."""
        return "roc_auc" if self.binary else "macro_f1"

    @property
    def decision_figures(self) -> tuple[tuple[str, str], ...]:
        """(figure key, short label) of the decisions at the threshold, as tables print them."""
        if self.binary:
            return (("sensitivity", "sens"), ("specificity", "spec"))
        return (("macro_f1", "macro-F1"), ("balanced_accuracy", "bal. acc."))


def _stage1(r: Record) -> str:
    return "normal" if r.label == "normal" else "lesion"


def _stage2(r: Record) -> str | None:
    return None if r.label == "normal" else r.label


def _flat3(r: Record) -> str:
    return r.label


SPACES: dict[str, LabelSpace] = {
    "stage1": LabelSpace("stage1", ("normal", "lesion"), "Stage 1 — normal vs lesion", "lesion", _stage1),
    "stage2": LabelSpace("stage2", ("benign", "malignant"), "Stage 2 — benign vs malignant (lesion images)", "malignant", _stage2),
    "flat3": LabelSpace("flat3", ("normal", "benign", "malignant"), "3 classes — normal / benign / malignant", "malignant", _flat3, binary=False),
    "segmentation": LabelSpace("segmentation", ("normal", "lesion"), "Segmentation — lesion map (image score: stage 1)", "lesion", _stage1),
}
# the tasks models are ranked in, in the order tables list them
TASK_ORDER: tuple[str, ...] = ("stage1", "stage2", "flat3")
# a model task that is not a label space, and the space its rows are judged in
JUDGED_AS: dict[str, str] = {"hierarchy": "flat3", "segmentation": "stage1"}
# spaces whose probabilities can be read in another space: source -> targets
VIEWS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("normal", "benign", "malignant"): ("flat3", "stage1", "stage2"),
    ("normal", "lesion"): ("stage1",),
    ("benign", "malignant"): ("stage2",),
}


def space(name: str) -> LabelSpace:
    if name not in SPACES:
        raise KeyError(f"unknown label space {name!r}; known: {', '.join(SPACES)}")
    return SPACES[name]


def judged_as(task: str) -> str:
    """The label space a model's rows are judged in: its own, the segmentation map as stage 1,
    the hierarchy as 3 classes."""
    return JUDGED_AS.get(task, task)


def task_classes(task: str) -> tuple[str, ...]:
    return space(task).classes


def task_truth(task: str, record: Record) -> str | None:
    """The record's class in a task, or None when the record is not part of it."""
    return space(task).truth(record)


def tasks_for(classes: Sequence[str]) -> tuple[str, ...]:
    """Every task a model with these output classes can be judged in."""
    return VIEWS.get(tuple(classes), ())


def project(probs: np.ndarray, classes: Sequence[str], task: str) -> np.ndarray:
    """Probabilities (N x len(classes)) read in `task`'s classes (N x len(task classes))."""
    probs = np.atleast_2d(np.asarray(probs, np.float64))
    classes = tuple(classes)
    target = space(task).classes
    if classes == target:
        return probs
    idx = {c: i for i, c in enumerate(classes)}
    if classes == ("normal", "benign", "malignant"):
        if task == "stage1":
            return np.stack([probs[:, 0], 1 - probs[:, 0]], 1)
        if task == "stage2":
            lesion = probs[:, 1] + probs[:, 2]
            share = np.divide(probs[:, 2], lesion, out=np.full(len(probs), 0.5), where=lesion > 0)
            return np.stack([1 - share, share], 1)
    if task == "stage1" and set(classes) == {"normal", "lesion"}:
        return probs[:, [idx["normal"], idx["lesion"]]]
    raise ValueError(f"classes {classes} cannot be read as task {task!r}")
