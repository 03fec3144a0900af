"""Recalibration on a user's labelled data (issue 35 part 5): Platt and isotonic calibrations and
the Youden threshold fitted with patient-grouped cross-validation, the profile's JSON and its
numpy `apply` against scikit-learn, a one-class folder refused with the typed error, and
Explore's "Fit threshold and calibration for this data" on a class-folder data set built
from mini-MIAS films, applied for the session and saved beside the data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import CalibrationError, MammoError
from core.evaluation import recalibration as rc

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "streamlit_app.py")
OOF_MODEL = "own-stage1-maps-stacked"  # committed out-of-fold rows: 322 MIAS films of 161 patients (two films each), ROC-AUC 0.69
SCORED = "s1-mobilenetv2-torch"  # served from its committed graph: ~0.1 s a film
PER_CLASS = 15
KEY = "evaldata_folder"


@pytest.fixture(scope="module")
def oof_rows() -> pd.DataFrame:
    from core.evaluation.oof import oof_view

    path = REPO / "models" / OOF_MODEL / "oof_predictions.csv"
    if not path.is_file():
        pytest.skip("the committed out-of-fold rows are not in this checkout")
    oof = pd.read_csv(path)
    view = oof_view(oof, ("normal", "lesion"), "stage1")
    return view[["image_id", "patient_id", "y", "score"]]


def _class_folders(root: Path, records, labels=("normal", "benign", "malignant"), per_class: int = PER_CLASS) -> Path:
    for label in labels:
        (root / label).mkdir(parents=True)
        for r in [r for r in records if r.label == label and r.path][:per_class]:
            os.symlink(r.path, root / label / Path(r.path).name)
    return root


@pytest.fixture(scope="module")
def mias_folder(tmp_path_factory, mias_records) -> Path:
    return _class_folders(tmp_path_factory.mktemp("mias-class-folders"), mias_records)


@pytest.fixture(scope="module")
def scored(mias_folder) -> pd.DataFrame:
    """The class-folder films scored by one committed model (the score steps Explore runs)."""
    from core.datasets import load_dataset
    from core.models import registry
    from core.score import local
    from core.score.plan import make_plan

    if SCORED not in registry.names() or not registry.weights_available(registry.card(SCORED)):
        pytest.skip("the committed stage-1 model is not in this checkout")
    records = load_dataset("folder", mias_folder)
    plan = make_plan([SCORED], str(REPO / "models"))
    return pd.concat(list(local.score_model(records, plan, SCORED, "folder")), ignore_index=True)


def _rows_of(frame: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...], float | None]:
    from core.score import metrics as smetrics

    rows, classes = smetrics.task_frame(frame, SCORED, "stage1")
    return rc.binary_rows(rows, "lesion"), classes, smetrics.thresholds(frame, SCORED).get("stage1")


# --------------------------------------------------------------------------- core maths
@pytest.mark.parametrize("method", list(rc.METHODS))
def test_cross_validation_keeps_each_patient_in_one_part(oof_rows, method):
    cv = rc.cross_validate(oof_rows, method, threshold_before=0.5, n_boot=100)
    patients = oof_rows["patient_id"].to_numpy()
    assert sum(len(t) for t in cv.folds) == len(oof_rows)
    assert sorted(np.concatenate(cv.folds)) == list(range(len(oof_rows)))
    for test in cv.folds:
        train = np.setdiff1d(np.arange(len(oof_rows)), test)
        assert not set(patients[test]) & set(patients[train])  # no patient on both sides
        assert set(oof_rows["y"].iloc[train]) == {0, 1}
    assert (oof_rows.groupby("patient_id").size() > 1).any()  # the grouping is tested on patients with several films
    assert len(cv.fold_thresholds) == len(cv.folds) == rc.N_SPLITS
    for arm in (cv.before, cv.after):
        for k in rc.FIGURES:
            v, (lo, hi) = arm[k]["value"], arm[k]["ci95"]
            assert 0 <= v <= 1 and lo <= hi, (k, arm[k])
    table = cv.table()
    assert list(table[""]) == ["as shipped", f"recalibrated ({method})"]


def test_each_fold_is_fitted_on_its_training_part_only(oof_rows):
    cv = rc.cross_validate(oof_rows, "platt", n_boot=20)
    y, s = oof_rows["y"].to_numpy(), oof_rows["score"].to_numpy()
    test = cv.folds[0]
    train = np.setdiff1d(np.arange(len(y)), test)
    params = rc.fit_params("platt", s[train], y[train])
    np.testing.assert_allclose(cv.oof["calibrated"].to_numpy()[test], rc.apply_params("platt", params, s[test]))
    from core.evaluation.metrics import choose_threshold

    assert cv.oof["threshold"].iloc[test[0]] == pytest.approx(choose_threshold(y[train], rc.apply_params("platt", params, s[train])))


@pytest.mark.parametrize("method", list(rc.METHODS))
def test_profile_round_trips_json_and_applies_like_scikit_learn(oof_rows, method):
    profile = rc.fit_profile(oof_rows, method, model=OOF_MODEL, task="stage1", classes=("normal", "lesion"), fitted_on="mini-MIAS data")
    again = rc.CalibrationProfile.from_json(profile.to_json())
    assert again == profile
    y, s = oof_rows["y"].to_numpy(), oof_rows["score"].to_numpy()
    probe = np.r_[s, 0.0, 1e-9, 0.5, 1.0, np.linspace(0, 1, 51)]
    if method == "platt":
        want = rc.platt_model(s, y).predict_proba(rc.logit(probe)[:, None])[:, 1]
    else:
        want = rc.isotonic_model(s, y).predict(probe)
    np.testing.assert_allclose(again.apply(probe), want, rtol=1e-9, atol=1e-12)
    assert isinstance(again.apply(0.3), float)
    assert again.decide(1.0) == "lesion" and again.decide(0.0) == "normal"
    assert profile.n_films == len(oof_rows) and profile.n_patients == oof_rows["patient_id"].nunique()
    assert profile.class_counts == {"normal": int((y == 0).sum()), "lesion": int((y == 1).sum())}
    assert len(profile.dataset_digest) == 16 and profile.dataset_digest == rc.rows_digest(oof_rows.sample(frac=1, random_state=1))


def test_one_class_and_too_few_patients_are_refused(oof_rows):
    one = oof_rows[oof_rows["y"] == 1]
    for call in (lambda: rc.cross_validate(one, "platt"), lambda: rc.fit_profile(one, "isotonic", model="m", task="stage1", classes=("normal", "lesion"), fitted_on="x")):
        with pytest.raises(CalibrationError, match="one class only") as info:
            call()
        assert isinstance(info.value, MammoError) and "/" not in str(info.value)
    few = pd.concat([oof_rows[oof_rows["y"] == 1], oof_rows[oof_rows["y"] == 0].drop_duplicates("patient_id").head(3)])
    with pytest.raises(CalibrationError, match="too few patients"):
        rc.cross_validate(few, "platt")
    with pytest.raises(CalibrationError, match="method"):
        rc.cross_validate(oof_rows, "temperature")


def test_platt_never_flips_a_model(oof_rows):
    flipped = oof_rows.assign(score=1 - oof_rows["score"])
    params = rc.fit_params("platt", flipped["score"].to_numpy(), flipped["y"].to_numpy())
    assert params["a"] == 0.0
    share = rc.apply_params("platt", params, np.array([0.1, 0.9]))
    assert share[0] == share[1] == pytest.approx((flipped["y"].sum() + 1) / (len(flipped) + 2))


def test_a_malformed_profile_names_the_field():
    good = rc.CalibrationProfile("m", "stage1", ("normal", "lesion"), "platt", {"a": 1.0, "b": 0.0}, 0.4, 10, 10, "0" * 16, "x")
    data = json.loads(good.to_json())
    for field, value, name in (("params", {"a": "x"}, "params"), ("threshold", 3, "threshold"), ("method", "magic", "method"), ("kind", "other", "kind")):
        bad = dict(data, **{field: value})
        with pytest.raises(CalibrationError, match=name):
            rc.CalibrationProfile.from_json(json.dumps(bad))
    with pytest.raises(CalibrationError, match="not JSON"):
        rc.CalibrationProfile.from_json("{")


def test_applying_a_profile_imports_no_scikit_learn():
    """Upload applies a session profile: the module and what it imports at load time import no
    scikit-learn (it is imported inside the fitting functions only)."""
    import ast

    for module in ("recalibration", "metrics", "resampled"):
        tree = ast.parse((REPO / "core" / "evaluation" / f"{module}.py").read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names] + [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if n.split(".")[0] == "sklearn"], module
    profile = rc.CalibrationProfile("m", "stage1", ("normal", "lesion"), "isotonic", {"x": [0.1, 0.9], "y": [0.0, 1.0]}, 0.5, 4, 4, "0" * 16, "x")
    assert profile.apply(0.5) == pytest.approx(0.5) and profile.decide(0.95) == "lesion"


# --------------------------------------------------------------------------- MIAS class folders
def test_mias_class_folders_recalibrate_and_a_one_class_folder_is_refused(scored, mias_folder, tmp_path, mias_records):
    from core.datasets import load_dataset

    assert scored["error"].isna().all() and len(scored) == 3 * PER_CLASS
    rows, classes, card_threshold = _rows_of(scored)
    assert classes == ("normal", "lesion") and card_threshold is not None
    cv, profile = rc.recalibrate(rows, "platt", model=SCORED, task="stage1", classes=classes, fitted_on="class-folder data",
                                 threshold_before=card_threshold, n_boot=200)
    assert cv.before["sensitivity"]["value"] == pytest.approx(((rows["score"] >= card_threshold) & (rows["y"] == 1)).sum() / rows["y"].sum())
    assert profile.n_films == 3 * PER_CLASS and 0 <= profile.threshold <= 1

    # a class folder holding one class: its films, scored, hold one class in every task
    one = _class_folders(tmp_path / "one-class", mias_records, labels=("benign",), per_class=6)
    assert {r.label for r in load_dataset("folder", one)} == {"benign"}
    ids = {f"benign/{Path(r.path).stem}" for r in load_dataset("folder", one)}
    only = scored[scored["image_id"].isin(ids)]
    assert len(only) == 6
    with pytest.raises(CalibrationError, match="one class only") as info:
        rc.cross_validate(_rows_of(only)[0], "isotonic")
    assert str(one) not in str(info.value) and str(tmp_path) not in str(info.value)


def _texts(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success", "title") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts).replace("\\", "")  # markdown escapes off


def _open_explore(root: Path, tmp_path: Path, monkeypatch, scored: pd.DataFrame):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MAMMO_SHARED_DATA", str(tmp_path / "no-shared"))
    monkeypatch.setenv("MAMMO_DATA_ROOTS", str(root))
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["chosen_models"] = [SCORED]
    at.run()
    at.switch_page("pages/explore.py").run()
    at.selectbox(key="explore_dataset").set_value("folder").run()
    assert not at.exception, [e.value for e in at.exception]
    # the rows Explore's Run gives (scored once above), as the section keeps them
    at.session_state[KEY] = {"models": [SCORED], "ids": list(scored["image_id"]), "rows": [scored], "running": False, "cancelled": False}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_explore_fits_applies_and_saves_a_profile(scored, mias_folder, tmp_path, monkeypatch):
    at = _open_explore(mias_folder, tmp_path, monkeypatch, scored)
    assert at.radio(key=f"{KEY}_recal_method").value == "platt"
    at.button(key=f"{KEY}_recal_fit").click().run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "ece" in d.value.columns)
    assert list(table["model"]) == [SCORED, SCORED] and list(table[""]) == ["as shipped", "recalibrated (platt)"]
    assert any("Reliability" in str(c.proto.spec) for c in at.get("plotly_chart"))

    at.button(key=f"{KEY}_recal_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    held = at.session_state["_calibration_profiles"]
    assert list(held) == [SCORED] and held[SCORED].method == "platt"
    comparison = next(d.value for d in at.dataframe if "calibration" in d.value.columns)
    assert list(comparison["calibration"]) == ["recalibrated (session)"]
    assert comparison["threshold"].iloc[0] == pytest.approx(held[SCORED].threshold)
    page = _texts(at)
    assert "recalibrated on class-folder data (session)" in page

    at.toggle(key="explore_calibration_on").set_value(False).run()  # turned off: the model as shipped
    assert not at.exception, [e.value for e in at.exception]
    assert not any("calibration" in d.value.columns for d in at.dataframe if "decision" in d.value.columns)

    at.button(key=f"{KEY}_recal_save").click().run()
    saved = sorted((mias_folder / "mammo-calibration").glob("*.json"))
    assert [p.name for p in saved] == [f"{SCORED}.json"]
    assert rc.CalibrationProfile.from_json(saved[0].read_text()) == held[SCORED]
    assert not list((REPO / "models").rglob("mammo-calibration*"))
    page = _texts(at)
    assert "Saved 1 profile" in page
    assert str(mias_folder) not in page and str(tmp_path) not in page

    # the rows of a one-class folder (its benign films only): refused with a clear message, no Fit
    state = at.session_state[KEY]
    benign = scored[scored["label"] == "benign"]
    at.session_state[KEY] = state | {"ids": list(benign["image_id"]), "rows": [benign]}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("one class only" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == f"{KEY}_recal_fit"]




def test_a_session_profile_changes_what_upload_and_explore_show_for_its_model_only():
    """`ui.profiles.recalibrated`, the hook of `ui.predictions` on both pages: probability, decision
    and threshold from the profile; another model, another output, or the toggle off: unchanged."""
    import streamlit as st

    from core.models.prediction import Prediction
    from core.serving.inference import ModelRun
    from ui import profiles

    p = rc.CalibrationProfile("a", "stage1", ("normal", "lesion"), "platt", {"a": 1.0, "b": 2.0}, 0.8, 30, 30, "0" * 16, "class-folder data")
    run = ModelRun("a", Prediction("a", "stage1", ("normal", "lesion"), np.array([0.6, 0.4]), "lesion", 0.3, spread=np.array([0.1, 0.1])))
    other = ModelRun("b", Prediction("b", "stage2", ("benign", "malignant"), np.array([0.6, 0.4]), "benign", 0.5))
    try:
        profiles.put([p])
        shown, used = profiles.recalibrated(run)
        want = p.apply(0.4)
        assert used is p and shown.probabilities == pytest.approx([1 - want, want]) and shown.threshold == 0.8
        assert shown.decision == ("lesion" if want >= 0.8 else "normal") and shown.prediction.spread is None
        assert run.prediction.decision == "lesion" and run.probabilities == pytest.approx([0.6, 0.4])  # the cached run is untouched
        assert profiles.recalibrated(other) == (other, None)
        st.session_state["_calibration_on"] = False
        assert profiles.recalibrated(run) == (run, None)
        assert profiles.badge(p) == "recalibrated on class-folder data (session)"
    finally:
        profiles.clear()
