// Kernels of expected (label-free) confusion counts; see expected.hpp for the contract.
//
// Fast paths (AVX2, chosen at run time; probabilities without logits or calibration):
// - binary without histogram: six vectorised sums in registers, range check folded in;
// - binary with histogram, and every calibrated / logit binary batch: each score adds one
//   4-double cell (p, 1-p, p(1-p), 0) into a private table keyed by (histogram bin, prediction),
//   from which both the confusion sums and the histogram are read at the end; the table has
//   several copies used in turn so that runs of scores in one bin do not serialise on one
//   memory cell;
// - multiclass float32 with 2 <= K <= 16: rows are transposed eight at a time for the argmax and
//   the checks, grouped by prediction (a row mask per class) in sub-blocks of 256 rows, and
//   summed per predicted class in registers (multiclass_grouped says why); histogram cells as
//   below;
// - other multiclass with K <= 16: a row is loaded into at most four AVX registers of doubles,
//   its argmax, range and row-sum checks are computed in registers, and its three K-wide sums go
//   into private [pred][class] rows (two copies, alternating rows); histograms as for binary,
//   one cell per class.
// Each fast path only flags a block of rows as bad; the flagged block is rescanned by the plain
// checks to report the first bad value, and nothing reaches the outputs.
#include "expected.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "common.hpp"

