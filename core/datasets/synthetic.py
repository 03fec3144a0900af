"""Synthetic CBIS-DDSM and Mini-DDSM archives in the real on-disk layouts, made from the
eight embedded sample DICOMs, for tests and benchmarks.

Why: users who own CBIS-DDSM (10,239 films, 163 GB) or Mini-DDSM train on them with
`python -m core train`; CI and the benchmarks have neither, so they train on archives
that the project's own loaders read exactly as the real ones: the four description CSVs
(real headers, the ROI-mask newline quirk, both density spellings), the TCIA download tree
`CBIS-DDSM/<folder>/<uid>/<uid>/000000.dcm` with ROI folders holding the crop (000000.dcm)
and the full-size mask (000001.dcm); Mini-DDSM's `<Status>/<NNNN>/C_NNNN_1.<SIDE>_<VIEW>.jpg`
with `_Mask.jpg` contours and `Data.csv` (backslash paths, `-` for no contour).

Each film is a sample film shrunk to `long_side`, varied deterministically from (seed, index)
(flip, crop, rotation, scale, gamma, contrast, noise) with one or two planted lesions: a
brightened blob, round and smooth when benign, irregular with spicules when malignant; its
mask is the blob's support. Nothing here is a real patient's; no sample header is copied
but the pixel data. The same arguments give byte-identical files; the tables are written
last, so a half-written archive has no table and does not load.
"""

from __future__ import annotations

import csv
import io
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MASS_HEADER = ["patient_id", "breast_density", "left or right breast", "image view", "abnormality id", "abnormality type", "mass shape", "mass margins", "assessment", "pathology", "subtlety", "image file path", "cropped image file path", "ROI mask file path"]
CALC_HEADER = ["patient_id", "breast density", "left or right breast", "image view", "abnormality id", "abnormality type", "calc type", "calc distribution", "assessment", "pathology", "subtlety", "image file path", "cropped image file path", "ROI mask file path"]
MINIDDS_HEADER = ["fullPath", "fileName", "View", "Side", "Status", "Tumour_Contour", "Tumour_Contour2", "Age", "Density"]
UID_ROOT = "1.3.6.1.4.1.9590.100.1.2."
CBIS_PATHOLOGY = {"benign": ("BENIGN", "BENIGN_WITHOUT_CALLBACK"), "malignant": ("MALIGNANT",)}


