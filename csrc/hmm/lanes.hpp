// Many sequences with their lattices in SIMD lanes: a group of G sequences (G = doubles per
// register) runs the scaled forward, backward and Viterbi recursions in lockstep, lane l holding
// sequence l's value of every state. A step is then K x K vertical multiply-adds over G sequences
// with the transition matrix broadcast from memory, where the one-sequence kernels (lattice.hpp)
// run one dependent chain with a horizontal sum and a division per frame: at K = 8 a frame is a
// single register there, and the step's latency, not its arithmetic, bounded the pass.
//
// The recursions are lattice.hpp's, lane by lane, in double whatever T is (T = float gets more
// accuracy, not less). Sequences go to groups in order of decreasing length, so the lanes of a
// group end close together; a lane past its sequence's end computes on padding (zeros for the
// emission's inputs) and none of it is kept. Each lane's arithmetic depends only on its own sequence, so log P, the
// posteriors and the Viterbi paths are the same bits whichever group or lane a sequence lands in,
// on any thread count and any register width. The expected transitions are summed per sequence in
// its lane, then sequence by sequence in a fixed order (units of kUnit sorted sequences), which
// does not depend on G either.
#pragma once
#include <numeric>

#include "common/vec.hpp"
#include "emissions/logsumexp.hpp"
#include "hmm/lattice.hpp"

namespace fastgen::hmm::lanes {

template <int B>
using VD = vec::V<double, B>;
template <int B>
constexpr int G = vec::lanes<double, B>;
constexpr int kMaxLanes = 8;  // AVX-512; scratch is sized for it on every CPU

// Sequences a parallel task takes, and the unit whose expected transitions form one partial sum.
constexpr int64_t kUnit = 8;

// The lanes of one group: lane l holds frames begin[l] .. begin[l] + len[l] - 1 (len 0: padding).
struct Group {
  int64_t begin[kMaxLanes], len[kMaxLanes];
  int64_t seq[kMaxLanes];  // the sequence's index, -1 for padding
  int64_t steps;           // the longest len
};

// Sequence indices by decreasing length (ties in index order): a function of the data only.
inline std::vector<int64_t> by_length(int64_t S, const int64_t* offsets) {
  std::vector<int64_t> order(static_cast<size_t>(S));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return offsets[a + 1] - offsets[a] > offsets[b + 1] - offsets[b];
  });
  return order;
}

// Group number g (of G lanes) of the sorted sequences.
inline Group make_group(const std::vector<int64_t>& order, const int64_t* offsets, int64_t first, int64_t end, int lanes) {
  Group gr{};
  gr.steps = 0;
  for (int l = 0; l < kMaxLanes; ++l) {
    const int64_t i = first + l;
    const bool live = l < lanes && i < end;
    gr.seq[l] = live ? order[static_cast<size_t>(i)] : -1;
    gr.begin[l] = live ? offsets[gr.seq[l]] : 0;
    gr.len[l] = live ? offsets[gr.seq[l] + 1] - gr.begin[l] : 0;
    gr.steps = std::max(gr.steps, gr.len[l]);
  }
  return gr;
}

// v, through an empty asm statement: gcc 12 merges consecutive vector selects into one whose
// mask is an and/or of comparisons, and on AVX-512 it lowered that lane by lane (vcomisd, setnb,
// vpinsrq: ~150 instructions a step); a select whose result passes through here stays one
// compare and one blend.
template <class V>
FASTGEN_VEC_INLINE V opaque(V v) {
  asm("" : "+v"(v));
  return v;
}

// par::interrupted() every steps_per_check steps, without a division per step.
class Countdown {
 public:
  explicit Countdown(double work_per_step) : every_(par::steps_per_check(work_per_step)), left_(every_) {}
  bool interrupted() {
    if (--left_ > 0) return false;
    left_ = every_;
    return par::interrupted();
  }

 private:
  int64_t every_, left_;
};

