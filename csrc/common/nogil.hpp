// The bindings' GIL release: py::gil_scoped_release plus Ctrl-C (common/interrupt.hpp). Arms the
// Python main thread's interruption points for the kernel's run; on the way out raises a signal
// that a handler turned into an exception while the kernel ran, whether or not the kernel stopped
// for it (a Ctrl-C is never lost, and a kernel that returned early never returns its results).
#pragma once
#include <pybind11/pybind11.h>

#include <exception>

#include "common/interrupt.hpp"

namespace fastgen::bind {

class NoGil {
 public:
  // interruptible = false for kernels that update their arguments in place (parameters, optimiser
  // state): they are short steps of a Python loop, which stops between them.
  explicit NoGil(bool interruptible = true)
      : armed_(interruptible && par::arm_interrupts()), uncaught_(std::uncaught_exceptions()) {}
  NoGil(const NoGil&) = delete;
  NoGil& operator=(const NoGil&) = delete;
  // Throws par::Interrupted (the GIL is taken back by release_'s destructor during the unwinding,
  // before the translator registered in module.cpp turns it into the handler's exception). Not
  // while another exception unwinds: that one, Interrupted included, goes on.
  ~NoGil() noexcept(false) {
    if (armed_ && par::disarm_interrupts() && std::uncaught_exceptions() == uncaught_) throw par::Interrupted();
  }

 private:
  bool armed_;
  int uncaught_;
  pybind11::gil_scoped_release release_;  // constructed last: arming needs the GIL
};

}  // namespace fastgen::bind
