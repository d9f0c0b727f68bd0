// The pool behind csrc/common/threads.hpp (read its header comment first).
//
// One job at a time: a caller that finds the pool busy (another Python thread's kernel) runs its
// work on its own thread. The job is published as one 64-bit ticket,
//   generation (24 bits) | team size (8) | number of slots (16) | next unclaimed slot (16),
// and a slot is claimed by a compare-exchange of the whole ticket, so a worker that wakes late
// (after its job finished, or after the next job was posted) cannot claim a slot of another job:
// its compare-exchange fails on the generation. The job's other fields are read only after a
// successful claim, while their caller is still waiting for that slot. Tasks are grouped into at
// most kSlotsPerThread slots of consecutive tasks per thread.
//
// Cancelling (common/interrupt.hpp): the first exception a task throws, or a signal the caller sees
// between its slots or while it waits, cancels the job: the cancel flag tells running tasks to stop
// at their next interruption point, the unclaimed slots are taken off the ticket at once and counted
// done, the caller waits for the slots already running, then rethrows.
#include "common/threads.hpp"

#include "common/interrupt.hpp"

#include <omp.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <vector>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace fastgen::par {
namespace {

using clock_type = std::chrono::steady_clock;
// A waiting thread spins kSpin, then polls with sched_yield until kPoll, then sleeps in the kernel.
// Waking a sleeping thread costs 30-50 us on the 2-core VM we measure on, a narrow nn step 70 us
// and the Python between two kernel calls 10-50 us: polling bridges those gaps on idle cores. While
// other threads want the CPUs (machine_busy's last reading) it does not poll, and a yield would hand
// the core to them anyway: no waiting thread takes the time slices that libgomp's default spinning
// (~300,000 pauses) took.
constexpr auto kSpin = std::chrono::microseconds(20);
constexpr auto kPoll = std::chrono::microseconds(150);
constexpr int kMaxTeam = 255;             // the ticket's 8 bits
constexpr int64_t kMaxSlots = 0xFFFF;     // the ticket's 16 bits
// Slots per thread: a slot is a run of consecutive tasks claimed at once, so that kernels may cut
// their work finely (fixed chunks for reductions) without paying a contended claim per tiny task,
// while a descheduled thread's slots are still few enough of the whole to be taken over.
constexpr int64_t kSlotsPerThread = 16;
// Seconds per unit of work before a kind is measured: low (units are roughly multiply-adds), so
// that a kind's first call runs on the calling thread and measures it, unless even this estimate
// is above the small-work threshold.
constexpr double kPriorRate = 1e-10;
constexpr auto kBusyCheck = std::chrono::milliseconds(20);  // how often /proc/loadavg is read
constexpr double kOverheadCap = 200e-6;   // a start-up measured on a saturated machine is capped

inline uint64_t pack(uint64_t gen, uint64_t nt, uint64_t n, uint64_t next) {
  return (gen & 0xFFFFFF) << 40 | nt << 32 | n << 16 | next;
}
inline uint32_t gen_of(uint64_t t) { return static_cast<uint32_t>(t >> 40); }
inline int nt_of(uint64_t t) { return static_cast<int>((t >> 32) & 0xFF); }
inline int64_t slots_of(uint64_t t) { return static_cast<int64_t>((t >> 16) & 0xFFFF); }
inline int64_t next_of(uint64_t t) { return static_cast<int64_t>(t & 0xFFFF); }

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

inline unsigned fp_mode() {
#if defined(__SSE2__)
  return _mm_getcsr();
#else
  return 0;
#endif
}
inline void set_fp_mode(unsigned m) {
#if defined(__SSE2__)
  _mm_setcsr(m);
#else
  (void)m;
#endif
}

struct Pool {
  std::mutex owner;  // held by the caller whose job is in flight
  std::atomic<uint64_t> ticket{0};
  // The job: written by its caller before the ticket is published.
  TaskFn fn = nullptr;
  TeamFn team_fn = nullptr;
  void* ctx = nullptr;
  int64_t n_tasks = 0, n_slots = 0;
  int team_nt = 0;
  unsigned mode = 0;
  std::atomic<int64_t> done{0};
  std::mutex error_m;
  std::exception_ptr error;
  std::atomic<bool> cancel{false};  // the job's interruption flag (read by interrupted() in its tasks)
  // The team's barrier.
  std::atomic<int> arrived{0};
  std::atomic<uint32_t> phase{0};
  // Sleeping: one condition for every wait (a new job, the last slot done, a barrier's release).
  std::mutex m;
  std::condition_variable cv;
  std::atomic<int> sleepers{0};
  std::atomic<int> n_workers{0};  // threads besides the caller (written by the owner)
};

std::atomic<Pool*> g_pool{nullptr};
// Threads runnable on the machine besides this process's awake ones, as machine_busy() last read
// them: waiting threads do not poll while other threads want the CPUs.
std::atomic<long> g_others{0};
std::atomic<int> g_limit{0};
std::atomic<int> g_policy{0};
thread_local bool tl_in_team = false;
thread_local int tl_team_nt = 1;
thread_local Pool* tl_team_pool = nullptr;

// After fork() only the forking thread exists in the child: forget the parent's pool (leaked, its
// locks may be held) so the child starts its own. (OpenMP's pool hangs here instead.)
void forget_pool_in_child() { g_pool.store(nullptr); }

Pool& pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return *p;
  static std::once_flag atfork;
  std::call_once(atfork, [] { pthread_atfork(nullptr, nullptr, forget_pool_in_child); });
  Pool* fresh = new Pool;  // never destroyed: detached workers may sleep in it at exit
  if (!g_pool.compare_exchange_strong(p, fresh)) {
    delete fresh;
    return *p;
  }
  return *fresh;
}

