"""The score file on disk: small part files while a run goes on, one parquet file at the end.

Each flushed batch becomes a part file, written whole and then renamed, so an interrupted
run leaves only complete parts; the next run reads the (image, model) keys already there
and skips them. At the end the old output and the parts are merged, one file at a time
(memory bounded by the largest part, never by the archive), into the one output file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import UsageError
from core.score.rows import KEY


class ScoreStore:
    def __init__(self, out: str | os.PathLike) -> None:
        self.out = Path(out)
        if self.out.suffix.lower() != ".parquet":
            raise UsageError("--out must name a .parquet file")
        if self.out.is_dir():
            raise UsageError("--out names a folder; give a .parquet file name")
        if not self.out.parent.is_dir():
            raise UsageError("the folder of --out does not exist")
        self.parts = self.out.with_name(f".{self.out.name}.parts")
        self._n = len(self._part_files())

    def _part_files(self) -> list[Path]:
        return sorted(self.parts.glob("part-*.parquet")) if self.parts.is_dir() else []

    def files(self) -> list[Path]:
        return ([self.out] if self.out.is_file() else []) + self._part_files()

    def done(self) -> set[tuple[str, str]]:
        """(image_id, model) of every row already written, by the output file or earlier parts."""
        keys: set[tuple[str, str]] = set()
        for f in self.files():
            try:
                t = pq.read_table(f, columns=list(KEY))
            except (pa.ArrowInvalid, OSError, KeyError) as exc:
                raise UsageError(f"the existing --out file (or a part of an interrupted run) is not a score file ({type(exc).__name__})") from exc
            keys.update(zip(t.column("image_id").to_pylist(), t.column("model").to_pylist()))
        return keys

    def write(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        self.parts.mkdir(exist_ok=True)
        self._n += 1
        final = self.parts / f"part-{self._n:06d}.parquet"
        tmp = final.with_suffix(".tmp")
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
        os.replace(tmp, final)

    def finish(self) -> int:
        """Merge output and parts into the output file (atomically); the number of rows in it."""
        files = self.files()
        if not files:
            return 0
        parts = self._part_files()
        if not parts:
            return pq.ParquetFile(self.out).metadata.num_rows
        schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
        schema = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema])
        tmp = self.out.with_name(f".{self.out.name}.tmp")
        rows = 0
        with pq.ParquetWriter(tmp, schema) as writer:
            for f in files:
                pf = pq.ParquetFile(f)
                for rg in range(pf.num_row_groups):
                    table = _conform(pf.read_row_group(rg), schema)
                    writer.write_table(table)
                    rows += table.num_rows
        os.replace(tmp, self.out)
        shutil.rmtree(self.parts, ignore_errors=True)
        return rows


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with every column of `schema` (missing ones null), in its order and types."""
    cols = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            cols.append(col if col.type == field.type else col.cast(field.type))
        else:
            cols.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(cols, schema=schema)
