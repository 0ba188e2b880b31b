// The C ABI: every extern "C" entry point, its argument checks and its error handling. Each body
// runs inside guarded(), which turns any C++ exception into an error code plus a message, so no
// exception ever crosses the boundary.
#include <cstdint>
#include <exception>
#include <new>

#include "common.hpp"
#include "kernels.hpp"
#include "tallyml/tallyml.h"

#ifndef TALLYML_VERSION
#error "TALLYML_VERSION must be defined by the build"
#endif

namespace tallyml {
const char* last_error();
}

namespace {

using namespace tallyml;

template <class Fn>
int32_t guarded(Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    set_error("out of memory");
    return TM_ERR_MEMORY;
  } catch (const std::exception& e) {
    set_error("internal error: %s", e.what());
    return TM_ERR_INTERNAL;
  } catch (...) {
    set_error("internal error: unknown exception");
    return TM_ERR_INTERNAL;
  }
}

// Argument checks shared by the entry points; each sets the message and returns false.
bool need(const void* ptr, const char* name) {
  if (ptr) return true;
  set_error("%s is NULL", name);
  return false;
}
bool non_negative(int64_t v, const char* name) {
  if (v >= 0) return true;
  set_error("%s must be >= 0, got %lld", name, static_cast<long long>(v));
  return false;
}
bool common_args(const void* target, const void* preds, const void* weight, bool weighted,
                 int64_t n, const void* state, int32_t num_threads) {
  return need(target, "target") && need(preds, "preds") &&
         (!weighted || need(weight, "sample_weight")) && need(state, "state") &&
         non_negative(n, "n") && non_negative(num_threads, "num_threads");
}
// K x K states must be addressable: K up to 2^31 keeps K * K within int64.
bool size_arg(int64_t v, const char* name, int64_t limit) {
  if (!non_negative(v, name)) return false;
  if (v <= limit) return true;
  set_error("%s = %lld is too large (at most %lld)", name, static_cast<long long>(v),
            static_cast<long long>(limit));
  return false;
}
constexpr int64_t kMaxClasses = int64_t{1} << 31;
constexpr int64_t kMaxLabels = int64_t{1} << 20;

}  // namespace

extern "C" {

TM_API const char* tm_last_error(void) { return tallyml::last_error(); }
TM_API const char* tm_version(void) { return TALLYML_VERSION; }
TM_API int32_t tm_simd_level(void) { return tallyml::simd_level(); }
TM_API int32_t tm_set_simd_level(int32_t level) {
  const int rc = tallyml::set_simd_level(level);
  if (rc != TM_OK) set_error("SIMD level %d is not available on this CPU", level);
  return rc;
}

#define TM_DEF_BINARY_LABELS(tn, T, pn, P)                                                    \
  TM_API int32_t tm_binary_labels_##tn##_##pn(const T* target, const P* preds, int64_t n,     \
                                               int32_t has_ignore, int64_t ignore_index,       \
                                               int64_t* state, int32_t num_threads) {         \
    return guarded([&] {                                                                      \
      if (!common_args(target, preds, nullptr, false, n, state, num_threads))                 \
        return int(TM_ERR_ARGUMENT);                                                          \
      return binary_labels<T, P, int64_t>(target, preds, nullptr, n, has_ignore,              \
                                          ignore_index, state, num_threads);                  \
    });                                                                                       \
  }                                                                                           \
  TM_API int32_t tm_binary_labels_##tn##_##pn##_w(const T* target, const P* preds,            \
                                                   const double* weight, int64_t n,            \
                                                   int32_t has_ignore, int64_t ignore_index,   \
                                                   double* state, int32_t num_threads) {      \
    return guarded([&] {                                                                      \
      if (!common_args(target, preds, weight, true, n, state, num_threads))                   \
        return int(TM_ERR_ARGUMENT);                                                          \
      return binary_labels<T, P, double>(target, preds, weight, n, has_ignore, ignore_index,  \
                                         state, num_threads);                                 \
    });                                                                                       \
  }
TM_LABEL_LABEL_PAIRS(TM_DEF_BINARY_LABELS)

