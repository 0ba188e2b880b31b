"""``classification_report``: sklearn's text table (character for character) or dict, built
from one count of the data."""
from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np

from .. import _formulas as F
from .._errors import TallymlWarning
from . import _counting as C
from ._labels import check_targets, encode, union_labels
from .classification import _check_bool, _setwise_counts

__all__ = ["classification_report"]

_HEADERS = ["precision", "recall", "f1-score", "support"]


def _weighted_support(tg, labels):
    """Per-label weight of true samples as sklearn sums it (tp + (true - tp), each a bincount in
    sample order): a different summation order could change the last digit the report prints."""
    w = tg.weight
    if tg.kind == "multilabel-indicator":
        true, pred = C.select_columns(tg, labels)
        num = true.shape[1]

        def column_sums(indicator):
            rows, cols = np.nonzero(indicator)
            # float even when empty: bincount of no entries returns int64 despite weights
            return np.bincount(cols, weights=w[rows], minlength=num).astype(np.float64, copy=False)

        tp, true_sum = column_sums(true & pred), column_sums(true)
        return tp + (true_sum - tp)
    if labels is None:
        full, pos, size = tg.classes, None, tg.classes.shape[0]
    else:
        full, pos, size = union_labels(labels, tg.classes)
    t_idx, p_idx = encode(tg.true, full), encode(tg.pred, full)
    right = t_idx == p_idx
    tp = np.bincount(t_idx[right], weights=w[right], minlength=size).astype(np.float64, copy=False)
    true_sum = np.bincount(t_idx, weights=w, minlength=size)
    support = tp + (true_sum - tp)
    return support if pos is None else support[pos]


def classification_report(y_true, y_pred, *, labels=None, target_names=None, sample_weight=None,
                          digits=2, output_dict=False, zero_division="warn"):
    """Per-class precision, recall, F1 and support with their averages
    (``sklearn.metrics.classification_report``).

    Values equal sklearn's to 1e-12. The multilabel "samples avg" row is a mean over a
    histogram of per-sample counts, not over samples in their order, so it can differ from
    sklearn's in the last ulp; in the text report that flips the last printed digit when the
    value sits on a rounding boundary (e.g. exactly 0.5 with ``digits=0``)."""
    if not isinstance(digits, Integral) or isinstance(digits, bool) or digits < 0:
        raise ValueError(f"digits must be an int >= 0; got {digits!r}")
    _check_bool(output_dict, "output_dict")
    F.check_zero_division(zero_division)
    tg = check_targets(y_true, y_pred, sample_weight)
    if labels is None:
        labels, labels_given = tg.classes, False
    else:
        labels, labels_given = np.asarray(labels), True
    one_d = tg.kind in ("binary", "multiclass")
    micro_is_accuracy = one_d and (not labels_given or set(labels.tolist()) >= set(tg.classes.tolist()))
    if target_names is not None and len(labels) != len(target_names):
        if labels_given:
            warnings.warn(
                f"labels size, {len(labels)}, does not match size of target_names, "
                f"{len(target_names)}",
                TallymlWarning,
                stacklevel=2,
            )
        else:
            raise ValueError(
                f"Number of classes, {len(labels)}, does not match size of target_names, "
                f"{len(target_names)}. Try specifying the labels parameter"
            )
    if target_names is None:
        target_names = ["%s" % label for label in labels]

    mcm, hist, zero_weight = _setwise_counts(tg, labels, samplewise=False)

    def prfs(average):
        return F.precision_recall_fscore_support(
            mcm, average=average, zero_division=zero_division, samples_hist=hist,
            zero_weight_samples=zero_weight,
        )

    p, r, f1, s = prfs(None)
    if tg.weight is not None:
        s = _weighted_support(tg, labels)
    rows = list(zip(target_names, p, r, f1, s))
    averages = ("micro", "macro", "weighted") + (() if one_d else ("samples",))

    if output_dict:
        report = {row[0]: dict(zip(_HEADERS, [float(v) for v in row[1:]])) for row in rows}
    else:
        width = max(max((len(name) for name in target_names), default=0), len("weighted avg"), digits)
        text = ("{:>{width}s} " + " {:>9}" * len(_HEADERS)).format("", *_HEADERS, width=width)
        text += "\n\n"
        row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
        for row in rows:
            text += row_fmt.format(*row, width=width, digits=digits)
        text += "\n"
    for average in averages:
        heading = "accuracy" if average == "micro" and micro_is_accuracy else average + " avg"
        avg_p, avg_r, avg_f1, _ = prfs(average)
        values = [avg_p, avg_r, avg_f1, np.sum(s)]
        if output_dict:
            report[heading] = dict(zip(_HEADERS, [float(v) for v in values]))
        elif heading == "accuracy":
            fmt = "{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}" + " {:>9}\n"
            text += fmt.format(heading, "", "", *values[2:], width=width, digits=digits)
        else:
            text += row_fmt.format(heading, *values, width=width, digits=digits)
    if output_dict:
        if "accuracy" in report:
            report["accuracy"] = report["accuracy"]["precision"]
        return report
    return text
