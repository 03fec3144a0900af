"""The dense patch net trains on Ray Train with two CPU workers, and resumes (issue 23)."""

from __future__ import annotations

import math

import pytest
import torch

from core.training.cache import FilmCache, FilmPipeline
from core.training.ray_fit import fit_patch_net_on_ray

pytest.importorskip("ray.train.torch")


def test_two_workers_train_report_and_resume(tmp_path, mias_records):
    import ray

    films_in = [r for r in mias_records if r.label != "normal" and r.lesions and r.lesions[0].center is not None][:2] + [r for r in mias_records if r.label == "normal"][:2]
    cache = FilmCache(FilmPipeline(long_side=512), root=tmp_path / "cache")
    films, _ = cache.build(films_in)
    labels = [r.label for r in films_in]
    kw = dict(num_workers=2, storage=tmp_path / "runs", name="patch-ray", batch_size=4, max_batches=2)
    try:
        first = fit_patch_net_on_ray(films, labels, range(4), cache, epochs=1, **kw)
        assert first.error is None and first.metrics["epoch"] == 0 and math.isfinite(first.metrics["train_loss"])
        with first.checkpoint.as_directory() as d:
            state = torch.load(f"{d}/state.pt", weights_only=False)
        assert state["epoch"] == 0 and "head.weight" in state["net"]  # the bare net, not the DDP wrapper
        again = fit_patch_net_on_ray(films, labels, range(4), cache, epochs=2, **kw)
        assert again.error is None and again.metrics["epoch"] == 1  # resumed after epoch 0, ran epoch 1 only
    finally:
        ray.shutdown()
