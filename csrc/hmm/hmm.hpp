// HMM inference kernels over concatenated sequences (offsets[s]..offsets[s+1]).
//
// Scaled forward/backward: frame log-likelihoods are shifted by their per-frame maximum m_n and
// exponentiated once (E = exp(lp - m), N*K exps), then the recursions run in the probability
// domain with per-step normalisation, so T = 1e6 steps cannot underflow:
//   alpha_t = normalise(E_t * (alpha_{t-1} A)),  c_t = the normaliser,  log P = sum_t (log c_t + m_t)
//   beta_t  = A (E_{t+1} * beta_{t+1}) / c_{t+1}     (the forward scale, Rabiner's scaling)
// Scaling beta by its own sum instead would let the beta of the only reachable state underflow
// next to an unreachable state with larger emissions (an absorbing state loses all mass after
// ~250 steps); the forward normaliser tracks the reachable mass. Posteriors and the expected transition counts are then formed in one
// pass over fixed chunks of frames, using
//   xi_t(i, j) = alpha_t(i) A_ij E_{t+1}(j) beta_{t+1}(j) / (c_{t+1} sum_j alpha_{t+1}(j) beta_{t+1}(j)),
// accumulating sum_t alpha_t(i) w_{t+1}(j) per chunk and multiplying by A_ij once at the end.
// Normalising alpha over all states cannot keep a state whose share falls below the floating-point
// range; when such a state could only come back through itself, the sequence is redone in the log
// domain (lost_forward_mass below), so the scaled path is never silently wrong.
#pragma once
#include "emissions/stats.hpp"
#include "hmm/lane_emissions.hpp"
#include "hmm/lattice.hpp"