// The waker's side of every wait: call after the state change (a seq_cst store or RMW).
void notify(Pool& p) {
  if (p.sleepers.load() > 0) {
    std::lock_guard<std::mutex> lk(p.m);
    p.cv.notify_all();
  }
}

// Waits until ready() (which must read with seq_cst): spins, polls, then sleeps until notified;
// asleep, it wakes every kPollInterval to call tick() (the caller's check for signals).
template <class Ready, class Tick>
void wait_until(Pool& p, Ready ready, bool timed, Tick tick) {
  const auto t0 = clock_type::now();
  for (uint32_t i = 1; !ready(); ++i) {
    cpu_relax();
    if ((i & 63) != 0) continue;
    const auto waited = clock_type::now() - t0;
    if (waited < kSpin) continue;
    if (waited < kPoll && g_others.load(std::memory_order_relaxed) == 0) {
      std::this_thread::yield();
      continue;
    }
    std::unique_lock<std::mutex> lk(p.m);
    p.sleepers.fetch_add(1);
    while (!ready()) {
      if (!timed) {
        p.cv.wait(lk);
      } else if (p.cv.wait_for(lk, kPollInterval) == std::cv_status::timeout) {
        lk.unlock();
        tick();
        lk.lock();
      }
    }
    p.sleepers.fetch_sub(1);
    return;
  }
}
template <class Ready>
void wait_until(Pool& p, Ready ready) {
  wait_until(p, ready, false, [] {});
}

bool claim(Pool& p, uint32_t gen, int64_t& slot) {
  uint64_t t = p.ticket.load(std::memory_order_acquire);
  for (;;) {
    if (gen_of(t) != gen || next_of(t) >= slots_of(t)) return false;
    if (p.ticket.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      slot = next_of(t);
      return true;
    }
  }
}

void keep_error(Pool& p, std::exception_ptr e) {
  std::lock_guard<std::mutex> lk(p.error_m);
  if (!p.error) p.error = e;
}

// Stops job `gen`: running tasks see the flag at their next interruption point; the slots nobody
// claimed yet are taken off the ticket and counted done, so that the caller waits only for the others.
void cancel(Pool& p, uint32_t gen) {
  p.cancel.store(true);
  uint64_t t = p.ticket.load();
  while (gen_of(t) == gen && next_of(t) < slots_of(t)) {
    const uint64_t none_left = t - static_cast<uint64_t>(next_of(t)) + static_cast<uint64_t>(slots_of(t));
    if (p.ticket.compare_exchange_weak(t, none_left)) {
      const int64_t skipped = slots_of(t) - next_of(t);
      if (p.done.fetch_add(skipped) + skipped == p.n_slots) notify(p);
      return;
    }
  }
}

// The caller's interruption point between slots and while it waits: a signal cancels the job.
void check_signals(Pool& p, uint32_t gen) {
  if (interrupted()) {
    keep_error(p, std::make_exception_ptr(Interrupted()));
    cancel(p, gen);
  }
}

