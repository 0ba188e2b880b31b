// Shared building blocks of the counting kernels: error reporting, value checks, the float32
// threshold, and the SIMD dispatch switch. Everything here is internal (hidden visibility).
#pragma once

#include <cfloat>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "tallyml/tallyml.h"

// Hot helpers are forced inline so that they are compiled with the instruction set of the
// caller: the same body then serves the baseline and the AVX2 clone of each block function.
#define TM_HOT __attribute__((always_inline)) inline
#define TM_AVX2 __attribute__((target("avx2")))

namespace tallyml {

// Rows handled per validation block: small enough to stay in L1 between the check pass and the
// counting pass over the same rows.
constexpr int64_t kBlockElems = 8192;

// ---- errors (format.cpp) ----------------------------------------------------------------------
// Set the calling thread's last-error message (printf-style, truncated to the buffer).
void set_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// Write `value` as Python's repr(float) would (nan, inf, -1.0, 1e-05, 1.2345678901234568e+17).
void py_float_repr(double value, char* out, size_t size);

// "target[12] = 7 is outside [0, 3)" and friends; col < 0 means a 1-D argument.
void report_label(const char* name, int64_t row, int64_t col, int64_t value, int64_t high);
void report_score(const char* name, int64_t row, int64_t col, double value);
void report_weight(int64_t row, double value);

// ---- SIMD dispatch (format.cpp) ---------------------------------------------------------------
bool use_avx2();
int set_simd_level(int level);
int simd_level();

// ---- value checks --------------------------------------------------------------------------------
// A label is valid when 0 <= v < high; compared unsigned so that one comparison covers both.
template <class T>
TM_HOT bool label_bad(T v, uint64_t high) {
  return static_cast<uint64_t>(static_cast<int64_t>(v)) >= high;
}

// Non-finite test on the bit pattern: vectorises without -ffinite-math and never traps.
TM_HOT bool nonfinite(float v) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  return (b & 0x7f800000u) == 0x7f800000u;
}
TM_HOT bool nonfinite(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return (b & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
}

// sample_weight must be finite and >= 0 (-0.0 passes, as in numpy's `w < 0`).
TM_HOT bool weight_bad(double w) { return !(w >= 0.0) | !(w <= DBL_MAX); }

// The comparison `double(score) >= threshold` done in the score's own type: the smallest F whose
// double value is >= threshold gives the same answer for every finite F, and lets float32 data be
// compared without widening. NaN thresholds stay NaN (every comparison false).
template <class F>
F score_threshold(double threshold) {
  if constexpr (std::is_same_v<F, double>) {
    return threshold;
  } else {
    if (threshold != threshold) return std::numeric_limits<float>::quiet_NaN();
    if (threshold > static_cast<double>(FLT_MAX)) return std::numeric_limits<float>::infinity();
    // Below the lowest float every finite score passes; -FLT_MAX answers the same way.
    if (threshold < -static_cast<double>(FLT_MAX)) return -FLT_MAX;
    float f = static_cast<float>(threshold);
    if (static_cast<double>(f) < threshold) f = __builtin_nextafterf(f, FLT_MAX);
    while (f > -FLT_MAX && static_cast<double>(__builtin_nextafterf(f, -FLT_MAX)) >= threshold)
      f = __builtin_nextafterf(f, -FLT_MAX);
    return f;
  }
}

// ignore_index applied in the target's own type: a value the type cannot hold never matches, so
// the kernel runs its ignore-free variant.
template <class T>
struct Ignore {
  bool on = false;
  T value{};
  Ignore(int32_t has, int64_t v) {
    if (!has) return;
    if constexpr (std::is_same_v<T, int64_t>) {
      on = true;
      value = v;
    } else {
      if (v >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
          v <= static_cast<int64_t>(std::numeric_limits<T>::max())) {
        on = true;
        value = static_cast<T>(v);
      }
    }
  }
};

// Number of (tp, fp, fn) triplets with tp + fp + fn <= L (reference.triplet_bins).
inline int64_t triplet_bins(int64_t l) { return (l + 1) * (l + 2) * (l + 3) / 6; }
TM_HOT int64_t triplet_index(int64_t tp, int64_t fp, int64_t fn) {
  const int64_t s = tp + fp + fn, r = fp + fn;
  return s * (s + 1) * (s + 2) / 6 + r * (r + 1) / 2 + fn;
}

}  // namespace tallyml
