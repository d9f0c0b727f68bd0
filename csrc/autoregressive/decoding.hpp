// Decoding of categorical outputs (contract: csrc/KERNELS.md, "Decoding categorical outputs"):
// one draw per row of logits with temperature, top-k and top-p (nucleus) filtering, or the argmax.
//
// Rank order: token a precedes b when x_a > x_b, or x_a == x_b and a < b (a strict total order
// on the raw logits; temperature > 0 does not change it). Weights w_i = exp((x_i - x_max) / T)
// in double (0 below e^-708, and for -inf logits). Top-k keeps the first k tokens of the rank order; top-p then keeps
// the shortest prefix (of the top-k survivors) whose weight reaches top_p times theirs. The draw
// is an inverse CDF over the kept tokens in index order.
//
// The per-row draw (draw_row) is shared with the MADE sampler (made_sample.hpp). Positive weights
// form a prefix of the rank order (exp is monotone), so only those take part in the selections;
// each selection is a quickselect (std::nth_element on the rank order): top-k one call, top-p a
// bisection over prefix lengths with one nth_element per halving, expected O(V) in all. Long
// rows (V >= 4096) first histogram -log w into buckets, so only the bucket holding a cut is
// selected in. Rows are independent: the batch runs them in parallel.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/fastmath.hpp"
#include "common/rng.hpp"
#include "common/simd.hpp"
#include "common/threads.hpp"
#include "common/vmath.hpp"

