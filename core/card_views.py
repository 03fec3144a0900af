"""Bring a card's derived figures up to date from its committed files: the readings of its
output in other tasks (`views`), the external-check summary and, where a model has
`oof_predictions.csv`, its out-of-fold summary. No weights are loaded."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .finish import external_summary, judge, view_frame
from .labels import space, tasks_for
from .models import registry
from .models.card import write_card
from .oof import card_oof, read_oof


def refresh(models_dir: str | Path | None = None) -> list[str]:
    changed = []
    for c in registry.discover(models_dir):
        pred_path = Path(c["_folder"]) / "predictions.csv"
        if not pred_path.exists() or not c.get("test"):
            continue
        pred = pd.read_csv(pred_path)
        classes = list(c["classes"])
        c["views"] = {t: judge(view_frame(pred, classes, t), space(t).classes) for t in tasks_for(classes) if space(t).classes != tuple(classes)}
        c["external_summary"] = external_summary(c)
        oof = read_oof(c)
        if oof is not None:
            c["oof"] = card_oof(c, oof)
        write_card(c["_folder"], c)
        changed.append(c["name"])
    return changed
