"""`python -m core train ... --address local --workers 2`: the dense patch net's epochs on Ray
Train (two CPU workers), the epoch's checkpoint kept under the fold run, and a rerun that reads
that checkpoint back instead of training again (issue 23).

One Ray Train run serves every check: starting a local Ray instance and its workers is most
of the time of such a test on two cores."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

pytest.importorskip("ray.train.torch")


def test_core_train_runs_the_patch_net_epochs_on_two_ray_workers_and_a_rerun_reads_them_back(tmp_path, monkeypatch, capsys):
    import ray

    from core.cli import main
    from core.datasets.synthetic import write_cbis_archive
    from core.models.nets.patch_net import DensePatchNet
    from core.training.ray_fit import RayTarget, fit_epoch_on_ray

    monkeypatch.setenv("MAMMO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MAMMO_RUNS", str(tmp_path / "runs"))
    data = write_cbis_archive(tmp_path / "CBIS", 24, seed=4, long_side=384)
    recipe = tmp_path / "patch.yaml"  # one epoch, no head-only epoch: one Ray Train run
    recipe.write_text(Path("recipes/seed000_patch_dense_lite0.yaml").read_text().replace("head_epochs: 1", "head_epochs: 0"))
    try:
        code = main(["--models-dir", str(tmp_path / "models"), "train", str(recipe), "--smoke", "--dataset", "cbis", "--data", str(data), "--address", "local", "--workers", "2"])
    finally:
        ray.shutdown()
    out = capsys.readouterr().out
    assert code == 0 and "patch net epochs on Ray Train: 2 worker(s) on a local Ray instance, CPU" in out
    fold = tmp_path / "runs" / "lesion_runs" / "patch-lite0-dense-smoke"
    storage = fold / "ray_fold0"
    assert sorted(p.name for p in storage.iterdir() if p.name.startswith("epoch")) == ["epoch000"]
    card = json.loads((tmp_path / "models" / "patch-lite0-dense-smoke" / "card.json").read_text())
    assert card["data"]["dataset"] == "cbis" and card["oof"]

    # what the workers sent back: two batches on each of the two workers, the net's steps, the optimiser state
    saved = torch.load(storage / "epoch000" / "result.pt", weights_only=False)
    plan_size = sum(json.loads(pd.read_csv(fold / "fold0_history.csv")["patch_counts"].iloc[0]))
    per_worker = math.ceil(plan_size / 2)  # a DistributedSampler's share (padded to equal shares)
    assert len(saved["losses"]) == min(2, math.ceil(per_worker / 32)) and all(math.isfinite(l) for l in saved["losses"])
    assert saved["seen"] == 2 * min(per_worker, 2 * 32)
    fresh = DensePatchNet()  # the ImageNet trunk the epoch started from
    trunk = [k for k in fresh.state_dict() if k.startswith("trunk.")]
    assert any(not torch.equal(fresh.state_dict()[k], saved["state"]["net"][k]) for k in trunk), "the workers' steps came back"
    assert saved["state"]["opt"]["state"], "the optimiser state came back too"

    # a rerun of that epoch reads the checkpoint back: no Ray instance, no worker, the same net
    again = DensePatchNet()
    opt = torch.optim.Adam(again.parameters(), lr=1e-4)
    losses, seen = fit_epoch_on_ray(again, opt, None, None, {}, None, head_only=False, epoch=0, recipe=None, target=RayTarget("local", 2, False, storage))
    assert not ray.is_initialized()
    assert losses == saved["losses"] and seen == saved["seen"]
    assert all(torch.equal(again.state_dict()[k], v) for k, v in saved["state"]["net"].items())
    assert opt.state_dict()["state"]

    # kinds that train in one process say so instead of ignoring the address
    assert main(["train", "recipes/seed002_unet_bcir.yaml", "--smoke", "--address", "local"]) == 2