#define TM_DEF_BINARY_SCORES(tn, T, sn, F)                                                    \
  TM_API int32_t tm_binary_scores_##tn##_##sn(const T* target, const F* scores, int64_t n,    \
                                               double threshold, int32_t has_ignore,           \
                                               int64_t ignore_index, int64_t* state,           \
                                               int32_t num_threads) {                          \
    return guarded([&] {                                                                      \
      if (!common_args(target, scores, nullptr, false, n, state, num_threads))                \
        return int(TM_ERR_ARGUMENT);                                                          \
      return binary_scores<T, F, int64_t>(target, scores, nullptr, n, threshold, has_ignore,  \
                                          ignore_index, state, num_threads);                  \
    });                                                                                       \
  }                                                                                           \
  TM_API int32_t tm_binary_scores_##tn##_##sn##_w(const T* target, const F* scores,           \
                                                   const double* weight, int64_t n,            \
                                                   double threshold, int32_t has_ignore,       \
                                                   int64_t ignore_index, double* state,        \
                                                   int32_t num_threads) {                      \
    return guarded([&] {                                                                      \
      if (!common_args(target, scores, weight, true, n, state, num_threads))                  \
        return int(TM_ERR_ARGUMENT);                                                          \
      return binary_scores<T, F, double>(target, scores, weight, n, threshold, has_ignore,    \
                                         ignore_index, state, num_threads);                   \
    });                                                                                       \
  }
TM_LABEL_SCORE_PAIRS(TM_DEF_BINARY_SCORES)

// Multiclass labels and scores share their signature; `what` is labels or scores.
#define TM_DEF_MULTICLASS(what, tn, T, pn, P)                                                 \
  TM_API int32_t tm_multiclass_##what##_##tn##_##pn(                                          \
      const T* target, const P* preds, int64_t n, int64_t num_classes, int32_t has_ignore,    \
      int64_t ignore_index, int64_t* state, uint8_t* seen, int32_t num_threads) {             \
    return guarded([&] {                                                                      \
      if (!common_args(target, preds, nullptr, false, n, state, num_threads) ||               \
          !size_arg(num_classes, "num_classes", kMaxClasses))                                 \
        return int(TM_ERR_ARGUMENT);                                                          \
      return multiclass_##what<T, P, int64_t>(target, preds, nullptr, n, num_classes,         \
                                              has_ignore, ignore_index, state, seen,          \
                                              num_threads);                                   \
    });                                                                                       \
  }                                                                                           \
  TM_API int32_t tm_multiclass_##what##_##tn##_##pn##_w(                                      \
      const T* target, const P* preds, const double* weight, int64_t n, int64_t num_classes,  \
      int32_t has_ignore, int64_t ignore_index, double* state, uint8_t* seen,                  \
      int32_t num_threads) {                                                                   \
    return guarded([&] {                                                                      \
      if (!common_args(target, preds, weight, true, n, state, num_threads) ||                 \
          !size_arg(num_classes, "num_classes", kMaxClasses))                                 \
        return int(TM_ERR_ARGUMENT);                                                          \
      return multiclass_##what<T, P, double>(target, preds, weight, n, num_classes,           \
                                             has_ignore, ignore_index, state, seen,           \
                                             num_threads);                                    \
    });                                                                                       \
  }
#define TM_DEF_MULTICLASS_LABELS(tn, T, pn, P) TM_DEF_MULTICLASS(labels, tn, T, pn, P)
#define TM_DEF_MULTICLASS_SCORES(tn, T, pn, P) TM_DEF_MULTICLASS(scores, tn, T, pn, P)
TM_LABEL_LABEL_PAIRS(TM_DEF_MULTICLASS_LABELS)
TM_LABEL_SCORE_PAIRS(TM_DEF_MULTICLASS_SCORES)

// Multilabel: the samples histogram must hold every triplet of L labels.
#define TM_MULTILABEL_CHECKS(weighted)                                                        \
  if (!common_args(target, preds, weight, weighted, n, state, num_threads) ||                 \
      !need(samples, "samples") || !size_arg(num_labels, "num_labels", kMaxLabels))           \
    return int(TM_ERR_ARGUMENT);                                                              \
  if (samples_len < triplet_bins(num_labels)) {                                               \
    set_error("samples has %lld bins, %lld labels need %lld",                                 \
              static_cast<long long>(samples_len), static_cast<long long>(num_labels),        \
              static_cast<long long>(triplet_bins(num_labels)));                              \
    return int(TM_ERR_ARGUMENT);                                                              \
  }

