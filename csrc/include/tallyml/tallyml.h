/*
 * tallyml core: streaming confusion counts behind a plain C ABI.
 *
 * Conventions shared by every counting function
 *   - Buffers are caller-owned, C-contiguous and never retained. Counts are ADDED into `state`
 *     (and `seen` / `samples`); nothing else is written. Functions keep no hidden state.
 *   - Unweighted entry points count into int64 state; the `_w` variants take float64
 *     `weight` (one per row, finite and >= 0) and count into float64 state.
 *   - Return value: TM_OK (0), or an error code with a message in tm_last_error(). On error the
 *     outputs are exactly as they were (counts go into private partials, or the whole batch is
 *     validated before the first count). A bad value is reported for the first bad row (lowest
 *     index among rows not ignored); within it, target before preds before weight, and the lowest
 *     column of a 2-D argument, e.g. "target[12] = 7 is outside [0, 3)",
 *     "preds[5, 2] = inf is not finite",
 *     "sample_weight[3] = -1.0 is not a finite non-negative number".
 *   - ignore_index: when has_ignore != 0, rows whose target equals ignore_index are skipped
 *     entirely (not validated, not counted).
 *   - num_threads: 0 = decide from the batch size and TALLYML_NUM_THREADS, 1 = this thread only,
 *     n = at most n threads. Results never depend on it (weighted counts run on one thread).
 *   - Thread safety: every counting function is reentrant; concurrent calls must not share an
 *     output buffer (the caller serialises updates of one state).
 *
 * Dtype suffixes: labels u8 (also numpy bool), i8, i16, i32, i64; scores f32, f64.
 */
#ifndef TALLYML_TALLYML_H_
#define TALLYML_TALLYML_H_

#include <stdint.h>

#if defined(_WIN32)
#  define TM_API __declspec(dllexport)
#elif defined(TALLYML_BUILDING)
#  define TM_API __attribute__((visibility("default")))
#else
#  define TM_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Return codes. */
enum {
  TM_OK = 0,
  TM_ERR_VALUE = 1,    /**< a bad value in the data (label out of range, NaN score, bad weight) */
  TM_ERR_ARGUMENT = 2, /**< a bad argument: NULL pointer, negative length, buffer too small */
  TM_ERR_MEMORY = 3,   /**< an allocation failed */
  TM_ERR_INTERNAL = 4  /**< any other failure inside the core */
};

/** Message of the last failed call made by this thread ("" if none). Never NULL; valid until the
 *  thread's next failing call. Thread safety: thread-local. */
TM_API const char* tm_last_error(void);

/** Version string compiled in (the package version, e.g. "0.1.0"). Thread safety: constant. */
TM_API const char* tm_version(void);

/** SIMD level in use: 0 baseline x86-64 (or non-x86), 1 AVX2 (chosen at load from the CPU). */
TM_API int32_t tm_simd_level(void);

/** Force a SIMD level (for tests and benchmarks): 0 baseline, 1 AVX2. Returns TM_ERR_ARGUMENT when
 *  the CPU lacks the level. Thread safety: atomic; affects calls that start afterwards. */
TM_API int32_t tm_set_simd_level(int32_t level);

/* ---- dtype tables (X-macros) used to declare and define every entry point ------------------ */
#define TM_LABEL_TYPES_WITH(X, ...)                                                            \
  X(__VA_ARGS__, u8, uint8_t) X(__VA_ARGS__, i8, int8_t) X(__VA_ARGS__, i16, int16_t)          \
  X(__VA_ARGS__, i32, int32_t) X(__VA_ARGS__, i64, int64_t)
