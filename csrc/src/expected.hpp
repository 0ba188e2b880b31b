// Expected (label-free) confusion counts for performance estimation (CBPE): the kernels behind
// tm_expected_* in abi.cpp. The contract is python/tallyml/estimation/_kernels_numpy.py: for each
// score, the model's prediction (threshold or first argmax on the raw score) and its probability
// (the score, or sigmoid/softmax of logits, then an optional calibration table) add expected
// counts, Bernoulli variances and score histograms into float64 arrays owned by the caller.
//
// Nothing is added unless the whole batch is valid: rows are checked and counted block by block
// into private partial sums that reach the outputs at the end; when the partials would be larger
// than the batch, the whole batch is checked first and counted in place. A bad value returns
// TM_ERR_VALUE with err = {code, row, col} (1 not finite, 2 outside [0, 1], 3 row sum); Python
// formats the message (one wording for every backend).
//
// Single-threaded: one call counts on the calling thread (the GIL is released, so Python threads
// count batches in parallel). Sums run in 8 independent lanes so that the compiler vectorises
// them without reassociation flags; results equal the numpy reference up to summation order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common.hpp"

namespace tallyml {
namespace expected {

enum : int64_t { kOk = 0, kNotFinite = 1, kOutside = 2, kRowSum = 3 };
constexpr int64_t kRows = 4096;  // rows per block

struct Err {
  int64_t code = kOk, row = 0, col = -1;
};

TM_HOT double sigmoid(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

// Histogram / table bin of a probability in [0, 1].
TM_HOT int64_t bin_of(double p, int64_t nb) {
  const int64_t b = static_cast<int64_t>(p * static_cast<double>(nb));
  return b < nb - 1 ? b : nb - 1;
}

// mode 0: identity; 1: step table of len bins; 2: linear over len - 1 cells.
TM_HOT double calibrate(double p, const double* table, int64_t len, int32_t mode) {
  if (mode == 0) return p;
  if (mode == 1) return table[bin_of(p, len)];
  const int64_t g = len - 1;
  const int64_t b = bin_of(p, g);
  return table[b] + (table[b + 1] - table[b]) * (p * static_cast<double>(g) - static_cast<double>(b));
}

template <class F>
Err check_1d(const F* s, int64_t lo, int64_t hi, bool logits) {
  for (int64_t i = lo; i < hi; ++i) {
    const double x = static_cast<double>(s[i]);
    if (nonfinite(x)) return {kNotFinite, i, -1};
    if (!logits && !(x >= 0.0 && x <= 1.0)) return {kOutside, i, -1};
  }
  return {};
}

template <class F>
Err check_2d(const F* s, int64_t lo, int64_t hi, int64_t k, bool logits, double sum_tol,
             bool check_sum) {
  for (int64_t i = lo; i < hi; ++i) {
    const F* row = s + i * k;
    double tot = 0.0;
    for (int64_t c = 0; c < k; ++c) {
      const double x = static_cast<double>(row[c]);
      if (nonfinite(x)) return {kNotFinite, i, c};
      if (!logits && !(x >= 0.0 && x <= 1.0)) return {kOutside, i, c};
      tot += x;
    }
    if (check_sum && !logits && !(std::fabs(tot - 1.0) <= sum_tol)) return {kRowSum, i, -1};
  }
  return {};
}

// ---- binary ---------------------------------------------------------------------------------------
// acc: tn fp fn tp v0 v1 (state[0,0], state[0,1], state[1,0], state[1,1], var[0], var[1])

// Plain probabilities, no calibration, no histogram: a branch-free pass that also range-checks.
// GCC vector extensions keep six 4-lane accumulators in registers (one AVX register each in the
// AVX2 clone, two SSE2 registers in the baseline); plain scalar sums would not vectorise without
// reassociation flags.
typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4i __attribute__((vector_size(32)));
typedef double v2d __attribute__((vector_size(16)));
typedef int64_t v2i __attribute__((vector_size(16)));

template <class F, class VD, class VI, int W>
TM_HOT bool binary_plain_body(const F* s, int64_t lo, int64_t hi, double cut, double* acc) {
  VD one, zero, cutv;
  for (int j = 0; j < W; ++j) one[j] = 1.0, zero[j] = 0.0, cutv[j] = cut;
  VD a[6] = {zero, zero, zero, zero, zero, zero};
  VI bad = (VI)zero;
  int64_t i = lo;
  for (; i + W <= hi; i += W) {
    VD p;
    if constexpr (std::is_same_v<F, double>) {
      std::memcpy(&p, s + i, sizeof(p));
    } else {
      typedef float VF __attribute__((vector_size(W * 4)));
      VF f;
      std::memcpy(&f, s + i, sizeof(f));
      p = __builtin_convertvector(f, VD);
    }
    bad |= ~((p >= zero) & (p <= one));  // NaN fails both
    const VD y = (VD)((p >= cutv) & (VI)one);
    const VD q = one - p;
    const VD v = p * q;
    const VD qy = q * y, py = p * y, vy = v * y;
    a[0] += q - qy;
    a[1] += qy;
    a[2] += p - py;
    a[3] += py;
    a[4] += v - vy;
    a[5] += vy;
  }
  int64_t any_bad = 0;
  for (int j = 0; j < W; ++j) any_bad |= bad[j];
  bool ok = any_bad == 0;
  double t[6];
  for (int r = 0; r < 6; ++r) {
    t[r] = 0.0;
    for (int j = 0; j < W; ++j) t[r] += a[r][j];
  }
  for (; i < hi; ++i) {
    const double p = static_cast<double>(s[i]);
    ok &= (p >= 0.0) & (p <= 1.0);
    const double y = p >= cut ? 1.0 : 0.0;
    const double q = 1.0 - p, v = p * q;
    t[0] += q - q * y;
    t[1] += q * y;
    t[2] += p - p * y;
    t[3] += p * y;
    t[4] += v - v * y;
    t[5] += v * y;
  }
  for (int r = 0; r < 6; ++r) acc[r] += t[r];
  return ok;
}

template <class F>
bool binary_plain_base(const F* s, int64_t lo, int64_t hi, double cut, double* acc) {
  return binary_plain_body<F, v2d, v2i, 2>(s, lo, hi, cut, acc);
}
template <class F>
TM_AVX2 bool binary_plain_avx2(const F* s, int64_t lo, int64_t hi, double cut, double* acc) {
  return binary_plain_body<F, v4d, v4i, 4>(s, lo, hi, cut, acc);
}

template <class F>
void binary_general(const F* s, int64_t lo, int64_t hi, double cut, bool logits,
                    const double* table, int64_t tlen, int32_t mode, double* acc, double* hist,
                    int64_t nb) {
  for (int64_t i = lo; i < hi; ++i) {
    const double x = static_cast<double>(s[i]);
    const int y = x >= cut ? 1 : 0;
    const double praw = logits ? sigmoid(x) : x;
    const double p = calibrate(praw, table, tlen, mode);
    const double q = 1.0 - p;
    acc[y] += q;
    acc[2 + y] += p;
    acc[4 + y] += p * q;
    if (nb) {
      const int64_t b = bin_of(praw, nb);
      hist[b] += p;
      hist[nb + b] += q;
      hist[2 * nb + b] += p * q;
    }
  }
}

template <class F>
Err binary(const F* s, int64_t n, double cut, bool logits, const double* table, int64_t tlen,
           int32_t mode, double* state, double* var, double* hist, int64_t nb) {
  double acc[6] = {0, 0, 0, 0, 0, 0};
  const bool plain = !logits && mode == 0 && nb == 0;
  const bool avx2 = use_avx2();
  const bool in_place = !plain && 3 * nb > 4 * n;
  std::vector<double> part;
  double* h = hist;
  if (in_place) {
    Err e = check_1d(s, 0, n, logits);
    if (e.code) return e;
  } else if (nb) {
    part.assign(static_cast<size_t>(3 * nb), 0.0);
    h = part.data();
  }
  for (int64_t lo = 0; lo < n; lo += kRows) {
    const int64_t hi = std::min(lo + kRows, n);
    if (plain) {
      const bool ok = avx2 ? binary_plain_avx2(s, lo, hi, cut, acc)
                           : binary_plain_base(s, lo, hi, cut, acc);
      if (!ok) return check_1d(s, lo, hi, logits);
    } else {
      if (!in_place) {
        Err e = check_1d(s, lo, hi, logits);
        if (e.code) return e;
      }
      binary_general(s, lo, hi, cut, logits, table, tlen, mode, acc, h, nb);
    }
  }
  state[0] += acc[0];
  state[1] += acc[1];
  state[2] += acc[2];
  state[3] += acc[3];
  var[0] += acc[4];
  var[1] += acc[5];
  if (!in_place && nb)
    for (int64_t b = 0; b < 3 * nb; ++b) hist[b] += part[static_cast<size_t>(b)];
  return {};
}

// ---- multiclass -----------------------------------------------------------------------------------
// state (K, K) [true, pred]; moments (2, K, K); hist (K, 3, nb); table (K, tlen).

// T (transposed): the (K, K) arrays are written as [pred][class], so that one row's K additions
// are contiguous (the partials use it and are transposed once at the end); otherwise in the
// state's own [class][pred] layout.
template <bool T, class F>
TM_HOT void multiclass_body(const F* s, int64_t lo, int64_t hi, int64_t k, bool logits,
                            const double* table, int64_t tlen, int32_t mode, double* state,
                            double* moments, double* hist, int64_t nb, double* p,
                            int64_t* bins) {
  double* q2 = moments;
  double* x2 = moments + k * k;
  for (int64_t i = lo; i < hi; ++i) {
    const F* row = s + i * k;
    int64_t j = 0;
    F best = row[0];
    for (int64_t c = 1; c < k; ++c)
      if (row[c] > best) {
        best = row[c];
        j = c;
      }
    if (logits) {
      const double m = static_cast<double>(best);
      double tot = 0.0;
      for (int64_t c = 0; c < k; ++c) {
        p[c] = std::exp(static_cast<double>(row[c]) - m);
        tot += p[c];
      }
      for (int64_t c = 0; c < k; ++c) p[c] /= tot;
    } else {
      for (int64_t c = 0; c < k; ++c) p[c] = static_cast<double>(row[c]);
    }
    if (nb)
      for (int64_t c = 0; c < k; ++c) bins[c] = bin_of(p[c], nb);
    if (mode) {
      double* cal = p + k;
      double tot = 0.0;
      for (int64_t c = 0; c < k; ++c) {
        cal[c] = calibrate(p[c], table + c * tlen, tlen, mode);
        tot += cal[c];
      }
      if (tot > 0.0)
        for (int64_t c = 0; c < k; ++c) p[c] = cal[c] / tot;
    }
    const double pj = p[j];
    if constexpr (T) {
      double* st = state + j * k;
      double* qq = q2 + j * k;
      double* xx = x2 + j * k;
      for (int64_t c = 0; c < k; ++c) {
        const double pc = p[c];
        st[c] += pc;
        qq[c] += pc * pc;
        xx[c] += pc * pj;
      }
    } else {
      for (int64_t c = 0; c < k; ++c) {
        const double pc = p[c];
        state[c * k + j] += pc;
        q2[c * k + j] += pc * pc;
        x2[c * k + j] += pc * pj;
      }
    }
    if (nb)
      for (int64_t c = 0; c < k; ++c) {
        double* hc = hist + c * 3 * nb;
        const double pc = p[c];
        hc[bins[c]] += pc;
        hc[nb + bins[c]] += 1.0 - pc;
        hc[2 * nb + bins[c]] += pc * (1.0 - pc);
      }
  }
}

template <bool T, class F>
void multiclass_base(const F* s, int64_t lo, int64_t hi, int64_t k, bool logits,
                     const double* table, int64_t tlen, int32_t mode, double* state,
                     double* moments, double* hist, int64_t nb, double* p, int64_t* bins) {
  multiclass_body<T>(s, lo, hi, k, logits, table, tlen, mode, state, moments, hist, nb, p, bins);
}
template <bool T, class F>
TM_AVX2 void multiclass_avx2(const F* s, int64_t lo, int64_t hi, int64_t k, bool logits,
                             const double* table, int64_t tlen, int32_t mode, double* state,
                             double* moments, double* hist, int64_t nb, double* p,
                             int64_t* bins) {
  multiclass_body<T>(s, lo, hi, k, logits, table, tlen, mode, state, moments, hist, nb, p, bins);
}

template <class F>
Err multiclass(const F* s, int64_t n, int64_t k, bool logits, double sum_tol,
               const double* table, int64_t tlen, int32_t mode, double* state, double* moments,
               double* hist, int64_t nb) {
  const int64_t sizes = 3 * k * k + 3 * k * nb;
  const bool in_place = sizes > 4 * n * k;
  const bool avx2 = use_avx2();
  std::vector<double> p(static_cast<size_t>(2 * k));
  std::vector<int64_t> bins(static_cast<size_t>(k));
  if (in_place) {
    Err e = check_2d(s, 0, n, k, logits, sum_tol, true);
    if (e.code) return e;
    if (avx2)
      multiclass_avx2<false>(s, 0, n, k, logits, table, tlen, mode, state, moments, hist, nb,
                             p.data(), bins.data());
    else
      multiclass_base<false>(s, 0, n, k, logits, table, tlen, mode, state, moments, hist, nb,
                             p.data(), bins.data());
    return {};
  }
  std::vector<double> part(static_cast<size_t>(sizes), 0.0);
  double* st = part.data();
  double* mo = st + k * k;
  double* hs = mo + 2 * k * k;
  for (int64_t lo = 0; lo < n; lo += kRows) {
    const int64_t hi = std::min(lo + kRows, n);
    Err e = check_2d(s, lo, hi, k, logits, sum_tol, true);
    if (e.code) return e;
    if (avx2)
      multiclass_avx2<true>(s, lo, hi, k, logits, table, tlen, mode, st, mo, hs, nb, p.data(),
                            bins.data());
    else
      multiclass_base<true>(s, lo, hi, k, logits, table, tlen, mode, st, mo, hs, nb, p.data(),
                            bins.data());
  }
  // partials are [pred][class]: transpose into [class][pred]
  for (int64_t a = 0; a < 3; ++a) {
    double* out = a == 0 ? state : moments + (a - 1) * k * k;
    const double* in = st + a * k * k;
    for (int64_t c = 0; c < k; ++c)
      for (int64_t j = 0; j < k; ++j) out[c * k + j] += in[j * k + c];
  }
  for (int64_t i = 0; i < 3 * k * nb; ++i) hist[i] += hs[i];
  return {};
}

// ---- multilabel -----------------------------------------------------------------------------------
// state (L, 2, 2); var (L, 2); subset (2,); hist (L, 3, nb); table (L, tlen).

template <class F>
void multilabel_body(const F* s, int64_t lo, int64_t hi, int64_t l, double cut, bool logits,
                     const double* table, int64_t tlen, int32_t mode, double* state,
                     double* var, double* subset, double* hist, int64_t nb) {
  double s0 = 0.0, s1 = 0.0;
  for (int64_t i = lo; i < hi; ++i) {
    const F* row = s + i * l;
    double right = 1.0;
    for (int64_t c = 0; c < l; ++c) {
      const double x = static_cast<double>(row[c]);
      const int y = x >= cut ? 1 : 0;
      const double praw = logits ? sigmoid(x) : x;
      const double p = mode ? calibrate(praw, table + c * tlen, tlen, mode) : praw;
      const double q = 1.0 - p;
      state[c * 4 + y] += q;
      state[c * 4 + 2 + y] += p;
      var[c * 2 + y] += p * q;
      right *= y ? p : q;
      if (nb) {
        const int64_t b = bin_of(praw, nb);
        double* hc = hist + c * 3 * nb;
        hc[b] += p;
        hc[nb + b] += q;
        hc[2 * nb + b] += p * q;
      }
    }
    s0 += right;
    s1 += right * (1.0 - right);
  }
  subset[0] += s0;
  subset[1] += s1;
}

template <class F>
Err multilabel(const F* s, int64_t n, int64_t l, double cut, bool logits, const double* table,
               int64_t tlen, int32_t mode, double* state, double* var, double* subset,
               double* hist, int64_t nb) {
  const int64_t sizes = 4 * l + 2 * l + 2 + 3 * l * nb;
  const bool in_place = sizes > 4 * n * l;
  if (in_place) {
    Err e = check_2d(s, 0, n, l, logits, 0.0, false);
    if (e.code) return e;
    multilabel_body(s, 0, n, l, cut, logits, table, tlen, mode, state, var, subset, hist, nb);
    return {};
  }
  std::vector<double> part(static_cast<size_t>(sizes), 0.0);
  double* st = part.data();
  double* va = st + 4 * l;
  double* su = va + 2 * l;
  double* hs = su + 2;
  for (int64_t lo = 0; lo < n; lo += kRows) {
    const int64_t hi = std::min(lo + kRows, n);
    Err e = check_2d(s, lo, hi, l, logits, 0.0, false);
    if (e.code) return e;
    multilabel_body(s, lo, hi, l, cut, logits, table, tlen, mode, st, va, su, hs, nb);
  }
  for (int64_t i = 0; i < 4 * l; ++i) state[i] += st[i];
  for (int64_t i = 0; i < 2 * l; ++i) var[i] += va[i];
  subset[0] += su[0];
  subset[1] += su[1];
  for (int64_t i = 0; i < 3 * l * nb; ++i) hist[i] += hs[i];
  return {};
}

}  // namespace expected
}  // namespace tallyml
