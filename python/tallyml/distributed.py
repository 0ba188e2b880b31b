"""Sum metric states across ``torch.distributed`` ranks with one fused all-reduce.

Optional: needs PyTorch with an initialised process group (any backend: gloo on CPU, nccl with
CUDA tensors via ``device=``). torch is imported when ``all_reduce`` is called, never by
``import tallyml``.

Every count array, every ``seen`` mask and the sample count of every object are packed into one
float64 buffer, reduced with a single ``all_reduce(SUM)`` and unpacked: one collective however
many objects there are. A flag per object says whether any rank holds weighted (float64)
counts; where none does, counts go back to int64 (exact while every count is below 2**53).
Every rank must pass objects of the same classes and configurations in the same order.
"""
from __future__ import annotations

import numpy as np

__all__ = ["all_reduce"]


def _flatten(objs):
    """(list of objects, rebuild function) for one object, a list/tuple or a dict."""
    if isinstance(objs, dict):
        keys = list(objs)
        return [objs[k] for k in keys], lambda out: dict(zip(keys, out))
    if isinstance(objs, (list, tuple)):
        return list(objs), lambda out: type(objs)(out)
    return [objs], lambda out: out[0]


def all_reduce(objs, *, group=None, device=None):
    """Return new metric objects holding the sum of ``objs`` over every rank of ``group``.

    ``objs`` is one metric object, a list/tuple or a dict of them (the result has the same
    shape); the inputs are not changed. ``device`` is where the buffer is reduced (default CPU;
    pass the rank's CUDA device for nccl)."""
    import torch
    import torch.distributed as dist

    from .metrics._base import _MetricsBase

    items, rebuild = _flatten(objs)
    if not items:
        raise ValueError("objs must hold at least one metric object")
    for i, o in enumerate(items):
        if not isinstance(o, _MetricsBase):
            raise TypeError(f"objs[{i}] must be a tallyml metric object; got {type(o).__name__}")
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("torch.distributed is not initialised: call init_process_group first")

    snaps = [o._snapshot() for o in items]
    parts, layout = [], []
    for o, (arrays, count) in zip(items, snaps):
        weighted = any(arrays[a] is not None and arrays[a].dtype == np.float64 for a in o._COUNT_ATTRS)
        entry = []
        for a in o._array_attrs():
            v = arrays[a]
            if v is None:
                continue
            entry.append((a, v.shape, v.dtype, v.size))
            parts.append(v.reshape(-1).astype(np.float64))
        parts.append(np.array([float(count), float(weighted)]))
        layout.append(entry)
    flat = torch.from_numpy(np.concatenate(parts))
    if device is not None:
        flat = flat.to(device)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
    total = flat.cpu().numpy()

    out, pos = [], 0
    for o, entry in zip(items, layout):
        chunks = {}
        for a, shape, dtype, size in entry:
            chunks[a] = (total[pos:pos + size].reshape(shape), dtype)
            pos += size
        count, weighted = total[pos], total[pos + 1] > 0
        pos += 2
        arrays = {a: None for a in o._new_arrays()}
        for a, (v, dtype) in chunks.items():
            if a == o._SEEN_ATTR:
                arrays[a] = (v > 0).astype(dtype)
            elif a in o._SUM_ATTRS:  # float64 sums stay float64
                arrays[a] = v.copy()
            else:
                arrays[a] = v.copy() if weighted else np.rint(v).astype(np.int64)
        res = o._empty_like()
        res._add_arrays(arrays, int(round(count)))
        out.append(res)
    return rebuild(out)
