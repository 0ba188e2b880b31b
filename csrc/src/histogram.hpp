// Drift histograms: values binned against edges fixed once from a reference distribution.
//
// Layout (python/tallyml/drift/_histogram.py defines it; every backend reproduces it exactly):
// group g reads column columns[g] of a row-major n_rows x n_cols matrix and bins it with the
// sorted interior edges edges[edge_offsets[g] .. edge_offsets[g+1]); a value's bin is the number
// of those edges <= it (numpy's searchsorted(side="right")), so the outer bins are open. Group
// g's bins start at counts[edge_offsets[g] + g]. uni_scale[g] > 0 marks uniform edges starting
// at uni_lo[g]: the bin is guessed arithmetically, then corrected against the stored edges, so
// the result is the same as the search's bit for bit.
#pragma once

#include <cstdint>
#include <vector>

#include "common.hpp"

namespace tallyml {

struct HistLayout {
  int64_t groups;
  const int64_t* columns;
  const double* edges;
  const int64_t* edge_offsets;
  const double* uni_lo;
  const double* uni_scale;
};

// Number of edges in [lo, hi) that are <= x.
TM_HOT int64_t edges_at_or_below(const double* edges, int64_t lo, int64_t hi, double x) {
  const int64_t ne = hi - lo;
  if (ne <= 16) {  // branch-free count: cheaper than a mispredicted binary search
    int64_t j = 0;
    for (int64_t e = lo; e < hi; ++e) j += edges[e] <= x;
    return j;
  }
  int64_t a = lo, b = hi;
  while (a < b) {
    const int64_t m = (a + b) >> 1;
    if (edges[m] <= x) a = m + 1;
    else b = m;
  }
  return a - lo;
}

template <class F>
void hist_group(const F* values, int64_t n_cols, int64_t start, int64_t stop, int64_t col,
                const double* edges, int64_t lo, int64_t hi, double uni_lo, double uni_scale,
                int64_t* out) {
  const int64_t ne = hi - lo;
  if (uni_scale > 0.0) {
    const double top = static_cast<double>(ne);
    for (int64_t i = start; i < stop; ++i) {
      const double x = static_cast<double>(values[i * n_cols + col]);
      double t = (x - uni_lo) * uni_scale;
      t = t < 0.0 ? 0.0 : (t > top ? top : t);
      int64_t j = static_cast<int64_t>(t);
      while (j > 0 && x < edges[lo + j - 1]) --j;
      while (j < ne && edges[lo + j] <= x) ++j;
      ++out[j];
    }
    return;
  }
  for (int64_t i = start; i < stop; ++i)
    ++out[edges_at_or_below(edges, lo, hi, static_cast<double>(values[i * n_cols + col]))];
}

// Count rows [start, stop) into counts (length counts_len). With validate, a non-finite value
// stops the call before anything is counted: TM_ERR_VALUE, its (row, column) in bad[0..1].
template <class F>
int32_t drift_hist(const F* values, int64_t n_cols, int64_t start, int64_t stop,
                   const HistLayout& lay, int64_t* counts, int64_t counts_len, int32_t validate,
                   int64_t* bad) {
  if (validate) {
    for (int64_t i = start; i < stop; ++i) {
      for (int64_t c = 0; c < n_cols; ++c) {
        const F v = values[i * n_cols + c];
        if (nonfinite(v)) {
          bad[0] = i;
          bad[1] = c;
          report_score("values", i, n_cols == 1 ? -1 : c, static_cast<double>(v));
          return TM_ERR_VALUE;
        }
      }
    }
  }
  std::vector<int64_t> partial(static_cast<size_t>(counts_len), 0);
  for (int64_t g = 0; g < lay.groups; ++g) {
    const int64_t lo = lay.edge_offsets[g], hi = lay.edge_offsets[g + 1];
    hist_group(values, n_cols, start, stop, lay.columns[g], lay.edges, lo, hi, lay.uni_lo[g],
               lay.uni_scale[g], partial.data() + lo + g);
  }
  for (int64_t j = 0; j < counts_len; ++j) counts[j] += partial[static_cast<size_t>(j)];
  return TM_OK;
}

}  // namespace tallyml