// Lanes are read and written through arrays, never as v[l] on a vector variable: an element
// access inside a loop made gcc 12 split the vector (and every select that used it) into scalars.
template <int B>
struct Lanes {
  alignas(64) double v[kMaxLanes];
  explicit Lanes(VD<B> x) { vec::store(v, x); }
  double operator[](int l) const { return v[l]; }
  double& operator[](int l) { return v[l]; }
  VD<B> vector() const { return vec::load<B>(v); }
};

// Whether any lane of a 0/1 (or non-negative) mask is set: one test per step, not one per lane.
template <int B>
FASTGEN_VEC_INLINE bool any(VD<B> m) {
  const Lanes<B> a(m);
  double s = 0;
  for (int l = 0; l < G<B>; ++l) s += a[l];
  return s > 0;
}

template <int B>
FASTGEN_VEC_INLINE VD<B> lengths(const Group& gr) {
  alignas(64) double v[kMaxLanes];
  for (int l = 0; l < G<B>; ++l) v[l] = static_cast<double>(gr.len[l]);
  return vec::load<B>(v);
}

// e = exp(x - m), m = max_k x per lane (returned); a lane whose frame is all -inf gets zeros and
// m = -inf (frame_shifted_exp's rule).
template <int B>
FASTGEN_VEC_INLINE VD<B> shifted_exps(int K, const double* x, double* e) {
  constexpr int L = G<B>;
  constexpr double ninf = -std::numeric_limits<double>::infinity();
  VD<B> m = VD<B>{} + ninf;
  for (int k = 0; k < K; ++k) {
    const VD<B> v = vec::load<B>(x + k * L);
    m = v > m ? v : m;
  }
  const auto none = m == ninf;
  for (int k = 0; k < K; ++k) {
    const VD<B> d = vec::load<B>(x + k * L) - m;
    vec::store(e + k * L, emissions::exp_nonpositive_v<B>(none ? VD<B>{} + ninf : d));
  }
  return m;
}

// out[j] = sum_i a[i] A[i, j] over lanes, i in order (vecmat's order); JB accumulators per block.
template <int JB, int B, class T>
FASTGEN_VEC_INLINE int vecmat_block(int K, int j0, const double* a, const T* A, double* out) {
  constexpr int L = G<B>;
  for (; j0 + JB <= K; j0 += JB) {
    VD<B> acc[JB] = {};
    for (int i = 0; i < K; ++i) {
      const VD<B> ai = vec::load<B>(a + i * L);
      const T* Ai = A + static_cast<int64_t>(i) * K + j0;
      for (int j = 0; j < JB; ++j) acc[j] += ai * static_cast<double>(Ai[j]);
    }
    for (int j = 0; j < JB; ++j) vec::store(out + (j0 + j) * L, acc[j]);
  }
  return j0;
}

template <int B, class T>
FASTGEN_VEC_INLINE void vecmat(int K, const double* a, const T* A, double* out) {
  int j0 = vecmat_block<8, B>(K, 0, a, A, out);
  j0 = vecmat_block<2, B>(K, j0, a, A, out);
  vecmat_block<1, B>(K, j0, a, A, out);
}

// out[i] = sum_j A[i, j] v[j] over lanes, j in order.
template <int IB, int B, class T>
FASTGEN_VEC_INLINE int matvec_block(int K, int i0, const T* A, const double* v, double* out) {
  constexpr int L = G<B>;
  for (; i0 + IB <= K; i0 += IB) {
    VD<B> acc[IB] = {};
    for (int j = 0; j < K; ++j) {
      const VD<B> vj = vec::load<B>(v + j * L);
      for (int i = 0; i < IB; ++i) acc[i] += static_cast<double>(A[static_cast<int64_t>(i0 + i) * K + j]) * vj;
    }
    for (int i = 0; i < IB; ++i) vec::store(out + (i0 + i) * L, acc[i]);
  }
  return i0;
}

