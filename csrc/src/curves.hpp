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

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

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

// ---- fused fast path: float32 probabilities, 1-byte labels, dyadic bins, unweighted --------------
// Measured (docs/curves.md): the scalar loop above spends most of its time on a mispredicted
// `x < 0.5` select, and the screening pass before it is a second read of the batch. The fused
// path works block by block: one SIMD pass screens the block and computes its bin indices, a
// second one the Brier and log-loss chains (both branch-free), then a scalar pass adds each row
// into the state (hist[bin, label] += 1, psum[bin] += score: the same additions, in the same
// order, as the scalar loop). The screen of a block runs while the block is in L1, right before
// it is counted; a batch whose later block fails has counted the earlier blocks, so the caller
// restores the state it saved (abi.cpp) or screens the batch first.
//
// Float32 bins: with 2**-E a normal float32 and m <= 16, the dyadic key of a float32 score read
// off its own 32-bit pattern differs from the float64 key by a constant, and 1 - x is exact in
// float32 for x in [0.5, 1] (Sterbenz), so the bins equal dyadic_bin() of the float64 value.

struct F32Dyadic {
  int32_t m;     // log2 bins per octave
  int32_t e;     // octaves E: the regular bins start at 2**-E
  int64_t half;  // bins below 0.5
};

// The float32 form of a dyadic layout, when the float32 bin equals the float64 bin (see above).
inline bool f32_dyadic(const Layout& L, F32Dyadic* out) {
  if (L.kind != 0 || L.a < 0 || L.a > 16 || L.shift != 52 - L.a) return false;
  const int64_t m = L.a;
  if (L.base <= 0 || (L.base & ((int64_t{1} << m) - 1)) != 0) return false;
  const int64_t e = 1023 - (L.base >> m);
  if (e < 1 || e > 125 || L.half != ((e - 1) << m) + 1) return false;
  *out = {static_cast<int32_t>(m), static_cast<int32_t>(e), L.half};
  return true;
}

// Running sums of the fused pass: Brier sum and log loss (-log of the likelihood).
struct FusedSums {
  double brier = 0.0, logloss = 0.0;
};

#if defined(__x86_64__) || defined(__i386__)
#define TM_CURVES_FUSED 1

// Brier and log-loss chains of the fused pass: per lane sums of (t - p)^2 and products of the
// clipped likelihoods, renormalised by their exponent (expo) every 16 factors.
struct LossLanes {
  __m256d brier, prod;
  __m256i expo;
  int since;
};

// Screen and bin index of the 8-row groups of one block; returns whether a row failed the
// screen. (Not inlined, like block_losses: each loop keeps its constants and chains in
// registers.)
template <class T>
__attribute__((target("avx2"), noinline)) bool block_bins(const T* t, const float* s,
                                                          int64_t len, const F32Dyadic& D,
                                                          int32_t* bins) {
  const __m128i sh = _mm_cvtsi32_si128(23 - D.m);
  const __m256i base1 = _mm256_set1_epi32(((127 - D.e) << D.m) - 1);
  const __m256i zero = _mm256_setzero_si256(), ones = _mm256_set1_epi32(1);
  const __m256i top = _mm256_set1_epi32(static_cast<int32_t>(2 * D.half - 1));
  const __m256 onef = _mm256_set1_ps(1.0f), halff = _mm256_set1_ps(0.5f);
  __m256i bad = zero;
  __m256 ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  for (int64_t i = 0; i + 8 <= len; i += 8) {
    const __m256 x = _mm256_loadu_ps(s + i);
    const __m128i t8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(t + i));
    // a label byte above 1 (negative int8 included), a score outside [0, 1] or NaN
    bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(_mm256_cvtepu8_epi32(t8), ones));
    ok = _mm256_and_ps(ok, _mm256_and_ps(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ),
                                         _mm256_cmp_ps(x, onef, _CMP_LE_OQ)));
    // lower half from x's bits (-0.0 shifts to a negative key: bin 0), upper half mirrored
    const __m256i xi = _mm256_castps_si256(x);
    const __m256i k = _mm256_max_epi32(_mm256_sub_epi32(_mm256_sra_epi32(xi, sh), base1), zero);
    const __m256i yi = _mm256_castps_si256(_mm256_sub_ps(onef, x));
    const __m256i j = _mm256_max_epi32(
        _mm256_sub_epi32(_mm256_sra_epi32(_mm256_sub_epi32(yi, ones), sh), base1), zero);
    const __m256i up = _mm256_sub_epi32(_mm256_sub_epi32(top, j), _mm256_cmpeq_epi32(yi, zero));
    const __m256i low = _mm256_castps_si256(_mm256_cmp_ps(x, halff, _CMP_LT_OQ));
    _mm256_store_si256(reinterpret_cast<__m256i*>(bins + i), _mm256_blendv_epi8(up, k, low));
  }
  bad = _mm256_or_si256(bad, _mm256_xor_si256(_mm256_castps_si256(ok), _mm256_set1_epi32(-1)));
  return !_mm256_testz_si256(bad, bad);
}