namespace fastgen::decoding {

// What a draw keeps. top_k = 0 and top_p = 1 are "off"; greedy ignores the rest.
struct Filter {
  double temperature = 1.0;  // > 0, finite
  int64_t top_k = 0;         // >= 0
  double top_p = 1.0;        // (0, 1]
  bool greedy = false;
};

// Throws std::invalid_argument naming the first out-of-domain argument (the bindings call it).
inline void check_filter(const Filter& f) {
  if (!(f.temperature > 0.0) || !std::isfinite(f.temperature))
    throw std::invalid_argument("temperature: must be finite and > 0 (greedy decoding is the argmax), got " +
                                std::to_string(f.temperature));
  if (f.top_k < 0) throw std::invalid_argument("top_k: must be >= 0 (0: off), got " + std::to_string(f.top_k));
  if (!(f.top_p > 0.0 && f.top_p <= 1.0))
    throw std::invalid_argument("top_p: must lie in (0, 1] (1: off), got " + std::to_string(f.top_p));
}

// draw_row's results below 0: the row holds NaN or +inf; every logit is -inf.
constexpr int64_t kBadLogit = -1;
constexpr int64_t kAllMasked = -2;

// Per-thread scratch of draw_row (grow-only: no allocation once warm).
struct alignas(64) RowScratch {  // one per worker: whole cache lines (common/threads.hpp)
  par::Vec<double> w;
  par::Vec<int32_t> cand, bucket;
  par::Vec<int64_t> cnt;
  par::Vec<double> mass;
};

// x_max over the finite and -inf logits, and whether a NaN or +inf is present (one pass, vectorised).
template <class T>
FASTGEN_SIMD_CLONES static T row_max(int64_t V, const T* x, bool* bad) {
  T m = -std::numeric_limits<T>::infinity();
  int nbad = 0;
#pragma omp simd reduction(max : m) reduction(+ : nbad)
  for (int64_t i = 0; i < V; ++i) {
    const T v = x[i];
    nbad += (v != v) | (v == std::numeric_limits<T>::infinity());
    m = v > m ? v : m;
  }
  *bad = nbad != 0;
  return m;
}

// Rows this long locate the top-k / top-p cut with a histogram first (see draw_row).
constexpr int64_t kBucketMinV = 4096;
// Buckets of d_i = (x_max - x_i) / T = -log w_i, 1/64 wide, the last one open (d >= 31.98).
constexpr int32_t kBuckets = 2048;
constexpr double kBucketsPerNat = 64.0;

// w_i = exp(-d_i) in double, d_i = (x_max - x_i) / temperature (0 for d > 708, and for -inf);
// with `bucket`, also bucket[i] = min(floor(64 d_i), 2047), non-decreasing along the rank order.
// Returns the number of positive weights.
template <class T>
FASTGEN_SIMD_CLONES static int64_t row_weights(int64_t V, const T* x, T xmax, double temperature, double* w,
                                               int32_t* bucket) {
  const double m = static_cast<double>(xmax);
  double npos = 0.0;  // counted in double: an int64 sum of comparisons keeps gcc from vectorising
  if (bucket == nullptr) {
#pragma omp simd reduction(+ : npos)
    for (int64_t i = 0; i < V; ++i) {
      const double d = (m - static_cast<double>(x[i])) / temperature;
      const double ex = simd::exp_clamped(-d);  // computed unconditionally: the loop stays branch-free
      const double e = d > 708.0 ? 0.0 : ex;
      w[i] = e;
      npos += e > 0.0 ? 1.0 : 0.0;
    }
  } else {
    constexpr double dmax = (kBuckets - 1) / kBucketsPerNat;
#pragma omp simd reduction(+ : npos)
    for (int64_t i = 0; i < V; ++i) {
      const double d = (m - static_cast<double>(x[i])) / temperature;
      const double ex = simd::exp_clamped(-d);  // computed unconditionally: the loop stays branch-free
      const double e = d > 708.0 ? 0.0 : ex;
      w[i] = e;
      npos += e > 0.0 ? 1.0 : 0.0;
      bucket[i] = static_cast<int32_t>((d < dmax ? d : dmax) * kBucketsPerNat);
    }
  }
  return static_cast<int64_t>(npos);
}

// Sum of w over `kept` tokens: those with w > 0 that do not rank after x[th] (th < 0: all).
template <class T>
FASTGEN_SIMD_CLONES static double kept_sum(int64_t i0, int64_t i1, const T* x, const double* w, int64_t th) {
  double s = 0.0;
  if (th < 0) {
#pragma omp simd reduction(+ : s)
    for (int64_t i = i0; i < i1; ++i) s += w[i];
  } else {
    const T xt = x[th];
#pragma omp simd reduction(+ : s)
    for (int64_t i = i0; i < i1; ++i) s += (x[i] > xt || (x[i] == xt && i <= th)) ? w[i] : 0.0;
  }
  return s;
}

// Rank order on token indices (strict, total).
template <class T>
struct Before {
  const T* x;
  bool operator()(int32_t a, int32_t b) const { return x[a] > x[b] || (x[a] == x[b] && a < b); }
};

// The top-p cut among candidates c[0 .. n) that follow tokens of weight `acc` in rank order:
// the shortest prefix of c (in rank order) with acc + its weight >= target; returns its last
// token. Bisection over prefix lengths, one nth_element per halving. Invariant: c[0 .. lo) are
// the top lo, acc + their weight < target; c[lo .. hi) are ranks lo .. hi - 1.
template <class T>
int32_t nucleus_cut(int32_t* c, int64_t n, const double* w, double acc, double target, Before<T> before) {
  int64_t lo = 0, hi = n;
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    std::nth_element(c + lo, c + mid, c + hi, before);
    double m = 0.0;
    for (int64_t j = lo; j < mid; ++j) m += w[c[j]];
    if (acc + m >= target) {
      hi = mid;
    } else {
      acc += m;
      lo = mid;
    }
  }
  return c[lo];  // hi == lo + 1: rank lo, the cut
}