#define TM_SCORE_TYPES_WITH(X, ...) X(__VA_ARGS__, f32, float) X(__VA_ARGS__, f64, double)
/* X(tn, T, pn, P) for every (target label type, preds label type) pair */
#define TM__LABEL_ROW(X, tn, T) TM_LABEL_TYPES_WITH(X, tn, T)
#define TM_LABEL_LABEL_PAIRS(X)                                                               \
  TM__LABEL_ROW(X, u8, uint8_t) TM__LABEL_ROW(X, i8, int8_t) TM__LABEL_ROW(X, i16, int16_t)    \
  TM__LABEL_ROW(X, i32, int32_t) TM__LABEL_ROW(X, i64, int64_t)
/* X(tn, T, sn, F) for every (target label type, score type) pair */
#define TM__SCORE_ROW(X, tn, T) TM_SCORE_TYPES_WITH(X, tn, T)
#define TM_LABEL_SCORE_PAIRS(X)                                                               \
  TM__SCORE_ROW(X, u8, uint8_t) TM__SCORE_ROW(X, i8, int8_t) TM__SCORE_ROW(X, i16, int16_t)    \
  TM__SCORE_ROW(X, i32, int32_t) TM__SCORE_ROW(X, i64, int64_t)

/* ---- binary ------------------------------------------------------------------------------- */
/**
 * tm_binary_labels_<T>_<P>[_w]: 2x2 confusion counts from label predictions.
 * @param target  in, n labels in {0, 1}
 * @param preds   in, n labels in {0, 1}
 * @param weight  in, n float64 weights (``_w`` variants only)
 * @param n       number of rows, >= 0
 * @param has_ignore, ignore_index  skip rows whose target equals ignore_index
 * @param state   in/out, 2x2 row-major, state[t][p] += 1 (or weight)
 * @param num_threads  0 auto, 1 single, n at most n
 * Thread safety: reentrant; one writer per state.
 */
#define TM_DECL_BINARY_LABELS(tn, T, pn, P)                                                    \
  TM_API int32_t tm_binary_labels_##tn##_##pn(const T* target, const P* preds, int64_t n,      \
                                               int32_t has_ignore, int64_t ignore_index,        \
                                               int64_t* state, int32_t num_threads);           \
  TM_API int32_t tm_binary_labels_##tn##_##pn##_w(const T* target, const P* preds,             \
                                                   const double* weight, int64_t n,             \
                                                   int32_t has_ignore, int64_t ignore_index,    \
                                                   double* state, int32_t num_threads);
TM_LABEL_LABEL_PAIRS(TM_DECL_BINARY_LABELS)

/**
 * tm_binary_scores_<T>_<F>[_w]: 2x2 confusion counts from scores; a row is predicted positive
 * when (double)score >= threshold. Scores must be finite.
 * @param scores     in, n float32/float64 scores
 * @param threshold  decision threshold (exact comparison in double)
 * Other parameters and thread safety as tm_binary_labels_*.
 */
#define TM_DECL_BINARY_SCORES(tn, T, sn, F)                                                    \
  TM_API int32_t tm_binary_scores_##tn##_##sn(const T* target, const F* scores, int64_t n,     \
                                               double threshold, int32_t has_ignore,            \
                                               int64_t ignore_index, int64_t* state,            \
                                               int32_t num_threads);                            \
  TM_API int32_t tm_binary_scores_##tn##_##sn##_w(const T* target, const F* scores,            \
                                                   const double* weight, int64_t n,             \
                                                   double threshold, int32_t has_ignore,        \
                                                   int64_t ignore_index, double* state,         \
                                                   int32_t num_threads);
TM_LABEL_SCORE_PAIRS(TM_DECL_BINARY_SCORES)

/* ---- multiclass --------------------------------------------------------------------------- */
/**
 * tm_multiclass_labels_<T>_<P>[_w]: KxK confusion counts, state[t][p] += 1 (or weight).
 * @param num_classes  K >= 0; labels must lie in [0, K)
 * @param state        in/out, K*K row-major
 * @param seen         in/out, K bytes or NULL; seen[t] = seen[p] = 1 for every counted row
 * Other parameters and thread safety as tm_binary_labels_*.
 */
