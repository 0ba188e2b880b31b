// Log-bucketed duration histogram (tallyml.monitoring.LatencyTracker.record_many).
// The bucket formula is python/tallyml/monitoring/_loghist.py's, bit for bit: it uses the C
// library's log10, as Python's math.log10 does, so the scalar record() path and this batch
// kernel put every value in the same bucket.
#pragma once

#include <cmath>
#include <cstdint>

namespace tallyml {

struct LogHistLayout {
  double per_decade;  // 240
  int64_t offset;     // 2161: bucket of 1 ns
  int64_t last;       // 3360
};

// Validates every value first (finite, >= 0), so a bad batch adds nothing; returns the first bad
// position or -1. stats: in/out {sum, min, max}.
inline int64_t loghist_count(const double* v, int64_t n, const LogHistLayout& lay,
                             int64_t* counts, double* stats) {
  double sum = 0.0, lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    const double x = v[i];
    if (!(x >= 0.0 && x < INFINITY)) return i;
    lo = x < lo ? x : lo;
    hi = x > hi ? x : hi;
  }
  for (int64_t i = 0; i < n; ++i) {
    const double x = v[i];
    int64_t b = 0;
    if (x != 0.0) {
      b = static_cast<int64_t>(std::floor(std::log10(x) * lay.per_decade)) + lay.offset;
      b = b < 1 ? 1 : (b > lay.last ? lay.last : b);
    }
    ++counts[b];
    sum += x;
  }
  stats[0] += sum;
  stats[1] = lo < stats[1] ? lo : stats[1];
  stats[2] = hi > stats[2] ? hi : stats[2];
  return -1;
}

}  // namespace tallyml
