"""mini-MIAS loader: `Info.txt` + `mdbNNN.{pgm,png,webp}` -> one `Record` per image.

Facts this loader encodes (see the data README; checked by tests/test_datasets.py):

- `Info.txt` has prose around the table; only lines starting with `mdbNNN` are rows.
  Columns: refnum, background tissue (F/G/D), class, severity (B/M), x, y, radius.
- 330 rows describe 322 images; an image takes its most severe row as its label
  (mdb144 has a benign and a malignant row) and keeps every row as a `Lesion`.
- Films come in pairs per woman: patient = (n + 1) // 2; even n = left, odd n = right.
- Coordinates have their origin at the bottom-left: image row = 1024 - y.
  Lesion geometry here is in top-left pixel coordinates: `center=(x, 1024 - y)`.
- mdb059 and the `*NOTE 3*` rows (mdb216, mdb233, mdb245) carry no coordinates:
  the label is kept, the lesion has no geometry.
- Every image is a 1024 x 1024 MLO view. Listing never decodes an image.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.errors import DatasetError
from core.types import LABELS, Lesion, Record

MIAS_SIZE = 1024  # every mini-MIAS image is 1024 x 1024
IMAGE_EXTENSIONS: tuple[str, ...] = (".pgm", ".png", ".webp")  # preference order when several exist

DENSITY_NAMES = {"F": "fatty", "G": "fatty-glandular", "D": "dense-glandular"}
CLASS_TO_KIND = {
    "CALC": "calcification",
    "CIRC": "mass",
    "SPIC": "mass",
    "MISC": "mass",
    "ARCH": "architectural_distortion",
    "ASYM": "asymmetry",
}
SEVERITY = {"B": "benign", "M": "malignant"}

_ROW = re.compile(r"^(mdb(\d{3}))\s")
_INT = re.compile(r"^-?\d+(\.\d+)?$")


def parse_info(text: str) -> list[dict]:
    """The table rows of `Info.txt` as dicts (refnum, n, tissue, cls, severity, x, y, radius).

    x, y, radius are None where the row has no coordinates (mdb059, `*NOTE 3*` rows);
    severity is None for NORM rows.
    """
    rows: list[dict] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _ROW.match(line)
        if not m:
            continue
        tok = line.split()
        if len(tok) < 3:
            raise DatasetError(f"mini-MIAS Info.txt line {lineno} is malformed: {line.strip()!r}")
        refnum, tissue, cls = tok[0], tok[1].upper(), tok[2].upper()
        if cls != "NORM" and cls not in CLASS_TO_KIND:
            raise DatasetError(f"mini-MIAS Info.txt line {lineno}: unknown class {cls!r}")
        severity = tok[3].upper() if len(tok) > 3 and tok[3].upper() in SEVERITY else None
        if cls != "NORM" and severity is None:
            raise DatasetError(f"mini-MIAS Info.txt line {lineno}: abnormal row without severity B/M")
        x = y = radius = None
        coords = tok[4:7]
        if len(coords) == 3 and all(_INT.match(c) for c in coords):
            x, y, radius = (float(c) for c in coords)
        rows.append(
            {
                "refnum": refnum,
                "n": int(m.group(2)),
                "tissue": tissue,
                "cls": cls,
                "severity": severity,
                "x": x,
                "y": y,
                "radius": radius,
            }
        )
    return rows


def _lesion(row: dict) -> Lesion:
    kind = CLASS_TO_KIND[row["cls"]]
    severity = SEVERITY[row["severity"]]
    if row["x"] is None:
        return Lesion(kind=kind, severity=severity, detail=row["cls"])
    cx = row["x"]
    cy = MIAS_SIZE - row["y"]  # bottom-left origin -> top-left row
    r = row["radius"]
    bbox = (
        int(max(0, round(cx - r))),
        int(max(0, round(cy - r))),
        int(min(MIAS_SIZE, round(cx + r))),
        int(min(MIAS_SIZE, round(cy + r))),
    )
    return Lesion(kind=kind, severity=severity, center=(cx, cy), radius=r, bbox=bbox, detail=row["cls"])


def _index_images(root: Path) -> dict[str, str]:
    """stem -> file path for mdbNNN images, one directory listing, no decoding."""
    best: dict[str, tuple[int, str]] = {}
    rank = {ext: i for i, ext in enumerate(IMAGE_EXTENSIONS)}
    with os.scandir(root) as it:
        for entry in it:
            stem, ext = os.path.splitext(entry.name)
            ext = ext.lower()
            if ext not in rank or not stem.lower().startswith("mdb"):
                continue
            key = stem.lower()
            if key not in best or rank[ext] < best[key][0]:
                best[key] = (rank[ext], entry.path)
    return {k: v[1] for k, v in best.items()}


def patient_of(n: int) -> str:
    """Deterministic patient id: mdb001 + mdb002 -> 'mias_P001', ..., mdb321 + mdb322 -> 'mias_P161'."""
    return f"mias_P{(n + 1) // 2:03d}"


def load_mias(root: str | os.PathLike, *, require_images: bool = False) -> list[Record]:
    """One `Record` per mini-MIAS image, sorted by refnum.

    `path` is the image file (`.pgm` preferred, then `.png`, then `.webp`) or None
    when absent; with `require_images=True` records without an image are dropped.
    `density` is the MIAS tissue code F/G/D (see `DENSITY_NAMES`). bbox is
    (x0, y0, x1, y1) in top-left pixels, centre +/- radius clipped to [0, 1024].
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"mini-MIAS folder not found: {root}")
    info = root / "Info.txt"
    if not info.is_file():
        raise DatasetError(f"mini-MIAS metadata missing: {info} (expected the original Info.txt next to the images)")
    rows = parse_info(info.read_text(encoding="latin-1"))
    if not rows:
        raise DatasetError(f"mini-MIAS Info.txt has no mdbNNN rows: {info}")
    images = _index_images(root)

    by_ref: dict[str, list[dict]] = {}
    for row in rows:
        by_ref.setdefault(row["refnum"], []).append(row)

    records: list[Record] = []
    for refnum in sorted(by_ref):
        group = by_ref[refnum]
        n = group[0]["n"]
        lesions = tuple(_lesion(r) for r in group if r["cls"] != "NORM")
        label = "normal"
        abnormality = None
        for les in lesions:  # most severe lesion decides the image label
            if LABELS.index(les.severity) > LABELS.index(label):
                label, abnormality = les.severity, les.kind
        path = images.get(refnum.lower())
        if path is None and require_images:
            continue
        records.append(
            Record(
                dataset="mias",
                image_id=refnum,
                patient_id=patient_of(n),
                side="L" if n % 2 == 0 else "R",
                view="MLO",
                label=label,
                abnormality=abnormality,
                lesions=lesions,
                density=group[0]["tissue"],
                path=path,
                split=None,
            )
        )
    return records
