// Expected (label-free) confusion counts for performance estimation (CBPE): the kernels behind
// tm_expected_* in abi.cpp, implemented in expected.cpp. The contract is
// python/tallyml/estimation/_kernels_numpy.py: for each score, the model's prediction (threshold
// or first argmax on the raw score) and its probability (the score, or sigmoid/softmax of logits,
// then an optional calibration table) add expected counts, Bernoulli variances and score
// histograms into float64 arrays owned by the caller.
//
// Nothing is added unless the whole batch is valid: rows are checked while they are counted, in
// blocks, into private partial sums that reach the outputs at the end (a flagged block is rescanned
// to name the first bad value). When the partials would be larger than the batch (small updates),
// the whole batch is checked first and counted in place. A bad value returns TM_ERR_VALUE with
// err = {code, row, col} (1 not finite, 2 outside [0, 1], 3 row sum); Python formats the message
// (one wording for every backend).
//
// Single-threaded: one call counts on the calling thread (the GIL is released, so Python threads
// count batches in parallel). Float sums are formed in a fixed order for a given batch (no
// threads, no reassociation flags); they equal the numpy reference up to summation order.
#pragma once

#include <cstdint>

namespace tallyml {
namespace expected {

enum : int64_t { kOk = 0, kNotFinite = 1, kOutside = 2, kRowSum = 3 };

struct Err {
  int64_t code = kOk, row = 0, col = -1;
};

// state (2, 2) [true][pred]; var (2,); hist (3, nb); table (tlen,), mode 0/1/2.
template <class F>
Err binary(const F* s, int64_t n, double cut, bool logits, const double* table, int64_t tlen,
           int32_t mode, double* state, double* var, double* hist, int64_t nb);

// state (K, K) [true, pred]; moments (2, K, K); hist (K, 3, nb); table (K, tlen).
template <class F>
Err multiclass(const F* s, int64_t n, int64_t k, bool logits, double sum_tol,
               const double* table, int64_t tlen, int32_t mode, double* state, double* moments,
               double* hist, int64_t nb);

// state (L, 2, 2); var (L, 2); subset (2,); hist (L, 3, nb); table (L, tlen).
template <class F>
Err multilabel(const F* s, int64_t n, int64_t l, double cut, bool logits, const double* table,
               int64_t tlen, int32_t mode, double* state, double* var, double* subset,
               double* hist, int64_t nb);

}  // namespace expected
}  // namespace tallyml