namespace tallyml {
namespace expected {
namespace {

constexpr int64_t kRows = 4096;  // rows per block

TM_HOT double sigmoid(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

// Histogram / table bin of a probability: min(floor(p nb), nb - 1) for p in [0, 1]. Values of
// rows not yet checked (NaN, negative, > 1) land in bin 0 or nb - 1, never outside the table.
TM_HOT int64_t bin_of(double p, int64_t nb) {
  const double t = p * static_cast<double>(nb);
  if (!(t >= 1.0)) return 0;
  return t < static_cast<double>(nb - 1) ? static_cast<int64_t>(t) : nb - 1;
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
struct PlainSums {
  __m256d a[6], ok;
};

TM_AVX2 __attribute__((always_inline)) inline void plain_step(PlainSums& r, __m256d p, __m256d one,
                                                              __m256d cutv) {
  // NaN fails both ordered comparisons
  r.ok = _mm256_and_pd(r.ok, _mm256_and_pd(_mm256_cmp_pd(p, _mm256_setzero_pd(), _CMP_GE_OQ),
                                           _mm256_cmp_pd(p, one, _CMP_LE_OQ)));
  const __m256d m = _mm256_cmp_pd(p, cutv, _CMP_GE_OQ);
  const __m256d q = _mm256_sub_pd(one, p);
  const __m256d v = _mm256_mul_pd(p, q);
  r.a[0] = _mm256_add_pd(r.a[0], _mm256_andnot_pd(m, q));
  r.a[1] = _mm256_add_pd(r.a[1], _mm256_and_pd(m, q));
  r.a[2] = _mm256_add_pd(r.a[2], _mm256_andnot_pd(m, p));
  r.a[3] = _mm256_add_pd(r.a[3], _mm256_and_pd(m, p));
  r.a[4] = _mm256_add_pd(r.a[4], _mm256_andnot_pd(m, v));
  r.a[5] = _mm256_add_pd(r.a[5], _mm256_and_pd(m, v));
}

// AVX2: masks instead of multiplies for the per-column split.
template <class F>
TM_AVX2 bool binary_plain_avx2(const F* s, int64_t lo, int64_t hi, double cut, double* acc) {
  const __m256d one = _mm256_set1_pd(1.0), cutv = _mm256_set1_pd(cut);
  PlainSums r;
  for (auto& x : r.a) x = _mm256_setzero_pd();
  r.ok = _mm256_cmp_pd(one, one, _CMP_EQ_OQ);
  int64_t i = lo;
  for (; i + 4 <= hi; i += 4) {
    if constexpr (std::is_same_v<F, float>)
      plain_step(r, _mm256_cvtps_pd(_mm_loadu_ps(s + i)), one, cutv);
    else
      plain_step(r, _mm256_loadu_pd(s + i), one, cutv);
  }
  const bool ok = _mm256_movemask_pd(r.ok) == 0xF;
  double t[6];
  for (int j = 0; j < 6; ++j) {
    alignas(32) double l[4];
    _mm256_store_pd(l, r.a[j]);
    t[j] = (l[0] + l[1]) + (l[2] + l[3]);
  }
  double tail[6] = {0, 0, 0, 0, 0, 0};
  const bool tail_ok = binary_plain_base(s, i, hi, cut, tail);
  for (int j = 0; j < 6; ++j) acc[j] += t[j] + tail[j];
  return ok && tail_ok;
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

// Binary cell table: [copy][bin][prediction][4] doubles: sum p, sum 1-p, sum p(1-p), unused.
// Scores go to the copies in turn (kCopies independent chains of adds per cell).
constexpr int64_t kCopies = 4;
constexpr int64_t kMaxCellBins = int64_t{1} << 16;  // beyond: 16 MB of cells; another path

TM_HOT void add_cell(double* d, double p, double q) {
  d[0] += p;
  d[1] += q;
  d[2] += p * q;
}

// Any mode: logits, calibration, histogram or not (nbs = max(nb, 1) bins). Returns whether every
// score was valid.
template <class F>
TM_HOT bool binary_cells_body(const F* s, int64_t lo, int64_t hi, double cut, bool logits,
                              const double* table, int64_t tlen, int32_t mode, double* cells,
                              int64_t nbs) {
  const int64_t stride = nbs * 8;
  bool ok = true;
  for (int64_t i = lo; i < hi; ++i) {
    const double x = static_cast<double>(s[i]);
    ok &= (!nonfinite(x)) & (logits | ((x >= 0.0) & (x <= 1.0)));
    const int64_t y = x >= cut ? 1 : 0;
    const double praw = logits ? sigmoid(x) : x;
    const double p = calibrate(praw, table, tlen, mode);
    add_cell(cells + (i % kCopies) * stride + (bin_of(praw, nbs) * 2 + y) * 4, p, 1.0 - p);
  }
  return ok;
}

template <class F>
bool binary_cells_base(const F* s, int64_t lo, int64_t hi, double cut, bool logits,
                       const double* table, int64_t tlen, int32_t mode, double* cells,
                       int64_t nbs) {
  return binary_cells_body(s, lo, hi, cut, logits, table, tlen, mode, cells, nbs);
}

// Plain probabilities with a histogram: four scores per step, their cells built by a 4x4
// transpose and added with one AVX add each.
template <class F>
TM_AVX2 bool binary_cells_avx2(const F* s, int64_t lo, int64_t hi, double cut, bool logits,
                               const double* table, int64_t tlen, int32_t mode, double* cells,
                               int64_t nbs) {
  if (logits || mode || nbs >= (int64_t{1} << 30))
    return binary_cells_body(s, lo, hi, cut, logits, table, tlen, mode, cells, nbs);
  const __m256d one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd();
  const __m256d cutv = _mm256_set1_pd(cut), nbv = _mm256_set1_pd(static_cast<double>(nbs));
  const __m128i top = _mm_set1_epi32(static_cast<int>(nbs - 1));
  const __m128i four = _mm_set1_epi32(4);
  const __m256i pick = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  const int64_t stride = nbs * 8;
  double* c0 = cells;
  double* c1 = cells + stride;
  double* c2 = cells + 2 * stride;
  double* c3 = cells + 3 * stride;
  __m256d ok = _mm256_cmp_pd(one, one, _CMP_EQ_OQ);
  int64_t i = lo;
  for (; i + 4 <= hi; i += 4) {
    __m256d p;
    if constexpr (std::is_same_v<F, float>)
      p = _mm256_cvtps_pd(_mm_loadu_ps(s + i));
    else
      p = _mm256_loadu_pd(s + i);
    ok = _mm256_and_pd(ok, _mm256_and_pd(_mm256_cmp_pd(p, zero, _CMP_GE_OQ),
                                         _mm256_cmp_pd(p, one, _CMP_LE_OQ)));
    const __m256d ym = _mm256_cmp_pd(p, cutv, _CMP_GE_OQ);
    // NaN and negatives convert to INT_MIN or below zero: unsigned min clamps them in range
    __m128i b = _mm_min_epu32(_mm256_cvttpd_epi32(_mm256_mul_pd(p, nbv)), top);
    const __m128i y32 = _mm256_castsi256_si128(
        _mm256_permutevar8x32_epi32(_mm256_castpd_si256(ym), pick));
    const __m128i idx = _mm_add_epi32(_mm_slli_epi32(b, 3), _mm_and_si128(y32, four));
    const __m256d q = _mm256_sub_pd(one, p);
    const __m256d v = _mm256_mul_pd(p, q);
    const __m256d t0 = _mm256_unpacklo_pd(p, q), t1 = _mm256_unpackhi_pd(p, q);
    const __m256d t2 = _mm256_unpacklo_pd(v, zero), t3 = _mm256_unpackhi_pd(v, zero);
    double* d0 = c0 + _mm_extract_epi32(idx, 0);
    double* d1 = c1 + _mm_extract_epi32(idx, 1);
    double* d2 = c2 + _mm_extract_epi32(idx, 2);
    double* d3 = c3 + _mm_extract_epi32(idx, 3);
    _mm256_storeu_pd(d0, _mm256_add_pd(_mm256_loadu_pd(d0), _mm256_permute2f128_pd(t0, t2, 0x20)));
    _mm256_storeu_pd(d1, _mm256_add_pd(_mm256_loadu_pd(d1), _mm256_permute2f128_pd(t1, t3, 0x20)));
    _mm256_storeu_pd(d2, _mm256_add_pd(_mm256_loadu_pd(d2), _mm256_permute2f128_pd(t0, t2, 0x31)));
    _mm256_storeu_pd(d3, _mm256_add_pd(_mm256_loadu_pd(d3), _mm256_permute2f128_pd(t1, t3, 0x31)));
  }
  bool good = _mm256_movemask_pd(ok) == 0xF;
  // the tail's scores go to the copies by index, as in the scalar body
  return binary_cells_body(s, i, hi, cut, false, table, tlen, 0, cells, nbs) && good;
}

// Folds the cell table into acc (tn fp fn tp v0 v1) and, when nb > 0, into hist (3, nb).
void binary_fold(const double* cells, int64_t nbs, int64_t nb, double* acc, double* hist) {
  for (int64_t c = 0; c < kCopies; ++c)
    for (int64_t b = 0; b < nbs; ++b)
      for (int64_t y = 0; y < 2; ++y) {
        const double* d = cells + c * nbs * 8 + (b * 2 + y) * 4;
        acc[y] += d[1];
        acc[2 + y] += d[0];
        acc[4 + y] += d[2];
        if (nb) {
          hist[b] += d[0];
          hist[nb + b] += d[1];
          hist[2 * nb + b] += d[2];
        }
      }
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

// Histogram cells of one row (classes in C4 registers of doubles, the last holding rem): class
// c's value p adds (p, 1 - p, p(1 - p), 0) to cell [c][bin(p)] of cells [class][bin][4]. Bins of
// values not yet checked (NaN, negative, > 1) are clamped into the table.
template <int C4>
TM_AVX2 __attribute__((always_inline)) inline void add_cells(const __m256d* p, int64_t rem,
                                                             double* cells, int64_t nb) {
  const __m256d one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd();
  const __m256d nbv = _mm256_set1_pd(static_cast<double>(nb));
  const __m128i top = _mm_set1_epi32(static_cast<int>(nb - 1));
  for (int c = 0; c < C4; ++c) {
    const __m256d q = _mm256_sub_pd(one, p[c]);
    const __m256d v = _mm256_mul_pd(p[c], q);
    const __m128i b = _mm_min_epu32(_mm256_cvttpd_epi32(_mm256_mul_pd(p[c], nbv)), top);
    const __m256d t0 = _mm256_unpacklo_pd(p[c], q), t1 = _mm256_unpackhi_pd(p[c], q);
    const __m256d t2 = _mm256_unpacklo_pd(v, zero), t3 = _mm256_unpackhi_pd(v, zero);
    const __m256d r[4] = {_mm256_permute2f128_pd(t0, t2, 0x20),
                          _mm256_permute2f128_pd(t1, t3, 0x20),
                          _mm256_permute2f128_pd(t0, t2, 0x31),
                          _mm256_permute2f128_pd(t1, t3, 0x31)};
    alignas(16) int32_t bi[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(bi), b);
    const int lanes = c == C4 - 1 ? static_cast<int>(rem) : 4;
    double* base = cells + (4 * c) * nb * 4;
    for (int l = 0; l < lanes; ++l) {
      double* d = base + (l * nb + bi[l]) * 4;
      _mm256_storeu_pd(d, _mm256_add_pd(_mm256_loadu_pd(d), r[l]));
    }
  }
}

// Fast path: probabilities (no logits, no calibration), K <= 16, AVX2. part holds two copies
// (even / odd rows) of three [pred][class] arrays with rows padded to kp = 4 * C4 doubles (and
// kp pred rows, so that the argmax of a bad row, screened out later, stays inside); cells the
// histogram cells [class][bin][4] (sum p, sum 1-p, sum p(1-p), unused). Returns whether every
// row was valid.
template <int C4, class F>
TM_AVX2 bool multiclass_fast(const F* s, int64_t lo, int64_t hi, int64_t k, double sum_tol,
                             double* part, double* cells, int64_t nb) {
  constexpr int64_t kp = 4 * C4;
  constexpr int64_t area = kp * kp;
  const __m256d one = _mm256_set1_pd(1.0), zero = _mm256_setzero_pd();
  const __m256d tol = _mm256_set1_pd(sum_tol);
  const __m256d sign = _mm256_set1_pd(-0.0);
  const int64_t rem = k - 4 * (C4 - 1);  // classes in the last chunk, 1..4
  const __m128i mask_f = _mm_cmpgt_epi32(_mm_set1_epi32(static_cast<int>(rem)),
                                         _mm_setr_epi32(0, 1, 2, 3));
  const __m256i mask_d = _mm256_cvtepi32_epi64(mask_f);
  __m256d ok = _mm256_cmp_pd(one, one, _CMP_EQ_OQ);
  __m256d low = one, high = zero;  // range check: running minimum and maximum of the block
  for (int64_t i = lo; i < hi; ++i) {
    const F* row = s + i * k;
    __m256d p[C4];
    for (int c = 0; c < C4; ++c) {
      const bool last = c == C4 - 1 && rem < 4;
      if constexpr (std::is_same_v<F, float>)
        p[c] = _mm256_cvtps_pd(last ? _mm_maskload_ps(row + 4 * c, mask_f)
                                    : _mm_loadu_ps(row + 4 * c));
      else
        p[c] = last ? _mm256_maskload_pd(row + 4 * c, mask_d) : _mm256_loadu_pd(row + 4 * c);
    }
    // first argmax (padding lanes hold 0 and come last); the maximum is also p_pred
    __m256d mx = p[0];
    __m256d tot = p[0];
    for (int c = 1; c < C4; ++c) {
      mx = _mm256_max_pd(mx, p[c]);
      tot = _mm256_add_pd(tot, p[c]);
    }
    mx = _mm256_max_pd(mx, _mm256_permute2f128_pd(mx, mx, 1));
    mx = _mm256_max_pd(mx, _mm256_permute_pd(mx, 5));
    tot = _mm256_add_pd(tot, _mm256_permute2f128_pd(tot, tot, 1));
    tot = _mm256_add_pd(tot, _mm256_permute_pd(tot, 5));
    unsigned bits = 0;
    for (int c = 0; c < C4; ++c) {
      bits |= static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(p[c], mx, _CMP_EQ_OQ)))
              << (4 * c);
      low = _mm256_min_pd(low, p[c]);
    }
    high = _mm256_max_pd(high, mx);
    // a NaN anywhere in the row makes its sum NaN, which fails this ordered comparison
    ok = _mm256_and_pd(ok, _mm256_cmp_pd(_mm256_andnot_pd(sign, _mm256_sub_pd(tot, one)), tol,
                                         _CMP_LE_OQ));
    const int64_t j = bits ? __builtin_ctz(bits) : 0;
    double* st = part + (i & 1) * 3 * area + j * kp;
    for (int c = 0; c < C4; ++c) {
      double* a = st + 4 * c;
      _mm256_storeu_pd(a, _mm256_add_pd(_mm256_loadu_pd(a), p[c]));
      a += area;
      _mm256_storeu_pd(a, _mm256_add_pd(_mm256_loadu_pd(a), _mm256_mul_pd(p[c], p[c])));
      a += area;
      _mm256_storeu_pd(a, _mm256_add_pd(_mm256_loadu_pd(a), _mm256_mul_pd(p[c], mx)));
    }
    if (nb) add_cells<C4>(p, rem, cells, nb);
  }
  ok = _mm256_and_pd(ok, _mm256_and_pd(_mm256_cmp_pd(low, zero, _CMP_GE_OQ),
                                       _mm256_cmp_pd(high, one, _CMP_LE_OQ)));
  return _mm256_movemask_pd(ok) == 0xF;
}

template <class F>
using FastFn = bool (*)(const F*, int64_t, int64_t, int64_t, double, double*, double*, int64_t);

template <class F>
FastFn<F> multiclass_fast_fn(int64_t k) {
  switch ((k + 3) / 4) {
    case 1: return multiclass_fast<1, F>;
    case 2: return multiclass_fast<2, F>;
    case 3: return multiclass_fast<3, F>;
    case 4: return multiclass_fast<4, F>;
    default: return nullptr;
  }
}

// ---- multiclass, float32 rows: grouped by prediction ----------------------------------------------
// The per-row read-modify-write of nine K-wide sums (above) is bound by stores. This path instead
// works on sub-blocks of kSub rows in two passes over data that stays in L1:
// 1. eight rows at a time are transposed into K column registers (one row per lane), and a
//    column sweep finds the first argmax (strict > keeps the first maximum), the float32 row sum
//    and the range check (unsigned maximum of the bit patterns: anything outside [0, 1], -0.0,
//    NaN and inf exceed 1.0f's, so -0.0 only costs a rescan); a compare per class turns the
//    eight predictions into one byte of that class's row mask;
// 2. per predicted class, the rows set in its mask are summed in registers (K-wide p, p^2,
//    p p_j) and added to the partials once (histogram cells, when asked for, still take one
//    scattered add per value here); meanwhile the next sub-block is prefetched, a cache line at
//    a time, so that reading memory overlaps this compute pass.
// (A counting sort into per-class row lists instead of the masks was slower: its counter updates
// wait on each other through memory.)
// The float32 row sum is accepted only within sum_tol - kSumGuard, which covers its rounding
// error (K <= 16 values in [0, 1]: below 2e-6); rows near the limit flag the block, and the
// rescan (check_2d, in double) decides exactly. Tail rows of a call that the transposition cannot
// read without running past the call's rows are checked one by one.
constexpr int64_t kSub = 256;  // rows per sub-block (10 KB at K = 10)
// The moment sums use fused multiply-adds (about 8% faster here; one rounding instead of two).
#define TM_AVX2_FMA __attribute__((target("avx2,fma")))
bool cpu_has_fma() {
  __builtin_cpu_init();  // a constructor: may run before libgcc's own detection
  return __builtin_cpu_supports("fma");
}
const bool g_cpu_fma = cpu_has_fma();
constexpr double kSumGuard = 4e-6;

// How many floats of the last of its eight rows transpose_rows reads (more than K when K < 8, or
// K = 9, or 10 < K < 16: it reads into the rows that follow).
constexpr int64_t grouped_reach(int64_t k) { return k <= 8 ? 8 : k <= 10 ? 10 : 16; }

// Columns 0..K-1 of the eight rows at r (row stride K floats) into c[], one row per lane.

template <int K>
TM_AVX2 __attribute__((always_inline)) inline void transpose_rows(const float* r, __m256* c) {
  for (int h = 0; h < (K > 10 ? 2 : 1); ++h) {
    __m256 a[8];
    for (int t = 0; t < 4; ++t) {
      const float* lo = r + t * K + 8 * h;
      const float* hi = r + (t + 4) * K + 8 * h;
      a[t] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
      a[t + 4] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo + 4)),
                                      _mm_loadu_ps(hi + 4), 1);
    }
    // a[t] = [row t, cols 0-3 | row t+4, cols 0-3] (of this chunk), a[t+4] the same for 4-7
    for (int g = 0; g < 2; ++g) {
      const __m256* x = a + 4 * g;
      const __m256 t0 = _mm256_unpacklo_ps(x[0], x[1]), t1 = _mm256_unpackhi_ps(x[0], x[1]);
      const __m256 t2 = _mm256_unpacklo_ps(x[2], x[3]), t3 = _mm256_unpackhi_ps(x[2], x[3]);
      const int b = 8 * h + 4 * g;
      if (b < K) c[b] = _mm256_shuffle_ps(t0, t2, 0x44);
      if (b + 1 < K) c[b + 1] = _mm256_shuffle_ps(t0, t2, 0xEE);
      if (b + 2 < K) c[b + 2] = _mm256_shuffle_ps(t1, t3, 0x44);
      if (b + 3 < K) c[b + 3] = _mm256_shuffle_ps(t1, t3, 0xEE);
    }
  }
  if constexpr (K == 9 || K == 10) {
    // columns 8 and 9: one 8-byte load per row, two rows per register half
    __m128d q[4];
    for (int t = 0; t < 4; ++t)
      q[t] = _mm_loadh_pd(_mm_load_sd(reinterpret_cast<const double*>(r + 2 * t * K + 8)),
                          reinterpret_cast<const double*>(r + (2 * t + 1) * K + 8));
    // y0 = rows 0, 1 | 4, 5; y1 = rows 2, 3 | 6, 7 (each row: col 8, col 9)
    const __m256 y0 =
        _mm256_castpd_ps(_mm256_insertf128_pd(_mm256_castpd128_pd256(q[0]), q[2], 1));
    const __m256 y1 =
        _mm256_castpd_ps(_mm256_insertf128_pd(_mm256_castpd128_pd256(q[1]), q[3], 1));
    c[8] = _mm256_shuffle_ps(y0, y1, 0x88);
    if constexpr (K == 10) c[9] = _mm256_shuffle_ps(y0, y1, 0xDD);
  }
}

// The last chunk of a row (classes 4 (C4 - 1) .. K - 1) without reading past the row.
template <int K>
TM_AVX2 __attribute__((always_inline)) inline __m128 load_tail(const float* p) {
  constexpr int rem = K - 4 * ((K + 3) / 4 - 1);
  if constexpr (rem == 4) return _mm_loadu_ps(p);
  else if constexpr (rem == 2)
    return _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(p)));
  else if constexpr (rem == 1) return _mm_load_ss(p);
  else return _mm_maskload_ps(p, _mm_setr_epi32(-1, -1, -1, 0));
}

