// The autoregressive family's submodule: linear AR/VAR (ar_binding.cpp), MADE training and exact
// likelihood (made_binding.cpp), the MADE sampler (made_sample_binding.cpp) and the decoding of
// categorical outputs (decoding_binding.cpp), one translation unit each (parallel build).
#include <pybind11/pybind11.h>

namespace py = pybind11;
namespace fastgen::bind {

void register_ar(py::module_& m);
void register_made(py::module_& m);
void register_made_sample(py::module_& m);
void register_decoding(py::module_& m);

void register_autoregressive(py::module_& m) {
  register_ar(m);
  register_made(m);
  register_decoding(m);
  register_made_sample(m);
}

}  // namespace fastgen::bind
