// Curve histogram kernels (streaming ROC / PR / calibration): bin index of a score under the
// dyadic or uniform layout (python/tallyml/curves/_layout.py defines both), validation of a
// batch, and the counting pass. Header-only; the extern "C" entry points that instantiate these
// templates live in the ABI file (marked "curves" block).
//
// Contract (same as the numba kernels in python/tallyml/curves/_kernels_numba.py):
//  * first_bad_* scans the batch and reports the first bad sample (row, kind); nothing is
//    written. count_* assumes a validated batch and adds into caller-owned state arrays.
//  * state: hist (nbins, 2) [bin, label] int64 (unweighted) or double (weighted); psum (nbins)
//    += w * p; sums[0] += w (t - p)^2; sums[1] += w * logloss.
//  * Integer counts are exact and identical across backends; float sums agree to rounding.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace tallyml {
namespace curves {

enum BadKind : int32_t { kOk = 0, kBadTarget = 1, kBadScore = 2, kScoreRange = 3, kBadWeight = 4 };

struct Layout {
  int64_t kind;   // 0 dyadic, 1 uniform
  int64_t a;      // dyadic: m (log2 bins per octave); uniform: num_bins
  int64_t shift;  // dyadic: 52 - m
  int64_t base;   // dyadic: bits(2**-E) >> shift
  int64_t half;   // dyadic: bins below 0.5
};

inline int64_t f64_bits(double x) {
  int64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

inline double bits_f64(int64_t b) {
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// Dyadic bin of a probability in [0, 1], branch-free: both halves computed, one selected.
inline int64_t dyadic_bin(double x, const Layout& L) {
  int64_t k = (f64_bits(x) >> L.shift) - L.base + 1;
  k = k > 0 ? k : 0;
  const double y = 1.0 - x;  // exact for x in [0.5, 1] (Sterbenz)
  int64_t j = ((f64_bits(y) - 1) >> L.shift) - L.base + 1;
  j = j > 0 ? j : 0;
  const int64_t up = 2 * L.half - 1 - j + (y == 0.0 ? 1 : 0);
  return x < 0.5 ? k : up;
}

inline double sigmoid(double z) {
  if (z < 0.0) {
    const double e = std::exp(z);
    return e / (1.0 + e);
  }
  return 1.0 / (1.0 + std::exp(-z));
}

// Bin and probability of one score; logits go through a float64 sigmoid that keeps 1 - p
// precise for confident scores (the upper half is binned from 1 - p directly).
inline int64_t bin_and_prob(double s, const Layout& L, bool logits, double* p) {
  if (L.kind == 1) {
    double q = s;
    if (logits) q = sigmoid(s);
    *p = q;
    return static_cast<int64_t>(std::floor(q * static_cast<double>(L.a) + 0.5));
  }
  if (!logits) {
    *p = s;
    return dyadic_bin(s, L);
  }
  if (s < 0.0) {
    const double e = std::exp(s);
    const double x = e / (1.0 + e);
    *p = x;
    if (x < 0.5) {
      const int64_t k = (f64_bits(x) >> L.shift) - L.base + 1;
      return k > 0 ? k : 0;
    }
    return L.half;
  }
  const double y = 1.0 / (1.0 + std::exp(s));
  *p = 1.0 - y;
  if (y == 0.0) return 2 * L.half;
  int64_t j = ((f64_bits(y) - 1) >> L.shift) - L.base + 1;
  j = j > 0 ? j : 0;
  return 2 * L.half - 1 - j;
}

inline double true_prob(int64_t t, double p, double s, bool logits) {
  if (logits) return sigmoid(t ? s : -s);
  return t ? p : 1.0 - p;
}

inline double clip(double q, double eps) {
  return q < eps ? eps : (q > 1.0 - eps ? 1.0 - eps : q);
}

// First bad sample of a binary batch: returns its row (kind in *kind) or -1.
template <class T, class S>
int64_t first_bad_binary(const T* target, const S* scores, const double* weight, int64_t n,
                         bool has_ignore, int64_t ignore_index, bool logits, int32_t* kind) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = static_cast<int64_t>(target[i]);
    if (has_ignore && t == ignore_index) continue;
    if (t < 0 || t > 1) { *kind = kBadTarget; return i; }
    const double s = static_cast<double>(scores[i]);
    if (!std::isfinite(s)) { *kind = kBadScore; return i; }
    if (!logits && (s < 0.0 || s > 1.0)) { *kind = kScoreRange; return i; }
    if (weight) {
      const double w = weight[i];
      if (!(std::isfinite(w) && w >= 0.0)) { *kind = kBadWeight; return i; }
    }
  }
  *kind = kOk;
  return -1;
}

// Counting pass of a validated binary batch, specialised at compile time on weighting, logits
// and layout kind so that the loop body carries no per-sample configuration branches.
// Unweighted log loss is the log of a running product renormalised by its exponent every 16
// factors (one log per batch, exact to ~n ulp).
// Branch-free screen of blocks of rows (vectorisable: no early exit); only a flagged block is
// rescanned by first_bad_binary, which names the first bad row exactly.
template <class T, class S>
int64_t screen_binary(const T* target, const S* scores, const double* weight, int64_t n,
                      bool has_ignore, int64_t ignore_index, bool logits, int32_t* kind) {
  constexpr int64_t kBlock = 4096;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = b + kBlock < n ? b + kBlock : n;
    bool bad = false;
    for (int64_t i = b; i < e; ++i) {
      const int64_t t = static_cast<int64_t>(target[i]);
      const double s = static_cast<double>(scores[i]);
      const bool ign = has_ignore && t == ignore_index;
      // logits: finite; probabilities: in [0, 1] (NaN fails both compares)
      const bool bad_s = logits ? !(s - s == 0.0) : !(s >= 0.0 && s <= 1.0);
      bool bad_w = false;
      if (weight) bad_w = !(weight[i] >= 0.0 && weight[i] - weight[i] == 0.0);
      bad |= (!ign) & ((static_cast<uint64_t>(t) > 1) | bad_s | bad_w);
    }
    if (bad) {
      const int64_t r = first_bad_binary(target + b, scores + b, weight ? weight + b : nullptr,
                                         e - b, has_ignore, ignore_index, logits, kind);
      if (r >= 0) return r + b;
    }
  }
  *kind = kOk;
  return -1;
}