// Same signature and partial layout as multiclass_fast (only the even copy is used); with H the
// histogram cells are added in pass 2 as multiclass_fast does (when nb > 0).
template <int K, bool H>
TM_AVX2_FMA bool multiclass_grouped(const float* s, int64_t lo, int64_t hi, int64_t,
                                   double sum_tol, double* part, double* cells, int64_t nb) {
  constexpr int C4 = (K + 3) / 4;
  constexpr int64_t kp = 4 * C4, area = kp * kp;
  // largest float32 tolerance not above sum_tol - kSumGuard (negative: every row is rescanned)
  float tol32 = static_cast<float>(sum_tol - kSumGuard);
  if (static_cast<double>(tol32) > sum_tol - kSumGuard) tol32 = std::nextafter(tol32, -1.0f);
  const __m256 one = _mm256_set1_ps(1.0f), tol = _mm256_set1_ps(tol32);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256i bits = _mm256_setzero_si256();  // unsigned maximum of every value's bit pattern
  __m256 sum_ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  bool tail_ok = true;
  // rows of each predicted class: bit t % 64 of word t / 64 of class j's mask
  alignas(32) uint64_t mask[K][kSub / 64];
  // full groups of eight rows: the transposition's reads stay inside [lo, hi)
  const int64_t reach = grouped_reach(K);
  for (int64_t b0 = lo; b0 < hi; b0 += kSub) {
    const int64_t m = std::min(kSub, hi - b0);
    const float* base = s + b0 * K;
    std::memset(mask, 0, sizeof(mask));
    uint8_t* mask8 = reinterpret_cast<uint8_t*>(mask);  // byte g of a class: rows 8g .. 8g + 7
    int64_t t = 0;
    for (; t + 8 <= m && (b0 + t + 7) * K + reach <= hi * K; t += 8) {
      __m256 c[K];
      transpose_rows<K>(base + t * K, c);
      __m256 mx = c[0], tot = c[0], idx = _mm256_setzero_ps();
      bits = _mm256_max_epu32(bits, _mm256_castps_si256(c[0]));
      for (int q = 1; q < K; ++q) {
        const __m256 gt = _mm256_cmp_ps(c[q], mx, _CMP_GT_OQ);
        mx = _mm256_max_ps(mx, c[q]);
        idx = _mm256_blendv_ps(idx, _mm256_castsi256_ps(_mm256_set1_epi32(q)), gt);
        tot = _mm256_add_ps(tot, c[q]);
        bits = _mm256_max_epu32(bits, _mm256_castps_si256(c[q]));
      }
      // a NaN sum fails the ordered comparison (and its NaN value fails the bit check)
      sum_ok = _mm256_and_ps(
          sum_ok, _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(tot, one)), tol, _CMP_LE_OQ));
      const __m256i pred = _mm256_castps_si256(idx);
      for (int j = 0; j < K; ++j) {
        const __m256i is_j = _mm256_cmpeq_epi32(pred, _mm256_set1_epi32(j));
        mask8[j * (kSub / 8) + t / 8] =
            static_cast<uint8_t>(_mm256_movemask_ps(_mm256_castsi256_ps(is_j)));
      }
    }
    for (; t < m; ++t) {  // the rows left at the end of the call
      const float* row = base + t * K;
      int32_t j = 0;
      for (int q = 1; q < K; ++q)
        if (row[q] > row[j]) j = q;
      mask[j][t / 64] |= uint64_t{1} << (t % 64);
      tail_ok &= check_2d(row, 0, 1, K, false, sum_tol, true).code == kOk;
    }
    // pass 2; the prefetch address only ever reaches _mm_prefetch, which never faults
    uintptr_t ahead = reinterpret_cast<uintptr_t>(base) + kSub * K * sizeof(float);
    for (int j = 0; j < K; ++j) {
      __m256d a0[C4], a1[C4], a2[C4];
      for (int q = 0; q < C4; ++q) a0[q] = a1[q] = a2[q] = _mm256_setzero_pd();
      for (int64_t w = 0; w < (m + 63) / 64; ++w) {
        for (uint64_t bitset = mask[j][w]; bitset; bitset &= bitset - 1) {
          _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
          ahead += K * sizeof(float);
          const float* row = base + (w * 64 + __builtin_ctzll(bitset)) * K;
          const __m256d pj = _mm256_set1_pd(static_cast<double>(row[j]));
          __m256d p[C4];
          for (int q = 0; q < C4; ++q) {
            p[q] = _mm256_cvtps_pd(q < C4 - 1 ? _mm_loadu_ps(row + 4 * q)
                                              : load_tail<K>(row + 4 * q));
            a0[q] = _mm256_add_pd(a0[q], p[q]);
            a1[q] = _mm256_fmadd_pd(p[q], p[q], a1[q]);
            a2[q] = _mm256_fmadd_pd(p[q], pj, a2[q]);
          }
          if constexpr (H)
            if (nb) add_cells<C4>(p, K - 4 * (C4 - 1), cells, nb);
        }
      }
      double* st = part + j * kp;
      for (int q = 0; q < C4; ++q) {
        double* a = st + 4 * q;
        _mm256_storeu_pd(a, _mm256_add_pd(_mm256_loadu_pd(a), a0[q]));
        a += area;
        _mm256_storeu_pd(a, _mm256_add_pd(_mm256_loadu_pd(a), a1[q]));
        a += area;
        _mm256_storeu_pd(a, _mm256_add_pd(_mm256_loadu_pd(a), a2[q]));
      }
    }
  }
  const __m256i top = _mm256_set1_epi32(0x3F800000);  // 1.0f
  const bool range_ok =
      _mm256_movemask_epi8(_mm256_cmpeq_epi32(_mm256_max_epu32(bits, top), top)) == -1;
  return tail_ok && range_ok && _mm256_movemask_ps(sum_ok) == 0xFF;
}

