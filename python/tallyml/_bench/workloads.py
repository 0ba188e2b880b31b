"""The standard throughput workloads: seeded data, tallyml's update, the numpy reference result,
and the peers (numpy's best formulation, scikit-learn, torchmetrics when installed).

Every runner returns counts in tallyml's state layout so that each result can be checked against
the reference before its timing is believed (``check``)."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Workload", "WORKLOADS", "check", "optional"]

THRESHOLD = 0.5
#: torchmetrics counts a score as positive when ``score > threshold`` (tallyml and sklearn-style
#: code here: ``>=``); on float32 scores, ``>`` the next float32 below THRESHOLD is ``>=`` THRESHOLD
TORCH_THRESHOLD = float(np.nextafter(np.float32(THRESHOLD), np.float32(0)))


def optional(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


@dataclass
class Workload:
    """One row of the benchmark table.

    ``make(n, seed)`` builds the inputs; ``tallyml(data, num_threads)`` counts them with the
    public metric object (validation on) and returns its state; ``reference(data)`` is the
    numpy reference; ``peers`` maps a name to a runner returning the same layout. ``bytes`` is
    what one row reads (the bandwidth ceiling's unit); ``preds`` the predictions in one row."""

    key: str
    title: str
    default_n: int
    bytes: int
    make: object
    tallyml: object
    reference: object
    peers: dict = field(default_factory=dict)
    preds: int = 1


def check(name: str, got, expected) -> None:
    """Raise AssertionError unless ``got`` equals ``expected`` exactly."""
    got = np.asarray(got)
    if got.shape != expected.shape or not np.array_equal(got, expected):
        raise AssertionError(f"{name}: result differs from the reference")


# ------------------------------------------------------------------ binary
def _binary_data(n, seed):
    rng = np.random.default_rng(seed)
    return {"target": (rng.random(n) < 0.4).astype(np.int8),
            "scores": rng.random(n, dtype=np.float32)}


def _binary_tallyml(d, num_threads, backend="auto"):
    from tallyml import BinaryMetrics

    m = BinaryMetrics(THRESHOLD, backend=backend, num_threads=num_threads)
    m.update(d["target"], d["scores"])
    return m._state


def _binary_numpy(d):
    # numpy's best formulation: one threshold mask, one AND, three count_nonzero
    t = d["target"].view(np.bool_)
    m = d["scores"] >= np.float32(THRESHOLD)
    tp = np.count_nonzero(m & t)
    pp = np.count_nonzero(m)
    ap = np.count_nonzero(t)
    n = t.shape[0]
    return np.array([[n - pp - ap + tp, pp - tp], [ap - tp, tp]], dtype=np.int64)


def _binary_sklearn(d):
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(d["target"], d["scores"] >= THRESHOLD, labels=[0, 1])


def _torch_one_thread():
    """torchmetrics timed on one thread like everything else here (and no idle OpenMP workers
    spinning on the other core while tallyml is timed)."""
    import torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    return torch


def _binary_torchmetrics(d):
    torch = _torch_one_thread()
    from torchmetrics.classification import BinaryStatScores

    m = BinaryStatScores(threshold=TORCH_THRESHOLD, validate_args=False)
    m.update(torch.from_numpy(d["scores"]), torch.from_numpy(d["target"]))
    tp, fp, tn, fn, _ = (int(v) for v in m.compute())
    return np.array([[tn, fp], [fn, tp]], dtype=np.int64)


# ------------------------------------------------------------------ multiclass
def _mc_data(k):
    def make(n, seed):
        rng = np.random.default_rng(seed)
        t = rng.integers(0, k, n, dtype=np.int32)
        # 70% right: a realistic matrix with a heavy diagonal
        p = np.where(rng.random(n) < 0.7, t, rng.integers(0, k, n, dtype=np.int32)).astype(np.int32)
        return {"target": t, "preds": p, "k": k}
    return make


def _mc_tallyml(d, num_threads, backend="auto"):
    from tallyml import MulticlassMetrics

    m = MulticlassMetrics(d["k"], backend=backend, num_threads=num_threads)
    m.update(d["target"], d["preds"])
    return m._state


def _mc_numpy(d):
    k = d["k"]
    return np.bincount(d["target"] * k + d["preds"], minlength=k * k).reshape(k, k)


def _mc_sklearn(d):
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(d["target"], d["preds"], labels=np.arange(d["k"]))


def _mc_torchmetrics(d):
    torch = _torch_one_thread()
    from torchmetrics.functional.classification import multiclass_confusion_matrix

    return multiclass_confusion_matrix(torch.from_numpy(d["preds"]).long(),
                                       torch.from_numpy(d["target"]).long(), d["k"],
                                       validate_args=False).numpy()


def _argmax_data(n, seed, k=10):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, k, n, dtype=np.int32)
    s = rng.random((n, k), dtype=np.float32)
    return {"target": t, "scores": s, "k": k}


