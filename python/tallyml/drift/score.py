"""Drift of model outputs against a fixed reference: ScoreDrift (scores) and PredictionDrift
(predicted classes), each over a sliding window of the last N samples with bounded memory.

Both follow the same stages: the reference fixes the bins once (and, by default, the thresholds,
calibrated on chunks of the reference the size of the window); ``update`` counts a batch into the
window's ring of bucket histograms; ``statistics`` compares the window's histogram with the
reference's; ``drifted`` compares the statistics with the thresholds.
"""
from __future__ import annotations

import copy
import math
import numbers
import threading

import numpy as np

from . import _histogram as _h
from . import statistics as _st
from ._window import Window, default_stride

__all__ = ["ScoreDrift", "PredictionDrift", "SCORE_STATISTICS", "PREDICTION_STATISTICS"]

SCORE_STATISTICS = ("psi", "js", "hellinger", "ks", "wasserstein")
PREDICTION_STATISTICS = ("chi2", "psi", "js", "hellinger")
# Used by thresholds="auto" when the reference is too short to calibrate (fewer than
# _MIN_CHUNKS windows): the customary PSI alarm level.
FALLBACK_THRESHOLDS = {"psi": 0.2}
_MIN_CHUNKS = 3
_MIN_PER_BIN = 10


# ----------------------------------------------------------------------------- argument checks
def _int_arg(name, value, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return int(value)


def _real_arg(name, value, minimum=0.0):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v >= minimum):
        raise ValueError(f"{name} must be a finite number >= {minimum}; got {value!r}")
    return v


def _float_array(name, values, ndim=None):
    a = np.asarray(values)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a numeric array; got dtype {a.dtype}")
    if a.ndim not in (1, 2) or (ndim is not None and a.ndim != ndim):
        want = "1-D or 2-D" if ndim is None else f"{ndim}-D"
        raise ValueError(f"{name} must be {want}; got shape {a.shape}")
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    return np.ascontiguousarray(a)


class _Thresholds:
    """Thresholds per statistic (one per group) and where they came from."""

    @staticmethod
    def build(spec, names, groups, calibrate, k):
        """spec: "auto" | "calibrate" | {name: value or per-group values}."""
        if isinstance(spec, str):
            if spec not in ("auto", "calibrate"):
                raise ValueError(f"thresholds must be 'auto', 'calibrate' or a dict; got {spec!r}")
            result = calibrate(spec == "calibrate", k)
            if result is not None:
                return result, "calibrated"
            return {n: np.full(groups, v) for n, v in FALLBACK_THRESHOLDS.items() if n in names}, "fixed"
        if not isinstance(spec, dict) or not spec:
            raise TypeError(f"thresholds must be 'auto', 'calibrate' or a non-empty dict; got {spec!r}")
        out = {}
        for name, value in spec.items():
            if name not in names:
                raise ValueError(f"thresholds names an unknown statistic {name!r}; known: {names}")
            v = np.broadcast_to(np.asarray(value, dtype=np.float64), (groups,)).copy()
            if not np.all(v >= 0):
                raise ValueError(f"thresholds[{name!r}] must be >= 0; got {value!r}")
            out[name] = v
        return out, "fixed"