template <int... Ks>
FastFn<float> grouped_fn_of(int64_t k, bool hist, std::integer_sequence<int, Ks...>) {
  FastFn<float> fn = nullptr;
  ((fn = k != Ks + 2 ? fn
        : hist      ? multiclass_grouped<Ks + 2, true>
                    : multiclass_grouped<Ks + 2, false>),
   ...);
  return fn;
}

// multiclass_grouped for 2 <= K <= 16 (with histogram cells when hist) on CPUs with FMA (every
// AVX2 CPU made so far), else nullptr.
inline FastFn<float> multiclass_grouped_fn(int64_t k, bool hist) {
  if (!g_cpu_fma) return nullptr;
  return grouped_fn_of(k, hist, std::make_integer_sequence<int, 15>{});
}

// Counts [0, n) through the fast path into private partials, then adds them to the outputs.
template <class F>
Err multiclass_fast_run(FastFn<F> fn, const F* s, int64_t n, int64_t k, double sum_tol,
                        double* state, double* moments, double* hist, int64_t nb) {
  const int64_t kp = 4 * ((k + 3) / 4), area = kp * kp;
  // histogram cells only when the batch outweighs them; otherwise the histograms are added in
  // place after the whole batch was found valid
  const int64_t cell_bins = nb <= n ? nb : 0;
  std::vector<double> part(static_cast<size_t>(6 * area), 0.0);
  std::vector<double> cells(static_cast<size_t>(k * cell_bins * 4), 0.0);
  for (int64_t lo = 0; lo < n; lo += kRows) {
    const int64_t hi = std::min(lo + kRows, n);
    if (!fn(s, lo, hi, k, sum_tol, part.data(), cells.data(), cell_bins)) {
      Err e = check_2d(s, lo, hi, k, false, sum_tol, true);
      if (e.code) return e;
    }
  }
  for (int64_t a = 0; a < 3; ++a) {
    double* out = a == 0 ? state : moments + (a - 1) * k * k;
    const double* even = part.data() + a * area;
    const double* odd = even + 3 * area;
    for (int64_t c = 0; c < k; ++c)
      for (int64_t j = 0; j < k; ++j) out[c * k + j] += even[j * kp + c] + odd[j * kp + c];
  }
  if (nb && !cell_bins)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < k; ++c) {
        const double p = static_cast<double>(s[i * k + c]);
        double* h = hist + c * 3 * nb + bin_of(p, nb);
        h[0] += p;
        h[nb] += 1.0 - p;
        h[2 * nb] += p * (1.0 - p);
      }
  for (int64_t c = 0; c < k; ++c)
    for (int64_t b = 0; b < cell_bins; ++b) {
      const double* d = cells.data() + (c * nb + b) * 4;
      double* h = hist + c * 3 * nb + b;
      h[0] += d[0];
      h[nb] += d[1];
      h[2 * nb] += d[2];
    }
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


}  // namespace

