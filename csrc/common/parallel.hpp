// OpenMP helpers. Reductions are made over fixed-size chunks combined in chunk order, so a result
// never depends on the number of threads.
#pragma once
#include <cstdint>
#include <omp.h>

namespace fastgen::par {

// Number of fixed-size chunks covering n items.
inline int64_t n_chunks(int64_t n, int64_t chunk) { return n == 0 ? 0 : (n + chunk - 1) / chunk; }

}  // namespace fastgen::par
