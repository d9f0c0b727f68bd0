// MADE sampling by incremental decoding (contract: csrc/KERNELS.md, "MADE", made_sample).
//
// Every unit has a degree: a hidden unit its m, an input unit its variable's order, an output of
// variable v the value order[v] - 1. A source unit of degree s feeds a target of degree g iff
// s <= g (this is the mask rule of src/fastgen/_made_masks.py), so a target of degree g is final
// once the variables of order <= g are known, i.e. from generation step g on (step t generates
// the variable of order t + 1), and variable v_t's outputs (degree t) need only the units of the
// last hidden layer with degree <= t.
//
// Per layer, the targets are sorted by degree (stable), so "degree <= t" is a prefix and
// "degree >= t + 1" a suffix. Layer 1 (inputs to its targets) is accumulated: after step t its
// targets of degree >= t + 1 get x_{v_t} times the variable's weight row (categorical: the row of
// the drawn category); at step t the targets of degree t are final and their activation is applied
// in place. Layers l >= 2 compute each target once, at the step of its degree, as a dot product
// with the final prefix of layer l - 1. Work per sample: sum over layer-1 targets of their degree
// (<= D d_1) plus one pass over each deeper layer's allowed weights (<= d_{l-1} d_l): O(D H), not
// the O(D^2 H) of D forward passes. Weights outside the mask are never read.
//
// Samples are independent: the tasks of one parallel call (common/threads.hpp) are fixed runs of
// blocks of 64 bytes of samples (16 float, 8 double) that share the weight rows while they are in
// cache. Every value of a sample is computed by the same per-lane arithmetic whatever block, lane,
// task or thread holds it, so results do not depend on the thread count; a block is 64 / B vectors
// of the CPU's width B (common/vec.hpp's dispatch), and a lane's arithmetic does not depend on B.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/gemm.hpp"
#include "common/rng.hpp"
#include "common/simd.hpp"
#include "common/threads.hpp"
#include "common/vec.hpp"
#include "common/vmath.hpp"
#include "autoregressive/decoding.hpp"
#include "common/mlp/activations.hpp"
#include "common/mlp/layers.hpp"
#include "common/mlp/losses.hpp"
#include "common/philox_vec.hpp"

