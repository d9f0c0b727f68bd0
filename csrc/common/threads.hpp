// fastgen's threading policy: every parallel kernel runs through here, never through a bare
// `#pragma omp parallel`. Built for machines that other processes share (CI runners, containers,
// notebooks), where OpenMP's fork-join lost whole scheduler time slices: teams woken for
// microseconds of work, workers spinning while the thread they waited for was descheduled, a join
// that waits for every member, even one that never got a core.
//
// - Its own pool (threads.cpp). A call's tasks are claimed in runs from a shared counter by the
//   caller and whichever workers are awake: a worker that was descheduled simply takes fewer (or
//   none), and the caller waits only for tasks already claimed, never for a worker to arrive.
//   Kernels split work into more tasks than threads for that reason.
// - Waiting threads spin ~20 us, poll with sched_yield up to 150 us while no other thread wants
//   the CPUs, then sleep in the kernel (libgomp's default spins ~300,000 times).
// - Small work runs on the calling thread: below twice the team's start-up cost, measured on the
//   running machine when the pool starts (a two-thread team cannot win below that).
// - Above it, the team runs while the machine's other runnable threads leave it the CPUs; when
//   they do not, each call kind's Clock times one thread against the team and runs the faster,
//   probing the other now and then.
// - Results never depend on the split: tasks are fixed pieces of work and reductions combine
//   fixed chunks in chunk order, so 1, 2 or 64 threads, the small path or the team, give the same
//   bits. The caller's floating-point mode (FTZ/DAZ, rounding) is carried to the workers.
// - Thread count: OMP_NUM_THREADS and threadpoolctl (through the OpenMP runtime's nthreads ICV,
//   which threadpoolctl sets on the libgomp that _core links), a CPU quota of the container when
//   OMP_NUM_THREADS is unset, and fastgen.set_num_threads; the smallest applies.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/interrupt.hpp"

namespace fastgen::par {

// ---- settings ------------------------------------------------------------------------------------
int max_threads();               // threads a kernel called now may use (>= 1)
void set_thread_limit(int n);    // fastgen.set_num_threads; 0 removes the limit
int thread_limit();              // 0: none
bool in_team();                  // inside a task: nested parallel calls run on the calling thread
double team_overhead();          // seconds to wake a sleeping team and join it (measured once)

// Tests force one path: kSerial, every call on the calling thread; kTeam, every call with more
// than one task on the full team (no small-work path, no clock). Results must not change.
enum class Policy : int { kAuto = 0, kSerial = 1, kTeam = 2 };
void set_policy(Policy p);
Policy policy();

// Number of fixed-size chunks covering n items.
inline int64_t n_chunks(int64_t n, int64_t chunk) { return n <= 0 ? 0 : (n + chunk - 1) / chunk; }

// ---- the pool (threads.cpp) ----------------------------------------------------------------------
using TaskFn = void (*)(void* ctx, int64_t task, int worker);
using TeamFn = void (*)(void* ctx, int id, int nt);
// fn(ctx, t, w) for every t in [0, n_tasks) exactly once, on up to nt workers (w < nt; the caller is
// worker 0 and takes tasks too); returns when all are done and rethrows the first exception. The
// first exception, or a signal (common/interrupt.hpp) that the caller sees between its tasks or
// while it waits, cancels the rest: tasks not started are skipped, running ones see interrupted().
void run_tasks(TaskFn fn, void* ctx, int64_t n_tasks, int nt);
// fn(ctx, id, nt) on exactly nt threads (the caller is id 0), which may meet at barrier(); not
// interruptible (one member stopping alone would leave the others at a barrier).
// Returns the team size used: 1 when the pool is busy with another caller's work.
int run_team(TeamFn fn, void* ctx, int nt);
void barrier();  // inside run_team: waits for the whole team

// ---- choosing the team per call kind -----------------------------------------------------------
// One per kernel call kind (a `static thread_local` at the call site). `work` is a rough count of
// a call's operations: only its proportionality matters, the clock learns seconds per unit (a
// kind's first call runs on the calling thread to measure it, unless the work is clearly large).
// Work below twice the team's start-up cost runs on the calling thread. Above it, on idle cores (no
// more runnable threads than CPUs besides ours, in /proc/loadavg) the team runs: nothing
// descheduled to wait for, and timing there misleads, since a team that has just been idle takes
// ~15 ms of steady use to reach its speed on the VMs we measure on (a narrow nn step: 190 us, then
// 85 us; one thread 145 us). On a busy machine the clock times one thread against the team: as soon
// as the cores get busy it probes the configuration not in use (a new kind: the team, then one
// thread), then again after kProbeFirst calls, then after twice as
// many each time it changes nothing (up to kProbeMost): on a loaded machine a losing team costs a
// few slow calls per few thousand. A probe is kProbeCalls calls: the first after a switch pays for
// waking sleeping workers and moving caches and is not a sample, the faster of the others is (one
// sample alone, hit by an interrupt, kept a 1.7x faster team off for hundreds of calls); a probe
// call kAbort times slower than the configuration in use ends the probe at once. One thread
// takes over when the team is slower; the team comes back only when kSwitch times faster, so a
// lucky sample on a busy machine does not switch back to stalls. (Moved here from the narrow nn
// steps, where it was first measured: a 0.15 ms step took 1-4 ms on a fixed team under load.)
class Clock {
 public:
  static constexpr uint32_t kProbeFirst = 64, kProbeMost = 4096, kProbeCalls = 3;
  static constexpr double kSwitch = 0.8, kAbort = 4.0;
  int choose(double work, int nt_max);               // 1 or nt_max
  void record(int nt, double work, double seconds);  // after a call chosen by choose()

