// Multiclass confusion counts (K x K) from labels or from row-wise argmax of scores.
// Unweighted counting (the common case) is fused: for labels, a vectorised pass turns a sub-block
// of rows into cell indices and range-checks them, then the indices are added while the next
// sub-block's input is prefetched (memory reads overlap the scatter); for float32 scores with
// 8 <= K <= 16, an AVX2 row argmax also checks finiteness. A flagged block is rescanned exactly.
// Weighted counting (and counting that fills `seen`) runs per block: a vectorised check pass
// (labels in range, scores finite, weights valid), then the counting pass over the same rows
// while they are in L1. Large batches count into private
// histograms (four interleaved copies when unweighted, so repeated bins do not serialise on
// store-to-load forwarding); small batches against a large state validate everything first and
// count straight into the caller's state (no O(K^2) zero + add per call). Fused label counting
// with a large state (K^2 > kBigBins) keeps the diagonal in its own K cells after the matrix:
// most rows of a useful classifier are right, and their cells then stay in L1 instead of
// touching one cache line per class. Its private counts are uint32 (half the footprint: at
// K = 1000 the 4 MB table stays within the TLB's reach, the 8 MB int64 one does not, and every
// random cell cost a page walk), spilled into int64 before any cell could wrap.
#include <immintrin.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "common.hpp"
#include "kernels.hpp"
#include "threads.hpp"

namespace tallyml {
namespace {

template <class T, class P, class S, bool Scores, bool Ign>
struct MulticlassKernel {
  static constexpr bool kCanDirect = true;
  static constexpr bool kWeighted = std::is_same_v<S, double>;

  const T* t;
  const P* p;  // labels (n) or scores (n x K)
  const double* w;
  int64_t k;
  S* state;
  uint8_t* seen;
  T ign;
  int copies;  // interleaved histogram copies in a partial
  int64_t rows;  // rows of the whole batch (bounds the prefetch)

  // Cell indices fit uint32 up to this K (K * K + 1 < 2^31).
  static constexpr int64_t kStagedMaxK = 40000;
  // Unweighted counting without `seen` checks while it counts (one pass over memory).
  bool fused() const { return !kWeighted && seen == nullptr && k <= kStagedMaxK; }

  int64_t bins() const { return k * k; }
  int64_t stride() const { return bins() + 1; }  // + one bin that absorbs ignored rows
  int64_t row_elems() const { return Scores ? std::max<int64_t>(k, 1) : 1; }

  struct Partial {
    std::vector<S> hist;
    std::vector<uint8_t> seen;
    std::vector<uint32_t> cells32;  // split_diag(): the counts, hist only takes spills
    int64_t rows32 = 0;             // rows counted into cells32 since the last spill
  };
  // Split diagonal: fused label counting into a big state (see the file comment).
  bool split_diag() const { return fused() && !Scores && bins() > kBigBins; }
  Partial new_partial() const {
    Partial p;
    if (split_diag())
      p.cells32.assign(static_cast<size_t>(stride() + k), 0u);
    else
      p.hist.assign(static_cast<size_t>(stride() * copies), S{0});
    if (seen) p.seen.assign(static_cast<size_t>(k), 0);
    return p;
  }
  // Partials cost O(copies * K^2) to zero and add: worth it only when the batch dwarfs them.
  bool direct(int64_t rows) const { return rows / 4 / copies < stride(); }

  TM_HOT bool kept(int64_t i) const { return !Ign || t[i] != ign; }

  TM_HOT int64_t pred_of(int64_t i) const {
    if constexpr (Scores) {
      const P* r = p + i * k;
      P best = r[0];
      int64_t arg = 0;
      // Branch-free select (random scores make a branch mispredict often); strict `>` keeps
      // the first maximum.
      for (int64_t j = 1; j < k; ++j) {
        const P v = r[j];
        const bool gt = v > best;
        best = gt ? v : best;
        arg = gt ? j : arg;
      }
      return arg;
    } else {
      return static_cast<int64_t>(p[i]);
    }
  }