namespace fastgen::hmm {

// ---------------------------------------------------------------------------------------------
// Batched entry points.

// Index of the sequence holding frame n (offsets strictly increasing, offsets[0] = 0).
inline int64_t sequence_of(const int64_t* offsets, int64_t S, int64_t n) {
  return static_cast<int64_t>(std::upper_bound(offsets, offsets + S + 1, n) - offsets) - 1;
}

// Adds the chunk's xi partial into the total in chunk order; scales by A (or exp(logA)) at the end.
template <class T>
static void reduce_xi(int64_t nc, int K, const std::vector<double>& part, const T* A, T* xi_sum) {
  const int64_t KK = static_cast<int64_t>(K) * K;
  for (int64_t i = 0; i < KK; ++i) {
    double s = 0;
    for (int64_t c = 0; c < nc; ++c) s += part[c * KK + i];
    xi_sum[i] = static_cast<T>(!A ? s : A[i] == 0 ? 0.0 : s * A[i]);  // never inf * 0
  }
}

// Posteriors and the xi partial sum for frames [n0, n1) (see the header comment for the formula).
// beta may be post itself (the posteriors then overwrite beta frame by frame): beta_next is then
// a copy of beta at frame n1, which the next chunk may already have overwritten.
template <class T>
FASTGEN_SIMD_CLONES static void posterior_chunk(int64_t n0, int64_t n1, int K, int64_t S, const int64_t* offsets,
                                                const double* ll, const T* alpha, const T* beta, const T* beta_next,
                                                const Frames<T>& fr, const double* c, T* post, double* xi_part,
                                                double* w) {
  int64_t s = sequence_of(offsets, S, n0);
  for (int64_t n = n0; n < n1; ++n) {
    while (n >= offsets[s + 1]) ++s;
    const bool dead = !(ll[s] > kNegInf);  // impossible, or to be redone in the log domain
    const T* an = alpha + n * K;
    const T* bn = beta + n * K;
    if (post) {
      T* pn = post + n * K;
      double g = 0;
      if (!dead)
        for (int k = 0; k < K; ++k) g += static_cast<double>(an[k]) * bn[k];
      if (g > 0) {
        const double inv = 1.0 / g;
        for (int k = 0; k < K; ++k) pn[k] = static_cast<T>(an[k] * static_cast<double>(bn[k]) * inv);
      } else {
        for (int k = 0; k < K; ++k) pn[k] = 0;
      }
    }
    if (xi_part && !dead && n + 1 < offsets[s + 1]) {
      const T* a1 = an + K;
      const T* b1 = n + 1 == n1 && beta_next ? beta_next : bn + K;
      const T* e1 = fr.exp_row(n + 1);
      double g1 = 0;
      for (int k = 0; k < K; ++k) g1 += static_cast<double>(a1[k]) * b1[k];
      const double z = c[n + 1] * g1;
      if (!(z > 0)) continue;
      const double invz = 1.0 / z;
      for (int k = 0; k < K; ++k)
        w[k] = a1[k] == 0 ? 0.0 : std::min(e1[k] * static_cast<double>(b1[k]) * invz, kMaxXiWeight);
      outer_add(K, an, w, xi_part);
    }
  }
}

// One whole sequence in cache-resident scratch (used when there are many sequences too long for
// the lanes kernels): frame exps, forward, then a backward pass that writes the posteriors and
// accumulates the xi partial as it goes. Scratch: E, alpha (L*K), m, c (L), bcur, bnext, v (K) for
// L = e - b; w (K doubles).
// A sequence to be redone in the log domain (kRedoInLog) gets nothing written.
template <class T>
FASTGEN_SIMD_CLONES static double sequence_posteriors(int64_t b, int64_t e, int K, const T* pi, const T* A, const T* lp,
                                                      T* post, double* xi_part, T* E, T* alpha, double* m, double* c,
                                                      T* bcur, T* bnext, T* v, double* w) {
  const int64_t L = e - b;
  for (int64_t t = 0; t < L; ++t) m[t] = frame_shifted_exp(K, lp + (b + t) * K, E + t * K);
  const double ll = forward_scaled(int64_t{0}, L, K, pi, A, Frames<T>{lp + b * K, K, nullptr, E, m}, alpha, c);
  if (std::isnan(ll)) return ll;
  if (ll == kNegInf) {
    if (post)
      for (int64_t i = 0; i < L * K; ++i) post[b * K + i] = 0;
    return ll;
  }
  double g_next = 0;  // sum_k alpha_{t+1}(k) beta_{t+1}(k)
  const int64_t every = par::steps_per_check(3.0 * K * K);
  for (int64_t t0 = L - 1; t0 >= 0; t0 -= every) {
    if (par::interrupted()) return kNegInf;
    for (int64_t t = t0, t1 = std::max<int64_t>(0, t0 - every + 1); t >= t1; --t) {
      const T* at = alpha + t * K;
      if (t == L - 1) {
        for (int k = 0; k < K; ++k) bcur[k] = 1;
      } else {
        const T* en = E + (t + 1) * K;
        for (int k = 0; k < K; ++k) v[k] = en[k] * bnext[k];  // E_{t+1} beta_{t+1}
        matvec(K, A, v, bcur);
        const T inv = static_cast<T>(1.0 / c[t + 1]);
        for (int k = 0; k < K; ++k) bcur[k] = std::min(bcur[k] * inv, beta_max<T>());
        if (xi_part) {
          const double z = c[t + 1] * g_next;
          if (z > 0) {
            const double invz = 1.0 / z;
            const T* an = alpha + (t + 1) * K;
            for (int k = 0; k < K; ++k) w[k] = an[k] == 0 ? 0.0 : std::min(v[k] * invz, kMaxXiWeight);
            outer_add(K, at, w, xi_part);
          }
        }
      }
      double g = 0;
      for (int k = 0; k < K; ++k) g += static_cast<double>(at[k]) * bcur[k];
      if (post) {
        T* pn = post + (b + t) * K;
        const double inv = g > 0 ? 1.0 / g : 0.0;
        for (int k = 0; k < K; ++k) pn[k] = static_cast<T>(at[k] * static_cast<double>(bcur[k]) * inv);
      }
      g_next = g;
      std::swap(bcur, bnext);
    }
  }
  return ll;
}

// Sequences per xi partial in the per-sequence path; with many sequences this path is taken
// (decided by the data, never by the thread count, so results stay thread-count independent).
constexpr int64_t kSeqGroup = 8;
constexpr int64_t kManySequences = 16;

template <class T>
void forward_backward_log(int64_t N, int K, int64_t S, const T* pi, const T* A, const T* lp,
                          const int64_t* offsets, T* logprob, T* post, T* xi_sum);

// Reruns the sequences whose scaled forward pass returned kRedoInLog through the log-domain
// recursion (gathered into one compact batch) and scatters their log-likelihoods and posteriors
// back; their expected transitions are added to xi_sum, which holds the other sequences' already.
// rows.rows(b, e, out) gives the frame log-likelihoods of frames [b, e) (hmm/lane_emissions.hpp).
template <class T, class Rows>
static void redo_in_log_domain(int K, const T* pi, const T* A, const Rows& rows, const int64_t* offsets,
                               std::vector<double>& ll, T* post, T* xi_sum) {
  std::vector<int64_t> seqs, sub_off{0};
  for (int64_t s = 0; s < static_cast<int64_t>(ll.size()); ++s)
    if (std::isnan(ll[s])) {
      seqs.push_back(s);
      sub_off.push_back(sub_off.back() + offsets[s + 1] - offsets[s]);
    }
  if (seqs.empty()) return;
  const int64_t S = static_cast<int64_t>(seqs.size()), N = sub_off.back(), KK = static_cast<int64_t>(K) * K;
  std::vector<T> sub_lp(static_cast<size_t>(N) * K), sub_ll(S), sub_post(post ? sub_lp.size() : 0), sub_xi(xi_sum ? KK : 0);
  for (int64_t i = 0; i < S; ++i) rows.rows(offsets[seqs[i]], offsets[seqs[i] + 1], sub_lp.data() + sub_off[i] * K);
  forward_backward_log(N, K, S, pi, A, sub_lp.data(), sub_off.data(), sub_ll.data(), post ? sub_post.data() : nullptr,
                       xi_sum ? sub_xi.data() : nullptr);
  for (int64_t i = 0; i < S; ++i) {
    ll[seqs[i]] = sub_ll[i];
    if (post)
      std::copy(sub_post.begin() + sub_off[i] * K, sub_post.begin() + sub_off[i + 1] * K, post + offsets[seqs[i]] * K);
  }
  for (int64_t i = 0; i < (xi_sum ? KK : 0); ++i) xi_sum[i] += sub_xi[i];
}

// The lanes kernels keep a group's whole lattices (the exps, alpha and, in the E-step, the
// posteriors: steps x K x 8 doubles each): taken when the longest sequence's steps x K is at most
// this (8 MB each a worker), decided by the data alone.
constexpr int64_t kLaneLatticeFrames = int64_t{1} << 17;

inline int64_t longest(int64_t S, const int64_t* offsets) {
  int64_t m = 0;
  for (int64_t s = 0; s < S; ++s) m = std::max(m, offsets[s + 1] - offsets[s]);
  return m;
}

// Many sequences, a register's lanes of them at a time (hmm/lanes.hpp): log P into ll, and when
// asked for the posteriors, xi_sum (a partial per unit of sorted sequences) and stats (the first
// frames' posteriors, then em's statistics, summed); em gives the frames' log-likelihoods
// (hmm/lane_emissions.hpp).
template <class T, class Em>
static void forward_backward_lanes(int K, int64_t S, const T* pi, const T* A, const Em& em, const int64_t* offsets,
                                   double work, std::vector<double>& ll, T* post, T* xi_sum,
                                   std::vector<double>* stats = nullptr) {
  const bool keep = post || xi_sum || stats;
  const std::vector<int64_t> order = lanes::by_length(S, offsets);
  const int64_t steps = keep ? longest(S, offsets) : 1;
  const int64_t KL = static_cast<int64_t>(K) * lanes::kMaxLanes, KK = static_cast<int64_t>(K) * K;
  const int64_t nu = par::n_chunks(S, lanes::kUnit);
  std::vector<double> part(xi_sum ? static_cast<size_t>(nu * KK) : 0, 0.0);
  const int64_t NS = stats ? K + em.n_stats() : 0;  // the first frames' posteriors, then em's
  std::vector<double> stats_part(static_cast<size_t>(nu * NS), 0.0);
  static thread_local par::Clock clock;
  par::Region r(clock, work, nu);
  par::Scratch<double> P(r, stats ? steps * KL : 0), xl(r, stats ? steps * em.slot() : 0),
      st(r, NS * lanes::kMaxLanes);
  par::Scratch<double> E(r, std::max<int64_t>(steps, 2) * KL), alpha(r, std::max<int64_t>(steps, 2) * KL),
      c(r, steps * lanes::kMaxLanes), small(r, 6 * KL + 4 * K + 2 * em.slot()),
      xi(r, xi_sum ? KK * lanes::kMaxLanes : 0);
  r.for_each(nu, [&](int64_t u, int w) {
    const int64_t end = std::min(S, (u + 1) * lanes::kUnit);
    vec::dispatch([&](auto b) FASTGEN_LAMBDA_INLINE {
      constexpr int Bw = decltype(b)::value, L = lanes::G<Bw>;
      double* sw = small[w];
      for (int64_t first = u * lanes::kUnit; first < end; first += L) {
        const lanes::Group gr = lanes::make_group(order, offsets, first, end, L);
        double lg[lanes::kMaxLanes];
        lanes::forward<Bw>(gr, K, pi, A, em, keep, E[w], alpha[w], c[w], sw, sw + 4 * KL, sw + 6 * KL + 4 * K, lg);
        for (int l = 0; l < L; ++l)
          if (gr.seq[l] >= 0) ll[gr.seq[l]] = lg[l];
        if (!keep) continue;
        double* x = xi_sum ? xi[w] : nullptr;
        double* pw = stats ? P[w] : nullptr;
        lanes::backward<Bw>(gr, K, A, E[w], alpha[w], c[w], lg, post, pw, x, sw, sw + KL, sw + 2 * KL, sw + 3 * KL);
        if (pw) {
          std::copy(pw, pw + K * L, st[w]);  // frame 0 of every lane: the sequences' first frames
          em.template stats<Bw>(gr, pw, xl[w], st[w] + K * L);
        }
        for (int l = 0; l < L; ++l) {  // each sequence's own sums, in sorted order
          if (!(lg[l] > kNegInf)) continue;
          double* pu = part.data() + u * KK;
          for (int64_t ij = 0; x && ij < KK; ++ij) pu[ij] += x[ij * L + l];
          double* su = stats_part.data() + u * NS;
          for (int64_t i = 0; i < NS; ++i) su[i] += st[w][i * L + l];
        }
      }
    });
  });
  if (xi_sum) reduce_xi(nu, K, part, A, xi_sum);
  for (int64_t u = 0; u < nu; ++u)
    for (int64_t i = 0; i < NS; ++i) (*stats)[i] += stats_part[u * NS + i];
}

// Whether the lanes kernels take a batch (decided by the data alone): enough sequences to fill
// them, and lattices of a bounded size when they are kept.
inline bool use_lanes(int64_t S, const int64_t* offsets, int K, bool keep) {
  return S >= kManySequences && (!keep || longest(S, offsets) * K <= kLaneLatticeFrames);
}

// The lanes path with emission em, its sequences lost to scaling redone in the log domain.
template <class T, class Em>
void forward_backward_lanes(int64_t N, int K, int64_t S, const T* pi, const T* A, const Em& em, const int64_t* offsets,
                            T* logprob, T* post, T* xi_sum) {
  fm::FlushDenormals ftz;  // the pool gives its workers the caller's mode
  std::vector<double> ll(S);
  const double work = static_cast<double>(N) * K * (K + 8);  // a vector-matrix product and K exps per frame
  forward_backward_lanes(K, S, pi, A, em, offsets, post || xi_sum ? 2 * work : work, ll, post, xi_sum);
  redo_in_log_domain(K, pi, A, em, offsets, ll, post, xi_sum);
  for (int64_t s = 0; s < S; ++s) logprob[s] = static_cast<T>(ll[s]);
}

// Few (long) sequences: whole-array lattices, forwards in parallel, then backwards, then the
// posteriors and xi over fixed chunks of frames. fr gives each frame's exps (an array, or a symbol
// table); rows the log-likelihoods of the sequences redone in the log domain. beta is kept in the
// posteriors' array when they are asked for (one N x K array less).
template <class T, class Rows>
static void forward_backward_long(int64_t N, int K, int64_t S, const T* pi, const T* A, const Frames<T>& fr,
                                  const Rows& rows, const int64_t* offsets, std::vector<double>& ll, T* logprob,
                                  T* post, T* xi_sum) {
  const int64_t KK = static_cast<int64_t>(K) * K;
  const double work = static_cast<double>(N) * K * (K + 8);
  const size_t NK = static_cast<size_t>(N) * K;
  Buffer<T> alpha = buffer<T>(NK), beta_own = post ? nullptr : buffer<T>(NK);
  T* const beta = post ? post : beta_own.get();
  Buffer<double> c = buffer<double>(N);
  {
    static thread_local par::Clock clock;
    par::Region r(clock, 2 * work, S);
    par::Scratch<T> scratch(r, K);
    r.for_each(S, [&](int64_t s, int) {
      ll[s] = forward_scaled(offsets[s], offsets[s + 1], K, pi, A, fr, alpha.get(), c.get());
    });
    r.for_each(S, [&](int64_t s, int w) {  // the backward pass needs the forward normalisers c
      if (ll[s] > kNegInf) backward_scaled(offsets[s], offsets[s + 1], K, A, fr, c.get(), beta, scratch[w]);
    });
  }

  const int64_t nc = par::n_chunks(N, kChunkFrames);
  std::vector<double> part(xi_sum ? static_cast<size_t>(nc * KK) : 0, 0.0);
  // beta at each chunk's first frame, which the chunk before reads for its last xi term.
  std::vector<T> heads(post ? static_cast<size_t>(nc) * K : 0);
  for (int64_t i = 1; post && i < nc; ++i)
    std::copy(beta + i * kChunkFrames * K, beta + (i * kChunkFrames + 1) * K, heads.begin() + i * K);
  static thread_local par::Clock clock;
  par::Region r(clock, work, nc);
  par::Scratch<double> wk(r, K);
  r.for_chunks(N, kChunkFrames, [&](int64_t n0, int64_t n1, int w) {
    const int64_t i = n0 / kChunkFrames;
    const T* beta_next = post && i + 1 < nc ? heads.data() + (i + 1) * K : nullptr;
    posterior_chunk(n0, n1, K, S, offsets, ll.data(), alpha.get(), beta, beta_next, fr, c.get(), post,
                    xi_sum ? part.data() + i * KK : nullptr, wk[w]);
  });
  if (xi_sum) reduce_xi(nc, K, part, A, xi_sum);
  redo_in_log_domain(K, pi, A, rows, offsets, ll, post, xi_sum);
  for (int64_t s = 0; s < S; ++s) logprob[s] = static_cast<T>(ll[s]);
}

template <class T>
void forward_backward(int64_t N, int K, int64_t S, const T* pi, const T* A, const T* lp, const int64_t* offsets,
                      T* logprob, T* post, T* xi_sum) {
  if (use_lanes(S, offsets, K, post || xi_sum))
    return forward_backward_lanes(N, K, S, pi, A, lanes::FrameLogprob<T>{lp, K}, offsets, logprob, post, xi_sum);
  fm::FlushDenormals ftz;  // the pool gives its workers the caller's mode
  std::vector<double> ll(S);
  const double work = static_cast<double>(N) * K * (K + 8);  // a vector-matrix product and K exps per frame
  if (!post && !xi_sum) {  // scoring: forward only, nothing of size N*K
    static thread_local par::Clock clock;
    par::Region r(clock, work, S);
    par::Scratch<T> scratch(r, 3 * static_cast<size_t>(K));
    const Frames<T> fr{lp, K};
    r.for_each(S, [&](int64_t s, int w) { ll[s] = forward_score(offsets[s], offsets[s + 1], K, pi, A, fr, scratch[w]); });
    redo_in_log_domain(K, pi, A, lanes::FrameLogprob<T>{lp, K}, offsets, ll, post, xi_sum);
    for (int64_t s = 0; s < S; ++s) logprob[s] = static_cast<T>(ll[s]);
    return;
  }
  const int64_t KK = static_cast<int64_t>(K) * K;
  if (S >= kManySequences) {
    int64_t maxlen = 0;
    for (int64_t s = 0; s < S; ++s) maxlen = std::max(maxlen, offsets[s + 1] - offsets[s]);
    const int64_t ng = par::n_chunks(S, kSeqGroup);
    std::vector<double> part(xi_sum ? static_cast<size_t>(ng * KK) : 0, 0.0);
    static thread_local par::Clock clock;
    par::Region r(clock, 2 * work, ng);
    const size_t LK = static_cast<size_t>(maxlen) * K;
    par::Scratch<T> E(r, LK), alpha(r, LK), vec(r, 3 * static_cast<size_t>(K));
    par::Scratch<double> m(r, maxlen), c(r, maxlen), wk(r, K);
    r.for_each(ng, [&](int64_t g, int w) {
      for (int64_t s = g * kSeqGroup; s < std::min(S, (g + 1) * kSeqGroup); ++s)
        ll[s] = sequence_posteriors(offsets[s], offsets[s + 1], K, pi, A, lp, post,
                                    xi_sum ? part.data() + g * KK : nullptr, E[w], alpha[w], m[w], c[w], vec[w],
                                    vec[w] + K, vec[w] + 2 * K, wk[w]);
    });
    if (xi_sum) reduce_xi(ng, K, part, A, xi_sum);
    redo_in_log_domain(K, pi, A, lanes::FrameLogprob<T>{lp, K}, offsets, ll, post, xi_sum);
    for (int64_t s = 0; s < S; ++s) logprob[s] = static_cast<T>(ll[s]);
    return;
  }
  // Few (long) sequences: the frames' exps first, then the whole-array passes.
  Buffer<T> E = buffer<T>(static_cast<size_t>(N) * K);
  Buffer<double> m = buffer<double>(N);
  shifted_exp(N, K, lp, E.get(), m.get());
  forward_backward_long(N, K, S, pi, A, Frames<T>{lp, K, nullptr, E.get(), m.get()}, lanes::FrameLogprob<T>{lp, K},
                        offsets, ll, logprob, post, xi_sum);
}

template <class T>
void forward_backward_log(int64_t N, int K, int64_t S, const T* pi, const T* A, const T* lp,
                          const int64_t* offsets, T* logprob, T* post, T* xi_sum) {
  const bool need_lattices = post || xi_sum;
  const int64_t KK = static_cast<int64_t>(K) * K;
  std::vector<T> logpi(K), logA(KK);
  for (int k = 0; k < K; ++k) logpi[k] = std::log(pi[k]);
  for (int64_t i = 0; i < KK; ++i) logA[i] = std::log(A[i]);

  std::vector<double> la(static_cast<size_t>(N) * K), lb(need_lattices ? static_cast<size_t>(N) * K : 0);
  std::vector<double> ll(S);
  fm::FlushDenormals ftz;  // the pool gives its workers the caller's mode
  const int64_t n_tasks = need_lattices ? 2 * S : S;
  const double work = static_cast<double>(N) * KK * 24;  // a logsumexp over K terms per state and frame
  {
    static thread_local par::Clock clock;
    par::Region r(clock, work * (need_lattices ? 2 : 1), n_tasks);
    par::Scratch<double> scratch(r, K);
    r.for_each(n_tasks, [&](int64_t task, int w) {
      const int64_t s = task % S;
      const int64_t b = offsets[s], e = offsets[s + 1];
      if (task < S)
        ll[s] = forward_log(b, e, K, logpi.data(), logA.data(), lp, la.data(), scratch[w]);
      else
        backward_log(b, e, K, logA.data(), lp, lb.data(), scratch[w]);
    });
  }
  for (int64_t s = 0; s < S; ++s) logprob[s] = static_cast<T>(ll[s]);
  if (!need_lattices) return;

  const int64_t nc = par::n_chunks(N, kChunkFrames);
  std::vector<double> part(xi_sum ? static_cast<size_t>(nc * KK) : 0, 0.0);
  static thread_local par::Clock clock;
  par::Region r(clock, work, nc);
  par::Scratch<double> vs(r, K);
  r.for_chunks(N, kChunkFrames, [&](int64_t n0, int64_t n1, int w) {
    double* v = vs[w];
    int64_t s = sequence_of(offsets, S, n0);
    for (int64_t n = n0; n < n1; ++n) {
      while (n >= offsets[s + 1]) ++s;
      const double lls = ll[s];
      const bool dead = lls == kNegInf;
      if (post) {
        // Normalised per frame (as hmmlearn does): over 1e6 steps la + lb - log P drifts by ~1e-6.
        T* pn = post + n * K;
        double mx = kNegInf;
        for (int k = 0; k < K; ++k) mx = std::max(mx, la[n * K + k] + lb[n * K + k]);
        if (dead || mx == kNegInf) {
          for (int k = 0; k < K; ++k) pn[k] = 0;
        } else {
          double z = 0;
          for (int k = 0; k < K; ++k) z += std::exp(la[n * K + k] + lb[n * K + k] - mx);
          const double lz = mx + std::log(z);
          for (int k = 0; k < K; ++k) pn[k] = static_cast<T>(std::exp(la[n * K + k] + lb[n * K + k] - lz));
        }
      }
      if (xi_sum && !dead && n + 1 < offsets[s + 1]) {
        double* acc = part.data() + (n0 / kChunkFrames) * KK;
        for (int j = 0; j < K; ++j) v[j] = static_cast<double>(lp[(n + 1) * K + j]) + lb[(n + 1) * K + j] - lls;
        for (int i = 0; i < K; ++i) {
          const double ai = la[n * K + i];
          if (ai == kNegInf) continue;
          for (int j = 0; j < K; ++j) acc[i * K + j] += std::exp(ai + logA[i * K + j] + v[j]);
        }
      }
    }
  });
  if (xi_sum) reduce_xi<T>(nc, K, part, nullptr, xi_sum);
}

template <int B, class T>
FASTGEN_VEC_INLINE T viterbi_sequence(int64_t b, int64_t e, int K, const T* logpi, const T* logA, const Frames<T>& fr,
                                      int32_t* bp, int64_t* states, T* delta, T* nd) {
  const T* lb = fr.log_row(b);
  for (int j = 0; j < K; ++j) delta[j] = logpi[j] + lb[j];
  const int64_t every = par::steps_per_check(static_cast<double>(K) * K);
  for (int64_t t0 = b + 1; t0 < e; t0 += every) {
    if (par::interrupted()) return T(0);  // before the backtrace, which follows bp as indices; the job throws
    for (int64_t t = t0, t1 = std::min<int64_t>(e, t0 + every); t < t1; ++t) {
      viterbi_step<B>(K, delta, logA, fr.log_row(t), nd, bp + t * K);
      std::swap(delta, nd);
    }
  }
  int best = 0;
  for (int j = 1; j < K; ++j)
    if (delta[j] > delta[best]) best = j;
  states[e - 1] = best;
  for (int64_t t = e - 1; t > b; --t) states[t - 1] = bp[t * K + states[t]];
  return delta[best];
}

// Viterbi over many sequences in lanes (hmm/lanes.hpp), em giving the frames' log-likelihoods.
template <class T, class Em>
void viterbi_lanes(int64_t N, int K, int64_t S, const T* logpi, const T* logA, const Em& em, const int64_t* offsets,
                   T* logprob, int64_t* states) {
  fm::FlushDenormals ftz;  // the pool gives its workers the caller's mode
  const std::vector<int64_t> order = lanes::by_length(S, offsets);
  const int64_t KL = static_cast<int64_t>(K) * lanes::kMaxLanes, nu = par::n_chunks(S, lanes::kUnit);
  static thread_local par::Clock clock;
  par::Region r(clock, static_cast<double>(N) * K * K, nu);
  par::Scratch<double> bp(r, longest(S, offsets) * KL), d(r, 5 * KL + 2 * em.slot());
  r.for_each(nu, [&](int64_t u, int w) {
    const int64_t end = std::min(S, (u + 1) * lanes::kUnit);
    vec::dispatch([&](auto b) FASTGEN_LAMBDA_INLINE {
      constexpr int Bw = decltype(b)::value, L = lanes::G<Bw>;
      for (int64_t first = u * lanes::kUnit; first < end; first += L)
        if (!lanes::viterbi<Bw>(lanes::make_group(order, offsets, first, end, L), K, logpi, logA, em, bp[w], d[w],
                                d[w] + 5 * KL, d[w] + 2 * KL, d[w] + 3 * KL, d[w] + 4 * KL, logprob, states))
          return;
    });
  });
}

template <class T>
void log_parameters(int K, const T* pi, const T* A, std::vector<T>& logpi, std::vector<T>& logA) {
  logpi.resize(K);
  logA.resize(static_cast<size_t>(K) * K);
  for (int k = 0; k < K; ++k) logpi[k] = std::log(pi[k]);
  for (size_t i = 0; i < logA.size(); ++i) logA[i] = std::log(A[i]);
}

// One sequence at a time, frames from fr (an N x K array or a symbol table).
template <class T>
void viterbi_frames(int64_t N, int K, int64_t S, const T* logpi, const T* logA, const Frames<T>& fr,
                    const int64_t* offsets, T* logprob, int64_t* states) {
  const int64_t KK = static_cast<int64_t>(K) * K;
  fm::FlushDenormals ftz;  // the pool gives its workers the caller's mode
  Buffer<int32_t> bp = buffer<int32_t>(static_cast<size_t>(N) * K);
  static thread_local par::Clock clock;
  par::Region r(clock, static_cast<double>(N) * KK, S);
  par::Scratch<T> d(r, 2 * static_cast<size_t>(K));
  r.for_each(S, [&](int64_t s, int w) {
    vec::dispatch([&](auto b) FASTGEN_LAMBDA_INLINE {
      logprob[s] = viterbi_sequence<decltype(b)::value>(offsets[s], offsets[s + 1], K, logpi, logA, fr, bp.get(),
                                                        states, d[w], d[w] + K);
    });
  });
}

template <class T>
void viterbi(int64_t N, int K, int64_t S, const T* pi, const T* A, const T* lp, const int64_t* offsets,
             T* logprob, int64_t* states) {
  std::vector<T> logpi, logA;
  log_parameters(K, pi, A, logpi, logA);
  if (use_lanes(S, offsets, K, true))
    return viterbi_lanes(N, K, S, logpi.data(), logA.data(), lanes::FrameLogprob<T>{lp, K}, offsets, logprob, states);
  viterbi_frames(N, K, S, logpi.data(), logA.data(), Frames<T>{lp, K}, offsets, logprob, states);
}

// ---------------------------------------------------------------------------------------------
// Categorical emissions fused into the passes: a frame's log-likelihoods are its symbol's row of
// the transposed log-emission table (M x K, in cache), and the scaled passes take each symbol's
// shifted exps from a table too (M x K exps, not N x K), so score, Viterbi and, with one or a few
// long sequences or many short ones, the posteriors never write or read an N x K array of
// emissions. Same bits as the kernels above on categorical_logprob's array (the same rows through
// the same code).

template <class T>
struct SymbolTables {
  std::vector<T> ltab, etab;  // M x K: log B[:, m] and exp(log B[:, m] - max)
  std::vector<double> mtab;   // M: the max