#define TM_DECL_MULTICLASS_LABELS(tn, T, pn, P)                                                \
  TM_API int32_t tm_multiclass_labels_##tn##_##pn(const T* target, const P* preds, int64_t n,  \
                                                   int64_t num_classes, int32_t has_ignore,     \
                                                   int64_t ignore_index, int64_t* state,        \
                                                   uint8_t* seen, int32_t num_threads);         \
  TM_API int32_t tm_multiclass_labels_##tn##_##pn##_w(                                         \
      const T* target, const P* preds, const double* weight, int64_t n, int64_t num_classes,   \
      int32_t has_ignore, int64_t ignore_index, double* state, uint8_t* seen,                   \
      int32_t num_threads);
TM_LABEL_LABEL_PAIRS(TM_DECL_MULTICLASS_LABELS)

/**
 * tm_multiclass_scores_<T>_<F>[_w]: KxK confusion counts from an n x K row-major score matrix;
 * the prediction is the argmax of the row (first maximum wins). Scores of counted rows must be
 * finite. Parameters and thread safety as tm_multiclass_labels_*.
 */
#define TM_DECL_MULTICLASS_SCORES(tn, T, sn, F)                                                \
  TM_API int32_t tm_multiclass_scores_##tn##_##sn(const T* target, const F* scores, int64_t n, \
                                                   int64_t num_classes, int32_t has_ignore,     \
                                                   int64_t ignore_index, int64_t* state,        \
                                                   uint8_t* seen, int32_t num_threads);         \
  TM_API int32_t tm_multiclass_scores_##tn##_##sn##_w(                                         \
      const T* target, const F* scores, const double* weight, int64_t n, int64_t num_classes,  \
      int32_t has_ignore, int64_t ignore_index, double* state, uint8_t* seen,                   \
      int32_t num_threads);
TM_LABEL_SCORE_PAIRS(TM_DECL_MULTICLASS_SCORES)

/* ---- multilabel --------------------------------------------------------------------------- */
/**
 * tm_multilabel_labels_<T>_<P>[_w]: per-label 2x2 counts of an n x L label matrix.
 * @param target, preds  in, n x L row-major labels in {0, 1}
 * @param num_labels     L >= 0
 * @param state          in/out, L x 2 x 2, state[l][t][p] += 1 (or weight)
 * @param samples        in/out, histogram over the per-row triplet (tp, fp, fn) at
 *                       triplet_index = s(s+1)(s+2)/6 + r(r+1)/2 + fn (s = tp+fp+fn, r = fp+fn)
 * @param samples_len    length of samples, >= (L+1)(L+2)(L+3)/6
 * No ignore_index. Other parameters and thread safety as tm_binary_labels_*.
 */
#define TM_DECL_MULTILABEL_LABELS(tn, T, pn, P)                                                \
  TM_API int32_t tm_multilabel_labels_##tn##_##pn(const T* target, const P* preds, int64_t n,  \
                                                   int64_t num_labels, int64_t* state,          \
                                                   int64_t* samples, int64_t samples_len,       \
                                                   int32_t num_threads);                        \
  TM_API int32_t tm_multilabel_labels_##tn##_##pn##_w(                                         \
      const T* target, const P* preds, const double* weight, int64_t n, int64_t num_labels,    \
      double* state, double* samples, int64_t samples_len, int32_t num_threads);
TM_LABEL_LABEL_PAIRS(TM_DECL_MULTILABEL_LABELS)

/**
 * tm_multilabel_scores_<T>_<F>[_w]: as tm_multilabel_labels_*, predictions being
 * (double)score >= threshold over an n x L score matrix (scores must be finite).
 */