namespace fastgen::made {

enum Output : int32_t { kBernoulli = 0, kCategorical = 1, kMixture = 2 };

inline int64_t in_width(int32_t output, int64_t n_out) { return output == kCategorical ? n_out : 1; }
inline int64_t out_width(int32_t output, int64_t n_out) {
  return output == kBernoulli ? 1 : output == kCategorical ? n_out : 3 * n_out;
}

// Why a sample failed (reported with the sample, variable and step by the binding).
enum Fault : int32_t {
  kNone = 0,
  kBadLogit = 1,     // a logit is NaN (or +inf, categorical and mixture weights)
  kAllMasked = 2,    // every category / component logit is -inf
  kBadMoments = 3,   // a mixture mean or log-std is not finite
  kBadValue = 4,     // the drawn mixture value overflowed
};

struct Failure {
  int64_t sample = std::numeric_limits<int64_t>::max(), var = -1, step = -1;
  int32_t fault = kNone;
};

// Targets of every layer sorted by degree.
struct Plan {
  int64_t D = 0, L = 0;
  std::vector<int64_t> gen;                 // gen[t]: the variable of order t + 1
  std::vector<std::vector<int64_t>> perm;   // perm[l - 1][j]: layer l's target at sorted position j
  std::vector<std::vector<int64_t>> first;  // first[l - 1][m]: layer-l targets of degree < m (m = 0..D)
};

// Stable counting sort of n degrees in [0, D - 1].
inline void sort_by_degree(int64_t n, int64_t D, const int64_t* deg, std::vector<int64_t>& perm,
                           std::vector<int64_t>& first) {
  first.assign(static_cast<size_t>(D + 1), 0);
  for (int64_t j = 0; j < n; ++j) ++first[deg[j] + 1];
  for (int64_t m = 0; m < D; ++m) first[m + 1] += first[m];
  std::vector<int64_t> pos(first.begin(), first.end() - 1);
  perm.resize(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) perm[pos[deg[j]]++] = j;
}

// order: the variables' degrees (a permutation of 1..D); hidden_degrees: layers 1..L-1
// concatenated, in [0, D - 1] (both checked by the binding).
inline Plan make_plan(const nn::Net& net, int64_t D, const int64_t* order, const int64_t* hidden_degrees,
                      int64_t out_w) {
  Plan p;
  p.D = D;
  p.L = net.L;
  p.gen.resize(static_cast<size_t>(D));
  for (int64_t v = 0; v < D; ++v) p.gen[order[v] - 1] = v;
  p.perm.resize(static_cast<size_t>(net.L));
  p.first.resize(static_cast<size_t>(net.L));
  const int64_t* deg = hidden_degrees;
  for (int64_t l = 1; l < net.L; ++l) {
    sort_by_degree(net.d[l], D, deg, p.perm[l - 1], p.first[l - 1]);
    deg += net.d[l];
  }
  std::vector<int64_t> out_deg(static_cast<size_t>(D * out_w));
  for (int64_t j = 0; j < D * out_w; ++j) out_deg[j] = order[j / out_w] - 1;
  sort_by_degree(D * out_w, D, out_deg.data(), p.perm[net.L - 1], p.first[net.L - 1]);
  return p;
}

// Elements per piece (at least) of pack()'s parallel copies.
constexpr int64_t kPackGrain = 4096;

// The weights in the order the sampler reads them (only the parts it reads are filled).
template <class T>
struct Packed {
  std::vector<T> w1;                  // [d_0][d_1]: w1[i][j] = W_1[i][perm_1[j]], j >= first_1[deg(i)]
  std::vector<std::vector<T>> wt;     // l >= 2: [d_l][d_{l-1}]: wt[j][j'] = W_l[perm_{l-1}[j']][perm_l[j]]
  std::vector<std::vector<T>> b;      // b[l - 1][j] = b_l[perm_l[j]]
};

template <class T>
void pack(const nn::Net& net, const T* theta, const Plan& p, const int64_t* order, int64_t in_w, Packed<T>& pk) {
  const int64_t L = net.L, d0 = net.d[0], d1 = net.d[1];
  pk.b.resize(static_cast<size_t>(L));
  for (int64_t l = 1; l <= L; ++l) {
    const T* b = net.b(theta, l);
    pk.b[l - 1].resize(static_cast<size_t>(net.d[l]));
    for (int64_t j = 0; j < net.d[l]; ++j) pk.b[l - 1][j] = b[p.perm[l - 1][j]];
  }
  pk.w1.resize(static_cast<size_t>(d0 * d1));
  const T* W1 = net.W(theta, 1);
  const int64_t* perm1 = p.perm[0].data();
  // Rows are independent copies (pieces of a few thousand elements): work ~ the elements copied.
  auto w1_rows = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t j0 = p.first[0][order[i / in_w]];  // targets of degree >= the variable's order
      const T* src = W1 + i * d1;
      T* dst = pk.w1.data() + i * d1;
      for (int64_t j = j0; j < d1; ++j) dst[j] = src[perm1[j]];
    }
  };
  static thread_local par::Clock w1_clock;
  par::for_range(w1_clock, static_cast<double>(d0) * static_cast<double>(d1), d0,
                 std::max<int64_t>(1, kPackGrain / std::max<int64_t>(d1, 1)), w1_rows);
  pk.wt.resize(static_cast<size_t>(L));
  std::vector<T> tr;
  for (int64_t l = 2; l <= L; ++l) {
    const int64_t k = net.d[l - 1], n = net.d[l];
    tr.resize(static_cast<size_t>(k * n));
    simd::transpose(k, n, net.W(theta, l), tr.data());  // W_l^T [n, k]: rows per target
    std::vector<T>& wt = pk.wt[l - 1];
    wt.resize(static_cast<size_t>(n * k));
    const int64_t* pt = p.perm[l - 1].data();
    const int64_t* ps = p.perm[l - 2].data();
    const int64_t* fs = p.first[l - 2].data();
    // target j's degree g: its position lies in [first[g], first[g + 1]); it reads sources < fs[g + 1]
    std::vector<int64_t> prefix(static_cast<size_t>(n));
    for (int64_t g = 0, j = 0; j < n; ++j) {
      while (p.first[l - 1][g + 1] <= j) ++g;
      prefix[j] = fs[g + 1];
    }
    auto wt_rows = [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        const T* src = tr.data() + pt[j] * k;
        T* dst = wt.data() + j * k;
        for (int64_t q = 0; q < prefix[j]; ++q) dst[q] = src[ps[q]];
      }
    };
    static thread_local par::Clock wt_clock;  // one clock for every layer: work ~ the elements copied
    par::for_range(wt_clock, static_cast<double>(n) * static_cast<double>(k), n,
                   std::max<int64_t>(1, kPackGrain / std::max<int64_t>(k, 1)), wt_rows);
  }
}

