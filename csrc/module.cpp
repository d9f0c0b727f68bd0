// fastgen._core: the C++ kernels. Each family registers its functions (csrc/<family>/binding.cpp).
#include <pybind11/pybind11.h>

#include "common/interrupt.hpp"

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
  m.doc() = "fastgen C++ kernels (contract: csrc/KERNELS.md): one submodule per family, the same names as fastgen._cuda";
  using namespace fastgen::bind;
  py::module_ rng = m.def_submodule("rng", "Philox4x32-10 streams (csrc/common/rng.hpp)");
  py::module_ emissions = m.def_submodule(
      "emissions", "Emission log-densities and sufficient statistics, shared by hmm and mixture (csrc/emissions/)");
  py::module_ hmm = m.def_submodule("hmm", "Hidden Markov model inference and sampling (csrc/hmm/)");
  py::module_ mixture = m.def_submodule("mixture", "Gaussian mixtures: responsibilities, k-means, sampling (csrc/mixture/)");
  py::module_ rbm = m.def_submodule("rbm", "Restricted Boltzmann machines (csrc/rbm/)");
  py::module_ nn = m.def_submodule("nn", "MLP engine kernels and the fused MLP/VAE/GAN training steps (csrc/nn/)");
  py::module_ autoregressive = m.def_submodule(
      "autoregressive", "Linear AR/VAR, MADE and the decoding of categorical outputs (csrc/autoregressive/)");
  register_rng(rng);
  register_emissions(emissions);
  register_hmm(hmm);
  register_mixture(mixture);
  register_rbm(rbm);
  register_nn(nn);
  register_autoregressive(autoregressive);
  register_threads(m);  // _core.threads (CPU only)
  // Ctrl-C in a kernel (common/interrupt.hpp): the kernel unwinds with par::Interrupted and the
  // call raises what the signal's handler raised (KeyboardInterrupt by default).
  fastgen::par::init_interrupts();
  py::register_exception_translator([](std::exception_ptr e) {
    try {
      if (e) std::rethrow_exception(e);
    } catch (const fastgen::par::Interrupted&) {
      fastgen::par::restore_interrupt_error();
    }
  });
}