  // Vectorised screen of rows [b, e): 0 means every kept row is valid. Exact for labels; for
  // scores it also flags non-finite scores of ignored rows (the exact scan sorts that out).
  TM_HOT uint32_t screen(int64_t b, int64_t e) const {
    uint32_t bad = 0;
    const uint64_t hi = static_cast<uint64_t>(k);
    for (int64_t i = b; i < e; ++i) {
      uint32_t bd = label_bad(t[i], hi);
      if constexpr (!Scores) bd |= label_bad(p[i], hi);
      if constexpr (kWeighted) bd |= weight_bad(w[i]);
      if constexpr (Ign) bd &= t[i] != ign;
      bad |= bd;
    }
    if constexpr (Scores) {
      const P* s = p + b * k;
      const int64_t m = (e - b) * k;
      for (int64_t j = 0; j < m; ++j) bad |= nonfinite(s[j]);
    }
    return bad;
  }
  __attribute__((noinline)) uint32_t screen_base(int64_t b, int64_t e) const {
    return screen(b, e);
  }
  TM_AVX2 __attribute__((noinline)) uint32_t screen_avx2(int64_t b, int64_t e) const {
    return screen(b, e);
  }

  // Which argument of row i is bad first: 0 none, 1 target, 2 preds, 3 weight; *col for 2-D.
  int which_bad(int64_t i, int64_t* col) const {
    *col = -1;
    if (!kept(i)) return 0;
    if (label_bad(t[i], static_cast<uint64_t>(k))) return 1;
    if constexpr (Scores) {
      for (int64_t j = 0; j < k; ++j)
        if (nonfinite(p[i * k + j])) {
          *col = j;
          return 2;
        }
    } else {
      if (label_bad(p[i], static_cast<uint64_t>(k))) return 2;
    }
    if (kWeighted && weight_bad(w[i])) return 3;
    return 0;
  }

