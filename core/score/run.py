"""`python -m core score`: every image of an archive through every chosen model on Ray Data.

read (`from_items` of small image rows) → `decode` → one `map_batches` actor pool per model
step → rows per (image, model) → part files on the driver, as batches arrive. Nothing holds
the archive's results: memory is bounded by Ray Data's streaming backpressure and one
flush buffer. Local by default (`workers` CPUs); `address` joins a running cluster.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from core.errors import DatasetError, UsageError
from core.score.plan import Plan, make_plan
from core.score.rows import explode, image_rows, model_splits
from core.score.steps import ModelStep, decode
from core.score.store import ScoreStore
from core.score.study_rows import write_study_rows

REPO = Path(__file__).resolve().parents[2]
FLUSH_ROWS = 256
LOCAL_OBJECT_STORE = 2 * 1024**3  # bytes; a few full-field DICOMs in flight, spilled beyond


@dataclass
class Summary:
    images: int = 0  # images in the dataset with an image file
    skipped: int = 0  # already in the output (resume)
    scored: int = 0  # images run now
    rows: int = 0  # rows in the output file at the end
    error_rows: int = 0  # rows written now that carry an error
    no_file: int = 0  # records whose image file is absent (CBIS-DDSM metadata without DICOMs)
    study_rows: int = 0  # rows per film against the other breast and per breast (`NAME.study.parquet`)
    models: list[str] = field(default_factory=list)


def _records(dataset: str, data: str | os.PathLike | None, limit: int | None):
    from core.datasets import load_dataset

    records = load_dataset(dataset, data)
    with_file = [r for r in records if r.path]
    if not with_file:
        raise DatasetError(f"no image files found for dataset {dataset!r} in the given folder")
    return with_file[:limit] if limit else with_file, len(records) - len(with_file)


def init_ray(address: str | None, workers: int) -> bool:
    """Start (or join) Ray quietly; True when this call started it (and must stop it)."""
    import ray

    if ray.is_initialized():
        return False
    import ray._private.worker as ray_worker

    # Ray forwards raylet warnings (node ids, addresses, worker counts) to this process's
    # stderr whatever log_to_driver says; the CLI prints no server detail, and rows carry errors
    ray_worker.print_to_stdstream = lambda *args, **kwargs: None
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)  # workers import `core` from here (same path on every node)
    kwargs = dict(log_to_driver=False, logging_level=logging.ERROR, configure_logging=True, runtime_env={"env_vars": {"PYTHONPATH": path}})
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=workers, object_store_memory=LOCAL_OBJECT_STORE, include_dashboard=False, **kwargs)
    ctx = __import__("ray.data", fromlist=["DataContext"]).DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    for name in ("ray", "ray.data", "ray.data._internal"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return True


def build_dataset(items: list[dict], plan: Plan, *, workers: int, batch_size: int, splits: dict[str, dict[str, str]]):
    """The lazy Ray Dataset of long rows; each model step an actor pool of `workers` actors.
    A worker (one actor of every step plus one decoding task) is one CPU: each of them takes
    an equal share; rows are reshaped on no reserved CPU (it is bookkeeping)."""
    import ray.data

    share = 1.0 / (len(plan.steps) + 1)
    ds = ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / batch_size)))
    ds = ds.map_batches(decode, batch_size=batch_size, batch_format="numpy", num_cpus=share)
    scored = {m.name: m.scored_maps for m in plan.models}
    for step in plan.steps:
        with warnings.catch_warnings():  # the actor option has no named parameter yet; its warning would name this file
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
            ds = ds.map_batches(ModelStep, fn_constructor_args=(step, plan.models_dir, scored[step.model]), batch_size=batch_size,
                                batch_format="numpy", concurrency=workers, num_cpus=share, ray_remote_args_fn=_no_restart)
    return ds.map_batches(explode, fn_kwargs={"models": plan.models, "classes": plan.classes, "splits": splits}, batch_size=batch_size,
                          batch_format="numpy", num_cpus=0)


def _no_restart() -> dict:
    """A failing actor is not restarted: a model that cannot load marks its rows instead."""
    return {"max_restarts": 0}


def score(data: str | os.PathLike | None, dataset: str, models: Sequence[str], out: str | os.PathLike, *, address: str | None = None,
          workers: int = 1, batch_size: int = 2, models_dir: str | os.PathLike | None = None, limit: int | None = None,
          progress: Callable[[int, int], None] | None = None) -> Summary:
    """Score `dataset` at `data` with `models` into `out` (resuming it); `progress(done, total)` per batch."""
    if workers < 1 or batch_size < 1:
        raise UsageError("--workers and --batch-size must be at least 1")
    store = ScoreStore(out)
    plan = make_plan(models, models_dir)
    records, no_file = _records(dataset, data, limit)
    done = store.done()
    todo = [r for r in records if any((r.image_id, m) not in done for m in plan.names)]
    summary = Summary(images=len(records), skipped=len(records) - len(todo), no_file=no_file, models=plan.names)
    if todo:
        started = init_ray(address, workers)
        try:
            ds = build_dataset(image_rows(todo), plan, workers=workers, batch_size=batch_size, splits=model_splits(plan, dataset))
            _drain(ds, store, done, summary, len(todo), progress)
        finally:
            if started:
                import ray

                ray.shutdown()
    summary.rows = store.finish()
    if summary.rows:
        summary.study_rows = write_study_rows(out, plan.models_dir)
    return summary


def _drain(ds, store: ScoreStore, done: set[tuple[str, str]], summary: Summary, total: int, progress) -> None:
    """Pull long rows as they come, drop the ones already written, flush parts; an interrupt
    keeps what was flushed plus the buffer (the next run resumes after it)."""
    import pandas as pd

    buffer: list[pd.DataFrame] = []
    buffered = 0
    try:
        for batch in ds.iter_batches(batch_size=None, batch_format="pandas"):
            keep = [(i, m) not in done for i, m in zip(batch["image_id"], batch["model"])]
            batch = batch[keep]
            summary.scored += batch["image_id"].nunique()
            summary.error_rows += int(batch["error"].notna().sum())
            buffer.append(batch)
            buffered += len(batch)
            if buffered >= FLUSH_ROWS:
                store.write(pd.concat(buffer, ignore_index=True))
                buffer, buffered = [], 0
            if progress:
                progress(summary.scored, total)
    finally:
        if buffer:
            store.write(pd.concat(buffer, ignore_index=True))
