"""Class-per-folder loader (seed 000's layout): `root/<class>/**/<image>`.

Class folder names are matched case-insensitively: normal; benign; malignant, cancer,
malign -> malignant. Other folders are ignored (at least one class folder must exist).

There is no patient information in such a tree: `patient_id` is the image file's
stem, so a "patient-level" split of a folder dataset is really an image-level split
(two views of one breast may land on both sides of it). Side and view are read from
the file name when it spells them out (LEFT/RIGHT, CC/MLO), else None.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.errors import DatasetError
from core.types import Record

CLASS_FOLDERS = {
    "normal": "normal",
    "benign": "benign",
    "malignant": "malignant",
    "cancer": "malignant",
    "malign": "malignant",
}
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".pgm", ".webp", ".bmp", ".dcm"}
_SIDE = re.compile(r"(?:^|[^A-Za-z])(LEFT|RIGHT)(?:$|[^A-Za-z])", re.I)
_VIEW = re.compile(r"(?:^|[^A-Za-z])(CC|MLO)(?:$|[^A-Za-z])", re.I)


def load_folder(root: str | os.PathLike) -> list[Record]:
    """One `Record` per image file under the class folders, sorted by image_id."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder not found: {root}")
    class_dirs = sorted(
        (d for d in root.iterdir() if d.is_dir() and d.name.lower() in CLASS_FOLDERS), key=lambda d: d.name
    )
    if not class_dirs:
        seen = sorted(d.name for d in root.iterdir() if d.is_dir())
        raise DatasetError(
            f"no class folders in {root}: expected subfolders named {', '.join(sorted(CLASS_FOLDERS))}"
            f" (case-insensitive); found {seen or 'none'}"
        )
    records: list[Record] = []
    for d in class_dirs:
        label = CLASS_FOLDERS[d.name.lower()]
        for p in sorted(d.rglob("*")):
            if not p.is_file() or p.suffix.lower() not in IMAGE_EXTENSIONS or p.name.startswith("."):
                continue
            rel = p.relative_to(root).with_suffix("").as_posix()
            side = _SIDE.search(p.stem)
            view = _VIEW.search(p.stem)
            records.append(
                Record(
                    dataset="folder",
                    image_id=rel,
                    patient_id=p.stem,
                    side=side.group(1).upper()[0] if side else None,
                    view=view.group(1).upper() if view else None,
                    label=label,
                    abnormality=None,
                    path=str(p),
                )
            )
    records.sort(key=lambda r: r.image_id)
    return records