  int64_t validate(int64_t b, int64_t e) const {
    const bool avx2 = use_avx2();
    const int64_t step = block_rows(row_elems());
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

  // Rows of a staged sub-block: its indices stay in L1.
  static constexpr int64_t kSub = 1024;
  // Histograms above this many cells (1 copy) leave L2: their cells are prefetched ahead.
  static constexpr int64_t kBigBins = 32768;
  static constexpr int64_t kHistAhead = 64;

  // Labels, unweighted, K <= kStagedMaxK: a vectorised pass computes the cell index of each row
  // of a sub-block and range-checks it (bad and ignored rows go to the trash bin), then the
  // indices are added into `ncopies` interleaved copies while the next sub-block is prefetched.
  // Returns non-zero when some kept row is bad (its counts are then meaningless).
  template <class H>
  TM_HOT uint32_t count_labels_staged(int64_t b, int64_t e, H* hist, int ncopies) const {
    alignas(64) uint32_t idx[kSub];
    const uint32_t kk = static_cast<uint32_t>(k);
    const uint32_t trash = static_cast<uint32_t>(bins());
    const uint64_t hi = static_cast<uint64_t>(k);
    H* h0 = hist;
    H* h1 = ncopies == 4 ? h0 + stride() : h0;
    H* h2 = ncopies == 4 ? h1 + stride() : h0;
    H* h3 = ncopies == 4 ? h2 + stride() : h0;
    const bool big = bins() > kBigBins;
    // big: right rows count into the K diagonal cells after the matrix (ncopies is 1)
    const uint32_t diag = big ? static_cast<uint32_t>(stride()) : 0;
    uint32_t bad = 0;
    for (int64_t sb = b; sb < e; sb += kSub) {
      const int64_t se = std::min(e, sb + kSub), m = se - sb;
      for (int64_t i = 0; i < m; ++i) {
        const T tv = t[sb + i];
        const P pv = p[sb + i];
        const uint32_t bd = label_bad(tv, hi) | label_bad(pv, hi);
        uint32_t keep = bd ^ 1u;
        if constexpr (Ign) {
          const uint32_t kp = tv != ign;
          bad |= bd & kp;
          keep &= kp;
        } else {
          bad |= bd;
        }
        const uint32_t cell = static_cast<uint32_t>(tv) * kk + static_cast<uint32_t>(pv);
        uint32_t id = keep ? cell : trash;
        if (big) id = (keep && tv == pv) ? diag + static_cast<uint32_t>(tv) : id;
        idx[i] = id;
      }
      // Input lines of the next sub-block, one target and one preds step per 16 rows.
      const char* nt = reinterpret_cast<const char*>(t + se);
      const char* np = reinterpret_cast<const char*>(p + se);
      const int64_t ahead = std::min<int64_t>(kSub, rows - se);
      int64_t i = 0;
      for (; i + 16 <= m; i += 16) {
        if (big) {
          // large histograms miss the cache: request the cells kHistAhead rows ahead
          const int64_t r = i + kHistAhead;
          if (r + 16 <= m)
            for (int j = 0; j < 16; ++j) __builtin_prefetch(h0 + idx[r + j], 1);
        }
        if (i < ahead) {
          for (int64_t o = i * int64_t(sizeof(T)); o < (i + 16) * int64_t(sizeof(T)); o += 64)
            __builtin_prefetch(nt + o);
          for (int64_t o = i * int64_t(sizeof(P)); o < (i + 16) * int64_t(sizeof(P)); o += 64)
            __builtin_prefetch(np + o);
        }
        for (int j = 0; j < 16; j += 4) {
          h0[idx[i + j]] += 1;
          h1[idx[i + j + 1]] += 1;
          h2[idx[i + j + 2]] += 1;
          h3[idx[i + j + 3]] += 1;
        }
      }
      for (; i < m; ++i) h0[idx[i]] += 1;
    }
    return bad;
  }

  // Scores, unweighted: argmax, finiteness check and counting in one pass (scalar, branch-free
  // argmax; rows with a bad target go to the trash bin).
  TM_HOT uint32_t count_scores_fused(int64_t b, int64_t e, S* hist) const {
    const int64_t trash = bins();
    const uint64_t hi = static_cast<uint64_t>(k);
    uint32_t bad = 0;
    for (int64_t i = b; i < e; ++i) {
      const P* r = p + i * k;
      uint32_t nf = 0;
      for (int64_t j = 0; j < k; ++j) nf |= nonfinite(r[j]);
      const uint32_t tb = label_bad(t[i], hi);
      const bool kp = kept(i);
      bad |= (nf | tb) & kp;
      const int64_t cell = static_cast<int64_t>(t[i]) * k + pred_of(i);
      hist[(kp && !tb) ? cell : trash] += 1;
    }
    return bad;
  }

  // float32 scores, 8 <= K <= 16, AVX2: per row two overlapping 8-wide loads cover the row; the
  // row maximum is reduced in-register and the first column equal to it (equal compares treat
  // -0.0 and 0.0 alike, as argmax's `>` does) comes from the compare masks. Non-finite scores
  // are flagged on the same registers.
  TM_AVX2 __attribute__((noinline)) uint32_t scores_f32_avx2(int64_t b, int64_t e, S* hist) const {
    if constexpr (!std::is_same_v<P, float> || kWeighted) {
      return count_scores_fused(b, e, hist);
    } else {
      const __m256i expm = _mm256_set1_epi32(0x7f800000);
      __m256i badv = _mm256_setzero_si256();
      const int sh = static_cast<int>(k) - 8;
      const uint32_t last = 1u << (k - 1);  // keeps the column < K when a NaN spoils the max
      const int64_t trash = bins();
      const uint64_t hi = static_cast<uint64_t>(k);
      uint32_t tbad = 0;
      for (int64_t i = b; i < e; ++i) {
        const float* r = p + i * k;
        const __m256 v0 = _mm256_loadu_ps(r), v1 = _mm256_loadu_ps(r + sh);
        const __m256i e0 = _mm256_and_si256(_mm256_castps_si256(v0), expm);
        const __m256i e1 = _mm256_and_si256(_mm256_castps_si256(v1), expm);
        __m256i nf = _mm256_or_si256(_mm256_cmpeq_epi32(e0, expm), _mm256_cmpeq_epi32(e1, expm));
        __m256 m = _mm256_max_ps(v0, v1);
        m = _mm256_max_ps(m, _mm256_permute2f128_ps(m, m, 1));
        m = _mm256_max_ps(m, _mm256_shuffle_ps(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
        m = _mm256_max_ps(m, _mm256_shuffle_ps(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
        const uint32_t mk =
            static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v0, m, _CMP_EQ_OQ))) |
            (static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v1, m, _CMP_EQ_OQ))) << sh);
        const int64_t arg = __builtin_ctz(mk | last);
        const uint32_t tb = label_bad(t[i], hi);
        bool kp = true;
        if constexpr (Ign) {
          kp = t[i] != ign;
          nf = kp ? nf : _mm256_setzero_si256();
        }
        badv = _mm256_or_si256(badv, nf);
        tbad |= tb & kp;
        const int64_t cell = static_cast<int64_t>(t[i]) * k + arg;
        hist[(kp && !tb) ? cell : trash] += 1;
      }
      return tbad | !_mm256_testz_si256(badv, badv);
    }
  }

