// Multilabel counts: a 2x2 table per label plus the histogram of per-row (tp, fp, fn) triplets
// (needed for average="samples"). Unweighted tables are column sums (rows, sum t, sum p,
// sum t&p per label); weighted tables add each weight to its cell in row order.
// Unweighted counting of 1-byte targets against scores runs on bit masks when AVX2 is there
// (count_masks): validation is fused into the same pass and a flagged block is rescanned.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common.hpp"
#include "kernels.hpp"
#include "threads.hpp"

// popcnt comes with every AVX2 CPU; named so that __builtin_popcount is one instruction.
#define TM_MASK_TARGET __attribute__((target("avx2,popcnt")))

namespace tallyml {
namespace {

template <class T, class P, class S, bool Scores>
struct MultilabelKernel {
  static constexpr bool kCanDirect = true;
  static constexpr bool kWeighted = std::is_same_v<S, double>;
  using TU = std::make_unsigned_t<T>;

  const T* t;
  const P* p;  // n x L labels or scores
  const double* w;
  int64_t l;
  P thr;
  S* state;    // L x 2 x 2
  S* samples;  // triplet histogram
  int64_t n;   // rows of the whole batch (bounds the label loads of count_masks)

  // Per-label accumulators: unweighted {sum t, sum p, sum t&p} x L (+ rows), weighted 4 cells x L.
  int64_t col_len() const { return kWeighted ? 4 * l : 3 * l; }
  struct Partial {
    std::vector<S> cols;
    int64_t rows = 0;
    std::vector<S> samples;
  };
  Partial new_partial() const {
    Partial p;
    p.cols.assign(static_cast<size_t>(col_len()), S{0});
    p.samples.assign(static_cast<size_t>(triplet_bins(l)), S{0});
    return p;
  }
  bool direct(int64_t rows) const { return rows / 4 < triplet_bins(l); }

  TM_HOT uint32_t pred_bit(P v) const {
    if constexpr (Scores)
      return v >= thr;
    else
      return static_cast<uint32_t>(static_cast<std::make_unsigned_t<P>>(v));
  }
  TM_HOT uint32_t pred_bad(P v) const {
    if constexpr (Scores)
      return nonfinite(v);
    else
      return static_cast<std::make_unsigned_t<P>>(v) > 1;
  }

  TM_HOT uint32_t screen(int64_t b, int64_t e) const {
    uint32_t bad = 0;
    const int64_t lo = b * l, hi = e * l;
    for (int64_t j = lo; j < hi; ++j) bad |= static_cast<uint32_t>(static_cast<TU>(t[j]) > 1);
    for (int64_t j = lo; j < hi; ++j) bad |= pred_bad(p[j]);
    if constexpr (kWeighted)
      for (int64_t i = b; i < e; ++i) bad |= weight_bad(w[i]);
    return bad;
  }
  __attribute__((noinline)) uint32_t screen_base(int64_t b, int64_t e) const {
    return screen(b, e);
  }
  TM_AVX2 __attribute__((noinline)) uint32_t screen_avx2(int64_t b, int64_t e) const {
    return screen(b, e);
  }

  // 0 none, 1 target, 2 preds, 3 weight; *col the first bad column.
  int which_bad(int64_t i, int64_t* col) const {
    *col = -1;
    for (int64_t j = 0; j < l; ++j)
      if (static_cast<TU>(t[i * l + j]) > 1) {
        *col = j;
        return 1;
      }
    for (int64_t j = 0; j < l; ++j)
      if (pred_bad(p[i * l + j])) {
        *col = j;
        return 2;
      }
    if (kWeighted && weight_bad(w[i])) return 3;
    return 0;
  }

  int64_t validate(int64_t b, int64_t e) const {
    const bool avx2 = use_avx2();
    const int64_t step = block_rows(l);
    for (int64_t bb = b; bb < e; bb += step) {
      const int64_t ee = std::min(e, bb + step);
      if (avx2 ? screen_avx2(bb, ee) : screen_base(bb, ee)) {
        int64_t col;
        for (int64_t i = bb; i < ee; ++i)
          if (which_bad(i, &col)) return i;
      }
    }
    return -1;
  }

