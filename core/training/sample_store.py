"""A classifier's preprocessed inputs on disk, built once per (films, task, pipeline).

Why: a 224-px input is 200 KB; an archive of 10,000 films held in memory is 2 GB and
grows with the archive. Rows are planned first (so their count is known), written with
plain writes beside the film cache, and read back one batch at a time; a second run of the
same recipe on the same files reads them instead of decoding every film again. The key is
the files' bytes (not their names), the task and the front pipeline, so a renamed copy hits
and a changed pipeline misses.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from core.preprocess.pipeline import Pipeline
from core.datasets.samples import TaskSamples, plan_samples, render_samples, samples_of
from core.types import Record
from core.training.cache import cache_root, record_digest
from core.training.row_file import RowFile, RowWriter

STORE_VERSION = 1


def stored_samples(records: Sequence[Record], task: str, task_input: str, front: Pipeline, *, patch_scale: float = 2.5, jitter: int = 0, seed: int = 0,
                   root: Path | None = None, progress=None, log: Callable[[str], None] = print) -> TaskSamples:
    """The task's inputs as a `RowFile` (read row by row), written on first use."""
    root = root or cache_root()
    plan = plan_samples(records, task, task_input, jitter=jitter, seed=seed)
    if not len(plan):
        raise ValueError("no samples for this task")
    spec = {"v": STORE_VERSION, "files": [record_digest(r, root / "digests") for r in plan.records], "task": task, "input": task_input,
            "front": front.to_json(), "patch_scale": patch_scale, "jitter": jitter, "seed": seed}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:24]
    path = root / "classifier_inputs" / f"{key}.npy"
    if not path.exists():
        t0 = time.time()
        rows = render_samples(plan, task_input, front, patch_scale=patch_scale, progress=progress)
        first = next(rows)
        with RowWriter(path, len(plan), first.shape, np.float32) as out:
            out.write(first)
            for row in rows:
                out.write(row)
        log(f"{len(plan)} inputs of {len(plan.records)} films written in {time.time() - t0:.1f} s")
    return samples_of(plan, RowFile(path))
