"""Segmentation figures for a card: Dice and IoU per test lesion image and the share of test
lesions whose centre falls in the thresholded map, with patient-level bootstrap CIs."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from core.io.reader import read_image
from core.types import Record
from core.datasets.lesion_truth import circles_of, has_truth, truth_mask


def _ci(frame: pd.DataFrame, column: str, n: int = 1000, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    groups = [g[column].to_numpy() for _, g in frame.groupby("patient_id")]
    means = [np.mean(np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])) for _ in range(n)]
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def segmentation_rows(model, records: Sequence[Record], assignment: dict[str, str], split: str = "test") -> tuple[pd.DataFrame, pd.DataFrame]:
    images, lesions = [], []
    for rec in records:
        if assignment.get(rec.image_id) != split or not has_truth(rec):
            continue
        circles = circles_of(rec, from_masks=True)
        image = read_image(rec.path)
        layer = model.predict(image).maps["segmentation"]
        prob = layer.on_grid()
        pred = prob >= layer.threshold
        truth = truth_mask(rec, image.shape)
        inter, union, total = np.logical_and(pred, truth).sum(), np.logical_or(pred, truth).sum(), pred.sum() + truth.sum()
        images.append({"image_id": rec.image_id, "patient_id": rec.patient_id, "dice": 2 * inter / total if total else 1.0, "iou": inter / union if union else 1.0})
        for cx, cy, r, sev in circles:
            y, x = int(np.clip(round(cy), 0, image.shape[0] - 1)), int(np.clip(round(cx), 0, image.shape[1] - 1))
            lesions.append({"image_id": rec.image_id, "patient_id": rec.patient_id, "centre_hit": float(pred[y, x]), "radius": r, "severity": sev})
    return pd.DataFrame(images), pd.DataFrame(lesions)


def segmentation_card_metrics(card: dict[str, Any], records: Sequence[Record], assignment: dict[str, str]) -> dict[str, Any]:
    from core.models import registry

    model = registry.load(card["name"], str(__import__("pathlib").Path(card["_folder"]).parent))
    per_image, per_lesion = segmentation_rows(model, records, assignment)
    if per_image.empty:
        return {"split": "test", "lesion_images": 0, "note": "no test film has lesion geometry"}
    return {
        "split": "test", "mask": "the data set's lesion geometry (MIAS circles, CBIS-DDSM ROI masks, Mini-DDSM contours)", "threshold": model.card.get("mask_threshold", 0.5),
        "lesion_images": int(len(per_image)), "lesions": int(len(per_lesion)),
        "dice": {"value": float(per_image["dice"].mean()), "ci95": _ci(per_image, "dice")},
        "iou": {"value": float(per_image["iou"].mean()), "ci95": _ci(per_image, "iou")},
        "centre_hit_rate": {"value": float(per_lesion["centre_hit"].mean()), "ci95": _ci(per_lesion, "centre_hit")},
    }