  // Count valid rows [b, e) into hist (ncopies interleaved copies of stride()) and seen_out.
  // With `fuse` (only into partials: they have the trash bin) and no seen_out it also checks and
  // returns non-zero when a kept row of [b, e) is bad; otherwise the rows must be valid already
  // and it returns 0.
  TM_HOT uint32_t count(int64_t b, int64_t e, S* hist, int ncopies, uint8_t* seen_out,
                        bool fuse) const {
    if constexpr (!kWeighted) {
      if (fuse && seen_out == nullptr && k <= kStagedMaxK) {
        if constexpr (Scores)
          return count_scores_fused(b, e, hist);
        else
          return count_labels_staged(b, e, hist, ncopies);
      }
    }
    const int64_t trash = bins();
    if constexpr (!kWeighted && !Scores) {
      if (ncopies == 4) {
        S* h0 = hist;
        S* h1 = h0 + stride();
        S* h2 = h1 + stride();
        S* h3 = h2 + stride();
        int64_t i = b;
        for (; i + 4 <= e; i += 4) {
          h0[kept(i) ? t[i] * k + pred_of(i) : trash] += 1;
          h1[kept(i + 1) ? t[i + 1] * k + pred_of(i + 1) : trash] += 1;
          h2[kept(i + 2) ? t[i + 2] * k + pred_of(i + 2) : trash] += 1;
          h3[kept(i + 3) ? t[i + 3] * k + pred_of(i + 3) : trash] += 1;
        }
        for (; i < e; ++i) h0[kept(i) ? t[i] * k + pred_of(i) : trash] += 1;
      } else {
        for (int64_t i = b; i < e; ++i)
          if (kept(i)) hist[static_cast<int64_t>(t[i]) * k + pred_of(i)] += 1;
      }
    } else {
      for (int64_t i = b; i < e; ++i) {
        if (!kept(i)) continue;
        const int64_t cell = static_cast<int64_t>(t[i]) * k + pred_of(i);
        if constexpr (kWeighted)
          hist[cell] += w[i];
        else
          hist[cell] += 1;
      }
    }
    if (seen_out) {
      for (int64_t i = b; i < e; ++i)
        if (kept(i)) {
          seen_out[static_cast<int64_t>(t[i])] = 1;
          seen_out[pred_of(i)] = 1;
        }
    }
    return 0;
  }
  __attribute__((noinline)) uint32_t count_base(int64_t b, int64_t e, S* h, int c, uint8_t* s,
                                                bool fuse) const {
    return count(b, e, h, c, s, fuse);
  }
  TM_AVX2 __attribute__((noinline)) uint32_t count_avx2(int64_t b, int64_t e, S* h, int c,
                                                         uint8_t* s, bool fuse) const {
    return count(b, e, h, c, s, fuse);
  }
  uint32_t count_any(int64_t b, int64_t e, S* h, int c, uint8_t* s, bool fuse) const {
    const bool avx2 = use_avx2();
    if constexpr (Scores && std::is_same_v<P, float> && !kWeighted) {
      if (fuse && avx2 && s == nullptr && k >= 8 && k <= 16) return scores_f32_avx2(b, e, h);
    }
    return avx2 ? count_avx2(b, e, h, c, s, fuse) : count_base(b, e, h, c, s, fuse);
  }

