"""Nothing identifying gets out; one bad part never takes the rest down.

The hostile corpus is built here, at test time (no committed file holds a fake
identifier): DICOMs with a planted value in every free-text field, in malformed numeric
fields, private tags and nested sequences; PNG text chunks of every kind; TIFF / JPEG
tags; identifying, markdown and formula file names; a 116 KB PNG that decodes to 60
megapixels. Every planted value holds the marker "ZQX" (or a planted number), and no
output may contain one: the CLI (`read`, `read --json`, `predict`), every element of the
Upload page under AppTest, both of its downloads (CSV cells, PNG bytes and chunks, the
text the PNG export draws) and everything logged or printed while it ran.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import DigitalMammographyXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

from core import privacy
from core.errors import ImageTooLargeError, InvalidImageError
from core.io.reader import read_image

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "streamlit_app.py")
MARK = "zqx"  # every planted text holds it (compared case-insensitively)
NUMBERS = ("987654321", "19070707", "31337", "4242")  # planted numbers and numeric-looking IDs
FILENAMES = [
    "ZQX Jane Doe 19070707 mammo.dcm",
    "**ZQXbold** [ZQXlink](http:zqx.example) <b>ZQX</b> :red[ZQX].png",
    '=HYPERLINK("http:zqx.example","ZQXclick").png',
    "+ZQXcmd|' C calc'!A0.tif",
    "@ZQXSUM(1+1).jpg",
    "-ZQX2+3 31337.dcm",
]


# --------------------------------------------------------------------------- the hostile corpus
def _ramp(rows: int = 96, cols: int = 80, top: int = 4095) -> np.ndarray:
    return np.linspace(0, top, rows * cols).round().astype(np.uint16).reshape(rows, cols)


def _dicom(*, rows: int = 96, cols: int = 80, **tags: object) -> Dataset:
    """A small valid mammogram with an identifier planted in every free-text field."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = DigitalMammographyXRayImageStorageForPresentation
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    planted = {
        "PatientName": "ZQXDoe^Jane", "PatientID": "ZQXPID-31337", "PatientBirthDate": "19070707",
        "OtherPatientIDs": "ZQX-OTHER-4242", "AccessionNumber": "ZQXACC4242", "StudyID": "ZQXSTUDY",
        "InstitutionName": "ZQX Saint Example Hospital", "InstitutionAddress": "ZQX 1 Example Road",
        "ReferringPhysicianName": "ZQXWho^Doctor", "OperatorsName": "ZQXOperator^Olga",
        "StudyDescription": "ZQX study of Jane Doe", "SeriesDescription": "ZQX series Jane Doe",
        "ImageComments": "ZQX comment: patient Jane Doe", "StationName": "ZQXSTATION",
        "DeviceSerialNumber": "ZQXSERIAL4242", "Manufacturer": "ZQX Hologic for Jane Doe",
        "ManufacturerModelName": "ZQX Model Jane", "BodyPartExamined": "ZQXBREAST",
        "ViewPosition": "ZQXVIEW", "ImageLaterality": "ZQXSIDE", "Modality": "ZQXMOD",
        "PatientWeight": "987654321", "AcquisitionNumber": "987654321",
    }
    for key, value in planted.items():
        setattr(ds, key, value)
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = _ramp(rows, cols).tobytes()
    # private tags, and a nested sequence two levels deep
    block = ds.private_block(0x0009, "ZQX PRIVATE CREATOR", create=True)
    block.add_new(0x10, "LO", "ZQX private Jane Doe 31337")
    block.add_new(0x11, "UT", "ZQX private long text " * 5)
    inner = Dataset()
    inner.PatientName = "ZQXNested^Inner"
    inner.CodeMeaning = "ZQX nested meaning"
    item = Dataset()
    item.PatientID = "ZQXNESTED-4242"
    item.ReferencedImageSequence = Sequence([inner])
    ds.ReferencedStudySequence = Sequence([item])
    for key, value in tags.items():
        setattr(ds, key, value)
    return ds