// The kept set's last token in rank order (-1: all positive weights kept), small rows: top-k by
// one nth_element over the positive-weight tokens, top-p by nucleus_cut over the survivors.
template <class T>
int64_t cut_direct(int64_t V, const T* x, const double* w, int64_t npos, bool k_on, bool p_on, const Filter& f,
                   RowScratch& s) {
  if (static_cast<int64_t>(s.cand.size()) < npos) s.cand.resize(static_cast<size_t>(npos));
  int32_t* c = s.cand.data();
  int64_t n = 0;
  for (int64_t i = 0; i < V; ++i)
    if (w[i] > 0.0) c[n++] = static_cast<int32_t>(i);
  const Before<T> before{x};
  int64_t th = -1;
  if (k_on) {  // c[0 .. k) = the top k (as a set), c[k - 1] the k-th
    std::nth_element(c, c + (f.top_k - 1), c + n, before);
    n = f.top_k;
    th = c[n - 1];
  }
  if (p_on) {
    double total = 0.0;
    for (int64_t j = 0; j < n; ++j) total += w[c[j]];
    th = nucleus_cut(c, n, w, 0.0, f.top_p * total, before);
  }
  return th;
}

// The same cut for long rows: a histogram of counts and weights over the buckets of d (one pass)
// finds the bucket each cut falls in; only that bucket's tokens go through nth_element.
template <class T>
int64_t cut_buckets(int64_t V, const T* x, const double* w, const int32_t* bucket, bool k_on, bool p_on,
                    const Filter& f, RowScratch& s) {
  s.cnt.assign(kBuckets, 0);
  s.mass.assign(kBuckets, 0.0);
  int64_t* cnt = s.cnt.data();
  double* mass = s.mass.data();
  for (int64_t i = 0; i < V; ++i)
    if (w[i] > 0.0) {
      ++cnt[bucket[i]];
      mass[bucket[i]] += w[i];
    }
  const Before<T> before{x};
  auto collect = [&](int32_t b) {  // the tokens of bucket b (positive weight), into s.cand
    if (static_cast<int64_t>(s.cand.size()) < cnt[b]) s.cand.resize(static_cast<size_t>(cnt[b]));
    int64_t n = 0;
    for (int64_t i = 0; i < V; ++i)
      if (bucket[i] == b && w[i] > 0.0) s.cand[n++] = static_cast<int32_t>(i);
    return n;
  };
  int64_t th = -1;
  int32_t bk = kBuckets;  // top-k: buckets < bk kept whole, the top need_k of bucket bk
  int64_t need_k = 0;
  double mass_bk = 0.0;
  if (k_on) {
    int64_t cum = 0;
    for (bk = 0; cum + cnt[bk] < f.top_k; ++bk) cum += cnt[bk];
    need_k = f.top_k - cum;
    const int64_t n = collect(bk);
    std::nth_element(s.cand.data(), s.cand.data() + (need_k - 1), s.cand.data() + n, before);
    th = s.cand[need_k - 1];
    for (int64_t j = 0; j < need_k; ++j) mass_bk += w[s.cand[j]];
  }
  if (p_on) {
    auto bucket_mass = [&](int32_t b) { return b == bk ? mass_bk : mass[b]; };
    const int32_t last = k_on ? bk : kBuckets - 1;
    double total = 0.0;
    for (int32_t b = 0; b <= last; ++b) total += bucket_mass(b);
    const double target = f.top_p * total;
    double acc = 0.0;
    int32_t bp = 0;
    for (; bp < last && acc + bucket_mass(bp) < target; ++bp) acc += bucket_mass(bp);
    // (the walk's sums are the total's, so it stops at or before `last`)
    int64_t n;
    if (bp == bk) {
      n = need_k;  // s.cand[0 .. need_k) still holds bucket bk's survivors
    } else {
      n = collect(bp);
    }
    th = nucleus_cut(s.cand.data(), n, w, acc, target, before);
  }
  return th;
}