template <class F>
Err binary(const F* s, int64_t n, double cut, bool logits, const double* table, int64_t tlen,
           int32_t mode, double* state, double* var, double* hist, int64_t nb) {
  double acc[6] = {0, 0, 0, 0, 0, 0};
  const bool plain = !logits && mode == 0 && nb == 0;
  const bool avx2 = use_avx2();
  const int64_t nbs = nb ? nb : 1;
  const int64_t cell_size = kCopies * nbs * 8;
  if (!plain && cell_size > 4 * n) {
    // small batch: check it all, then count straight into the outputs
    Err e = check_1d(s, 0, n, logits);
    if (e.code) return e;
    binary_general(s, 0, n, cut, logits, table, tlen, mode, acc, hist, nb);
  } else if (plain) {
    for (int64_t lo = 0; lo < n; lo += kRows) {
      const int64_t hi = std::min(lo + kRows, n);
      const bool ok = avx2 ? binary_plain_avx2(s, lo, hi, cut, acc)
                           : binary_plain_base(s, lo, hi, cut, acc);
      if (!ok) return check_1d(s, lo, hi, logits);
    }
  } else if (nbs > kMaxCellBins) {
    // very fine histograms: the cell table would dwarf the state; check each block, then count
    // it into a private histogram
    std::vector<double> h(static_cast<size_t>(3 * nb), 0.0);
    for (int64_t lo = 0; lo < n; lo += kRows) {
      const int64_t hi = std::min(lo + kRows, n);
      Err e = check_1d(s, lo, hi, logits);
      if (e.code) return e;
      binary_general(s, lo, hi, cut, logits, table, tlen, mode, acc, h.data(), nb);
    }
    for (int64_t b = 0; b < 3 * nb; ++b) hist[b] += h[static_cast<size_t>(b)];
  } else {
    std::vector<double> cells(static_cast<size_t>(cell_size), 0.0);
    for (int64_t lo = 0; lo < n; lo += kRows) {
      const int64_t hi = std::min(lo + kRows, n);
      const bool ok =
          avx2 ? binary_cells_avx2(s, lo, hi, cut, logits, table, tlen, mode, cells.data(), nbs)
               : binary_cells_base(s, lo, hi, cut, logits, table, tlen, mode, cells.data(), nbs);
      if (!ok) {
        Err e = check_1d(s, lo, hi, logits);
        if (e.code) return e;
      }
    }
    std::vector<double> h(static_cast<size_t>(3 * nb), 0.0);
    binary_fold(cells.data(), nbs, nb, acc, h.data());
    for (int64_t b = 0; b < 3 * nb; ++b) hist[b] += h[static_cast<size_t>(b)];
  }
  state[0] += acc[0];
  state[1] += acc[1];
  state[2] += acc[2];
  state[3] += acc[3];
  var[0] += acc[4];
  var[1] += acc[5];
  return {};
}