#define TM_DECL_MULTILABEL_SCORES(tn, T, sn, F)                                                \
  TM_API int32_t tm_multilabel_scores_##tn##_##sn(const T* target, const F* scores, int64_t n, \
                                                   int64_t num_labels, double threshold,        \
                                                   int64_t* state, int64_t* samples,            \
                                                   int64_t samples_len, int32_t num_threads);   \
  TM_API int32_t tm_multilabel_scores_##tn##_##sn##_w(                                         \
      const T* target, const F* scores, const double* weight, int64_t n, int64_t num_labels,   \
      double threshold, double* state, double* samples, int64_t samples_len,                    \
      int32_t num_threads);
TM_LABEL_SCORE_PAIRS(TM_DECL_MULTILABEL_SCORES)

/* ==== drift histograms (tallyml.drift) ========================================================= */
/**
 * tm_drift_hist_<F>: add rows [start, stop) of a row-major n_rows x n_cols matrix of scores into
 * the flat histogram `counts` (int64, counts_len = edge_offsets[groups] + groups).
 *
 * Group g reads column columns[g] and bins it with the sorted interior edges
 * edges[edge_offsets[g] .. edge_offsets[g+1]): a value's bin is the number of those edges <= it
 * (outer bins open). Its bins start at counts[edge_offsets[g] + g]. uni_scale[g] > 0 declares
 * uniform edges from uni_lo[g] (bins per unit uni_scale[g]); the result is the same, faster.
 *
 * @param validate  non-zero: a NaN/inf value anywhere in the rows (any column) returns
 *                  TM_ERR_VALUE with its (row, column) in bad[0], bad[1]; nothing is counted.
 * @return TM_OK, TM_ERR_VALUE, or TM_ERR_ARGUMENT (NULL pointer, rows outside [0, n_rows),
 *         column out of range, offsets decreasing, counts_len not matching the layout).
 * Thread safety: reentrant; concurrent calls must not share `counts` or `bad`.
 */
#define TM_DECL_DRIFT_HIST(sn, F)                                                               \
  TM_API int32_t tm_drift_hist_##sn(const F* values, int64_t n_rows, int64_t n_cols,            \
                                    int64_t start, int64_t stop, int64_t groups,                 \
                                    const int64_t* columns, const double* edges,                 \
                                    const int64_t* edge_offsets, const double* uni_lo,           \
                                    const double* uni_scale, int64_t* counts,                    \
                                    int64_t counts_len, int32_t validate, int64_t* bad);
TM_DECL_DRIFT_HIST(f32, float)
TM_DECL_DRIFT_HIST(f64, double)
/* ==== end drift histograms ===================================================================== */

/* ---- curves (streaming ROC / PR / calibration histograms) --- BEGIN curves block ----------- */
/**
 * tm_curves_binary_<T>_<F>[_w]: per-bin positive/negative score histogram of a binary batch.
 * The batch is validated (labels in {0, 1}, finite scores, scores in [0, 1] unless logits,
 * weights) before it is counted, or, on the fused AVX2 path (float32 probabilities, 1-byte labels,
 * dyadic bins, unweighted, from 65536 rows and 16 rows per bin), block by block as it is counted,
 * with hist and psum saved first and put back; either way a bad value leaves the state as it was
 * and returns TM_ERR_VALUE naming the first bad row.
 * @param target   in, n labels in {0, 1}
 * @param scores   in, n float32/float64 probabilities (or logits when logits != 0)
 * @param weight   in, n float64 weights (``_w`` variants only)
 * @param layout   in, 5 int64: kind (0 dyadic, 1 uniform), a, shift, base, half
 *                 (python/tallyml/curves/_layout.py)
 * @param eps      log-loss clipping; <= 0 skips the log-loss sum
 * @param hist     in/out, nbins x 2 row-major [bin][label], int64 (or float64 for ``_w``)
 * @param psum     in/out, nbins float64: += weight * probability
 * @param sums     in/out, 2 float64: += (weight * (t - p)^2, weight * log loss)
 * @param nbins    rows of hist; must equal the layout's bin count
 * num_threads: 0 auto, 1 single, n at most n (large batches: per-thread partial histograms;
 *   counts never depend on it, float sums up to rounding).
 * Thread safety: reentrant; one writer per state.
 */
