// Binding of the WGAN-GP penalty kernel (nn/penalty.hpp): every argument checked and named, the
// GIL released around the kernel.
#include <cmath>
#include <string>

#include "common/arrays.hpp"
#include "nn/penalty.hpp"

namespace fastgen::bind {

static py::tuple mlp_penalty_backward(py::array theta, py::array sizes, py::array acts, double slope, py::array X,
                                      py::array A, double weight) {
  const int64_t* sz = in<int64_t>(sizes, "sizes", {-1});
  const int64_t L = static_cast<int64_t>(sizes.shape(0)) - 1;
  if (L < 1) throw std::invalid_argument("sizes: need at least two entries (d_0 .. d_L, L >= 1), got " +
                                         shape_str(sizes));
  int64_t P = 0, width = 0;
  for (int64_t l = 0; l <= L; ++l) {
    if (sz[l] < 1)
      throw std::invalid_argument("sizes: every layer width must be >= 1, got " + std::to_string(sz[l]) +
                                  " at index " + std::to_string(l));
    if (l > 0) {
      P += sz[l - 1] * sz[l] + sz[l];
      width += sz[l];
    }
  }
  if (sz[L] != 1)
    throw std::invalid_argument("sizes: the gradient penalty needs a scalar output (d_L = 1), got d_L = " +
                                std::to_string(sz[L]));
  const int32_t* ac = in<int32_t>(acts, "acts", {L});
  bool leaky = false;
  for (int64_t l = 0; l < L; ++l) {
    if (!nn::valid_act(ac[l]))
      throw std::invalid_argument("acts: unknown activation code " + std::to_string(ac[l]) + " at index " +
                                  std::to_string(l) + " (0..5)");
    leaky |= ac[l] == static_cast<int32_t>(nn::Act::leaky_relu);
  }
  if (leaky && !(slope > 0 && slope < 1))
    throw std::invalid_argument("slope: leaky_relu needs 0 < slope < 1, got " + std::to_string(slope));
  if (!std::isfinite(weight)) throw std::invalid_argument("weight: must be finite, got " + std::to_string(weight));
  return by_float_dtype(theta, "theta", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* th = in<T>(theta, "theta", {P});
    const T* x = in<T>(X, "X", {-1, sz[0]});
    const int64_t N = X.shape(0);
    if (N < 1) throw std::invalid_argument("X: need at least one row (the penalty is a mean over rows)");
    const T* a = in<T>(A, "A", {N * width});
    auto GP = out<T>({N});
    auto Grad = out<T>({P});
    T *gp = ptr(GP), *grad = ptr(Grad);
    {
      NoGil nogil;
      nn::mlp_penalty_backward<T>(L, sz, ac, static_cast<T>(slope), th, N, x, a, weight, gp, grad);
    }
    return py::make_tuple(GP, Grad);
  });
}

void register_nn_penalty(py::module_& m) {
  m.def("mlp_penalty_backward", &mlp_penalty_backward, py::arg("theta"), py::arg("sizes"), py::arg("acts"),
        py::arg("slope"), py::arg("X"), py::arg("A"), py::arg("weight"),
        "WGAN-GP penalty (gp T[N]) and its gradient in theta (grad T[P]) for a critic with d_L = 1 "
        "(KERNELS.md, Neural networks).");
}

}  // namespace fastgen::bind
