// Error messages (thread-local, bounded), Python-style float formatting, the SIMD switch and the
// thread-count policy: the slow, shared parts of the core.
#include <atomic>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "common.hpp"
#include "threads.hpp"

namespace tallyml {

namespace {
thread_local char g_last_error[512] = "";
}  // namespace

const char* last_error() { return g_last_error; }

void set_error(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(g_last_error, sizeof g_last_error, fmt, ap);
  va_end(ap);
}

// Python's repr(float): the shortest digits that round-trip, in positional notation when the
// decimal exponent is in [-4, 16), else scientific with a signed two-digit-minimum exponent.
void py_float_repr(double v, char* out, size_t size) {
  if (v != v) {
    std::snprintf(out, size, "nan");
    return;
  }
  if (v == __builtin_inf() || v == -__builtin_inf()) {
    std::snprintf(out, size, v > 0 ? "inf" : "-inf");
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  *res.ptr = '\0';
  // buf: [-]d[.ddd]e(+|-)xx
  const char* s = buf;
  std::string sign;
  if (*s == '-') {
    sign = "-";
    ++s;
  }
  const char* epos = std::strchr(s, 'e');
  std::string digits;
  for (const char* c = s; c < epos; ++c)
    if (*c != '.') digits += *c;
  const int exp10 = std::atoi(epos + 1);
  std::string body;
  if (exp10 >= -4 && exp10 < 16) {
    if (exp10 >= 0) {
      std::string ip = digits.substr(0, std::min<size_t>(digits.size(), exp10 + 1));
      while (static_cast<int>(ip.size()) < exp10 + 1) ip += '0';
      std::string fp = digits.size() > static_cast<size_t>(exp10 + 1) ? digits.substr(exp10 + 1) : "0";
      body = ip + "." + fp;
    } else {
      body = "0." + std::string(-exp10 - 1, '0') + digits;
    }
  } else {
    body = digits.substr(0, 1);
    if (digits.size() > 1) body += "." + digits.substr(1);
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    body += e;
  }
  std::snprintf(out, size, "%s%s", sign.c_str(), body.c_str());
}

static void where(char* out, size_t size, const char* name, int64_t row, int64_t col) {
  if (col < 0)
    std::snprintf(out, size, "%s[%lld]", name, static_cast<long long>(row));
  else
    std::snprintf(out, size, "%s[%lld, %lld]", name, static_cast<long long>(row),
                  static_cast<long long>(col));
}

void report_label(const char* name, int64_t row, int64_t col, int64_t value, int64_t high) {
  char w[96];
  where(w, sizeof w, name, row, col);
  set_error("%s = %lld is outside [0, %lld)", w, static_cast<long long>(value),
            static_cast<long long>(high));
}

void report_score(const char* name, int64_t row, int64_t col, double value) {
  char w[96], v[64];
  where(w, sizeof w, name, row, col);
  py_float_repr(value, v, sizeof v);
  set_error("%s = %s is not finite", w, v);
}

void report_weight(int64_t row, double value) {
  char w[96], v[64];
  where(w, sizeof w, "sample_weight", row, -1);
  py_float_repr(value, v, sizeof v);
  set_error("%s = %s is not a finite non-negative number", w, v);
}

// ---- SIMD level --------------------------------------------------------------------------------
namespace {
bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}
const bool g_cpu_avx2 = cpu_has_avx2();
std::atomic<int> g_simd{g_cpu_avx2 ? 1 : 0};
}  // namespace

bool use_avx2() { return g_simd.load(std::memory_order_relaxed) == 1; }
int simd_level() { return g_simd.load(std::memory_order_relaxed); }
int set_simd_level(int level) {
  if (level < 0 || level > 1 || (level == 1 && !g_cpu_avx2)) return TM_ERR_ARGUMENT;
  g_simd.store(level, std::memory_order_relaxed);
  return TM_OK;
}

// ---- threads -------------------------------------------------------------------------------------
namespace {
constexpr int64_t kAutoWork = int64_t{1} << 20;       // elements before threads pay off
constexpr int64_t kAutoWorkPerThread = int64_t{1} << 18;
constexpr int64_t kMinWorkPerThread = int64_t{1} << 12;  // explicit num_threads
constexpr int kMaxThreads = 256;

int env_threads() {
  const char* s = std::getenv("TALLYML_NUM_THREADS");
  if (!s || !*s) return 0;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (*end != '\0' || v < 1) return 0;
  return static_cast<int>(std::min<long>(v, kMaxThreads));
}
}  // namespace

int resolve_threads(int32_t requested, int64_t rows, int64_t row_elems) {
  if (requested == 1 || rows < 2) return 1;
  const int64_t work = rows * std::max<int64_t>(1, row_elems);
  int64_t cap;
  if (requested == 0) {
    if (work < kAutoWork) return 1;
    int env = env_threads();
    cap = env > 0 ? env : std::max(1u, std::thread::hardware_concurrency());
    cap = std::min(cap, work / kAutoWorkPerThread);
  } else {
    cap = std::min<int64_t>(requested, work / kMinWorkPerThread);
  }
  cap = std::min<int64_t>({cap, rows, kMaxThreads});
  return static_cast<int>(std::max<int64_t>(1, cap));
}

}  // namespace tallyml
