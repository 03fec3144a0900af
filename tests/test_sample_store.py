"""Classifier inputs written once to disk and read row by row (issue 23): the same rows as
the in-memory path, keyed by file content, nothing half-written left behind."""
from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

from core.preprocess.pipeline import Pipeline
from core.datasets.samples import build_samples
from core.training.row_file import RowFile, RowWriter
from core.training.sample_store import stored_samples

FRONT = Pipeline.from_json([["clahe", {"clip_limit": 2.0}], ["resize", {"size": 64}]])


@pytest.fixture(scope="module")
def lesion_films(mias_records):
    return [r for r in mias_records if r.label != "normal" and r.lesions and r.lesions[0].center is not None][:4]


def test_stored_patches_equal_the_in_memory_ones_and_a_renamed_copy_hits(tmp_path, lesion_films):
    quiet = lambda _: None  # noqa: E731
    memory = build_samples(lesion_films, "stage2", "patch", FRONT, jitter=2, seed=5)
    stored = stored_samples(lesion_films, "stage2", "patch", FRONT, jitter=2, seed=5, root=tmp_path, log=quiet)
    assert isinstance(stored.inputs, RowFile) and len(stored.inputs) == len(memory.inputs) == 3 * sum(len(r.lesions) for r in lesion_films)
    assert np.array_equal(stored.labels, memory.labels) and np.array_equal(stored.image_index, memory.image_index)
    assert np.array_equal(stored.inputs[np.arange(len(memory.inputs))], memory.inputs)
    [written] = list((tmp_path / "classifier_inputs").iterdir())
    stamp = written.stat().st_mtime_ns

    copies = []
    for r in lesion_films:  # the same bytes under other names: the store is hit, not rebuilt
        copy = tmp_path / "renamed" / f"x{len(copies)}.pgm"
        copy.parent.mkdir(exist_ok=True)
        shutil.copy(r.path, copy)
        copies.append(replace(r, path=str(copy)))
    again = stored_samples(copies, "stage2", "patch", FRONT, jitter=2, seed=5, root=tmp_path, log=quiet)
    assert list((tmp_path / "classifier_inputs").iterdir()) == [written] and written.stat().st_mtime_ns == stamp
    assert np.array_equal(again.inputs[0], memory.inputs[0])

    other = stored_samples(lesion_films, "stage2", "patch", Pipeline.from_json([["resize", {"size": 32}]]), jitter=2, seed=5, root=tmp_path, log=quiet)
    assert other.inputs[0].shape == (32, 32) and len(list((tmp_path / "classifier_inputs").iterdir())) == 2


def test_an_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "rows.npy"
    with pytest.raises(RuntimeError):
        with RowWriter(target, 3, (2, 2), np.float32) as out:
            out.write(np.zeros((2, 2)))
            raise RuntimeError("interrupted")
    with pytest.raises(ValueError):
        with RowWriter(target, 3, (2, 2), np.float32) as out:
            out.write(np.zeros((2, 2)))
    assert list(tmp_path.iterdir()) == []
    with RowWriter(target, 2, (2, 2), np.float32) as out:
        out.write(np.ones((2, 2)))
        out.write(np.full((2, 2), 2.0))
    rows = RowFile(target)
    assert np.array_equal(rows[1], np.full((2, 2), 2.0, np.float32)) and np.array_equal(rows[0:2], np.load(target))
