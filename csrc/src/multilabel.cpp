// Multilabel counts: a 2x2 table per label plus the histogram of per-row (tp, fp, fn) triplets
// (needed for average="samples"). Unweighted tables are column sums (rows, sum t, sum p,
// sum t&p per label); weighted tables add each weight to its cell in row order.
#include <type_traits>
#include <vector>

#include "common.hpp"
#include "kernels.hpp"
#include "threads.hpp"

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
    if (use_avx2())
      count_avx2(b, e, c, h);
    else
      count_base(b, e, c, h);
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
    for (int64_t bb = b; bb < e; bb += step) {
      const int64_t ee = std::min(e, bb + step);
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
  MultilabelKernel<T, P, S, Scores> k{t, p, w, l, thr, state, samples};
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
