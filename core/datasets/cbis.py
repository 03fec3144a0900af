"""CBIS-DDSM loader: the four official description CSVs (+ the DICOM tree when present).

- Files: `mass_case_description_{train,test}_set.csv`, `calc_case_description_{train,test}_set.csv`
  (1318, 378, 1546, 326 rows), looked for in `root` and its immediate subfolders.
- One CSV row per abnormality; one `Record` per breast-view image, keyed by the
  image folder name `<Mass|Calc>-<Training|Test>_P_xxxxx_<LEFT|RIGHT>_<CC|MLO>`
  (the first segment of `image file path`), which is also the `image_id`.
  The image label is the most severe of its rows; every row becomes a `Lesion`.
- Quirks handled: path values end with a newline inside their quotes (stripped);
  density is `breast_density` (mass) / `breast density` (calc);
  `BENIGN_WITHOUT_CALLBACK` counts as benign.
- `split` is "train" / "test" from the official file.
- Image path: the DICOM resolved under `root` (or `root/CBIS-DDSM`), either at the
  CSV's own relative path or, for the TCIA/NBIA download tree, the single `*.dcm`
  found under the image folder; None when absent. Lesion `mask_path` likewise
  (the ROI folder is `<image folder>_<abnormality id>`); geometry is None because
  the masks are full-size DICOMs that would need decoding.
- Known CBIS quirk: in some rows the "cropped image" and "ROI mask" columns point at
  each other's file; when both files exist the larger one (the full-size mask) is
  taken as the mask.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from core.errors import DatasetError
from core.types import LABELS, Lesion, Record

CSV_FILES: dict[str, tuple[str, str]] = {
    # file name -> (abnormality kind, split)
    "mass_case_description_train_set.csv": ("mass", "train"),
    "mass_case_description_test_set.csv": ("mass", "test"),
    "calc_case_description_train_set.csv": ("calcification", "train"),
    "calc_case_description_test_set.csv": ("calcification", "test"),
}
PATHOLOGY = {"MALIGNANT": "malignant", "BENIGN": "benign", "BENIGN_WITHOUT_CALLBACK": "benign"}
SIDES = {"LEFT": "L", "RIGHT": "R"}


def _clean(v: str | None) -> str:
    return (v or "").strip().strip('"').strip()


def find_csvs(root: Path) -> dict[str, Path]:
    """Official CSV name -> path, looked up in `root` and its immediate subfolders."""
    found: dict[str, Path] = {}
    candidates = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    for d in candidates:
        for name in CSV_FILES:
            if name not in found and (d / name).is_file():
                found[name] = d / name
    return found


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows of one official CSV with every value stripped (incl. the newline quirk)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [{_clean(k): _clean(v) for k, v in row.items() if k is not None} for row in csv.DictReader(fh)]


class _DicomIndex:
    """Finds DICOMs under the image roots; cheap when the images are absent (one listing)."""

    def __init__(self, root: Path):
        self.bases = [b for b in (root, root / "CBIS-DDSM") if b.is_dir()]
        self.dirs: dict[str, Path] = {}
        for base in self.bases:
            with os.scandir(base) as it:
                for e in it:
                    if e.is_dir() and e.name not in self.dirs:
                        self.dirs[e.name] = Path(e.path)

    def _dcms(self, folder: str) -> list[Path]:
        d = self.dirs.get(folder)
        if d is None:
            return []
        return sorted(d.rglob("*.dcm"))

    def image(self, rel: str) -> str | None:
        if not rel:
            return None
        folder = rel.split("/")[0]
        if folder not in self.dirs:
            return None
        for base in self.bases:
            p = base / rel
            if p.is_file():
                return str(p)
        dcms = self._dcms(folder)
        if not dcms:
            return None
        full = [p for p in dcms if "full mammogram" in str(p.parent).lower()]
        return str((full or dcms)[0])

    def mask(self, roi_rel: str, crop_rel: str) -> str | None:
        folder = (roi_rel or crop_rel).split("/")[0]
        if not folder or folder not in self.dirs:
            return None
        existing = [base / rel for rel in (roi_rel, crop_rel) if rel for base in self.bases if (base / rel).is_file()]
        if existing:
            return str(max(existing, key=lambda p: p.stat().st_size))
        dcms = self._dcms(folder)
        roi = [p for p in dcms if "roi mask" in str(p.parent).lower()]
        if roi:
            return str(roi[0])
        return str(max(dcms, key=lambda p: p.stat().st_size)) if dcms else None


def load_cbis(root: str | os.PathLike, *, require_images: bool = False) -> list[Record]:
    """One `Record` per CBIS-DDSM breast-view image from the official CSVs.

    Records are sorted by (split, image_id). `density` is the BI-RADS density
    ("1".."4"); `Lesion.detail` is "shape/margins" (mass) or "type/distribution" (calc).
    With `require_images=True` only images whose DICOM exists under `root` are kept.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"CBIS-DDSM folder not found: {root}")
    csvs = find_csvs(root)
    if not csvs:
        raise DatasetError(
            f"no CBIS-DDSM description CSVs in {root} (expected any of: {', '.join(CSV_FILES)})"
        )
    index = _DicomIndex(root)

    groups: dict[str, dict] = {}
    for name in CSV_FILES:
        if name not in csvs:
            continue
        kind, split = CSV_FILES[name]
        for lineno, row in enumerate(read_rows(csvs[name]), start=2):
            img_rel = row.get("image file path", "")
            folder = img_rel.split("/")[0]
            pathology = row.get("pathology", "").upper()
            if not folder or pathology not in PATHOLOGY:
                raise DatasetError(f"{name} line {lineno}: missing image path or unknown pathology {pathology!r}")
            density = row.get("breast_density") or row.get("breast density") or None
            if kind == "mass":
                detail = f"{row.get('mass shape', '')}/{row.get('mass margins', '')}"
            else:
                detail = f"{row.get('calc type', '')}/{row.get('calc distribution', '')}"
            g = groups.setdefault(
                folder,
                {
                    "patient_id": row["patient_id"],
                    "side": SIDES.get(row.get("left or right breast", "").upper()),
                    "view": row.get("image view", "").upper() or None,
                    "density": density,
                    "split": split,
                    "kind": kind,
                    "img_rel": img_rel,
                    "lesions": [],
                },
            )
            mask = index.mask(row.get("ROI mask file path", ""), row.get("cropped image file path", ""))
            g["lesions"].append(
                (
                    int(row.get("abnormality id") or 0),
                    Lesion(kind=kind, severity=PATHOLOGY[pathology], mask_path=mask, detail=detail),
                )
            )

    records: list[Record] = []
    for folder, g in groups.items():
        path = index.image(g["img_rel"])
        if require_images and path is None:
            continue
        lesions = tuple(les for _, les in sorted(g["lesions"], key=lambda t: t[0]))
        label = max((les.severity for les in lesions), key=LABELS.index)
        records.append(
            Record(
                dataset="cbis",
                image_id=folder,
                patient_id=g["patient_id"],
                side=g["side"],
                view=g["view"],
                label=label,
                abnormality=g["kind"],
                lesions=lesions,
                density=g["density"],
                path=path,
                split=g["split"],
            )
        )
    records.sort(key=lambda r: (r.split or "", r.image_id))
    return records


def breast_labels(records: list[Record]) -> dict[tuple[str, str | None], str]:
    """Per-breast label: (patient_id, side) -> most severe label over that breast's images."""
    out: dict[tuple[str, str | None], str] = {}
    for r in records:
        key = (r.patient_id, r.side)
        if key not in out or LABELS.index(r.label) > LABELS.index(out[key]):
            out[key] = r.label
    return out
