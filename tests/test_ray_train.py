"""The dense patch net trains on Ray Train with two CPU workers, and resumes (issue 23)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from core.training.cache import FilmCache, FilmPipeline
import numpy as np

from core.training.ray_fit import RayTarget, fit_epoch_on_ray

pytest.importorskip("ray.train.torch")


def test_two_workers_train_an_epoch_and_a_rerun_resumes_from_its_checkpoint(tmp_path, mias_records):
    import ray

    from core.models.nets.patch_net import DensePatchNet, data_config
    from core.training.films import StreamedFilms
    from core.training.patch_loop import PatchRecipe
    from core.training.patches import plan_patches

    films_in = [r for r in mias_records if r.label != "normal" and r.lesions and r.lesions[0].center is not None][:2] + [r for r in mias_records if r.label == "normal"][:2]
    cache = FilmCache(FilmPipeline(long_side=512), root=tmp_path / "cache")
    films, _ = cache.build(films_in)
    data = StreamedFilms(films_in, films, cache)
    recipe = PatchRecipe(batch_size=4, max_batches=2)
    net = DensePatchNet()
    cfg = data_config(net.trunk)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    plan = plan_patches(films, [r.label for r in films_in], range(4), cache, 128, np.random.default_rng(0))
    target = RayTarget("local", 2, False, tmp_path / "ray")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    try:
        losses, seen = fit_epoch_on_ray(net, opt, plan, data, cfg, torch.ones(3), head_only=False, epoch=0, recipe=recipe, target=target)
        assert len(losses) == 2 and all(math.isfinite(l) for l in losses) and seen == 2 * 2 * 4  # two workers, two batches of four
        after = net.state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before)  # the workers' steps came back
        assert opt.state_dict()["state"], "the optimiser state came back too"
        again = DensePatchNet()
        losses2, _ = fit_epoch_on_ray(again, torch.optim.Adam(again.parameters(), lr=1e-4), plan, data, cfg, torch.ones(3), head_only=False, epoch=0, recipe=recipe, target=target)
        assert losses2 == losses and all(torch.equal(again.state_dict()[k], after[k]) for k in after)  # read back, not rerun
    finally:
        ray.shutdown()


def test_core_train_runs_the_patch_net_epochs_on_two_ray_workers(tmp_path, monkeypatch, capsys):
    """`python -m core train ... --address local --workers 2`: each epoch on Ray Train, the
    epoch's checkpoint kept under the fold run, the model folder as without Ray."""
    import json

    import ray

    from core.cli import main
    from core.datasets.synthetic import write_cbis_archive

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
    assert sorted(p.name for p in (fold / "ray_fold0").iterdir() if p.name.startswith("epoch")) == ["epoch000"]
    card = json.loads((tmp_path / "models" / "patch-lite0-dense-smoke" / "card.json").read_text())
    assert card["data"]["dataset"] == "cbis" and card["oof"]
    # kinds that train in one process say so instead of ignoring the address
    assert main(["train", "recipes/seed002_unet_bcir.yaml", "--smoke", "--address", "local"]) == 2