// Brier and log-loss chains over the 8-row groups of a valid block.
template <class T>
__attribute__((target("avx2"), noinline)) void block_losses(const T* t, const float* s,
                                                            int64_t len, double eps,
                                                            LossLanes* acc) {
  const __m256d oned = _mm256_set1_pd(1.0), zerod = _mm256_setzero_pd();
  const __m256d lo_clip = _mm256_set1_pd(eps), hi_clip = _mm256_set1_pd(1.0 - eps);
  __m256d brier = acc->brier, prod = acc->prod;
  __m256i expo = acc->expo;
  int since = acc->since;
  for (int64_t i = 0; i + 8 <= len; i += 8) {
    const __m256 x = _mm256_loadu_ps(s + i);
    const __m256i t32 = _mm256_cvtepu8_epi32(
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(t + i)));
    const __m256d p0 = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
    const __m256d p1 = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    const __m256d td0 = _mm256_cvtepi32_pd(_mm256_castsi256_si128(t32));
    const __m256d td1 = _mm256_cvtepi32_pd(_mm256_extracti128_si256(t32, 1));
    const __m256d d0 = _mm256_sub_pd(td0, p0), d1 = _mm256_sub_pd(td1, p1);
    // one chain per sum: an 8-row iteration is longer than an add or a multiply
    brier = _mm256_add_pd(brier, _mm256_add_pd(_mm256_mul_pd(d0, d0), _mm256_mul_pd(d1, d1)));
    const __m256d q0 = _mm256_blendv_pd(_mm256_sub_pd(oned, p0), p0,
                                        _mm256_cmp_pd(td0, zerod, _CMP_NEQ_OQ));
    const __m256d q1 = _mm256_blendv_pd(_mm256_sub_pd(oned, p1), p1,
                                        _mm256_cmp_pd(td1, zerod, _CMP_NEQ_OQ));
    prod = _mm256_mul_pd(prod, _mm256_mul_pd(_mm256_min_pd(_mm256_max_pd(q0, lo_clip), hi_clip),
                                             _mm256_min_pd(_mm256_max_pd(q1, lo_clip), hi_clip)));
    if (++since == 8) {  // 16 factors >= eps per lane: far from underflow
      since = 0;
      const __m256i expmask = _mm256_set1_epi64x(int64_t{0x7FF} << 52);
      const __m256i bits = _mm256_castpd_si256(prod);
      expo = _mm256_add_epi64(expo, _mm256_sub_epi64(
          _mm256_srli_epi64(_mm256_and_si256(bits, expmask), 52), _mm256_set1_epi64x(1023)));
      prod = _mm256_castsi256_pd(_mm256_or_si256(_mm256_andnot_si256(expmask, bits),
                                                 _mm256_set1_epi64x(int64_t{1023} << 52)));
    }
  }
  acc->brier = brier;
  acc->prod = prod;
  acc->expo = expo;
  acc->since = since;
}