// Samples sit in SIMD lanes: a block holds kLanes<T> samples (64 bytes: 16 float, 8 double) and a
// unit's state is 64 / B vectors of B bytes (kVecs), so every update and product is a full-vector
// FMA with a broadcast weight and no horizontal sum. Lane arithmetic does not depend on the other
// lanes, nor on B.
template <class T>
constexpr int64_t kLanes = 64 / static_cast<int64_t>(sizeof(T));

template <int B>
constexpr int kVecs = 64 / B;

// Per lane: out = sum_{q < k} Zs[q] w[q] + bias in four chains (q mod 4), combined as
// ((c0 + c1) + (c2 + c3)) + bias. At most two vectors per pass over w (eight accumulators).
template <int B, class T>
FASTGEN_VEC_INLINE void lane_dot(int64_t k, const T* Zs, const T* w, T bias, T* out) {
  using VT = vec::V<T, B>;
  constexpr int64_t NB = kLanes<T>;
  constexpr int L = vec::lanes<T, B>, NV = kVecs<B>, G = NV < 2 ? NV : 2;
  for (int v0 = 0; v0 < NV; v0 += G) {
    const T* Zv = Zs + v0 * L;
    VT c0[G], c1[G], c2[G], c3[G];
    for (int g = 0; g < G; ++g) c0[g] = c1[g] = c2[g] = c3[g] = VT{};
    int64_t q = 0;
    for (; q + 4 <= k; q += 4)
      for (int g = 0; g < G; ++g) {
        c0[g] += vec::load<B>(Zv + q * NB + g * L) * w[q];
        c1[g] += vec::load<B>(Zv + (q + 1) * NB + g * L) * w[q + 1];
        c2[g] += vec::load<B>(Zv + (q + 2) * NB + g * L) * w[q + 2];
        c3[g] += vec::load<B>(Zv + (q + 3) * NB + g * L) * w[q + 3];
      }
    for (int g = 0; g < G; ++g) {
      if (q < k) c0[g] += vec::load<B>(Zv + q * NB + g * L) * w[q];
      if (q + 1 < k) c1[g] += vec::load<B>(Zv + (q + 1) * NB + g * L) * w[q + 1];
      if (q + 2 < k) c2[g] += vec::load<B>(Zv + (q + 2) * NB + g * L) * w[q + 2];
      vec::store(out + (v0 + g) * L, ((c0[g] + c1[g]) + (c2[g] + c3[g])) + bias);
    }
  }
}

// What a sample block reads.
template <class T>
struct Ctx {
  const nn::Net* net;
  const Plan* plan;
  const Packed<T>* pk;
  int32_t output;
  int64_t n_out, in_w, out_w;
  T slope;
  decoding::Filter filter;
  rng::Stream ru, rz;                  // uniforms (stream), normals (stream + 1)
  std::vector<int64_t> zoff;           // layer l's first unit at row zoff[l - 1] of the state
  int64_t width = 0;                   // state rows: d_1 + ... + d_L
};

