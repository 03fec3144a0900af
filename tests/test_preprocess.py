"""Preprocessing steps on real mammograms: crop, orientation, contrast, resize, inverse maps."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import UsageError
from core.io.reader import read_image
from core.preprocess.pipeline import STEPS, Pipeline, breast_mask, extract_patch, patch_box, sample_background_boxes

WHOLE = [["breast_crop", {}], ["orient_left", {}], ["clahe", {"clip_limit": 2.0}], ["median", {"ksize": 3}], ["hist_eq", {}], ["resize_pad", {"size": 224}], ["stack3", {}], ["normalize", {"mode": "imagenet"}]]


@pytest.fixture(scope="module")
def mdb001(mias_records):
    rec = next(r for r in mias_records if r.image_id == "mdb001")
    return rec, read_image(rec.path)


def test_breast_crop_keeps_the_breast_and_drops_film_labels(mdb001):
    rec, image = mdb001
    out, tf = Pipeline([["breast_crop", {}]]).apply(image.pixels)
    x0, y0, x1, y1 = tf.ops[0][1]["box"]
    assert out.shape == (y1 - y0, x1 - x0)
    assert out.shape[1] < image.shape[1] * 0.8  # mostly background removed across the width
    cx, cy = rec.lesions[0].center
    assert x0 <= cx < x1 and y0 <= cy < y1  # the lesion survives the crop
    mask = breast_mask(image.pixels)
    outside = image.pixels[~mask]
    assert outside.size and (out[~mask[y0:y1, x0:x1]] == 0).all()  # artefacts outside the breast are blanked


def test_orient_left_puts_the_chest_wall_left(mias_records):
    for rec in mias_records[:6]:
        img = read_image(rec.path).pixels
        out, _ = Pipeline([["breast_crop", {}], ["orient_left", {}]]).apply(img)
        half = out.shape[1] // 2
        assert out[:, :half].sum() >= out[:, half:].sum()
        mirrored, _ = Pipeline([["breast_crop", {}], ["orient_left", {}]]).apply(img[:, ::-1].copy())
        assert mirrored.shape == out.shape
        assert np.allclose(mirrored, out, atol=1e-6)


def test_full_pipeline_output_and_inverse_heatmap_lands_on_the_lesion(mdb001):
    rec, image = mdb001
    x, tf = Pipeline(WHOLE).apply(image.pixels)
    assert x.shape == (224, 224, 3) and x.dtype == np.float32 and np.isfinite(x).all()
    (px, py), = tf.forward_points([rec.lesions[0].center])
    grid = np.zeros((224, 224), np.float32)
    yy, xx = np.mgrid[:224, :224]
    grid[:] = np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * 3.0 ** 2))
    back = tf.inverse(grid)
    assert back.shape == image.shape
    y, x_ = np.unravel_index(np.argmax(back), back.shape)
    cx, cy = rec.lesions[0].center
    assert abs(x_ - cx) <= 8 and abs(y - cy) <= 8


@pytest.mark.parametrize("name", ["clahe", "median", "hist_eq"])
def test_contrast_steps_stay_in_range(mdb001, name):
    _, image = mdb001
    out, _ = Pipeline([[name, {}]]).apply(image.pixels)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert not np.allclose(out, image.pixels)


def test_resize_pad_keeps_aspect_ratio_with_zero_padding():
    img = np.random.default_rng(0).uniform(0.2, 1.0, (400, 200)).astype(np.float32)
    out, tf = Pipeline([["resize_pad", {"size": 128}]]).apply(img)
    assert out.shape == (128, 128)
    assert (out[:, 64:] == 0).all() and (out[:, :64] > 0).all()
    assert tf.inverse(np.ones((128, 128), np.float32)).shape == (400, 200)


def test_pipeline_json_roundtrip_and_unknown_step():
    p = Pipeline(WHOLE)
    assert Pipeline.from_json(p.to_json()).steps == p.steps
    assert set(n for n, _ in WHOLE) <= set(STEPS)
    with pytest.raises(UsageError):
        Pipeline([["sharpen", {}]])
    with pytest.raises(UsageError):
        Pipeline([["normalize", {"mode": "imagenet"}]]).apply(np.zeros((64, 64), np.float32))


def test_patches_around_lesions_and_background_patches_avoid_them(mdb001):
    rec, image = mdb001
    lesion = rec.lesions[0]
    box = patch_box(lesion.center, lesion.radius, image.shape)
    patch = extract_patch(image.pixels, box)
    assert patch.shape[0] == patch.shape[1] >= 96
    x0, y0, x1, y1 = box
    assert x0 <= lesion.center[0] < x1 and y0 <= lesion.center[1] < y1
    bg = sample_background_boxes(image.pixels, [box], n=5, side=96, rng=np.random.default_rng(0))
    assert bg, "no background patch found inside the breast"
    for b in bg:
        assert b[2] <= x0 or x1 <= b[0] or b[3] <= y0 or y1 <= b[1]


def test_limit_size_is_a_no_op_on_films_and_shrinks_full_field_dicoms(sample_dicom, mdb001):
    _, film = mdb001
    same, tf = Pipeline([["limit_size", {"max_side": 1024}]]).apply(film.pixels)
    assert same is film.pixels or np.array_equal(same, film.pixels)
    assert tf.ops == []
    big = read_image(sample_dicom)
    p = Pipeline([["limit_size", {"max_side": 1024}], ["breast_crop", {}], ["orient_left", {}], ["resize_pad", {"size": 256}]])
    x, tf = p.apply(big.pixels)
    assert x.shape == (256, 256) and max(tf.ops[0][1]["out_shape"]) == 1024
    assert tf.inverse(np.ones((256, 256), np.float32)).shape == big.shape
