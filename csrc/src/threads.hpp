// The driver shared by every counting kernel: thread count, row chunks, per-thread partial
// counts, and the rule that the caller's state changes only when the whole batch is valid.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

#include "common.hpp"

namespace tallyml {

// Threads for a batch of `rows` rows of `row_elems` elements each. requested: 0 = decide
// (threads only from kAutoWork elements on; TALLYML_NUM_THREADS caps the count), 1 = one thread,
// n = at most n threads. Each thread gets at least a few blocks of work.
int resolve_threads(int32_t requested, int64_t rows, int64_t row_elems);

// Run fn(i) for i in [0, n): fn(0) on the calling thread, the rest on new std::threads. Every
// thread is joined before returning; the first exception any of them threw is rethrown here.
template <class Fn>
void parallel_run(int n, Fn&& fn) {
  if (n <= 1) {
    fn(0);
    return;
  }
  std::vector<std::exception_ptr> errors(n);
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  auto guarded = [&](int i) {
    try {
      fn(i);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  };
  try {
    for (int i = 1; i < n; ++i) pool.emplace_back(guarded, i);
  } catch (...) {
    for (auto& t : pool) t.join();
    throw;
  }
  guarded(0);
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Row range of chunk i of n (contiguous, so the lowest bad row of the lowest chunk that has one
// is the first bad row of the batch).
inline void chunk_bounds(int64_t rows, int n, int i, int64_t* begin, int64_t* end) {
  const int64_t step = (rows + n - 1) / n;
  *begin = std::min<int64_t>(rows, step * i);
  *end = std::min<int64_t>(rows, *begin + step);
}

inline int64_t first_bad_row(const std::vector<int64_t>& bad) {
  for (int64_t r : bad)
    if (r >= 0) return r;  // chunks are in row order
  return -1;
}

// Validate the whole batch, then count: thread 0 straight into the state, others into partials.
template <class K>
int drive_direct(K& k, int64_t rows, int nt) {
  std::vector<int64_t> bad(nt, -1);
  parallel_run(nt, [&](int i) {
    int64_t b, e;
    chunk_bounds(rows, nt, i, &b, &e);
    bad[i] = k.validate(b, e);
  });
  if (int64_t r = first_bad_row(bad); r >= 0) {
    k.report(r);
    return TM_ERR_VALUE;
  }
  if (nt == 1) {
    k.count_direct(0, rows);
    return TM_OK;
  }
  std::vector<typename K::Partial> parts;
  for (int i = 1; i < nt; ++i) parts.push_back(k.new_partial());
  parallel_run(nt, [&](int i) {
    int64_t b, e;
    chunk_bounds(rows, nt, i, &b, &e);
    if (i == 0)
      k.count_direct(b, e);
    else
      k.count_partial(b, e, parts[i - 1]);
  });
  for (auto& p : parts) k.commit(p);
  return TM_OK;
}

// Drive kernel k over `rows` rows of `row_elems` elements. A kernel provides:
//   Partial new_partial()                 zeroed private counts
//   int64_t process(b, e, Partial&)       validate + count [b, e) block by block; first bad row
//                                         or -1 (counts of a bad call are thrown away)
//   void commit(Partial&)                 add a partial into the caller's state
//   void report(int64_t row)              set the error message of a bad row
//   static constexpr bool kCanDirect      true when it also provides:
//     bool direct(int64_t rows)           validate all, then count straight into the state
//                                         (large states, small batches: no O(state) partials)
//     int64_t validate(b, e)              first bad row in [b, e) or -1
//     void count_direct(b, e)             count valid rows into the caller's state
//     void count_partial(b, e, Partial&)  count valid rows into a partial
// Returns TM_OK or TM_ERR_VALUE; on TM_ERR_VALUE the caller's buffers are untouched.
template <class K>
int drive(K& k, int64_t rows, int64_t row_elems, int32_t num_threads) {
  const int nt = resolve_threads(num_threads, rows, row_elems);
  if constexpr (K::kCanDirect) {
    if (k.direct(rows)) return drive_direct(k, rows, nt);
  }
  if (nt == 1) {
    typename K::Partial p = k.new_partial();
    if (int64_t r = k.process(0, rows, p); r >= 0) {
      k.report(r);
      return TM_ERR_VALUE;
    }
    k.commit(p);
    return TM_OK;
  }
  std::vector<int64_t> bad(nt, -1);
  std::vector<typename K::Partial> parts;
  for (int i = 0; i < nt; ++i) parts.push_back(k.new_partial());
  parallel_run(nt, [&](int i) {
    int64_t b, e;
    chunk_bounds(rows, nt, i, &b, &e);
    bad[i] = k.process(b, e, parts[i]);
  });
  if (int64_t r = first_bad_row(bad); r >= 0) {
    k.report(r);
    return TM_ERR_VALUE;
  }
  for (auto& p : parts) k.commit(p);
  return TM_OK;
}

// Rows per block for rows of `row_elems` elements.
inline int64_t block_rows(int64_t row_elems) {
  return std::max<int64_t>(1, kBlockElems / std::max<int64_t>(1, row_elems));
}

}  // namespace tallyml
