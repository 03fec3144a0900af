"""A data set's films as training sees them, read from the film cache on demand.

Same interface as `core.lesion.mias_arrays.LesionImages` (records, images, breasts,
circles), so every fold runner takes either; here nothing is held but the records and
each film's small metadata: memory stays flat in the archive's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from core.types import Record
from core.training.cache import CachedFilm, FilmCache, FilmPipeline


class _Lazy(Sequence):
    """`seq[i]` computed on access (a memory-mapped film), never kept."""

    def __init__(self, n: int, get: Callable[[int], object]):
        self._n, self._get = n, get

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._get(j) for j in range(*i.indices(self._n))]
        return self._get(int(i))


@dataclass
class StreamedFilms:
    records: list[Record]
    films: list[CachedFilm]
    cache: FilmCache

    @property
    def images(self) -> Sequence[np.ndarray]:
        return _Lazy(len(self.films), lambda i: np.asarray(self.cache.image(self.films[i]), np.float32))

    @property
    def breasts(self) -> Sequence[np.ndarray]:
        return _Lazy(len(self.films), lambda i: self.cache.breast(self.films[i]))

    @property
    def circles(self) -> list[list[tuple[float, float, float, str]]]:
        return [f.circles for f in self.films]

    def index(self, image_ids: Sequence[str]) -> np.ndarray:
        where = {r.image_id: i for i, r in enumerate(self.records)}
        return np.array([where[i] for i in image_ids], int)


def stream_films(records: Sequence[Record], pipeline: FilmPipeline = FilmPipeline(), *, workers: int = 0, cache: FilmCache | None = None, log=print) -> StreamedFilms:
    """Build what the cache lacks, then hand out the lazy view."""
    cache = cache or FilmCache(pipeline)
    films, stats = cache.build(list(records), workers=workers)
    log(f"film cache: {stats.films} films ({stats.decoded} decoded now) in {stats.seconds:.1f} s, {stats.films_per_s:.1f} films/s")
    return StreamedFilms(list(records), films, cache)
