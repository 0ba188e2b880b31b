"""Readers for prediction files, streamed in chunks so files larger than memory work.

.npy files are memory-mapped and sliced; .csv files are read in row chunks (numpy only, one
column, or a named/indexed column of a multi-column file); .parquet goes through pyarrow's batch
reader when pyarrow is installed."""
from __future__ import annotations

import itertools
import os
from typing import Iterator

import numpy as np

DEFAULT_CHUNK = 1 << 20


def _npy_chunks(path: str, chunk: int) -> Iterator[np.ndarray]:
    arr = np.load(path, mmap_mode="r")
    for start in range(0, max(len(arr), 1), chunk):
        part = arr[start : start + chunk]
        if len(part):
            yield np.ascontiguousarray(part)


def _csv_chunks(path: str, chunk: int, column: str | None) -> Iterator[np.ndarray]:
    with open(path, "r", newline="") as fh:
        first = fh.readline()
        if not first:
            return
        fields = [f.strip() for f in first.rstrip("\r\n").split(",")]
        has_header = not all(_is_number(f) for f in fields)
        cols = None
        if has_header:
            if column is None:
                cols = None if len(fields) == 1 else list(range(len(fields)))
            else:
                if column not in fields:
                    raise ValueError(f"column {column!r} not found in {path}; columns are {fields}")
                cols = [fields.index(column)]
        else:
            fh.seek(0)
        while True:
            lines = list(itertools.islice(fh, chunk))
            if not lines:
                return
            data = np.loadtxt(lines, delimiter=",", ndmin=2, usecols=cols)
            if data.shape[1] == 1:
                data = data[:, 0]
            if np.all(np.mod(data, 1) == 0) and data.size:
                data = data.astype(np.int64)
            yield data


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _parquet_chunks(path: str, chunk: int, column: str | None) -> Iterator[np.ndarray]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError(f"reading {path} needs pyarrow (pip install 'tallyml[parquet]')") from exc
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    cols = [column] if column is not None else names
    for col in cols:
        if col not in names:
            raise ValueError(f"column {col!r} not found in {path}; columns are {names}")
    for batch in pf.iter_batches(batch_size=chunk, columns=cols):
        arrays = [batch.column(i).to_numpy(zero_copy_only=False) for i in range(batch.num_columns)]
        if len(arrays) == 1:
            values = arrays[0]
            if values.dtype == object:  # list columns: one row of scores per sample
                values = np.stack(values)
            yield values
        else:
            yield np.column_stack(arrays)


def read_chunks(path: str, *, chunk: int = DEFAULT_CHUNK, column: str | None = None) -> Iterator[np.ndarray]:
    """Yield consecutive chunks of the array stored in ``path`` (.npy, .csv or .parquet)."""
    if not os.path.exists(path):
        raise ValueError(f"file {path!r} does not exist")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        return _npy_chunks(path, chunk)
    if ext == ".csv":
        return _csv_chunks(path, chunk, column)
    if ext == ".parquet":
        return _parquet_chunks(path, chunk, column)
    raise ValueError(f"unsupported file type {ext!r} for {path!r}: expected .npy, .csv or .parquet")