def _argmax_tallyml(d, num_threads, backend="auto"):
    from tallyml import MulticlassMetrics

    m = MulticlassMetrics(d["k"], backend=backend, num_threads=num_threads)
    m.update(d["target"], d["scores"])
    return m._state


def _argmax_numpy(d):
    k = d["k"]
    return np.bincount(d["target"] * k + d["scores"].argmax(axis=1), minlength=k * k).reshape(k, k)


def _argmax_sklearn(d):
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(d["target"], d["scores"].argmax(axis=1), labels=np.arange(d["k"]))


def _argmax_torchmetrics(d):
    torch = _torch_one_thread()
    from torchmetrics.functional.classification import multiclass_confusion_matrix

    return multiclass_confusion_matrix(torch.from_numpy(d["scores"]),
                                       torch.from_numpy(d["target"]).long(), d["k"],
                                       validate_args=False).numpy()


# ------------------------------------------------------------------ multilabel
def _ml_data(n, seed, l=20):
    rng = np.random.default_rng(seed)
    return {"target": (rng.random((n, l)) < 0.3).astype(np.int8),
            "scores": rng.random((n, l), dtype=np.float32)}


def _ml_tallyml(d, num_threads, backend="auto"):
    from tallyml import MultilabelMetrics

    m = MultilabelMetrics(d["target"].shape[1], THRESHOLD, backend=backend, num_threads=num_threads)
    m.update(d["target"], d["scores"])
    return m._state


def _ml_numpy(d):
    t = d["target"].view(np.bool_)
    m = d["scores"] >= np.float32(THRESHOLD)
    tp = np.count_nonzero(m & t, axis=0)
    pp = np.count_nonzero(m, axis=0)
    ap = np.count_nonzero(t, axis=0)
    n = t.shape[0]
    return np.stack([n - pp - ap + tp, pp - tp, ap - tp, tp], axis=1).reshape(-1, 2, 2).astype(np.int64)


def _ml_sklearn(d):
    from sklearn.metrics import multilabel_confusion_matrix

    return multilabel_confusion_matrix(d["target"], (d["scores"] >= THRESHOLD).astype(np.int8))


def _ml_torchmetrics(d):
    torch = _torch_one_thread()
    from torchmetrics.functional.classification import multilabel_confusion_matrix

    l = d["target"].shape[1]
    return multilabel_confusion_matrix(torch.from_numpy(d["scores"]),
                                       torch.from_numpy(d["target"]).long(), l, TORCH_THRESHOLD,
                                       validate_args=False).numpy()


def _peers(numpy_fn, sklearn_fn, torch_fn):
    return {"numpy": numpy_fn, "sklearn": sklearn_fn, "torchmetrics": torch_fn}


