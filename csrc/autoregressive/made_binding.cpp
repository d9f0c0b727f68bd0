// Bindings of the MADE training and scoring kernels (made.hpp): every argument checked and named
// (the network, its layout for the output type, the mask, the data values: category indices must
// be integers in [0, V) since they address weight rows), the GIL released around the kernels.
// The sampler's bindings live in their own file.
#include <cmath>
#include <string>

#include "common/arrays.hpp"
#include "common/mlp/args.hpp"
#include "autoregressive/made.hpp"

namespace fastgen::bind {

namespace {

const char* output_name(int output) {
  return output == made::kBernoulli ? "Bernoulli" : output == made::kCategorical ? "categorical" : "Gaussian mixture";
}

void check_output(int output, int64_t n_out) {
  if (output < 0 || output > 2)
    throw std::invalid_argument("output: expected 0 (Bernoulli), 1 (categorical) or 2 (Gaussian mixture), got " +
                                std::to_string(output));
  if (output == made::kBernoulli && n_out != 1)
    throw std::invalid_argument("n_out: must be 1 for Bernoulli outputs, got " + std::to_string(n_out));
  if (n_out < 1)
    throw std::invalid_argument(std::string("n_out: the number of ") +
                                (output == made::kCategorical ? "categories" : "mixture components") +
                                " must be >= 1, got " + std::to_string(n_out));
}

// Units per variable at the input and the output (src/fastgen/_made_masks.py).
int64_t in_width(int output, int64_t n_out) { return output == made::kCategorical ? n_out : 1; }
int64_t out_width(int output, int64_t n_out) {
  return output == made::kCategorical ? n_out : output == made::kGaussianMixture ? 3 * n_out : 1;
}

// X [N, D] with the network's layout: sizes[0] = D * in_width, sizes[L] = D * out_width, an
// identity output layer (the loss reads logits / mixture parameters). Returns D.
int64_t check_layout(const nn::Net& net, const py::array& X, int output, int64_t n_out) {
  const int64_t wi = in_width(output, n_out), wo = out_width(output, n_out);
  if (net.in() % wi != 0)
    throw std::invalid_argument("sizes: the input width must be n_features * " + std::to_string(wi) + " for " +
                                output_name(output) + " outputs, got " + std::to_string(net.in()));
  const int64_t D = net.in() / wi;
  if (X.ndim() != 2 || X.shape(1) != D)
    throw std::invalid_argument("X: expected shape (*, " + std::to_string(D) + ") (sizes[0] = " +
                                std::to_string(net.in()) + "), got " + shape_str(X));
  if (net.out() != D * wo)
    throw std::invalid_argument("sizes: the output width must be n_features * " + std::to_string(wo) + " = " +
                                std::to_string(D * wo) + " for " + output_name(output) + " outputs with n_out = " +
                                std::to_string(n_out) + ", got " + std::to_string(net.out()));
  if (net.act[net.L - 1] != static_cast<int32_t>(nn::Act::identity))
    throw std::invalid_argument("acts: the output layer must be the identity (it gives logits / mixture "
                                "parameters), got code " + std::to_string(net.act[net.L - 1]));
  if (output == made::kCategorical && net.in() > INT32_MAX)
    throw std::invalid_argument("sizes: categorical input width " + std::to_string(net.in()) + " exceeds 2^31 - 1");
  return D;
}

// Finite values; category indices integers in [0, V) (they address weight rows and logits).
template <class T>
void check_values(const T* X, int64_t N, int64_t D, int output, int64_t n_out, const char* name) {
  for (int64_t i = 0; i < N * D; ++i) {
    const T x = X[i];
    const bool ok = output == made::kCategorical ? (x >= T(0) && x < static_cast<T>(n_out) && x == std::floor(x))
                                                 : std::isfinite(x);
    if (!ok) {
      const std::string what = output == made::kCategorical
                                   ? "a category index (an integer in [0, " + std::to_string(n_out) + "))"
                                   : "a finite value";
      throw std::invalid_argument(std::string(name) + ": expected " + what + " at (" + std::to_string(i / D) + ", " +
                                  std::to_string(i % D) + "), got " + std::to_string(static_cast<double>(x)));
    }
  }
}

// (loss float64[N], dZ) of a row-wise loss with `width` outputs per variable.
template <class Kernel>
py::tuple loss_binding(py::array Z, py::array X, double scale, int output, int64_t per_var_factor, Kernel&& kernel) {
  if (!std::isfinite(scale)) throw std::invalid_argument("scale: must be finite, got " + num(scale));
  return by_float_dtype(Z, "Z", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* z = in<T>(Z, "Z", {-1, -1});
    const int64_t N = Z.shape(0), W = Z.shape(1);
    const T* x = in<T>(X, "X", {N, -1});
    const int64_t D = X.shape(1);
    if (D < 1 || W % (D * per_var_factor) != 0 || W == 0)
      throw std::invalid_argument("Z: expected " + std::string(output == made::kCategorical ? "V" : "3 K") +
                                  " columns per variable of X (" + std::to_string(D) + " variables), got shape " +
                                  shape_str(Z));
    const int64_t n_out = W / (D * per_var_factor);
    check_values(x, N, D, output, n_out, "X");
    auto L = out<double>({N});
    auto dZ = out<T>({N, W});
    double* l = ptr(L);
    T* dz = ptr(dZ);
    {
      NoGil nogil;
      kernel(N, D, n_out, z, x, scale, l, dz);
    }
    return py::make_tuple(L, dZ);
  });
}

py::tuple categorical_nll(py::array Z, py::array X, double scale) {
  return loss_binding(Z, X, scale, made::kCategorical, 1, [](auto... a) { made::categorical_nll(a...); });
}

py::tuple gaussian_mixture_nll(py::array Z, py::array X, double scale) {
  return loss_binding(Z, X, scale, made::kGaussianMixture, 3, [](auto... a) { made::gaussian_mixture_nll(a...); });
}

py::array made_step(py::array theta, py::array m, py::array v, py::array sizes, py::array acts, double slope,
                    py::array mask, py::array X, int output, int64_t n_out, int64_t t, int optimizer, py::array hp) {
  const nn::Net net = net_in(sizes, acts, slope, "");
  const nn::OptSpec o = opt_in(optimizer, hp, t, "hp", "t");
  check_output(output, n_out);
  const int64_t D = check_layout(net, X, output, n_out);
  return by_float_dtype(theta, "theta", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto tr = trainable<T>(net, theta, m, v, optimizer, "");
    const T* mk = in<T>(mask, "mask", {net.P});
    const T* x = in<T>(X, "X", {-1, D});
    const int64_t N = X.shape(0);
    check_rows(N, "X");
    check_values(x, N, D, output, n_out, "X");
    auto R = out<double>({1});
    double* r = ptr(R);
    {
      NoGil nogil(false);  // updates parameters in place: never stops half-way (Ctrl-C waits for the step)
      r[0] = made::made_step(tr, static_cast<T>(slope), mk, N, D, x, output, n_out, o);
    }
    return R;
  });
}

