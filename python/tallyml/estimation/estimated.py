"""EstimatedMetrics: classification metrics estimated from scores alone (CBPE).

Labels arrive late; scores do not. If the probabilities are calibrated, a sample predicted
positive with probability p is a true positive with probability p, so the confusion matrix's
*expected* counts follow from the scores: binary ``E[TP] += p y^``, ``E[FP] += (1 - p) y^``,
``E[FN] += p (1 - y^)``, ``E[TN] += (1 - p)(1 - y^)`` with ``y^ = [score >= threshold]``;
multiclass ``E[C][i][j] += p_i`` for the predicted class j = argmax; multilabel per label. The
metric values are the labelled classes' formulas applied to these float64 counts, and every
estimate comes with an interval (``interval()``, see ``intervals``).

The prediction is always the model's own (threshold or argmax on the raw scores); calibration
only changes the probabilities that are summed.
"""
from __future__ import annotations

import math
import threading

import numpy as np

from .. import _formulas as F
from .. import _validate as V
from ..metrics._base import _MetricsBase
from ..metrics._confusion import _ConfusionMetrics
from . import _kernels
from ._errors import message
from .calibration import _Calibrator
from .intervals import (Estimate, auroc_from_hist, column_directions, delta_std, make_estimate,
                        z_value)

__all__ = ["EstimatedMetrics", "Estimate", "compare"]

_TASKS = ("binary", "multiclass", "multilabel")
_SCORE_DTYPES = frozenset({np.dtype(np.float32), np.dtype(np.float64)})
#: value ranges of the metrics whose intervals are clipped to something other than [0, 1]
_BOUNDS = {"mcc": (-1.0, 1.0), "cohen_kappa": (-1.0, 1.0), "balanced_accuracy": (-1.0, 1.0)}
#: multiclass intervals differentiate along K*K directions; beyond this they get too slow
MAX_INTERVAL_CLASSES = 100