WORKLOADS = {
    "binary": Workload("binary", "binary, f32 scores + i8 labels", 10_000_000, 5, _binary_data,
                       _binary_tallyml, _binary_numpy,
                       _peers(_binary_numpy, _binary_sklearn, _binary_torchmetrics)),
    "multiclass10": Workload("multiclass10", "multiclass K=10, i32 labels", 10_000_000, 8,
                             _mc_data(10), _mc_tallyml, _mc_numpy,
                             _peers(_mc_numpy, _mc_sklearn, _mc_torchmetrics)),
    "multiclass1000": Workload("multiclass1000", "multiclass K=1000, i32 labels", 10_000_000, 8,
                               _mc_data(1000), _mc_tallyml, _mc_numpy,
                               _peers(_mc_numpy, _mc_sklearn, _mc_torchmetrics)),
    "argmax10": Workload("argmax10", "multiclass from (N, 10) f32 scores", 10_000_000, 44,
                         _argmax_data, _argmax_tallyml, _argmax_numpy,
                         _peers(_argmax_numpy, _argmax_sklearn, _argmax_torchmetrics)),
    "multilabel20": Workload("multilabel20", "multilabel L=20, f32 scores + i8 labels", 2_000_000,
                             100, _ml_data, _ml_tallyml, _ml_numpy,
                             _peers(_ml_numpy, _ml_sklearn, _ml_torchmetrics), preds=20),
}

#: peers that need an optional package
PEER_MODULES = {"sklearn": "sklearn", "torchmetrics": "torchmetrics"}


# ==== BEGIN estimation workloads (CBPE, issue 10) =================================================
# Label-free expected counts from scores alone (tallyml.EstimatedMetrics). Float64 sums: results
# are checked against the numpy reference kernel to a relative 1e-9 (summation order differs), not
# exactly, so these workloads run in their own section of the suite (suite.estimation).
EST_RTOL = 1e-9


def _est_binary_data(n, seed):
    return {"scores": np.random.default_rng(seed).random(n, dtype=np.float32)}


def _est_mc_data(n, seed, k=10):
    return {"scores": np.random.default_rng(seed).dirichlet(np.ones(k), n).astype(np.float32)}


def est_tallyml(task, d, num_bins, backend="auto"):
    """Expected counts (and histograms) from tallyml's public object, validation on."""
    from tallyml import EstimatedMetrics

    kw = {"num_classes": d["scores"].shape[1]} if task == "multiclass" else {}
    est = EstimatedMetrics(task, num_bins=num_bins, backend=backend, **kw)
    est.update(d["scores"])
    return est._state, est._hist


def est_reference(task, d, num_bins):
    return est_tallyml(task, d, num_bins, backend="numpy")


def _np_hist(p, nb):
    b = np.minimum((p * nb).astype(np.int64), nb - 1)
    return np.stack([np.bincount(b, weights=w, minlength=nb) for w in (p, 1.0 - p, p * (1.0 - p))])


def est_numpy_binary(d, num_bins):
    """numpy's best formulation of the same expected counts (no checks, no variances): one
    float64 copy, one mask, two masked sums; plus three weighted bincounts for the histogram."""
    p = d["scores"].astype(np.float64)
    m = d["scores"] >= np.float32(THRESHOLD)
    n, n1 = p.shape[0], np.count_nonzero(m)
    tot, tp = p.sum(), p.sum(where=m)
    fn = tot - tp
    state = np.array([[n - n1 - fn, n1 - tp], [fn, tp]])
    return state, (_np_hist(p, num_bins) if num_bins else np.zeros((3, 0)))


def est_numpy_multiclass(d, num_bins):
    """numpy's best formulation: argmax, then one weighted bincount per class (no checks, no
    moments); plus three weighted bincounts per class for the histograms."""
    s = d["scores"]
    k = s.shape[1]
    j = s.argmax(axis=1)
    state = np.stack([np.bincount(j, weights=s[:, c], minlength=k) for c in range(k)])
    hist = (np.stack([_np_hist(s[:, c].astype(np.float64), num_bins) for c in range(k)])
            if num_bins else np.zeros((k, 3, 0)))
    return state, hist