template <class F>
Err multiclass(const F* s, int64_t n, int64_t k, bool logits, double sum_tol,
               const double* table, int64_t tlen, int32_t mode, double* state, double* moments,
               double* hist, int64_t nb) {
  const int64_t sizes = 3 * k * k + 3 * k * nb;
  const bool in_place = sizes > 4 * n * k;
  const bool avx2 = use_avx2();
  const int64_t kp = 4 * ((k + 3) / 4);
  if (6 * kp * kp <= 4 * n * k && avx2 && !logits && mode == 0 && nb < (int64_t{1} << 24)) {
    if constexpr (std::is_same_v<F, float>) {
      if (FastFn<float> fn = multiclass_grouped_fn(k, nb > 0))
        return multiclass_fast_run(fn, s, n, k, sum_tol, state, moments, hist, nb);
    }
    if (FastFn<F> fn = multiclass_fast_fn<F>(k))
      return multiclass_fast_run(fn, s, n, k, sum_tol, state, moments, hist, nb);
  }
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


template Err binary<float>(const float*, int64_t, double, bool, const double*, int64_t, int32_t,
                           double*, double*, double*, int64_t);
template Err binary<double>(const double*, int64_t, double, bool, const double*, int64_t,
                            int32_t, double*, double*, double*, int64_t);
template Err multiclass<float>(const float*, int64_t, int64_t, bool, double, const double*,
                               int64_t, int32_t, double*, double*, double*, int64_t);
template Err multiclass<double>(const double*, int64_t, int64_t, bool, double, const double*,
                                int64_t, int32_t, double*, double*, double*, int64_t);
template Err multilabel<float>(const float*, int64_t, int64_t, double, bool, const double*,
                               int64_t, int32_t, double*, double*, double*, double*, int64_t);
template Err multilabel<double>(const double*, int64_t, int64_t, double, bool, const double*,
                                int64_t, int32_t, double*, double*, double*, double*, int64_t);

}  // namespace expected
}  // namespace tallyml