class EstimatedMetrics(_MetricsBase):
    """Label-free estimates of classification metrics from (calibrated) probabilities.

    Parameters
    ----------
    task : "binary", "multiclass" or "multilabel"
    num_classes : int >= 2, multiclass only
    num_labels : int >= 2, multilabel only
    threshold : float in [0, 1]
        Binary/multilabel decision: positive when ``score >= threshold`` (as the labelled
        classes do; with ``logits=True`` the threshold moves to ``logit(threshold)``).
    calibrator : HistogramCalibrator, IsotonicCalibrator or None
        A calibrator fitted for the same task and class/label count, applied to every
        probability inside the counting pass.
    logits : bool
        Scores are logits: probabilities are ``sigmoid`` (binary, multilabel) or ``softmax``
        (multiclass) of them. Otherwise scores must lie in [0, 1] and multiclass rows must sum
        to 1 within ``sum_tol``.
    num_bins : int >= 0
        Bins of the expected positive/negative score histograms behind ``roc_auc()`` (0: no
        histograms, and no ``roc_auc``).
    sum_tol : float
        Tolerance of multiclass row sums.
    zero_division, validate, backend
        As for the labelled metric objects.

    ``update(scores)`` takes no targets. Metric methods have the names, arguments and formulas
    of ``BinaryMetrics`` / ``MulticlassMetrics`` / ``MultilabelMetrics``, computed from the
    expected counts; ``interval(name, ...)`` gives the estimate with its band;
    ``compare(realized)`` puts them next to a labelled object's values once labels arrived.
    State (float64, mergeable by addition like every metric state): the expected confusion
    counts, their Bernoulli variances, and the score histograms.
    """

    _KIND = "estimated"
    _CONFIG = ("task", "num_classes", "num_labels", "threshold", "logits", "num_bins",
               "calibration")

    def __new__(cls, task="binary", *args, **kwargs):
        if cls is EstimatedMetrics:
            V.choice("task", task, _TASKS)
            cls = {"binary": _BinaryEstimated, "multiclass": _MulticlassEstimated,
                   "multilabel": _MultilabelEstimated}[task]
        return object.__new__(cls)

    def __init__(self, task="binary", num_classes=None, num_labels=None, threshold=0.5,
                 calibrator=None, *, logits=False, num_bins=1024, sum_tol=1e-3,
                 zero_division="warn", validate=True, backend="auto"):
        V.choice("task", task, _TASKS)
        if task != self._TASK:
            raise ValueError(f"task={task!r} does not fit {type(self).__name__}")
        self._task = task
        if task == "multiclass":
            self._num_classes = V.positive_int("num_classes", num_classes, 2)
        elif num_classes is not None:
            raise ValueError(f'num_classes is only for task="multiclass"; got {num_classes!r}')
        else:
            self._num_classes = None
        if task == "multilabel":
            self._num_labels = V.positive_int("num_labels", num_labels, 2)
        elif num_labels is not None:
            raise ValueError(f'num_labels is only for task="multilabel"; got {num_labels!r}')
        else:
            self._num_labels = None
        self._logits = V.flag("logits", logits)
        self._cut = V.threshold(threshold, self._logits)
        self._threshold = float(threshold)
        self._num_bins = V.positive_int("num_bins", num_bins, 0)
        if isinstance(sum_tol, bool) or not isinstance(sum_tol, (int, float, np.floating)) \
                or not 0.0 < float(sum_tol) < 1.0:
            raise ValueError(f"sum_tol must be a number in (0, 1); got {sum_tol!r}")
        self._sum_tol = float(sum_tol)
        self._calibrator = self._check_calibrator(calibrator)
        self._calibration = None if calibrator is None else calibrator.fingerprint()
        self._table, self._mode = self._kernel_table()
        self._zero_division = V.zero_division(zero_division)
        self._validate = V.flag("validate", validate)
        self._backend_request = backend
        self._backend_name = _kernels.resolve(backend)
        self._kern = _kernels.load(self._backend_name)
        # score dtype -> bound native call (None: the backend has none; see _count_bound)
        self._binds = {} if hasattr(self._kern, "bind_" + task) else None
        self._row_shape = () if task == "binary" else (self._width(),)
        self._lock = threading.Lock()
        self._kernels = {}
        # the base class's GPU and bound-call machinery is not used: estimates count on the host
        self._on_device = False
        self._nt = 0
        self._bound = {}
        self._binder = None
        self._reset_state()

    # ------------------------------------------------------------ configuration
    @property
    def task(self) -> str:
        return self._task

    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def calibrator(self):
        return self._calibrator

    def _width(self):
        return {"binary": 1, "multiclass": self._num_classes,
                "multilabel": self._num_labels}[self._task]

    def _check_calibrator(self, cal):
        if cal is None:
            return None
        if not isinstance(cal, _Calibrator):
            raise TypeError("calibrator must be a HistogramCalibrator, an IsotonicCalibrator or "
                            f"None; got {type(cal).__name__}")
        if not cal.fitted:
            raise ValueError("calibrator is not fitted: call calibrator.fit(scores, target) first")
        if cal.task != self._task:
            raise ValueError(f"calibrator was fitted for task={cal.task!r}; this object has "
                             f"task={self._task!r}")
        if cal.width != self._width():
            what = "num_classes" if self._task == "multiclass" else "num_labels"
            raise ValueError(f"calibrator was fitted for {what}={cal.width}; this object has "
                             f"{what}={self._width()}")
        return cal

    def _kernel_table(self):
        cal = self._calibrator
        if cal is None:
            shape = (1,) if self._task == "binary" else (self._width(), 1)
            return np.zeros(shape), 0
        return np.ascontiguousarray(cal.table, dtype=np.float64), cal.mode

    def _init_args(self):
        return {"task": self._task, "num_classes": self._num_classes,
                "num_labels": self._num_labels, "threshold": self._threshold,
                "calibrator": self._calibrator, "logits": self._logits,
                "num_bins": self._num_bins, "sum_tol": self._sum_tol,
                "zero_division": self._zero_division, "validate": self._validate,
                "backend": self._backend_request}

    def _checked_state(self, state):
        arrays, count = super()._checked_state(state)
        return {a: (v if v is None or a == self._SEEN_ATTR else v.astype(np.float64))
                for a, v in arrays.items()}, count

    # ------------------------------------------------------------ update
    def _prepare(self, scores):
        # the common case in one test: a contiguous float32/float64 array of the right shape
        if type(scores) is np.ndarray and scores.dtype in _SCORE_DTYPES \
                and scores.shape[1:] == self._row_shape and scores.flags.c_contiguous:
            return scores
        if not self._validate:
            x = np.asarray(scores)
            return x if x.flags.c_contiguous else np.ascontiguousarray(x)
        x = V.as_array("scores", scores)
        if x.dtype.kind != "f":
            raise TypeError(f"scores must hold float probabilities (or logits with "
                            f"logits=True); got dtype {x.dtype}")
        x = V.scores("scores", x)
        if self._task == "binary":
            V.ndim("scores", x, (1,), "1-D (n_samples,)")
        else:
            w = self._width()
            if x.ndim != 2 or x.shape[1] != w:
                what = "num_classes" if self._task == "multiclass" else "num_labels"
                raise ValueError(f"scores must have shape (n_samples, {w}) ({what}={w}); "
                                 f"got an array of shape {x.shape}")
        return x

    def update(self, scores) -> None:
        """Count a batch of scores (no targets). On error nothing changes."""
        binds = self._binds
        if binds is not None and type(scores) is np.ndarray and scores.dtype in _SCORE_DTYPES \
                and scores.shape[1:] == self._row_shape and scores.flags.c_contiguous:
            # the small-batch path: a ready array and a bound native call
            n = scores.shape[0]
            if n == 0:
                return
            with self._lock:
                call = binds.get(scores.dtype)
                if call is None or not self._bound_to(call.arrays):
                    call = self._bind(scores.dtype)
                err = call(scores)
                if err[0]:
                    raise ValueError(message("scores", scores, int(err[0]), int(err[1]),
                                             int(err[2]), self._sum_tol))
                self._count += n
            return
        x = self._prepare(scores)
        n = x.shape[0]
        if n == 0:
            return
        with self._lock:
            if self._binds is None:
                self._count_batch(x)
            else:
                self._count_bound(x)
            self._count += n

    def _count_bound(self, x):
        """The kernel call through a bound native call (lock held)."""
        call = self._binds.get(x.dtype)
        if call is None or not self._bound_to(call.arrays):
            call = self._bind(x.dtype)
        code, row, col = call(x)
        if code:
            raise ValueError(message("scores", x, int(code), int(row), int(col), self._sum_tol))

    def _bind(self, dtype):
        """A bound native call for ``dtype`` into the current state arrays: made per score
        dtype, and again whenever a state array was replaced (reset, load_state_dict)."""
        bind = getattr(self._kern, "bind_" + self._TASK)
        call = self._binds[dtype] = bind(dtype, *self._kernel_args())
        return call

    def _count_batch(self, x):
        _kernels.call(getattr(self._kern, self._TASK), x, self._sum_tol, *self._kernel_args())

    # ------------------------------------------------------------ values
    def _zd(self, zero_division):
        return self._zero_division if zero_division is None else V.zero_division(zero_division)

    def expected_confusion_matrix(self, normalize=None) -> np.ndarray:
        """Expected confusion counts (float64): (2, 2) or (K, K) rows = true label, columns =
        predicted; multilabel (L, 2, 2) ``[[tn, fp], [fn, tp]]``."""
        V.choice("normalize", normalize, (None, "true", "pred", "all"))
        state = self._snapshot()[0]["_state"]
        if normalize is None:
            return state
        if state.ndim == 3:
            return np.stack([F.normalize_confusion(m, normalize) for m in state])
        return F.normalize_confusion(state, normalize)

    def confusion_matrix(self, normalize=None) -> np.ndarray:
        """Same as ``expected_confusion_matrix``."""
        return self.expected_confusion_matrix(normalize)

    def _hist_or_raise(self, arrays):
        if self._num_bins == 0:
            raise ValueError("roc_auc needs the score histograms: construct with num_bins > 0")
        return arrays["_hist"]

    def _roc_parts(self, average="macro"):
        """(value, std) of the AUROC estimate."""
        arrays, count = self._snapshot()
        self._check_empty(count)
        hist = self._hist_or_raise(arrays)
        if hist.ndim == 2:
            V.choice("average", average, ("macro", "micro", "weighted", None))
            return auroc_from_hist(hist)
        V.choice("average", average, ("macro", "weighted", None))
        per = np.array([auroc_from_hist(h) for h in hist])
        if average is None:
            return per[:, 0], per[:, 1]
        w = np.ones(len(hist)) if average == "macro" else hist[:, 0].sum(axis=1)
        w = w / w.sum()
        return float(np.dot(w, per[:, 0])), float(np.sqrt(np.dot(w * w, per[:, 1] ** 2)))

    def roc_auc(self, average="macro"):
        """ROC AUC estimated from the expected positive/negative score histograms (binned by
        the uncalibrated probability, i.e. the model's ranking). Multiclass: one-vs-rest;
        multilabel: per label; ``average`` "macro", "weighted" (by expected prevalence) or
        None."""
        return self._roc_parts(average)[0]

    def interval(self, metric: str, *args, coverage=0.95, **kwargs) -> Estimate:
        """The estimate of ``metric`` (a method name: "f1", "precision", "accuracy",
        "roc_auc", ...; further arguments go to that method) with its standard deviation and
        the two-sided interval at ``coverage`` that the realized value (labels drawn from the
        probabilities) falls in. Arrays for per-class values."""
        z_value(coverage)
        if not isinstance(metric, str) or metric.startswith("_") or metric in _NOT_METRICS \
                or not callable(getattr(self, metric, None)):
            raise ValueError(f"metric must be the name of a metric method; got {metric!r}")
        bounds = _BOUNDS.get(metric, (0.0, 1.0))
        if metric == "roc_auc":
            value, std = self._roc_parts(*args, **kwargs)
            return make_estimate(value, std, coverage, bounds)
        value = getattr(self, metric)(*args, **kwargs)
        arrays, count = self._snapshot()
        probe = self._clone_empty()

        def evaluate(a):
            for attr, v in a.items():
                setattr(probe, attr, v)
            probe._count = count
            return getattr(probe, metric)(*args, **kwargs)

        std = self._std(metric, arrays, count, evaluate)
        return make_estimate(value, std, coverage, bounds)

    def _std(self, metric, arrays, count, evaluate):
        return delta_std(evaluate, arrays, self._directions(arrays))

    def report(self, coverage=0.95) -> dict:
        """Every default-argument estimate with its interval: name -> Estimate."""
        names = self._REPORT + (("roc_auc",) if self._num_bins else ())
        return {name: self.interval(name, coverage=coverage) for name in names}

    def compare(self, realized, metrics=None, coverage=0.95) -> dict:
        """Side by side with a labelled metric object (see ``tallyml.estimation.compare``)."""
        return compare(self, realized, metrics=metrics, coverage=coverage)