def _dicom_bytes(ds: Dataset, swap: dict[bytes, bytes] | None = None) -> bytes:
    """Saved DICOM; `swap` replaces placeholder values by malformed ones of the same length
    (pydicom would refuse to write them)."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    for old, new in (swap or {}).items():
        assert len(old) == len(new) and data.count(old) == 1, old
        data = data.replace(old, new)
    return data


def _png_text_chunks() -> bytes:
    arr = _ramp(96, 80, 65535)
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "ZQX Jane Doe")  # tEXt
    info.add_text("ZQXkey", "ZQX compressed patient 31337", zip=True)  # zTXt
    info.add_itxt("Comment", "ZQX international Jane Doe", lang="en", tkey="ZQX translated")  # iTXt
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _png_huge(side: int = 7745) -> bytes:
    """A 16-bit grey PNG of side x side zeros: about 116 KB on disk, 60 megapixels decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    comp = zlib.compressobj(9)
    row = b"\0" * (1 + 2 * side)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 16, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"tEXt", b"Author\0ZQX huge") + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _tiff_tags(truncate: bool = False) -> bytes:
    im = Image.fromarray((_ramp(96, 80, 255)).astype(np.uint8))
    tags = {270: "ZQX description Jane Doe", 315: "ZQX Artist Jane", 33432: "ZQX copyright", 269: "ZQX document 31337"}
    buf = io.BytesIO()
    im.save(buf, format="TIFF", tiffinfo=tags)
    data = buf.getvalue()
    return data[: len(data) * 2 // 3] if truncate else data


def _jpeg_exif() -> bytes:
    im = Image.fromarray((_ramp(96, 80, 255)).astype(np.uint8))
    exif = Image.Exif()
    exif[315] = "ZQX Artist Jane Doe"
    exif[270] = "ZQX description 31337"
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes(), comment=b"ZQX comment Jane Doe")
    return buf.getvalue()


def corpus() -> list[tuple[str, bytes, str | None]]:
    """(key, bytes, None if readable else a part of the expected error)."""
    slope, intercept = "1.000000000011", "0.000000000022"
    items = [
        ("dicom-every-text-field", _dicom_bytes(_dicom()), None),
        ("dicom-malformed-slope", _dicom_bytes(_dicom(RescaleSlope=slope, RescaleIntercept=intercept),
                                               {slope.encode(): b"ZQXSLOPE987654"}), "RescaleSlope"),
        ("dicom-malformed-intercept", _dicom_bytes(_dicom(RescaleSlope=slope, RescaleIntercept=intercept),
                                                   {intercept.encode(): b"ZQX-JANE-DOE-1"}), "RescaleIntercept"),
        ("dicom-malformed-frames", _dicom_bytes(_dicom(NumberOfFrames="1234567890"), {b"1234567890": b"ZQX3133700"}), "NumberOfFrames"),
        ("dicom-malformed-window", _dicom_bytes(_dicom(WindowCenter="2047.00000001", WindowWidth="4095.00000001"),
                                                {b"2047.00000001 ": b"ZQXWINDOW4242 "}), None),
        ("dicom-malformed-spacing", _dicom_bytes(_dicom(PixelSpacing=["0.0700000001", "0.0700000002"]),
                                                 {b"0.0700000001\\0.0700000002": b"ZQX987654321\\ZQXJANE-DOE-"}), None),
        ("dicom-implausible-spacing", _dicom_bytes(_dicom(PixelSpacing=[987654321, 31337])), None),
        ("dicom-unknown-photometric", _dicom_bytes(_dicom(PhotometricInterpretation="ZQXPHOTO")), "PhotometricInterpretation"),
        ("dicom-unknown-transfer-syntax", _unknown_syntax(), "pixel data"),
        ("dicom-claims-60-megapixels", _dicom_bytes(_dicom(Rows=60000, Columns=60000)), "too large"),
        ("png-text-chunks", _png_text_chunks(), None),
        ("png-116kb-decodes-60mp", _png_huge(), "too large"),
        ("tiff-tags", _tiff_tags(), None),
        ("tiff-truncated", _tiff_tags(truncate=True), "tiff"),
        ("jpeg-exif-comment", _jpeg_exif(), None),
    ]
    return items


