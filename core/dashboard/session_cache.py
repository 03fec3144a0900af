"""Bounded, per-session stores for what is derived from one user's image.

Streamlit's `st.cache_data` is shared by every session of the process: an upload's
results cached there could be served to another visitor, and its entries are bounded
per function, not per user. The dashboard keeps such results in a `BoundedCache` held in
each session's state instead, so they die with the session and a session holds at most
`max_entries` of them. Model weights stay process-wide (`st.cache_resource`): they are the
same for everyone and loaded once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Any, Callable, Hashable, Iterator

import numpy as np

from core.serving.inference import ModelRun

# the four most recent images (one study) and their model runs, per session
MAX_IMAGES = 4
MAX_RUNS = 4 * 24
# maps kept at this long side, in float16: a 1,024-px float32 map is 2.7 MB, this is 0.35 MB
CACHED_MAP_LONG_SIDE = 512


class BoundedCache:
    """A least-recently-used dict of at most `max_entries` entries (no Streamlit, no locking:
    one session's script runs one at a time)."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._data: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, default: Any = None) -> Any:
        if key not in self._data:
            return default
        self._data.move_to_end(key)
        return self._data[key]

    def put(self, key: Hashable, value: Any) -> Any:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)
        return value

    def get_or_make(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key in self._data:
            return self.get(key)
        return self.put(key, make())

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._data))

    def drop(self, match: Callable[[Hashable], bool]) -> int:
        """Remove every key for which `match(key)` is true; how many were removed."""
        gone = [k for k in self._data if match(k)]
        for k in gone:
            del self._data[k]
        return len(gone)

    def nbytes(self) -> int:
        """Rough size of the numpy arrays held (for benchmarks)."""
        return sum(_nbytes(v) for v in self._data.values())


def compact_run(run: ModelRun, long_side: int = CACHED_MAP_LONG_SIDE) -> ModelRun:
    """The run with its maps on a grid no larger than `long_side`, stored as float16 (same
    field of view and image shape; drawing reads them back as float32)."""
    if run.prediction is None or not run.prediction.maps:
        return run
    from core.dashboard.overlays import shrink_layer

    maps = {}
    for k, v in run.prediction.maps.items():
        small = shrink_layer(v, long_side)
        maps[k] = replace(small, values=np.asarray(small.values, np.float16))
    return replace(run, prediction=replace(run.prediction, maps=maps))


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (bytes, str)):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if hasattr(value, "__dict__"):
        return sum(_nbytes(v) for v in vars(value).values())
    return 0