#define TM_DECL_CURVES_BINARY(tn, T, sn, F)                                                    \
  TM_API int32_t tm_curves_binary_##tn##_##sn(                                                 \
      const T* target, const F* scores, int64_t n, int32_t has_ignore, int64_t ignore_index,   \
      const int64_t* layout, int32_t logits, double eps, int64_t* hist, double* psum,          \
      double* sums, int64_t nbins, int32_t num_threads);                                       \
  TM_API int32_t tm_curves_binary_##tn##_##sn##_w(                                             \
      const T* target, const F* scores, const double* weight, int64_t n, int32_t has_ignore,   \
      int64_t ignore_index, const int64_t* layout, int32_t logits, double eps, double* hist,   \
      double* psum, double* sums, int64_t nbins, int32_t num_threads);
TM_LABEL_SCORE_PAIRS(TM_DECL_CURVES_BINARY)

/**
 * Exact one-shot sweeps (tallyml.curves.exact): a stable LSD radix sort of the scores with the
 * labels (and weights) as payload, then one pass. Temporary memory about 2 * n * (sizeof(F) + 1
 * [+ 8 weighted]) bytes. -0.0 and 0.0 are one score; +-inf sort at the ends; NaN is rejected
 * (TM_ERR_VALUE). Results do not depend on num_threads (0 auto, 1 single, n at most n).
 *
 * tm_curves_auc_<F>: ROC AUC of unweighted labels y_pos (0 negative, else positive).
 *   @param auc   out, the area (trapezoid rule on ties); NaN when a class is absent
 *   @param n_pos out, number of positives
 * tm_curves_ap_<F>: sklearn's average precision of unweighted labels.
 *   @param ap    out, sum over distinct scores (highest first) of dTP/P * TP/(TP+FP); 0 when
 *                there is no positive
 * tm_curves_sweep_<F>: cumulative counts at each distinct score, highest first (sklearn's
 *   confusion_matrix_at_thresholds); weight may be NULL.
 *   @param fps, tps, thresholds  out, n float64 each; the first *m are written
 * Thread safety: reentrant; inputs are only read.
 */
#define TM_DECL_CURVES_EXACT(sn, F)                                                             \
  TM_API int32_t tm_curves_auc_##sn(const uint8_t* y_pos, const F* scores, int64_t n,           \
                                    double* auc, int64_t* n_pos, int32_t num_threads);          \
  TM_API int32_t tm_curves_ap_##sn(const uint8_t* y_pos, const F* scores, int64_t n,            \
                                   double* ap, int64_t* n_pos, int32_t num_threads);            \
  TM_API int32_t tm_curves_sweep_##sn(const uint8_t* y_pos, const F* scores,                    \
                                      const double* weight, int64_t n, double* fps,             \
                                      double* tps, double* thresholds, int64_t* m,              \
                                      int32_t num_threads);
TM_DECL_CURVES_EXACT(f32, float)
TM_DECL_CURVES_EXACT(f64, double)
/* ---- END curves block ----------------------------------------------------------------------- */

/* ==== BEGIN estimation (CBPE): expected confusion counts from scores, no labels ================
 * Contract: python/tallyml/estimation/_kernels_numpy.py; kernels in csrc/src/expected.cpp.
 * Every output is float64 and caller-owned; nothing is added unless the whole batch is valid.
 * On bad data the functions return TM_ERR_VALUE and fill err[3] = {code, row, col} (code 1: not
 * finite, 2: outside [0, 1], 3: multiclass row sum off by more than sum_tol; col -1 for a 1-D
 * argument or a row); tm_last_error() holds a short message. Single-threaded; thread-safe for
 * distinct outputs. Calibration: mode 0 none, 1 step table of table_len bins, 2 linear table of
 * table_len nodes (one row of table_len per class/label for multiclass and multilabel).
 */

