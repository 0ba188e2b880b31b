// Exact threshold sweeps for the one-shot curve functions (tallyml.curves.exact): a stable LSD
// radix sort of the scores carrying the labels (and weights) as payload, then one streaming pass
// over the sorted run. Replaces numpy's argsort / split-and-sort on the path of roc_auc_score,
// average_precision_score and the exact curves.
//
// Scores must be finite or +-inf (NaN is rejected by the caller; it would sort above +inf).
// -0.0 and 0.0 are one value (they compare equal, as in sklearn's np.diff of the sorted scores).
// Temporary memory: about 2 * n * (key + 1 [+ 8 when weighted]) bytes for the sort.
#pragma once

#include <cstdint>

namespace tallyml {
namespace rank {

// ROC AUC of an unweighted binary problem (labels 0/1): the trapezoid area between the
// distinct scores, as an exact integer 2 * area * P * N divided once. n_pos receives P; the AUC
// is NaN when a class is absent.
int auc_f32(const uint8_t* y, const float* s, int64_t n, double* auc, int64_t* n_pos, int threads);
int auc_f64(const uint8_t* y, const double* s, int64_t n, double* auc, int64_t* n_pos, int threads);

// sklearn's average precision of an unweighted problem: sum over distinct scores, highest
// first, of (dTP / P) * TP / (TP + FP). 0 when there is no positive (n_pos tells the caller).
int ap_f32(const uint8_t* y, const float* s, int64_t n, double* ap, int64_t* n_pos, int threads);
int ap_f64(const uint8_t* y, const double* s, int64_t n, double* ap, int64_t* n_pos, int threads);

// Cumulative (fps, tps, threshold) at each distinct score, highest first (sklearn's
// confusion_matrix_at_thresholds); weight may be NULL. fps/tps/thr hold n; *m receives the
// number of distinct scores written.
int counts_f32(const uint8_t* y, const float* s, const double* w, int64_t n, double* fps,
               double* tps, double* thr, int64_t* m, int threads);
int counts_f64(const uint8_t* y, const double* s, const double* w, int64_t n, double* fps,
               double* tps, double* thr, int64_t* m, int threads);

}  // namespace rank
}  // namespace tallyml
