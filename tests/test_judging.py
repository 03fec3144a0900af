"""What a supervisor judges the models by (issue 35): slices, operating points from the other
folds, decision curves, disagreements; `leaderboard --slices` and its check; Compare's parts.

Committed models and the real MIAS records only; no training, no weights loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from core.evaluation import operating_points as ops
from core.evaluation import resampled, slices
from core.evaluation.disagreements import confidently_wrong, disagreements
from core.evaluation.net_benefit import decision_curves, net_benefit, treat_all
from core.reports import supervisor

REPO = Path(__file__).resolve().parents[1]


def _best(task: str = "stage1"):
    cards = supervisor.judged_cards(None, task)
    if not cards:
        pytest.skip(f"no committed model with a complete out-of-fold run in {task}")
    return cards


def test_one_slice_recomputed_by_hand(mias_records):
    card = _best()[0]
    view = supervisor.views([card], "stage1")[card["name"]]
    joined = slices.join(view, slices.membership(mias_records))
    assert len(joined) == len(view) == 322
    by_id = {r.image_id: r for r in mias_records}
    dense = joined[[by_id[i].density == "D" for i in joined["image_id"]]]
    got = slices.slice_figures(joined, slices.SliceRule("density", "D", "dense-glandular"), n_boot=200)
    y, s, t = dense["y"].to_numpy(), dense["score"].to_numpy(), dense["threshold"].to_numpy()
    assert got["roc_auc"]["value"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert got["sensitivity"]["value"] == pytest.approx(np.mean(s[y == 1] >= t[y == 1]))
    assert got["specificity"]["value"] == pytest.approx(np.mean(s[y == 0] < t[y == 0]))
    assert (got["positives"], got["negatives"]) == (int(y.sum()), int((y == 0).sum()))
    for k in slices.FIGURES:
        assert got[k]["ci_low"] <= got[k]["value"] <= got[k]["ci_high"]
    # a lesion-class slice: that class's films against every normal film
    calc = slices.slice_figures(joined, slices.SliceRule("lesion class", "CALC", "calcification"), n_boot=50)
    is_calc = [any(l.detail == "CALC" for l in by_id[i].lesions) for i in joined["image_id"]]
    normal = [by_id[i].label == "normal" for i in joined["image_id"]]
    assert (calc["positives"], calc["negatives"]) == (sum(is_calc), sum(normal))
    rows = joined[np.array(is_calc) | np.array(normal)]
    assert calc["roc_auc"]["value"] == pytest.approx(roc_auc_score(rows["y"], rows["score"]), abs=1e-12)
    # the threshold each film was judged at is its fold's (the `threshold` column) where the rows carry one
    oof = pd.read_csv(Path(card["_folder"]) / "oof_predictions.csv")
    if "threshold" in oof.columns and tuple(card["classes"]) == ("normal", "lesion"):
        assert np.allclose(view["threshold"], oof["threshold"])


def test_too_small_slices_are_marked():
    rng = np.random.default_rng(0)
    n = 60
    view = pd.DataFrame({"image_id": [f"x{i}" for i in range(n)], "patient_id": [f"p{i // 2}" for i in range(n)], "fold": np.arange(n) % 5,
                         "y": (np.arange(n) < 15).astype(int), "score": rng.random(n), "threshold": 0.5})
    members = pd.DataFrame({"image_id": view["image_id"], "dataset": "mias", "density": ["F"] * 50 + ["D"] * 10, "side": "L", "view": "MLO",
                            "lesion_classes": ["CALC"] * 15 + [""] * 45})
    got = {(r["facet"], r["slice"]): r for r in slices.model_slices(slices.join(view, members), n_boot=50)}
    assert got[("density", "D")]["too_small"] and not got[("density", "F")]["too_small"]
    assert got[("lesion class", "CALC")]["negatives"] == 45


def test_whole_bootstraps_equal_the_loop_forms():
    rng = np.random.default_rng(3)
    patients = np.repeat(np.arange(40), 2)
    y, s = rng.integers(0, 2, 80), np.round(rng.random(80), 1)  # ties on purpose
    w = resampled.resample_weights(patients, 100, seed=5)
    boots = resampled.patient_resamples(patients, 100, seed=5)
    for row, idx in zip(w, boots):
        assert np.array_equal(row, np.bincount(idx, minlength=80))
    assert np.allclose(resampled.weighted_roc_auc(y, s, w), [resampled.roc_auc(y[i], s[i]) for i in boots], equal_nan=True)
    assert resampled.weighted_roc_auc(y, s, np.ones(80))[0] == pytest.approx(roc_auc_score(y, s))


def _synthetic(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return pd.DataFrame({"image_id": [f"i{k}" for k in range(n)], "patient_id": [f"p{k // 2}" for k in range(n)], "fold": (np.arange(n) // 2) % 5,
                         "y": y, "score": np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)})


def test_operating_point_thresholds_come_from_the_other_folds_only():
    view = _synthetic()
    _, cuts = ops.fold_calls(view, 0.9, "specificity")
    moved = view.copy()
    held = moved["fold"] == 0
    moved.loc[held, "score"] = moved.loc[held, "score"] * 0.1  # fold 0's own rows change: its threshold must not
    _, again = ops.fold_calls(moved, 0.9, "specificity")
    assert again[0, 0] == cuts[0, 0]
    assert not np.allclose(again[0, 1:], cuts[0, 1:])  # the other folds' thresholds learn from fold 0's rows
    # by hand: fold 0's threshold holds 90 % of the other folds' negatives at or below it
    other = view[(view["fold"] != 0) & (view["y"] == 0)]["score"].sort_values().to_numpy()
    assert cuts[0, 0] == other[int(np.ceil(0.9 * len(other))) - 1]
    point = ops.operating_point(view, 0.9, "specificity", n_boot=200)
    calls, _ = ops.fold_calls(view, 0.9, "specificity")
    y = view["y"].to_numpy()
    assert point["sensitivity"]["value"] == pytest.approx(calls[0][y == 1].mean())
    assert point["sensitivity"]["ci_low"] <= point["sensitivity"]["value"] <= point["sensitivity"]["ci_high"]
    at_sens = ops.operating_point(view, 0.8, "sensitivity", n_boot=100)
    assert at_sens["sensitivity"]["value"] >= 0.7 and 0 <= at_sens["specificity"]["value"] <= 1
    same = ops.paired_operating_point(view, view, 0.9, "specificity", n_boot=100)
    assert same["sensitivity"]["difference"] == 0 and same["sensitivity"]["ci_low"] == same["sensitivity"]["ci_high"] == 0


def test_net_benefit_from_its_definition():
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.4, 0.6, 0.2, 0.1])
    # at pt 0.5: calls films 0 and 2: one true and one false positive of five films
    assert net_benefit(y, p, [0.5])[0] == pytest.approx(1 / 5 - 1 / 5 * 1.0)
    assert treat_all(y, [0.25])[0] == pytest.approx(0.4 - 0.6 * (0.25 / 0.75))
    views = {"m": _synthetic()}
    curves = decision_curves(views)
    assert set(curves["model"]) == {"m", "treat all", "treat none"} and (curves[curves["model"] == "treat none"]["net_benefit"] == 0).all()


def test_net_benefit_equals_dcurves():
    import dcurves  # the reference, in the test install (requirements-dev.txt)
    card = _best()[0]
    view = supervisor.views([card], "stage1")[card["name"]]
    thresholds = [round(t, 2) for t in np.arange(0.01, 0.99, 0.01)]
    theirs = dcurves.dca(data=pd.DataFrame({"y": view["y"], "m": view["score"]}), outcome="y", modelnames=["m"], thresholds=thresholds)
    for model, ours in (("m", net_benefit(view["y"], view["score"], thresholds)), ("all", treat_all(view["y"], thresholds))):
        ref = theirs[theirs["model"] == model].sort_values("threshold")["net_benefit"].to_numpy()
        assert np.allclose(ours, ref, atol=1e-12)


def test_disagreements_and_confidently_wrong():
    a = _synthetic().assign(threshold=0.5)
    b = a.assign(score=1 - a["score"])  # the opposite model: it disagrees wherever a is not at 0.5
    table = disagreements({"a": a, "b": b}, limit=None)
    assert len(table) > 0 and (table["split"] == 1).all()
    assert table["spread"].is_monotonic_decreasing
    assert disagreements({"a": a, "a2": a.copy()}).empty
    wrong = confidently_wrong(b, ("normal", "lesion"), 0.8, limit=None)
    assert len(wrong) and ((wrong["y"] == 1) == (wrong["set_class"] == "normal")).all()
    assert wrong["p_truth"].is_monotonic_increasing


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_cli_slices_and_operating_points(shared_data):
    names = [c["name"] for c in _best()[:2]]
    p = _cli("leaderboard", "--slices", "--operating-points", "--task", "stage1", "--format", "json", "--models", ",".join(names), "--data", str(shared_data))
    assert p.returncode == 0, p.stderr[-2000:]
    assert str(shared_data) not in p.stdout + p.stderr and str(REPO) not in p.stdout + p.stderr
    out = json.loads(p.stdout)["stage1"]
    assert out["models"] == names
    rows = out["slices"]["rows"]
    assert {r["facet"] for r in rows} >= {"density", "lesion class", "side"} and {r["model"] for r in rows} == set(names)
    assert out["slices"]["paired"]["a"] == names[0]
    assert {(r["model"], r["fixed"]) for r in out["operating_points"]["rows"]} == {(n, f) for n in names for f in ("specificity", "sensitivity")}
    bad = _cli("leaderboard", "--slices", "--task", "flat3")
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


def test_committed_figures_recompute():
    """What `leaderboard --check` adds for the supervisor's figures (tests/test_contract.py runs the whole check)."""
    _best()
    lines = supervisor.check()
    assert lines and all(line["same"] for line in lines), [line for line in lines if not line["same"]][:5]
    assert len(lines) > 1000 and not any("not committed" in line["figure"] for line in lines)  # the project's file is there and recomputed


