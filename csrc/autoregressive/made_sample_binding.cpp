// Binding of the MADE incremental sampler (made_sample.hpp): the network, degrees and layout checked
// against each other and named, the GIL released around the sampling, a failed draw reported with
// its sample and variable.
#include <cmath>
#include <string>
#include <vector>

#include "common/arrays.hpp"
#include "common/fastmath.hpp"
#include "autoregressive/made_sample.hpp"

namespace fastgen::bind {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// sizes int64[L + 1] (each >= 1, L >= 1) and acts int32[L] (codes 0..5; slope for leaky layers).
nn::Net made_net(const py::array& sizes, const py::array& acts, double slope) {
  const int64_t* sz = in<int64_t>(sizes, "sizes", {-1});
  const int64_t L = static_cast<int64_t>(sizes.shape(0)) - 1;
  if (L < 1) throw std::invalid_argument("sizes: need at least two entries (d_0 .. d_L), got shape " + shape_str(sizes));
  for (int64_t l = 0; l <= L; ++l)
    if (sz[l] < 1)
      throw std::invalid_argument("sizes: every width must be >= 1, got " + str(sz[l]) + " at index " + str(l));
  const int32_t* ac = in<int32_t>(acts, "acts", {L});
  for (int64_t l = 0; l < L; ++l) {
    if (!nn::valid_act(ac[l]))
      throw std::invalid_argument("acts: unknown activation code " + str(ac[l]) + " at index " + str(l) + " (0..5)");
    if (ac[l] == static_cast<int32_t>(nn::Act::leaky_relu) && !(slope > 0 && slope < 1))
      throw std::invalid_argument("slope: leaky_relu needs 0 < slope < 1, got " + std::to_string(slope));
  }
  return nn::Net(L, sz, ac);
}

const char* fault_text(int32_t f) {
  switch (f) {
    case made::kBadLogit: return "a logit of the network's output is NaN (or +inf)";
    case made::kAllMasked: return "every logit of the network's output is -inf";
    case made::kBadMoments: return "a mixture mean or log standard deviation is not finite";
    default: return "the drawn value overflowed";
  }
}

py::array made_sample(py::array theta, py::array sizes, py::array acts, double slope, py::array order,
                      py::array hidden_degrees, int32_t output, int64_t n_out, int64_t n_samples, double temperature,
                      int64_t top_k, double top_p, uint64_t seed, uint64_t stream) {
  const nn::Net net = made_net(sizes, acts, slope);
  const decoding::Filter filter{temperature, top_k, top_p, false};
  decoding::check_filter(filter);
  if (output < 0 || output > 2)
    throw std::invalid_argument("output: expected 0 (Bernoulli), 1 (categorical) or 2 (Gaussian mixture), got " +
                                str(output));
  if (n_out < 1) throw std::invalid_argument("n_out: must be >= 1, got " + str(n_out));
  if (output == made::kBernoulli && n_out != 1)
    throw std::invalid_argument("n_out: Bernoulli outputs take n_out = 1, got " + str(n_out));
  if (n_samples < 0) throw std::invalid_argument("n_samples: must be >= 0, got " + str(n_samples));
  const int64_t* ord = in<int64_t>(order, "order", {-1});
  const int64_t D = order.shape(0);
  if (D < 1) throw std::invalid_argument("order: need at least one variable, got shape " + shape_str(order));
  std::vector<char> seen(static_cast<size_t>(D), 0);
  for (int64_t d = 0; d < D; ++d) {
    if (ord[d] < 1 || ord[d] > D || seen[ord[d] - 1])
      throw std::invalid_argument("order: expected a permutation of 1.." + str(D) + ", got " + str(ord[d]) +
                                  " at index " + str(d));
    seen[ord[d] - 1] = 1;
  }
  const int64_t in_w = made::in_width(output, n_out), out_w = made::out_width(output, n_out);
  if (net.d[0] != D * in_w)
    throw std::invalid_argument("sizes: the input width must be D * " + str(in_w) + " = " + str(D * in_w) +
                                " for this output type and order, got " + str(net.d[0]));
  if (net.d[net.L] != D * out_w)
    throw std::invalid_argument("sizes: the output width must be D * " + str(out_w) + " = " + str(D * out_w) +
                                " for this output type and order, got " + str(net.d[net.L]));
  int64_t n_hidden = 0;
  for (int64_t l = 1; l < net.L; ++l) n_hidden += net.d[l];
  const int64_t* hd = in<int64_t>(hidden_degrees, "hidden_degrees", {n_hidden});
  for (int64_t j = 0; j < n_hidden; ++j)
    if (hd[j] < 0 || hd[j] > D - 1)
      throw std::invalid_argument("hidden_degrees: every degree must lie in [0, " + str(D - 1) + "], got " +
                                  str(hd[j]) + " at index " + str(j));
  return by_float_dtype(theta, "theta", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* th = in<T>(theta, "theta", {net.P});
    for (int64_t i = 0; i < net.P; ++i)
      if (!std::isfinite(th[i]))
        throw std::invalid_argument("theta: contains NaN or infinity (first at index " + str(i) + ")");
    auto X = out<T>({n_samples, D});
    T* x = ptr(X);
    made::Failure fail;
    {
      NoGil nogil;
      fm::FlushDenormals ftz;
      fail = made::made_sample(net, th, static_cast<T>(slope), D, ord, hd, output, n_out, n_samples, filter, seed,
                               stream, x);
    }
    if (fail.fault != made::kNone)
      throw std::invalid_argument("made_sample: sample " + str(fail.sample) + ", variable " + str(fail.var) +
                                  " (generation step " + str(fail.step) + "): " + fault_text(fail.fault));
    return X;
  });
}

}  // namespace

void register_made_sample(py::module_& m) {
  m.def("made_sample", &made_sample, py::arg("theta"), py::arg("sizes"), py::arg("acts"), py::arg("slope"),
        py::arg("order"), py::arg("hidden_degrees"), py::arg("output"), py::arg("n_out"), py::arg("n_samples"),
        py::arg("temperature"), py::arg("top_k"), py::arg("top_p"), py::arg("seed"), py::arg("stream"),
        "MADE samples [n_samples, D] by incremental decoding (theta masked or not: only allowed weights are read).");
}

}  // namespace fastgen::bind
