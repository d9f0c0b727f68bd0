// fastgen._core: the C++ kernels. Each family registers its functions (bindings/<family>.cpp).
#include <pybind11/pybind11.h>

namespace py = pybind11;
namespace fastgen::bind {
void register_rng(py::module_& m);
void register_emissions(py::module_& m);
void register_hmm(py::module_& m);
void register_rbm(py::module_& m);
void register_gmm(py::module_& m);
void register_nn_penalty(py::module_& m);
void register_nn(py::module_& m);
void register_ar(py::module_& m);
void register_made(py::module_& m);
void register_decoding(py::module_& m);
void register_made_sample(py::module_& m);
void register_threads(py::module_& m);
}  // namespace fastgen::bind

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastgen C++ kernels (contract: csrc/KERNELS.md)";
  fastgen::bind::register_rng(m);
  fastgen::bind::register_emissions(m);
  fastgen::bind::register_hmm(m);
  fastgen::bind::register_rbm(m);
  fastgen::bind::register_gmm(m);
  fastgen::bind::register_nn_penalty(m);
  fastgen::bind::register_nn(m);
  fastgen::bind::register_ar(m);
  fastgen::bind::register_made(m);
  fastgen::bind::register_decoding(m);
  fastgen::bind::register_made_sample(m);
  fastgen::bind::register_threads(m);
}