template <int B, class T>
FASTGEN_VEC_INLINE void matvec(int K, const T* A, const double* v, double* out) {
  int i0 = matvec_block<8, B>(K, 0, A, v, out);
  i0 = matvec_block<2, B>(K, i0, A, v, out);
  matvec_block<1, B>(K, i0, A, v, out);
}

// One lane's values of K states (stride G) into a row.
template <int B>
FASTGEN_VEC_INLINE void lane_row(int K, const double* x, int l, double* row) {
  for (int k = 0; k < K; ++k) row[k] = x[k * G<B> + l];
}

// Lane states of a forward pass.
enum : int8_t { kLive = 0, kDead = 1, kRedo = 2 };

// Scaled forward pass over a group (forward_scaled / forward_score lane by lane). Keeps every frame's
// alpha and exps (frame t at alpha + t K G, c + t G) when `keep`, else two rows of each. ll[l]: log P,
// -inf (impossible) or kRedoInLog. The emission em (hmm/lane_emissions.hpp) gathers each frame a
// step ahead into buf (2 em.slot() doubles) and computes its log-likelihoods into raw (2 K G).
// `row` is K * 4 doubles of scratch.
template <int B, class T, class Em>
FASTGEN_VEC_INLINE void forward(const Group& gr, int K, const T* pi, const T* A, const Em& em, bool keep, double* E,
                                double* alpha, double* c, double* row, double* raw, double* buf, double* ll) {
  constexpr int L = G<B>;
  const int64_t KL = static_cast<int64_t>(K) * L;
  const VD<B> len = lengths<B>(gr);
  int8_t state[L];
  Lanes<B> lv(VD<B>{});
  for (int l = 0; l < L; ++l) {
    state[l] = gr.len[l] > 0 ? kLive : kDead;
    lv[l] = gr.len[l] > 0 ? 1.0 : 0.0;
  }
  VD<B> live = lv.vector();  // 1 in the lanes still computed, else 0
  // A zero in a column that every other state enters is re-entered by any live state, so
  // lost_forward_mass is asked only about zeros in the other columns, or all-zero frames.
  bool* gap = reinterpret_cast<bool*>(row + 3 * K);
  for (int j = 0; j < K; ++j) {
    gap[j] = false;
    for (int i = 0; i < K; ++i) gap[j] = gap[j] || (i != j && !(A[static_cast<int64_t>(i) * K + j] > 0));
  }
  const VD<B> one = VD<B>{} + 1.0, nil = opaque(VD<B>{});  // (an opaque zero: see opaque)
  VD<B> sum_m = {}, prod = one;
  const int64_t SL = em.slot();
  em.template gather<B>(gr, 0, buf, raw);
  Countdown check(static_cast<double>(K) * K * L);
  for (int64_t t = 0; t < gr.steps; ++t) {
    if (check.interrupted()) {  // garbage: the pool's job throws Interrupted
      std::fill(ll, ll + L, kNegInf);
      return;
    }
    double* et = E + (keep ? t : t & 1) * KL;
    double* cur = alpha + (keep ? t : t & 1) * KL;
    const double* prev = t == 0 ? nullptr : alpha + (keep ? t - 1 : (t - 1) & 1) * KL;
    // The next frame is gathered a step ahead: its scalar stores have reached the cache when its
    // vectors are loaded (loaded at once, they stalled on store forwarding, lane by lane).
    if (t + 1 < gr.steps) em.template gather<B>(gr, t + 1, buf + ((t + 1) & 1) * SL, raw + ((t + 1) & 1) * KL);
    double* rt = raw + (t & 1) * KL;  // the frame's log-likelihoods
    em.template compute<B>(buf + (t & 1) * SL, rt);
    const VD<B> m = shifted_exps<B>(K, rt, et);
    if (t == 0) {
      for (int j = 0; j < K; ++j) vec::store(cur + j * L, static_cast<double>(pi[j]) * vec::load<B>(et + j * L));
    } else {
      vecmat<B>(K, prev, A, cur);
      for (int j = 0; j < K; ++j) vec::store(cur + j * L, vec::load<B>(cur + j * L) * vec::load<B>(et + j * L));
    }
    // Masks are doubles (1 or 0) combined through selects on one comparison each: gcc 12 turned
    // and-ed integer masks into lane-by-lane scalar code on AVX-512.
    VD<B> s = {}, zero = {};
    for (int j = 0; j < K; ++j) {
      const VD<B> v = vec::load<B>(cur + j * L);
      s += v;
      if (gap[j]) zero = opaque(v == 0.0 ? one : zero);
    }
    const VD<B> on = opaque(VD<B>{} + static_cast<double>(t) < len ? live : nil);
    {  // the lanes' checks in scalar code: vector selects on s came out lane by lane anyway (see opaque)
      const Lanes<B> s_l(s), on_l(on), zero_l(zero);
      Lanes<B> live_l(live);
      bool changed = false;
      for (int l = 0; l < L; ++l) {
        if (on_l[l] == 0) continue;
        const bool bad = !(s_l[l] > 0 && s_l[l] < std::numeric_limits<double>::infinity());
        // the guard first (as lattice.hpp): a frame where every reachable state underflowed is not impossible
        if (s_l[l] == 0 || zero_l[l] != 0) {
          double* p = row;
          double* q = row + K;
          lane_row<B>(K, cur, l, q);
          if (prev) lane_row<B>(K, prev, l, p);
          double* lpl = row + 2 * K;
          lane_row<B>(K, rt, l, lpl);
          if (lost_forward_mass(K, prev ? p : nullptr, pi, A, lpl, q)) {
            state[l] = kRedo;
            live_l[l] = 0;
            changed = true;
            continue;
          }
        }
        if (bad) {
          state[l] = kDead;
          live_l[l] = 0;
          changed = true;
        }
      }
      if (changed) live = live_l.vector();
    }
    const VD<B> inv = 1.0 / s;
    for (int j = 0; j < K; ++j) vec::store(cur + j * L, vec::load<B>(cur + j * L) * inv);
    if (keep) vec::store(c + t * L, s);
    const VD<B> counted = on * live;  // (a lane found dead or lost at this frame is not counted)
    sum_m += m * counted;  // (not a select: see backward's `in`; a live lane past its end has a finite m)
    prod *= opaque(counted > 0.0 ? s : one);
    const VD<B> fold = opaque(prod < 1e-250 ? one : nil) + opaque(prod > 1e250 ? one : nil);
    if (any<B>(fold)) {
      const Lanes<B> fold_l(fold);
      Lanes<B> sum_l(sum_m), prod_l(prod);
      for (int l = 0; l < L; ++l)
        if (fold_l[l] != 0) {
          sum_l[l] += std::log(prod_l[l]);
          prod_l[l] = 1;
        }
      sum_m = sum_l.vector();
      prod = prod_l.vector();
    }
  }
  const Lanes<B> sum_l(sum_m), prod_l(prod);
  for (int l = 0; l < L; ++l)
    ll[l] = state[l] == kLive ? sum_l[l] + std::log(prod_l[l]) : state[l] == kDead ? kNegInf : kRedoInLog;
}