// One draw from a row of V logits (see the file comment) with uniform u in (0, 1]; the index, or
// kBadLogit / kAllMasked.
template <class T>
int64_t draw_row(int64_t V, const T* x, const Filter& f, double u, RowScratch& s) {
  bool bad = false;
  const T xmax = row_max(V, x, &bad);
  if (bad) return kBadLogit;
  if (xmax == -std::numeric_limits<T>::infinity()) return kAllMasked;
  if (f.greedy || V == 1) {
    for (int64_t i = 0; i < V; ++i)
      if (x[i] == xmax) return i;
  }
  const bool filtered = f.top_k > 0 || f.top_p < 1.0;
  const bool long_row = filtered && V >= kBucketMinV;
  if (static_cast<int64_t>(s.w.size()) < V) s.w.resize(static_cast<size_t>(V));
  if (long_row && static_cast<int64_t>(s.bucket.size()) < V) s.bucket.resize(static_cast<size_t>(V));
  double* w = s.w.data();
  const int64_t npos = row_weights(V, x, xmax, f.temperature, w, long_row ? s.bucket.data() : nullptr);

  // th: the last kept token in rank order (-1: every positive weight is kept). Positive weights
  // are a prefix of the rank order, so a filter that keeps >= npos tokens is off.
  const bool k_on = f.top_k > 0 && f.top_k < npos;
  const bool p_on = f.top_p < 1.0 && npos > 1 && !(k_on && f.top_k == 1);
  int64_t th = -1;
  if (k_on || p_on)
    th = long_row ? cut_buckets(V, x, w, s.bucket.data(), k_on, p_on, f, s) : cut_direct(V, x, w, npos, k_on, p_on, f, s);

  // Inverse CDF in index order over the kept tokens: the first i with u * S < (kept weight up to
  // i). Blocks of 64 are skipped by their sums; a block that the target falls in is scanned token
  // by token (if rounding leaves no hit there, the walk goes on from the block's sum).
  constexpr int64_t kBlock = 64;
  const double t = u * kept_sum(0, V, x, w, th);
  const T xt = th >= 0 ? x[th] : T(0);
  auto kept = [&](int64_t i) { return w[i] > 0.0 && (th < 0 || x[i] > xt || (x[i] == xt && i <= th)); };
  double acc = 0.0;
  for (int64_t b0 = 0; b0 < V; b0 += kBlock) {
    const int64_t b1 = std::min(V, b0 + kBlock);
    const double next = acc + kept_sum(b0, b1, x, w, th);
    if (t < next) {
      double c = acc;
      for (int64_t i = b0; i < b1; ++i)
        if (kept(i)) {
          c += w[i];
          if (t < c) return i;
        }
    }
    acc = next;
  }
  for (int64_t i = V - 1; i >= 0; --i)  // u * S at or past the total (u = 1, rounding): the last kept
    if (kept(i)) return i;
  return kAllMasked;  // unreachable: the top token is always kept
}

// Logits per task of sample_logits (at least): short rows are grouped, a long row is one task.
constexpr int64_t kSampleTaskLogits = 4096;

// out[n] = draw_row(logits[n], u[n] of `stream`) for every row; rows in parallel (tasks of whole
// rows; each row's draw is fixed by its logits and u[n], whichever worker takes it). A bad row's
// entry is its error code (the binding reports the first).
template <class T>
void sample_logits(int64_t N, int64_t V, const T* logits, const Filter& f, uint64_t seed, uint64_t stream,
                   int64_t* out) {
  if (N <= 0) return;
  const rng::Stream rs(seed, stream);
  const int64_t rows = std::max<int64_t>(1, kSampleTaskLogits / std::max<int64_t>(V, 1));  // per task
  static thread_local par::Clock clock;
  par::Region r(clock, static_cast<double>(N) * static_cast<double>(V), par::n_chunks(N, rows));
  std::vector<RowScratch> scratch(static_cast<size_t>(r.workers()));  // empty until a worker's first row
  r.for_chunks(N, rows, [&](int64_t n0, int64_t n1, int w) {
    for (int64_t n = n0; n < n1; ++n)
      out[n] = draw_row(V, logits + n * V, f, rs.uniform(static_cast<uint64_t>(n)), scratch[w]);
  });
}

}  // namespace fastgen::decoding
