// Binary confusion counts (2x2) from labels or scores, in one fused pass per block: range check,
// threshold, ignore and counting. Unweighted counts are branch-free sums (n, sum t, sum p,
// sum t&p) from which the four cells follow; weighted counts add each weight to its cell in row
// order, which reproduces numpy's bincount exactly on one thread.
#include <type_traits>

#include "common.hpp"
#include "kernels.hpp"
#include "threads.hpp"

namespace tallyml {
namespace {

template <class T, class P, class S, bool Scores, bool Ign>
struct BinaryKernel {
  static constexpr bool kCanDirect = false;
  static constexpr bool kWeighted = std::is_same_v<S, double>;
  using TU = std::make_unsigned_t<T>;

  const T* t;
  const P* p;
  const double* w;
  S* state;
  P thr;  // scores only: threshold in the score's type
  T ign;

  // unweighted: {kept rows, sum t, sum p, sum t&p}; weighted: cells {tn, fp, fn, tp}
  struct Partial {
    S c[4] = {0, 0, 0, 0};
  };
  Partial new_partial() const { return {}; }

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

  // One block of rows, fused; returns non-zero when some kept row is bad.
  TM_HOT uint32_t block(int64_t b, int64_t e, Partial& acc) const {
    uint32_t bad = 0;
    if constexpr (!kWeighted) {
      uint32_t nk = 0, st = 0, sp = 0, stp = 0;
      for (int64_t i = b; i < e; ++i) {
        const TU tu = static_cast<TU>(t[i]);
        uint32_t tb = static_cast<uint32_t>(tu) & 1u;
        uint32_t pb = pred_bit(p[i]) & 1u;
        uint32_t bd = static_cast<uint32_t>(tu > 1) | pred_bad(p[i]);
        if constexpr (Ign) {
          const uint32_t k = t[i] != ign;
          tb &= k;
          pb &= k;
          bd &= k;
          nk += k;
        }
        st += tb;
        sp += pb;
        stp += tb & pb;
        bad |= bd;
      }
      acc.c[0] += Ign ? static_cast<int64_t>(nk) : (e - b);
      acc.c[1] += st;
      acc.c[2] += sp;
      acc.c[3] += stp;
    } else {
      double c0 = acc.c[0], c1 = acc.c[1], c2 = acc.c[2], c3 = acc.c[3];
      for (int64_t i = b; i < e; ++i) {
        const TU tu = static_cast<TU>(t[i]);
        const double wi = w[i];
        const uint32_t cell = ((static_cast<uint32_t>(tu) & 1u) << 1) | (pred_bit(p[i]) & 1u);
        uint32_t bd = static_cast<uint32_t>(tu > 1) | pred_bad(p[i]) | weight_bad(wi);
        uint32_t k = 1;
        if constexpr (Ign) k = t[i] != ign;
        bd &= k;
        // Adding +0.0 to the other cells leaves them bit-identical (their sums are >= +0.0).
        c0 += (k & (cell == 0)) ? wi : 0.0;
        c1 += (k & (cell == 1)) ? wi : 0.0;
        c2 += (k & (cell == 2)) ? wi : 0.0;
        c3 += (k & (cell == 3)) ? wi : 0.0;
        bad |= bd;
      }
      acc.c[0] = c0;
      acc.c[1] = c1;
      acc.c[2] = c2;
      acc.c[3] = c3;
    }
    return bad;
  }

  bool row_bad(int64_t i) const {
    if (Ign && t[i] == ign) return false;
    if (static_cast<TU>(t[i]) > 1 || pred_bad(p[i])) return true;
    return kWeighted && weight_bad(w[i]);
  }

