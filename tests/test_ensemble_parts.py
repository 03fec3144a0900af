"""The parts ensembles are made of, checked against hand computations: flips and their
inverses, combination rules, the uncertainty rule, and guided back-propagation leaving the
shared network as it was."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def test_each_flip_is_its_own_inverse_and_keeps_the_grid():
    from core.models.composites import tta
    from core.types import Mammogram, SafeMeta

    px = np.random.default_rng(0).random((7, 5)).astype(np.float32)
    image = Mammogram(px, SafeMeta("png", 7, 5, 8))
    assert tta.augmented(image, "none") is image
    for aug in ("hflip", "vflip"):
        flipped = tta.augmented(image, aug)
        assert flipped.shape == image.shape and not np.array_equal(flipped.pixels, px)
        np.testing.assert_array_equal(tta.restore(flipped.pixels, aug), px)
    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        tta.check(["none", "rot90"])


def test_combination_rules():
    from core.models.composites.combine import combine, combine_rows, fit_logistic, logit

    p = np.array([[0.8, 0.2], [0.4, 0.6]])
    np.testing.assert_allclose(combine(p, {"rule": "mean"}), [0.6, 0.4], atol=1e-6)
    spec = {"rule": "logistic", "coef": [1.0, 2.0], "intercept": -0.5}
    z = -0.5 + logit(np.array([0.2]))[0] + 2 * logit(np.array([0.6]))[0]
    assert combine(p, spec)[1] == pytest.approx(1 / (1 + np.exp(-z)), abs=1e-6)
    rows = np.array([[0.2, 0.6], [0.9, 0.1]])
    assert combine_rows(rows, spec)[0] == pytest.approx(combine(p, spec)[1], abs=1e-6)
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 80)
    x = np.clip(np.stack([0.5 + 0.3 * (y - 0.5) + 0.1 * rng.standard_normal(80), rng.random(80)], 1), 0.01, 0.99)
    fitted = fit_logistic(x, y)
    assert fitted["coef"][0] > abs(fitted["coef"][1])  # the informative member weighs more


def test_uncertainty_rule_and_accuracy_by_group():
    from core.evaluation.uncertainty import confident_vs_uncertain, uncertain

    assert uncertain(0.55, 0.1, 0.5) is True and uncertain(0.8, 0.1, 0.5) is False
    assert uncertain(0.5, None, 0.5) is None and uncertain(0.5, 0.1, None) is None
    oof = pd.DataFrame({"truth": ["lesion", "normal", "lesion", "normal", "lesion"], "p_normal": 0.0, "p_lesion": [0.9, 0.52, 0.48, 0.1, 0.2],
                        "spread": [0.05, 0.1, 0.1, 0.01, 0.02], "threshold": 0.5})
    out = confident_vs_uncertain(oof, ["normal", "lesion"])
    # confident: 0.9 (right), 0.1 (right), 0.2 (wrong); uncertain: 0.52 (wrong), 0.48 (wrong)
    assert (out["confident"]["images"], out["confident"]["correct"]) == (3, 2)
    assert (out["uncertain"]["images"], out["uncertain"]["correct"]) == (2, 0)
    assert out["confident"]["ci_low"] < 2 / 3 < out["confident"]["ci_high"]


def test_guided_backprop_runs_on_a_copy_and_leaves_the_shared_network_alone():
    import timm
    import torch

    from core.models.backends.torch_backend import TorchBackend

    net = timm.create_model("resnet10t", pretrained=False, num_classes=2)
    backend = TorchBackend(net, cam_layer="layer4", device="cpu")
    relus_before = sum(isinstance(m, torch.nn.ReLU) for m in net.modules())
    x = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    sal = backend.saliency(x, 1)
    assert sal.shape == (64, 64) and np.isfinite(sal).all() and sal.max() > 0
    assert sum(isinstance(m, torch.nn.ReLU) for m in net.modules()) == relus_before > 0
    assert all(p.grad is None for p in net.parameters())
    np.testing.assert_allclose(backend.forward(x[None]), backend.forward(x[None]))


def test_members_shared_by_ensembles_run_once_per_view(sample_dicom):
    """One upload through every shipped model built on the dense patch model and the U-Net
    (three TTA ensembles, the hierarchy, each network alone), two models at a time as the
    pages run them: each network runs once per view (the original and two flips), not once
    per ensemble, and never in two threads at once; every model gives what it gives from a
    cold start, alone; and what was remembered goes with the image."""
    import gc
    import threading
    import weakref
    from concurrent.futures import ThreadPoolExecutor

    from core.serving import inference
    from core.io.reader import read_image
    from core.models import registry

    names = ["ens-stage1-tta", "own-stage1-maps-stacked", "ens-stage2-tta", "own-stage2-maps-stacked", "patch-lite0-dense", "unet-bcir-lite0", "hierarchy-lesion"]
    registry.clear_cache()
    models = [registry.load(n) for n in names]
    patch, unet = registry.load("patch-lite0-dense"), registry.load("unet-bcir-lite0")
    calls, active, most = {"patch": 0, "unet": 0}, {"patch": 0, "unet": 0}, {"patch": 0, "unet": 0}
    guard = threading.Lock()

    def counted(fn, key):
        def run(image):
            with guard:
                calls[key] += 1
                active[key] += 1
                most[key] = max(most[key], active[key])
            try:
                return fn(image)
            finally:
                with guard:
                    active[key] -= 1

        return run

    patch._patch_maps = counted(patch._patch_maps, "patch")
    unet._probability_map = counted(unet._probability_map, "unet")
    image = read_image(sample_dicom)
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = dict(zip(names, pool.map(lambda m: m.predict(image), models)))
    assert calls == {"patch": 3, "unet": 3} and most == {"patch": 1, "unet": 1}
    for _ in range(2):  # the first time each model runs alone (cold), then two at a time, members' views run ahead
        calls.update(patch=0, unet=0)
        paged = dict(inference.run_models(models, read_image(sample_dicom), workers=2))
        assert sorted(paged) == list(range(len(names))) and all(r.ok for r in paged.values())
        assert calls == {"patch": 3, "unet": 3}, calls  # each network once per view, however many ensembles read it
        for i, name in enumerate(names):
            np.testing.assert_allclose(paged[i].probabilities, together[name].probabilities, atol=1e-6)

    ahead = inference.parts_ahead(models, image)
    assert len(ahead) == len({(id(m), id(v.pixels)) for m, v in ahead})  # each (member, view) once
    order = [m.name for m, _ in ahead]
    # flat3: a member of own-stage2; own-stage1: the hierarchy's stage 1, whose members come first
    assert sorted(order) == sorted(["patch-lite0-dense", "unet-bcir-lite0", "flat3-lite0-maps"] * 3 + ["own-stage1-maps-stacked"])
    assert order[-1] == "own-stage1-maps-stacked"
    assert max(i for i, n in enumerate(order) if n == "patch-lite0-dense") < min(i for i, n in enumerate(order) if n == "flat3-lite0-maps")  # a member's member first

    registry.clear_cache()
    for name in names:
        alone = registry.load(name).predict(read_image(sample_dicom))
        np.testing.assert_allclose(alone.probabilities, together[name].probabilities, atol=1e-6)
        assert alone.maps.keys() == together[name].maps.keys() and alone.decision == together[name].decision
        for key, layer in alone.maps.items():
            np.testing.assert_allclose(layer.values, together[name].maps[key].values, atol=1e-6)

    probe = weakref.ref(patch._maps(image)["lesion"])
    del image, together, ahead
    gc.collect()
    assert probe() is None and len(patch._recent) == 0 and len(unet._recent) == 0


def test_bilateral_study_starts_from_the_shipped_stacked_ensemble():
    """The bilateral-asymmetry study (issue 11 §5) reads the committed member scores: its
    'film alone' rule reproduces the shipped own-stage1 out-of-fold scores exactly, every
    woman's other film is her other film, and the pick is made on validation figures."""
    from pathlib import Path

    from core.training.composites import bilateral

    folder = Path("models/own-stage1-maps-stacked")
    w, members = bilateral.paired_films(pd.read_csv(folder / "member_scores.csv"))
    row = w[(w["fold"] == 0) & (w["part"] == "test")].iloc[0]
    other = w[(w["fold"] == 0) & (w["part"] == "test") & (w["patient_id"] == row["patient_id"]) & (w["image_id"] != row["image_id"])].iloc[0]
    assert row[f"{members[0]} (other)"] == pytest.approx(other[members[0]])
    alone = bilateral.out_of_fold(w, members, "film alone")
    shipped = pd.read_csv(folder / "oof_predictions.csv")
    both = alone.merge(shipped, on="image_id")
    assert len(both) == 322 and np.abs(both["score"] - both["p_lesion"]).max() < 1e-5
    out = bilateral.study(folder, n_boot=50)
    sets = out["feature_sets"]
    assert out["chosen_on_validation"] == max(sets, key=lambda k: sets[k]["validation_roc_auc"])
    from sklearn.metrics import roc_auc_score

    shipped_auc = roc_auc_score(shipped["truth"] == "lesion", shipped["p_lesion"])
    assert sets["film alone"]["oof_roc_auc"] == pytest.approx(shipped_auc, abs=0.0006)
    assert "ens-stage1-tta" in sets["film alone"]["versus_seeds"]


def test_own_recipes_are_set_against_every_seed_recipe_of_their_task():
    """`python -m core.reports.versus` and the cards' `versus_seeds` (Compare's table): every seed recipe
    with a complete out-of-fold run in the task, never a model built on an own recipe, and
    "beaten" only when the paired interval is wholly above 0; the cards hold what the
    committed out-of-fold files give now."""
    from core.reports import versus
    from core.models import registry

    for name, task in (("own-stage1-maps-stacked", "stage1"), ("own-stage2-maps-stacked", "stage2")):
        rows = versus.versus_seeds(name)
        rivals = {r["seed_recipe"] for r in rows}
        assert {"ens-stage1-tta", "unet-bcir-lite0", "patch-lite0-dense"} <= rivals if task == "stage1" else {"ens-stage2-tta", "patch-lite0-dense"} <= rivals
        assert "hierarchy-lesion" not in rivals and not any(n.startswith("own-") for n in rivals)
        assert all(r["beats"] == (r["ci_low"] > 0) and r["ci_low"] <= r["difference"] <= r["ci_high"] for r in rows)
        assert registry.card(name)["versus_seeds"] == rows
    assert "| ens-stage2-tta |" in versus.to_markdown(versus.versus_seeds("own-stage2-maps-stacked"))
