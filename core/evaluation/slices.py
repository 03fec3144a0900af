"""Where a model fails: out-of-fold figures per slice of the data (tissue density, lesion
class, side, view, data set), each with a patient-level bootstrap interval, and the paired
difference of two models per slice.

A model's out-of-fold rows carry no record facts; they are joined to the data set's records
by image_id. Every film is in exactly one density / side / view / data-set slice. Lesion
class is different: a normal film has none, yet a lesion-class slice needs negatives, so a
lesion-class slice is the films of that class **plus every film with no lesion class** (the
normals, the negatives): its sensitivity is that class's, its specificity the normals'. A film
with two lesion classes is in both slices. In stage 2 (lesion films only) a class's slice is
its benign and malignant films.

The decision threshold is the one each film was judged at out of fold: the `threshold`
column (its fold model's validation threshold) where the rows have one, else the card's.
A slice with fewer than 10 positives or 10 negatives is `too_small`: its figures are given
but say little, and tables never rank on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from core.evaluation import resampled
from core.evaluation.oof import oof_view
from core.labels import space
from core.types import Record

MIN_PER_CLASS = 10  # fewer positives or negatives than this: the slice is too small to say anything
N_BOOT = 1000
FACETS: tuple[str, ...] = ("density", "lesion class", "side", "view", "data set")
DENSITY_TEXT = {("mias", "F"): "fatty", ("mias", "G"): "fatty-glandular", ("mias", "D"): "dense-glandular"}
LESION_TEXT = {"CALC": "calcification", "CIRC": "circumscribed mass", "SPIC": "spiculated mass", "MISC": "ill-defined mass",
               "ARCH": "architectural distortion", "ASYM": "asymmetry"}
FIGURES = ("roc_auc", "sensitivity", "specificity")


def membership(records: Iterable[Record]) -> pd.DataFrame:
    """One row per film: image_id, data set, density, side, view and its lesion classes
    ('|'-joined; '' for a normal film). MIAS lesion classes are its codes (CALC, CIRC, ...);
    other data sets give their lesion kind (mass, calcification)."""
    rows = []
    for r in records:
        classes = sorted({(l.detail or l.kind) for l in r.lesions if (l.detail or l.kind)})
        rows.append({"image_id": r.image_id, "dataset": r.dataset, "density": None if r.density is None else str(r.density),
                     "side": r.side, "view": r.view, "lesion_classes": "|".join(classes)})
    return pd.DataFrame(rows, columns=["image_id", "dataset", "density", "side", "view", "lesion_classes"]).drop_duplicates("image_id")


def card_threshold(card: dict[str, Any], task: str) -> float | None:
    """The card's validation threshold in a binary task (its own, or its reading's in `views`)."""
    view = card if tuple(card["classes"]) == space(task).classes else (card.get("views") or {}).get(task, {})
    t = view.get("threshold")
    return None if t is None else float(t)


def scored(card: dict[str, Any], oof: pd.DataFrame, task: str) -> pd.DataFrame:
    """The model's out-of-fold rows in a binary task: image_id, patient_id, fold, y, score and
    the threshold each film was judged at (the rows' own fold threshold, else the card's)."""
    view = oof_view(oof, card["classes"], task).reset_index(drop=True)
    own = tuple(card["classes"]) == space(task).classes
    column = "threshold" if own else f"{task}_threshold"  # a hierarchy's stage-1 rows carry `stage1_threshold`
    t = card_threshold(card, task)
    view["threshold"] = np.nan if t is None else t
    if column in oof.columns:
        from core.evaluation.judge import view_frame

        rows = view_frame(oof.assign(split="oof"), card["classes"], task).reset_index(drop=True)  # oof_view's rows, in its order
        view["threshold"] = rows[column].astype(float).fillna(view["threshold"]).to_numpy()
    return view


@dataclass(frozen=True)
class SliceRule:
    facet: str
    value: str  # the slice's own value (a code: F, CALC, L, mias)
    label: str  # for people


def slice_rules(joined: pd.DataFrame) -> list[SliceRule]:
    """The slices the joined rows can be cut into, facet by facet (data set only when there are several)."""
    out: list[SliceRule] = []
    for dataset, density in sorted({(d, x) for d, x in zip(joined["dataset"], joined["density"]) if x is not None and x == x}, key=str):
        out.append(SliceRule("density", density, DENSITY_TEXT.get((dataset, density), f"density {density}")))
    classes = sorted({c for v in joined["lesion_classes"] for c in str(v).split("|") if c})
    out += [SliceRule("lesion class", c, LESION_TEXT.get(c, c)) for c in classes]
    for facet, column in (("side", "side"), ("view", "view")):
        out += [SliceRule(facet, v, {"L": "left", "R": "right"}.get(v, v)) for v in sorted({v for v in joined[column] if v is not None and v == v})]
    datasets = sorted(set(joined["dataset"]))
    if len(datasets) > 1:
        out += [SliceRule("data set", d, d) for d in datasets]
    return out


def in_slice(joined: pd.DataFrame, rule: SliceRule) -> np.ndarray:
    """Rows of one slice; a lesion-class slice also holds every film with no lesion class (its negatives)."""
    if rule.facet == "lesion class":
        classes = joined["lesion_classes"].fillna("").astype(str).tolist()
        return np.array([c == "" or rule.value in c.split("|") for c in classes], dtype=bool)
    column = {"density": "density", "side": "side", "view": "view", "data set": "dataset"}[rule.facet]
    return (joined[column].astype(str) == rule.value).to_numpy()


def join(view: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """Out-of-fold rows with their films' slice facts (rows without a record are dropped)."""
    return view.merge(members, on="image_id", how="inner")


