"""Read a lesion recipe's saved fold run (`.cache/lesion_runs/<name>/fold<f>.pt`)."""

from __future__ import annotations

from typing import Any

from .run_dir import run_dir


def load_run(name: str, fold: int) -> dict[str, Any] | None:
    path = run_dir(name) / f"fold{fold}.pt"
    if not path.exists():
        return None
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)
