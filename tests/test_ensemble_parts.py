"""The parts ensembles are made of, checked against hand computations: flips and their
inverses, combination rules, the uncertainty rule, and guided back-propagation leaving the
shared network as it was."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def test_each_flip_is_its_own_inverse_and_keeps_the_grid():
    from core.models import tta
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
    from core.ensembles.combine import combine, combine_rows, fit_logistic, logit

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
    from core.uncertainty import confident_vs_uncertain, uncertain

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

    from core.models.torch_backend import TorchBackend

    net = timm.create_model("resnet10t", pretrained=False, num_classes=2)
    backend = TorchBackend(net, cam_layer="layer4", device="cpu")
    relus_before = sum(isinstance(m, torch.nn.ReLU) for m in net.modules())
    x = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    sal = backend.saliency(x, 1)
    assert sal.shape == (64, 64) and np.isfinite(sal).all() and sal.max() > 0
    assert sum(isinstance(m, torch.nn.ReLU) for m in net.modules()) == relus_before > 0
    assert all(p.grad is None for p in net.parameters())
    np.testing.assert_allclose(backend.forward(x[None]), backend.forward(x[None]))