// Per-worker buffers of the sample blocks.
template <class T>
struct alignas(64) Work {  // one per worker: whole cache lines (common/threads.hpp)
  par::Vec<T> Z;              // [width][lanes] layer states (sorted targets)
  par::Vec<double> u, z;      // [D][lanes] uniforms, normals of the block's samples
  par::Vec<double> buf;       // [2 (D + 2)] one sample's draws and the Philox scratch
  par::Vec<T> xs, y;          // the drawn value per lane; one lane's outputs
  par::Vec<int64_t> cat;      // categorical: the drawn category per lane (-1: none)
  par::Vec<int32_t> fault;    // per lane: kNone or why it stopped
  decoding::RowScratch rs;
};

// Uniforms u[e0 .. e0 + n) of a stream into out (vector Philox; buf needs n + 2 room).
inline void stream_uniforms(const rng::Stream& rs, uint64_t e0, int64_t n, double* buf, double* out) {
#if FG_HAVE_DISPATCH
  if (simd::detect_isa() == simd::Isa::v4)
    rng::philox_uniforms_v4(rs, e0, static_cast<int>(n), buf);
  else if (simd::detect_isa() == simd::Isa::v3)
    rng::philox_uniforms_v3(rs, e0, static_cast<int>(n), buf);
  else
#endif
    rng::philox_uniforms(rs, e0, static_cast<int>(n), buf);
  std::copy(buf + (e0 & 1), buf + (e0 & 1) + n, out);
}

// Applies layer l's activation in place to n consecutive values.
template <class T>
FASTGEN_VEC_INLINE void activate(int32_t code, int64_t n, T* z, T slope) {
  nn::with_act(code, [&](auto c) { nn::act_apply_row<decltype(c)::value>(n, z, slope); });
}

// One categorical or mixture draw from a lane's outputs y[out_w]; kNone or a fault.
template <class T>
FASTGEN_VEC_INLINE int32_t draw(const Ctx<T>& c, const T* y, double u, double z, T& x, int64_t& cat,
                                decoding::RowScratch& rs) {
  const double tau = c.filter.temperature;
  const int64_t K = c.n_out;
  const int64_t k = decoding::draw_row(K, y, c.filter, u, rs);
  if (k == decoding::kBadLogit) return kBadLogit;
  if (k == decoding::kAllMasked) return kAllMasked;
  if (c.output == kCategorical) {
    x = static_cast<T>(k);
    cat = k;
    return kNone;
  }
  const double mean = static_cast<double>(y[K + k]), ls = static_cast<double>(y[2 * K + k]);
  if (!std::isfinite(mean) || !std::isfinite(ls)) return kBadMoments;
  const double v = mean + std::sqrt(tau) * std::exp(ls) * z;
  x = static_cast<T>(v);
  if (!std::isfinite(v) || !std::isfinite(static_cast<double>(x))) return kBadValue;
  return kNone;
}

// The pieces of sample_block below are FASTGEN_VEC_INLINE: inlined into each of its ISA's
// functions (vec::dispatch), so their loops compile as sample_block's own.

// A block's start: layer 1's states at their biases, the block's uniforms and normals (lane-major
// per step: u[t NB + s] is index (s0 + s) D + t of the stream), every real lane live.
template <int B, class T>
FASTGEN_VEC_INLINE void start_block(const Ctx<T>& c, int64_t s0, int64_t nb, T* Z1, Work<T>& wk) {
  using VT = vec::V<T, B>;
  constexpr int64_t NB = kLanes<T>;
  constexpr int L = vec::lanes<T, B>;
  const int64_t D = c.plan->D, d1 = c.net->d[1];
  for (int64_t j = 0; j < d1; ++j)
    for (int v = 0; v < kVecs<B>; ++v) vec::store(Z1 + j * NB + v * L, VT{} + c.pk->b[0][j]);
  for (int64_t s = 0; s < nb; ++s) {
    const uint64_t e0 = static_cast<uint64_t>((s0 + s) * D);
    stream_uniforms(c.ru, e0, D, wk.buf.data() + D + 2, wk.buf.data());
    for (int64_t t = 0; t < D; ++t) wk.u[t * NB + s] = wk.buf[t];
    if (c.output == kMixture) {
      rng::normals(c.rz, e0, D, wk.buf.data());
      for (int64_t t = 0; t < D; ++t) wk.z[t * NB + s] = wk.buf[t];
    }
  }
  std::fill(wk.fault.begin(), wk.fault.end(), kNone);
  for (int64_t s = nb; s < NB; ++s) wk.fault[s] = kAllMasked;  // padding lanes: never drawn
}

