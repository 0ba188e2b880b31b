// Multiclass confusion counts (K x K) from labels or from row-wise argmax of scores.
// Per block: a vectorised check pass (labels in range, scores finite, weights valid), then the
// counting pass over the same rows while they are in L1. Large batches count into private
// histograms (four interleaved copies when unweighted, so repeated bins do not serialise on
// store-to-load forwarding); small batches against a large state validate everything first and
// count straight into the caller's state (no O(K^2) zero + add per call).
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

  int64_t bins() const { return k * k; }
  int64_t stride() const { return bins() + 1; }  // + one bin that absorbs ignored rows
  int64_t row_elems() const { return Scores ? std::max<int64_t>(k, 1) : 1; }

  struct Partial {
    std::vector<S> hist;
    std::vector<uint8_t> seen;
  };
  Partial new_partial() const {
    Partial p;
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

  // Count valid rows [b, e) into hist (ncopies interleaved copies of stride()) and seen_out.
  TM_HOT void count(int64_t b, int64_t e, S* hist, int ncopies, uint8_t* seen_out) const {
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
  }
  __attribute__((noinline)) void count_base(int64_t b, int64_t e, S* h, int c, uint8_t* s) const {
    count(b, e, h, c, s);
  }
  TM_AVX2 __attribute__((noinline)) void count_avx2(int64_t b, int64_t e, S* h, int c,
                                                     uint8_t* s) const {
    count(b, e, h, c, s);
  }
  void count_any(int64_t b, int64_t e, S* h, int c, uint8_t* s) const {
    if (use_avx2())
      count_avx2(b, e, h, c, s);
    else
      count_base(b, e, h, c, s);
  }

  void count_direct(int64_t b, int64_t e) const { count_any(b, e, state, 1, seen); }
  void count_partial(int64_t b, int64_t e, Partial& part) const {
    count_any(b, e, part.hist.data(), copies, seen ? part.seen.data() : nullptr);
  }

  int64_t process(int64_t b, int64_t e, Partial& part) const {
    const int64_t step = block_rows(row_elems());
    for (int64_t bb = b; bb < e; bb += step) {
      const int64_t ee = std::min(e, bb + step);
      if (int64_t r = validate(bb, ee); r >= 0) return r;
      count_partial(bb, ee, part);
    }
    return -1;
  }

  void commit(const Partial& part) const {
    const int64_t nb = bins();
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
  const Ignore<T> ig(has_ignore, ignore_index);
  // Interleaved copies only for unweighted label counting with a small state (weighted sums
  // keep one copy so that each cell adds its weights in row order, as numpy does).
  const int copies = (!std::is_same_v<S, double> && !Scores && k * k <= 4096) ? 4 : 1;
  const int64_t row_elems = Scores ? std::max<int64_t>(k, 1) : 1;
  if (ig.on) {
    MulticlassKernel<T, P, S, Scores, true> kern{t, p, w, k, state, seen, ig.value, copies};
    return drive(kern, n, row_elems, num_threads);
  }
  MulticlassKernel<T, P, S, Scores, false> kern{t, p, w, k, state, seen, T{}, copies};
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