// Claims and runs slots of job `gen` until none is left; `w` is this thread's worker index.
void work_on(Pool& p, uint32_t gen, int w) {
  int64_t s;
  detail::InterruptState& is = detail::tl_interrupt;
  const std::atomic<bool>* outer_cancel = is.cancel;
  while (claim(p, gen, s)) {
    const int64_t n_slots = p.n_slots;  // read before done counts the slot: then the caller may move on
    const bool team = p.team_fn != nullptr;
    // A team is never cancelled: its members meet at barriers, none may stop alone.
    is.cancel = team ? outer_cancel : &p.cancel;
    set_fp_mode(p.mode);
    try {
      if (p.team_fn) {
        tl_team_nt = p.team_nt;
        tl_team_pool = &p;
        p.team_fn(p.ctx, static_cast<int>(s) + 1, p.team_nt);
        tl_team_nt = 1;
        tl_team_pool = nullptr;
      } else {
        const int64_t b = s * p.n_tasks / n_slots, e = (s + 1) * p.n_tasks / n_slots;
        for (int64_t t = b; t < e; ++t) p.fn(p.ctx, t, w);
      }
    } catch (...) {
      keep_error(p, std::current_exception());
      if (!team) cancel(p, gen);
    }
    is.cancel = outer_cancel;
    if (p.done.fetch_add(1) + 1 == n_slots) notify(p);
    if (w == 0 && !team) check_signals(p, gen);
  }
}

void worker_main(Pool* p, int id, uint32_t seen) {
  tl_in_team = true;  // anything a task calls runs on this thread
  for (;;) {
    wait_until(*p, [&] { return gen_of(p->ticket.load()) != seen; });
    const uint64_t t = p->ticket.load();
    seen = gen_of(t);
    if (id < nt_of(t)) work_on(*p, seen, id);
  }
}

void ensure_workers(Pool& p, int n) {  // called by the owner
  for (int id = p.n_workers.load(); id < n; ++id) {
    std::thread(worker_main, &p, id + 1, gen_of(p.ticket.load())).detach();
    p.n_workers.store(id + 1);
  }
}

// Publishes a job (the fields are set) and returns its generation.
uint32_t publish(Pool& p, int nt, int64_t n_slots) {
  ensure_workers(p, nt - 1);
  p.done.store(0);
  p.error = nullptr;
  p.cancel.store(false);
  p.mode = fp_mode();
  const uint32_t gen = (gen_of(p.ticket.load()) + 1) & 0xFFFFFF;
  p.ticket.store(pack(gen, static_cast<uint64_t>(nt), static_cast<uint64_t>(n_slots), 0));
  notify(p);
  return gen;
}

void finish(Pool& p, std::unique_lock<std::mutex>& owner, uint32_t gen) {
  const bool tasks = !p.team_fn;  // a team is not cancelled: its members may wait at a barrier
  const bool tick = tasks && detail::tl_interrupt.armed;
  wait_until(p, [&] { return p.done.load() == p.n_slots; }, tick, [&] { check_signals(p, gen); });
  std::exception_ptr e = p.error;
  p.error = nullptr;
  owner.unlock();
  if (e) std::rethrow_exception(e);
}

int cpu_quota() {  // the container's CPU limit in whole CPUs (rounded up), 0 when none
  long long quota = -1, period = 0;
  if (FILE* f = std::fopen("/sys/fs/cgroup/cpu.max", "r")) {  // cgroup v2: "max 100000" or "200000 100000"
    char q[32] = {0};
    if (std::fscanf(f, "%31s %lld", q, &period) == 2 && std::strcmp(q, "max") != 0) quota = std::atoll(q);
    std::fclose(f);
  } else if (FILE* fq = std::fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r")) {  // cgroup v1
    if (std::fscanf(fq, "%lld", &quota) != 1) quota = -1;
    std::fclose(fq);
    if (FILE* fp = std::fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r")) {
      if (std::fscanf(fp, "%lld", &period) != 1) period = 0;
      std::fclose(fp);
    }
  }
  if (quota <= 0 || period <= 0) return 0;
  return static_cast<int>(std::max<long long>(1, (quota + period - 1) / period));
}