// Step t: targets of degree t become final: layer 1's are complete sums, deeper layers' are
// computed.
template <int B, class T>
FASTGEN_VEC_INLINE void finalize_targets(const Ctx<T>& c, int64_t t, T* Z) {
  constexpr int64_t NB = kLanes<T>;
  const nn::Net& net = *c.net;
  const Plan& p = *c.plan;
  const Packed<T>& pk = *c.pk;
  for (int64_t l = 1; l <= p.L; ++l) {
    const int64_t g0 = p.first[l - 1][t], g1 = p.first[l - 1][t + 1];
    if (g0 == g1) continue;
    T* Zl = Z + c.zoff[l - 1] * NB;
    if (l > 1) {
      const int64_t k = p.first[l - 2][t + 1], din = net.d[l - 1];
      const T* Zs = Z + c.zoff[l - 2] * NB;
      const T* b = pk.b[l - 1].data();
      for (int64_t j = g0; j < g1; ++j) lane_dot<B>(k, Zs, pk.wt[l - 1].data() + j * din, b[j], Zl + j * NB);
    }
    activate(net.act[l - 1], (g1 - g0) * NB, Zl + g0 * NB, c.slope);
  }
}

// Bernoulli draws of variable v (step t) from the logits Y[lanes], all lanes at once (padding and
// failed lanes are dropped after) into wk.xs and X; returns whether a live lane drew a 1.
template <class T>
FASTGEN_VEC_INLINE bool draw_bernoulli(const Ctx<T>& c, const T* Y, const double* ut, int64_t s0, int64_t v,
                                       int64_t t, T* X, Work<T>& wk, Failure& fail) {
  constexpr int64_t NB = kLanes<T>;
  const int64_t D = c.plan->D;
  bool any = false;
  const double tau = c.filter.temperature, top_p = c.filter.top_p;
  const bool top1 = c.filter.top_k == 1, p_on = top_p < 1.0;
  int nan = 0;
#pragma omp simd reduction(+ : nan)
  for (int64_t s = 0; s < NB; ++s) {
    const double a = static_cast<double>(Y[s]) / tau;
    const double pr = simd::sigmoid(a);
    // categories 0 (logit 0) and 1 (logit a): 1 ranks first iff a > 0
    const double first = a > 0.0 ? 1.0 : 0.0;
    const double pf = a > 0.0 ? pr : 1.0 - pr;
    const bool only_first = top1 || (p_on && pf >= top_p);
    wk.xs[s] = static_cast<T>(only_first ? first : (ut[s] < pr ? 1.0 : 0.0));
    nan += a != a;
  }
  for (int64_t s = 0; s < NB; ++s) {
    if (wk.fault[s] != kNone || (nan && Y[s] != Y[s])) {
      if (wk.fault[s] == kNone) {
        wk.fault[s] = kBadLogit;
        if (s0 + s < fail.sample) fail = Failure{s0 + s, v, t, kBadLogit};
      }
      wk.xs[s] = T(0);
      continue;
    }
    X[(s0 + s) * D + v] = wk.xs[s];
    any = any || wk.xs[s] != T(0);
  }
  return any;
}