_NOT_METRICS = {"update", "reset", "merge", "state_dict", "load_state_dict", "interval",
                "report", "compare", "compute", "confusion_matrix",
                "expected_confusion_matrix", "label_set", "support"}


class _BinaryEstimated(EstimatedMetrics, _ConfusionMetrics):
    _TASK = "binary"
    _COUNT_ATTRS = ("_state", "_var", "_hist")
    _SEEN_ATTR = "_seen"
    _AVERAGES = ("binary", "micro", "macro", "weighted", None)
    _REPORT = ("accuracy", "precision", "recall", "f1", "specificity", "mcc")

    def _new_arrays(self):
        return {"_state": np.zeros((2, 2)), "_var": np.zeros(2),
                "_hist": np.zeros((3, self._num_bins)), "_seen": np.zeros(2, dtype=np.uint8)}

    def _kernel_args(self):
        return (self._cut, self._logits, self._table, self._mode, self._state, self._var,
                self._hist)

    def _bound_to(self, a):
        return a[0] is self._state and a[1] is self._var and a[2] is self._hist

    def _directions(self, arrays):
        tp = np.array([[0.0, -1.0], [0.0, 1.0]])  # predicted positive: fp -> tp
        fn = np.array([[-1.0, 0.0], [1.0, 0.0]])  # predicted negative: tn -> fn
        var = arrays["_var"]
        return [("_state", tp, var[1]), ("_state", fn, var[0])]

    def precision(self, average="binary", *, zero_division=None):
        return super().precision(average, zero_division=zero_division)

    def recall(self, average="binary", *, zero_division=None):
        return super().recall(average, zero_division=zero_division)

    def fbeta(self, beta, average="binary", *, zero_division=None):
        return super().fbeta(beta, average, zero_division=zero_division)

    def f1(self, average="binary", *, zero_division=None):
        return super().f1(average, zero_division=zero_division)

    def specificity(self, average="binary", *, zero_division=None):
        return super().specificity(average, zero_division=zero_division)

    def jaccard(self, average="binary", *, zero_division=None):
        return super().jaccard(average, zero_division=zero_division)

    def roc_auc(self, average="macro"):
        return super().roc_auc(average)