// True when a team of nt would not find its CPUs free: the threads runnable on the machine besides
// this caller and the pool's awake workers (/proc/loadavg counts them all; the smaller of its last
// two readings, kBusyCheck apart), plus nt, exceed the CPUs. True when it cannot be read (the clock
// then decides by timing).
bool machine_busy(int nt) {
  static std::atomic<int64_t> checked{0};  // steady_clock counts from boot: the first call reads
  static std::atomic<bool> busy{true};
  static const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  const int64_t now = clock_type::now().time_since_epoch().count();
  const int64_t last = checked.load(std::memory_order_relaxed);
  static std::atomic<long> previous{0};
  if (now - last >= std::chrono::duration_cast<clock_type::duration>(kBusyCheck).count()) {
    checked.store(now, std::memory_order_relaxed);
    bool ok = false;
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
      double l1, l5, l15;
      long running = 0, total = 0;
      if (std::fscanf(f, "%lf %lf %lf %ld/%ld", &l1, &l5, &l15, &running, &total) == 5 && cpus > 0) {
        Pool& p = pool();
        const long ours = 1 + std::max(0, p.n_workers - p.sleepers.load());
        // The smaller of the last two readings: one transient kernel thread is not a busy machine.
        const long now_others = std::max(0L, running - ours);
        g_others.store(std::min(now_others, previous.exchange(now_others)));
        ok = true;
      }
      std::fclose(f);
    }
    busy.store(!ok);
  }
  return busy.load() || g_others.load() + nt > cpus;
}

}  // namespace

// ---- settings --------------------------------------------------------------------------------------

int max_threads() {
  static const int quota = std::getenv("OMP_NUM_THREADS") ? 0 : cpu_quota();
  int n = omp_get_max_threads();  // OMP_NUM_THREADS, threadpoolctl
  if (quota > 0) n = std::min(n, quota);
  const int lim = g_limit.load(std::memory_order_relaxed);
  if (lim > 0) n = std::min(n, lim);
  return std::clamp(n, 1, kMaxTeam);
}
void set_thread_limit(int n) { g_limit.store(std::max(n, 0)); }
int thread_limit() { return g_limit.load(); }
bool in_team() { return tl_in_team; }
void set_policy(Policy p) { g_policy.store(static_cast<int>(p)); }
Policy policy() { return static_cast<Policy>(g_policy.load(std::memory_order_relaxed)); }

// The median of 5 wake-and-join cycles of an empty team whose workers have gone to sleep (the
// case of small kernels between stretches of Python), on the team size a kernel may use now.
double team_overhead() {
  static std::atomic<double> measured{-1.0};
  double v = measured.load(std::memory_order_relaxed);
  if (v >= 0) return v;
  const int nt = max_threads();
  if (nt <= 1 || tl_in_team) return kOverheadCap;
  double s[5];
  for (double& x : s) {
    std::this_thread::sleep_for(kPoll + std::chrono::microseconds(100));
    const auto t0 = clock_type::now();
    if (run_team([](void*, int, int) {}, nullptr, nt) < nt) return kOverheadCap;  // busy: not now
    x = std::chrono::duration<double>(clock_type::now() - t0).count();
  }
  std::sort(s, s + 5);
  v = std::min(s[2], kOverheadCap);
  measured.store(v);
  return v;
}

// ---- the pool ----------------------------------------------------------------------------------------

void run_tasks(TaskFn fn, void* ctx, int64_t n_tasks, int nt) {
  if (n_tasks <= 0) return;
  Pool& p = pool();
  std::unique_lock<std::mutex> owner(p.owner, std::try_to_lock);
  nt = std::min(nt, kMaxTeam);
  if (nt <= 1 || n_tasks == 1 || tl_in_team || !owner.owns_lock()) {
    for (int64_t t = 0; t < n_tasks; ++t) {
      fn(ctx, t, 0);
      check_interrupt();
    }
    return;
  }
  p.fn = fn;
  p.team_fn = nullptr;
  p.ctx = ctx;
  p.n_tasks = n_tasks;
  p.n_slots = std::min({n_tasks, kSlotsPerThread * nt, kMaxSlots});
  const uint32_t gen = publish(p, nt, p.n_slots);
  tl_in_team = true;
  work_on(p, gen, 0);
  tl_in_team = false;
  finish(p, owner, gen);
}

int run_team(TeamFn fn, void* ctx, int nt) {
  Pool& p = pool();
  std::unique_lock<std::mutex> owner(p.owner, std::try_to_lock);
  nt = std::min(nt, kMaxTeam);
  PauseInterrupts pause;  // members meet at barriers: none may stop alone
  if (nt <= 1 || tl_in_team || !owner.owns_lock()) {
    fn(ctx, 0, 1);
    return 1;
  }
  p.fn = nullptr;
  p.team_fn = fn;
  p.ctx = ctx;
  p.team_nt = nt;
  p.n_tasks = p.n_slots = nt - 1;  // ids 1..nt-1; the caller is id 0 and claims none
  p.arrived.store(0);
  const uint32_t gen = publish(p, nt, p.n_slots);
  tl_in_team = true;
  tl_team_nt = nt;
  tl_team_pool = &p;
  try {
    fn(ctx, 0, nt);
  } catch (...) {
    keep_error(p, std::current_exception());
  }
  tl_team_nt = 1;
  tl_team_pool = nullptr;
  tl_in_team = false;
  finish(p, owner, gen);
  return nt;
}

