// Bindings of the made kernels (placeholder: filled in by the autoregressive issue).
#include "bindings/arrays.hpp"

namespace fastgen::bind {

void register_made(py::module_& m) { (void)m; }

}  // namespace fastgen::bind