// One fused pass over rows [0, n) of a batch with 1-byte labels and float32 probabilities, block
// by block: screen + bins, losses, counts into hist / psum. Returns -1 when every row is valid
// (Brier and log loss then added to *out), else the first bad row (kind in *kind): then the
// blocks before it are in hist / psum and nothing is in *out.
template <class T>
__attribute__((target("avx2"))) int64_t fused_binary_f32(const T* target, const float* scores,
                                                         int64_t n, const Layout& L,
                                                         const F32Dyadic& D, double eps,
                                                         int64_t* hist, double* psum,
                                                         FusedSums* out, int32_t* kind) {
  static_assert(sizeof(T) == 1, "1-byte labels");
  constexpr int64_t kB = 512;  // rows per block: the block and its bins stay in L1
  alignas(32) int32_t bins[kB];
  LossLanes acc;
  acc.brier = _mm256_setzero_pd();
  acc.prod = _mm256_set1_pd(1.0);
  acc.expo = _mm256_setzero_si256();
  acc.since = 0;
  double brier_t = 0.0, prod_t = 1.0;  // the batch's last rows (< 8), one at a time
  for (int64_t b0 = 0; b0 < n; b0 += kB) {
    const int64_t len = n - b0 < kB ? n - b0 : kB;
    const T* t = target + b0;
    const float* s = scores + b0;
    bool bad = block_bins(t, s, len, D, bins);
    for (int64_t i = len & ~int64_t{7}; i < len && !bad; ++i) {
      const int64_t tv = static_cast<uint8_t>(t[i]);
      const float x = s[i];
      bad = tv > 1 || !(x >= 0.0f && x <= 1.0f);
      if (bad) break;
      const double p = static_cast<double>(x);
      bins[i] = static_cast<int32_t>(dyadic_bin(p, L));
      const double d = static_cast<double>(tv) - p;
      brier_t += d * d;
      prod_t *= clip(tv ? p : 1.0 - p, eps);
    }
    if (bad) {  // a flagged block always holds a bad row
      return b0 + first_bad_binary(t, s, static_cast<const double*>(nullptr), len, false, 0,
                                   false, kind);
    }
    block_losses(t, s, len, eps, &acc);
    // runs of one bin (sorted or constant scores), judged from 32 pairs of neighbours
    int repeats = 0;
    if (len >= 64)
      for (int64_t r = 1; r < len; r += len / 32) repeats += bins[r] == bins[r - 1];
    if (repeats < 16) {
      for (int64_t r = 0; r < len; ++r) {
        const int32_t b = bins[r];
        hist[2 * b + static_cast<uint8_t>(t[r])] += 1;
        psum[b] += static_cast<double>(s[r]);
      }
    } else {  // mostly runs of one bin (sorted or constant scores): add each run in registers,
              // psum in the same order, instead of waiting on the previous row's store
      int32_t cur = bins[0];
      int64_t rows = 0, pos = 0;
      double ps = psum[cur];
      for (int64_t r = 0; r < len; ++r) {
        const int32_t b = bins[r];
        if (b != cur) {
          hist[2 * cur] += rows - pos;
          hist[2 * cur + 1] += pos;
          psum[cur] = ps;
          cur = b;
          rows = pos = 0;
          ps = psum[cur];
        }
        ++rows;
        pos += static_cast<uint8_t>(t[r]);
        ps += static_cast<double>(s[r]);
      }
      hist[2 * cur] += rows - pos;
      hist[2 * cur + 1] += pos;
      psum[cur] = ps;
    }
  }
  alignas(32) double br[4], pr[4];
  alignas(32) int64_t ex[4];
  _mm256_store_pd(br, acc.brier);
  _mm256_store_pd(pr, acc.prod);
  _mm256_store_si256(reinterpret_cast<__m256i*>(ex), acc.expo);
  double lp = std::log(prod_t);
  for (int k = 0; k < 4; ++k) lp += std::log(pr[k]);
  const double e2 = static_cast<double>((ex[0] + ex[1]) + (ex[2] + ex[3]));
  out->brier += ((br[0] + br[1]) + (br[2] + br[3])) + brier_t;
  out->logloss += eps > 0.0 ? -(lp + e2 * std::log(2.0)) : 0.0;
  *kind = kOk;
  return -1;
}
#endif  // x86

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