  SymbolTables(int K, int M, const T* log_emission, bool shifted)
      : ltab(static_cast<size_t>(M) * K), etab(shifted ? static_cast<size_t>(M) * K : 0), mtab(shifted ? M : 0) {
    for (int k = 0; k < K; ++k)
      for (int m = 0; m < M; ++m) ltab[static_cast<size_t>(m) * K + k] = log_emission[static_cast<int64_t>(k) * M + m];
    if (shifted) shifted_exp(M, K, ltab.data(), etab.data(), mtab.data());  // (the dense path's own kernel)
  }
  Frames<T> frames(int K, const int64_t* x) const {
    return Frames<T>{ltab.data(), K, x, etab.empty() ? nullptr : etab.data(), mtab.empty() ? nullptr : mtab.data()};
  }
  lanes::Categorical<T> rows(int K, const int64_t* x) const { return lanes::Categorical<T>{x, ltab.data(), K}; }
};

template <class T>
void forward_backward_categorical(int64_t N, int K, int M, int64_t S, const T* pi, const T* A, const int64_t* X,
                                  const T* log_emission, const int64_t* offsets, T* logprob, T* post, T* xi_sum) {
  const bool keep = post || xi_sum;
  if (use_lanes(S, offsets, K, keep)) {
    const SymbolTables<T> tab(K, M, log_emission, false);
    return forward_backward_lanes(N, K, S, pi, A, tab.rows(K, X), offsets, logprob, post, xi_sum);
  }
  if (keep && S >= kManySequences) {  // many sequences too long for the lanes (per-sequence scratch): not fused
    Buffer<T> lp = buffer<T>(static_cast<size_t>(N) * K);
    emissions::categorical_logprob(N, K, M, X, log_emission, lp.get());
    return forward_backward(N, K, S, pi, A, lp.get(), offsets, logprob, post, xi_sum);
  }
  fm::FlushDenormals ftz;  // the pool gives its workers the caller's mode
  const SymbolTables<T> tab(K, M, log_emission, true);
  std::vector<double> ll(S);
  if (keep)
    return forward_backward_long(N, K, S, pi, A, tab.frames(K, X), tab.rows(K, X), offsets, ll, logprob, post, xi_sum);
  static thread_local par::Clock clock;
  par::Region r(clock, static_cast<double>(N) * K * (K + 2), S);
  par::Scratch<T> scratch(r, 3 * static_cast<size_t>(K));
  const Frames<T> fr = tab.frames(K, X);
  r.for_each(S, [&](int64_t s, int w) { ll[s] = forward_score(offsets[s], offsets[s + 1], K, pi, A, fr, scratch[w]); });
  redo_in_log_domain(K, pi, A, tab.rows(K, X), offsets, ll, post, xi_sum);
  for (int64_t s = 0; s < S; ++s) logprob[s] = static_cast<T>(ll[s]);
}

template <class T>
void viterbi_categorical(int64_t N, int K, int M, int64_t S, const T* pi, const T* A, const int64_t* X,
                         const T* log_emission, const int64_t* offsets, T* logprob, int64_t* states) {
  std::vector<T> logpi, logA;
  log_parameters(K, pi, A, logpi, logA);
  const SymbolTables<T> tab(K, M, log_emission, false);
  if (use_lanes(S, offsets, K, true))
    return viterbi_lanes(N, K, S, logpi.data(), logA.data(), tab.rows(K, X), offsets, logprob, states);
  viterbi_frames(N, K, S, logpi.data(), logA.data(), tab.frames(K, X), offsets, logprob, states);
}

// ---------------------------------------------------------------------------------------------
// Emissions computed from the rows of X inside the passes (hmm/lane_emissions.hpp: DiagGaussian,
// FullGaussian, Poisson): with many sequences the lanes compute each frame's log-likelihoods in the
// lattice pass, and no N x K array of them is written or read; otherwise em.rows computes them into
// one first and the kernels above run on it.

template <class T, class Em>
void forward_backward_rows(int64_t N, int K, int64_t S, const T* pi, const T* A, const Em& em, const int64_t* offsets,
                           T* logprob, T* post, T* xi_sum) {
  if (use_lanes(S, offsets, K, post || xi_sum))
    return forward_backward_lanes(N, K, S, pi, A, em, offsets, logprob, post, xi_sum);
  Buffer<T> lp = buffer<T>(static_cast<size_t>(N) * K);
  em.rows(0, N, lp.get());
  forward_backward(N, K, S, pi, A, lp.get(), offsets, logprob, post, xi_sum);
}

// One E-step without an N x K array: log P per sequence, the summed posteriors of the sequences'
// first frames (start[K]), xi_sum, and the emission's statistics (ws[C], wx[C, D] and wxx:
// weighted_moments of em's order with the posteriors as weights, over C = em.components() rows:
// the states, or a mixture's components; wxx unused at order 0). With many sequences all of it
// comes out of the lanes pass; otherwise, or when a sequence must be redone in the log domain,
// from the posteriors of forward_backward_rows.
template <class T, class Em>
void e_step_rows(int64_t N, int K, int64_t S, const T* pi, const T* A, const Em& em, const int64_t* offsets,
                 T* logprob, T* start, T* xi_sum, T* ws, T* wx, T* wxx) {
  if (use_lanes(S, offsets, K, true)) {
    fm::FlushDenormals ftz;  // the pool gives its workers the caller's mode
    std::vector<double> ll(S), st(static_cast<size_t>(K + em.n_stats()), 0.0);
    const double work = 3.0 * N * K * (K + 8 + em.cost());
    forward_backward_lanes(K, S, pi, A, em, offsets, work, ll, static_cast<T*>(nullptr), xi_sum, &st);
    if (std::none_of(ll.begin(), ll.end(), [](double v) { return std::isnan(v); })) {
      for (int64_t s = 0; s < S; ++s) logprob[s] = static_cast<T>(ll[s]);
      const int64_t C = em.components(), CD = C * em.D, n = em.n_stats() - C - CD;
      for (int k = 0; k < K; ++k) start[k] = static_cast<T>(st[k]);
      for (int64_t c = 0; c < C; ++c) ws[c] = static_cast<T>(st[K + c]);
      for (int64_t i = 0; i < CD; ++i) wx[i] = static_cast<T>(st[K + C + i]);
      for (int64_t i = 0; i < n; ++i) wxx[i] = static_cast<T>(st[K + C + CD + i]);
      return;
    }
  }
  Buffer<T> post = buffer<T>(static_cast<size_t>(N) * K);
  forward_backward_rows(N, K, S, pi, A, em, offsets, logprob, post.get(), xi_sum);
  em.posterior_moments(N, post.get(), ws, wx, wxx);
  stats::sum_rows(K, S, post.get(), offsets, start);  // the first frames: offsets[0 .. S-1]
}

template <class T, class Em>
void viterbi_rows(int64_t N, int K, int64_t S, const T* pi, const T* A, const Em& em, const int64_t* offsets,
                  T* logprob, int64_t* states) {
  if (use_lanes(S, offsets, K, true)) {
    std::vector<T> logpi, logA;
    log_parameters(K, pi, A, logpi, logA);
    return viterbi_lanes(N, K, S, logpi.data(), logA.data(), em, offsets, logprob, states);
  }
  Buffer<T> lp = buffer<T>(static_cast<size_t>(N) * K);
  em.rows(0, N, lp.get());
  viterbi(N, K, S, pi, A, lp.get(), offsets, logprob, states);
}

// ---------------------------------------------------------------------------------------------
// Sampling with Philox (see common/rng.hpp).

template <class T>
void sample_states(int K, const T* pi, const T* A, int64_t n, uint64_t seed, uint64_t stream, int64_t* out) {
  const rng::Stream rs(seed, stream);
  const int64_t every = par::steps_per_check(64.0 + K);
  for (int64_t t0 = 0; t0 < n; t0 += every) {
    par::check_interrupt();
    for (int64_t t = t0, t1 = std::min<int64_t>(n, t0 + every); t < t1; ++t) {
      const T* p = t == 0 ? pi : A + out[t - 1] * K;
      out[t] = draw_categorical(K, p, rs.uniform(static_cast<uint64_t>(t)));
    }
  }
}

// Exact inverse-CDF Poisson draw from one uniform, searching from the mode (O(sqrt(lam)) steps).
inline int64_t poisson_inverse_cdf(double lam, double u) {
  if (!(lam > 0)) return 0;
  const double mode = std::floor(lam);
  const double pm = std::exp(mode * std::log(lam) - lam - std::lgamma(mode + 1));
  double F = pm, p = pm;
  for (double j = mode; j > 0; --j) {  // F(mode) = sum_{j <= mode} p(j), summed downward
    p *= j / lam;
    F += p;
    if (p < 1e-17 * F) break;
  }
  int64_t k = static_cast<int64_t>(mode);
  p = pm;
  if (u <= F) {
    while (k > 0 && u <= F - p) {
      F -= p;
      p *= static_cast<double>(k) / lam;
      --k;
    }
  } else {
    const int64_t limit = k + static_cast<int64_t>(40 * std::sqrt(lam)) + 100;
    while (u > F && k < limit) {
      p *= lam / static_cast<double>(k + 1);
      ++k;
      F += p;
    }
  }
  return k;
}

template <class T>
void sample_poisson(int64_t N, int D, const T* lam, uint64_t seed, uint64_t stream, int64_t* out) {
  const rng::Stream rs(seed, stream);
  static thread_local par::Clock clock;
  par::for_range(clock, 64.0 * N * D, N * D, 1024, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = poisson_inverse_cdf(lam[i], rs.uniform(static_cast<uint64_t>(i)));
  });
}

}  // namespace fastgen::hmm