@lru_cache(maxsize=256)
def _weights(patients: tuple, n_boot: int, seed: int) -> np.ndarray:
    """The patient resamples of one set of rows, shared by every model scored on those rows."""
    w = resampled.resample_weights(np.asarray(patients, dtype=object), n_boot, seed)
    w.setflags(write=False)
    return w


def weights(patients: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    return _weights(tuple(patients.tolist()), n_boot, seed)


def _figures(y: np.ndarray, s: np.ndarray, t: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    called = s >= t
    return {"roc_auc": resampled.weighted_roc_auc(y, s, w), "sensitivity": resampled.weighted_rate(called, y == 1, w),
            "specificity": resampled.weighted_rate(~called, y == 0, w)}


def _point(y: np.ndarray, s: np.ndarray, t: np.ndarray) -> dict[str, float]:
    called = s >= t
    return {"roc_auc": resampled.roc_auc(y, s), "sensitivity": float(called[y == 1].mean()) if (y == 1).any() else float("nan"),
            "specificity": float((~called[y == 0]).mean()) if (y == 0).any() else float("nan")}


def slice_figures(joined: pd.DataFrame, rule: SliceRule, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """One slice of one model: n positives / negatives, ROC-AUC (the Mann-Whitney form, equal to
    scikit-learn's and held to it by tests/test_judging.py; scikit-learn's input checks cost more
    than the figure on 200 slices), sensitivity
    and specificity at each film's threshold, each with its patient-bootstrap 95 % interval."""
    rows = joined[in_slice(joined, rule)]
    y, s, t = rows["y"].to_numpy(int), rows["score"].to_numpy(float), rows["threshold"].to_numpy(float)
    w = weights(rows["patient_id"].to_numpy(), n_boot, seed)
    boots = _figures(y, s, t, w)
    point = _point(y, s, t)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    out: dict[str, Any] = {"facet": rule.facet, "slice": rule.value, "label": rule.label, "positives": n_pos, "negatives": n_neg,
                           "patients": int(rows["patient_id"].nunique()), "too_small": n_pos < MIN_PER_CLASS or n_neg < MIN_PER_CLASS}
    for k in FIGURES:
        lo, hi = resampled.percentile_ci(boots[k])
        out[k] = {"value": point[k], "ci_low": lo, "ci_high": hi}
    return out


def model_slices(joined: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0, rules: Sequence[SliceRule] | None = None) -> list[dict[str, Any]]:
    """Every slice of one model's joined out-of-fold rows."""
    return [slice_figures(joined, r, n_boot, seed) for r in (rules if rules is not None else slice_rules(joined))]


def paired_slices(a: pd.DataFrame, b: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> list[dict[str, Any]]:
    """Per slice, figure(a) − figure(b) on the films both scored, the same patient resamples
    for both (paired), with the 95 % interval of the difference."""
    both = a.merge(b[["image_id", "score", "threshold"]], on="image_id", suffixes=("_a", "_b"))
    out = []
    for rule in slice_rules(both):
        rows = both[in_slice(both, rule)]
        y = rows["y"].to_numpy(int)
        w = weights(rows["patient_id"].to_numpy(), n_boot, seed)
        fa = _figures(y, rows["score_a"].to_numpy(float), rows["threshold_a"].to_numpy(float), w)
        fb = _figures(y, rows["score_b"].to_numpy(float), rows["threshold_b"].to_numpy(float), w)
        pa = _point(y, rows["score_a"].to_numpy(float), rows["threshold_a"].to_numpy(float))
        pb = _point(y, rows["score_b"].to_numpy(float), rows["threshold_b"].to_numpy(float))
        n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
        entry: dict[str, Any] = {"facet": rule.facet, "slice": rule.value, "label": rule.label, "positives": n_pos, "negatives": n_neg,
                                 "too_small": n_pos < MIN_PER_CLASS or n_neg < MIN_PER_CLASS}
        for k in FIGURES:
            lo, hi = resampled.percentile_ci(fa[k] - fb[k])
            entry[k] = {"value": pa[k] - pb[k], "ci_low": lo, "ci_high": hi}
        out.append(entry)
    return out