#define TM_DEF_MULTILABEL_LABELS(tn, T, pn, P)                                                \
  TM_API int32_t tm_multilabel_labels_##tn##_##pn(const T* target, const P* preds, int64_t n, \
                                                   int64_t num_labels, int64_t* state,         \
                                                   int64_t* samples, int64_t samples_len,      \
                                                   int32_t num_threads) {                      \
    return guarded([&] {                                                                      \
      const double* weight = nullptr;                                                         \
      TM_MULTILABEL_CHECKS(false)                                                             \
      return multilabel_labels<T, P, int64_t>(target, preds, weight, n, num_labels, state,    \
                                              samples, num_threads);                          \
    });                                                                                       \
  }                                                                                           \
  TM_API int32_t tm_multilabel_labels_##tn##_##pn##_w(                                        \
      const T* target, const P* preds, const double* weight, int64_t n, int64_t num_labels,   \
      double* state, double* samples, int64_t samples_len, int32_t num_threads) {              \
    return guarded([&] {                                                                      \
      TM_MULTILABEL_CHECKS(true)                                                              \
      return multilabel_labels<T, P, double>(target, preds, weight, n, num_labels, state,     \
                                             samples, num_threads);                           \
    });                                                                                       \
  }
TM_LABEL_LABEL_PAIRS(TM_DEF_MULTILABEL_LABELS)

#define TM_DEF_MULTILABEL_SCORES(tn, T, sn, F)                                                \
  TM_API int32_t tm_multilabel_scores_##tn##_##sn(                                            \
      const T* target, const F* preds, int64_t n, int64_t num_labels, double threshold,       \
      int64_t* state, int64_t* samples, int64_t samples_len, int32_t num_threads) {           \
    return guarded([&] {                                                                      \
      const double* weight = nullptr;                                                         \
      TM_MULTILABEL_CHECKS(false)                                                             \
      return multilabel_scores<T, F, int64_t>(target, preds, weight, n, num_labels,           \
                                              threshold, state, samples, num_threads);        \
    });                                                                                       \
  }                                                                                           \
  TM_API int32_t tm_multilabel_scores_##tn##_##sn##_w(                                        \
      const T* target, const F* preds, const double* weight, int64_t n, int64_t num_labels,   \
      double threshold, double* state, double* samples, int64_t samples_len,                   \
      int32_t num_threads) {                                                                   \
    return guarded([&] {                                                                      \
      TM_MULTILABEL_CHECKS(true)                                                              \
      return multilabel_scores<T, F, double>(target, preds, weight, n, num_labels, threshold, \
                                             state, samples, num_threads);                    \
    });                                                                                       \
  }
TM_LABEL_SCORE_PAIRS(TM_DEF_MULTILABEL_SCORES)

// ==== BEGIN estimation (CBPE) =====================================================================
// Expected confusion counts from scores (csrc/src/expected.hpp); see the header for the contract.
}  // extern "C"

#include "expected.hpp"

namespace {

bool expected_args(const void* scores, int64_t n, int64_t width, const double* table,
                   int64_t table_len, int32_t mode, const double* const* outs, int n_outs,
                   const double* hist, int64_t num_bins, const int64_t* err) {
  if (!need(scores, "scores") || !need(err, "err") || !non_negative(n, "n") ||
      !non_negative(num_bins, "num_bins") || !size_arg(width, "width", kMaxLabels))
    return false;
  for (int i = 0; i < n_outs; ++i)
    if (!need(outs[i], "state")) return false;
  if (num_bins > 0 && !need(hist, "hist")) return false;
  if (mode < 0 || mode > 2) {
    set_error("mode must be 0, 1 or 2, got %d", mode);
    return false;
  }
  if (mode != 0 && (!need(table, "table") || table_len < (mode == 2 ? 2 : 1))) {
    if (table) set_error("table_len = %lld is too small for mode %d",
                         static_cast<long long>(table_len), mode);
    return false;
  }
  return true;
}

int32_t expected_result(const expected::Err& e, int64_t* err) {
  if (!e.code) return TM_OK;
  err[0] = e.code;
  err[1] = e.row;
  err[2] = e.col;
  set_error("scores[%lld] holds a bad value (code %lld)", static_cast<long long>(e.row),
            static_cast<long long>(e.code));
  return TM_ERR_VALUE;
}

}  // namespace

