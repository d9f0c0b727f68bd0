// _core.threads: the threading policy's settings (csrc/common/threads.hpp), for fastgen's
// set_num_threads / get_num_threads and for the tests that force one execution path.
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "common/isa.hpp"
#include "common/threads.hpp"

namespace fastgen::bind {
namespace py = pybind11;

void register_threads(py::module_& m) {
  py::module_ t = m.def_submodule("threads", "fastgen's thread pool and its policy");
  t.def("max_threads", &par::max_threads, "Threads a kernel called now may use.");
  t.def("set_limit", [](int n) {
    if (n < 0) throw std::invalid_argument("n: must be >= 0 (0 removes the limit), got " + std::to_string(n));
    par::set_thread_limit(n);
  }, py::arg("n"));
  t.def("limit", &par::thread_limit);
  t.def("team_overhead", &par::team_overhead, py::call_guard<py::gil_scoped_release>(),
        "Seconds to wake a sleeping team and join it (measured once per process).");
  t.def("set_policy", [](const std::string& p) {
    if (p == "auto") par::set_policy(par::Policy::kAuto);
    else if (p == "serial") par::set_policy(par::Policy::kSerial);
    else if (p == "team") par::set_policy(par::Policy::kTeam);
    else throw std::invalid_argument("policy: expected 'auto', 'serial' or 'team', got '" + p + "'");
  }, py::arg("policy"));
  t.def("simd_isa", [] { return std::string(simd::isa_name(simd::detect_isa())); },
        "The instruction set of the hand-dispatched kernels: 'v4' (AVX-512), 'v3' (AVX2) or 'base'; "
        "the environment variable FASTGEN_ISA caps it.");
  t.def("policy", [] {
    switch (par::policy()) {
      case par::Policy::kSerial: return std::string("serial");
      case par::Policy::kTeam: return std::string("team");
      default: return std::string("auto");
    }
  });
}

}  // namespace fastgen::bind