class _MulticlassEstimated(EstimatedMetrics, _ConfusionMetrics):
    _TASK = "multiclass"
    _COUNT_ATTRS = ("_state", "_moments", "_hist")
    _SEEN_ATTR = "_seen"
    _AVERAGES = ("macro", "micro", "weighted", None)
    _REPORT = ("accuracy", "precision", "recall", "f1")

    @property
    def num_classes(self) -> int:
        return self._num_classes

    def _new_arrays(self):
        k = self._num_classes
        return {"_state": np.zeros((k, k)), "_moments": np.zeros((2, k, k)),
                "_hist": np.zeros((k, 3, self._num_bins)), "_seen": np.zeros(k, dtype=np.uint8)}

    def _kernel_args(self):
        return (self._logits, self._sum_tol, self._table, self._mode, self._state,
                self._moments, self._hist)

    def _bound_to(self, a):
        return a[0] is self._state and a[1] is self._moments and a[2] is self._hist

    def _directions(self, arrays):
        if self._num_classes > MAX_INTERVAL_CLASSES:
            raise ValueError(f"intervals of multiclass estimates are computed for at most "
                             f"{MAX_INTERVAL_CLASSES} classes; this object has "
                             f"num_classes={self._num_classes}")
        return [("_state", d, v) for d, v in column_directions(arrays["_state"],
                                                                arrays["_moments"])]