extern "C" {

#define TM_DEF_EXPECTED(sn, F)                                                                  \
  TM_API int32_t tm_expected_binary_##sn(const F* scores, int64_t n, double cut, int32_t logits, \
                                         const double* table, int64_t table_len, int32_t mode,   \
                                         double* state, double* var, double* hist,               \
                                         int64_t num_bins, int64_t* err) {                       \
    return guarded([&] {                                                                        \
      const double* outs[] = {state, var};                                                      \
      if (!expected_args(scores, n, 1, table, table_len, mode, outs, 2, hist, num_bins, err))   \
        return int32_t{TM_ERR_ARGUMENT};                                                        \
      return expected_result(expected::binary(scores, n, cut, logits != 0, table, table_len,    \
                                              mode, state, var, hist, num_bins), err);          \
    });                                                                                         \
  }                                                                                             \
  TM_API int32_t tm_expected_multiclass_##sn(                                                   \
      const F* scores, int64_t n, int64_t k, int32_t logits, double sum_tol, const double* table, \
      int64_t table_len, int32_t mode, double* state, double* moments, double* hist,             \
      int64_t num_bins, int64_t* err) {                                                          \
    return guarded([&] {                                                                        \
      const double* outs[] = {state, moments};                                                  \
      if (!expected_args(scores, n, k, table, table_len, mode, outs, 2, hist, num_bins, err))   \
        return int32_t{TM_ERR_ARGUMENT};                                                        \
      if (k < 1) {                                                                              \
        set_error("k must be >= 1, got %lld", static_cast<long long>(k));                       \
        return int32_t{TM_ERR_ARGUMENT};                                                        \
      }                                                                                         \
      return expected_result(expected::multiclass(scores, n, k, logits != 0, sum_tol, table,    \
                                                  table_len, mode, state, moments, hist,        \
                                                  num_bins), err);                              \
    });                                                                                         \
  }                                                                                             \
  TM_API int32_t tm_expected_multilabel_##sn(                                                   \
      const F* scores, int64_t n, int64_t l, double cut, int32_t logits, const double* table,    \
      int64_t table_len, int32_t mode, double* state, double* var, double* subset, double* hist, \
      int64_t num_bins, int64_t* err) {                                                          \
    return guarded([&] {                                                                        \
      const double* outs[] = {state, var, subset};                                              \
      if (!expected_args(scores, n, l, table, table_len, mode, outs, 3, hist, num_bins, err))   \
        return int32_t{TM_ERR_ARGUMENT};                                                        \
      return expected_result(expected::multilabel(scores, n, l, cut, logits != 0, table,        \
                                                  table_len, mode, state, var, subset, hist,    \
                                                  num_bins), err);                              \
    });                                                                                         \
  }
TM_DEF_EXPECTED(f32, float)
TM_DEF_EXPECTED(f64, double)
#undef TM_DEF_EXPECTED
// ==== END estimation ==============================================================================

}  // extern "C"

// ==== drift histograms (tallyml.drift) ============================================================
#include "histogram.hpp"

namespace {

// Layout checks: sizes, column range, monotone offsets, counts length; each sets the message.
bool hist_args(int64_t n_rows, int64_t n_cols, int64_t start, int64_t stop, int64_t groups,
               const int64_t* columns, const double* edges, const int64_t* edge_offsets,
               const double* uni_lo, const double* uni_scale, const int64_t* counts,
               int64_t counts_len, const int64_t* bad) {
  if (groups > 0 && !(need(columns, "columns") && need(uni_lo, "uni_lo") &&
                      need(uni_scale, "uni_scale")))
    return false;
  if (!(need(edge_offsets, "edge_offsets") && need(counts, "counts") && need(bad, "bad") && non_negative(n_rows, "n_rows") && non_negative(n_cols, "n_cols") &&
        non_negative(groups, "groups") && non_negative(counts_len, "counts_len")))
    return false;
  if (start < 0 || stop < start || stop > n_rows) {
    set_error("rows [%lld, %lld) are not within [0, %lld)", static_cast<long long>(start),
              static_cast<long long>(stop), static_cast<long long>(n_rows));
    return false;
  }
  if (edge_offsets[0] != 0) {
    set_error("edge_offsets[0] must be 0");
    return false;
  }
  for (int64_t g = 0; g < groups; ++g) {
    if (columns[g] < 0 || columns[g] >= n_cols) {
      set_error("columns[%lld] = %lld is outside [0, %lld)", static_cast<long long>(g),
                static_cast<long long>(columns[g]), static_cast<long long>(n_cols));
      return false;
    }
    if (edge_offsets[g + 1] < edge_offsets[g]) {
      set_error("edge_offsets must be non-decreasing");
      return false;
    }
  }
  if (edge_offsets[groups] > 0 && !need(edges, "edges")) return false;
  if (counts_len != edge_offsets[groups] + groups) {
    set_error("counts has %lld bins, the layout needs %lld", static_cast<long long>(counts_len),
              static_cast<long long>(edge_offsets[groups] + groups));
    return false;
  }
  return true;
}

}  // namespace