// xi[(i K + j) G + l] = sum_t alpha_t(i) w_{t+1}(j) over a group's steps, t in order, in tiles of
// IB x JB accumulators held in registers over all steps (w_{t+1} at W + (t + 1) K G).
template <int IB, int JB, int B>
FASTGEN_VEC_INLINE void xi_tile(int K, int i0, int j0, int64_t steps, const double* alpha, const double* W,
                                double* xi) {
  constexpr int L = G<B>;
  const int64_t KL = static_cast<int64_t>(K) * L;
  VD<B> acc[IB][JB] = {};
  for (int64_t t = 0; t + 1 < steps; ++t) {
    VD<B> a[IB], w[JB];
    for (int i = 0; i < IB; ++i) a[i] = vec::load<B>(alpha + t * KL + (i0 + i) * L);
    for (int j = 0; j < JB; ++j) w[j] = vec::load<B>(W + (t + 1) * KL + (j0 + j) * L);
    for (int i = 0; i < IB; ++i)
      for (int j = 0; j < JB; ++j) acc[i][j] += a[i] * w[j];
  }
  for (int i = 0; i < IB; ++i)
    for (int j = 0; j < JB; ++j) vec::store(xi + ((i0 + i) * static_cast<int64_t>(K) + j0 + j) * L, acc[i][j]);
}