@lru_cache(maxsize=2)
def _sources(long_side: int) -> tuple[np.ndarray, ...]:
    """The eight sample films, decoded once per process, shrunk, all turned to face left."""
    import cv2

    from core.io.reader import read_image
    from core.datasets.sample import load_sample

    out = []
    for rec in load_sample():
        px = read_image(rec.path).pixels.astype(np.float32)
        s = long_side / max(px.shape)
        px = cv2.resize(px, (round(px.shape[1] * s), round(px.shape[0] * s)), interpolation=cv2.INTER_AREA)
        if px[:, : px.shape[1] // 2].mean() < px[:, px.shape[1] // 2 :].mean():
            px = px[:, ::-1]  # breast on the left half
        out.append(np.ascontiguousarray(px))
    return tuple(out)


@dataclass(frozen=True)
class Film:
    pixels: np.ndarray  # H x W float32 in [0, 1], breast facing left (the film's own side)
    masks: tuple[np.ndarray, ...]  # one bool mask per lesion
    severities: tuple[str, ...]


def _blob(shape: tuple[int, int], cx: float, cy: float, r: float, malignant: bool, rng: np.random.Generator) -> np.ndarray:
    """A lesion's intensity profile (0..1): a smooth disc, or an irregular core with spicules."""
    import cv2

    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = np.arctan2(yy - cy, xx - cx)
    rr = np.hypot(xx - cx, yy - cy)
    if malignant:
        edge = r * (1 + 0.25 * np.sin(3 * ang + rng.uniform(0, 6.3)) + 0.15 * np.sin(7 * ang + rng.uniform(0, 6.3)))
        core = np.clip(1.5 - rr / np.maximum(edge, 1), 0, 1)
        spikes = np.zeros(shape, np.float32)
        for a in rng.uniform(0, 2 * np.pi, int(rng.integers(6, 11))):
            length = r * rng.uniform(1.4, 2.2)
            p1 = (int(cx + np.cos(a) * length), int(cy + np.sin(a) * length))
            cv2.line(spikes, (int(cx), int(cy)), p1, 0.7, max(1, int(r / 10)))
        return np.maximum(core, spikes)
    return np.clip(1.2 - (rr / r) ** 2, 0, 1) ** 0.7


def make_film(index: int, seed: int, long_side: int, n_lesions: int, severities: tuple[str, ...]) -> Film:
    """Film `index` of the archive: a varied sample film with its planted lesions."""
    import cv2

    from core.preprocess.pipeline import breast_mask

    rng = np.random.default_rng((seed, index))
    sources = _sources(long_side)
    src = sources[int(rng.integers(len(sources)))]
    h, w = src.shape
    # geometry: a small rotation and scale about the chest wall, then a crop that keeps the breast
    m = cv2.getRotationMatrix2D((0, h / 2), rng.uniform(-6, 6), rng.uniform(0.92, 1.08))
    img = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    top, bottom = int(rng.uniform(0, 0.06) * h), h - int(rng.uniform(0, 0.06) * h)
    img = img[top:bottom, : w - int(rng.uniform(0, 0.1) * w)]
    # intensity: gamma, contrast, offset, noise
    img = np.clip(img, 0, 1) ** rng.uniform(0.8, 1.25)
    img = np.clip(img * rng.uniform(0.9, 1.1) + rng.uniform(-0.03, 0.03), 0, 1)
    img = np.clip(img + rng.normal(0, 0.004, img.shape).astype(np.float32), 0, 1).astype(np.float32)
    breast = breast_mask(img)
    inner = cv2.erode(breast.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    ys, xs = np.nonzero(inner if inner.any() else breast)
    masks, sev = [], []
    for k in range(n_lesions):
        j = int(rng.integers(len(xs)))
        cx, cy = float(xs[j]), float(ys[j])
        r = rng.uniform(0.03, 0.08) * max(img.shape)
        malignant = severities[k] == "malignant"
        profile = _blob(img.shape, cx, cy, r, malignant, rng)
        img = np.clip(img + profile * rng.uniform(0.25, 0.4) * (1 - img) * breast, 0, 1)
        masks.append((profile > 0.2) & breast)
        sev.append(severities[k])
    return Film(img.astype(np.float32), tuple(masks), tuple(sev))


def _uid(rng: np.random.Generator) -> str:
    return UID_ROOT + "".join(str(d) for d in rng.integers(0, 10, 38))


def _dicom_bytes(pixels: np.ndarray, patient_folder: str, laterality: str, view: str, uid_seed: tuple[int, ...], *, mask: bool = False) -> bytes:
    """A 16-bit MONOCHROME2 DICOM, RLE Lossless, with only the fields a reader needs; a mask
    is 8-bit and uncompressed, as CBIS-DDSM's are (its loader tells mask from crop by size)."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless, SecondaryCaptureImageStorage

    rng = np.random.default_rng(uid_seed)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = _uid(rng)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = _uid(rng), _uid(rng)
    ds.PatientID = patient_folder  # as in the real sample: the CBIS-DDSM folder name
    ds.Modality, ds.ImageLaterality, ds.ViewPosition, ds.BodyPartExamined = "MG", laterality, view, "BREAST"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    bits = 8 if mask else 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.PixelData = np.ascontiguousarray(pixels, "u1" if mask else "<u2").tobytes()
    if not mask:
        ds.compress(RLELossless)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --- CBIS-DDSM -------------------------------------------------------------------------

@dataclass(frozen=True)
class _CbisFilm:
    index: int
    patient: int
    side: str  # LEFT / RIGHT
    view: str  # CC / MLO
    kind: str  # mass / calcification
    split: str  # Training / Test
    severities: tuple[str, ...]


def _cbis_plan(n_films: int, seed: int) -> list[_CbisFilm]:
    """Patients with one or two breasts, each seen CC and MLO; a breast's lesions and kind
    are the same in both views; ~20 % of patients in the test files."""
    rng = np.random.default_rng((seed, 10_000_019))
    films: list[_CbisFilm] = []
    patient = 0
    while len(films) < n_films:
        patient += 1
        split = "Test" if rng.random() < 0.2 else "Training"
        for side in (["LEFT", "RIGHT"] if rng.random() < 0.4 else [str(rng.choice(["LEFT", "RIGHT"]))]):
            kind = "mass" if rng.random() < 0.5 else "calcification"
            sev = "malignant" if rng.random() < 0.45 else "benign"
            severities = (sev,) if rng.random() < 0.8 else (sev, "benign")
            for view in ("CC", "MLO"):
                if len(films) < n_films:
                    films.append(_CbisFilm(len(films), patient, side, view, kind, split, severities))
    return films


def _cbis_one(args: tuple[_CbisFilm, Path, int, int]) -> list[dict[str, str]]:
    """Write one film's DICOMs; its CSV rows (one per abnormality)."""
    f, out, seed, long_side = args
    film = make_film(f.index, seed, long_side, len(f.severities), f.severities)
    px = film.pixels[:, ::-1] if f.side == "RIGHT" else film.pixels
    masks = [m[:, ::-1] if f.side == "RIGHT" else m for m in film.masks]
    prefix = "Mass" if f.kind == "mass" else "Calc"
    folder = f"{prefix}-{f.split}_P_{f.patient:05d}_{f.side}_{f.view}"
    rng = np.random.default_rng((seed, f.index, 7))
    rel = f"{folder}/{_uid(rng)}/{_uid(rng)}/000000.dcm"
    lat = f.side[0]
    _write(out / "CBIS-DDSM" / rel, _dicom_bytes(np.round(px * 65535), folder, lat, f.view, (seed, f.index, 1)))
    rows = []
    for k, (mask, sev) in enumerate(zip(masks, film.severities), start=1):
        roi = f"{folder}_{k}"
        base = f"{roi}/{_uid(rng)}/{_uid(rng)}"
        ys, xs = np.nonzero(mask)
        crop = px[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        _write(out / "CBIS-DDSM" / f"{base}/000000.dcm", _dicom_bytes(np.round(crop * 65535), roi, lat, f.view, (seed, f.index, 10 + k)))
        _write(out / "CBIS-DDSM" / f"{base}/000001.dcm", _dicom_bytes(mask.astype(np.uint8) * 255, roi, lat, f.view, (seed, f.index, 20 + k), mask=True))
        pathology = str(rng.choice(CBIS_PATHOLOGY[sev]))
        density = str(int(rng.integers(1, 5)))
        common = {"patient_id": f"P_{f.patient:05d}", "left or right breast": f.side, "image view": f.view, "abnormality id": str(k),
                  "assessment": str(int(rng.integers(4, 6)) if sev == "malignant" else int(rng.integers(2, 5))), "pathology": pathology, "subtlety": str(int(rng.integers(1, 6))),
                  "image file path": rel, "cropped image file path": f"{base}/000000.dcm", "ROI mask file path": f"{base}/000001.dcm\n"}
        if f.kind == "mass":
            rows.append(common | {"breast_density": density, "abnormality type": "mass", "mass shape": "IRREGULAR" if sev == "malignant" else "OVAL", "mass margins": "SPICULATED" if sev == "malignant" else "CIRCUMSCRIBED"})
        else:
            rows.append(common | {"breast density": density, "abnormality type": "calcification", "calc type": "PLEOMORPHIC" if sev == "malignant" else "PUNCTATE", "calc distribution": "CLUSTERED"})
    return rows


def write_cbis_archive(out: str | os.PathLike, n_films: int, *, seed: int = 0, long_side: int = 640, workers: int = 0) -> Path:
    """A CBIS-DDSM folder of `n_films` films (no normal films: CBIS-DDSM has none)."""
    out = Path(out)
    plan = _cbis_plan(n_films, seed)
    jobs = [(f, out, seed, long_side) for f in plan]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            rows = list(pool.map(_cbis_one, jobs, chunksize=8))
    else:
        rows = [_cbis_one(j) for j in jobs]
    tables: dict[str, list[dict[str, str]]] = {}
    for f, film_rows in zip(plan, rows):
        name = f"{'mass' if f.kind == 'mass' else 'calc'}_case_description_{'train' if f.split == 'Training' else 'test'}_set.csv"
        tables.setdefault(name, []).extend(film_rows)
    for kind in ("mass", "calc"):
        for split in ("train", "test"):
            name = f"{kind}_case_description_{split}_set.csv"
            buf = io.StringIO()
            w = csv.DictWriter(buf, MASS_HEADER if kind == "mass" else CALC_HEADER, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            w.writeheader()
            w.writerows(tables.get(name, []))
            _write(out / name, buf.getvalue().encode())
    return out


# --- Mini-DDSM ---------------------------------------------------------------------------

def _minidds_plan(n_films: int, seed: int) -> list[tuple[int, int, str, str, str, tuple[str, ...]]]:
    """(index, case, status, side, view, severities of this view's lesions): cases of four
    views, Status a third each; in Benign / Cancer cases the other breast has no contour,
    and now and then one view of the abnormal breast has none either (relabelled normal)."""
    rng = np.random.default_rng((seed, 20_000_003))
    plan = []
    case = 0
    while len(plan) < n_films:
        case += 1
        status = ("Normal", "Benign", "Cancer")[case % 3]
        bad_side = str(rng.choice(["LEFT", "RIGHT"]))
        for side in ("LEFT", "RIGHT"):
            for view in ("CC", "MLO"):
                lesion = status != "Normal" and side == bad_side and not (view == "CC" and rng.random() < 0.15)
                sev = ("malignant" if status == "Cancer" else "benign",) if lesion else ()
                if len(plan) < n_films:
                    plan.append((len(plan), case, status, side, view, sev))
    return plan


def _minidds_one(args) -> dict[str, str]:
    import cv2

    (index, case, status, side, view, sev), out, seed, long_side = args
    film = make_film(index, seed, long_side, len(sev), sev)
    px = film.pixels[:, ::-1] if side == "RIGHT" else film.pixels
    stem = f"C_{case:04d}_1.{side}_{view}"
    folder = Path(status) / f"{case:04d}"
    ok, jpg = cv2.imencode(".jpg", np.round(px * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 92])
    _write(out / folder / f"{stem}.jpg", jpg.tobytes())
    contour = "-"
    if film.masks:
        mask = film.masks[0][:, ::-1] if side == "RIGHT" else film.masks[0]
        ok, mjpg = cv2.imencode(".jpg", mask.astype(np.uint8) * 255, [cv2.IMWRITE_JPEG_QUALITY, 75])  # real masks carry JPEG noise
        _write(out / folder / f"{stem}_Mask.jpg", mjpg.tobytes())
        contour = f"{status}\\{case:04d}\\{stem}_Mask.jpg"
    rng = np.random.default_rng((seed, index, 3))
    return {"fullPath": f"{status}\\{case:04d}\\{stem}.jpg", "fileName": f"{stem}.jpg", "View": view, "Side": side, "Status": status,
            "Tumour_Contour": contour, "Tumour_Contour2": "-", "Age": str(int(rng.integers(40, 80))), "Density": str(int(rng.integers(1, 5)))}


def write_minidds_archive(out: str | os.PathLike, n_films: int, *, seed: int = 0, long_side: int = 640, workers: int = 0) -> Path:
    """A Mini-DDSM folder of `n_films` JPEG films with contour masks and `Data.csv`."""
    out = Path(out)
    jobs = [(p, out, seed, long_side) for p in _minidds_plan(n_films, seed)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            rows = list(pool.map(_minidds_one, jobs, chunksize=8))
    else:
        rows = [_minidds_one(j) for j in jobs]
    buf = io.StringIO()
    w = csv.DictWriter(buf, MINIDDS_HEADER, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    _write(out / "Data.csv", buf.getvalue().encode())
    return out


ARCHIVES = {"cbis": write_cbis_archive, "minidds": write_minidds_archive}
