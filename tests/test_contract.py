"""The prediction contract, for every model a clean clone can load: shapes, probabilities,
maps on the original grid, and each map's named rule reproducing its image score."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from conftest import REPO


def _loadable() -> list[str]:
    from core.models import registry

    return [c["name"] for c in registry.discover() if registry.weights_available(c) and not c.get("smoke")]


@pytest.fixture(scope="module")
def sample_image(sample_dicom):
    from core.io.reader import read_image

    return read_image(sample_dicom)


@pytest.mark.parametrize("name", _loadable())
def test_every_model_keeps_the_contract(name, sample_image):
    from core.labels import tasks_for
    from core.models import registry
    from core.models.prediction import MAP_KINDS

    model = registry.load(name)
    p = model.predict(sample_image)
    assert p.model == name and tuple(p.classes) == tuple(model.classes)
    assert p.probabilities.shape == (len(p.classes),)
    assert p.probabilities.sum() == pytest.approx(1.0, abs=1e-4) and (p.probabilities >= -1e-6).all()
    assert p.decision in p.classes
    assert tasks_for(p.classes), "every output space can be judged in some task"
    assert p.maps or p.on_demand, "every model explains itself with at least one map"
    maps = dict(p.maps)
    if not maps:  # a served graph with no forward form of its Grad-CAM: the decided class's map waits, on demand
        from core.models.prediction import layer_on_demand

        key = f"saliency_{p.decision}"
        assert key in p.on_demand
        maps[key] = layer_on_demand(model, sample_image, key)
    for key, layer in maps.items():
        assert layer.kind in MAP_KINDS, key
        grid = layer.on_grid()
        assert grid.shape == sample_image.shape, key
        assert np.isfinite(grid).all() and grid.min() >= -1e-6 and grid.max() <= 1 + 1e-6, key
        if layer.score_rule is not None:
            assert layer.rescore() == pytest.approx(layer.score, abs=1e-6), key
    if p.spread is not None:  # ensembles: one sd per class (a number; "uncertain" is conformal, core.evaluation.conformal)
        assert p.spread.shape == p.probabilities.shape and (p.spread >= 0).all()
    again = model.predict_proba([sample_image])[0]
    np.testing.assert_allclose(again, p.probabilities, atol=1e-5)


def test_segmentation_map_score_is_the_image_score(sample_image):
    from core.models import registry

    names = [c["name"] for c in registry.discover() if c.get("kind") == "segmentation" and registry.weights_available(c)]
    if not names:
        pytest.skip("no segmentation model with weights in models/")
    p = registry.load(names[0]).predict(sample_image)
    assert p.maps["segmentation"].score == pytest.approx(float(p.probabilities[1]), abs=1e-6)


def test_unknown_kind_is_a_model_error(tmp_path):
    import shutil

    from core.errors import ModelError
    from core.models import registry

    src = next(p.parent for p in sorted((REPO / "models").glob("*/card.json")))
    dst = tmp_path / "odd"
    shutil.copytree(src, dst)
    card = json.loads((dst / "card.json").read_text())
    card["name"], card["kind"] = "odd", "no-such-kind"
    (dst / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="unknown kind"):
        registry.load("odd", tmp_path)


def test_three_class_readings_are_the_stage_scores():
    from core.labels import project, tasks_for

    p = np.array([[0.2, 0.2, 0.6], [0.9, 0.05, 0.05]])
    assert tasks_for(("normal", "benign", "malignant")) == ("flat3", "stage1", "stage2")
    np.testing.assert_allclose(project(p, ("normal", "benign", "malignant"), "stage1")[:, 1], [0.8, 0.1])
    np.testing.assert_allclose(project(p, ("normal", "benign", "malignant"), "stage2")[:, 1], [0.75, 0.5])


def test_score_rules_are_named_and_swappable():
    from core.models.nets.score_rules import get_rule

    m = np.zeros((100, 100), np.float32)
    m[10:20, 10:20] = 1.0
    m[50, 50] = 0.5
    assert get_rule("max")(m) == 1.0
    assert get_rule("top_area_mean:100")(m) == pytest.approx(1.0)
    assert get_rule("top_area_mean:200")(m) == pytest.approx((100 + 0.5) / 200)
    with pytest.raises(ValueError):
        get_rule("median")


def test_top_area_mean_equals_the_mean_of_the_hottest_pixels():
    """The rule partitions only a map's positive values (a map is mostly zeros outside the
    breast, and ties made `np.partition` ~20x slower): the same as the mean of the `k` largest
    values of the whole map, with zeros, negative values and fewer positives than `k`."""
    from core.models.nets.score_rules import get_rule

    rng = np.random.default_rng(7)
    for i in range(200):
        m = rng.random((60, 40)).astype(np.float32)
        m[m < rng.random()] = 0.0
        if i % 4 == 0:
            m -= 0.25
        k = int(rng.integers(1, m.size + 1))
        expected = np.sort(m.ravel())[::-1][:k].mean(dtype=np.float64)
        assert get_rule(f"top_area_mean:{k}")(m) == pytest.approx(expected, abs=1e-6)
    broken = np.ones((60, 40), np.float32)
    broken[5, 5] = np.nan  # a network that returned NaN gives a NaN score, as before, not a number
    assert np.isnan(get_rule("top_area_mean:100")(broken))


def test_oof_summary_matches_sklearn_and_paired_difference_is_paired():
    from core.evaluation.oof import oof_summary, paired_difference

    rng = np.random.default_rng(0)
    n = 120
    view = pd.DataFrame({"image_id": [f"i{i}" for i in range(n)], "patient_id": [f"p{i // 2}" for i in range(n)], "fold": np.arange(n) % 5, "y": rng.integers(0, 2, n)})
    view["score"] = view["y"] * 0.6 + rng.random(n)
    s = oof_summary(view, n_boot=200)
    assert s["roc_auc"]["value"] == pytest.approx(roc_auc_score(view["y"], view["score"]))
    assert s["roc_auc"]["ci_low"] < s["roc_auc"]["value"] < s["roc_auc"]["ci_high"]
    same = paired_difference(view, view, n_boot=100)
    assert same["difference"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0
    worse = view.assign(score=rng.random(n))
    d = paired_difference(view, worse, n_boot=200)
    assert d["difference"] > 0 and d["n_images"] == n


def test_three_class_oof_figures_match_sklearn_and_the_paired_difference_is_paired():
    from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score

    from core.evaluation.oof import paired_three_class, three_class_summary

    rng = np.random.default_rng(1)
    n, classes = 150, ["normal", "benign", "malignant"]
    truth = rng.choice(classes, n, p=[0.6, 0.2, 0.2])
    probs = rng.dirichlet([1, 1, 1], n)
    oof = pd.DataFrame({"image_id": [f"i{i}" for i in range(n)], "patient_id": [f"p{i // 2}" for i in range(n)], "fold": np.arange(n) % 5, "truth": truth,
                        "p_normal": probs[:, 0], "p_benign": probs[:, 1], "p_malignant": probs[:, 2]})
    argmax = np.array(classes)[probs.argmax(1)]
    s = three_class_summary(oof, classes, n_boot=200)  # no `pred`: the most probable class decides
    assert s["macro_f1"]["value"] == pytest.approx(f1_score(truth, argmax, average="macro", labels=classes))
    assert s["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(truth, argmax))
    assert s["recall_benign"]["value"] == pytest.approx(recall_score(truth, argmax, labels=classes, average=None)[1])
    assert s["macro_f1"]["ci_low"] <= s["macro_f1"]["value"] <= s["macro_f1"]["ci_high"] and np.sum(s["confusion"]) == n
    own = oof.assign(pred=truth)  # a model's own decision wins over its probabilities
    assert three_class_summary(own, classes, n_boot=50)["macro_f1"]["value"] == 1.0
    same = paired_three_class(oof, oof, classes, n_boot=100)
    assert same["macro_f1"]["difference"] == 0 and same["macro_f1"]["ci_low"] == same["macro_f1"]["ci_high"] == 0
    better = paired_three_class(own, oof, classes, n_boot=200)
    assert better["macro_f1"]["ci_low"] > 0 and better["n_images"] == n


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_leaderboard_reproduces_every_card_and_oof_figure():
    p = _cli("leaderboard", "--check")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "DIFF" not in p.stdout


def test_leaderboard_json_gives_numbers_ranked_out_of_fold():
    p = _cli("leaderboard", "--format", "json", "--task", "stage1")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert rows and all(r["task"] == "stage1" for r in rows)
    for r in rows:
        for key in ("test_roc_auc", "oof_roc_auc"):
            if r[key] is not None:
                assert set(r[key]) == {"value", "ci_low", "ci_high"} and isinstance(r[key]["value"], float)
    oof = [r["oof_roc_auc"]["value"] for r in rows if r["oof_roc_auc"]]
    assert oof == sorted(oof, reverse=True)
    ranked_oof_first = [r["oof_roc_auc"] is not None for r in rows]
    assert ranked_oof_first == sorted(ranked_oof_first, reverse=True)
