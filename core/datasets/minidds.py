"""Mini-DDSM loader: `Data.xlsx` (or `DataWMask.xlsx`, or a CSV export `Data.csv`) + image tree.

- Columns: fullPath, fileName, View, Side, Status, Tumour_Contour, Tumour_Contour2, Age, Density;
  7,808 rows (Status Benign 2,684 / Cancer 2,716 / Normal 2,408).
- Layout `<Status>/<NNNN>/C_NNNN_1.<SIDE>_<VIEW>.{png,jpg}`; the spreadsheet paths use
  Windows backslashes and `-` for "no contour". A path resolves when the file exists
  with either `.png` or `.jpg` (the real download ships `.jpg`; `Data.xlsx` says `.png`),
  matched case-insensitively (the sheet says `_MASK2`, files say `_Mask2`).
- Seed 001's relabelling (`relabel="image"`, the default): an image without a tumour
  contour is normal even when the patient's Status is Benign or Cancer
  (Cancer -> malignant). On the full sheet this gives Normal 4,978 / Benign 1,402 /
  Cancer 1,428 images, the counts the data README states.
  `relabel="breast"` instead marks both views of a breast abnormal when either view has a
  contour (4,888 / 1,440 / 1,480: 90 images have a contour in one view only);
  `relabel="none"` keeps the patient-level Status.
- patient_id is the DDSM case name (`C_0029_1`); Mini-DDSM does not say whether a
  lesion is a mass or calcifications, so abnormal images get abnormality "other".
- Masks are JPEGs with compression noise: `read_mask` thresholds them at > 127.
"""

from __future__ import annotations

import csv
import os
import re
import xml.etree.ElementTree as ET
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import DatasetError
from core.types import Lesion, Record

TABLES: tuple[str, ...] = ("Data.xlsx", "DataWMask.xlsx", "Data.csv", "DataWMask.csv")
STATUS = {"normal": "normal", "benign": "benign", "cancer": "malignant"}
SIDES = {"LEFT": "L", "RIGHT": "R"}
RELABEL_MODES = ("image", "breast", "none")
_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_COL = re.compile(r"[A-Z]+")
_FLOAT_INT = re.compile(r"^-?\d+\.0$")


def read_xlsx(path: str | os.PathLike) -> list[dict[str, str]]:
    """First sheet of an .xlsx as a list of dicts (header row -> str values), stdlib only."""
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"cannot read spreadsheet {path}: {exc}") from exc
    with z:
        names = set(z.namelist())
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            root = ET.fromstring(z.read("xl/sharedStrings.xml"))
            shared = ["".join(t.text or "" for t in si.iter(_NS + "t")) for si in root.iter(_NS + "si")]
        sheets = sorted(n for n in names if n.startswith("xl/worksheets/sheet") and n.endswith(".xml"))
        if not sheets:
            raise DatasetError(f"spreadsheet {path} has no worksheet")
        sheet = ET.fromstring(z.read(sheets[0]))
    table: list[dict[str, str]] = []
    for row in sheet.iter(_NS + "row"):
        cells: dict[str, str] = {}
        for c in row.iter(_NS + "c"):
            col = _COL.match(c.get("r", "")).group()
            t = c.get("t")
            v = c.find(_NS + "v")
            if t == "s" and v is not None:
                val = shared[int(v.text)]
            elif t == "inlineStr":
                val = "".join(x.text or "" for x in c.iter(_NS + "t"))
            else:
                val = v.text if v is not None and v.text is not None else ""
            cells[col] = val
        table.append(cells)
    if not table:
        return []
    header = table[0]
    return [{header[k].strip(): v.strip() for k, v in r.items() if k in header} for r in table[1:]]


def _norm(value: str) -> str:
    """'3.0' -> '3' (DataWMask.xlsx stores Age and Density as floats)."""
    return value[:-2] if _FLOAT_INT.match(value) else value


