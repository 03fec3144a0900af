"""Dataset records for the Explore page: a filterable table, thumbnails, and whether a model
saw an image while it was built."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from core.errors import MammoError
from core.models import kinds
from core.types import Record
from core.dashboard.overlays import THUMB_LONG_SIDE, placeholder, thumbnail_of

FILTER_COLUMNS = ("patient_id", "truth", "split", "side", "view", "density", "abnormality")
MEMBERSHIP_TEXT = {  # Streamlit material-icon markup; the words alone say it too
    "train": ":orange[:material/warning: in its **training** data]",
    "val": ":orange[:material/warning: in its **validation** data]",
    "test": ":green[:material/check_circle: in its held-out **test** data]",
    "not in its data": ":green[:material/check_circle: not in its data]",
}


def records_frame(records: Sequence[Record], split_by_image: dict[str, str] | None = None) -> pd.DataFrame:
    """Records as a table (one row per image) for filtering; split from the record or a model's data."""
    rows = []
    for i, r in enumerate(records):
        split = r.split or (split_by_image or {}).get(r.image_id) or "—"
        rows.append({
            "index": i, "image_id": r.image_id, "patient_id": r.patient_id, "truth": r.label, "split": split,
            "side": r.side or "—", "view": r.view or "—", "density": str(r.density) if r.density not in (None, "") else "—",
            "abnormality": r.abnormality or "none", "lesions": len(r.lesions), "has_image": bool(r.path),
        })
    return pd.DataFrame(rows, columns=["index", "image_id", "patient_id", "truth", "split", "side", "view", "density", "abnormality", "lesions", "has_image"])


def filter_options(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {c: sorted(frame[c].astype(str).unique().tolist()) for c in FILTER_COLUMNS if c in frame.columns}


def filter_records(frame: pd.DataFrame, chosen: dict[str, Sequence[str]]) -> pd.DataFrame:
    """Rows whose every filtered column is in the chosen values (an empty choice keeps all)."""
    keep = np.ones(len(frame), bool)
    for col, values in chosen.items():
        if values:
            keep &= frame[col].astype(str).isin([str(v) for v in values]).to_numpy()
    return frame[keep]


def lesion_text(record: Record) -> str:
    return "; ".join(f"{l.kind} ({l.severity}{', ' + l.detail if l.detail else ''})" for l in record.lesions) or "none"


def has_geometry(record: Record) -> bool:
    return any(l.center or l.bbox or l.mask_path for l in record.lesions)


def thumbnail(path: str | None, long_side: int = THUMB_LONG_SIDE) -> np.ndarray:
    """A small uint8 preview of an image file; a grey placeholder when the file is missing or bad."""
    if not path:
        return placeholder(long_side)
    from core.io.reader import read_image

    try:
        m = read_image(path)
    except MammoError:
        return placeholder(long_side)
    return thumbnail_of(m.pixels, long_side)


def split_membership(card: dict[str, Any], image_id: str, pred: pd.DataFrame | None, dataset: str | None = None,
                     member_preds: Sequence[tuple[dict[str, Any], pd.DataFrame | None]] = ()) -> str:
    """train | val | test | "not in its data": whether the model saw this image while being built.

    Decided by the model's own predictions.csv (image_id match), and only when the image
    comes from the dataset the model was trained on. A composite also inherits what its
    members (`kinds.members`, given with their predictions) saw.
    """
    model_ds = (card.get("data") or {}).get("dataset")
    if dataset is not None and model_ds is not None and dataset != model_ds:
        found = None
    else:
        found = _split_of(pred, image_id)
    if kinds.members(card):
        parts = []
        for member_card, member_pred in member_preds:
            s = split_membership(member_card, image_id, member_pred, dataset)
            if s in ("train", "val", "test"):
                parts.append(s)
        if parts:
            rank = {"train": 0, "val": 1, "test": 2}
            found = min(parts + ([found] if found in rank else []), key=lambda p: rank[p])
    return found or "not in its data"


def _split_of(pred: pd.DataFrame | None, image_id: str) -> str | None:
    if pred is None or "image_id" not in pred.columns:
        return None
    hit = pred.loc[pred["image_id"] == image_id, "split"]
    if hit.empty:
        return None
    splits = set(hit.astype(str))
    for s in ("train", "val", "test"):  # an image in train anywhere counts as seen
        if s in splits:
            return s
    return str(hit.iloc[0])
