"""Deterministic, stratified, patient-level splits, and a loud leak check.

Images of one patient never straddle train / validation / test: both breasts of a
woman share anatomy and acquisition, so an image-level split would leak.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from core.errors import SplitLeakError, UsageError
from core.types import LABELS, Record

def _patient_strata(records: Sequence[Record]) -> tuple[np.ndarray, np.ndarray]:
    """Each image is stratified by its patient's most severe label, so groups stay whole."""
    worst: dict[str, int] = {}
    for r in records:
        worst[r.patient_id] = max(worst.get(r.patient_id, 0), LABELS.index(r.label))
    groups = np.array([r.patient_id for r in records])
    strata = np.array([worst[r.patient_id] for r in records])
    return groups, strata


def kfold(records: Sequence[Record], k: int = 5, seed: int = 0) -> list[np.ndarray]:
    """k patient-level, stratified folds: a list of k index arrays (one per fold)."""
    if k < 2 or k > len({r.patient_id for r in records}):
        raise UsageError(f"k-fold needs 2 <= k <= number of patients (got k={k})")
    groups, strata = _patient_strata(records)
    sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [test for _, test in sgkf.split(np.zeros(len(records)), strata, groups)]


def split_patients(records: Sequence[Record], seed: int = 0, k: int = 5) -> dict[str, str]:
    """image_id -> train | val | test: one fold test, one fold validation, the rest train (60/20/20)."""
    folds = kfold(records, k=k, seed=seed)
    assignment: dict[str, str] = {}
    for fold_index, fold in enumerate(folds):
        part = "test" if fold_index == 0 else "val" if fold_index == 1 else "train"
        for i in fold:
            assignment[records[i].image_id] = part
    check_no_leak(records, assignment)
    return assignment


def check_no_leak(records: Sequence[Record], assignment: dict[str, str]) -> None:
    """Raise SplitLeakError if any patient's images fall in more than one part."""
    parts: dict[str, set[str]] = {}
    for r in records:
        if r.image_id in assignment:
            parts.setdefault(r.patient_id, set()).add(assignment[r.image_id])
    leaks = {p: sorted(s) for p, s in parts.items() if len(s) > 1}
    if leaks:
        sample = ", ".join(f"{p}: {s}" for p, s in list(leaks.items())[:5])
        raise SplitLeakError(f"{len(leaks)} patient(s) appear in more than one split part ({sample})")
