"""Predictions for every record of a dataset: the rows of `predictions.csv`.

Training and `python -m core evaluate` both call this, so the card's figures and a
user's recomputation go through exactly the same code path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from core.io.reader import read_image
from core.labels import judged_as, task_truth
from core.datasets.samples import lesion_rois
from core.types import Record




def _task_of(model) -> str:
    return judged_as(model.task)


def predict_records(model, records: Sequence[Record], assignment: dict[str, str] | None = None, *, data_dir: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """One row per image in the model's task: ids, split, truth, one probability column per class."""
    from tqdm.auto import tqdm

    task = _task_of(model)
    patch = model.looks_at_roi
    rows: list[dict[str, Any]] = []
    for rec in tqdm(records, desc=f"predict {model.name}", leave=False, disable=not progress):
        truth = task_truth(task, rec)
        if truth is None:
            continue
        rois = [roi for roi, _ in lesion_rois(rec)] if patch else [None]
        if patch and not rois:
            continue  # a lesion without coordinates has no patch to classify
        image = read_image(rec.path)
        row = {"image_id": rec.image_id, "patient_id": rec.patient_id, "split": (assignment or {}).get(rec.image_id, "all"), "truth": truth}
        if patch:
            probs = model.predict_proba([image] * len(rois), rois)
            p = probs[int(np.argmax(probs[:, -1]))]  # the image is as suspicious as its worst patch
            decision = None
        else:  # every kind decides by its own rule (the hierarchy's stages, a map's thresholds)
            prediction = model.predict(image, with_maps=False)
            p, decision = prediction.probabilities, prediction.decision
        row.update({f"p_{c}": float(v) for c, v in zip(model.classes, p)})
        if decision is not None and len(model.classes) > 2:
            row["pred"] = decision
        rows.append(row)
    return pd.DataFrame(rows)


def external_check(model) -> list[dict[str, Any]]:
    """Predictions on the 8 embedded CBIS-DDSM images: never used for any choice."""
    from core.datasets.sample import load_sample

    out = []
    task = _task_of(model)
    for rec in load_sample():
        image = read_image(rec.path)
        probs = model.predict_proba([image])[0]
        truth = task_truth(task, rec)
        out.append({"image_id": rec.image_id, "truth": truth, "probabilities": {c: round(float(v), 4) for c, v in zip(model.classes, probs)}, "note": "no lesion coordinates in the sample: patch at the breast centre" if model.looks_at_roi else ""})
    return out