def _unknown_syntax() -> bytes:
    ds = _dicom()
    ds.file_meta.TransferSyntaxUID = "1.2.826.0.1.987654321.4242"
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=False, little_endian=True)
    return buf.getvalue()


@pytest.fixture(scope="module")
def hostile() -> list[tuple[str, bytes, str | None, str]]:
    """The corpus, each with a hostile upload name."""
    return [(k, b, err, FILENAMES[i % len(FILENAMES)]) for i, (k, b, err) in enumerate(corpus())]


def assert_clean(text: str, *extra: str) -> None:
    # Streamlit's own random identifiers (a deferred download's file id, 32 hex digits) can hold
    # a short planted number such as 4242 by chance: they are not page content
    low = re.sub(r"\b[0-9a-f]{32}\b", "<id>", text.lower())
    assert MARK not in low, _around(text, MARK)
    for value in (*NUMBERS, *extra):
        assert value.lower() not in low, _around(low, value)


def _around(text: str, needle: str) -> str:
    i = text.lower().find(needle.lower())
    return f"planted {needle!r} leaked: ...{text[max(0, i - 120): i + 80]!r}..."


# --------------------------------------------------------------------------- the reader itself
def test_reader_outputs_hold_no_planted_value(hostile):
    for key, data, err, name in hostile:
        if err is None:
            m = read_image(data, name=name)
            assert_clean(repr(m.meta) + json.dumps(m.meta.to_dict(), default=str))
        else:
            with pytest.raises(InvalidImageError) as info:
                read_image(data, name=name)
            message = str(info.value)
            assert err.lower() in message.lower(), (key, message)
            assert "\n" not in message
            assert_clean(message, name)


def test_free_text_fields_map_to_fixed_vocabulary():
    m = read_image(_dicom_bytes(_dicom()))
    assert m.meta.view == "unrecognised" and m.meta.laterality == "unrecognised"
    assert m.meta.modality == "unrecognised" and m.meta.manufacturer == "Hologic"
    good = read_image(_dicom_bytes(_dicom(ViewPosition="MLO", ImageLaterality="R", Modality="MG", Manufacturer="GE MEDICAL SYSTEMS")))
    assert (good.meta.view, good.meta.laterality, good.meta.modality, good.meta.manufacturer) == ("MLO", "R", "MG", "GE Healthcare")
    for value in (None, ""):
        assert privacy.view(value) is None
    assert {v for v in (privacy.view(x) for x in ("CC", "mlo", "xccl ", "Jane")) if v} <= privacy.VIEWS | {"unrecognised"}


