"""Patient-level splits on real MIAS records, and the seeds' augmentations."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from core.preprocess.augment import Augment
from core.errors import SplitLeakError
from core.datasets.splits import check_no_leak, kfold, split_patients


def test_split_is_patient_level_deterministic_and_stratified(mias_records):
    a = split_patients(mias_records, seed=0)
    assert a == split_patients(mias_records, seed=0)
    assert a != split_patients(mias_records, seed=1)
    by_patient: dict[str, set[str]] = {}
    for r in mias_records:
        by_patient.setdefault(r.patient_id, set()).add(a[r.image_id])
    assert all(len(s) == 1 for s in by_patient.values())
    sizes = Counter(a.values())
    assert sizes["train"] > sizes["val"] > 40 and sizes["test"] > 40
    for part in ("val", "test"):
        labels = Counter(r.label for r in mias_records if a[r.image_id] == part)
        assert all(labels[l] >= 5 for l in ("normal", "benign", "malignant")), labels


def test_leak_check_fails_loudly(mias_records):
    a = split_patients(mias_records, seed=0)
    first, second = mias_records[0], mias_records[1]  # mdb001 + mdb002: one woman
    assert first.patient_id == second.patient_id
    a[second.image_id] = "test" if a[first.image_id] != "test" else "train"
    with pytest.raises(SplitLeakError, match="more than one"):
        check_no_leak(mias_records, a)


def test_kfold_partitions_every_image_once(mias_records):
    folds = kfold(mias_records, k=5, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(mias_records)))


def test_augment_is_seeded_and_keeps_shape():
    img = np.random.default_rng(0).uniform(0, 1, (96, 80)).astype(np.float32)
    aug = Augment(rotation=20, shift=0.1, shear=0.2, zoom=(0.8, 1.2), hflip=True, vflip=True, channel_shift=20, noise_std=0.01)
    a = aug(img, np.random.default_rng(1))
    b = aug(img, np.random.default_rng(1))
    assert np.array_equal(a, b) and a.shape == img.shape and a.dtype == np.float32
    assert not np.allclose(a, img)
    assert 0 <= a.min() and a.max() <= 1


def test_rot90_rotates_square_patches():
    img = np.zeros((64, 64), np.float32)
    img[:8, :8] = 1
    seen = {tuple(np.argwhere(Augment(rot90=True)(img, np.random.default_rng(s)) > 0.5)[0]) for s in range(12)}
    assert len(seen) == 4
    assert Augment.from_dict({"zoom": [0.8, 1.2]}).zoom == (0.8, 1.2)
