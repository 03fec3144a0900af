"""Bring a card's derived figures up to date from its committed files: the readings of its
output in other tasks (`views`), the external-check summary and, where a model has
`oof_predictions.csv`, its out-of-fold summary (and, for a hierarchy, its paired comparison
with every flat 3-class model that has out-of-fold rows, so a flat model trained later is
in it; for an own recipe, its paired comparison with every seed recipe of its task). No
weights are loaded.

    python -m core.reports.card_views
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.evaluation.judge import external_summary, judge, view_frame
from core.labels import space, tasks_for
from core.models import registry
from core.models.card import write_card
from core.evaluation.oof import card_oof, read_oof
from core.reports.versus import OWN, versus_seeds


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
            if "flat_vs_hierarchy" in c:
                from core.training.composites.hierarchy import flat_comparisons

                c["flat_vs_hierarchy"] = flat_comparisons(c, oof, Path(c["_folder"]).parent)
            if c.get("seed_system") == OWN:
                c["versus_seeds"] = versus_seeds(c["name"], Path(c["_folder"]).parent)
        write_card(c["_folder"], c)
        changed.append(c["name"])
    return changed


if __name__ == "__main__":
    print("refreshed: " + ", ".join(refresh()))