  // Unweighted rows [b, e) with per-label sums in local uint32 arrays: with no possible aliasing
  // between them and the inputs (int8 labels may alias anything), the label loop vectorises.
  TM_HOT void rows_local(int64_t b, int64_t e, uint32_t* __restrict at, uint32_t* __restrict ap,
                         uint32_t* __restrict atp, S* hist) const {
    const int64_t nl = l;
    for (int64_t i = b; i < e; ++i) {
      const T* __restrict tr = t + i * nl;
      const P* __restrict pr = p + i * nl;
      uint32_t st = 0, sp = 0, stp = 0;
      for (int64_t j = 0; j < nl; ++j) {
        const uint32_t tb = static_cast<uint32_t>(static_cast<TU>(tr[j]));
        const uint32_t pb = pred_bit(pr[j]);
        at[j] += tb;
        ap[j] += pb;
        atp[j] += tb & pb;
        st += tb;
        sp += pb;
        stp += tb & pb;
      }
      hist[triplet_index(stp, sp - stp, st - stp)] += 1;
    }
  }

  static constexpr int64_t kLocalLabels = 256;
  static constexpr int64_t kLocalRows = int64_t{1} << 24;  // uint32 sums cannot overflow

  TM_HOT void count(int64_t b, int64_t e, S* cols, S* hist) const {
    if constexpr (!kWeighted) {
      if (l <= kLocalLabels) {
        alignas(32) uint32_t at[kLocalLabels], ap[kLocalLabels], atp[kLocalLabels];
        for (int64_t sb = b; sb < e; sb += kLocalRows) {
          const int64_t se = std::min(e, sb + kLocalRows);
          for (int64_t j = 0; j < l; ++j) at[j] = ap[j] = atp[j] = 0;
          rows_local(sb, se, at, ap, atp, hist);
          for (int64_t j = 0; j < l; ++j) {
            cols[j] += at[j];
            cols[l + j] += ap[j];
            cols[2 * l + j] += atp[j];
          }
        }
        return;
      }
    }
    for (int64_t i = b; i < e; ++i) {
      const T* tr = t + i * l;
      const P* pr = p + i * l;
      uint32_t st = 0, sp = 0, stp = 0;
      if constexpr (!kWeighted) {
        S* ct = cols;
        S* cp = cols + l;
        S* ctp = cols + 2 * l;
        for (int64_t j = 0; j < l; ++j) {
          const uint32_t tb = static_cast<uint32_t>(static_cast<TU>(tr[j]));
          const uint32_t pb = pred_bit(pr[j]);
          ct[j] += tb;
          cp[j] += pb;
          ctp[j] += tb & pb;
          st += tb;
          sp += pb;
          stp += tb & pb;
        }
        hist[triplet_index(stp, sp - stp, st - stp)] += 1;
      } else {
        const double wi = w[i];
        for (int64_t j = 0; j < l; ++j) {
          const uint32_t tb = static_cast<uint32_t>(static_cast<TU>(tr[j]));
          const uint32_t pb = pred_bit(pr[j]);
          cols[4 * j + 2 * tb + pb] += wi;
          st += tb;
          sp += pb;
          stp += tb & pb;
        }
        hist[triplet_index(stp, sp - stp, st - stp)] += wi;
      }
    }
  }
  __attribute__((noinline)) void count_base(int64_t b, int64_t e, S* c, S* h) const {
    count(b, e, c, h);
  }
  TM_AVX2 __attribute__((noinline)) void count_avx2(int64_t b, int64_t e, S* c, S* h) const {
    count(b, e, c, h);
  }
  void count_any(int64_t b, int64_t e, S* c, S* h) const {
    if (mask_path()) {
      count_masks(b, e, c, h);  // rows already validated
      return;
    }
    if (use_avx2())
      count_avx2(b, e, c, h);
    else
      count_base(b, e, c, h);
  }

  // ---- bit-mask path: 1-byte targets, scores, unweighted, AVX2 ----------------------------
  // Per row and per chunk of 32 labels: the scores give a 32-bit mask of predicted positives
  // (8 floats or 4 doubles a compare, movemask; the last vector of a chunk overlaps the previous
  // one instead of reading past the row), the target bytes a mask of true positives. Per-label
  // sums of t, p and t&p are byte lanes (lane j = label j of the chunk) flushed before they can
  // wrap; the row's (tp, fp, fn) triplet comes from three popcounts. Non-finite scores and
  // target bytes outside {0, 1} are OR-ed into accumulators and tested once per call.
  static constexpr bool kMaskTypes = sizeof(T) == 1 && Scores && !kWeighted;
  static constexpr int64_t kMaskMaxLabels = 256;
  static constexpr int64_t kMaskFlush = 255;  // rows per flush: a byte lane adds at most 1 a row
  bool mask_path() const { return kMaskTypes && l <= kMaskMaxLabels && use_avx2(); }

