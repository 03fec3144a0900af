"""Each candidate member's held-out scores, fold by fold, under every test-time augmentation.

Fold f's model (trained without folds f and f+1) scores its validation part (fold f+1,
where ensembles choose members, weights and thresholds) and its held-out part (fold f,
which only the out-of-fold figures see). Kept per member under `.cache/ensemble_scores/`
so a stopped run resumes; the rows an ensemble uses are committed with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from core.io.reader import read_image
from core.training.folds import K, fold_parts
from core.models import kinds, registry
from core.models.card import scratch_dir
from core.models.composites.tta import augmented
from core.types import Record

Log = Callable[[str], None]
SCORES_FILE = "member_scores.csv"


def cache_path(name: str, card: dict[str, Any] | None = None, records: Sequence[Record] = ()) -> Path:
    """Keyed by the member's weights and the films scored: a retrained member, or the same
    name trained on another data set, never reuses older scores."""
    import hashlib
    import json

    key = hashlib.sha256(json.dumps([(card or {}).get("weights", {}).get("sha256"), [r.image_id for r in records]]).encode()).hexdigest()[:16]
    return scratch_dir("ensemble_scores") / f"{name}-{key}.csv"


def folds_available(card: dict[str, Any], folds: Sequence[int] = tuple(range(K))) -> list[int]:
    """Folds whose trained model can be rebuilt on this machine."""
    return [f for f in folds if kinds.fold_model(card, f) is not None]


def member_scores(name: str, records: Sequence[Record], augmentations: Sequence[str], *, folds: Sequence[int] = tuple(range(K)), models_dir: str | Path | None = None, log: Log = print) -> pd.DataFrame:
    """Rows image_id, patient_id, fold, part, label, member, aug, p_<class>… for every fold run
    of `name` on this machine (cached; missing (fold, augmentation) pairs are computed)."""
    card = registry.card(name, models_dir)
    path = cache_path(name, card, records)
    done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["fold", "aug"])
    have = set(zip(done["fold"].astype(int), done["aug"]))
    parts = [done]
    by_id = {r.image_id: r for r in records}
    for fold in folds:
        todo = [a for a in augmentations if (fold, a) not in have]
        if not todo:
            continue
        model = kinds.fold_model(card, fold)
        if model is None:
            continue
        split = fold_parts(records, fold)
        rows = []
        for part in ("val", "test"):
            for i in split[part]:
                rec = records[i]
                image = read_image(Path(rec.path))
                for aug in todo:
                    p = model.predict_proba([augmented(image, aug)])[0]
                    rows.append({"image_id": rec.image_id, "patient_id": rec.patient_id, "fold": fold, "part": part, "label": rec.label, "member": name, "aug": aug} | {f"p_{c}": float(v) for c, v in zip(model.classes, p)})
        log(f"[{name}] fold {fold}: scored {len(rows)} (image, augmentation) pairs")
        parts.append(pd.DataFrame(rows))
        out = pd.concat([p for p in parts if len(p)], ignore_index=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        out.to_csv(path, index=False)
    scores = pd.concat([p for p in parts if len(p)], ignore_index=True)
    scores = scores[scores["aug"].isin(list(augmentations)) & scores["image_id"].isin(by_id) & scores["fold"].isin(list(folds))]
    return scores.sort_values(["fold", "part", "image_id", "aug"]).reset_index(drop=True)