extern "C" {

#define TM_DEF_DRIFT_HIST(sn, F)                                                              \
  TM_API int32_t tm_drift_hist_##sn(const F* values, int64_t n_rows, int64_t n_cols,          \
                                    int64_t start, int64_t stop, int64_t groups,               \
                                    const int64_t* columns, const double* edges,               \
                                    const int64_t* edge_offsets, const double* uni_lo,         \
                                    const double* uni_scale, int64_t* counts,                  \
                                    int64_t counts_len, int32_t validate, int64_t* bad) {      \
    return guarded([&] {                                                                      \
      if ((n_rows > 0 && !need(values, "values")) ||                                          \
          !hist_args(n_rows, n_cols, start, stop, groups, columns, edges, edge_offsets,       \
                     uni_lo, uni_scale, counts, counts_len, bad))                             \
        return int(TM_ERR_ARGUMENT);                                                          \
      const HistLayout lay{groups, columns, edges, edge_offsets, uni_lo, uni_scale};          \
      return int(drift_hist<F>(values, n_cols, start, stop, lay, counts, counts_len,          \
                               validate, bad));                                               \
    });                                                                                       \
  }
TM_DEF_DRIFT_HIST(f32, float)
TM_DEF_DRIFT_HIST(f64, double)

}  // extern "C"
// ==== end drift histograms ========================================================================

// ---- BEGIN curves block (streaming ROC / PR / calibration histograms, curves.hpp) -----------
#include <algorithm>
#include <type_traits>
#include <vector>

#include "curves.hpp"
#include "rank.hpp"
#include "threads.hpp"