  // Returns non-zero when some target or score of rows [b, e) is bad; the counts added into
  // cols and hist are then meaningless.
  template <int NCH>
  TM_MASK_TARGET uint32_t count_masks_n(int64_t b, int64_t e, S* cols, S* hist) const {
    if constexpr (!kMaskTypes) {
      return 0;
    } else {
      constexpr int kMaxCh = NCH > 0 ? NCH : static_cast<int>(kMaskMaxLabels / 32);
      const int nch = NCH > 0 ? NCH : static_cast<int>((l + 31) / 32);
      constexpr int kW = std::is_same_v<P, float> ? 8 : 4;  // scores per vector
      const __m256i one = _mm256_set1_epi8(1);
      const __m256i sel = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                           2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
      const __m256i bitsel = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
      __m256i acc_t[kMaxCh], acc_p[kMaxCh], acc_tp[kMaxCh], lab_or[kMaxCh];
      for (int c = 0; c < nch; ++c)
        acc_t[c] = acc_p[c] = acc_tp[c] = lab_or[c] = _mm256_setzero_si256();
      __m256i nf = _mm256_setzero_si256();
      const int64_t end_elems = n * l;  // a 32-byte label load must stay below this
      int64_t since_flush = 0;
      for (int64_t i = b; i < e; ++i) {
        const int8_t* tr = reinterpret_cast<const int8_t*>(t) + i * l;
        const P* pr = p + i * l;
        int64_t st = 0, sp = 0, stp = 0;
        for (int c = 0; c < nch; ++c) {
          const int64_t lo = 32 * int64_t{c};
          const int cnt = static_cast<int>(std::min<int64_t>(32, l - lo));
          const uint32_t lanes = cnt == 32 ? ~0u : (1u << cnt) - 1;
          __m256i lv;
          if (i * l + lo + 32 <= end_elems) {
            lv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tr + lo));
          } else {  // the batch's last rows: never read past its end
            alignas(32) int8_t tmp[32] = {};
            std::memcpy(tmp, tr + lo, static_cast<size_t>(cnt));
            lv = _mm256_load_si256(reinterpret_cast<const __m256i*>(tmp));
          }
          lab_or[c] = _mm256_or_si256(lab_or[c], lv);
          const uint32_t tm =
              static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(lv, one))) & lanes;
          uint32_t pm = 0;
          const P* pc = pr + lo;
          if (cnt >= kW) {
            for (int o = 0; o < cnt; o += kW) {
              const int at = std::min(o, cnt - kW);  // the last vector overlaps the one before
              pm |= score_bits(pc + at, nf) << at;
            }
          } else {
            pm = score_bits_partial(pc, cnt, nf) & lanes;
          }
          const __m256i pb = _mm256_cmpeq_epi8(
              _mm256_and_si256(
                  _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int32_t>(pm)), sel), bitsel),
              bitsel);
          acc_t[c] = _mm256_add_epi8(acc_t[c], lv);
          acc_p[c] = _mm256_sub_epi8(acc_p[c], pb);
          acc_tp[c] = _mm256_add_epi8(acc_tp[c], _mm256_and_si256(lv, pb));
          st += __builtin_popcount(tm);
          sp += __builtin_popcount(pm);
          stp += __builtin_popcount(tm & pm);
        }
        hist[triplet_index(stp, sp - stp, st - stp)] += 1;
        if (++since_flush == kMaskFlush) {
          flush_bytes(nch, acc_t, acc_p, acc_tp, cols);
          since_flush = 0;
        }
      }
      flush_bytes(nch, acc_t, acc_p, acc_tp, cols);
      uint32_t bad = !_mm256_testz_si256(nf, nf);
      for (int c = 0; c < nch; ++c) {
        const int cnt = static_cast<int>(std::min<int64_t>(32, l - 32 * int64_t{c}));
        alignas(32) uint8_t m[32] = {};
        std::memset(m, 0xFE, static_cast<size_t>(cnt));  // a valid byte is 0 or 1
        const __m256i mv = _mm256_load_si256(reinterpret_cast<const __m256i*>(m));
        bad |= !_mm256_testz_si256(lab_or[c], mv);
      }
      return bad;
    }
  }

  // Add the byte lanes of each chunk (lane j = label 32c + j) into the column sums; zero them.
  TM_MASK_TARGET TM_HOT void flush_bytes(int nch, __m256i* acc_t, __m256i* acc_p,
                                         __m256i* acc_tp, S* cols) const {
    alignas(32) uint8_t bt[32], bp[32], btp[32];
    for (int c = 0; c < nch; ++c) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(bt), acc_t[c]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(bp), acc_p[c]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(btp), acc_tp[c]);
      const int64_t lo = 32 * int64_t{c}, cnt = std::min<int64_t>(32, l - lo);
      for (int64_t j = 0; j < cnt; ++j) {
        cols[lo + j] += bt[j];
        cols[l + lo + j] += bp[j];
        cols[2 * l + lo + j] += btp[j];
      }
      acc_t[c] = acc_p[c] = acc_tp[c] = _mm256_setzero_si256();
    }
  }

  // kW scores at s: bits of `>= thr`; non-finite lanes OR-ed into nf.
  TM_MASK_TARGET static TM_HOT uint32_t score_bits_vec(__m256 v, __m256 th, __m256i& nf) {
    const __m256i expm = _mm256_set1_epi32(0x7f800000);
    const __m256i ex = _mm256_and_si256(_mm256_castps_si256(v), expm);
    nf = _mm256_or_si256(nf, _mm256_cmpeq_epi32(ex, expm));
    return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v, th, _CMP_GE_OQ)));
  }
  TM_MASK_TARGET static TM_HOT uint32_t score_bits_vec(__m256d v, __m256d th, __m256i& nf) {
    const __m256i expm = _mm256_set1_epi64x(0x7ff0000000000000ll);
    const __m256i ex = _mm256_and_si256(_mm256_castpd_si256(v), expm);
    nf = _mm256_or_si256(nf, _mm256_cmpeq_epi64(ex, expm));
    return static_cast<uint32_t>(_mm256_movemask_pd(_mm256_cmp_pd(v, th, _CMP_GE_OQ)));
  }
  TM_MASK_TARGET TM_HOT uint32_t score_bits(const P* s, __m256i& nf) const {
    if constexpr (std::is_same_v<P, float>)
      return score_bits_vec(_mm256_loadu_ps(s), _mm256_set1_ps(thr), nf);
    else
      return score_bits_vec(_mm256_loadu_pd(s), _mm256_set1_pd(thr), nf);
  }
  // Fewer than one vector of scores: a masked load (lanes >= cnt read as 0.0, never fault).
  TM_MASK_TARGET TM_HOT uint32_t score_bits_partial(const P* s, int cnt, __m256i& nf) const {
    if constexpr (std::is_same_v<P, float>) {
      const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt), idx);
      return score_bits_vec(_mm256_maskload_ps(s, m), _mm256_set1_ps(thr), nf);
    } else {
      const __m256i idx = _mm256_setr_epi64x(0, 1, 2, 3);
      const __m256i m = _mm256_cmpgt_epi64(_mm256_set1_epi64x(cnt), idx);
      return score_bits_vec(_mm256_maskload_pd(s, m), _mm256_set1_pd(thr), nf);
    }
  }
  TM_MASK_TARGET __attribute__((noinline)) uint32_t count_masks(int64_t b, int64_t e, S* cols,
                                                                 S* hist) const {
    // one chunk (L <= 32) keeps every accumulator in a register
    return l <= 32 ? count_masks_n<1>(b, e, cols, hist) : count_masks_n<0>(b, e, cols, hist);
  }

  // Fold per-label accumulators into the L x 2 x 2 state.
  void fold(const S* cols, int64_t rows) const {
    if constexpr (kWeighted) {
      for (int64_t j = 0; j < 4 * l; ++j) state[j] += cols[j];
    } else {
      for (int64_t j = 0; j < l; ++j) {
        const int64_t st = cols[j], sp = cols[l + j], stp = cols[2 * l + j];
        state[4 * j + 0] += rows - st - sp + stp;
        state[4 * j + 1] += sp - stp;
        state[4 * j + 2] += st - stp;
        state[4 * j + 3] += stp;
      }
    }
  }

  void count_direct(int64_t b, int64_t e) const {
    if constexpr (kWeighted) {
      count_any(b, e, state, samples);  // cells are laid out as the state itself
    } else {
      // Column sums are O(L): small even when the triplet histogram is not.
      constexpr int64_t kStack = 3 * 64;
      S stack_cols[kStack];
      std::vector<S> heap_cols;
      S* cols = stack_cols;
      if (col_len() > kStack) {
        heap_cols.assign(static_cast<size_t>(col_len()), S{0});
        cols = heap_cols.data();
      } else {
        std::fill(stack_cols, stack_cols + col_len(), S{0});
      }
      count_any(b, e, cols, samples);
      fold(cols, e - b);
    }
  }
  void count_partial(int64_t b, int64_t e, Partial& part) const {
    count_any(b, e, part.cols.data(), part.samples.data());
    part.rows += e - b;
  }

  int64_t process(int64_t b, int64_t e, Partial& part) const {
    const int64_t step = block_rows(l);
    const bool fused = mask_path();
    for (int64_t bb = b; bb < e; bb += step) {
      const int64_t ee = std::min(e, bb + step);
      if (fused) {  // one pass: count and check, rescan a flagged block exactly
        if (count_masks(bb, ee, part.cols.data(), part.samples.data())) {
          int64_t col;
          for (int64_t i = bb; i < ee; ++i)
            if (which_bad(i, &col)) return i;
        }
        part.rows += ee - bb;
        continue;
      }
      if (int64_t r = validate(bb, ee); r >= 0) return r;
      count_partial(bb, ee, part);
    }
    return -1;
  }

  void commit(const Partial& part) const {
    fold(part.cols.data(), part.rows);
    const int64_t nb = static_cast<int64_t>(part.samples.size());
    for (int64_t j = 0; j < nb; ++j) samples[j] += part.samples[j];
  }

  void report(int64_t i) const {
    int64_t col;
    switch (which_bad(i, &col)) {
      case 1:
        report_label("target", i, col, static_cast<int64_t>(t[i * l + col]), 2);
        break;
      case 2:
        if constexpr (Scores)
          report_score("preds", i, col, static_cast<double>(p[i * l + col]));
        else
          report_label("preds", i, col, static_cast<int64_t>(p[i * l + col]), 2);
        break;
      default:
        report_weight(i, w[i]);
    }
  }
};

