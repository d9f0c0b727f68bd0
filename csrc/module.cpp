// fastgen._core: the C++ kernels. Each family registers its functions (csrc/<family>/binding.cpp).
#include <pybind11/pybind11.h>

namespace py = pybind11;
namespace fastgen::bind {
void register_rng(py::module_& m);             // common/rng_binding.cpp
void register_emissions(py::module_& m);       // emissions/binding.cpp
void register_hmm(py::module_& m);             // hmm/binding.cpp
void register_rbm(py::module_& m);             // rbm/binding.cpp
void register_mixture(py::module_& m);         // mixture/binding.cpp
void register_nn(py::module_& m);              // nn/binding.cpp
void register_autoregressive(py::module_& m);  // autoregressive/binding.cpp
void register_threads(py::module_& m);         // common/threads_binding.cpp
}  // namespace fastgen::bind

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastgen C++ kernels (contract: csrc/KERNELS.md)";
  fastgen::bind::register_rng(m);
  fastgen::bind::register_emissions(m);
  fastgen::bind::register_hmm(m);
  fastgen::bind::register_rbm(m);
  fastgen::bind::register_mixture(m);
  fastgen::bind::register_nn(m);
  fastgen::bind::register_autoregressive(m);
  fastgen::bind::register_threads(m);
}
