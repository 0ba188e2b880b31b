"""Readers behind ``tallyml monitor``: records from files appended to in a folder (JSONL, CSV,
Parquet) or from stdin, and a parser that turns each record into checked values.

A *record* is one prediction and/or one label::

    {"id": "a1", "score": 0.83}              a prediction whose label comes later
    {"id": "a1", "label": 1}                 ... and its label
    {"id": "a2", "score": 0.1, "label": 0}   both at once
    {"score": 0.4, "latency": 0.003}         a prediction that will never be labelled

(field names are configurable; multiclass/multilabel scores are lists in JSONL and columns
``score_0``, ``score_1``, ... in CSV and Parquet; ``pred`` holds a predicted label instead of
scores).

Files are *tailed*: each poll reads what was appended since the last one, up to the last
complete line (a line being written is left for the next poll), and ``state()`` says where
reading stopped, per file, so that a checkpoint taken right after feeding the records resumes
exactly there. A file that shrinks or is replaced (another inode) is read again from its start.
Parquet files cannot be appended to: rows beyond those already read are taken when the file
can be opened (a file still being written is retried at the next poll).

Bad input never stops reading: a line that cannot be decoded, or a record whose values are
missing, of the wrong type or out of range, becomes a :class:`Malformed` item with its location
and the reason.
"""
from __future__ import annotations

import csv
import fnmatch
import io
import json
import math
import os
import queue
import threading

__all__ = ["Record", "Malformed", "RecordParser", "FolderSource", "StdinSource", "detect_format"]

_EXT = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
        ".parquet": "parquet", ".pq": "parquet"}


class Record:
    """One checked record: ``id`` (str/int or None), ``score`` (float or tuple of floats or
    None), ``pred`` (int or tuple, or None), ``label`` (int or tuple, or None), ``latency``."""

    __slots__ = ("where", "id", "score", "pred", "label", "latency")

    def __init__(self, where, id, score, pred, label, latency):
        self.where, self.id, self.score, self.pred = where, id, score, pred
        self.label, self.latency = label, latency

    def __repr__(self):
        return (f"Record({self.where}, id={self.id!r}, score={self.score!r}, pred={self.pred!r}, "
                f"label={self.label!r}, latency={self.latency!r})")


class Malformed:
    """A line or record that could not be used, and why."""

    __slots__ = ("where", "reason")

    def __init__(self, where, reason):
        self.where, self.reason = where, reason

    def __repr__(self):
        return f"Malformed({self.where}: {self.reason})"


class _Bad(Exception):
    pass


def detect_format(name: str, fmt: str = "auto") -> str | None:
    """The format of a file: ``fmt`` unless "auto", else by extension (None: not a data file)."""
    if fmt != "auto":
        return fmt
    return _EXT.get(os.path.splitext(name)[1].lower())


# ---------------------------------------------------------------- parsing
def _missing(v):
    return v is None or (isinstance(v, str) and v.strip() == "")