def test_huge_png_refused_from_header_without_allocating():
    import tracemalloc

    data = _png_huge()
    assert len(data) < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLargeError, match="50 megapixels"):
            read_image(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, peak  # the 120 MB of 16-bit pixels are never allocated


def test_decoding_memory_is_bounded_per_pixel():
    """A 16-bit image costs its float32 result plus one integer copy, not a float64 plane."""
    import tracemalloc

    side = 2000
    buf = io.BytesIO()
    Image.fromarray(_ramp(side, side, 65535)).save(buf, format="PNG", compress_level=1)
    data = buf.getvalue()
    tracemalloc.start()
    try:
        m = read_image(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert m.pixels.dtype == np.float32 and m.shape == (side, side)
    assert peak < 9.5 * side * side, peak / side / side  # bytes a pixel: 8 now, 12 with a float64 plane


def test_privacy_helpers():
    assert privacy.csv_cell("=1+1") == "'=1+1" and privacy.csv_cell("@x") == "'@x" and privacy.csv_cell("-0.5") == "-0.5"
    assert privacy.csv_cell(0.25) == 0.25
    rows = list(csv.reader(io.StringIO(privacy.neutralise_csv(b'a,b\n=HYPERLINK("x"),+1\n').decode())))
    assert rows[1] == ["'=HYPERLINK(\"x\")", "+1"]
    assert privacy.md_escape("**b** [l](u)") == r"\*\*b\*\* \[l\]\(u\)"
    assert "<path>" in privacy.redact_paths("no file /work/main/models/a/x.keras here") and "/work" not in privacy.redact_paths("at /work/main/x")
    assert privacy.is_neutral_label("upload 3") and not privacy.is_neutral_label("upload 3.png")


# --------------------------------------------------------------------------- CLI
def _run(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _write(tmp_path: Path, hostile) -> list[tuple[str, Path, str | None]]:
    out = []
    for i, (key, data, err, name) in enumerate(hostile):
        folder = tmp_path / f"ZQX-patient-Jane-Doe-{i}"
        folder.mkdir()
        path = folder / name.replace("/", "_")
        path.write_bytes(data)
        out.append((key, path, err))
    return out


def test_cli_read_never_prints_a_planted_value_name_or_path(tmp_path, hostile):
    for key, path, err in _write(tmp_path, hostile):
        for extra in ([], ["--json"]):
            p = _run("read", str(path), *extra)
            both = p.stdout + p.stderr
            assert_clean(both, str(tmp_path), path.name)
            assert "Traceback" not in both and "Warning" not in both, (key, p.stderr)
            if err is None:
                assert p.returncode == 0 and p.stderr == "", (key, p.stderr)
                if extra:
                    meta = json.loads(p.stdout)
                    assert meta["view"] in privacy.VIEWS | {"unrecognised", None}
                    assert meta.get("manufacturer") in privacy.VENDORS | {"unrecognised", None}
            else:
                assert p.returncode == 3 and p.stdout == "", (key, p.stdout)
                lines = p.stderr.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("error: "), (key, p.stderr)
                assert err.lower() in lines[0].lower(), (key, lines[0])


def _live_models() -> list[str]:
    from core.dashboard import cards as dcards
    from core.models import registry

    return [c["name"] for c in registry.discover() if dcards.is_shipped(c) and registry.weights_available(c)]


def _one_fast_model() -> str | None:
    live = _live_models()
    for preferred in ("s1-shallowcnn-keras", "s1-mobilenetv2-torch"):
        if preferred in live:
            return preferred
    return live[0] if live else None


def test_cli_predict_never_prints_a_planted_value_name_or_path(tmp_path, hostile):
    model = _one_fast_model()
    if model is None:
        pytest.skip("no model with weights in models/")
    files = _write(tmp_path, hostile)
    p = _run("predict", *[str(path) for _, path, _ in files], "--model", model, "--json")
    assert_clean(p.stdout + p.stderr, str(tmp_path), *[path.name for _, path, _ in files])
    assert "Traceback" not in p.stderr and "Warning" not in p.stderr
    assert p.returncode == 3  # some files are unreadable, the rest were predicted
    rows = json.loads(p.stdout)
    readable = [i for i, (_, _, err) in enumerate(files, 1) if err is None]
    assert [r["file"] for r in rows] == [f"file {i}" for i in readable]
    lines = p.stderr.strip().splitlines()  # exactly one error line per bad file, nothing else
    bad = [i for i, (_, _, err) in enumerate(files, 1) if err is not None]
    assert [ln.split(":")[1].strip() for ln in lines] == [f"file {i}" for i in bad], p.stderr
    assert all(ln.startswith("error: file ") for ln in lines)


# --------------------------------------------------------------------------- tampered models
def _copy_models(tmp_path: Path, names: list[str]) -> Path:
    root = tmp_path / "models"
    for n in names:
        shutil.copytree(REPO / "models" / n, root / n)
    return root


def _tamper(root: Path, name: str) -> None:
    card = json.loads((root / name / "card.json").read_text())
    path = root / name / card["weights"]["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_predict_all_with_one_tampered_model_keeps_the_others(tmp_path, sample_dicom):
    hier = json.loads((REPO / "models" / "hierarchy-best" / "card.json").read_text()) if (REPO / "models" / "hierarchy-best").is_dir() else None
    names = [n for n in ("s1-shallowcnn-keras", "s2-mobilenet-keras") if n in _live_models()]
    if len(names) < 2:
        pytest.skip("needs two Keras models with weights")
    if hier and {hier.get("stage1"), hier.get("stage2")} == {"s1-mobilenetv2-torch", "s2-mobilenet-keras"}:
        names += ["s1-mobilenetv2-torch", "hierarchy-best"]
        victim = "s1-mobilenetv2-torch"
    else:
        victim = names[0]
    root = _copy_models(tmp_path, names)
    _tamper(root, victim)
    p = _run("--models-dir", str(root), "predict", str(sample_dicom), "--model", "all", "--json")
    assert p.returncode == 0, p.stderr
    got = {r["model"] for r in json.loads(p.stdout)}
    failing = {victim} | ({"hierarchy-best"} if "hierarchy-best" in names else set())
    assert got == set(names) - failing
    lines = p.stderr.strip().splitlines()
    assert sorted(ln.split(":")[1].strip() for ln in lines) == sorted(failing), p.stderr
    for ln in lines:
        model = ln.split(":")[1].strip()
        assert ln.startswith(f"error: {model}: ") and ln.count(model) == 1 or model == "hierarchy-best", ln
        assert "SHA-256" in ln and str(root) not in ln
    if "hierarchy-best" in names:
        assert any(ln.startswith(f"error: hierarchy-best: its part {victim} failed") for ln in lines), p.stderr
    # every model failing: nothing predicted, exit 4, one line each
    for n in names:
        if n != victim and n != "hierarchy-best":
            _tamper(root, n)
    p = _run("--models-dir", str(root), "predict", str(sample_dicom), "--model", "all")
    assert p.returncode == 4 and p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == len(names) and all(ln.startswith("error: ") for ln in p.stderr.splitlines())


def test_app_marks_a_tampered_model_once_and_does_not_rehash_it(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.models import registry

    names = [n for n in ("s1-shallowcnn-keras", "s2-mobilenet-keras") if n in _live_models()]
    if len(names) < 2:
        pytest.skip("needs two Keras models with weights")
    root = _copy_models(tmp_path, names)
    _tamper(root, names[0])
    monkeypatch.setenv("MAMMO_MODELS_DIR", str(root))
    hashed: list[str] = []
    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda p: hashed.append(Path(p).parent.name) or real(p))
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    assert not at.exception
    for _ in range(2):
        at.run()
        assert not at.exception
    options = at.multiselect(key="chosen_models").options
    assert names[0] not in options and names[1] in options
    marked = [c.value.replace("\\", "") for c in at.caption if names[0] in c.value.replace("\\", "")]
    assert len(marked) == 1 and "unavailable" in marked[0] and "SHA" in marked[0]
    assert hashed.count(names[0]) == 1, hashed  # once per process, not on every rerun


# --------------------------------------------------------------------------- the Upload page
def _texts(at) -> str:
    """Every element's protobuf (labels, values, captions, dataframes' arrow bytes) as text."""
    out: list[str] = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    for df in at.dataframe:
        out.append(df.value.to_string())
    return "\n".join(out)


def test_upload_page_every_element_download_and_log_clean(hostile, monkeypatch, capfd, caplog):
    import logging

    from PIL import ImageDraw
    from streamlit.delta_generator import DeltaGenerator
    from streamlit.testing.v1 import AppTest

    caplog.set_level(logging.DEBUG)
    downloads: list[tuple[str, bytes]] = []
    drawn: list[str] = []
    real_download, real_text = DeltaGenerator.download_button, ImageDraw.ImageDraw.text

    def record_download(self, label, data=None, *args, **kwargs):
        made = data() if callable(data) else data  # the pages make downloads when clicked: make them here
        downloads.append((label, made if isinstance(made, bytes) else str(made).encode()))
        return real_download(self, label, data, *args, **kwargs)

    def record_text(self, xy, text, *args, **kwargs):
        drawn.append(str(text))
        return real_text(self, xy, text, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", record_download)
    monkeypatch.setattr(ImageDraw.ImageDraw, "text", record_text)
    model = _one_fast_model()
    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["chosen_models"] = [model] if model else []
    at.run()
    at.switch_page("pages/upload.py").run()
    assert not at.exception
    n_ok = 0
    for i, (key, data, err, name) in enumerate(hostile, start=1):
        downloads.clear()
        drawn.clear()
        at.file_uploader(key="upload_file").set_value((name, data, "application/octet-stream")).run()
        assert not at.exception, (key, [e.value for e in at.exception])
        page = _texts(at)
        assert_clean(page, name)
        assert "Traceback" not in page
        if err is not None:
            errors = [e.value for e in at.error]
            assert len(errors) == 1 and "could not be read as a mammogram" in errors[0], (key, errors)
            assert err.lower() in errors[0].lower().replace("\\", ""), (key, errors)
            continue
        n_ok += 1
        assert not at.error, (key, [e.value for e in at.error])
        captions = [c.value for c in at.caption]
        assert any(c.startswith("upload ") for c in captions), captions  # the viewer names the image neutrally
        meta = next(d.value for d in at.dataframe if list(d.value.columns) == ["field", "value"])
        assert set(meta["field"]) <= {"source format", "rows", "columns", "bits stored", "photometric", "modality",
                                      "laterality", "view", "manufacturer", "pixel spacing mm", "transfer syntax"}
        if model:
            assert [d for d, _ in downloads] == ["Overlays (PNG)", "Probabilities (CSV)"], key
            png, csv_bytes = downloads[0][1], downloads[1][1]
            assert_clean(png.decode("latin-1"), name)
            with Image.open(io.BytesIO(png)) as im:
                assert_clean(json.dumps({k: str(v) for k, v in im.info.items()}), name)
            assert_clean(" | ".join(drawn), name)
            assert "original — upload " in " ".join(drawn), drawn
            text = csv_bytes.decode()
            assert_clean(text, name)
            for row in csv.reader(io.StringIO(text)):
                assert not any(cell.startswith(("=", "+", "@")) for cell in row), row
                assert not any(cell.startswith("-") and not _is_number(cell) for cell in row), row
    assert n_ok >= 5
    out, err_text = capfd.readouterr()
    assert_clean(out + err_text + caplog.text, *FILENAMES)
    assert "Warning" not in err_text, err_text[-2000:]


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------- the data folder box
def test_data_folder_only_under_configured_roots(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    root = tmp_path / "data-root"
    (root / "mine").mkdir(parents=True)
    secret = tmp_path / "ZQX-secret-folder"
    (secret / "ZQX-inner-listing").mkdir(parents=True)
    (root / "escape").symlink_to(secret)
    monkeypatch.setenv("MAMMO_SHARED_DATA", str(tmp_path / "no-shared"))
    monkeypatch.setenv("MAMMO_DATA_ROOTS", str(root))
    from ui import data_roots

    assert data_roots.choose_data_dir("start-up data folder 1", "mine") == (root / "mine").resolve()
    for bad in ("..", "../ZQX-secret-folder", "/etc", "escape", "~/", "mine/../../ZQX-secret-folder"):
        assert data_roots.choose_data_dir("start-up data folder 1", bad) is None, bad
    assert data_roots.allowed_data_dir("/") is None and data_roots.allowed_data_dir(str(secret)) is None

    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["chosen_models"] = []
    at.run()
    assert not at.exception
    assert at.selectbox(key="data_root").options == ["start-up data folder 1"]
    page = _texts(at)
    assert str(root) not in page and str(tmp_path) not in page
    at.text_input(key="data_subfolder").set_value("../ZQX-secret-folder").run()
    assert at.session_state["data_dir"] == "" and any("not available" in c.value for c in at.caption)
    # a folder set behind the box's back (old sessions, tests): refused by the page without listing it
    for folder in (str(secret), "/", "/etc", "/proc"):
        at.session_state["data_dir"] = folder
        at.run()
        at.switch_page("pages/explore.py").run()
        at.selectbox(key="explore_dataset").set_value("folder").run()
        assert not at.exception
        errors = " ".join(e.value for e in at.error)
        assert "not available" in errors
        page = _texts(at)
        assert MARK not in page.lower() and folder not in page.replace("\\", "") or folder == "/", page[-500:]
