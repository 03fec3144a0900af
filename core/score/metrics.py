"""The cards' metrics for a score file: every model in every task its output can be read in.

A score file carries each row's dataset label, the model's classes and its validation
thresholds, so it is judged without the models: rows are read in a task (`judge.view_frame`),
then `evaluate.evaluate_predictions` gives the same metrics, patient-level bootstrap CIs and
confusion matrices as a card, and `dashboard.curves` the same ROC / PR / calibration.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from core.errors import UsageError
from core.evaluation.metrics import evaluate_predictions
from core.evaluation.judge import view_frame
from core.labels import TASK_ORDER, space, tasks_for
from core.score.rows import BASE_COLUMNS

REQUIRED = set(BASE_COLUMNS) | {"pred", "threshold", "error"}


def read_scores(path: str | os.PathLike) -> pd.DataFrame:
    """A score file as a table; UsageError (never a traceback) when it is not one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.is_file():
        raise UsageError("--predictions: no such file")
    try:
        frame = pq.read_table(p).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise UsageError(f"--predictions is not a parquet file ({type(exc).__name__})") from exc
    missing = REQUIRED - set(frame.columns)
    if missing:
        raise UsageError(f"--predictions is not a score file (missing columns: {', '.join(sorted(missing))})")
    return frame


def model_classes(frame: pd.DataFrame, model: str) -> tuple[str, ...]:
    return tuple(str(frame.loc[frame["model"] == model, "classes"].iloc[0]).split("|"))


def task_frame(frame: pd.DataFrame, model: str, task: str, split: str = "all") -> tuple[pd.DataFrame, tuple[str, ...]]:
    """One model's scored rows read in `task` (the columns of predictions.csv, truth in the task)."""
    classes = model_classes(frame, model)
    rows = frame[(frame["model"] == model) & frame["error"].isna()]
    if split != "all":
        rows = rows[rows["split"] == split]
    cols = ["image_id", "patient_id", "split", "truth"] + [f"p_{c}" for c in classes] + (["pred"] if len(classes) > 2 else [])
    own = rows[rows["truth"].notna()][cols].reset_index(drop=True)  # truth is already in the model's own task
    return view_frame(own, classes, task), space(task).classes


def thresholds(frame: pd.DataFrame, model: str) -> dict[str, float | None]:
    """The model's validation-chosen threshold in each task (from the rows' `thresholds` JSON,
    else its own-task `threshold` column)."""
    rows = frame[frame["model"] == model]
    if "thresholds" in rows.columns and rows["thresholds"].notna().any():
        return json.loads(rows["thresholds"].dropna().iloc[0])
    thr = rows["threshold"].dropna()
    classes = model_classes(frame, model)
    own = next((t for t in tasks_for(classes) if space(t).classes == classes), None)
    return {own: float(thr.iloc[0])} if own and len(thr) else {}


def pairs(frame: pd.DataFrame) -> Iterator[tuple[str, str]]:
    """(model, task) for every model in the file and task its output can be read in, task-major."""
    models = list(dict.fromkeys(frame["model"]))
    for task in TASK_ORDER:
        for m in models:
            if task in tasks_for(model_classes(frame, m)):
                yield m, task


def evaluate_scores(frame: pd.DataFrame, split: str = "all", n_boot: int = 1000) -> list[dict[str, Any]]:
    """One result per (model, task): the card's metrics with CIs, or why there are none."""
    out = []
    for model, task in pairs(frame):
        rows, classes = task_frame(frame, model, task, split)
        n_err = int(frame.loc[frame["model"] == model, "error"].notna().sum())
        base = {"model": model, "task": task, "error_rows": n_err}
        counts = rows["truth"].value_counts()
        if rows.empty:
            out.append(base | {"n_images": 0, "note": "no scored image in this task"})
            continue
        if space(task).binary and len(counts) < 2:
            base["note"] = f"only {counts.index[0]} images: AUCs are undefined"
        thr = thresholds(frame, model).get(task)
        result = evaluate_predictions(rows, classes, "all", threshold=thr, n_boot=n_boot)
        result["split"] = split
        out.append(base | result)
    return out


def leaderboard(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One line per (task, model), ranked by ROC AUC within a task: value and 95 % CI as numbers."""
    rows = []
    for r in results:
        m = r.get("metrics") or {}

        def val(k: str, part: int | None = None) -> float:
            if k not in m:
                return float("nan")
            return float(m[k]["value"]) if part is None else float(m[k]["ci95"][part])

        rows.append({"task": r["task"], "model": r["model"], "images": r.get("n_images", 0), "patients": r.get("n_patients", 0),
                     "ROC AUC": val("roc_auc"), "AUC low": val("roc_auc", 0), "AUC high": val("roc_auc", 1),
                     "PR AUC": val("pr_auc"), "sensitivity": val("sensitivity"), "specificity": val("specificity"),
                     "macro F1": val("macro_f1"), "balanced acc.": val("balanced_accuracy"), "Brier": val("brier"),
                     "threshold": r.get("threshold"), "error rows": r.get("error_rows", 0), "note": r.get("note", "")})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["_t"] = table["task"].map({t: i for i, t in enumerate(TASK_ORDER)})
    table = table.sort_values(["_t", "ROC AUC"], ascending=[True, False], na_position="last").drop(columns="_t")
    return table.reset_index(drop=True)


def json_safe(obj: Any) -> Any:
    """NaN -> None, numpy -> Python, for `--json`."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def task_data(frame: pd.DataFrame, model: str, task: str, split: str = "all"):
    """One model's rows in `task` as the dashboard's `TaskData` (curves, operating points),
    with the model's validation-chosen threshold in that task."""
    from core.reports.curves import TaskData

    rows, classes = task_frame(frame, model, task, split)
    own = model_classes(frame, model) == classes
    return TaskData(model, task, classes, rows, {"threshold": thresholds(frame, model).get(task)}, own)
