"""Each film decoded once: a preprocessing cache outside the repository, keyed by content.

Why: a CBIS-DDSM film is ~25 MB of 16-bit pixels and the archive 163 GB, so training cannot
hold the films in memory as the MIAS runs did. Each film is decoded once, shrunk to the
recipe's resolution and written as a uint16 `.npy` (exact for 8-bit films) that training memory-maps, with its
breast mask and lesion geometry (circles from the dataset's centres, or from its ROI masks:
CBIS-DDSM mask DICOMs, Mini-DDSM contour masks). The key is the SHA-256 of the file's bytes
(and of its mask files) and of the pipeline, so a renamed copy hits and a changed pipeline
misses. The folder is `$MAMMO_CACHE` or `~/.cache/mammo-workbench/films`; nothing of a data
set is written into the project.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from core.datasets.lesion_truth import circle_of_mask, read_mask
from core.types import Record

CACHE_VERSION = 3  # 2: films as uint16 (MIAS's 8-bit values exactly); 3: breast masks at full resolution (what the served model sees)
LEVELS = 65535.0
MASK_STRIDE = 8  # patches are placed on every 8th pixel of the breast mask


def cache_root() -> Path:
    base = os.environ.get("MAMMO_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "mammo-workbench"


@dataclass(frozen=True)
class FilmPipeline:
    """What a cached film is: the longest side it is shrunk to (None: native) and the
    decoder's version. Part of the key, so two recipes at two resolutions share nothing."""

    long_side: int | None = 1024

    def key(self) -> str:
        return hashlib.sha256(json.dumps({"v": CACHE_VERSION, **asdict(self)}, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class CachedFilm:
    """One decoded film in the cache: where its arrays are and its lesions at cache scale."""

    image_id: str
    key: str
    shape: tuple[int, int]
    scale: float  # cache pixels per original pixel
    circles: list[tuple[float, float, float, str]] = field(default_factory=list)  # (cx, cy, r, severity)
    has_lesion_mask: bool = False


def _file_digest(path: str | os.PathLike, memo_dir: Path | None = None, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes, remembered under the cache by (path, size, mtime): a later
    build of a 163 GB archive then reads only the files that changed. The memo's name is a
    hash, so no path is written to disk."""
    st = os.stat(path)
    memo = None if memo_dir is None else memo_dir / hashlib.sha256(f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    if memo is not None and memo.exists():
        return memo.read_text()
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    if memo is None:
        return h.hexdigest()
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_name(f".{memo.name}.{os.getpid()}.tmp")
    tmp.write_text(h.hexdigest())
    os.replace(tmp, memo)
    return h.hexdigest()


def record_digest(record: Record, memo_dir: Path | None = None) -> str:
    """The film's bytes and its mask files' bytes: what a record's content is, whatever its name."""
    h = hashlib.sha256(_file_digest(record.path, memo_dir).encode())
    for lesion in record.lesions:
        if lesion.mask_path:
            h.update(_file_digest(lesion.mask_path, memo_dir).encode())
    return h.hexdigest()


def film_key(record: Record, pipeline: FilmPipeline, memo_dir: Path | None = None) -> str:
    """Content key: the record's digest and the pipeline."""
    return f"{record_digest(record, memo_dir)[:24]}-{pipeline.key()}"


def _resize(a: np.ndarray, shape: tuple[int, int], interpolation: int) -> np.ndarray:
    import cv2

    return cv2.resize(a, (shape[1], shape[0]), interpolation=interpolation)


def decode_film(record: Record, pipeline: FilmPipeline, folder: Path) -> tuple[CachedFilm, bool]:
    """Decode one film and write its arrays under `folder` (atomically); a hit reads only
    its small JSON. Returns the film and whether it was decoded now."""
    import cv2

    from core.io.reader import read_image
    from core.preprocess.pipeline import breast_mask

    key = film_key(record, pipeline, folder.parent / "digests")
    meta_path = folder / f"{key}.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        return CachedFilm(record.image_id, key, tuple(meta["shape"]), meta["scale"], [tuple(c) for c in meta["circles"]], meta["has_lesion_mask"]), False
    px = read_image(record.path).pixels
    h, w = px.shape
    scale = 1.0 if not pipeline.long_side or max(h, w) <= pipeline.long_side else pipeline.long_side / max(h, w)
    shape = (max(1, round(h * scale)), max(1, round(w * scale)))
    img = px if scale == 1.0 else _resize(px, shape, cv2.INTER_AREA)
    del px
    breast = breast_mask(img)
    circles, lesion_mask = [], np.zeros(shape, bool)
    for lesion in record.lesions:
        if lesion.mask_path:
            m = _resize(read_mask(lesion.mask_path).astype(np.uint8), shape, cv2.INTER_NEAREST) > 0
            lesion_mask |= m
            c = circle_of_mask(m)
        elif lesion.center is not None:
            c = (lesion.center[0] * scale, lesion.center[1] * scale, float(lesion.radius or 0.0) * scale)
        else:
            c = None
        if c is not None:
            circles.append((*c, lesion.severity))
    folder.mkdir(parents=True, exist_ok=True)
    tmp = f".{os.getpid()}.tmp.npy"
    for suffix, arr in (("image", np.round(np.clip(img, 0, 1) * LEVELS).astype(np.uint16)), ("breast", breast), ("lesions", lesion_mask)):
        if suffix == "lesions" and not lesion_mask.any():
            continue
        np.save(folder / f"{key}-{suffix}{tmp}", arr)
        os.replace(folder / f"{key}-{suffix}{tmp}", folder / f"{key}-{suffix}.npy")
    film = CachedFilm(record.image_id, key, shape, scale, circles, bool(lesion_mask.any()))
    meta_tmp = folder / f"{key}{tmp}.json"
    meta_tmp.write_text(json.dumps({"shape": list(shape), "scale": scale, "circles": circles, "has_lesion_mask": film.has_lesion_mask}))
    os.replace(meta_tmp, meta_path)
    return film, True


@dataclass
class BuildStats:
    films: int
    decoded: int  # misses: films decoded in this build
    seconds: float

    @property
    def films_per_s(self) -> float:
        return self.films / self.seconds if self.seconds else float("inf")


class FilmCache:
    """The cache of one pipeline: `build` decodes what is missing (in `workers` processes),
    `image` / `breast` / `lesions` memory-map a film's arrays."""

    def __init__(self, pipeline: FilmPipeline = FilmPipeline(), root: Path | None = None):
        self.pipeline = pipeline
        self.folder = (root or cache_root()) / "films"

    def build(self, records: Sequence[Record], workers: int = 0) -> tuple[list[CachedFilm], BuildStats]:
        t0 = time.perf_counter()
        if workers > 1 and len(records) > 1:
            with ProcessPoolExecutor(workers) as pool:
                done = list(pool.map(decode_film, records, [self.pipeline] * len(records), [self.folder] * len(records), chunksize=4))
        else:
            done = [decode_film(r, self.pipeline, self.folder) for r in records]
        films = [film for film, _ in done]
        return films, BuildStats(len(films), sum(decoded for _, decoded in done), time.perf_counter() - t0)

    def image(self, film: CachedFilm) -> np.ndarray:
        """The whole film as float32 in [0, 1]."""
        return self.image_levels(film).astype(np.float32) / LEVELS

    def image_levels(self, film: CachedFilm) -> np.ndarray:
        """The film's uint16 levels, memory-mapped: cut patches from it, then divide by LEVELS."""
        return np.load(self.folder / f"{film.key}-image.npy", mmap_mode="r")

    def breast(self, film: CachedFilm) -> np.ndarray:
        """The breast mask at full cache resolution, exactly as the served model computes it."""
        return np.load(self.folder / f"{film.key}-breast.npy")

    def breast_small(self, film: CachedFilm) -> np.ndarray:
        """Every MASK_STRIDE-th pixel of the breast mask: enough to place patches."""
        return np.ascontiguousarray(self.breast(film)[::MASK_STRIDE, ::MASK_STRIDE])

    def lesions(self, film: CachedFilm) -> np.ndarray:
        """The union of the film's lesion masks (ROI masks, contours, else its circles)."""
        if film.has_lesion_mask:
            return np.load(self.folder / f"{film.key}-lesions.npy")
        import cv2

        m = np.zeros(film.shape, np.uint8)
        for cx, cy, r, _ in film.circles:
            cv2.circle(m, (int(round(cx)), int(round(cy))), max(1, int(round(r))), 1, -1)
        return m.astype(bool)
