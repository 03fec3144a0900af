"""The comparison table, from committed cards only (no weights loaded, no framework imported)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .models import registry


def _fmt_ci(m: dict[str, Any] | None) -> str:
    if not m or m.get("value") is None:
        return "—"
    lo, hi = m["ci95"]
    return f"{m['value']:.3f} ({lo:.2f}–{hi:.2f})"


COLUMNS = ["model", "seed", "task", "framework", "backbone", "init", "test_images", "roc_auc", "sensitivity", "specificity", "accuracy", "threshold", "latency_ms", "size_mb", "shipped"]


def leaderboard(models_dir: str | Path | None = None) -> pd.DataFrame:
    rows = []
    for c in registry.discover(models_dir):
        test = c.get("test", {})
        m = test.get("metrics", {})
        rows.append({
            "model": c["name"],
            "seed": c.get("seed_system"),
            "task": c["task"],
            "framework": c.get("framework"),
            "backbone": (c.get("architecture") or {}).get("model") or (c.get("architecture") or {}).get("kind") or f"{c.get('stage1')} → {c.get('stage2')}",
            "init": "ImageNet" if (c.get("initial_weights") or {}).get("sha256") else ("—" if c["task"] == "hierarchy" else "random"),
            "test_images": test.get("n_images"),
            "roc_auc": _fmt_ci(m.get("roc_auc")),
            "sensitivity": _fmt_ci(m.get("sensitivity")),
            "specificity": _fmt_ci(m.get("specificity")),
            "accuracy": _fmt_ci(m.get("accuracy")),
            "threshold": None if c.get("threshold") is None else round(c["threshold"], 3),
            "latency_ms": c.get("latency_ms_p50_cpu_batch1"),
            "size_mb": round((c.get("weights") or {}).get("bytes", 0) / 2**20, 1) if c.get("weights") else None,
            "shipped": (c.get("weights") or {}).get("shipped", True),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub table without pulling in `tabulate`."""
    cols = list(table.columns)
    def cell(v) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return "—"
        return str(int(v)) if isinstance(v, float) and v.is_integer() and abs(v) > 1 else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)