def est_check(name, got, expected) -> None:
    """Raise AssertionError unless every array of ``got`` is within EST_RTOL of ``expected``."""
    for g, e in zip(got, expected):
        if g.shape != e.shape or not np.allclose(g, e, rtol=EST_RTOL, atol=1e-6):
            raise AssertionError(f"{name}: result differs from the reference")


#: key -> (title, task, make, default rows, bytes per row, items per row, num_bins, numpy runner)
EST_WORKLOADS = {
    "est_binary": ("estimated binary, f32 scores", "binary", _est_binary_data, 10_000_000, 4, 1,
                   0, est_numpy_binary),
    "est_binary_hist": ("  + 1024-bin histogram", "binary", _est_binary_data, 10_000_000, 4, 1,
                        1024, est_numpy_binary),
    "est_mc10": ("estimated multiclass (N, 10) f32", "multiclass", _est_mc_data, 2_000_000, 40,
                 1, 0, est_numpy_multiclass),
    "est_mc10_hist": ("  + 1024-bin histograms", "multiclass", _est_mc_data, 2_000_000, 40, 1,
                      1024, est_numpy_multiclass),
}
# ==== END estimation workloads ====================================================================
# ================================================================== curves block (h-curves)
# Streaming binned curves (BinaryCurves.update, default dyadic bins) in the throughput table,
# and the exact one-shot roc_auc_score / average_precision_score against sklearn (EXACT_CURVES,
# timed by suite._exact_curves: a scalar per call, equal to sklearn to 1e-12).
def _curves_data(n, seed):
    rng = np.random.default_rng(seed)
    return {"target": (rng.random(n) < 0.4).astype(np.int8),
            "scores": rng.random(n, dtype=np.float32)}


def _curves_tallyml(d, num_threads, backend="auto"):
    from tallyml.curves import BinaryCurves

    c = BinaryCurves(backend=backend, num_threads=num_threads)
    c.update(d["target"], d["scores"])
    return c.hist


def _curves_numpy(d):
    """numpy's best formulation: bin index of every score, then one bincount of bin*2+label."""
    from tallyml.curves._layout import DEFAULT_LAYOUT, bin_index_numpy

    b = bin_index_numpy(d["scores"], DEFAULT_LAYOUT)
    return np.bincount(b * 2 + d["target"], minlength=2 * DEFAULT_LAYOUT.num_bins).reshape(-1, 2)


WORKLOADS["curves_binned"] = Workload(
    "curves_binned", "binned curves, f32 scores + i8 labels", 10_000_000, 5, _curves_data,
    _curves_tallyml, _curves_numpy, {"numpy": _curves_numpy})


def _exact_data(kind):
    def make(n, seed):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, n).astype(np.int8)
        if kind == "f32":
            s = rng.random(n, dtype=np.float32)
        elif kind == "f64":
            s = rng.random(n)
        else:  # many ties: scores rounded to 2 decimals
            s = np.round(rng.random(n), 2)
        return y, s
    return make


def _exact(fn_name):
    def ours(d):
        from tallyml import functional

        return getattr(functional, fn_name)(*d)

    def theirs(d):
        import sklearn.metrics

        return getattr(sklearn.metrics, fn_name)(*d)
    return ours, theirs


#: key -> (title, make(n, seed), tallyml(data), sklearn(data)); default N 10M
EXACT_CURVES = {
    f"{fn}_{kind}": (f"exact {fn}, {label}", _exact_data(kind), *_exact(fn))
    for fn in ("roc_auc_score", "average_precision_score")
    for kind, label in (("f32", "f32 scores"), ("f64", "f64 scores"),
                        ("ties", "f64, 2-decimal ties"))
}
EXACT_DEFAULT_N = 10_000_000
# ================================================================== end curves block
