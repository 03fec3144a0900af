"""Where a recipe's fold runs are kept between sessions (git-ignored `.cache/lesion_runs/`),
so a stopped run resumes between folds; packing reads them back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.models.card import scratch_dir


def run_dir(name: str) -> Path:
    return scratch_dir("lesion_runs") / name


def load_run(name: str, fold: int) -> dict[str, Any] | None:
    path = run_dir(name) / f"fold{fold}.pt"
    if not path.exists():
        return None
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)
