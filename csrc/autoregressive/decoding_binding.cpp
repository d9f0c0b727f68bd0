// Binding of the decoding kernel (decoding.hpp): shapes and filter arguments checked and named,
// the GIL released around the draws, a bad row reported by index.
#include <string>

#include "common/arrays.hpp"
#include "common/fastmath.hpp"
#include "autoregressive/decoding.hpp"

namespace fastgen::bind {

namespace {

// Throws for the first row whose draw failed (NaN/+inf, or every token masked).
void check_rows(const int64_t* r, int64_t N) {
  for (int64_t n = 0; n < N; ++n) {
    if (r[n] == decoding::kBadLogit)
      throw std::invalid_argument("logits: row " + std::to_string(n) + " holds NaN or +inf");
    if (r[n] == decoding::kAllMasked)
      throw std::invalid_argument("logits: row " + std::to_string(n) + " is all -inf (every token masked)");
  }
}

py::array sample_logits(py::array logits, double temperature, int64_t top_k, double top_p, bool greedy,
                        uint64_t seed, uint64_t stream) {
  const decoding::Filter f{temperature, top_k, top_p, greedy};
  decoding::check_filter(f);
  return by_float_dtype(logits, "logits", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* x = in<T>(logits, "logits", {-1, -1});
    const int64_t N = logits.shape(0), V = logits.shape(1);
    if (V < 1) throw std::invalid_argument("logits: need at least one token per row, got shape " + shape_str(logits));
    if (V > INT32_MAX) throw std::invalid_argument("logits: at most 2^31 - 1 tokens per row, got " + std::to_string(V));
    auto res = out<int64_t>({N});
    int64_t* r = ptr(res);
    {
      NoGil nogil;
      fm::FlushDenormals ftz;
      decoding::sample_logits(N, V, x, f, seed, stream, r);
    }
    check_rows(r, N);
    return res;
  });
}

}  // namespace

void register_decoding(py::module_& m) {
  m.def("sample_logits", &sample_logits, py::arg("logits"), py::arg("temperature"), py::arg("top_k"),
        py::arg("top_p"), py::arg("greedy"), py::arg("seed"), py::arg("stream"),
        "One token per row of logits [N, V] (temperature, top-k, top-p, or greedy argmax) -> int64[N]; "
        "row n uses uniform u[n] of the stream.");
}

}  // namespace fastgen::bind
