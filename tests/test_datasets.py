"""Dataset loaders against the real files under ../shared/data (skipped when absent)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from core.datasets import DATASETS, breast_labels, label_counts, load_dataset
from core.datasets.cbis import load_cbis, read_rows
from core.datasets.folder import load_folder
from core.datasets.mias import load_mias, parse_info
from core.datasets.minidds import load_minidds, mask_to_bbox, read_mask
from core.datasets.sample import load_sample, manifest
from core.errors import DatasetError
from core.types import LABELS, Record


def shared_data_dir() -> Path:
    env = os.environ.get("MAMMO_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _need(sub: str) -> Path:
    p = shared_data_dir() / sub
    if not p.exists():
        pytest.skip(f"shared data not available: {p} (set MAMMO_SHARED_DATA or create ../shared/data)")
    return p


@pytest.fixture(scope="module")
def mias_dir() -> Path:
    return _need("mini-mias")


@pytest.fixture(scope="module")
def cbis_dir() -> Path:
    return _need("cbis-ddsm")


@pytest.fixture(scope="module")
def minidds_dir() -> Path:
    return _need("mini-ddsm")


@pytest.fixture(scope="module")
def mias(mias_dir) -> dict[str, Record]:
    return {r.image_id: r for r in load_mias(mias_dir)}


@pytest.fixture(scope="module")
def cbis(cbis_dir) -> list[Record]:
    return load_cbis(cbis_dir)


# ---------------------------------------------------------------- mini-MIAS


def test_mias_counts(mias, mias_dir):
    assert len(parse_info((mias_dir / "Info.txt").read_text(encoding="latin-1"))) == 330
    assert len(mias) == 322
    assert label_counts(mias.values()) == {"normal": 207, "benign": 63, "malignant": 52}
    assert sum(len(r.lesions) for r in mias.values()) == 330 - 207  # every abnormal row kept
    assert all(r.view == "MLO" and r.dataset == "mias" for r in mias.values())
    assert all(r.path and Path(r.path).is_file() for r in mias.values())
    normal = [r for r in mias.values() if r.label == "normal"]
    assert all(r.abnormality is None and r.lesions == () for r in normal)


def test_mias_most_severe_and_multiple_lesions(mias):
    r = mias["mdb144"]
    assert r.label == "malignant" and len(r.lesions) == 2
    assert sorted(l.severity for l in r.lesions) == ["benign", "malignant"]
    assert sum(len(x.lesions) > 1 for x in mias.values()) >= 2


def test_mias_row_flip_and_geometry(mias):
    (les,) = mias["mdb001"].lesions  # "mdb001 G CIRC B 535 425 197"
    assert les.center == (535.0, 1024 - 425) and les.radius == 197
    assert les.kind == "mass" and les.detail == "CIRC" and les.severity == "benign"
    assert les.bbox == (338, 1024 - 425 - 197, 535 + 197, 1024 - 425 + 197)
    for r in mias.values():
        for l in r.lesions:
            if l.bbox:
                x0, y0, x1, y1 = l.bbox
                assert 0 <= x0 < x1 <= 1024 and 0 <= y0 < y1 <= 1024


def test_mias_no_geometry_rows(mias):
    for ref, label in [("mdb059", "benign"), ("mdb216", "malignant"), ("mdb233", "malignant"), ("mdb245", "malignant")]:
        r = mias[ref]
        assert r.label == label
        assert r.lesions and all(l.center is None and l.bbox is None and l.radius is None for l in r.lesions)
    assert mias["mdb216"].abnormality == "calcification"
    no_geo = [r.image_id for r in mias.values() if any(l.center is None for l in r.lesions)]
    assert sorted(no_geo) == ["mdb059", "mdb216", "mdb233", "mdb245"]


def test_mias_patients_and_sides(mias):
    assert mias["mdb001"].patient_id == mias["mdb002"].patient_id
    assert mias["mdb002"].patient_id != mias["mdb003"].patient_id
    assert mias["mdb001"].side == "R" and mias["mdb002"].side == "L"
    assert mias["mdb322"].patient_id == mias["mdb321"].patient_id == "mias_P161"
    by_patient = Counter(r.patient_id for r in mias.values())
    assert len(by_patient) == 161 and set(by_patient.values()) == {2}
    assert Counter(r.side for r in mias.values()) == {"L": 161, "R": 161}


def test_mias_abnormality_mapping(mias):
    kinds = {l.detail: l.kind for r in mias.values() for l in r.lesions}
    assert kinds == {
        "CALC": "calcification", "CIRC": "mass", "SPIC": "mass", "MISC": "mass",
        "ARCH": "architectural_distortion", "ASYM": "asymmetry",
    }
    assert {r.density for r in mias.values()} == {"F", "G", "D"}


def test_mias_listing_is_fast(mias_dir):
    t = time.perf_counter()
    load_mias(mias_dir)
    assert time.perf_counter() - t < 1.0


def test_mias_pgm_path(mias_dir, tmp_path):
    from PIL import Image

    shutil.copy(mias_dir / "Info.txt", tmp_path / "Info.txt")
    for ref in ("mdb001", "mdb002"):
        with Image.open(mias_dir / f"{ref}.webp") as im:
            im.convert("L").save(tmp_path / f"{ref}.pgm")
    shutil.copy(mias_dir / "mdb003.webp", tmp_path / "mdb003.webp")
    recs = {r.image_id: r for r in load_mias(tmp_path)}
    assert len(recs) == 322
    assert recs["mdb001"].path.endswith("mdb001.pgm") and recs["mdb003"].path.endswith("mdb003.webp")
    assert recs["mdb004"].path is None
    with Image.open(recs["mdb001"].path) as im:
        assert im.mode == "L" and im.size == (1024, 1024)
    present = load_mias(tmp_path, require_images=True)
    assert [r.image_id for r in present] == ["mdb001", "mdb002", "mdb003"]


def test_mias_missing_info(tmp_path):
    with pytest.raises(DatasetError, match="Info.txt"):
        load_mias(tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        load_mias(tmp_path / "nope")


# ---------------------------------------------------------------- CBIS-DDSM


def test_cbis_csv_rows_and_quirks(cbis_dir):
    expected = {
        "mass_case_description_train_set.csv": 1318,
        "mass_case_description_test_set.csv": 378,
        "calc_case_description_train_set.csv": 1546,
        "calc_case_description_test_set.csv": 326,
    }
    for name, n in expected.items():
        rows = read_rows(cbis_dir / name)
        assert len(rows) == n, name
        assert all(not r["ROI mask file path"].endswith("\n") for r in rows)
        density_col = "breast_density" if name.startswith("mass") else "breast density"
        assert all(r[density_col] for r in rows)


def test_cbis_records(cbis, cbis_dir):
    assert sum(len(r.lesions) for r in cbis) == 1318 + 378 + 1546 + 326
    assert len({r.image_id for r in cbis}) == len(cbis)
    by_split = {s: [r for r in cbis if r.split == s] for s in ("train", "test")}
    assert len(by_split["train"]) + len(by_split["test"]) == len(cbis)
    for s, recs in by_split.items():
        print(f"CBIS {s}: {len(recs)} images, {label_counts(recs)}")
    assert len(cbis) == 3103
    assert label_counts(by_split["train"]) == {"normal": 0, "benign": 1347, "malignant": 1111}
    assert label_counts(by_split["test"]) == {"normal": 0, "benign": 381, "malignant": 264}
    assert all(r.side in ("L", "R") and r.view in ("CC", "MLO") for r in cbis)
    assert all(r.density in {"0", "1", "2", "3", "4"} for r in cbis)
    assert all(r.path is None for r in cbis)  # no DICOMs in the shared folder
    assert load_cbis(cbis_dir, require_images=True) == []
    # most severe label and BENIGN_WITHOUT_CALLBACK -> benign
    for r in cbis:
        assert r.label == max((l.severity for l in r.lesions), key=LABELS.index)
        assert all(l.severity in ("benign", "malignant") for l in r.lesions)
    r = {x.image_id: x for x in cbis}["Mass-Test_P_00173_RIGHT_CC"]
    assert r.patient_id == "P_00173" and r.label == "benign" and len(r.lesions) == 2 and r.split == "test"


def test_cbis_breast_labels(cbis):
    bl = breast_labels(cbis)
    assert bl[("P_00820", "L")] == "malignant" and bl[("P_00820", "R")] == "benign"


def test_cbis_resolves_dicom_tree(cbis_dir, tmp_path):
    shutil.copy(cbis_dir / "mass_case_description_test_set.csv", tmp_path)
    # the TCIA/NBIA download layout: <folder>/<date-study>/<series>/1-1.dcm
    d = tmp_path / "CBIS-DDSM" / "Mass-Test_P_00173_LEFT_CC" / "07-20-2016-DDSM-1" / "1.000000-full mammogram images-1"
    d.mkdir(parents=True)
    (d / "1-1.dcm").write_bytes(b"\0" * 10)
    recs = load_cbis(tmp_path)
    assert len(recs) == 361
    present = load_cbis(tmp_path, require_images=True)
    assert [r.image_id for r in present] == ["Mass-Test_P_00173_LEFT_CC"]
    assert present[0].path == str(d / "1-1.dcm")


def test_cbis_missing(tmp_path):
    with pytest.raises(DatasetError, match="CSV"):
        load_cbis(tmp_path)


# ---------------------------------------------------------------- Mini-DDSM


def test_minidds_relabelled_counts(minidds_dir):
    recs = load_minidds(minidds_dir)
    assert len(recs) == 7808
    # the data README: Normal 4,978 / Benign 1,402 / Cancer 1,428 after seed 001's relabelling
    assert label_counts(recs) == {"normal": 4978, "benign": 1402, "malignant": 1428}
    raw = load_minidds(minidds_dir, relabel="none")
    assert label_counts(raw) == {"normal": 2408, "benign": 2684, "malignant": 2716}
    breast = load_minidds(minidds_dir, relabel="breast")
    assert label_counts(breast) == {"normal": 4888, "benign": 1440, "malignant": 1480}
    assert len({r.patient_id for r in recs}) == 1952
    assert all(r.side in ("L", "R") and r.view in ("CC", "MLO") for r in recs)


def test_minidds_present_images_and_masks(minidds_dir):
    recs = load_minidds(minidds_dir, require_images=True)
    assert len(recs) == 12
    assert {r.patient_id for r in recs} == {"C_0029_1", "C_0033_1", "C_0237_1"}
    labels = {r.image_id: r.label for r in recs}
    assert labels["C_0029_1.LEFT_CC"] == "benign" and labels["C_0029_1.RIGHT_CC"] == "normal"
    assert labels["C_0033_1.LEFT_MLO"] == "normal" and labels["C_0033_1.RIGHT_MLO"] == "benign"
    assert label_counts(recs) == {"normal": 6, "benign": 6, "malignant": 0}
    for r in recs:
        assert r.path.endswith(".jpg") and Path(r.path).is_file()
        if r.label == "benign":
            assert len(r.lesions) == 1 and r.lesions[0].mask_path.endswith("_Mask.jpg")
        else:
            assert r.lesions == ()
    mask = read_mask(recs[0].lesions[0].mask_path)
    assert mask.dtype == bool and 0 < mask.sum() < mask.size
    x0, y0, x1, y1 = mask_to_bbox(mask)
    assert 0 <= x0 < x1 <= mask.shape[1] and 0 <= y0 < y1 <= mask.shape[0]
    with_bbox = load_minidds(minidds_dir, require_images=True, mask_bbox=True)
    assert all(l.bbox for r in with_bbox for l in r.lesions)


def test_minidds_jpg_table_and_csv(minidds_dir, tmp_path):
    a = load_minidds(minidds_dir, require_images=True)
    b = load_minidds(minidds_dir, require_images=True, table=minidds_dir / "DataWMask.xlsx")
    assert a == b
    # a CSV export of the sheet works the same way
    from core.datasets.minidds import read_xlsx

    rows = read_xlsx(minidds_dir / "Data.xlsx")
    with open(tmp_path / "Data.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    c = load_minidds(minidds_dir, table=tmp_path / "Data.csv")
    assert label_counts(c) == {"normal": 4978, "benign": 1402, "malignant": 1428}


def test_minidds_errors(tmp_path):
    with pytest.raises(DatasetError, match="spreadsheet"):
        load_minidds(tmp_path)


# ---------------------------------------------------------------- folder


def test_folder_loader(tmp_path):
    from PIL import Image

    img = Image.fromarray(np.zeros((8, 8), np.uint8))
    for cls, names in {"Normal": ["a", "b"], "BENIGN": ["c"], "cancer": ["Mass-Training_P_00001_LEFT_CC"]}.items():
        (tmp_path / cls).mkdir()
        for n in names:
            img.save(tmp_path / cls / f"{n}.png")
    (tmp_path / "cancer" / "notes.txt").write_text("x")
    (tmp_path / "other").mkdir()
    recs = load_folder(tmp_path)
    assert label_counts(recs) == {"normal": 2, "benign": 1, "malignant": 1}
    m = [r for r in recs if r.label == "malignant"][0]
    assert m.patient_id == "Mass-Training_P_00001_LEFT_CC" and m.side == "L" and m.view == "CC"
    assert {r.patient_id for r in recs} == {"a", "b", "c", "Mass-Training_P_00001_LEFT_CC"}
    assert load_dataset("folder", tmp_path) == recs
    with pytest.raises(DatasetError, match="class folders"):
        load_folder(tmp_path / "other")


# ---------------------------------------------------------------- sample


def test_sample_manifest_and_loader():
    m = manifest()
    recs = load_sample()
    assert len(recs) == 8
    assert label_counts(recs) == {"normal": 0, "benign": 6, "malignant": 2}
    assert {r.patient_id for r in recs} == {"P_00173", "P_00820"}
    assert all(r.path and Path(r.path).is_file() for r in recs)
    assert breast_labels(recs) == {
        ("P_00173", "L"): "benign", ("P_00173", "R"): "benign",
        ("P_00820", "L"): "malignant", ("P_00820", "R"): "benign",
    }
    files = {i["file"]: i for i in m["images"]}
    expected_files = [f"sfm-benign-0/1-13{i}.dcm" for i in range(4)] + [f"sfm-malign-0/1-28{i}.dcm" for i in range(4)]
    assert sorted(files) == expected_files
    assert files["sfm-malign-0/1-282.dcm"]["cbis_folder"] == "Mass-Test_P_00820_RIGHT_CC"
    assert files["sfm-malign-0/1-282.dcm"]["label"] == "benign"
    assert [i["n_lesions"] for i in m["images"]] == [1, 1, 2, 2, 1, 1, 1, 1]
    assert load_dataset("sample") == recs


def test_sample_dicom_headers_match_manifest():
    pydicom = pytest.importorskip("pydicom")
    import hashlib

    for r, img in zip(load_sample(), manifest()["images"]):
        ds = pydicom.dcmread(r.path, stop_before_pixels=True)
        assert ds.PatientID == img["cbis_folder"] == r.image_id
        assert ds.StudyInstanceUID == img["study_uid"] and ds.SeriesInstanceUID == img["series_uid"]
        assert (int(ds.Rows), int(ds.Columns)) == (img["rows"], img["columns"])
        assert hashlib.sha256(Path(r.path).read_bytes()).hexdigest() == img["sha256"]


def test_sample_manifest_matches_cbis_csv(cbis_dir):
    rows: dict[str, list[dict]] = {}
    for row in read_rows(cbis_dir / "mass_case_description_test_set.csv"):
        rows.setdefault(row["image file path"].split("/")[0], []).append(row)
    for img in manifest()["images"]:
        csv_rows = rows[img["cbis_folder"]]
        assert len(csv_rows) == img["n_lesions"]
        assert csv_rows[0]["patient_id"] == img["patient_id"]
        assert csv_rows[0]["breast_density"] == img["density"]
        sev = {"MALIGNANT": "malignant", "BENIGN": "benign", "BENIGN_WITHOUT_CALLBACK": "benign"}
        assert max((sev[r["pathology"]] for r in csv_rows), key=LABELS.index) == img["label"]
        _, study, series, _ = csv_rows[0]["image file path"].split("/")
        assert (study, series) == (img["study_uid"], img["series_uid"])
    cbis = {r.image_id: r for r in load_cbis(cbis_dir)}
    for s in load_sample():
        c = cbis[s.image_id]
        assert (c.patient_id, c.side, c.view, c.label, c.split, c.density) == (
            s.patient_id, s.side, s.view, s.label, s.split, s.density)
        assert [l.detail for l in c.lesions] == [l.detail for l in s.lesions]


def test_sample_without_shared_data(monkeypatch, tmp_path):
    # the sample never reads ../shared: point the env at nothing and load it
    monkeypatch.setenv("MAMMO_SHARED_DATA", str(tmp_path / "absent"))
    assert len(load_sample()) == 8
    assert json.loads(json.dumps([r.to_dict() for r in load_sample()]))[0]["lesions"]


# ---------------------------------------------------------------- registry


def test_registry_errors(tmp_path):
    assert set(DATASETS) == {"mias", "cbis", "minidds", "folder", "sample"}
    with pytest.raises(DatasetError, match="valid names: mias, cbis, minidds, folder, sample"):
        load_dataset("inbreast", tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        load_dataset("mias", tmp_path / "missing")
    with pytest.raises(DatasetError, match="needs a data folder"):
        load_dataset("cbis")
    with pytest.raises(DatasetError, match="Info.txt"):
        load_dataset("mias", tmp_path)


def test_registry_parent_folder():
    root = shared_data_dir()
    if not root.exists():
        pytest.skip(f"shared data not available: {root}")
    assert len(load_dataset("mias", root)) == 322
    assert len(load_dataset("minidds", root, require_images=True)) == 12
    assert len(load_dataset("cbis", root)) == 3103


def test_label_counts_has_every_label():
    assert label_counts([]) == {"normal": 0, "benign": 0, "malignant": 0}