namespace {

// The layout must be one of the two known kinds and give exactly nbins bins.
bool curves_layout_ok(const int64_t* layout, int64_t nbins, tallyml::curves::Layout* out) {
  if (!need(layout, "layout")) return false;
  *out = {layout[0], layout[1], layout[2], layout[3], layout[4]};
  int64_t want = -1;
  if (out->kind == 0 && out->a >= 0 && out->a <= 20 && out->shift == 52 - out->a && out->half > 0)
    want = 2 * out->half + 1;
  else if (out->kind == 1 && out->a >= 1)
    want = out->a + 1;
  if (want < 0 || want != nbins) {
    set_error("layout (kind %lld, a %lld) does not describe %lld bins",
              static_cast<long long>(out->kind), static_cast<long long>(out->a),
              static_cast<long long>(nbins));
    return false;
  }
  return true;
}

// The error of the first bad row (kind from the screen), as the contract words it.
template <class T, class F>
int32_t curves_report_bad(const T* target, const F* scores, const double* weight, int64_t row,
                          int32_t kind) {
  namespace cv = tallyml::curves;
  if (kind == cv::kBadTarget) {
    report_label("target", row, -1, static_cast<int64_t>(target[row]), 2);
  } else if (kind == cv::kBadScore) {
    report_score("preds", row, -1, static_cast<double>(scores[row]));
  } else if (kind == cv::kScoreRange) {
    char v[40];
    py_float_repr(static_cast<double>(scores[row]), v, sizeof v);
    set_error("preds[%lld] = %s is outside [0, 1] (pass logits=True for unbounded scores)",
              static_cast<long long>(row), v);
  } else {
    report_weight(row, weight[row]);
  }
  return TM_ERR_VALUE;
}

// Screens a batch on nt threads (each its chunk): the first bad row's error, or TM_OK.
template <class T, class F>
int32_t curves_screen(const T* target, const F* scores, const double* weight, int64_t n, int nt,
                      int32_t has_ignore, int64_t ignore_index, int32_t logits) {
  namespace cv = tallyml::curves;
  std::vector<int64_t> bad(nt, -1);
  std::vector<int32_t> kinds(nt, cv::kOk);
  parallel_run(nt, [&](int i) {
    int64_t b, e;
    chunk_bounds(n, nt, i, &b, &e);
    const int64_t r = cv::screen_binary(target + b, scores + b, weight ? weight + b : nullptr,
                                        e - b, has_ignore != 0, ignore_index, logits != 0,
                                        &kinds[i]);
    if (r >= 0) bad[i] = r + b;
  });
  for (int i = 0; i < nt; ++i)
    if (bad[i] >= 0) return curves_report_bad(target, scores, weight, bad[i], kinds[i]);
  return TM_OK;
}

#ifdef TM_CURVES_FUSED
// The fused path screens each block right before counting it (one read of the batch) from
// kFusedMinRows rows and kFusedRowsPerBin rows per bin: there, saving the state (put back when a
// later block fails) costs less than a separate screening pass, whose second read of the batch
// misses L2 (measured, docs/curves.md). Smaller batches are screened first.
constexpr int64_t kFusedMinRows = int64_t{1} << 16;
constexpr int64_t kFusedRowsPerBin = 16;

// The fused path (curves.hpp): float32 probabilities, 1-byte labels, dyadic bins, unweighted.
template <class T>
int32_t curves_binary_fused(const T* target, const float* scores, int64_t n,
                            const tallyml::curves::Layout& L,
                            const tallyml::curves::F32Dyadic& D, double eps, int64_t* hist,
                            double* psum, double* sums, int64_t nbins, int32_t num_threads) {
  namespace cv = tallyml::curves;
  const int nt = resolve_threads(num_threads, n, 1);
  const bool fused = n >= kFusedMinRows && n / kFusedRowsPerBin >= nbins;
  std::vector<int64_t> bad(nt, -1);
  std::vector<int32_t> kinds(nt, cv::kOk);
  auto first_bad = [&]() {
    for (int i = 0; i < nt; ++i)
      if (bad[i] >= 0)
        return curves_report_bad(target, scores, static_cast<const double*>(nullptr), bad[i],
                                 kinds[i]);
    return int32_t(TM_OK);
  };
  if (!fused) {
    const int32_t rc = curves_screen(target, scores, static_cast<const double*>(nullptr), n, nt,
                                     0, 0, 0);
    if (rc) return rc;
  }
  // Thread 0 counts into the state (saved first on the fused path), the others into partial
  // counts added at the end.
  std::vector<int64_t> saved_hist;
  std::vector<double> saved_psum;
  if (fused) {
    saved_hist.assign(hist, hist + 2 * nbins);
    saved_psum.assign(psum, psum + nbins);
  }
  // (allocated before any thread counts: nothing below throws once the state is written)
  std::vector<std::vector<int64_t>> part_hist(nt - 1, std::vector<int64_t>(2 * nbins, 0));
  std::vector<std::vector<double>> part_psum(nt - 1, std::vector<double>(nbins, 0.0));
  std::vector<cv::FusedSums> part(nt);
  parallel_run(nt, [&](int i) {
    int64_t b, e;
    chunk_bounds(n, nt, i, &b, &e);
    const int64_t r = cv::fused_binary_f32(target + b, scores + b, e - b, L, D, eps,
                                           i == 0 ? hist : part_hist[i - 1].data(),
                                           i == 0 ? psum : part_psum[i - 1].data(), &part[i],
                                           &kinds[i]);
    if (r >= 0) bad[i] = r + b;
  });
  if (const int32_t rc = first_bad()) {  // only on the fused path: put the state back
    std::copy(saved_hist.begin(), saved_hist.end(), hist);
    std::copy(saved_psum.begin(), saved_psum.end(), psum);
    return rc;
  }
  for (int i = 0; i < nt; ++i) {
    if (i > 0) {
      for (int64_t j = 0; j < 2 * nbins; ++j) hist[j] += part_hist[i - 1][j];
      for (int64_t j = 0; j < nbins; ++j) psum[j] += part_psum[i - 1][j];
    }
    sums[0] += part[i].brier;
    sums[1] += part[i].logloss;
  }
  return TM_OK;
}
#endif

template <class T, class F, class H>
int32_t curves_binary(const T* target, const F* scores, const double* weight, int64_t n,
                      int32_t has_ignore, int64_t ignore_index, const int64_t* layout,
                      int32_t logits, double eps, H* hist, double* psum, double* sums,
                      int64_t nbins, int32_t num_threads) {
  namespace cv = tallyml::curves;
  if (!common_args(target, scores, weight, weight != nullptr, n, hist, num_threads) ||
      !need(psum, "psum") || !need(sums, "sums"))
    return TM_ERR_ARGUMENT;
  cv::Layout L;
  if (!curves_layout_ok(layout, nbins, &L)) return TM_ERR_ARGUMENT;
#ifdef TM_CURVES_FUSED
  if constexpr (sizeof(T) == 1 && std::is_same_v<F, float> && std::is_same_v<H, int64_t>) {
    cv::F32Dyadic D;
    // eps bounds the likelihood factors from below (the product chains renormalise every 16)
    if (weight == nullptr && has_ignore == 0 && logits == 0 && use_avx2() &&
        cv::f32_dyadic(L, &D) && (eps == 0.0 || eps >= 0x1p-60))
      return curves_binary_fused(target, scores, n, L, D, eps, hist, psum, sums, nbins,
                                 num_threads);
  }
#endif
  // Several threads for large batches: each validates its chunk, then thread 0 counts into the
  // state and the others into private partial histograms that are added at the end.
  const int nt = resolve_threads(num_threads, n, 1);
  if (const int32_t rc = curves_screen(target, scores, weight, n, nt, has_ignore, ignore_index,
                                       logits))
    return rc;
  if (nt == 1) {
    cv::count_binary(target, scores, weight, n, has_ignore != 0, ignore_index, L, logits != 0,
                     eps, hist, psum, sums);
    return TM_OK;
  }
  std::vector<std::vector<H>> part_hist(nt - 1, std::vector<H>(2 * nbins, H(0)));
  std::vector<std::vector<double>> part_psum(nt - 1, std::vector<double>(nbins, 0.0));
  std::vector<std::vector<double>> part_sums(nt - 1, std::vector<double>(2, 0.0));
  parallel_run(nt, [&](int i) {
    int64_t b, e;
    chunk_bounds(n, nt, i, &b, &e);
    H* h = i == 0 ? hist : part_hist[i - 1].data();
    double* ps = i == 0 ? psum : part_psum[i - 1].data();
    double* sm = i == 0 ? sums : part_sums[i - 1].data();
    cv::count_binary(target + b, scores + b, weight ? weight + b : nullptr, e - b,
                     has_ignore != 0, ignore_index, L, logits != 0, eps, h, ps, sm);
  });
  for (int i = 0; i < nt - 1; ++i) {
    for (int64_t j = 0; j < 2 * nbins; ++j) hist[j] += part_hist[i][j];
    for (int64_t j = 0; j < nbins; ++j) psum[j] += part_psum[i][j];
    sums[0] += part_sums[i][0];
    sums[1] += part_sums[i][1];
  }
  return TM_OK;
}

}  // namespace

