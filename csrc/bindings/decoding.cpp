// Bindings of the decoding kernels (placeholder: filled in by the autoregressive issue).
#include "bindings/arrays.hpp"

namespace fastgen::bind {

void register_decoding(py::module_& m) { (void)m; }

}  // namespace fastgen::bind