 private:
  double rate_[2] = {-1.0, -1.0};  // seconds per unit of work: [0] one thread, [1] the team
  double probe_best_ = -1.0;       // the probe's fastest sample so far
  int in_use_ = 1, probing_ = -1;
  uint32_t probe_left_ = 0, interval_ = kProbeFirst, countdown_ = 0;
  bool was_busy_ = false;   // the machine at the last clocked or idle choice
  // The last choice: 0 not timed (one thread only, or forced), 1 small work, 2 timed against each
  // other (a busy machine), 3 the team on idle cores.
  int mode_ = 0;
};

// One parallel call: chooses the team size on construction (workers()), runs any number of loops
// on it, and times the whole for its clock on destruction. Inside a task it is one thread, untimed.
class Region {
 public:
  Region(Clock& clock, double work, int64_t n_tasks);
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  ~Region();
  int workers() const { return nt_; }

  // body(task, worker) for every task in [0, n), worker in [0, workers()).
  template <class F>
  void for_each(int64_t n, F&& body) {
    using B = std::remove_reference_t<F>;
    if (nt_ <= 1 || n <= 1) {
      for (int64_t t = 0; t < n; ++t) {
        body(t, 0);
        check_interrupt();  // between tasks (run_tasks checks between slots)
      }
      return;
    }
    run_tasks([](void* c, int64_t t, int w) { (*static_cast<B*>(c))(t, w); }, &body, n, nt_);
  }
  // body(begin, end, worker) on [0, n) cut into chunks of `chunk` items (the same boundaries on
  // any number of threads: chunk-ordered reductions may rely on them).
  template <class F>
  void for_chunks(int64_t n, int64_t chunk, F&& body) {
    for_each(n_chunks(n, chunk), [&](int64_t c, int w) { body(c * chunk, std::min(n, (c + 1) * chunk), w); });
  }
  // body(id, nt) on a team that may meet at par::barrier() (nt == 1 when one thread was chosen).
  template <class F>
  void team(F&& body) {
    using B = std::remove_reference_t<F>;
    if (nt_ <= 1) {
      PauseInterrupts pause;  // as run_team's
      body(0, 1);
      return;
    }
    run_team([](void* c, int id, int nt) { (*static_cast<B*>(c))(id, nt); }, &body, nt_);
  }

 private:
  Clock* clock_;
  double work_;
  int nt_;
  std::chrono::steady_clock::time_point t0_;
};

// One-loop shorthands.
template <class F>
void for_each(Clock& clock, double work, int64_t n, F&& body) {
  Region r(clock, work, n);
  r.for_each(n, std::forward<F>(body));
}
template <class F>
void for_chunks(Clock& clock, double work, int64_t n, int64_t chunk, F&& body) {
  Region r(clock, work, n_chunks(n, chunk));
  r.for_chunks(n, chunk, std::forward<F>(body));
}
// body(begin, end) on [0, n) in pieces of at least `grain` items, about 8 per thread (for work
// whose items are independent: the boundaries may depend on the thread count).
template <class F>
void for_range(Clock& clock, double work, int64_t n, int64_t grain, F&& body) {
  if (n <= 0) return;
  const int64_t most = n_chunks(n, std::max<int64_t>(grain, 1));
  Region r(clock, work, most);
  const int64_t pieces = std::min<int64_t>(most, 8 * static_cast<int64_t>(r.workers()));
  const int64_t chunk = n_chunks(n, pieces);
  r.for_chunks(n, chunk, [&](int64_t b, int64_t e, int) { body(b, e); });
}

// Memory for one thread's scratch: whole 64-byte cache lines, so that it never shares a line with
// another thread's. (A worker's buffer freed by the caller goes to the caller's malloc cache, and the
// next call's buffers of the two threads then sat side by side: writes to the same lines from both
// made a 4.6 ms HMM pass take 15 ms.)
inline void* cache_lines(size_t bytes) {
  void* p = std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
  if (!p) throw std::bad_alloc();
  return p;
}
struct FreeCacheLines {
  void operator()(void* p) const { std::free(p); }
};

// std::vector's allocator for per-worker buffers (cache_lines).
template <class T>
struct CacheAllocator {
  using value_type = T;
  CacheAllocator() = default;
  template <class U>
  CacheAllocator(const CacheAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(cache_lines(n * sizeof(T))); }
  void deallocate(T* p, size_t) { std::free(p); }
  template <class U>
  bool operator==(const CacheAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const CacheAllocator<U>&) const { return false; }
};
template <class T>
using Vec = std::vector<T, CacheAllocator<T>>;

// Per-worker scratch of n elements of T for one Region, allocated by each worker on first use (so
// a call that runs on one thread allocates one buffer): uninitialised, or zeroed with `zeroed`.
template <class T>
class Scratch {
  static_assert(std::is_trivially_copyable_v<T>, "Scratch holds plain numbers");

 public:
  Scratch(const Region& r, size_t n, bool zeroed = false)
      : n_(n ? n : 1), zeroed_(zeroed), bufs_(static_cast<size_t>(std::max(r.workers(), 1))) {}
  T* operator[](int w) {
    std::unique_ptr<T, FreeCacheLines>& b = bufs_[static_cast<size_t>(w)].p;
    if (!b) {
      b.reset(static_cast<T*>(cache_lines(n_ * sizeof(T))));
      if (zeroed_) std::fill(b.get(), b.get() + n_, T(0));
    }
    return b.get();
  }

 private:
  struct alignas(64) Slot {  // the pointers too: a worker writes its own on first use
    std::unique_ptr<T, FreeCacheLines> p;
  };
  size_t n_;
  bool zeroed_;
  std::vector<Slot> bufs_;
};

}  // namespace fastgen::par
