// Philox streams exposed for tests and for Python-side transforms (e.g. Gaussian emissions).
#include "common/arrays.hpp"
#include "common/rng.hpp"
#include "common/threads.hpp"

namespace fastgen::bind {

// Values per parallel piece (at least) of the fills below: elementwise (each value is fixed by its
// index), so neither the pieces nor the thread count show in the results. Work ~ the values.
constexpr int64_t kFillGrain = 4096;

static py::tuple philox4x32(py::array counter, py::array key) {
  const uint32_t* c = in<uint32_t>(counter, "counter", {4});
  const uint32_t* k = in<uint32_t>(key, "key", {2});
  const rng::Block r = rng::philox4x32_10(rng::Block{{c[0], c[1], c[2], c[3]}}, k[0], k[1]);
  return py::make_tuple(r.x[0], r.x[1], r.x[2], r.x[3]);
}

static py::array_t<double> uniform(uint64_t seed, uint64_t stream, int64_t n, uint64_t start) {
  if (n < 0) throw std::invalid_argument("n: must be >= 0, got " + std::to_string(n));
  auto u = out<double>({n});
  double* p = ptr(u);
  {
    NoGil nogil;
    const rng::Stream rs(seed, stream);
    static thread_local par::Clock clock;
    par::for_range(clock, static_cast<double>(n), n, kFillGrain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) p[i] = rs.uniform(start + static_cast<uint64_t>(i));
    });
  }
  return u;
}

static py::array_t<double> normal(uint64_t seed, uint64_t stream, int64_t n) {
  if (n < 0) throw std::invalid_argument("n: must be >= 0, got " + std::to_string(n));
  auto z = out<double>({n});
  double* p = ptr(z);
  {
    NoGil nogil;
    const rng::Stream rs(seed, stream);
    const int64_t pairs = (n + 1) / 2;
    static thread_local par::Clock clock;
    par::for_range(clock, static_cast<double>(pairs), pairs, kFillGrain / 2, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        double z0, z1;
        rs.normal_pair(static_cast<uint64_t>(i), z0, z1);
        p[2 * i] = z0;
        if (2 * i + 1 < n) p[2 * i + 1] = z1;
      }
    });
  }
  return z;
}

void register_rng(py::module_& m) {
  m.def("philox4x32", &philox4x32, py::arg("counter"), py::arg("key"),
        "Raw Philox4x32-10 block: counter uint32[4], key uint32[2] -> 4 words.");
  m.def("uniform", &uniform, py::arg("seed"), py::arg("stream"), py::arg("n"), py::arg("start") = 0,
        "Uniforms u[start:start+n] of a Philox stream, in (0, 1] (1.0 only when all 53 bits are set).");
  m.def("normal", &normal, py::arg("seed"), py::arg("stream"), py::arg("n"),
        "Standard normals z[0:n] of a Philox stream (Box-Muller on consecutive uniform pairs).");
}

}  // namespace fastgen::bind
