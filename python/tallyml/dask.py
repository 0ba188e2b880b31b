"""Evaluate partitioned data on Dask: map partitions to states, tree-reduce by merge.

Needs the optional extra ``tallyml[dask]``; dask is imported when a function here is called,
never by ``import tallyml``.
"""
from __future__ import annotations

import re

__all__ = ["evaluate"]


_ROW = re.compile(r"^(\w+)\[(\d+)")


def _count_block(template, offset, target, preds, weight):
    """One partition's state, counted with the normal kernels on the worker. A bad value is
    reported at its row in the whole array (the partition starts at row ``offset``)."""
    m = template._empty_like()
    try:
        if weight is None:
            m.update(target, preds)
        else:
            m.update(target, preds, sample_weight=weight)
    except ValueError as e:
        msg = _ROW.sub(lambda g: f"{g.group(1)}[{int(g.group(2)) + offset}", str(e), count=1)
        raise ValueError(msg) from None
    return m


def _merge(*states):
    out = states[0]._empty_like()
    for s in states:
        out.merge(s)
    return out


def _as_array(da, name, x):
    """A dask array from a dask array, a dask dataframe column/frame or a numpy-like."""
    if isinstance(x, da.Array):
        return x
    to = getattr(x, "to_dask_array", None)
    if to is not None:  # dask Series / DataFrame: partitions lengths are needed to align rows
        return to(lengths=True)
    import numpy as np

    arr = np.asarray(x)
    if arr.ndim == 0:
        raise TypeError(f"{name} must be an array of samples; got a scalar")
    return da.from_array(arr, chunks=(max(1, arr.shape[0]),) + arr.shape[1:])


def evaluate(target, preds, template, sample_weight=None, *, split_every: int = 8, compute=True):
    """Count ``target``/``preds`` (dask arrays or dask dataframe columns, same number of rows)
    into a metric object of ``template``'s class (an empty metric object: it sets the class and
    configuration).

    Each row-partition is counted into its own state by the normal kernels on a worker; the
    states are merged by addition in a tree (``split_every`` states per merge). Returns an
    ordinary metric object equal to counting everything in one process (or, with
    ``compute=False``, the dask Delayed that computes it). Multi-column ``preds`` (scores of
    shape (n, K), multilabel (n, L)) are rechunked so that a partition holds whole rows.
    """
    import dask
    import dask.array as da

    from .metrics._base import _MetricsBase

    if not isinstance(template, _MetricsBase):
        raise TypeError(f"template must be a tallyml metric object; got {type(template).__name__}")
    if template.count != 0:
        raise ValueError(f"template must be an empty metric object; this one has count={template.count}")
    if isinstance(split_every, bool) or not isinstance(split_every, int) or split_every < 2:
        raise ValueError(f"split_every must be an integer >= 2; got {split_every!r}")
    t = _as_array(da, "target", target)
    p = _as_array(da, "preds", preds)
    w = None if sample_weight is None else _as_array(da, "sample_weight", sample_weight)
    n = t.shape[0]
    for name, x in (("preds", p), ("sample_weight", w)):
        if x is not None and x.shape[0] != n:
            raise ValueError(f"target has {n} rows but {name} has {x.shape[0]}")
    if w is not None and w.ndim != 1:
        raise ValueError(f"sample_weight must be 1-D; got shape {w.shape}")
    rows = t.chunks[0]
    # one chunk along every axis but the first, the same row partitions for every input
    t = t.rechunk((rows,) + tuple(-1 for _ in t.shape[1:]))
    p = p.rechunk((rows,) + tuple(-1 for _ in p.shape[1:]))
    if w is not None:
        w = w.rechunk((rows,))

    def blocks(x):
        return x.to_delayed().reshape(-1).tolist()

    tpl = dask.delayed(template._empty_like(), pure=True)
    count = dask.delayed(_count_block, pure=True)
    merge = dask.delayed(_merge, pure=True)
    offsets = [sum(rows[:i]) for i in range(len(rows))]
    states = [count(tpl, off, tb, pb, wb) for off, tb, pb, wb in
              zip(offsets, blocks(t), blocks(p), blocks(w) if w is not None else [None] * len(rows))]
    if not states:
        states = [tpl]
    while len(states) > 1:
        states = [merge(*states[i:i + split_every]) if len(states[i:i + split_every]) > 1
                  else states[i] for i in range(0, len(states), split_every)]
    result = states[0]
    return result.compute() if compute else result
