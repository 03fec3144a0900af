"""A threshold and a calibration fitted on a user's labelled data, judged out of fold.

Given a binary model's scored rows on a labelled data set (patient_id, truth 0/1, the
positive class's probability), `cross_validate` fits a calibration (Platt: a logistic
regression on the logit of the score, with Platt's smoothed targets and a slope that is never
negative; or isotonic) and the
threshold (Youden's J, `metrics.choose_threshold`, the rule a card's threshold follows) on
the training parts of a patient-grouped, stratified K-fold split, and judges the held-out
parts: ECE, Brier, sensitivity and specificity before (the model as shipped, at its card's
threshold) and after, with patient-bootstrap 95 % intervals (`resampled.patient_resamples`).
`fit_profile` then fits the calibration and threshold on every row: a `CalibrationProfile`,
a small JSON document whose `apply` is numpy only, so applying it where an upload is
served imports no scikit-learn (scikit-learn is imported inside the fitting functions).

Rows of one class, or too few patients of a class, raise `CalibrationError`; its message
names the problem, never a path.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from core.errors import CalibrationError
from core.evaluation import resampled
from core.evaluation.metrics import choose_threshold

METHODS: dict[str, str] = {"platt": "Platt scaling", "isotonic": "isotonic regression"}
MIN_PATIENTS = 5  # patients of each class, at the least (and the most folds)
N_SPLITS = 5
ECE_BINS = 10
EPS = 1e-6
PROFILE_KIND = "mammo-calibration-profile"
PROFILE_VERSION = 1
FIGURES = ("ece", "brier", "sensitivity", "specificity")
NAN = float("nan")


# --------------------------------------------------------------------------- rows
def binary_rows(frame: pd.DataFrame, positive: str, score_column: str | None = None) -> pd.DataFrame:
    """A task view's rows (columns image_id, patient_id, truth, p_<class>) as the rows this
    module fits on: image_id, patient_id (text), y (1 = `positive`), score."""
    col = score_column or f"p_{positive}"
    out = pd.DataFrame({"image_id": frame["image_id"].astype(str).to_numpy(), "patient_id": frame["patient_id"].astype(str).to_numpy(),
                        "y": (frame["truth"] == positive).astype(int).to_numpy(), "score": pd.to_numeric(frame[col], errors="coerce").to_numpy(float)})
    return out[np.isfinite(out["score"])].reset_index(drop=True)


def check_rows(rows: pd.DataFrame, classes: Sequence[str] = ("negative", "positive"), min_patients: int = MIN_PATIENTS) -> None:
    """CalibrationError unless the rows hold both classes with at least `min_patients` patients each."""
    if rows.empty:
        raise CalibrationError("no scored film with a known class: nothing to fit a threshold or a calibration on")
    y = rows["y"].to_numpy().astype(int)
    present = sorted(set(y.tolist()))
    if len(present) < 2:
        raise CalibrationError(f"the labelled films hold one class only (every film is {classes[present[0]]}): a threshold and a "
                               "calibration need films of both classes")
    pos = rows.loc[y == 1, "patient_id"].nunique()
    neg = rows.loc[y == 0, "patient_id"].nunique()
    if min(pos, neg) < min_patients:
        raise CalibrationError(f"too few patients: {neg} with a {classes[0]} film and {pos} with a {classes[1]} film; at least "
                               f"{min_patients} of each are needed for a patient-level cross-validation")


def rows_digest(rows: pd.DataFrame) -> str:
    """SHA-256 (first 16 hex digits) of the sorted (image id, truth) pairs the profile was fitted on."""
    lines = sorted(f"{i}\t{int(y)}" for i, y in zip(rows["image_id"].astype(str), rows["y"]))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- calibrators
def logit(score: np.ndarray) -> np.ndarray:
    s = np.clip(np.asarray(score, dtype=float), EPS, 1 - EPS)
    return np.log(s / (1 - s))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), without overflow


def apply_params(method: str, params: dict[str, Any], score: np.ndarray) -> np.ndarray:
    """A fitted calibration on scores, in numpy only."""
    s = np.asarray(score, dtype=float)
    if method == "platt":
        return _sigmoid(params["a"] * logit(s) + params["b"])
    if method == "isotonic":
        return np.interp(s, np.asarray(params["x"], float), np.asarray(params["y"], float))  # clipped at both ends, as scikit-learn's
    raise CalibrationError("calibration method: unknown")


def platt_model(score: np.ndarray, y: np.ndarray):
    """scikit-learn's LogisticRegression on the logit of the score, fitted to Platt's smoothed
    targets (each row twice, as 1 with weight t and as 0 with weight 1 - t), so separable rows
    still give a finite slope."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y).astype(int)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    x = logit(score)[:, None]
    X = np.vstack([x, x])
    target = np.r_[np.ones(len(y), int), np.zeros(len(y), int)]
    weight = np.r_[t, 1 - t]
    return LogisticRegression(C=1e6, max_iter=1000).fit(X, target, sample_weight=weight)


