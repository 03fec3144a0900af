"""The film cache and the streamed patch loader (issue 23 groundwork) on real MIAS films."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import UsageError
from core.training.cache import FilmCache, FilmPipeline, film_key
from core.training.device import autocast, resolve_device
from core.training.films import stream_films
from core.training.patches import PatchDataset, patch_loader, plan_patches


@pytest.fixture(scope="module")
def four_films(mias_records):
    lesion = [r for r in mias_records if r.label != "normal" and r.lesions and r.lesions[0].center is not None][:2]
    normal = [r for r in mias_records if r.label == "normal"][:2]
    return lesion + normal


def test_each_film_decoded_once_keyed_by_content_and_pipeline(tmp_path, four_films):
    cache = FilmCache(FilmPipeline(long_side=512), root=tmp_path)
    films, first = cache.build(four_films)
    assert first.decoded == 4 and first.films == 4
    again, second = cache.build(four_films)
    assert second.decoded == 0 and [f.key for f in again] == [f.key for f in films]
    assert film_key(four_films[0], FilmPipeline(512)) != film_key(four_films[0], FilmPipeline(1024))
    img = cache.image_levels(films[0])
    assert isinstance(img, np.memmap) and img.dtype == np.uint16 and img.shape == films[0].shape and max(img.shape) == 512
    # lesion circles scaled with the film: MIAS is 1024 px, so half
    lesion = four_films[0].lesions[0]
    cx, cy, r, severity = films[0].circles[0]
    assert (cx, cy, r) == pytest.approx((lesion.center[0] / 2, lesion.center[1] / 2, lesion.radius / 2), rel=0.01)
    assert severity == lesion.severity
    assert cache.lesions(films[0])[int(cy), int(cx)]
    assert cache.breast(films[0]).shape == films[0].shape


def test_patches_come_from_the_plan_and_do_not_depend_on_loader_workers(tmp_path, four_films):
    data = stream_films(four_films, FilmPipeline(long_side=1024), cache=FilmCache(FilmPipeline(1024), root=tmp_path), log=lambda _: None)
    labels = [r.label for r in data.records]
    plan = plan_patches(data.films, labels, range(4), data.cache, 128, np.random.default_rng(0))
    counts = plan.counts()
    assert counts[0] >= 4 and counts[1:].sum() == 12  # 6 jittered patches per lesion, 2 lesion films
    for k in np.nonzero(plan.label > 0)[0]:  # lesion patches hold their lesion's centre
        cx, cy, _, _ = data.films[plan.film[k]].circles[0]
        assert plan.x0[k] <= cx <= plan.x0[k] + 128 and plan.y0[k] <= cy <= plan.y0[k] + 128
    ds = PatchDataset(plan, data.films, data.cache, 128, [0.5] * 3, [0.5] * 3, seed=3)
    x0, y0 = next(iter(patch_loader(ds, 8, workers=0, seed=1)))
    x2, y2 = next(iter(patch_loader(ds, 8, workers=2, seed=1)))
    assert x0.shape == (8, 3, 128, 128) and x0.dtype.is_floating_point
    assert np.array_equal(y0.numpy(), y2.numpy()) and np.allclose(x0.numpy(), x2.numpy())
    assert np.allclose(data.images[0], np.asarray(data.cache.image(data.films[0]), np.float32))


def test_device_choice():
    import torch

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UsageError, match="--device"):
        resolve_device("tpu")
    with autocast(resolve_device("cpu")):
        assert not torch.is_autocast_enabled()