template <int IB, int B>
FASTGEN_VEC_INLINE void xi_rows(int K, int i0, int64_t steps, const double* alpha, const double* W, double* xi) {
  int j0 = 0;
  for (; j0 + 4 <= K; j0 += 4) xi_tile<IB, 4, B>(K, i0, j0, steps, alpha, W, xi);
  for (; j0 < K; ++j0) xi_tile<IB, 1, B>(K, i0, j0, steps, alpha, W, xi);
}

template <int B>
FASTGEN_VEC_INLINE void xi_sums(int K, int64_t steps, const double* alpha, const double* W, double* xi) {
  constexpr int IB = B == 64 ? 4 : 2;  // 16 (or 8) accumulators and 8 (6) operands: within the registers
  int i0 = 0;
  for (; i0 + IB <= K; i0 += IB) xi_rows<IB, B>(K, i0, steps, alpha, W, xi);
  for (; i0 < K; ++i0) xi_rows<1, B>(K, i0, steps, alpha, W, xi);
}

// Backward pass over a group after forward(keep = true): posteriors (post, frames of live lanes;
// zeros for impossible sequences) and each lane's expected-transition partial
// xi[(i K + j) G + l] = sum_t alpha_t(i) w_{t+1}(j) (sequence_posteriors lane by lane; the w
// overwrite E); P (if set): every frame's posteriors in lanes (steps K G, zeros outside the live
// frames), for an emission's statistics. Scratch: bcur, bnext, v, p (K G each).
template <int B, class T>
FASTGEN_VEC_INLINE void backward(const Group& gr, int K, const T* A, double* E, const double* alpha,
                                 const double* c, const double* ll, T* post, double* P, double* xi, double* bcur,
                                 double* bnext, double* v, double* p) {
  constexpr int L = G<B>;
  const int64_t KL = static_cast<int64_t>(K) * L;
  const VD<B> len = lengths<B>(gr);
  // (double masks and one comparison a select, as in forward)
  bool live[L];
  Lanes<B> lv(VD<B>{});
  for (int l = 0; l < L; ++l) {
    live[l] = gr.len[l] > 0 && ll[l] > kNegInf;  // (NaN: redone elsewhere)
    lv[l] = live[l] ? 1.0 : 0.0;
  }
  const VD<B> livev = lv.vector();
  const VD<B> one = VD<B>{} + 1.0, nil = opaque(VD<B>{});  // (an opaque zero: see opaque)
  VD<B> g_next = {};
  Countdown check(3.0 * K * K * L);
  for (int64_t t = gr.steps - 1; t >= 0; --t) {
    if (check.interrupted()) return;  // the pool's job throws Interrupted
    const double* at = alpha + t * KL;
    const VD<B> tv1 = VD<B>{} + static_cast<double>(t + 1);  // tv1 < len: frame t + 1 is in the lane's sequence
    if (t == gr.steps - 1) {
      for (int k = 0; k < K; ++k) vec::store(bcur + k * L, one);
    } else {
      const double* en = E + (t + 1) * KL;
      for (int k = 0; k < K; ++k) vec::store(v + k * L, vec::load<B>(en + k * L) * vec::load<B>(bnext + k * L));
      matvec<B>(K, A, v, bcur);
      const VD<B> cn = vec::load<B>(c + (t + 1) * L);
      const VD<B> inv = 1.0 / cn;
      // 1 where frame t + 1 is in the lane's sequence, else 0 (and its complement). Lane masks that
      // stay fixed over a loop are applied by multiplying, not by selects: gcc 12 hoisted such a
      // select's mask out of the loop into an integer vector and then blended lane by lane.
      const VD<B> in = opaque(tv1 < len ? one : nil), out = one - in;
      const VD<B> cap = VD<B>{} + beta_max<double>();
      for (int k = 0; k < K; ++k) {
        VD<B> b = vec::load<B>(bcur + k * L) * inv;
        b = opaque(b < cap ? b : cap);
        vec::store(bcur + k * L, b * in + out);
      }
      if (xi) {
        const VD<B> z = cn * g_next;
        // invz where the weights count, 0 elsewhere (z <= 0 there, so never inf * 0)
        VD<B> invz = opaque(z > 0.0 ? 1.0 / z : nil);
        invz *= in * livev;
        const double* an = alpha + (t + 1) * KL;
        double* wn = E + (t + 1) * KL;  // w_{t+1} replaces E_{t+1}, read for the last time above
        const VD<B> wcap = VD<B>{} + kMaxXiWeight;
        for (int k = 0; k < K; ++k) {
          VD<B> wk = vec::load<B>(v + k * L) * invz;
          wk = opaque(wk < wcap ? wk : wcap);
          vec::store(wn + k * L, vec::load<B>(an + k * L) != nil ? wk : nil);
        }
      }
    }
    VD<B> g = {};
    for (int k = 0; k < K; ++k) g += vec::load<B>(at + k * L) * vec::load<B>(bcur + k * L);
    if (post || P) {
      const VD<B> inv = opaque(g > 0.0 ? 1.0 / g : nil);
      for (int k = 0; k < K; ++k) vec::store(p + k * L, vec::load<B>(at + k * L) * vec::load<B>(bcur + k * L) * inv);
    }
    if (P) {  // zeros outside live frames
      const VD<B> on = opaque(VD<B>{} + static_cast<double>(t) < len ? one : nil) * livev;
      for (int k = 0; k < K; ++k) vec::store(P + t * KL + k * L, vec::load<B>(p + k * L) * on);  // (see `in`)
    }
    if (post) {
      for (int l = 0; l < L; ++l) {
        if (!live[l] || t >= gr.len[l]) continue;
        T* out = post + (gr.begin[l] + t) * K;
        for (int k = 0; k < K; ++k) out[k] = static_cast<T>(p[k * L + l]);
      }
    }
    g_next = g;
    std::swap(bcur, bnext);
  }
  if (xi) xi_sums<B>(K, gr.steps, alpha, E, xi);
  for (int l = 0; post && l < L; ++l)
    if (gr.len[l] > 0 && ll[l] == kNegInf) std::fill(post + gr.begin[l] * K, post + (gr.begin[l] + gr.len[l]) * K, T(0));
}