extern "C" {

#define TM_DEF_CURVES_BINARY(tn, T, sn, F)                                                    \
  TM_API int32_t tm_curves_binary_##tn##_##sn(                                                \
      const T* target, const F* scores, int64_t n, int32_t has_ignore, int64_t ignore_index,  \
      const int64_t* layout, int32_t logits, double eps, int64_t* hist, double* psum,         \
      double* sums, int64_t nbins, int32_t num_threads) {                                     \
    return guarded([&] {                                                                      \
      return curves_binary<T, F, int64_t>(target, scores, nullptr, n, has_ignore,             \
                                          ignore_index, layout, logits, eps, hist, psum,      \
                                          sums, nbins, num_threads);                          \
    });                                                                                       \
  }                                                                                           \
  TM_API int32_t tm_curves_binary_##tn##_##sn##_w(                                            \
      const T* target, const F* scores, const double* weight, int64_t n, int32_t has_ignore,  \
      int64_t ignore_index, const int64_t* layout, int32_t logits, double eps, double* hist,  \
      double* psum, double* sums, int64_t nbins, int32_t num_threads) {                       \
    return guarded([&] {                                                                      \
      if (!need(weight, "sample_weight")) return int32_t(TM_ERR_ARGUMENT);                    \
      return curves_binary<T, F, double>(target, scores, weight, n, has_ignore, ignore_index, \
                                         layout, logits, eps, hist, psum, sums, nbins,        \
                                         num_threads);                                        \
    });                                                                                       \
  }