class _MultilabelEstimated(EstimatedMetrics):
    _TASK = "multilabel"
    _COUNT_ATTRS = ("_state", "_var", "_subset", "_hist")
    _AVERAGES = ("macro", "micro", "weighted", None)
    _REPORT = ("accuracy", "hamming_loss", "precision", "recall", "f1")

    @property
    def num_labels(self) -> int:
        return self._num_labels

    def _new_arrays(self):
        n = self._num_labels
        return {"_state": np.zeros((n, 2, 2)), "_var": np.zeros((n, 2)), "_subset": np.zeros(2),
                "_hist": np.zeros((n, 3, self._num_bins))}

    def _kernel_args(self):
        return (self._cut, self._logits, self._table, self._mode, self._state, self._var,
                self._subset, self._hist)

    def _bound_to(self, a):
        return (a[0] is self._state and a[1] is self._var and a[2] is self._subset
                and a[3] is self._hist)

    def _directions(self, arrays):
        out = []
        for l, (v0, v1) in enumerate(arrays["_var"]):
            tp = np.zeros_like(arrays["_state"])
            tp[l] = [[0.0, -1.0], [0.0, 1.0]]
            fn = np.zeros_like(arrays["_state"])
            fn[l] = [[-1.0, 0.0], [1.0, 0.0]]
            out += [("_state", tp, v1), ("_state", fn, v0)]
        return out

    def _std(self, metric, arrays, count, evaluate):
        if metric == "accuracy":
            return math.sqrt(arrays["_subset"][1]) / count
        return super()._std(metric, arrays, count, evaluate)

    def _read(self):
        arrays, count = self._snapshot()
        self._check_empty(count)
        return arrays

    def _prf(self, which, average, beta=1.0, zero_division=None):
        average = V.average(average, self._AVERAGES)
        warn = {0: ("precision",), 1: ("recall",), 2: ("f-score",)}[which]
        return F.precision_recall_fscore_support(
            self._read()["_state"], beta=beta, average=average,
            zero_division=self._zd(zero_division), warn_for=warn)[which]

    def accuracy(self) -> float:
        """Expected subset accuracy: mean over samples of the probability that every label is
        right (labels independent given the scores)."""
        arrays, count = self._snapshot()
        self._check_empty(count)
        return float(arrays["_subset"][0] / count)

    def label_accuracy(self) -> np.ndarray:
        """Expected accuracy of each label, shape (L,)."""
        s = self._read()["_state"]
        return (s[:, 0, 0] + s[:, 1, 1]) / s[0].sum()

    def hamming_loss(self) -> float:
        return F.hamming_loss_mcm(self._read()["_state"])

    def precision(self, average="macro", *, zero_division=None):
        return self._prf(0, average, zero_division=zero_division)

    def recall(self, average="macro", *, zero_division=None):
        return self._prf(1, average, zero_division=zero_division)

    def fbeta(self, beta, average="macro", *, zero_division=None):
        return self._prf(2, average, beta=beta, zero_division=zero_division)

    def f1(self, average="macro", *, zero_division=None):
        return self._prf(2, average, zero_division=zero_division)

    def specificity(self, average="macro", *, zero_division=None):
        average = V.average(average, self._AVERAGES)
        return F.specificity(self._read()["_state"], average=average,
                             zero_division=self._zd(zero_division))

    def jaccard(self, average="macro", *, zero_division=None):
        average = V.average(average, self._AVERAGES)
        return F.jaccard(self._read()["_state"], average=average,
                         zero_division=self._zd(zero_division))

    def compute(self) -> dict:
        return {name: getattr(self, name)() for name in
                ("accuracy", "label_accuracy", "hamming_loss", "precision", "recall", "f1",
                 "specificity", "jaccard")}