/**
 * tm_expected_binary_<F>: scores (n,), prediction (double)score >= cut, probability the score
 * (logits = 0, must lie in [0, 1]) or sigmoid(score), then calibrated.
 * @param[in,out] state (2, 2) expected counts [true][pred]; var (2,) per predicted column;
 *                hist (3, num_bins) expected positives, negatives, variance per score bin
 *                (may be NULL when num_bins = 0).
 */
#define TM_DECL_EXPECTED_BINARY(sn, F)                                                         \
  TM_API int32_t tm_expected_binary_##sn(const F* scores, int64_t n, double cut, int32_t logits, \
                                         const double* table, int64_t table_len, int32_t mode,   \
                                         double* state, double* var, double* hist,               \
                                         int64_t num_bins, int64_t* err);
TM_DECL_EXPECTED_BINARY(f32, float)
TM_DECL_EXPECTED_BINARY(f64, double)

/**
 * tm_expected_multiclass_<F>: scores (n, k) row-major; prediction the first argmax of the raw
 * row; probabilities the row (logits = 0: values in [0, 1], sum within sum_tol of 1) or its
 * softmax, calibrated per class and renormalised.
 * @param[in,out] state (k, k) expected counts; moments (2, k, k): sum p_c^2 and sum p_c p_pred
 *                per cell; hist (k, 3, num_bins) per class (may be NULL when num_bins = 0).
 */
#define TM_DECL_EXPECTED_MULTICLASS(sn, F)                                                      \
  TM_API int32_t tm_expected_multiclass_##sn(                                                   \
      const F* scores, int64_t n, int64_t k, int32_t logits, double sum_tol, const double* table, \
      int64_t table_len, int32_t mode, double* state, double* moments, double* hist,             \
      int64_t num_bins, int64_t* err);
TM_DECL_EXPECTED_MULTICLASS(f32, float)
TM_DECL_EXPECTED_MULTICLASS(f64, double)

/**
 * tm_expected_multilabel_<F>: scores (n, l) row-major, every label as in tm_expected_binary_*.
 * @param[in,out] state (l, 2, 2); var (l, 2); subset (2,) expected subset accuracy sum and its
 *                variance sum; hist (l, 3, num_bins) (may be NULL when num_bins = 0).
 */
#define TM_DECL_EXPECTED_MULTILABEL(sn, F)                                                      \
  TM_API int32_t tm_expected_multilabel_##sn(                                                   \
      const F* scores, int64_t n, int64_t l, double cut, int32_t logits, const double* table,    \
      int64_t table_len, int32_t mode, double* state, double* var, double* subset, double* hist, \
      int64_t num_bins, int64_t* err);
TM_DECL_EXPECTED_MULTILABEL(f32, float)
TM_DECL_EXPECTED_MULTILABEL(f64, double)
/* ==== END estimation ============================================================================ */

/* ==== BEGIN latency histogram (tallyml.monitoring.LatencyTracker) ============================= */
/**
 * tm_loghist_f64: add n durations (seconds) into a log-bucketed histogram:
 * bucket 0 for zero, else clamp(floor(log10(v) * per_decade) + offset, 1, num_bins - 1)
 * (python/tallyml/monitoring/_loghist.py). Every value is checked first (finite, >= 0): on a bad
 * one nothing is written, *bad is its position and TM_ERR_VALUE is returned.
 * @param counts in/out, num_bins int64
 * @param stats  in/out, 3 float64: sum (+=), min, max
 * @param bad    out, first bad position or -1
 * Thread safety: reentrant; one writer per histogram.
 */
TM_API int32_t tm_loghist_f64(const double* values, int64_t n, double per_decade, int64_t offset,
                              int64_t num_bins, int64_t* counts, double* stats, int64_t* bad);
/* ==== END latency histogram ================================================================== */

#ifdef __cplusplus
}
#endif

#endif /* TALLYML_TALLYML_H_ */