template <class T, class P, class S, bool Scores>
int run_multilabel(const T* t, const P* p, const double* w, int64_t n, int64_t l,
                   double threshold, S* state, S* samples, int32_t num_threads) {
  P thr{};
  if constexpr (Scores) thr = score_threshold<P>(threshold);
  // Weighted sums stay on one thread: bit-identical to the one-thread result (see binary.cpp).
  if constexpr (std::is_same_v<S, double>) num_threads = 1;
  MultilabelKernel<T, P, S, Scores> k{t, p, w, l, thr, state, samples, n};
  return drive(k, n, std::max<int64_t>(l, 1), num_threads);
}

}  // namespace

template <class T, class P, class S>
int multilabel_labels(const T* target, const P* preds, const double* weight, int64_t n,
                      int64_t num_labels, S* state, S* samples, int32_t num_threads) {
  return run_multilabel<T, P, S, false>(target, preds, weight, n, num_labels, 0.0, state,
                                        samples, num_threads);
}

template <class T, class F, class S>
int multilabel_scores(const T* target, const F* scores, const double* weight, int64_t n,
                      int64_t num_labels, double threshold, S* state, S* samples,
                      int32_t num_threads) {
  return run_multilabel<T, F, S, true>(target, scores, weight, n, num_labels, threshold, state,
                                       samples, num_threads);
}

#define TM_INST_LABELS(tn, T, pn, P)                                                          \
  template int multilabel_labels<T, P, int64_t>(const T*, const P*, const double*, int64_t,   \
                                                int64_t, int64_t*, int64_t*, int32_t);        \
  template int multilabel_labels<T, P, double>(const T*, const P*, const double*, int64_t,    \
                                               int64_t, double*, double*, int32_t);
TM_LABEL_LABEL_PAIRS(TM_INST_LABELS)
#define TM_INST_SCORES(tn, T, sn, F)                                                          \
  template int multilabel_scores<T, F, int64_t>(const T*, const F*, const double*, int64_t,   \
                                                int64_t, double, int64_t*, int64_t*, int32_t); \
  template int multilabel_scores<T, F, double>(const T*, const F*, const double*, int64_t,    \
                                               int64_t, double, double*, double*, int32_t);
TM_LABEL_SCORE_PAIRS(TM_INST_SCORES)

}  // namespace tallyml