def _number(v, what):
    if isinstance(v, bool):
        raise _Bad(f"{what} must be a number; got {v!r}")
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise _Bad(f"{what} must be a number; got {v!r}") from None
    if not isinstance(v, (int, float)):
        raise _Bad(f"{what} must be a number; got {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise _Bad(f"{what} must be finite; got {v!r}")
    return v


def _label(v, what, k):
    if isinstance(v, bool):
        v = int(v)
    x = _number(v, what)
    if x != int(x) or not 0 <= x < k:
        raise _Bad(f"{what} must be an integer label in [0, {k}); got {v!r}")
    return int(x)


class RecordParser:
    """Check raw records (dicts of field -> value, as JSON, CSV or Parquet gives them) for a
    monitor's task. ``probabilities``: scores must lie in [0, 1] (and multiclass rows sum to 1
    within 1e-3), as the label-free estimates need."""

    def __init__(self, task, *, num_classes=None, num_labels=None, fields=None,
                 probabilities=True):
        self.task = task
        self.width = num_classes if task == "multiclass" else num_labels
        f = {"id": "id", "score": "score", "pred": "pred", "label": "label", "latency": "latency"}
        f.update(fields or {})
        self.fields = f
        self.probabilities = probabilities

    def _vector(self, raw, name, convert):
        """A list field (JSON/Parquet) or columns name_0, name_1, ... (CSV/Parquet)."""
        v = raw.get(name)
        if _missing(v) and self.width is not None:
            cols = [raw.get(f"{name}_{i}") for i in range(self.width)]
            if all(_missing(c) for c in cols):
                return None
            v = cols
        if _missing(v):
            return None
        if not isinstance(v, (list, tuple)):
            raise _Bad(f"{name} must be a list of {self.width} values; got {v!r}")
        if len(v) != self.width:
            raise _Bad(f"{name} must have {self.width} values; got {len(v)}")
        return tuple(convert(x, f"{name}[{i}]") for i, x in enumerate(v))

    def _score(self, raw):
        name = self.fields["score"]
        if self.task == "binary":
            v = raw.get(name)
            if _missing(v):
                return None
            s = _number(v, name)
            if self.probabilities and not 0.0 <= s <= 1.0:
                raise _Bad(f"{name} must be a probability in [0, 1]; got {v!r}")
            return s
        s = self._vector(raw, name, _number)
        if s is not None and self.probabilities:
            if min(s) < 0.0 or max(s) > 1.0:
                raise _Bad(f"{name} must be probabilities in [0, 1]; got {list(s)}")
            if self.task == "multiclass" and abs(sum(s) - 1.0) > 1e-3:
                raise _Bad(f"{name} must sum to 1; sums to {sum(s)!r}")
        return s

    def _labels(self, raw, name):
        if self.task == "multiclass":
            v = raw.get(name)
            return None if _missing(v) else _label(v, name, self.width)
        if self.task == "binary":
            v = raw.get(name)
            return None if _missing(v) else _label(v, name, 2)
        return self._vector(raw, name, lambda x, what: _label(x, what, 2))

    def parse(self, raw, where):
        """A :class:`Record`, or a :class:`Malformed` saying why not."""
        if not isinstance(raw, dict):
            return Malformed(where, f"a record must be an object/row; got {type(raw).__name__}")
        try:
            f = self.fields
            rid = raw.get(f["id"])
            if _missing(rid):
                rid = None
            elif isinstance(rid, bool) or not isinstance(rid, (str, int)):
                raise _Bad(f"{f['id']} must be a string or an integer; got {rid!r}")
            score = self._score(raw)
            pred = None if score is not None else self._labels(raw, f["pred"])
            label = self._labels(raw, f["label"])
            lat = raw.get(f["latency"])
            lat = None if _missing(lat) else _number(lat, f["latency"])
            if lat is not None and lat < 0:
                raise _Bad(f"{f['latency']} must be >= 0 seconds; got {lat!r}")
            if score is None and pred is None:
                if label is None:
                    raise _Bad(f"no {f['score']}, {f['pred']} or {f['label']} field")
                if rid is None:
                    raise _Bad(f"a {f['label']} without a prediction needs an {f['id']}")
            return Record(where, rid, score, pred, label, lat)
        except _Bad as e:
            return Malformed(where, str(e))


# ---------------------------------------------------------------- line decoding
def _decode_json(line: bytes, where):
    try:
        return json.loads(line)
    except (ValueError, UnicodeDecodeError) as e:
        return Malformed(where, f"not valid JSON: {e}")


def _csv_row(line: bytes, header, where):
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        return Malformed(where, f"not UTF-8: {e}")
    try:
        (row,) = list(csv.reader(io.StringIO(text)))
    except (csv.Error, ValueError) as e:
        return Malformed(where, f"not a CSV row: {e}")
    if len(row) != len(header):
        return Malformed(where, f"{len(row)} fields; the header has {len(header)}")
    return dict(zip(header, row))


def _csv_header(line: bytes):
    try:
        (row,) = list(csv.reader(io.StringIO(line.decode("utf-8"))))
        return [c.strip() for c in row]
    except (csv.Error, ValueError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------- folder
class FolderSource:
    """Tail the files of a folder (or one file) matching ``pattern``.

    ``poll()`` returns the raw items appended since the last poll, in file-name order: dicts
    (records to parse) with their location, or :class:`Malformed`. ``state()`` / ``restore()``
    carry the read positions through a checkpoint."""

    def __init__(self, path, pattern="*", fmt="auto", max_lines=100_000):
        self.path = os.fspath(path)
        self.pattern = pattern
        self.fmt = fmt
        self.max_lines = max_lines  # per poll, so one huge file does not starve checkpoints
        self._files: dict = {}  # name -> {"ino", "pos", "line", "header"}

    def state(self) -> dict:
        return {k: dict(v) for k, v in self._files.items()}

    def restore(self, state) -> None:
        if state is not None:
            self._files = {k: dict(v) for k, v in state.items()}

    def _names(self):
        if os.path.isfile(self.path):
            return [self.path]
        try:
            entries = sorted(os.listdir(self.path))
        except OSError:
            return []
        out = []
        for e in entries:
            full = os.path.join(self.path, e)
            if e.startswith(".") or not fnmatch.fnmatch(e, self.pattern) or not os.path.isfile(full):
                continue
            if detect_format(e, self.fmt) is not None:
                out.append(full)
        return out

    def poll(self) -> list:
        items: list = []
        budget = self.max_lines
        for name in self._names():
            if budget <= 0:
                break
            try:
                st = os.stat(name)
            except OSError:
                continue
            key = os.path.basename(name) if not os.path.isfile(self.path) else name
            info = self._files.get(key)
            if info is None or info["ino"] != st.st_ino or st.st_size < info["pos"]:
                info = {"ino": st.st_ino, "pos": 0, "line": 0, "header": None}
                self._files[key] = info
            fmt = detect_format(name, self.fmt)
            if fmt == "parquet":
                budget -= self._poll_parquet(name, key, info, items)
            elif st.st_size > info["pos"]:
                budget -= self._poll_text(name, key, info, fmt, items, budget)
        return items

    def _poll_text(self, name, key, info, fmt, items, budget) -> int:
        try:
            with open(name, "rb") as f:
                f.seek(info["pos"])
                data = f.read(64 << 20)
        except OSError:
            return 0
        end = data.rfind(b"\n")
        if end < 0:
            return 0  # no complete line yet
        n = 0
        pos = info["pos"]
        for line in data[: end + 1].splitlines(keepends=True):
            if n >= budget:
                break
            pos += len(line)
            info["line"] += 1
            where = f"{key}:{info['line']}"
            body = line.strip()
            n += 1
            if not body:
                continue
            if fmt == "csv":
                if info["header"] is None:
                    header = _csv_header(body)
                    if header is None:
                        items.append(Malformed(where, "unreadable CSV header"))
                        header = []
                    info["header"] = header
                    continue
                items.append(_csv_row(body, info["header"], where))
            else:
                items.append(_decode_json(body, where))
            if not isinstance(items[-1], Malformed):
                items[-1] = (where, items[-1])
        info["pos"] = pos
        return n

    def _poll_parquet(self, name, key, info, items) -> int:
        try:
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(name)
            total = pf.metadata.num_rows
            if total <= info["pos"]:
                return 0
            rows = pf.read().slice(info["pos"]).to_pylist()
        except Exception:  # noqa: BLE001 - still being written, or not parquet: retry next poll
            return 0
        for i, row in enumerate(rows):
            items.append((f"{key}:row {info['pos'] + i + 1}", row))
        info["pos"] = total
        return len(rows)


# ---------------------------------------------------------------- stdin
class StdinSource:
    """Lines from a binary stream (stdin by default), read by a thread; ``poll()`` returns what
    arrived. ``done`` turns True at end of input. Positions in a pipe cannot be resumed:
    ``state()`` only counts lines."""

    def __init__(self, stream=None, fmt="jsonl"):
        import sys

        if fmt == "auto":
            fmt = "jsonl"
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"stdin carries jsonl or csv; got format {fmt!r}")
        self.fmt = fmt
        self._stream = stream if stream is not None else sys.stdin.buffer
        self._q: queue.Queue = queue.Queue(maxsize=100_000)
        self._eof = threading.Event()
        self._line = 0
        self._header = None
        threading.Thread(target=self._read, name="tallyml-monitor-stdin", daemon=True).start()

    def _read(self):
        try:
            for line in self._stream:
                self._q.put(line)
        finally:
            self._eof.set()

    @property
    def done(self) -> bool:
        return self._eof.is_set() and self._q.empty()

    def state(self) -> dict:
        return {"stdin_lines": self._line}

    def restore(self, state) -> None:
        pass  # a pipe cannot be rewound or skipped: the producer decides what to resend

    def poll(self) -> list:
        items = []
        while True:
            try:
                line = self._q.get_nowait()
            except queue.Empty:
                return items
            self._line += 1
            where = f"stdin:{self._line}"
            body = line.strip()
            if not body:
                continue
            if self.fmt == "csv":
                if self._header is None:
                    self._header = _csv_header(body) or []
                    continue
                item = _csv_row(body, self._header, where)
            else:
                item = _decode_json(body, where)
            items.append(item if isinstance(item, Malformed) else (where, item))
