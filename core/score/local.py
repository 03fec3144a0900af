"""The score steps in this process, model by model: the dashboard's bounded evaluation.

Same `decode`, `ModelStep` and `explode` as the Ray pipeline, so a browser evaluation and
`python -m core score` give the same rows; here models run one after the other (progress
per model, and a cancel between images keeps every finished row).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from core.types import LABELS, Record
from core.score.plan import Plan
from core.score.rows import explode, image_rows, model_splits
from core.score.steps import ModelStep, decode


def pick(records: Sequence[Record], n: int, seed: int = 0) -> list[Record]:
    """At most `n` records with an image file, taken in turn from each label (seeded order
    within a label), so a small evaluation still sees every class the data has."""
    rng = np.random.default_rng(seed)
    by_label = {lab: [r for r in records if r.path and r.label == lab] for lab in LABELS}
    queues = {lab: [rs[i] for i in rng.permutation(len(rs))] for lab, rs in by_label.items() if rs}
    out: list[Record] = []
    while len(out) < n and any(queues.values()):
        for lab in list(queues):
            if queues[lab] and len(out) < n:
                out.append(queues[lab].pop(0))
    return sorted(out, key=lambda r: r.image_id)


def score_model(records: Sequence[Record], plan: Plan, model: str, dataset: str | None = None) -> Iterator[pd.DataFrame]:
    """One model over `records`, one image at a time: yields that image's row."""
    info = next(m for m in plan.models if m.name == model)
    steps = [ModelStep(s, plan.models_dir, info.scored_maps) for s in plan.steps if s.model == model]
    splits = model_splits(plan, dataset) if dataset else {}
    for item in image_rows(records):
        batch = {k: np.array([v], dtype=object) for k, v in item.items()}
        batch = decode(batch)
        for step in steps:
            batch = step(batch)
        yield explode(batch, models=[info], classes=plan.classes, splits=splits)
