"""The dense patch net trains on Ray Train with two CPU workers, and resumes (issue 23).

`python -m core train ... --address local --workers 2` itself runs in
tests/test_train_command.py (the synthetic CBIS-DDSM archive's patch net trains on Ray there)."""

from __future__ import annotations

import math

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
