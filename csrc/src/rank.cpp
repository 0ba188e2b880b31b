// Stable LSD radix sort of (score key, label[, weight]) and the sweeps over its result; see
// rank.hpp. Scores become order-preserving unsigned keys (sign flipped on positives, all bits
// flipped on negatives, -0.0 folded onto 0.0), sorted TM_RANK_BITS (8) bits per pass (11 bits
// measured no faster on the 2-core VM: its scatter stores miss L1 either way); a pass whose digit is
// the same for every key is skipped (probabilities share their sign and top exponent bits).
//
// Threads: every scatter pass splits the source into contiguous chunks; each chunk scatters
// behind the chunks before it within each bucket (offsets from per-chunk histograms), so the
// result is the one stable order whatever the thread count, and so are all sums.
#include "rank.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "common.hpp"
#include "threads.hpp"

namespace tallyml {
namespace rank {
namespace {

#ifndef TM_RANK_BITS
#define TM_RANK_BITS 8
#endif
constexpr int kBits = TM_RANK_BITS;
constexpr int kRadix = 1 << kBits;

template <class F>
struct Keys;

template <>
struct Keys<float> {
  using K = uint32_t;
  static K key(float x) {
    uint32_t b;
    std::memcpy(&b, &x, sizeof b);
    b = x == 0.0f ? 0u : b;
    return b ^ ((0u - (b >> 31)) | 0x80000000u);
  }
  static double value(K k) {
    const uint32_t b = (k >> 31) ? (k ^ 0x80000000u) : ~k;
    float x;
    std::memcpy(&x, &b, sizeof x);
    return x;
  }
};

template <>
struct Keys<double> {
  using K = uint64_t;
  static K key(double x) {
    uint64_t b;
    std::memcpy(&b, &x, sizeof b);
    b = x == 0.0 ? 0u : b;
    return b ^ ((uint64_t{0} - (b >> 63)) | (uint64_t{1} << 63));
  }
  static double value(K k) {
    const uint64_t b = (k >> 63) ? (k ^ (uint64_t{1} << 63)) : ~k;
    double x;
    std::memcpy(&x, &b, sizeof x);
    return x;
  }
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <class T>
using Buffer = std::unique_ptr<T[], FreeDeleter>;

// Uninitialised scratch (every slot is written before it is read) on transparent huge pages:
// a scatter pass writes to 2^kBits places at once, and with 4 KiB pages nearly every one of
// those writes missed the TLB (the sort ran ~5x slower than numpy's on this VM).
template <class T>
Buffer<T> raw(int64_t n) {
  constexpr size_t kHuge = size_t{2} << 20;
  size_t bytes = sizeof(T) * static_cast<size_t>(n > 0 ? n : 1);
  bytes = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, bytes);
  if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return Buffer<T>(static_cast<T*>(p));
}

// The sorted run: keys ascending, labels and weights (when given) alongside.
template <class K>
struct Run {
  Buffer<K> key_a, key_b;
  Buffer<uint8_t> lab_a, lab_b;
  Buffer<double> w_a, w_b;
  const K* key = nullptr;
  const uint8_t* lab = nullptr;
  const double* w = nullptr;
};

// Per-thread work at least this large, else fewer threads (a thread costs ~50 us to start).
constexpr int64_t kMinChunk = int64_t{1} << 20;

// One scatter pass over rows [b, e): from the scores themselves (kFirst) or from the previous
// pass's run. Plain restrict pointers in a function of their own: as lambda captures, every
// uint8_t label store (which may alias anything) forced a reload of every pointer.
template <bool kFirst, bool kWeighted, class F, class K>
void scatter(const F* __restrict s, const K* __restrict sk, const uint8_t* __restrict sl,
             const double* __restrict sw, int64_t b, int64_t e, int shift,
             int64_t* __restrict o, K* __restrict dk, uint8_t* __restrict dl,
             double* __restrict dw) {
  for (int64_t i = b; i < e; ++i) {
    const K k = kFirst ? Keys<F>::key(s[i]) : sk[i];
    const int64_t at = o[(k >> shift) & (kRadix - 1)]++;
    dk[at] = k;
    dl[at] = sl[i];
    if constexpr (kWeighted) dw[at] = sw[i];
  }
}

template <class F, class K>
void hist_pass(const F* __restrict s, int64_t b, int64_t e, int64_t* __restrict h,
               int64_t* nans) {
  constexpr int kDigits = (8 * static_cast<int>(sizeof(K)) + kBits - 1) / kBits;
  int64_t bad = 0;
  for (int64_t i = b; i < e; ++i) {
    const K k = Keys<F>::key(s[i]);
    bad += s[i] != s[i];
    for (int d = 0; d < kDigits; ++d) ++h[d * kRadix + ((k >> (d * kBits)) & (kRadix - 1))];
  }
  *nans = bad;
}

// Returns -1, or the first row whose score is NaN (then nothing is sorted).
template <class F>
int64_t sort_run(const uint8_t* y, const F* s, const double* w, int64_t n, int threads,
              Run<typename Keys<F>::K>* run) {
  using K = typename Keys<F>::K;
  constexpr int kDigits = (8 * static_cast<int>(sizeof(K)) + kBits - 1) / kBits;
  int nt = threads <= 0 ? 1 : threads;
  if (nt > 1 && n / nt < kMinChunk) nt = static_cast<int>(std::max<int64_t>(1, n / kMinChunk));
  // hist[t][d][b]: chunk t's count of digit d == b over the input (any order gives the same
  // per-digit totals; per-chunk counts of later passes are recounted on the permuted array).
  std::vector<int64_t> hist(static_cast<size_t>(nt) * kDigits * kRadix, 0);
  auto H = [&](int t, int d) { return hist.data() + (static_cast<size_t>(t) * kDigits + d) * kRadix; };
  std::vector<int64_t> nans(nt, 0);
  parallel_run(nt, [&](int t) {
    int64_t b, e;
    chunk_bounds(n, nt, t, &b, &e);
    hist_pass<F, K>(s, b, e, H(t, 0), &nans[t]);
  });
  for (int t = 0; t < nt; ++t)
    if (nans[t]) {
      for (int64_t i = 0; i < n; ++i)
        if (s[i] != s[i]) return i;
    }
  std::vector<int> passes;
  if (n > 0) {
    const K k0 = Keys<F>::key(s[0]);
    for (int d = 0; d < kDigits; ++d) {
      const int b0 = static_cast<int>((k0 >> (d * kBits)) & (kRadix - 1));
      int64_t c = 0;
      for (int t = 0; t < nt; ++t) c += H(t, d)[b0];
      if (c != n) passes.push_back(d);
    }
  }
  run->key_a = raw<K>(n);
  run->lab_a = raw<uint8_t>(n);
  if (w) run->w_a = raw<double>(n);
  if (passes.size() > 1) {
    run->key_b = raw<K>(n);
    run->lab_b = raw<uint8_t>(n);
    if (w) run->w_b = raw<double>(n);
  }
  if (passes.empty()) {  // all keys equal: the input order is the sorted order
    for (int64_t i = 0; i < n; ++i) {
      run->key_a[i] = Keys<F>::key(s[i]);
      run->lab_a[i] = y[i];
    }
    if (w) std::memcpy(run->w_a.get(), w, sizeof(double) * n);
    run->key = run->key_a.get();
    run->lab = run->lab_a.get();
    run->w = w ? run->w_a.get() : nullptr;
    return -1;
  }
  K* src_k = nullptr;
  uint8_t* src_l = nullptr;
  double* src_w = nullptr;
  std::vector<int64_t> offs(static_cast<size_t>(nt) * kRadix);
  for (size_t p = 0; p < passes.size(); ++p) {
    const int d = passes[p];
    const int shift = d * kBits;
    // The last pass lands in buffer a: a pass count parity picks where the first one writes.
    const bool to_a = (passes.size() - p) % 2 == 1;
    K* dk = to_a ? run->key_a.get() : run->key_b.get();
    uint8_t* dl = to_a ? run->lab_a.get() : run->lab_b.get();
    double* dw = w ? (to_a ? run->w_a.get() : run->w_b.get()) : nullptr;
    if (p > 0 && nt > 1) {  // per-chunk counts of this digit over the permuted source
      parallel_run(nt, [&](int t) {
        int64_t b, e;
        chunk_bounds(n, nt, t, &b, &e);
        int64_t* h = H(t, d);
        std::memset(h, 0, sizeof(int64_t) * kRadix);
        for (int64_t i = b; i < e; ++i) ++h[(src_k[i] >> shift) & (kRadix - 1)];
      });
    }
    // Offsets: bucket-major, chunk-minor, so chunk t lands after chunks < t in each bucket.
    int64_t acc = 0;
    for (int b = 0; b < kRadix; ++b)
      for (int t = 0; t < nt; ++t) {
        offs[static_cast<size_t>(t) * kRadix + b] = acc;
        acc += H(t, d)[b];
      }
    const bool first = p == 0;
    parallel_run(nt, [&](int t) {
      int64_t b, e;
      chunk_bounds(n, nt, t, &b, &e);
      int64_t* o = offs.data() + static_cast<size_t>(t) * kRadix;
      if (first && dw)
        scatter<true, true>(s, src_k, y, w, b, e, shift, o, dk, dl, dw);
      else if (first)
        scatter<true, false>(s, src_k, y, w, b, e, shift, o, dk, dl, dw);
      else if (dw)
        scatter<false, true>(s, src_k, src_l, src_w, b, e, shift, o, dk, dl, dw);
      else
        scatter<false, false>(s, src_k, src_l, src_w, b, e, shift, o, dk, dl, dw);
    });
    src_k = dk;
    src_l = dl;
    src_w = dw;
  }
  run->key = src_k;
  run->lab = src_l;
  run->w = src_w;
  return -1;
}

int nan_row(int64_t row) {
  set_error("y_score[%lld] is NaN", static_cast<long long>(row));
  return TM_ERR_VALUE;
}

template <class F>
int auc_impl(const uint8_t* y, const F* s, int64_t n, double* auc, int64_t* n_pos, int threads) {
  using K = typename Keys<F>::K;
  Run<K> run;
  if (const int64_t r = sort_run(y, s, nullptr, n, threads, &run); r >= 0) return nan_row(r);
  // Ascending, one tie group at a time: a group with Pg positives and Ng negatives above `base`
  // negatives adds Pg * (2 * base + Ng) to twice the area (the trapezoid rule on ties).
  unsigned __int128 area2 = 0;
  uint64_t base = 0, pg = 0, ng = 0, pos = 0;
  K prev = n > 0 ? run.key[0] : K(0);
  for (int64_t i = 0; i < n; ++i) {
    const K k = run.key[i];
    const uint64_t t = run.lab[i] != 0;
    if (k != prev) {
      area2 += static_cast<unsigned __int128>(pg) * (2 * base + ng);
      base += ng;
      pos += pg;
      pg = ng = 0;
      prev = k;
    }
    pg += t;
    ng += 1 - t;
  }
  area2 += static_cast<unsigned __int128>(pg) * (2 * base + ng);
  pos += pg;
  base += ng;
  *n_pos = static_cast<int64_t>(pos);
  if (pos == 0 || base == 0) {
    *auc = __builtin_nan("");
  } else {
    *auc = static_cast<double>(area2) / (2.0 * static_cast<double>(pos) * static_cast<double>(base));
  }
  return TM_OK;
}

template <class F>
int ap_impl(const uint8_t* y, const F* s, int64_t n, double* ap, int64_t* n_pos, int threads) {
  using K = typename Keys<F>::K;
  Run<K> run;
  if (const int64_t r = sort_run(y, s, nullptr, n, threads, &run); r >= 0) return nan_row(r);
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) total += run.lab[i] != 0;
  *n_pos = total;
  const double ptot = static_cast<double>(total);
  // Descending, one tie group at a time (the same sums in the same order as sklearn's curve).
  double tp = 0.0, fp = 0.0, acc = 0.0, dpos = 0.0, dneg = 0.0;
  int64_t i = n - 1;
  K cur = n > 0 ? run.key[i] : K(0);
  for (; i >= 0; --i) {
    const K k = run.key[i];
    if (k != cur) {
      if (dpos != 0.0) {
        tp += dpos;
        fp += dneg;
        acc += (dpos / ptot) * (tp / (tp + fp));
      } else {
        fp += dneg;
      }
      dpos = dneg = 0.0;
      cur = k;
    }
    const double t = run.lab[i] != 0 ? 1.0 : 0.0;
    dpos += t;
    dneg += 1.0 - t;
  }
  if (dpos != 0.0) {
    tp += dpos;
    fp += dneg;
    acc += (dpos / ptot) * (tp / (tp + fp));
  }
  *ap = total > 0 ? acc : 0.0;
  return TM_OK;
}

template <class F>
int counts_impl(const uint8_t* y, const F* s, const double* w, int64_t n, double* fps,
                double* tps, double* thr, int64_t* m, int threads) {
  using K = typename Keys<F>::K;
  Run<K> run;
  if (const int64_t r = sort_run(y, s, w, n, threads, &run); r >= 0) return nan_row(r);
  double tp = 0.0, fp = 0.0;
  int64_t g = 0;
  int64_t i = n - 1;
  while (i >= 0) {
    const K v = run.key[i];
    if (run.w) {
      for (; i >= 0 && run.key[i] == v; --i) (run.lab[i] ? tp : fp) += run.w[i];
    } else {
      for (; i >= 0 && run.key[i] == v; --i) (run.lab[i] ? tp : fp) += 1.0;
    }
    fps[g] = fp;
    tps[g] = tp;
    thr[g] = Keys<F>::value(v);
    ++g;
  }
  *m = g;
  return TM_OK;
}

}  // namespace

int auc_f32(const uint8_t* y, const float* s, int64_t n, double* auc, int64_t* n_pos, int threads) {
  return auc_impl(y, s, n, auc, n_pos, threads);
}
int auc_f64(const uint8_t* y, const double* s, int64_t n, double* auc, int64_t* n_pos,
            int threads) {
  return auc_impl(y, s, n, auc, n_pos, threads);
}
int ap_f32(const uint8_t* y, const float* s, int64_t n, double* ap, int64_t* n_pos, int threads) {
  return ap_impl(y, s, n, ap, n_pos, threads);
}
int ap_f64(const uint8_t* y, const double* s, int64_t n, double* ap, int64_t* n_pos, int threads) {
  return ap_impl(y, s, n, ap, n_pos, threads);
}
int counts_f32(const uint8_t* y, const float* s, const double* w, int64_t n, double* fps,
               double* tps, double* thr, int64_t* m, int threads) {
  return counts_impl(y, s, w, n, fps, tps, thr, m, threads);
}
int counts_f64(const uint8_t* y, const double* s, const double* w, int64_t n, double* fps,
               double* tps, double* thr, int64_t* m, int threads) {
  return counts_impl(y, s, w, n, fps, tps, thr, m, threads);
}

}  // namespace rank
}  // namespace tallyml
