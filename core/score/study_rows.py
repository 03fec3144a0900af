"""A score file's study rows: each study model's films read against the other breast, and
one row per breast (views combined), grouped by patient with `core.studies.combine`, the one
combine rule the page, `predict --study` and the out-of-fold build use.

They come from the image rows already written (each study row keeps its member's score,
`study_input`), so no image is read twice. Written beside the output as
`NAME.study.parquet`; a breast is abnormal when any of its views is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from core.models import registry
from core.studies.combine import StudySpec, frames

COLUMNS = ["image_id", "patient_id", "side", "view", "split", "truth", "model", "task", "classes", "threshold", "study_input", "error"]


def study_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}.study.parquet")


def study_rows(image_rows: pd.DataFrame, models_dir: str | Path) -> pd.DataFrame:
    """Rows `level` image | breast for every model whose rows carry a study input."""
    rows = image_rows[image_rows["study_input"].notna() & image_rows["error"].isna() & image_rows["side"].notna()]
    out = []
    for model, g in rows.groupby("model", sort=False):
        spec = StudySpec.from_card(registry.card(model, models_dir))
        classes = str(g["classes"].iloc[0]).split("|")
        threshold = g["threshold"].iloc[0]
        g = g.assign(score=g["study_input"].astype(float), y=(g["truth"] == classes[1]).astype(int))
        img, br = frames(g, spec, keys=("patient_id",))
        br = br.merge(g.groupby(["patient_id", "side"], as_index=False).agg(split=("split", "first"), known=("truth", lambda t: t.notna().all())),
                      on=["patient_id", "side"], how="left")
        for level, f, ident in (("image", img, img["image_id"]), ("breast", br, br["breast_id"])):
            p = spec.rescale(f["bilateral"].to_numpy())
            known = f["truth"].notna() if level == "image" else f["known"]
            out.append(pd.DataFrame({
                "level": level, "unit_id": ident.to_numpy(), "patient_id": f["patient_id"].to_numpy(), "side": f["side"].to_numpy(),
                "views": (f["view"] if level == "image" else f["views"]).to_numpy(), "split": f["split"].to_numpy(), "model": model,
                "task": g["task"].iloc[0], "truth": np.where(known, np.where(f["y"] == 1, classes[1], classes[0]), None),
                "member_score": f["score"].to_numpy(), "other_breast": f["other_breast"].to_numpy() if level == "image" else np.nan,
                f"p_{classes[1]}": p, "threshold": threshold,
                "pred": None if threshold != threshold or threshold is None else np.where(p >= threshold, classes[1], classes[0]),
            }))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def write_study_rows(out: str | Path, models_dir: str | Path) -> int:
    """Read the score file's image rows (its study columns only) and write the study rows; their number."""
    out = Path(out)
    path = study_path(out)
    names = set(pq.read_schema(out).names)
    if "study_input" not in names:
        path.unlink(missing_ok=True)
        return 0
    table = pq.read_table(out, columns=[c for c in COLUMNS if c in names]).to_pandas()
    rows = study_rows(table, models_dir)
    if rows.empty:
        path.unlink(missing_ok=True)
        return 0
    tmp = path.with_name(f".{path.name}.tmp")
    rows.to_parquet(tmp, index=False)
    tmp.replace(path)
    return len(rows)