  // The caller's state has no trash bin: count straight into it without the fused paths.
  void count_direct(int64_t b, int64_t e) const { count_any(b, e, state, 1, seen, false); }
  __attribute__((noinline)) uint32_t staged32_base(int64_t b, int64_t e, uint32_t* h) const {
    return count_labels_staged(b, e, h, 1);
  }
  TM_AVX2 __attribute__((noinline)) uint32_t staged32_avx2(int64_t b, int64_t e,
                                                           uint32_t* h) const {
    return count_labels_staged(b, e, h, 1);
  }
  uint32_t count_partial(int64_t b, int64_t e, Partial& part) const {
    if (split_diag()) {
      if constexpr (!Scores && !kWeighted) {
        if (part.rows32 + (e - b) > int64_t{UINT32_MAX}) {  // one row adds 1 to one cell
          if (part.hist.empty()) part.hist.assign(part.cells32.size(), S{0});
          for (size_t j = 0; j < part.cells32.size(); ++j) part.hist[j] += part.cells32[j];
          std::fill(part.cells32.begin(), part.cells32.end(), 0u);
          part.rows32 = 0;
        }
        part.rows32 += e - b;
        uint32_t* h = part.cells32.data();
        return use_avx2() ? staged32_avx2(b, e, h) : staged32_base(b, e, h);
      }
    }
    return count_any(b, e, part.hist.data(), copies, seen ? part.seen.data() : nullptr, true);
  }

  int64_t process(int64_t b, int64_t e, Partial& part) const {
    const int64_t step = block_rows(row_elems());
    const bool one_pass = fused();
    for (int64_t bb = b; bb < e; bb += step) {
      const int64_t ee = std::min(e, bb + step);
      if (one_pass) {
        if (count_partial(bb, ee, part)) {
          int64_t col;
          for (int64_t i = bb; i < ee; ++i)
            if (which_bad(i, &col)) return i;
        }
      } else {
        if (int64_t r = validate(bb, ee); r >= 0) return r;
        count_partial(bb, ee, part);
      }
    }
    return -1;
  }

  void commit(const Partial& part) const {
    const int64_t nb = bins();
    if (split_diag()) {  // matrix + trash + diagonal, in cells32 and (after spills) in hist
      const uint32_t* c = part.cells32.data();
      for (int64_t j = 0; j < nb; ++j) state[j] += c[j];
      for (int64_t j = 0; j < k; ++j) state[j * k + j] += c[stride() + j];
      if (!part.hist.empty()) {
        const S* h = part.hist.data();
        for (int64_t j = 0; j < nb; ++j) state[j] += h[j];
        for (int64_t j = 0; j < k; ++j) state[j * k + j] += h[stride() + j];
      }
      return;
    }
    for (int c = 0; c < copies; ++c) {
      const S* h = part.hist.data() + c * stride();
      for (int64_t j = 0; j < nb; ++j) state[j] += h[j];
    }
    if (seen)
      for (int64_t j = 0; j < k; ++j) seen[j] |= part.seen[j];
  }

