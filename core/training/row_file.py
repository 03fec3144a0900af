"""`.npy` files of fixed-size rows, written and read one row at a time.

Why: training inputs of a whole archive (10,000 films) do not fit in memory, and a memory
map keeps the pages an epoch touched resident; plain writes and reads keep peak memory flat
in archive size.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import numpy as np


class RowWriter:
    """Writes `n` rows of one shape and dtype to `path`, atomically: the file appears only
    when every row was written, so an interrupted build leaves nothing to be mistaken for a
    finished one."""

    def __init__(self, path: Path, n: int, row_shape: tuple[int, ...], dtype: np.dtype | type) -> None:
        self.path, self.n, self.row_shape, self.dtype = Path(path), int(n), tuple(row_shape), np.dtype(dtype)
        self.tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp.npy")
        self.written = 0

    def __enter__(self) -> "RowWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.tmp, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.n, *self.row_shape)}
        np.lib.format.write_array_header_1_0(self.fh, header)
        return self

    def write(self, row: np.ndarray) -> None:
        if tuple(row.shape) != self.row_shape:
            raise ValueError(f"row {self.written} has shape {tuple(row.shape)}, expected {self.row_shape}")
        self.fh.write(np.ascontiguousarray(row, self.dtype).tobytes())
        self.written += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.fh.close()
        if kind is None and self.written == self.n:
            os.replace(self.tmp, self.path)
            return
        self.tmp.unlink(missing_ok=True)
        if kind is None:
            raise ValueError(f"{self.written} rows written, {self.n} expected")


class RowFile:
    """Rows of a `.npy` file read on demand (`rows[i]`, `rows[idx]`, `rows[a:b]`) with plain
    reads, not a memory map: what an epoch touches is not kept resident, so memory stays
    flat however large the archive."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as fh:
            np.lib.format.read_magic(fh)  # RowWriter writes format 1.0
            self.shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            self.offset = fh.tell()
        self.path, self.dtype = path, np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:])) * self.dtype.itemsize

    def __len__(self) -> int:
        return int(self.shape[0])

    def _row(self, i: int) -> np.ndarray:
        with open(self.path, "rb") as fh:
            fh.seek(self.offset + int(i) * self.row_bytes)
            return np.frombuffer(fh.read(self.row_bytes), self.dtype).reshape(self.shape[1:])

    def __getitem__(self, i):
        if isinstance(i, slice):
            i = range(*i.indices(len(self)))
        if isinstance(i, (range, list, np.ndarray)):
            return np.stack([self._row(j) for j in i]) if len(i) else np.zeros((0, *self.shape[1:]), self.dtype)
        return self._row(int(i))
