"""What one `python -m core train` call asks for, beyond the recipe itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SMOKE_FILMS = 40  # a smoke run trains one tiny fold on the first films only
# ... and its dense patch nets see the films at half MIAS's native side: a smoke run proves the
# plumbing (fold run, maps, packing, cards), and dense maps at 1,024 px were most of CI's time
SMOKE_MAX_SIDE = 512


def smoke_side(recipe_side: int) -> int:
    """The film side a smoke run of a recipe uses: its own, or `SMOKE_MAX_SIDE` when larger."""
    return min(int(recipe_side), SMOKE_MAX_SIDE)


@dataclass(frozen=True)
class TrainOptions:
    data: Path | None = None  # the data set's folder (default ../shared/data)
    dataset: str | None = None  # overrides the recipe's data set (mias, cbis, minidds, folder)
    folds: tuple[int, ...] | None = None  # None: every fold the kind runs by default
    device: str = "auto"  # auto | cpu | cuda
    workers: int = 0  # DataLoader workers and cache-building processes; with --address, Ray Train workers
    address: str | None = None  # a Ray cluster: train on Ray Train there
    smoke: bool = False
    restart: bool = False  # ignore earlier fold runs and checkpoints
    oof: bool = False  # whole-image classifiers: also train folds 1-4
    models_dir: Path | None = None

    @property
    def film_limit(self) -> int | None:
        return SMOKE_FILMS if self.smoke else None


def parse_folds(text: str | None) -> tuple[int, ...] | None:
    from core.errors import UsageError

    if not text:
        return None
    try:
        folds = tuple(int(f) for f in text.split(","))
    except ValueError:
        raise UsageError("--folds takes fold numbers separated by commas, e.g. 0,1") from None
    if any(f < 0 or f > 4 for f in folds):
        raise UsageError("--folds: fold numbers run from 0 to 4")
    return folds
