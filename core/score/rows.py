"""The rows of a score file: one per (image, model), the columns of `predictions.csv` plus
`model`, the label, each map's image score, timings and the error that stopped a row.

Images are named by their dataset id (`image_id`, as `python -m core dataset` and Explore
show it: a CBIS-DDSM folder name, a MIAS refnum, a path inside the class-folder root);
the server path of a file is carried through the pipeline only to read it and never
reaches a row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from core.labels import judged_as, task_truth
from core.datasets.samples import lesion_rois
from core.studies.grouping import side_of
from core.types import Record
from core.score.plan import ModelInfo, Plan

KEY = ("image_id", "model")
BASE_COLUMNS = ["image_id", "patient_id", "side", "view", "split", "label", "truth", "model", "task", "classes"]
TAIL_COLUMNS = ["pred", "threshold", "thresholds", "roi_source", "study_input", "error", "decode_seconds", "model_seconds"]
MAP_PREFIX = "map_"


def image_rows(records: Iterable[Record], splits: dict[str, dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """What the pipeline starts from: one small row per image (the path stays inside it)."""
    out = []
    for r in records:
        out.append({
            "image_id": r.image_id, "patient_id": r.patient_id, "side": side_of(r.side) or "", "view": r.view or "", "split": r.split or "all", "label": r.label, "path": r.path or "",
            "rois": json.dumps([list(roi) for roi, _ in lesion_rois(r)]),
        })
    return out


def model_splits(plan: Plan, dataset: str) -> dict[str, dict[str, str]]:
    """image_id -> train / val / test of each model built on `dataset` (from its predictions.csv),
    so `evaluate --split test` on a score of that dataset recomputes the card's test figures."""
    from core.models import registry

    out: dict[str, dict[str, str]] = {}
    for m in plan.models:
        card = registry.card(m.name, plan.models_dir)
        path = Path(card["_folder"]) / "predictions.csv"
        if (card.get("data") or {}).get("dataset") == dataset and path.is_file():
            pred = pd.read_csv(path, usecols=["image_id", "split"], dtype=str)
            out[m.name] = dict(zip(pred["image_id"], pred["split"]))
    return out


def truth_in(task: str, label: str) -> str | None:
    """A dataset label read in a model's task (None: the image is not part of that task)."""
    return task_truth(judged_as(task), Record("", "", "", None, None, label))


def result_column(model: str) -> str:
    return f"result::{model}"


def explode(batch: dict[str, np.ndarray], *, models: Sequence[ModelInfo], classes: Sequence[str], splits: dict[str, dict[str, str]]) -> pd.DataFrame:
    """Wide image rows (one JSON result column per model) -> long rows, one per (image, model)."""
    rows = []
    n = len(batch["image_id"])
    for i in range(n):
        image_id, label = str(batch["image_id"][i]), str(batch["label"][i])
        decode_error = batch["error"][i] or None
        for m in models:
            res = json.loads(batch[result_column(m.name)][i] or "{}")
            row: dict[str, Any] = {
                "image_id": image_id, "patient_id": str(batch["patient_id"][i]), "side": str(batch["side"][i]) or None, "view": str(batch["view"][i]) or None,
                "split": splits.get(m.name, {}).get(image_id, str(batch["split"][i])), "label": label,
                "truth": truth_in(m.task, label), "model": m.name, "task": m.task, "classes": "|".join(m.classes),
            }
            probs = res.get("p") or [None] * len(m.classes)
            row.update({f"p_{c}": None for c in classes})
            row.update({f"p_{c}": (None if p is None else float(p)) for c, p in zip(m.classes, probs)})
            row.update({"pred": res.get("decision"), "threshold": res.get("threshold"), "thresholds": json.dumps(m.thresholds), "roi_source": res.get("roi_source"), "study_input": res.get("study_input"),
                        "error": decode_error or res.get("error"), "decode_seconds": float(batch["decode_seconds"][i]), "model_seconds": res.get("seconds")})
            row.update({f"{MAP_PREFIX}{k}": v for k, v in (res.get("maps") or {}).items()})
            rows.append(row)
    frame = pd.DataFrame(rows)
    return frame[[c for c in BASE_COLUMNS] + [f"p_{c}" for c in classes] + TAIL_COLUMNS + sorted(c for c in frame.columns if c.startswith(MAP_PREFIX))] if rows else frame