def test_a_folder_without_committed_figures_says_so(tmp_path):
    """A folder of one's own (a smoke run) commits no supervisor figures: the check says so and passes."""
    import shutil

    for name in ("s1-mobilenetv2-torch", "s1-efficientnet-lite0-torch"):
        shutil.copytree(REPO / "models" / name, tmp_path / name)
    lines = supervisor.check(tmp_path)
    assert [line["same"] for line in lines] == [True] and "not committed" in lines[0]["figure"]


def test_compare_shows_the_judging_parts():
    from streamlit.testing.v1 import AppTest

    _best()
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=600)
    at.switch_page("pages/compare.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Judging the chosen models, out of fold" in [s.value for s in at.subheader]
    assert [t.label for t in at.tabs][-5:] == ["Slices", "Disagreements", "Operating points", "Decision curves", "Recalibration"]
    at.number_input(key="judge_spec_stage1").set_value(0.95).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "No recalibration in this session for the chosen models." in [i.value for i in at.info]

    # a profile fitted on Explore in this session: the Recalibration tab shows what it changed, with the one switch
    from core.evaluation import recalibration
    from core.evaluation.oof import oof_view, read_oof
    from core.models import registry

    name = at.multiselect(key="compare_models_stage1").value[0]
    card = registry.card(name)
    view = oof_view(read_oof(card), card["classes"], "stage1")  # MIAS out-of-fold rows stand in for a user's labelled folder
    rows = pd.DataFrame({"image_id": view["image_id"], "patient_id": view["patient_id"].astype(str), "y": view["y"], "score": view["score"]})
    _, profile = recalibration.recalibrate(rows, "platt", model=name, task="stage1", classes=("normal", "lesion"), fitted_on="class-folder data", n_boot=50)
    at.session_state["_calibration_profiles"] = {name: profile}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [d.value for d in at.dataframe if "ece" in d.value.columns]  # AppTest does not expose a dataframe's key
    assert len(shown) == 1 and list(shown[0]["model"]) == [name, name] and shown[0]["ece"].notna().all()
    assert at.toggle(key="compare_calibration_on").value is True
