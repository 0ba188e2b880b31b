"""``tallyml eval``: a classification report of stored targets and predictions, streamed.

Files are read chunk by chunk (memory-mapped .npy, chunked .csv, parquet batches) and fed to a
streaming metric object, so inputs larger than memory work and memory stays constant."""
from __future__ import annotations

import json
from typing import Iterator

import numpy as np

from ._io import DEFAULT_CHUNK, read_chunks


def add_arguments(p) -> None:
    p.add_argument("--target", required=True, help="file of true labels (.npy, .csv, .parquet)")
    p.add_argument("--preds", required=True, help="file of predicted labels or scores")
    p.add_argument("--task", choices=["auto", "binary", "multiclass", "multilabel"], default="auto",
                   help="auto: 2-D targets are multilabel, 2-D preds multiclass scores, labels in "
                        "{0, 1} binary, other labels multiclass")
    p.add_argument("--num-classes", type=int, default=None,
                   help="number of classes (multiclass); default: from the scores' width or a first "
                        "pass over the label files")
    p.add_argument("--threshold", type=float, default=0.5, help="score threshold (binary, multilabel)")
    p.add_argument("--logits", action="store_true", help="scores are logits, not probabilities")
    p.add_argument("--target-column", default=None, help="column to read from a table file")
    p.add_argument("--preds-column", default=None, help="column to read from a table file")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK, help="rows read at a time")
    p.add_argument("--digits", type=int, default=4, help="digits printed")
    p.add_argument("--json", default=None, metavar="FILE", help="also write every metric as JSON")


def _aligned(a: Iterator[np.ndarray], b: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pair two chunk streams whose chunk boundaries may differ; raise if their lengths differ."""
    buf_a: list[np.ndarray] = []
    buf_b: list[np.ndarray] = []
    na = nb = 0
    done_a = done_b = False
    while True:
        while not done_a and na <= nb:
            x = next(a, None)
            if x is None:
                done_a = True
            else:
                buf_a.append(x)
                na += len(x)
        while not done_b and nb <= na:
            y = next(b, None)
            if y is None:
                done_b = True
            else:
                buf_b.append(y)
                nb += len(y)
        n = min(na, nb)
        if n == 0:
            if done_a and done_b:
                return
            if (done_a and nb) or (done_b and na):
                raise ValueError("target and preds files have different numbers of rows")
            continue
        xa = np.concatenate(buf_a) if len(buf_a) > 1 else buf_a[0]
        xb = np.concatenate(buf_b) if len(buf_b) > 1 else buf_b[0]
        yield xa[:n], xb[:n]
        buf_a, buf_b = ([xa[n:]] if len(xa) > n else []), ([xb[n:]] if len(xb) > n else [])
        na -= n
        nb -= n
        if done_a and done_b and (na or nb):
            raise ValueError("target and preds files have different numbers of rows")


def _infer(args, t0: np.ndarray, p0: np.ndarray) -> tuple[str, int | None]:
    task, k = args.task, args.num_classes
    if task == "auto":
        if t0.ndim == 2:
            task = "multilabel"
        elif p0.ndim == 2:
            task = "multiclass"
        elif k is not None and k > 2:
            task = "multiclass"
        else:
            task = "binary" if np.isin(np.unique(t0), (0, 1)).all() else "multiclass"
    if task == "multiclass" and k is None:
        if p0.ndim == 2:
            k = p0.shape[1]
        else:  # a first pass over both label files
            hi = 0
            for path, col in ((args.target, args.target_column), (args.preds, args.preds_column)):
                for c in read_chunks(path, chunk=args.chunk_size, column=col):
                    if len(c):
                        hi = max(hi, int(np.max(c)))
            k = max(hi + 1, 2)
    if task == "multilabel":
        k = t0.shape[1]
    return task, k


def _metric(task: str, k: int | None, args):
    import tallyml

    if task == "binary":
        return tallyml.BinaryMetrics(args.threshold, logits=args.logits)
    if task == "multiclass":
        return tallyml.MulticlassMetrics(k)
    return tallyml.MultilabelMetrics(k, args.threshold, logits=args.logits)


def format_report(metric, digits: int = 4) -> str:
    """sklearn-style report: per-class precision/recall/F1/support, accuracy and averages."""
    import warnings

    from .._errors import UndefinedMetricWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        p = np.atleast_1d(metric.precision(average=None))
        r = np.atleast_1d(metric.recall(average=None))
        f = np.atleast_1d(metric.f1(average=None))
        s = np.atleast_1d(metric.support())
        rows = [(str(i), p[i], r[i], f[i], s[i]) for i in range(len(p)) if s[i] or p[i] == p[i]]
        avgs = []
        for avg in ("macro", "weighted"):
            avgs.append((f"{avg} avg", metric.precision(average=avg), metric.recall(average=avg),
                         metric.f1(average=avg), s.sum()))
        acc = metric.accuracy()
    width = max(12, max(len(r[0]) for r in rows + avgs))
    head = f"{'':>{width}} {'precision':>9} {'recall':>9} {'f1-score':>9} {'support':>9}"
    fmt = lambda row: (f"{row[0]:>{width}} {row[1]:>9.{digits}f} {row[2]:>9.{digits}f} "
                       f"{row[3]:>9.{digits}f} {row[4]:>9.6g}")
    lines = [head, ""] + [fmt(r) for r in rows] + [""]
    lines.append(f"{'accuracy':>{width}} {'':>9} {'':>9} {acc:>9.{digits}f} {s.sum():>9.6g}")
    lines += [fmt(a) for a in avgs]
    return "\n".join(lines)


def run(args) -> int:
    tgt = read_chunks(args.target, chunk=args.chunk_size, column=args.target_column)
    prd = read_chunks(args.preds, chunk=args.chunk_size, column=args.preds_column)
    pairs = _aligned(tgt, prd)
    first = next(pairs, None)
    if first is None:
        raise ValueError("the input files are empty")
    task, k = _infer(args, *first)
    metric = _metric(task, k, args)
    metric.update(*first)
    for t, p in pairs:
        metric.update(t, p)
    print(f"tallyml eval: {task}, {metric.count} samples" + (f", {k} classes" if task == "multiclass" else ""))
    print(format_report(metric, args.digits))
    if args.json:
        import warnings

        from .._errors import UndefinedMetricWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            values = metric.compute()
        with open(args.json, "w") as fh:
            json.dump({"task": task, "count": int(metric.count), "metrics": _jsonable(values)}, fh, indent=2)
    return 0


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if v == v else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    return obj