  void report(int64_t i) const {
    int64_t col;
    switch (which_bad(i, &col)) {
      case 1:
        report_label("target", i, -1, static_cast<int64_t>(t[i]), k);
        break;
      case 2:
        if constexpr (Scores)
          report_score("preds", i, col, static_cast<double>(p[i * k + col]));
        else
          report_label("preds", i, -1, static_cast<int64_t>(p[i]), k);
        break;
      default:
        report_weight(i, w[i]);
    }
  }
};

template <class T, class P, class S, bool Scores>
int run_multiclass(const T* t, const P* p, const double* w, int64_t n, int64_t k,
                   int32_t has_ignore, int64_t ignore_index, S* state, uint8_t* seen,
                   int32_t num_threads) {
  // Weighted sums are added in row order on one thread, so that they equal the one-thread (and
  // numpy) result bit for bit: the backend contract says results never depend on num_threads.
  if constexpr (std::is_same_v<S, double>) num_threads = 1;
  const Ignore<T> ig(has_ignore, ignore_index);
  // Interleaved copies only for unweighted label counting with a small state (weighted sums
  // keep one copy so that each cell adds its weights in row order, as numpy does).
  const int copies = (!std::is_same_v<S, double> && !Scores && k * k <= 4096) ? 4 : 1;
  const int64_t row_elems = Scores ? std::max<int64_t>(k, 1) : 1;
  if (ig.on) {
    MulticlassKernel<T, P, S, Scores, true> kern{t, p, w, k, state, seen, ig.value, copies, n};
    return drive(kern, n, row_elems, num_threads);
  }
  MulticlassKernel<T, P, S, Scores, false> kern{t, p, w, k, state, seen, T{}, copies, n};
  return drive(kern, n, row_elems, num_threads);
}

}  // namespace

template <class T, class P, class S>
int multiclass_labels(const T* target, const P* preds, const double* weight, int64_t n,
                      int64_t num_classes, int32_t has_ignore, int64_t ignore_index, S* state,
                      uint8_t* seen, int32_t num_threads) {
  return run_multiclass<T, P, S, false>(target, preds, weight, n, num_classes, has_ignore,
                                        ignore_index, state, seen, num_threads);
}

template <class T, class F, class S>
int multiclass_scores(const T* target, const F* scores, const double* weight, int64_t n,
                      int64_t num_classes, int32_t has_ignore, int64_t ignore_index, S* state,
                      uint8_t* seen, int32_t num_threads) {
  return run_multiclass<T, F, S, true>(target, scores, weight, n, num_classes, has_ignore,
                                       ignore_index, state, seen, num_threads);
}

#define TM_INST_LABELS(tn, T, pn, P)                                                          \
  template int multiclass_labels<T, P, int64_t>(const T*, const P*, const double*, int64_t,   \
                                                int64_t, int32_t, int64_t, int64_t*, uint8_t*, \
                                                int32_t);                                      \
  template int multiclass_labels<T, P, double>(const T*, const P*, const double*, int64_t,    \
                                               int64_t, int32_t, int64_t, double*, uint8_t*,   \
                                               int32_t);
TM_LABEL_LABEL_PAIRS(TM_INST_LABELS)
#define TM_INST_SCORES(tn, T, sn, F)                                                          \
  template int multiclass_scores<T, F, int64_t>(const T*, const F*, const double*, int64_t,   \
                                                int64_t, int32_t, int64_t, int64_t*, uint8_t*, \
                                                int32_t);                                      \
  template int multiclass_scores<T, F, double>(const T*, const F*, const double*, int64_t,    \
                                               int64_t, int32_t, int64_t, double*, uint8_t*,   \
                                               int32_t);
TM_LABEL_SCORE_PAIRS(TM_INST_SCORES)

}  // namespace tallyml