class _DriftBase:
    """Shared window, thresholds and reporting. Subclasses define the groups and the counting."""

    _names: tuple = ()

    def _setup_window(self, window, stride, size):
        self._window_n = _int_arg("window", window, 1)
        stride = default_stride(self._window_n) if stride is None else _int_arg("stride", stride, 1)
        if self._window_n % stride:
            raise ValueError(f"stride must divide window; got window={window}, stride={stride}")
        self._win = Window(self._window_n, stride, size)
        self._lock = threading.Lock()

    def _finish(self, thresholds, k, reference_chunks):
        self._k = _real_arg("k", k)
        self._thr, self._thr_source = _Thresholds.build(
            thresholds, self._names, self._groups,
            lambda required, kk: self._calibrate(reference_chunks, required, kk), self._k)

    def _calibrate(self, chunks, required, k):
        """Thresholds = mean + k * std (ddof=1) of each statistic over the reference's chunks of
        the window's size, each compared with the rest of the reference (leave-one-out)."""
        if chunks is None or len(chunks) < _MIN_CHUNKS:
            if required:
                have = 0 if chunks is None else len(chunks)
                raise ValueError(
                    f"thresholds='calibrate' needs a reference of at least {_MIN_CHUNKS} windows "
                    f"({_MIN_CHUNKS * self._window_n} samples for window={self._window_n}); "
                    f"it holds {have} whole windows")
            return None
        total = chunks.sum(axis=0)
        values = {n: [] for n in self._names}
        for chunk in chunks:
            stats = self._compare(total - chunk, chunk)
            for n in self._names:
                values[n].append(stats[n])
        self.calibration_ = {n: np.array(v) for n, v in values.items()}
        return {n: v.mean(axis=0) + k * v.std(axis=0, ddof=1) for n, v in self.calibration_.items()}

    def __getstate__(self):  # pickle / copy: everything but the lock
        with self._lock:
            d = dict(self.__dict__)
        del d["_lock"]
        d["_win"] = copy.deepcopy(self._win)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._lock = threading.Lock()

    # -- public ---------------------------------------------------------------------------------
    @property
    def window(self) -> int:
        return self._window_n

    @property
    def stride(self) -> int:
        return self._win.stride

    @property
    def count(self) -> int:
        """Samples seen since creation or the last reset."""
        return self._win.seen

    @property
    def ready(self) -> bool:
        """Whether a full window has arrived (before that, statistics are None)."""
        return self._win.ready

    @property
    def windows(self) -> int:
        """How many window positions have been completed (the statistic changed this often)."""
        return max(0, self._win.completed - self._win.buckets + 1)

    @property
    def thresholds(self) -> dict:
        """{statistic: threshold} (floats for one group, arrays per class/label otherwise)."""
        return {n: self._out(v) for n, v in self._thr.items()}

    @property
    def threshold_source(self) -> str:
        """'calibrated' (from the reference) or 'fixed' (given, or the fallback)."""
        return self._thr_source

    def reset(self) -> None:
        """Empty the window (the reference, bins and thresholds stay)."""
        with self._lock:
            self._win.reset()

    def window_counts(self):
        """The window's histogram (a copy), or None while not ready."""
        with self._lock:
            return self._win.total.copy() if self._win.ready else None

    def _out(self, v):
        return float(v[0]) if self._single else np.asarray(v, dtype=np.float64).copy()

    def statistics(self) -> dict:
        """{statistic: value} for the current window; every value is None until the window has
        filled (not 0: no evidence is not evidence of no drift)."""
        with self._lock:
            if not self._win.ready:
                return {n: None for n in self._report_names}
            cur = self._win.total.copy()
        stats = self._compare(self._ref, cur)
        return {n: self._out(stats[n]) for n in self._report_names}

    def exceeded(self):
        """{statistic: bool (or per-group bools)} of those with a threshold; None until ready."""
        stats = self.statistics()
        if stats[self._report_names[0]] is None:
            return None
        out = {}
        for n, thr in self._thr.items():
            hit = np.asarray(stats[n]) > thr
            out[n] = bool(hit[0]) if self._single else hit
        return out

    def drifted(self):
        """True when any statistic with a threshold is above it (for any class or label);
        None while the window is not yet full."""
        ex = self.exceeded()
        if ex is None:
            return None
        return any(bool(np.any(v)) for v in ex.values())