py::array made_logprob(py::array theta, py::array sizes, py::array acts, double slope, py::array X, int output,
                       int64_t n_out) {
  const nn::Net net = net_in(sizes, acts, slope, "");
  check_output(output, n_out);
  const int64_t D = check_layout(net, X, output, n_out);
  return by_float_dtype(theta, "theta", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* th = in<T>(theta, "theta", {net.P});
    const T* x = in<T>(X, "X", {-1, D});
    const int64_t N = X.shape(0);
    check_values(x, N, D, output, n_out, "X");
    auto R = out<double>({N});
    double* r = ptr(R);
    {
      NoGil nogil;
      made::made_logprob(net, th, static_cast<T>(slope), N, D, x, output, n_out, r);
    }
    return R;
  });
}

}  // namespace

void register_made(py::module_& m) {
  using py::arg;
  m.def("categorical_nll", &categorical_nll, arg("Z"), arg("X"), arg("scale"),
        "(loss float64[N], dZ) of V logits per variable and category indices X (KERNELS.md, MADE).");
  m.def("gaussian_mixture_nll", &gaussian_mixture_nll, arg("Z"), arg("X"), arg("scale"),
        "(loss float64[N], dZ) of K weight logits, K means, K log-stds per variable (KERNELS.md, MADE).");
  m.def("made_step", &made_step, arg("theta"), arg("m"), arg("v"), arg("sizes"), arg("acts"), arg("slope"),
        arg("mask"), arg("X"), arg("output"), arg("n_out"), arg("t"), arg("optimizer"), arg("hp"),
        "One MADE training step with weights theta * mask, in place; float64[1] mean NLL before the update.");
  m.def("made_logprob", &made_logprob, arg("theta"), arg("sizes"), arg("acts"), arg("slope"), arg("X"),
        arg("output"), arg("n_out"), "Exact log p(x) per row, float64[N], of the masked network theta.");
}

}  // namespace fastgen::bind