// Categorical or mixture draws of variable v (step t), lane by lane from its outputs (rows
// o NB of Y), into wk.xs, wk.cat and X; returns whether a live lane drew a nonzero value or a
// category.
template <class T>
FASTGEN_VEC_INLINE bool draw_lanes(const Ctx<T>& c, const T* Y, const double* ut, int64_t s0, int64_t v, int64_t t,
                                   T* X, Work<T>& wk, Failure& fail) {
  constexpr int64_t NB = kLanes<T>;
  const int64_t D = c.plan->D;
  bool any = false;
  for (int64_t s = 0; s < NB; ++s) {
    wk.xs[s] = T(0);
    wk.cat[s] = -1;
    if (wk.fault[s] != kNone) continue;
    for (int64_t o = 0; o < c.out_w; ++o) wk.y[o] = Y[o * NB + s];
    const int32_t f = draw(c, wk.y.data(), ut[s], wk.z[t * NB + s], wk.xs[s], wk.cat[s], wk.rs);
    if (f != kNone) {
      wk.fault[s] = f;
      wk.xs[s] = T(0);
      wk.cat[s] = -1;
      if (s0 + s < fail.sample) fail = Failure{s0 + s, v, t, f};
      continue;
    }
    X[(s0 + s) * D + v] = wk.xs[s];
    any = any || wk.xs[s] != T(0) || wk.cat[s] >= 0;
  }
  return any;
}

// Layer 1's targets j0 .. d1 - 1 (degree >= t + 1) take the drawn variable v: x_v times its
// weight row (categorical: the row of the drawn category).
template <int B, class T>
FASTGEN_VEC_INLINE void accumulate_layer1(const Ctx<T>& c, int64_t v, int64_t j0, int64_t nb, T* Z1,
                                          const Work<T>& wk) {
  using VT = vec::V<T, B>;
  constexpr int64_t NB = kLanes<T>;
  constexpr int L = vec::lanes<T, B>, NV = kVecs<B>;
  const int64_t d1 = c.net->d[1];
  const Packed<T>& pk = *c.pk;
  if (c.output == kCategorical) {
    for (int64_t s = 0; s < nb; ++s) {
      if (wk.cat[s] < 0) continue;
      const T* w = pk.w1.data() + (v * c.in_w + wk.cat[s]) * d1;
      for (int64_t j = j0; j < d1; ++j) Z1[j * NB + s] += w[j];
    }
  } else {
    VT xv[NV];
    for (int q = 0; q < NV; ++q) xv[q] = vec::load<B>(wk.xs.data() + q * L);
    const T* w = pk.w1.data() + v * d1;
    for (int64_t j = j0; j < d1; ++j)
      for (int q = 0; q < NV; ++q) {
        T* z = Z1 + j * NB + q * L;
        vec::store(z, vec::load<B>(z) + xv[q] * w[j]);
      }
  }
}

// Samples s0 .. s0 + nb - 1 (nb <= lanes) into X (rows of D); the first failure of a lane into fail.
template <int B, class T>
FASTGEN_VEC_INLINE void sample_block_w(const Ctx<T>& c, int64_t s0, int64_t nb, T* X, Work<T>& wk, Failure& fail) {
  constexpr int64_t NB = kLanes<T>;
  const Plan& p = *c.plan;
  const int64_t D = p.D, L = p.L, d1 = c.net->d[1];
  T* Z = wk.Z.data();
  T* Z1 = Z + c.zoff[0] * NB;
  start_block<B>(c, s0, nb, Z1, wk);
  for (int64_t t = 0; t < D; ++t) {
    const int64_t v = p.gen[t];
    finalize_targets<B>(c, t, Z);
    // draw variable v_t from its outputs (rows t out_w .. (t + 1) out_w of layer L)
    const T* Y = Z + (c.zoff[L - 1] + t * c.out_w) * NB;
    const double* ut = wk.u.data() + t * NB;
    const bool any = c.output == kBernoulli ? draw_bernoulli(c, Y, ut, s0, v, t, X, wk, fail)
                                            : draw_lanes(c, Y, ut, s0, v, t, X, wk, fail);
    // layer 1's targets of degree >= t + 1 take the new variable
    const int64_t j0 = p.first[0][t + 1];
    if (j0 == d1 || !any) continue;
    accumulate_layer1<B>(c, v, j0, nb, Z1, wk);
  }
}