def isotonic_model(score: np.ndarray, y: np.ndarray):
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(np.asarray(score, float), np.asarray(y, float))


def fit_params(method: str, score: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The calibration's parameters: Platt's slope and intercept on the logit, or the
    isotonic fit's breakpoints."""
    if method == "platt":
        m = platt_model(score, y)
        a, b = float(m.coef_[0, 0]), float(m.intercept_[0])
        if a < 0:  # the scores rank the other way on these rows: a calibration never flips a model (isotonic cannot either),
            y = np.asarray(y).astype(int)  # so it gives every film the class share (Platt's smoothed prior)
            a, b = 0.0, float(np.log((y.sum() + 1) / (len(y) - y.sum() + 1)))
        return {"a": a, "b": b}
    if method == "isotonic":
        m = isotonic_model(score, y)
        return {"x": [float(v) for v in m.X_thresholds_], "y": [float(v) for v in m.y_thresholds_]}
    raise CalibrationError(f"calibration method: unknown (one of {', '.join(METHODS)})")


# --------------------------------------------------------------------------- figures
def ece(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the film-weighted mean |observed - predicted| over equal-width bins."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    if len(y) == 0:
        return NAN
    b = np.minimum((p * bins).astype(int), bins - 1)
    n = np.bincount(b, minlength=bins)
    gap = np.abs(np.bincount(b, weights=y, minlength=bins) - np.bincount(b, weights=p, minlength=bins))
    return float(gap.sum() / len(y)) if n.sum() else NAN


def reliability(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> pd.DataFrame:
    """Per non-empty equal-width bin: mean predicted probability, observed share of positives, films."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    b = np.minimum((p * bins).astype(int), bins - 1)
    n = np.bincount(b, minlength=bins)
    keep = n > 0
    pred = np.bincount(b, weights=p, minlength=bins)[keep] / n[keep]
    obs = np.bincount(b, weights=y, minlength=bins)[keep] / n[keep]
    return pd.DataFrame({"predicted": pred, "observed": obs, "films": n[keep]})


def figures(y: np.ndarray, p: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """ECE, Brier, sensitivity and specificity of decisions `pred` (0/1) on probabilities `p`."""
    y, pred = np.asarray(y).astype(int), np.asarray(pred).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    return {"ece": ece(y, p), "brier": float(np.mean((np.asarray(p, float) - y) ** 2)) if len(y) else NAN,
            "sensitivity": tp / pos if pos else NAN, "specificity": tn / neg if neg else NAN}


def with_intervals(patients: np.ndarray, y: np.ndarray, p: np.ndarray, pred: np.ndarray, n_boot: int, seed: int) -> dict[str, dict[str, Any]]:
    point = figures(y, p, pred)
    samples: dict[str, list[float]] = {k: [] for k in FIGURES}
    for i in resampled.patient_resamples(patients, n_boot, seed):
        f = figures(y[i], p[i], pred[i])
        for k in FIGURES:
            samples[k].append(f[k])
    return {k: {"value": point[k], "ci95": list(resampled.percentile_ci(samples[k]))} for k in FIGURES}


# --------------------------------------------------------------------------- cross-validation
def patient_folds(rows: pd.DataFrame, n_splits: int = N_SPLITS, seed: int = 0) -> list[np.ndarray]:
    """Row positions of each held-out part: stratified by class, grouped by patient (a patient's
    films are all in one part), at most `n_splits` parts and no more than the smaller class has patients."""
    from sklearn.model_selection import StratifiedGroupKFold

    y = rows["y"].to_numpy().astype(int)
    groups = rows["patient_id"].astype(str).to_numpy()
    smaller = min(rows.loc[y == 1, "patient_id"].nunique(), rows.loc[y == 0, "patient_id"].nunique())
    k = max(2, min(n_splits, smaller))
    parts = [test for _, test in StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups)]
    for test in parts:
        train = np.setdiff1d(np.arange(len(y)), test)
        if len(np.unique(y[train])) < 2 or len(np.unique(y[test])) < 1:
            raise CalibrationError("too few patients of one class to split them into cross-validation parts")
    return parts


@dataclass
class CrossValidation:
    """Out-of-fold judgement of one model's recalibration: the held-out rows (raw and
    calibrated score, each row's fold threshold and decisions) and the figures before / after."""

    method: str
    threshold_before: float
    folds: list[np.ndarray]
    oof: pd.DataFrame
    before: dict[str, dict[str, Any]]
    after: dict[str, dict[str, Any]]
    fold_thresholds: list[float] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """Two rows (as shipped, recalibrated): threshold and each figure with its 95 % interval."""
        out = []
        for arm, figs, thr in (("as shipped", self.before, f"{self.threshold_before:.3f}"),
                               (f"recalibrated ({self.method})", self.after, f"{min(self.fold_thresholds):.3f}–{max(self.fold_thresholds):.3f}")):
            row: dict[str, Any] = {"": arm, "threshold": thr}
            for k in FIGURES:
                row[k] = figs[k]["value"]
                row[f"{k} low"], row[f"{k} high"] = figs[k]["ci95"]
            out.append(row)
        return pd.DataFrame(out)


def cross_validate(rows: pd.DataFrame, method: str, *, threshold_before: float | None = None, classes: Sequence[str] = ("negative", "positive"),
                   n_splits: int = N_SPLITS, n_boot: int = 500, seed: int = 0, min_patients: int = MIN_PATIENTS) -> CrossValidation:
    """Calibration and threshold fitted on the training parts, judged on the held-out parts.
    `threshold_before`: the model's own (card) threshold, for the "as shipped" figures (0.5 when None)."""
    if method not in METHODS:
        raise CalibrationError(f"calibration method: unknown (one of {', '.join(METHODS)})")
    check_rows(rows, classes, min_patients)
    rows = rows.reset_index(drop=True)
    y, s = rows["y"].to_numpy().astype(int), rows["score"].to_numpy(float)
    parts = patient_folds(rows, n_splits, seed)
    cal, thr_row, fold = np.zeros(len(y)), np.zeros(len(y)), np.zeros(len(y), int)
    thresholds = []
    for f, test in enumerate(parts):
        train = np.setdiff1d(np.arange(len(y)), test)
        params = fit_params(method, s[train], y[train])
        t = choose_threshold(y[train], apply_params(method, params, s[train]))
        cal[test] = apply_params(method, params, s[test])
        thr_row[test], fold[test] = t, f
        thresholds.append(t)
    t0 = 0.5 if threshold_before is None else float(threshold_before)
    oof = rows.assign(calibrated=cal, fold=fold, threshold=thr_row, pred_before=(s >= t0).astype(int), pred_after=(cal >= thr_row).astype(int))
    patients = rows["patient_id"].to_numpy()
    before = with_intervals(patients, y, s, oof["pred_before"].to_numpy(), n_boot, seed)
    after = with_intervals(patients, y, cal, oof["pred_after"].to_numpy(), n_boot, seed)
    return CrossValidation(method, t0, parts, oof, before, after, thresholds)


# --------------------------------------------------------------------------- the profile
@dataclass(frozen=True)
class CalibrationProfile:
    """One model's calibration and threshold for one data set, fitted on all its labelled rows.
    `apply` and `decide` are numpy only; `to_json` / `from_json` round-trip it."""

    model: str
    task: str
    classes: tuple[str, str]
    method: str
    params: dict[str, Any]
    threshold: float
    n_films: int
    n_patients: int
    dataset_digest: str
    fitted_on: str
    class_counts: dict[str, int] = field(default_factory=dict)
    cross_validated: dict[str, dict[str, Any]] = field(default_factory=dict)  # before / after figures, out of fold
    kind: str = PROFILE_KIND
    version: int = PROFILE_VERSION

    def apply(self, score: Any) -> np.ndarray | float:
        """The calibrated probability of the positive class (a float for a float)."""
        out = apply_params(self.method, self.params, np.asarray(score, float))
        return float(out) if np.ndim(score) == 0 else out

    def decide(self, score: Any) -> Any:
        """The decision (a class name) at the profile's threshold, for raw scores."""
        cal = np.asarray(self.apply(score))
        names = np.where(cal >= self.threshold, self.classes[1], self.classes[0])
        return str(names) if names.ndim == 0 else names.tolist()

    def to_json(self) -> str:
        data = asdict(self)
        data["classes"] = list(self.classes)
        return json.dumps(_finite(data), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "CalibrationProfile":
        """A profile from its JSON; CalibrationError naming the field that is wrong."""
        try:
            data = json.loads(text)
        except (ValueError, TypeError):
            raise CalibrationError("calibration profile: not JSON") from None
        if not isinstance(data, dict) or data.get("kind") != PROFILE_KIND:
            raise CalibrationError("calibration profile: field 'kind' is not a calibration profile")
        if data.get("version") != PROFILE_VERSION:
            raise CalibrationError("calibration profile: field 'version' is not supported")
        for name in ("model", "task", "classes", "method", "params", "threshold", "n_films", "n_patients", "dataset_digest", "fitted_on"):
            if name not in data:
                raise CalibrationError(f"calibration profile: field '{name}' is missing")
        if data["method"] not in METHODS:
            raise CalibrationError("calibration profile: field 'method' is unknown")
        if not (isinstance(data["classes"], list) and len(data["classes"]) == 2):
            raise CalibrationError("calibration profile: field 'classes' must name two classes")
        _check_params(data["method"], data["params"])
        thr = data["threshold"]
        if not isinstance(thr, (int, float)) or not 0.0 <= float(thr) <= 1.0:
            raise CalibrationError("calibration profile: field 'threshold' must be a number from 0 to 1")
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["classes"] = tuple(str(c) for c in data["classes"])
        kwargs["threshold"] = float(thr)
        return cls(**kwargs)


def _check_params(method: str, params: Any) -> None:
    bad = CalibrationError("calibration profile: field 'params' is malformed")
    if not isinstance(params, dict):
        raise bad
    if method == "platt":
        if not all(isinstance(params.get(k), (int, float)) and math.isfinite(params[k]) for k in ("a", "b")):
            raise bad
        return
    x, y = params.get("x"), params.get("y")
    if not (isinstance(x, list) and isinstance(y, list) and len(x) == len(y) >= 1):
        raise bad
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    if not (np.all(np.isfinite(xs)) and np.all(np.diff(xs) >= 0) and np.all((ys >= 0) & (ys <= 1))):
        raise bad


def _finite(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def fit_profile(rows: pd.DataFrame, method: str, *, model: str, task: str, classes: Sequence[str], fitted_on: str,
                cross_validated: CrossValidation | None = None, min_patients: int = MIN_PATIENTS) -> CalibrationProfile:
    """The calibration and Youden threshold fitted on every row: what "apply" uses."""
    if method not in METHODS:
        raise CalibrationError(f"calibration method: unknown (one of {', '.join(METHODS)})")
    check_rows(rows, classes, min_patients)
    y, s = rows["y"].to_numpy().astype(int), rows["score"].to_numpy(float)
    params = fit_params(method, s, y)
    threshold = choose_threshold(y, apply_params(method, params, s))
    summary = {}
    if cross_validated is not None:
        summary = {arm: {k: v["value"] for k, v in figs.items()} for arm, figs in (("before", cross_validated.before), ("after", cross_validated.after))}
        summary["before"]["threshold"] = cross_validated.threshold_before
    return CalibrationProfile(model=model, task=task, classes=(str(classes[0]), str(classes[1])), method=method, params=params, threshold=float(threshold),
                              n_films=int(len(rows)), n_patients=int(rows["patient_id"].nunique()), dataset_digest=rows_digest(rows), fitted_on=fitted_on,
                              class_counts={str(classes[0]): int((y == 0).sum()), str(classes[1]): int((y == 1).sum())}, cross_validated=summary)


def recalibrate(rows: pd.DataFrame, method: str, *, model: str, task: str, classes: Sequence[str], fitted_on: str,
                threshold_before: float | None = None, n_boot: int = 500, seed: int = 0) -> tuple[CrossValidation, CalibrationProfile]:
    """Cross-validated figures and the profile fitted on every row, for one model."""
    cv = cross_validate(rows, method, threshold_before=threshold_before, classes=classes, n_boot=n_boot, seed=seed)
    return cv, fit_profile(rows, method, model=model, task=task, classes=classes, fitted_on=fitted_on, cross_validated=cv)
