// Typed counting kernels behind the C ABI. Arguments are already checked by abi.cpp (non-NULL,
// non-negative sizes); these own the value checks and the counting. Each returns TM_OK or
// TM_ERR_VALUE (message set), and may throw std::bad_alloc / std::system_error.
// S is int64_t (unweighted, weight == nullptr) or double (weighted).
#pragma once

#include <cstdint>

namespace tallyml {

template <class T, class P, class S>
int binary_labels(const T* target, const P* preds, const double* weight, int64_t n,
                  int32_t has_ignore, int64_t ignore_index, S* state, int32_t num_threads);
template <class T, class F, class S>
int binary_scores(const T* target, const F* scores, const double* weight, int64_t n,
                  double threshold, int32_t has_ignore, int64_t ignore_index, S* state,
                  int32_t num_threads);

template <class T, class P, class S>
int multiclass_labels(const T* target, const P* preds, const double* weight, int64_t n,
                      int64_t num_classes, int32_t has_ignore, int64_t ignore_index, S* state,
                      uint8_t* seen, int32_t num_threads);
template <class T, class F, class S>
int multiclass_scores(const T* target, const F* scores, const double* weight, int64_t n,
                      int64_t num_classes, int32_t has_ignore, int64_t ignore_index, S* state,
                      uint8_t* seen, int32_t num_threads);

template <class T, class P, class S>
int multilabel_labels(const T* target, const P* preds, const double* weight, int64_t n,
                      int64_t num_labels, S* state, S* samples, int32_t num_threads);
template <class T, class F, class S>
int multilabel_scores(const T* target, const F* scores, const double* weight, int64_t n,
                      int64_t num_labels, double threshold, S* state, S* samples,
                      int32_t num_threads);

}  // namespace tallyml