// sample_block_w at the CPU's vector width.
template <class T>
void sample_block(const Ctx<T>& c, int64_t s0, int64_t nb, T* X, Work<T>& wk, Failure& fail) {
  vec::dispatch([&](auto w) FASTGEN_LAMBDA_INLINE { sample_block_w<decltype(w)::value>(c, s0, nb, X, wk, fail); });
}

// Work (multiply-adds per lane) of a task of made_sample at least: runs of blocks below it are
// grouped, so that claiming a task costs little next to running it.
constexpr double kSampleTaskWork = 1 << 16;

// X [n_samples, D] (T; categorical: category indices); returns the first failure (lowest sample).
template <class T>
Failure made_sample(const nn::Net& net, const T* theta, T slope, int64_t D, const int64_t* order,
                    const int64_t* hidden_degrees, int32_t output, int64_t n_out, int64_t n_samples,
                    const decoding::Filter& filter, uint64_t seed, uint64_t stream, T* X) {
  Ctx<T> c{&net, nullptr, nullptr, output, n_out, in_width(output, n_out), out_width(output, n_out), slope,
           filter, rng::Stream(seed, stream), rng::Stream(seed, stream + 1), {}, 0};
  const Plan plan = make_plan(net, D, order, hidden_degrees, c.out_w);
  thread_local Packed<T> pk;
  pack(net, theta, plan, order, c.in_w, pk);
  c.plan = &plan;
  c.pk = &pk;
  for (int64_t l = 1; l <= net.L; ++l) {
    c.zoff.push_back(c.width);
    c.width += net.d[l];
  }
  std::fill(X, X + n_samples * D, T(0));
  Failure fail;
  if (n_samples <= 0) return fail;
  constexpr int64_t NB = kLanes<T>;
  // A sample's work: layer 1's accumulation (<= D d_1), the deeper layers' products (<= d_{l-1} d_l)
  // and the draws (D out_w outputs).
  double per_sample = static_cast<double>(D) * static_cast<double>(net.d[1] + c.out_w);
  for (int64_t l = 2; l <= net.L; ++l) per_sample += static_cast<double>(net.d[l - 1]) * static_cast<double>(net.d[l]);
  // Tasks: fixed runs of blocks (samples [t chunk, (t + 1) chunk)), several per thread for a large call.
  const int64_t n_blocks = par::n_chunks(n_samples, NB);
  const double block_work = static_cast<double>(NB) * per_sample;
  const int64_t per_task =
      block_work >= kSampleTaskWork
          ? 1
          : std::min(n_blocks, static_cast<int64_t>(std::ceil(kSampleTaskWork / std::max(block_work, 1.0))));
  const int64_t chunk = NB * per_task, n_tasks = par::n_chunks(n_samples, chunk);
  static thread_local par::Clock clock;
  par::Region r(clock, static_cast<double>(n_samples) * per_sample, n_tasks);
  std::vector<Work<T>> works(static_cast<size_t>(r.workers()));
  std::vector<Failure> fails(static_cast<size_t>(n_tasks));  // each task's first failure
  r.for_chunks(n_samples, chunk, [&](int64_t n0, int64_t n1, int w) {
    Work<T>& wk = works[w];
    if (wk.xs.empty()) {  // this worker's first task
      wk.Z.resize(static_cast<size_t>(NB * c.width));
      wk.u.assign(static_cast<size_t>(NB * D), 1.0);
      wk.z.assign(static_cast<size_t>(NB * D), 0.0);
      wk.buf.resize(static_cast<size_t>(2 * (D + 2)));
      wk.xs.resize(NB);
      wk.y.resize(static_cast<size_t>(c.out_w));
      wk.cat.resize(NB);
      wk.fault.resize(NB);
    }
    Failure& mine = fails[n0 / chunk];
    for (int64_t s0 = n0; s0 < n1; s0 += NB) sample_block(c, s0, std::min(NB, n1 - s0), X, wk, mine);
  });
  for (const Failure& f : fails)  // the lowest failing sample: the same whichever worker ran which task
    if (f.sample < fail.sample) fail = f;
  return fail;
}

}  // namespace fastgen::made