// The default case (unweighted probabilities, dyadic bins, no ignore_index) unrolled by four
// with independent Brier and likelihood-product chains, so that consecutive rows do not wait on
// one floating-point add or multiply each; the sums differ from the one-chain order only by
// rounding (tests compare them with sklearn to 1e-12).
template <class T, class S, class H>
void count_binary_dyadic4(const T* target, const S* scores, int64_t n, const Layout& lay,
                          double eps, H* hist, double* psum, double* sums) {
  constexpr int64_t kExpMask = int64_t{0x7FF} << 52;
  constexpr int64_t kOneExp = int64_t{1023} << 52;
  const bool track_ll = eps > 0.0;
  double brier[4] = {0.0, 0.0, 0.0, 0.0}, prod[4] = {1.0, 1.0, 1.0, 1.0};
  int64_t expo = 0;
  int64_t i = 0;
  int since = 0;
  for (; i + 4 <= n; i += 4) {
    for (int k = 0; k < 4; ++k) {
      const int64_t t = static_cast<int64_t>(target[i + k]);
      const double p = static_cast<double>(scores[i + k]);
      const int64_t b = dyadic_bin(p, lay);
      const double d = static_cast<double>(t) - p;
      hist[2 * b + t] += 1;
      psum[b] += p;
      brier[k] += d * d;
      prod[k] *= clip(t ? p : 1.0 - p, eps);
    }
    if (++since == 16) {  // 16 factors >= eps each per chain: far from underflow
      for (int k = 0; k < 4; ++k) {
        const int64_t bits = f64_bits(prod[k]);
        expo += ((bits & kExpMask) >> 52) - 1023;
        prod[k] = bits_f64((bits & ~kExpMask) | kOneExp);
      }
      since = 0;
    }
  }
  for (; i < n; ++i) {
    const int64_t t = static_cast<int64_t>(target[i]);
    const double p = static_cast<double>(scores[i]);
    const int64_t b = dyadic_bin(p, lay);
    const double d = static_cast<double>(t) - p;
    hist[2 * b + t] += 1;
    psum[b] += p;
    brier[0] += d * d;
    prod[0] *= clip(t ? p : 1.0 - p, eps);
  }
  sums[0] += (brier[0] + brier[1]) + (brier[2] + brier[3]);
  double ll = 0.0;
  if (track_ll) {
    const double lp = std::log(prod[0]) + std::log(prod[1]) + std::log(prod[2]) + std::log(prod[3]);
    ll = -(lp + static_cast<double>(expo) * std::log(2.0));
  }
  sums[1] += ll;
}

