// Ctrl-C inside a kernel (issue 14). Kernels run with the GIL released, so Python's own SIGINT
// handler only sets a flag that nothing reads until the kernel returns: a 2-million-frame HMM E-step
// took 6.4 s to stop. The binding's NoGil scope (common/nogil.hpp) arms this thread when it is the
// Python main thread (only there does a signal handler run); long kernels then call interrupted()
// between pieces of work, which at most every kPollInterval takes the GIL for a moment and runs
// PyErr_CheckSignals(). A handler's exception (KeyboardInterrupt) is kept, the kernel unwinds and
// the binding raises it.
//
// - interrupted() never throws and is cheap (a thread-local test; a clock read when armed): it is
//   the check for functions compiled with target_clones (common/simd.hpp), which gcc 12 treats as
//   noexcept, so that an exception thrown through one calls std::terminate. Such a function returns
//   early; the ordinary code around it calls check_interrupt(), which throws Interrupted. Code that
//   returns early must leave nothing behind that later code would read as an index.
// - The pool's workers never touch the GIL: on a worker interrupted() reads the job's cancel flag,
//   which the caller (worker 0, the thread that released the GIL) sets when it sees the signal
//   (threads.cpp). Team bodies (run_team) are not interruptible: members meet at barriers.
// - The NoGil scope raises a kept signal even when the kernel finished (or returned early without
//   checking), so neither a Ctrl-C nor an early return can be lost.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>

namespace fastgen::par {

// Thrown (outside target_clones functions) once a signal handler raised; the bindings translate it
// back to the handler's exception (KeyboardInterrupt for Python's default SIGINT handler).
struct Interrupted : std::exception {
  const char* what() const noexcept override { return "interrupted by a signal"; }
};

constexpr auto kPollInterval = std::chrono::milliseconds(20);
constexpr auto kMaxPollInterval = std::chrono::milliseconds(300);  // when the GIL is slow to get

namespace detail {
struct InterruptState {
  bool armed = false;    // a NoGil scope on the Python main thread is open on this thread
  bool pending = false;  // a handler raised: its exception is kept (interrupt.cpp) until raised
  bool paused = false;   // inside a team body: no interruption points
  std::chrono::steady_clock::time_point next_poll{};
  const std::atomic<bool>* cancel = nullptr;  // the pool job this thread works on
};
extern thread_local InterruptState tl_interrupt;
bool poll_signals() noexcept;  // takes the GIL, runs the handlers; sets pending
}  // namespace detail

// True when the work should stop: a signal's handler raised on this (main) thread, or the pool job
// this thread works for was cancelled. Out of line: it adds only a call to the target_clones
// kernels that use it (see FASTGEN_CLONE_INLINE in common/simd.hpp). Call it between pieces of
// ~1e5 operations (steps_per_check).
bool interrupted() noexcept;

// interrupted() for ordinary code: throws Interrupted.
inline void check_interrupt() {
  if (interrupted()) throw Interrupted();
}

// Steps of `work_per_step` operations between two interruption points of a sequential loop:
// about kCheckWork operations (~10-50 us). Loops are cut into blocks of this many steps with the
// check between blocks, so that the inner loop is the loop it was.
constexpr double kCheckWork = 65536;
inline int64_t steps_per_check(double work_per_step) {
  return work_per_step >= kCheckWork ? 1 : static_cast<int64_t>(kCheckWork / std::max(work_per_step, 1.0));
}

// No interruption points on this thread while it lives: team bodies (members meet at barriers).
class PauseInterrupts {
 public:
  PauseInterrupts() : was_(detail::tl_interrupt.paused) { detail::tl_interrupt.paused = true; }
  PauseInterrupts(const PauseInterrupts&) = delete;
  PauseInterrupts& operator=(const PauseInterrupts&) = delete;
  ~PauseInterrupts() { detail::tl_interrupt.paused = was_; }

 private:
  bool was_;
};

// Arming, used by NoGil (common/nogil.hpp) with the GIL held: arm() returns whether this thread is
// now armed (the Python main thread, not already armed); disarm() returns whether a signal is pending.
bool arm_interrupts();
bool disarm_interrupts() noexcept;
// With the GIL held: sets the kept exception as the Python error (KeyboardInterrupt if none).
void restore_interrupt_error();
// Remembers the Python main thread (module import).
void init_interrupts();

}  // namespace fastgen::par