// One Viterbi step over lanes for columns j0.. in blocks of JB: nd[j] = max_i (delta[i] + logA[i, j])
// + x[j], bt[j] = the lowest argmax (strict '>', as viterbi_step), kept as a double.
template <int JB, int B, class T>
FASTGEN_VEC_INLINE int viterbi_block(int K, int j0, const double* delta, const T* logA, const double* x, double* nd,
                                     double* bt) {
  constexpr int L = G<B>;
  for (; j0 + JB <= K; j0 += JB) {
    VD<B> best[JB], arg[JB];
    const VD<B> d0 = vec::load<B>(delta);
    for (int j = 0; j < JB; ++j) {
      best[j] = d0 + static_cast<double>(logA[j0 + j]);
      arg[j] = VD<B>{};
    }
    for (int i = 1; i < K; ++i) {
      const VD<B> di = vec::load<B>(delta + i * L);
      const T* Ai = logA + static_cast<int64_t>(i) * K + j0;
      const VD<B> iv = VD<B>{} + static_cast<double>(i);
      for (int j = 0; j < JB; ++j) {
        const VD<B> cand = di + static_cast<double>(Ai[j]);
        const auto better = cand > best[j];
        best[j] = better ? cand : best[j];
        arg[j] = better ? iv : arg[j];
      }
    }
    for (int j = 0; j < JB; ++j) {
      vec::store(nd + (j0 + j) * L, best[j] + vec::load<B>(x + (j0 + j) * L));
      vec::store(bt + (j0 + j) * L, arg[j]);
    }
  }
  return j0;
}