# the public docstrings of the shared methods
for _cls in (_BinaryEstimated,):
    for _name in ("precision", "recall", "fbeta", "f1", "specificity", "jaccard"):
        getattr(_cls, _name).__doc__ = getattr(_ConfusionMetrics, _name).__doc__
_BinaryEstimated.roc_auc.__doc__ = EstimatedMetrics.roc_auc.__doc__
for _name, _doc in (("precision", "Precision"), ("recall", "Recall"), ("fbeta", "F-beta score"),
                    ("f1", "F1 score"), ("specificity", "Specificity"),
                    ("jaccard", "Jaccard index")):
    getattr(_MultilabelEstimated, _name).__doc__ = (
        f"{_doc} from the expected per-label counts (averages as in sklearn, no 'samples').")
del _cls, _name, _doc

_DEFAULT_COMPARE = ("accuracy", "precision", "recall", "f1", "roc_auc")


def compare(estimated, realized, metrics=None, coverage=0.95) -> dict:
    """Estimates next to realized values once labels have arrived.

    ``realized``: a labelled object of the same task fed the same stream with its targets
    (``BinaryMetrics`` / ``MulticlassMetrics`` / ``MultilabelMetrics``, or anything with the
    metric methods, e.g. a curves object for ``roc_auc``), or a dict name -> realized value.
    Returns name -> {"estimated", "std", "low", "high", "realized", "inside"}; metrics the
    realized side lacks get ``realized=None``. Exporters publish both, the estimate with an
    ``estimated`` label."""
    if not isinstance(estimated, EstimatedMetrics):
        raise TypeError(f"estimated must be an EstimatedMetrics; got {type(estimated).__name__}")
    from ..metrics import BinaryMetrics, MulticlassMetrics, MultilabelMetrics

    expected = {"binary": BinaryMetrics, "multiclass": MulticlassMetrics,
                "multilabel": MultilabelMetrics}[estimated.task]
    labelled = (BinaryMetrics, MulticlassMetrics, MultilabelMetrics)
    if isinstance(realized, labelled) and not isinstance(realized, expected):
        raise ValueError(f"realized is a {type(realized).__name__}; an estimate of task="
                         f"{estimated.task!r} compares with a {expected.__name__}")
    for attr in ("threshold", "num_classes", "num_labels"):
        mine = getattr(estimated, attr, None)
        theirs = getattr(realized, attr, None)
        if mine is not None and theirs is not None and mine != theirs:
            raise ValueError(f"realized has {attr}={theirs!r}; the estimate has {attr}={mine!r}")
    if metrics is None:
        metrics = [m for m in _DEFAULT_COMPARE
                   if m != "roc_auc" or estimated._num_bins > 0]
    out = {}
    for name in metrics:
        est = estimated.interval(name, coverage=coverage)
        if isinstance(realized, dict):
            real = realized.get(name)
        else:
            fn = getattr(realized, name, None)
            real = fn() if callable(fn) else None
        inside = None
        if real is not None:
            r = np.asarray(real, dtype=np.float64)
            inside = (est.low <= r) & (r <= est.high)
            inside = bool(inside) if np.ndim(inside) == 0 else inside
        out[name] = {"estimated": est.value, "std": est.std, "low": est.low, "high": est.high,
                     "realized": real, "inside": inside}
    return out