void barrier() {
  Pool* p = tl_team_pool;
  const int nt = tl_team_nt;
  if (!p || nt <= 1) return;
  const uint32_t ph = p->phase.load();
  if (p->arrived.fetch_add(1) + 1 == nt) {
    p->arrived.store(0);
    p->phase.fetch_add(1);
    notify(*p);
  } else {
    wait_until(*p, [&] { return p->phase.load() != ph; });
  }
}

// ---- the clock ---------------------------------------------------------------------------------------

int Clock::choose(double work, int nt_max) {
  mode_ = 0;
  const Policy pol = policy();
  if (nt_max <= 1 || pol == Policy::kSerial) return 1;
  if (pol == Policy::kTeam) return nt_max;
  const double rate1 = rate_[0] > 0 ? rate_[0] : kPriorRate;
  if (rate1 * work < 2.0 * team_overhead()) {  // a two-thread team cannot win: not even a probe
    mode_ = 1;
    return 1;
  }
  if (!machine_busy(nt_max)) {  // idle cores: nothing descheduled to wait for
    mode_ = 3;
    was_busy_ = false;
    return nt_max;
  }
  mode_ = 2;
  if (!was_busy_) {  // the cores just got busy: time the configuration not in use at once
    was_busy_ = true;
    probing_ = -1;
    countdown_ = 0;
  }
  if (probing_ < 0 && countdown_ == 0) {  // the team first, then one thread, then the one not in use
    probing_ = rate_[1] < 0 ? 1 : rate_[0] < 0 ? 0 : 1 - in_use_;
    probe_left_ = kProbeCalls;
  }
  return (probing_ >= 0 ? probing_ : in_use_) ? nt_max : 1;
}

void Clock::record(int nt, double work, double seconds) {
  const double r = seconds / std::max(work, 1.0);
  const int which = nt > 1 ? 1 : 0;
  if (mode_ == 0) return;
  if (mode_ == 1 || mode_ == 3) {  // the small-work path, or the team on idle cores: keep its rate
    rate_[which] = rate_[which] < 0 ? r : rate_[which] + 0.25 * (r - rate_[which]);
    return;
  }
  const bool probe = probing_ >= 0;
  if (!probe) {
    if (countdown_ > 0) --countdown_;
    rate_[which] = rate_[which] < 0 ? r : rate_[which] + 0.25 * (r - rate_[which]);
  } else {
    const double in_use_rate = rate_[in_use_];
    const bool hopeless = rate_[0] > 0 && rate_[1] > 0 && r > kAbort * in_use_rate;
    if (hopeless) {  // a stalled team on a busy machine: do not wait out the rest of the probe
      probe_best_ = r;
      probe_left_ = 0;
    } else if (probe_left_-- == kProbeCalls) {  // the switch's call: not a sample
      probe_best_ = -1.0;
      return;
    } else {
      probe_best_ = probe_best_ < 0 ? r : std::min(probe_best_, r);
      if (probe_left_ > 0) return;
    }
    rate_[which] = probe_best_;
    probing_ = -1;
  }
  if (rate_[0] < 0 || rate_[1] < 0) return;  // after a probe countdown is 0: the next call probes the other
  const int before = in_use_;
  if (in_use_ == 0 && rate_[1] < kSwitch * rate_[0]) in_use_ = 1;
  if (in_use_ == 1 && rate_[0] < rate_[1]) in_use_ = 0;
  if (probe) {
    interval_ = in_use_ != before ? kProbeFirst : std::min(2 * interval_, kProbeMost);
    countdown_ = interval_;
  }
}

Region::Region(Clock& clock, double work, int64_t n_tasks) : clock_(nullptr), work_(work), nt_(1) {
  if (tl_in_team || n_tasks <= 1) return;
  nt_ = clock.choose(work, static_cast<int>(std::min<int64_t>(max_threads(), n_tasks)));
  clock_ = &clock;
  t0_ = clock_type::now();
}

Region::~Region() {
  if (clock_) clock_->record(nt_, work_, std::chrono::duration<double>(clock_type::now() - t0_).count());
}

}  // namespace fastgen::par