template <bool kWeighted, bool kLogits, int kKind, class T, class S, class H>
void count_binary_impl(const T* target, const S* scores, const double* weight, int64_t n,
                       bool has_ignore, int64_t ignore_index, const Layout& L, double eps,
                       H* hist, double* psum, double* sums) {
  double brier = 0.0, ll = 0.0, prod = 1.0;
  int64_t expo = 0;
  int since = 0;
  constexpr int64_t kExpMask = int64_t{0x7FF} << 52;
  constexpr int64_t kOneExp = int64_t{1023} << 52;
  const bool track_ll = eps > 0.0;
  Layout lay = L;
  if constexpr (kKind == 0) lay.kind = 0; else lay.kind = 1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = static_cast<int64_t>(target[i]);
    if (has_ignore && t == ignore_index) continue;
    const double s = static_cast<double>(scores[i]);
    double p;
    int64_t b;
    if constexpr (!kLogits && kKind == 0) {
      p = s;
      b = dyadic_bin(s, lay);
    } else {
      b = bin_and_prob(s, lay, kLogits, &p);
    }
    const double d = static_cast<double>(t) - p;
    double q = kLogits ? sigmoid(t ? s : -s) : (t ? p : 1.0 - p);
    q = clip(q, eps);
    if constexpr (kWeighted) {
      const double w = weight[i];
      hist[2 * b + t] += w;
      psum[b] += w * p;
      brier += w * d * d;
      if (track_ll) ll -= w * std::log(q);
    } else {
      hist[2 * b + t] += 1;
      psum[b] += p;
      brier += d * d;
      prod *= q;
      if (++since == 16) {
        const int64_t bits = f64_bits(prod);
        expo += ((bits & kExpMask) >> 52) - 1023;
        prod = bits_f64((bits & ~kExpMask) | kOneExp);
        since = 0;
      }
    }
  }
  sums[0] += brier;
  if (!kWeighted && track_ll)
    ll = -(std::log(prod) + static_cast<double>(expo) * std::log(2.0));
  sums[1] += ll;
}

template <class T, class S, class H>
void count_binary(const T* target, const S* scores, const double* weight, int64_t n,
                  bool has_ignore, int64_t ignore_index, const Layout& L, bool logits, double eps,
                  H* hist, double* psum, double* sums) {
#define TM_CURVES_CASE(W, LG, K)                                                            \
  if ((weight != nullptr) == W && logits == LG && L.kind == K)                              \
    return count_binary_impl<W, LG, K>(target, scores, weight, n, has_ignore, ignore_index, \
                                       L, eps, hist, psum, sums);
  if (weight == nullptr && !logits && L.kind == 0 && !has_ignore) {
    Layout lay = L;
    return count_binary_dyadic4(target, scores, n, lay, eps, hist, psum, sums);
  }
  TM_CURVES_CASE(false, false, 0)
  TM_CURVES_CASE(false, false, 1)
  TM_CURVES_CASE(false, true, 0)
  TM_CURVES_CASE(false, true, 1)
  TM_CURVES_CASE(true, false, 0)
  TM_CURVES_CASE(true, false, 1)
  TM_CURVES_CASE(true, true, 0)
  TM_CURVES_CASE(true, true, 1)
#undef TM_CURVES_CASE
}

}  // namespace curves
}  // namespace tallyml
