// The Python side of common/interrupt.hpp: the main thread's identity, the GIL-taking poll, and the
// handler's exception kept between the poll (inside a kernel) and the binding's return.
#include "common/interrupt.hpp"

#include <Python.h>

#include <algorithm>

namespace fastgen::par {
namespace detail {
thread_local InterruptState tl_interrupt;
}  // namespace detail

bool interrupted() noexcept {
  detail::InterruptState& s = detail::tl_interrupt;
  if (s.cancel && s.cancel->load(std::memory_order_relaxed)) return true;
  if (!s.armed || s.paused) return false;
  if (s.pending) return true;
  if (std::chrono::steady_clock::now() < s.next_poll) return false;
  return detail::poll_signals();
}

namespace {
unsigned long g_main_thread = 0;  // PyThread_get_thread_ident() of Python's main thread
// The exception a signal handler raised, from PyErr_Fetch; owned references, touched with the GIL
// held and only by the main thread.
PyObject *g_type = nullptr, *g_value = nullptr, *g_tb = nullptr;

void drop_kept() {
  Py_CLEAR(g_type);
  Py_CLEAR(g_value);
  Py_CLEAR(g_tb);
}
}  // namespace

void init_interrupts() {
  // threading.main_thread(): the module may be imported first on another thread.
  PyObject* threading = PyImport_ImportModule("threading");
  PyObject* main = threading ? PyObject_CallMethod(threading, "main_thread", nullptr) : nullptr;
  PyObject* ident = main ? PyObject_GetAttrString(main, "ident") : nullptr;
  if (ident) g_main_thread = PyLong_AsUnsignedLong(ident);
  if (!ident || PyErr_Occurred()) {
    PyErr_Clear();
    g_main_thread = 0;  // unknown: never armed, kernels are not interruptible
  }
  Py_XDECREF(ident);
  Py_XDECREF(main);
  Py_XDECREF(threading);
}

bool arm_interrupts() {
  detail::InterruptState& s = detail::tl_interrupt;
  if (s.armed || g_main_thread == 0 || PyThread_get_thread_ident() != g_main_thread) return false;
  drop_kept();  // left by an interrupted call whose exception was not ours to translate
  s.armed = true;
  s.pending = false;
  s.paused = false;
  s.next_poll = std::chrono::steady_clock::now() + kPollInterval;
  return true;
}

bool disarm_interrupts() noexcept {
  detail::InterruptState& s = detail::tl_interrupt;
  const bool pending = s.pending;
  s.armed = false;
  s.pending = false;
  return pending;
}

void restore_interrupt_error() {
  if (g_type) {
    PyErr_Restore(g_type, g_value, g_tb);  // steals the references
    g_type = g_value = g_tb = nullptr;
  } else {
    PyErr_SetNone(PyExc_KeyboardInterrupt);
  }
}

namespace detail {
bool poll_signals() noexcept {
  InterruptState& s = tl_interrupt;
  // The GIL for a moment (the caller released it in NoGil; this is the main thread, so its thread
  // state is the one PyGILState knows). Handlers run here, as they would between two bytecodes.
  const auto t0 = std::chrono::steady_clock::now();
  const PyGILState_STATE g = PyGILState_Ensure();
  const auto waited = std::chrono::steady_clock::now() - t0;
  if (PyErr_CheckSignals() != 0) {
    drop_kept();
    PyErr_Fetch(&g_type, &g_value, &g_tb);
    s.pending = true;
  }
  PyGILState_Release(g);
  // Another Python thread running Python code holds the GIL up to its switch interval (5 ms): then
  // poll less often, so that waiting for it stays below ~2% of the kernel's time (a Ctrl-C then
  // takes up to kMaxPollInterval).
  s.next_poll = std::chrono::steady_clock::now() + std::clamp<std::chrono::steady_clock::duration>(
                    50 * waited, kPollInterval, kMaxPollInterval);
  return s.pending;
}
}  // namespace detail

}  // namespace fastgen::par