// Viterbi over a group (viterbi_sequence lane by lane). bp holds the argmax of every frame and
// state (steps K G doubles); x is 2 K G doubles and buf 2 em.slot(), delta, nd and fin K G each. Returns false when interrupted (nothing
// written; the pool's job throws).
template <int B, class T, class Em>
FASTGEN_VEC_INLINE bool viterbi(const Group& gr, int K, const T* logpi, const T* logA, const Em& em, double* bp,
                                double* x, double* buf, double* delta, double* nd, double* fin, T* logprob,
                                int64_t* states) {
  constexpr int L = G<B>;
  const int64_t KL = static_cast<int64_t>(K) * L;
  const int64_t SL = em.slot();
  // A lane's last delta is copied into fin at its last frame (the lanes past their end compute on;
  // a select that froze them, its mask fixed over the states' loop, compiled lane by lane).
  auto keep_ends = [&](int64_t t) {
    for (int l = 0; l < L; ++l)
      if (gr.len[l] - 1 == t)
        for (int j = 0; j < K; ++j) fin[j * L + l] = delta[j * L + l];
  };
  em.template gather<B>(gr, 0, buf, x);
  em.template compute<B>(buf, x);
  for (int j = 0; j < K; ++j) vec::store(delta + j * L, static_cast<double>(logpi[j]) + vec::load<B>(x + j * L));
  keep_ends(0);
  if (gr.steps > 1) em.template gather<B>(gr, 1, buf + SL, x + KL);
  Countdown check(static_cast<double>(K) * K * L);
  for (int64_t t = 1; t < gr.steps; ++t) {
    if (check.interrupted()) return false;
    double* xt = x + (t & 1) * KL;  // gathered a step ahead (see forward)
    if (t + 1 < gr.steps) em.template gather<B>(gr, t + 1, buf + ((t + 1) & 1) * SL, x + ((t + 1) & 1) * KL);
    em.template compute<B>(buf + (t & 1) * SL, xt);
    double* bt = bp + t * KL;
    int j0 = viterbi_block<8, B>(K, 0, delta, logA, xt, nd, bt);
    j0 = viterbi_block<2, B>(K, j0, delta, logA, xt, nd, bt);
    viterbi_block<1, B>(K, j0, delta, logA, xt, nd, bt);
    std::swap(delta, nd);
    keep_ends(t);
  }
  for (int l = 0; l < L; ++l) {
    if (gr.len[l] == 0) continue;
    int best = 0;
    for (int j = 1; j < K; ++j)
      if (fin[j * L + l] > fin[best * L + l]) best = j;
    logprob[gr.seq[l]] = static_cast<T>(fin[best * L + l]);
    int64_t* st = states + gr.begin[l];
    st[gr.len[l] - 1] = best;
    for (int64_t t = gr.len[l] - 1; t > 0; --t) st[t - 1] = static_cast<int64_t>(bp[(t * K + st[t]) * L + l]);
  }
  return true;
}

}  // namespace fastgen::hmm::lanes
