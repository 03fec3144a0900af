"""A synthetic class-folder archive made from the eight embedded sample DICOMs.

Copies get new Study / Series / SOP UIDs and a neutral patient id, are shrunk to varied
sizes and re-encoded RLE lossless (a real codec, as in the originals); a few corrupt files
(truncated DICOMs, bytes that are no image) are mixed in. The class folder is the copy's
truth from the sample manifest (benign / malignant), so the archive is a `folder` dataset
with known labels. Used by the tests and `benchmarks/bench_score.py`; never by training.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

SCALES: tuple[float, ...] = (0.1, 0.15, 0.2, 0.3)  # of the ~4,500 x 2,800 originals
CORRUPT_EVERY = 50  # one corrupt file in every 50 (one in any smaller archive)


def _sources() -> list[tuple[str, "object", np.ndarray]]:
    """(label, dataset, pixels) of the eight sample DICOMs."""
    import pydicom

    from core.datasets.sample import load_sample

    out = []
    for r in load_sample():
        ds = pydicom.dcmread(r.path)
        out.append((r.label, ds, ds.pixel_array))
    return out


def make_archive(root: str | os.PathLike, n_files: int, *, scales: Sequence[float] = SCALES, corrupt_every: int = CORRUPT_EVERY, seed: int = 0) -> dict[str, int]:
    """Write `n_files` files under `root/<benign|malignant>/`; counts of good and corrupt files."""
    from pydicom.uid import RLELossless, generate_uid

    root = Path(root)
    rng = np.random.default_rng(seed)
    sources = _sources()
    cache: dict[tuple[int, float], np.ndarray] = {}
    corrupt = set(range(corrupt_every // 2, n_files, corrupt_every)) or {n_files // 2}
    counts = {"good": 0, "corrupt": 0}
    for i in range(n_files):
        k = i % len(sources)
        label, template, pixels = sources[k]
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"synthetic_{i:05d}.dcm"
        if i in corrupt:
            good = _encoded(template, _shrunk(cache, k, pixels, scales[0]), generate_uid, RLELossless, i)
            path.write_bytes(good[: len(good) // 3] if (i // corrupt_every) % 2 == 0 else rng.bytes(4096))
            counts["corrupt"] += 1
            continue
        scale = scales[int(rng.integers(len(scales)))]
        path.write_bytes(_encoded(template, _shrunk(cache, k, pixels, scale), generate_uid, RLELossless, i))
        counts["good"] += 1
    return counts


def _shrunk(cache: dict, k: int, pixels: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    if (k, scale) not in cache:
        h, w = pixels.shape
        cache[(k, scale)] = cv2.resize(pixels, (max(8, int(w * scale)), max(8, int(h * scale))), interpolation=cv2.INTER_AREA)
    return cache[(k, scale)]


def _encoded(template, pixels: np.ndarray, generate_uid, syntax, i: int) -> bytes:
    import copy
    import io

    ds = copy.deepcopy(template)
    ds.Rows, ds.Columns = pixels.shape
    ds.compress(syntax, np.ascontiguousarray(pixels), encoding_plugin="pylibjpeg")
    for tag in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        setattr(ds, tag, generate_uid())
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = f"SYNTHETIC-{i:05d}"
    ds.PatientName = "SYNTHETIC"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    """`python -m core.score.synthetic DIR [--files N]`: write an archive for trying `score`."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m core.score.synthetic", description="a synthetic class-folder archive from the embedded sample")
    ap.add_argument("folder")
    ap.add_argument("--files", type=int, default=200)
    args = ap.parse_args(argv)
    counts = make_archive(args.folder, args.files)
    print(f"{counts['good']} readable copies and {counts['corrupt']} corrupt files written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