  int64_t process(int64_t b, int64_t e, Partial& acc) const {
    const bool avx2 = use_avx2();
    for (int64_t bb = b; bb < e; bb += kBlockElems) {
      const int64_t ee = std::min(e, bb + kBlockElems);
      if (avx2 ? block_avx2(bb, ee, acc) : block_base(bb, ee, acc)) {
        for (int64_t i = bb; i < ee; ++i)
          if (row_bad(i)) return i;
      }
    }
    return -1;
  }
  __attribute__((noinline)) uint32_t block_base(int64_t b, int64_t e, Partial& acc) const {
    return block(b, e, acc);
  }
  TM_AVX2 __attribute__((noinline)) uint32_t block_avx2(int64_t b, int64_t e,
                                                         Partial& acc) const {
    return block(b, e, acc);
  }

  void commit(const Partial& a) const {
    if constexpr (kWeighted) {
      for (int j = 0; j < 4; ++j) state[j] += a.c[j];
    } else {
      const int64_t n = a.c[0], st = a.c[1], sp = a.c[2], stp = a.c[3];
      state[0] += n - st - sp + stp;
      state[1] += sp - stp;
      state[2] += st - stp;
      state[3] += stp;
    }
  }

  void report(int64_t i) const {
    if (static_cast<TU>(t[i]) > 1)
      report_label("target", i, -1, static_cast<int64_t>(t[i]), 2);
    else if (pred_bad(p[i])) {
      if constexpr (Scores)
        report_score("preds", i, -1, static_cast<double>(p[i]));
      else
        report_label("preds", i, -1, static_cast<int64_t>(p[i]), 2);
    } else
      report_weight(i, w[i]);
  }
};

template <class T, class P, class S, bool Scores>
int run_binary(const T* t, const P* p, const double* w, int64_t n, double threshold,
               int32_t has_ignore, int64_t ignore_index, S* state, int32_t num_threads) {
  // Weighted sums are added in row order on one thread, so that they equal the one-thread (and
  // numpy) result bit for bit: the backend contract says results never depend on num_threads.
  if constexpr (std::is_same_v<S, double>) num_threads = 1;
  const Ignore<T> ig(has_ignore, ignore_index);
  P thr{};
  if constexpr (Scores) thr = score_threshold<P>(threshold);
  if (ig.on) {
    BinaryKernel<T, P, S, Scores, true> k{t, p, w, state, thr, ig.value};
    return drive(k, n, 1, num_threads);
  }
  BinaryKernel<T, P, S, Scores, false> k{t, p, w, state, thr, T{}};
  return drive(k, n, 1, num_threads);
}

}  // namespace

template <class T, class P, class S>
int binary_labels(const T* target, const P* preds, const double* weight, int64_t n,
                  int32_t has_ignore, int64_t ignore_index, S* state, int32_t num_threads) {
  return run_binary<T, P, S, false>(target, preds, weight, n, 0.0, has_ignore, ignore_index,
                                    state, num_threads);
}

template <class T, class F, class S>
int binary_scores(const T* target, const F* scores, const double* weight, int64_t n,
                  double threshold, int32_t has_ignore, int64_t ignore_index, S* state,
                  int32_t num_threads) {
  return run_binary<T, F, S, true>(target, scores, weight, n, threshold, has_ignore,
                                   ignore_index, state, num_threads);
}

#define TM_INST_LABELS(tn, T, pn, P)                                                          \
  template int binary_labels<T, P, int64_t>(const T*, const P*, const double*, int64_t,       \
                                            int32_t, int64_t, int64_t*, int32_t);             \
  template int binary_labels<T, P, double>(const T*, const P*, const double*, int64_t,        \
                                           int32_t, int64_t, double*, int32_t);
TM_LABEL_LABEL_PAIRS(TM_INST_LABELS)
#define TM_INST_SCORES(tn, T, sn, F)                                                          \
  template int binary_scores<T, F, int64_t>(const T*, const F*, const double*, int64_t,       \
                                            double, int32_t, int64_t, int64_t*, int32_t);     \
  template int binary_scores<T, F, double>(const T*, const F*, const double*, int64_t,        \
                                           double, int32_t, int64_t, double*, int32_t);
TM_LABEL_SCORE_PAIRS(TM_INST_SCORES)

}  // namespace tallyml