TM_LABEL_SCORE_PAIRS(TM_DEF_CURVES_BINARY)

// Exact sweeps (rank.cpp): radix sort of the scores, then one pass over the sorted run.
#define TM_DEF_CURVES_EXACT(sn, F)                                                             \
  TM_API int32_t tm_curves_auc_##sn(const uint8_t* y_pos, const F* scores, int64_t n,          \
                                    double* auc, int64_t* n_pos, int32_t num_threads) {        \
    return guarded([&] {                                                                       \
      if (!need(y_pos, "y_pos") || !need(scores, "scores") || !need(auc, "auc") ||             \
          !need(n_pos, "n_pos") || !non_negative(n, "n") ||                                    \
          !non_negative(num_threads, "num_threads"))                                           \
        return int32_t(TM_ERR_ARGUMENT);                                                       \
      return int32_t(tallyml::rank::auc_##sn(y_pos, scores, n, auc, n_pos,                     \
                                             resolve_threads(num_threads, n, 1)));             \
    });                                                                                        \
  }                                                                                            \
  TM_API int32_t tm_curves_ap_##sn(const uint8_t* y_pos, const F* scores, int64_t n,           \
                                   double* ap, int64_t* n_pos, int32_t num_threads) {          \
    return guarded([&] {                                                                       \
      if (!need(y_pos, "y_pos") || !need(scores, "scores") || !need(ap, "ap") ||               \
          !need(n_pos, "n_pos") || !non_negative(n, "n") ||                                    \
          !non_negative(num_threads, "num_threads"))                                           \
        return int32_t(TM_ERR_ARGUMENT);                                                       \
      return int32_t(tallyml::rank::ap_##sn(y_pos, scores, n, ap, n_pos,                       \
                                            resolve_threads(num_threads, n, 1)));              \
    });                                                                                        \
  }                                                                                            \
  TM_API int32_t tm_curves_sweep_##sn(const uint8_t* y_pos, const F* scores,                   \
                                      const double* weight, int64_t n, double* fps,            \
                                      double* tps, double* thresholds, int64_t* m,             \
                                      int32_t num_threads) {                                   \
    return guarded([&] {                                                                       \
      if (!need(y_pos, "y_pos") || !need(scores, "scores") || !need(fps, "fps") ||             \
          !need(tps, "tps") || !need(thresholds, "thresholds") || !need(m, "m") ||             \
          !non_negative(n, "n") || !non_negative(num_threads, "num_threads"))                  \
        return int32_t(TM_ERR_ARGUMENT);                                                       \
      return int32_t(tallyml::rank::counts_##sn(y_pos, scores, weight, n, fps, tps,            \
                                                thresholds, m,                                 \
                                                resolve_threads(num_threads, n, 1)));          \
    });                                                                                        \
  }
TM_DEF_CURVES_EXACT(f32, float)
TM_DEF_CURVES_EXACT(f64, double)

}  // extern "C"
// ---- END curves block -----------------------------------------------------------------------

// ==== BEGIN latency histogram (tallyml.monitoring.LatencyTracker) =================================
#include "loghist.hpp"

extern "C" {

TM_API int32_t tm_loghist_f64(const double* values, int64_t n, double per_decade, int64_t offset,
                              int64_t num_bins, int64_t* counts, double* stats, int64_t* bad) {
  return guarded([&] {
    if (!(need(counts, "counts") && need(stats, "stats") && need(bad, "bad") &&
          non_negative(n, "n")) || (n > 0 && !need(values, "values")))
      return int32_t(TM_ERR_ARGUMENT);
    if (num_bins < 2 || offset < 1 || offset >= num_bins || !(per_decade > 0.0)) {
      set_error("bad histogram layout: num_bins %lld, offset %lld, per_decade %g",
                static_cast<long long>(num_bins), static_cast<long long>(offset), per_decade);
      return int32_t(TM_ERR_ARGUMENT);
    }
    const LogHistLayout lay{per_decade, offset, num_bins - 1};
    *bad = loghist_count(values, n, lay, counts, stats);
    if (*bad >= 0) {
      set_error("durations[%lld] is not a finite duration >= 0", static_cast<long long>(*bad));
      return int32_t(TM_ERR_VALUE);
    }
    return int32_t(TM_OK);
  });
}

}  // extern "C"
// ==== END latency histogram =======================================================================
