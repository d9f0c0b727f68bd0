// Argument checks shared by the bindings of the MLP-based kernels (nn/binding.cpp, autoregressive/made_binding.cpp): a network's
// sizes and activation codes, in-place parameter and optimiser-state arrays, optimiser
// hyper-parameters, labels. Every error names the argument.
#pragma once
#include <cmath>
#include <string>
#include <utility>

#include "common/arrays.hpp"
#include "common/mlp/activations.hpp"
#include "common/mlp/layers.hpp"
#include "common/mlp/train.hpp"

namespace fastgen::bind {

inline std::string num(double x) { return std::to_string(x); }

// sizes int64[L + 1] (each >= 1, L >= 1) and acts int32[L] (codes 0..5); slope checked when a
// leaky layer exists. `what` prefixes the argument names ("" or "_e", "_d", "_g").
inline nn::Net net_in(const py::array& sizes, const py::array& acts, double slope, const std::string& what) {
  const std::string sn = "sizes" + what, an = "acts" + what;
  const int64_t* sz = in<int64_t>(sizes, sn.c_str(), {-1});
  const int64_t L = static_cast<int64_t>(sizes.shape(0)) - 1;
  if (L < 1) throw std::invalid_argument(sn + ": need at least two entries (d_0 .. d_L), got " + shape_str(sizes));
  for (int64_t l = 0; l <= L; ++l)
    if (sz[l] < 1)
      throw std::invalid_argument(sn + ": every width must be >= 1, got " + std::to_string(sz[l]) + " at index " +
                                  std::to_string(l));
  const int32_t* ac = in<int32_t>(acts, an.c_str(), {L});
  for (int64_t l = 0; l < L; ++l) {
    if (!nn::valid_act(ac[l]))
      throw std::invalid_argument(an + ": unknown activation code " + std::to_string(ac[l]) + " at index " +
                                  std::to_string(l) + " (0..5)");
    if (ac[l] == static_cast<int32_t>(nn::Act::leaky_relu) && !(slope > 0 && slope < 1))
      throw std::invalid_argument("slope: leaky_relu needs 0 < slope < 1, got " + num(slope));
  }
  return nn::Net(L, sz, ac);
}

template <class T>
T* inout(py::array& a, const std::string& name, std::initializer_list<int64_t> shape) {
  in<T>(a, name.c_str(), shape);
  if (!a.writeable()) throw std::invalid_argument(name + ": must be a writeable array (updated in place)");
  return static_cast<T*>(a.mutable_data());
}

// theta, m, v of a network for a training step; v may be empty for SGD.
template <class T>
nn::Trainable<T> trainable(const nn::Net& net, py::array& theta, py::array& m, py::array& v, int optimizer,
                           const std::string& what) {
  nn::Trainable<T> tr{net, inout<T>(theta, "theta" + what, {net.P}), inout<T>(m, "m" + what, {net.P}), nullptr};
  if (optimizer == 0 || v.size() != 0)
    tr.v = inout<T>(v, "v" + what, {optimizer == 0 ? net.P : net.P});
  if (tr.m == tr.theta || (tr.v && (tr.v == tr.theta || tr.v == tr.m)))
    throw std::invalid_argument("theta" + what + ", m" + what + ", v" + what + ": must be distinct arrays");
  return tr;
}

// Hyper-parameters in their domains (beta = 1 would divide by 1 - beta^t = 0; negative rates or
// decay would ascend): lr, eps, weight_decay, momentum >= 0 and finite, beta1, beta2 in [0, 1).
inline void check_adam_hp(double lr, double beta1, double beta2, double eps, double wd, const std::string& pre) {
  auto nonneg = [&](double x, const char* name) {
    if (!(x >= 0) || !std::isfinite(x))
      throw std::invalid_argument(pre + name + ": must be finite and >= 0, got " + num(x));
  };
  auto unit = [&](double x, const char* name) {
    if (!(x >= 0 && x < 1)) throw std::invalid_argument(pre + name + ": must lie in [0, 1), got " + num(x));
  };
  nonneg(lr, "lr");
  unit(beta1, "beta1");
  unit(beta2, "beta2");
  nonneg(eps, "eps");
  nonneg(wd, "weight_decay");
}

inline void check_sgd_hp(double lr, double momentum, double wd, const std::string& pre) {
  for (auto [x, name] : {std::pair<double, const char*>{lr, "lr"}, {momentum, "momentum"}, {wd, "weight_decay"}})
    if (!(x >= 0) || !std::isfinite(x))
      throw std::invalid_argument(pre + name + ": must be finite and >= 0, got " + num(x));
}

inline nn::OptSpec opt_in(int optimizer, const py::array& hp, int64_t t, const char* hp_name, const char* t_name) {
  if (optimizer < 0 || optimizer > 2)
    throw std::invalid_argument("optimizer: expected 0 (Adam), 1 (SGD-momentum) or 2 (SGD-Nesterov), got " +
                                std::to_string(optimizer));
  const double* h = in<double>(hp, hp_name, {6});
  const std::string pre = std::string(hp_name) + " ";  // "hp lr: ..." names both
  if (optimizer == 0)
    check_adam_hp(h[0], h[1], h[2], h[3], h[4], pre);
  else
    check_sgd_hp(h[0], h[5], h[4], pre);
  if (t < 1) throw std::invalid_argument(std::string(t_name) + ": step number must be >= 1, got " + std::to_string(t));
  return nn::OptSpec{optimizer, h, t};
}

// Labels C [N, c] (None or c = 0: none); returns c and sets *data.
template <class T>
int64_t labels_in(const py::object& C, int64_t N, const T** data) {
  *data = nullptr;
  if (C.is_none()) return 0;
  const py::array c = py::reinterpret_borrow<py::array>(C);
  if (!py::isinstance<py::array>(C)) throw py::type_error("C: expected a numpy array or None");
  *data = in<T>(c, "C", {N, -1});
  return c.shape(1);
}

inline void check_rows(int64_t N, const char* name) {
  if (N < 1) throw std::invalid_argument(std::string(name) + ": a training step needs at least one row");
}

}  // namespace fastgen::bind