# ----------------------------------------------------------------------------- ScoreDrift
class ScoreDrift(_DriftBase):
    """Drift of scores against reference scores, over a sliding window.

    ``reference``: (N,) scores of a binary model, or (N, K) per-class / per-label scores (each
    column is monitored on its own: per-class score drift for multiclass, per label for
    multilabel). Each column gets two binnings fixed from the reference: ``bins`` quantile bins
    (psi, js, hellinger) and ``fine_bins`` uniform bins over ``score_range`` (ks, wasserstein);
    ``score_range`` defaults to [0, 1] when the reference lies in it, else to its [min, max].
    ``wasserstein`` is W1 divided by the reference's standard deviation; ``wasserstein_raw`` is
    W1 in score units.

    ``thresholds``: ``"auto"`` (calibrated when the reference holds at least 3 windows, else the
    fixed {"psi": 0.2}), ``"calibrate"`` (required), or a dict {statistic: value}. Calibration
    splits the reference into consecutive chunks of ``window`` samples, computes each statistic
    between each chunk and the rest of the reference, and sets mean + ``k`` * std.
    """

    _names = SCORE_STATISTICS
    _report_names = SCORE_STATISTICS + ("wasserstein_raw",)

    def __init__(self, reference, *, window: int = 1000, stride: int | None = None,
                 bins: int = 10, fine_bins: int = 100, score_range=None, thresholds="auto",
                 k: float = 3.0, smoothing: float = 0.5, backend: str = "auto"):
        ref = _float_array("reference", reference)
        self._backend = _h.resolve_backend(backend)
        bins = _int_arg("bins", bins, 2)
        fine_bins = _int_arg("fine_bins", fine_bins, 2)
        self._smoothing = _real_arg("smoothing", smoothing)
        self._single = ref.ndim == 1
        ref2 = ref.reshape(len(ref), -1)
        n, g = ref2.shape
        self._ncols = g
        self._groups = g
        if n < bins * _MIN_PER_BIN:
            raise ValueError(
                f"reference has {n} samples; {bins} bins need at least {bins * _MIN_PER_BIN} "
                f"({_MIN_PER_BIN} per bin): pass fewer bins or a longer reference")
        _h.check_finite("numpy", ref2, "reference", ref.ndim)
        coarse, fine, centres, spread, ranges = [], [], [], [], []
        for c in range(g):
            col = ref2[:, c].astype(np.float64)
            lo, hi = float(col.min()), float(col.max())
            if lo == hi:
                raise ValueError(f"reference column {c} is constant ({lo!r}): no bins can be fixed")
            coarse.append(_h.quantile_edges(col, bins))
            if score_range is None:
                rlo, rhi = (0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else (lo, hi)
            else:
                rlo, rhi = (float(score_range[0]), float(score_range[1]))
                if not (math.isfinite(rlo) and math.isfinite(rhi) and rlo < rhi):
                    raise ValueError(f"score_range must be (low, high) with low < high; got {score_range!r}")
            edges = _h.uniform_edges(rlo, rhi, fine_bins)
            fine.append(edges)
            ranges.append((rlo, rhi))
            full = _h.full_edges(edges, rlo, rhi)
            centres.append(0.5 * (full[:-1] + full[1:]))
            spread.append(float(np.std(col)))
        # groups 0..g-1: coarse binning of each column; g..2g-1: fine binning
        self._layout = _h.Layout(list(range(g)) * 2, coarse + fine, [None] * g + ranges)
        self._centres = centres
        self._spread = np.array(spread)
        self.coarse_edges = coarse
        self.fine_edges = fine
        self._setup_window(window, stride, self._layout.size)
        # reference histogram, counted in chunks of the window for calibration
        nchunks = n // self._window_n
        chunks = None
        if nchunks:
            chunks = np.zeros((nchunks, self._layout.size), dtype=np.int64)
            for i in range(nchunks):
                self._count_rows(ref2, i * self._window_n, (i + 1) * self._window_n, chunks[i], False)
        self._ref = np.zeros(self._layout.size, dtype=np.int64)
        self._count_rows(ref2, 0, n, self._ref, False)
        self._finish(thresholds, k, chunks)

    def _count_rows(self, values2d, start, stop, out, check, ndim=1):
        _h.hist(self._backend, values2d, start, stop, self._layout, out, "scores", ndim, check)

    def _compare(self, ref, cur) -> dict:
        g = self._groups
        lay = self._layout
        out = {n: np.empty(g) for n in self._report_names}
        for c in range(g):
            rc, cc = lay.group(ref, c), lay.group(cur, c)
            rf, cf = lay.group(ref, g + c), lay.group(cur, g + c)
            out["psi"][c] = _st.psi(rc, cc, self._smoothing)
            out["js"][c] = _st.js_divergence(rc, cc)
            out["hellinger"][c] = _st.hellinger(rc, cc)
            out["ks"][c] = _st.ks(rf, cf)
            w = _st.wasserstein(rf, cf, self._centres[c])
            out["wasserstein_raw"][c] = w
            s = self._spread[c]
            out["wasserstein"][c] = w / s if s > 0 else (0.0 if w == 0 else math.inf)
        return out

    def update(self, scores) -> None:
        """Count a batch of scores: (n,) for a 1-D reference, (n, K) for a 2-D one. NaN or
        infinite scores raise ValueError and change nothing."""
        s = _float_array("scores", scores)
        ndim = s.ndim
        if self._single:
            if ndim != 1:
                raise ValueError(f"scores must be 1-D like the reference; got shape {s.shape}")
            s2 = s.reshape(-1, 1)
        else:
            if ndim != 2 or s.shape[1] != self._ncols:
                raise ValueError(f"scores must have shape (n, {self._ncols}) like the reference; "
                                 f"got {s.shape}")
            s2 = s
        with self._lock:
            self._win.add(
                len(s2),
                lambda a, b, out, check: self._count_rows(s2, a, b, out, check, ndim),
                lambda: _h.check_finite(self._backend, s2, "scores", ndim))


# ----------------------------------------------------------------------------- PredictionDrift
class PredictionDrift(_DriftBase):
    """Drift of the predicted-class distribution against a reference, over a sliding window.

    ``task="multiclass"``: predictions are integer labels (N,) in [0, num_classes) or scores
    (N, K) reduced by argmax; one distribution over K classes. ``task="multilabel"``: (N, L) 0/1
    labels or scores (positive when ``score >= threshold``); one two-bin distribution per label.
    ``task="binary"``: (N,) 0/1 labels or scores with ``threshold``; a two-bin distribution.
    Statistics: chi2 (Pearson, against the smoothed reference shares scaled to the window), psi,
    js, hellinger. Thresholds as in :class:`ScoreDrift`.
    """

    _names = PREDICTION_STATISTICS
    _report_names = PREDICTION_STATISTICS

    def __init__(self, reference, *, task: str = "multiclass", num_classes: int | None = None,
                 threshold: float = 0.5, window: int = 1000, stride: int | None = None,
                 thresholds="auto", k: float = 3.0, smoothing: float = 0.5,
                 backend: str = "auto"):
        if task not in ("binary", "multiclass", "multilabel"):
            raise ValueError(f"task must be 'binary', 'multiclass' or 'multilabel'; got {task!r}")
        self._task = task
        self._backend = _h.resolve_backend(backend)
        self._smoothing = _real_arg("smoothing", smoothing)
        self._threshold = _real_arg("threshold", threshold, -math.inf)
        ref = np.asarray(reference)
        if ref.ndim not in (1, 2) or len(ref) == 0:
            raise ValueError(f"reference must be a non-empty 1-D or 2-D array; got shape {ref.shape}")
        if task == "multiclass":
            if ref.ndim == 1:
                if ref.dtype.kind not in "iub":
                    raise TypeError(f"reference labels must be integers; got dtype {ref.dtype}")
                if num_classes is None:
                    if ref.min() < 0:
                        raise ValueError("reference labels must be >= 0")
                    num_classes = int(ref.max()) + 1
                self._nclass = _int_arg("num_classes", num_classes, 2)
            else:
                self._nclass = ref.shape[1]
                if num_classes is not None and _int_arg("num_classes", num_classes, 2) != self._nclass:
                    raise ValueError(f"num_classes={num_classes} but reference scores have {self._nclass} columns")
            self._groups, self._single, size = 1, True, self._nclass
        elif task == "binary":
            if ref.ndim != 1:
                raise ValueError(f"binary reference must be 1-D; got shape {ref.shape}")
            self._groups, self._single, size = 1, True, 2
        else:
            if ref.ndim != 2:
                raise ValueError(f"multilabel reference must be 2-D (n, labels); got shape {ref.shape}")
            self._groups, self._single, size = ref.shape[1], False, 2 * ref.shape[1]
            self._labels = ref.shape[1]
        self._size = size
        self._setup_window(window, stride, size)
        n = len(ref)
        ref_p = self._prepare(ref, "reference")
        nchunks = n // self._window_n
        chunks = None
        if nchunks:
            chunks = np.zeros((nchunks, size), dtype=np.int64)
            for i in range(nchunks):
                self._count_rows(ref_p, i * self._window_n, (i + 1) * self._window_n, chunks[i], True)
        self._ref = np.zeros(size, dtype=np.int64)
        self._count_rows(ref_p, 0, n, self._ref, True)
        self._finish(thresholds, k, chunks)

    def _prepare(self, values, name):
        """Array checks, returning (kind, array): kind 'labels' | 'argmax' | 'positive'."""
        a = np.asarray(values)
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{name} must be a numeric array; got dtype {a.dtype}")
        if self._task == "multiclass":
            if a.ndim == 1:
                if a.dtype.kind == "f":
                    raise TypeError(f"{name} must be integer labels (n,) or scores (n, {self._nclass}); "
                                    f"got float dtype with shape {a.shape}")
                return "labels", np.ascontiguousarray(a, dtype=np.int64), name
            if a.ndim != 2 or a.shape[1] != self._nclass:
                raise ValueError(f"{name} must be labels (n,) or scores (n, {self._nclass}); got shape {a.shape}")
            return "argmax", np.ascontiguousarray(a, dtype=np.float64), name
        if self._task == "binary":
            if a.ndim != 1:
                raise ValueError(f"{name} must be 1-D; got shape {a.shape}")
            a2 = a.reshape(-1, 1)
            ncols = 1
        else:
            if a.ndim != 2 or a.shape[1] != self._labels:
                raise ValueError(f"{name} must have shape (n, {self._labels}); got {a.shape}")
            a2 = a
            ncols = self._labels
        if a.dtype.kind in "iub":
            bad = (a2 != 0) & (a2 != 1)
            if bad.any():
                r = int(np.flatnonzero(bad.any(axis=1))[0])
                c = int(np.flatnonzero(bad[r])[0])
                where = f"{name}[{r}]" if a.ndim == 1 else f"{name}[{r}, {c}]"
                raise ValueError(f"{where} = {int(a2[r, c])} is outside [0, 2)")
            return "positive_labels", np.ascontiguousarray(a2, dtype=np.float64), name
        del ncols
        return "positive", np.ascontiguousarray(a2, dtype=np.float64), name

    def _count_rows(self, prepared, start, stop, out, check):
        kind, a, name = prepared
        if kind == "labels":
            _h.label_counts(self._backend, a, start, stop, out, name)
        elif kind == "argmax":
            _h.argmax_counts(self._backend, a, start, stop, out, name)
        else:
            thr = 0.5 if kind == "positive_labels" else self._threshold
            _h.positive_counts(self._backend, a, start, stop, thr, out, name)

    def _validate(self, prepared):
        kind, a, name = prepared
        if kind == "labels":
            k = self._nclass
            bad = (a < 0) | (a >= k)
            if bad.any():
                r = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{name}[{r}] = {int(a[r])} is outside [0, {k})")
        else:
            _h.check_finite(self._backend, a, name, 1 if self._task == "binary" else 2)

    def _compare(self, ref, cur) -> dict:
        g = self._groups
        out = {n: np.empty(g) for n in self._names}
        for c in range(g):
            if self._task == "multilabel":
                rc, cc = ref[2 * c:2 * c + 2], cur[2 * c:2 * c + 2]
            else:
                rc, cc = ref, cur
            out["chi2"][c] = _st.chi_square(rc, cc, self._smoothing)
            out["psi"][c] = _st.psi(rc, cc, self._smoothing)
            out["js"][c] = _st.js_divergence(rc, cc)
            out["hellinger"][c] = _st.hellinger(rc, cc)
        return out

    def shares(self):
        """(reference shares, window shares or None): per class, or per label (positive rate)."""
        cur = self.window_counts()

        def norm(c):
            if self._task == "multilabel":
                c2 = c.reshape(-1, 2).astype(np.float64)
                return c2[:, 1] / c2.sum(axis=1)
            return c / c.sum()

        return norm(self._ref), (None if cur is None else norm(cur))

    def update(self, preds) -> None:
        """Count a batch of predictions (labels or scores, as for the reference). Bad values
        (labels out of range, NaN scores) raise ValueError and change nothing."""
        prepared = self._prepare(preds, "preds")
        with self._lock:
            self._win.add(len(prepared[1]),
                          lambda a, b, out, check: self._count_rows(prepared, a, b, out, check),
                          lambda: self._validate(prepared))