def read_table(path: str | os.PathLike) -> list[dict[str, str]]:
    """The spreadsheet rows (.xlsx or .csv), values stripped and '3.0' -> '3'; cached per file version."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise DatasetError(f"cannot read spreadsheet {path}: {exc}") from exc
    return [dict(r) for r in _read_table_cached(str(path.resolve()), st.st_mtime_ns, st.st_size)]


@lru_cache(maxsize=4)
def _read_table_cached(path: str, _mtime_ns: int, _size: int) -> tuple[dict[str, str], ...]:
    if path.lower().endswith(".csv"):
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(fh)]
    else:
        rows = read_xlsx(path)
    return tuple({k: _norm(v) for k, v in r.items()} for r in rows)


def _rel_parts(value: str) -> tuple[str, ...] | None:
    value = (value or "").strip()
    if not value or value == "-":
        return None
    return tuple(p for p in value.replace("\\", "/").split("/") if p and p != ".")


class _Files:
    """Case-insensitive, extension-agnostic (.png/.jpg) lookup; one listing per case folder."""

    def __init__(self, root: Path):
        self.root = root
        self._dirs: dict[tuple[str, ...], dict[str, str] | None] = {}

    def _listing(self, parts: tuple[str, ...]) -> dict[str, str] | None:
        if parts not in self._dirs:
            d = self.root.joinpath(*parts)
            listing = None
            if d.is_dir():
                listing = {}
                for e in os.scandir(d):
                    stem, ext = os.path.splitext(e.name)
                    if ext.lower() in (".png", ".jpg", ".jpeg"):
                        listing.setdefault(stem.lower(), e.path)
            self._dirs[parts] = listing
        return self._dirs[parts]

    def resolve(self, parts: tuple[str, ...] | None) -> str | None:
        if not parts:
            return None
        listing = self._listing(tuple(parts[:-1]))
        if not listing:
            return None
        return listing.get(os.path.splitext(parts[-1])[0].lower())


def find_table(root: Path) -> Path:
    for name in TABLES:
        if (root / name).is_file():
            return root / name
    raise DatasetError(f"no Mini-DDSM spreadsheet in {root} (expected one of: {', '.join(TABLES)})")


def load_minidds(
    root: str | os.PathLike,
    *,
    require_images: bool = False,
    relabel: str = "image",
    table: str | os.PathLike | None = None,
    mask_bbox: bool = False,
) -> list[Record]:
    """One `Record` per Mini-DDSM image, in spreadsheet order.

    `require_images=True` keeps only images present under `root`; `mask_bbox=True`
    decodes each present mask to fill `Lesion.bbox` (slow; off by default).
    `density` is the BI-RADS density as written ("0".."4").
    """
    if relabel not in RELABEL_MODES:
        raise DatasetError(f"unknown relabel mode {relabel!r}; valid: {', '.join(RELABEL_MODES)}")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"Mini-DDSM folder not found: {root}")
    table_path = Path(table) if table is not None else find_table(root)
    rows = read_table(table_path)
    required = {"fullPath", "fileName", "View", "Side", "Status", "Tumour_Contour"}
    if not rows or not required <= set(rows[0]):
        raise DatasetError(f"{table_path} lacks the Mini-DDSM columns {sorted(required)}")

    def contours(row: dict[str, str]) -> list[tuple[str, ...]]:
        out = []
        for col in ("Tumour_Contour", "Tumour_Contour2"):
            parts = _rel_parts(row.get(col, ""))
            if parts:
                out.append(parts)
        return out

    def patient(row: dict[str, str]) -> str:
        return row["fileName"].split(".")[0]

    abnormal_breasts = {(patient(r), r["Side"].upper()) for r in rows if contours(r)}
    files = _Files(root)
    records: list[Record] = []
    for lineno, row in enumerate(rows, start=2):
        status = STATUS.get(row["Status"].strip().lower())
        if status is None:
            raise DatasetError(f"{table_path.name} row {lineno}: unknown Status {row['Status']!r}")
        masks = contours(row)
        side = row["Side"].strip().upper()
        if relabel == "image":
            label = status if masks else "normal"
        elif relabel == "breast":
            label = status if (patient(row), side) in abnormal_breasts else "normal"
        else:
            label = status
        img_parts = _rel_parts(row["fullPath"])
        path = files.resolve(img_parts)
        if require_images and path is None:
            continue
        lesions: list[Lesion] = []
        if label != "normal":
            for parts in masks:
                mpath = files.resolve(parts)
                bbox = None
                if mask_bbox and mpath is not None:
                    bbox = mask_to_bbox(read_mask(mpath))
                lesions.append(Lesion(kind="other", severity=label, bbox=bbox, mask_path=mpath))
        records.append(
            Record(
                dataset="minidds",
                image_id=os.path.splitext(row["fileName"])[0],
                patient_id=patient(row),
                side=SIDES.get(side),
                view=row["View"].strip().upper() or None,
                label=label,
                abnormality=None if label == "normal" else "other",
                lesions=tuple(lesions),
                density=row.get("Density") or None,
                path=path,
                split=None,
            )
        )
    return records


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """A Mini-DDSM mask as a bool H x W array (JPEG noise removed by thresholding > 127)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read mask {path}: {exc}") from exc
    return arr > 127


def mask_to_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the True pixels, x1/y1 exclusive; None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
