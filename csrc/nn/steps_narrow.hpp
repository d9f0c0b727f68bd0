// The fused training steps for narrow networks (every width <= kNarrowWidth), row-parallel: one
// team per step (common/threads.hpp), each thread carries its block of rows through every layer of
// every network, then the threads share the weight gradients and updates (common/mlp/rows.hpp). Same contract
// and bit-identical results as the layer-by-layer steps in nn/steps.hpp, which dispatch here; the
// WGAN-GP step stays layer by layer (its penalty's double backward, nn/penalty.hpp, is not split
// by rows).
//
// A GAN step has three barriers (the discriminator's gradients, its update before the generator
// step reads it, the generator's gradients), a VAE or autoencoder step one. A thread that waits at
// a barrier for a descheduled partner loses a time slice, so each step kind's par::Clock times one
// thread against the team and runs the faster (on idle cores two threads take a narrow step ~1.6x
// faster than one; under load a fixed team took a 0.15 ms step to 1-4 ms).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/fastmath.hpp"
#include "common/rng.hpp"
#include "common/threads.hpp"
#include "common/mlp/losses.hpp"
#include "common/mlp/rows.hpp"
#include "common/mlp/train.hpp"

namespace fastgen::nn {

// Rows [r0, r1) of [X | C] into out [N, dx + c].
template <class T>
void with_labels_rows(int64_t r0, int64_t r1, int64_t dx, const T* X, int64_t c, const T* C, T* out) {
  if (r1 > r0) with_labels(r1 - r0, dx, X + r0 * dx, c, C ? C + r0 * c : C, out + r0 * (dx + c));
}

template <class T>
double mlp_step_narrow(const Trainable<T>& tr, T slope, int64_t N, const T* X, const T* Y, int loss,
                       const OptSpec& o) {
  fm::FlushDenormals ftz;
  const Net& net = tr.net;
  const int64_t D = net.out();
  thread_local std::vector<T> A_b, DZ_b, dY_b, g_b;
  thread_local std::vector<double> l_b;
  T* A = grab(A_b, N * net.width);
  T* DZ = grab(DZ_b, N * net.width);
  T* dY = grab(dY_b, N * D);
  T* grad = grab(g_b, net.P);
  double* lr = grab(l_b, N);
  const T scale = static_cast<T>(1.0 / static_cast<double>(N));
  static thread_local par::Clock clock;
  par::Region team(clock, static_cast<double>(N) * net.P, row_blocks(N));
  team.team([&](int id, int nt) {
    thread_local std::vector<T> wt_b;
    T* Wt = grab(wt_b, net.P);
    const RowBlock rb = row_block(N, id, nt);
    forward_rows(net, tr.theta, slope, N, rb.r0, rb.r1, X, A);
    if (rb.n() > 0) {
      const T* out = net.block(static_cast<const T*>(A), N, net.L) + rb.r0 * D;
      if (loss == 0)
        squared_error<T>(rb.n(), D, out, Y + rb.r0 * D, scale, lr + rb.r0, dY + rb.r0 * D);
      else
        bce_logits<T>(rb.n(), D, out, D, Y + rb.r0 * D, D, scale, lr + rb.r0, dY + rb.r0 * D, D);
    }
    transpose_weights(net, static_cast<const T*>(tr.theta), Wt);
    backward_rows(net, static_cast<const T*>(Wt), slope, N, rb.r0, rb.r1, X, static_cast<const T*>(A),
                  static_cast<const T*>(dY), D, DZ, static_cast<T*>(nullptr));
par::barrier();
    const GradJob<T> job{&tr, &o, N, X, A, DZ, grad};
    grads_and_update(&job, 1, id, nt);
  });
  return mean(N, lr);
}

template <class T>
void vae_step_narrow(const Trainable<T>& enc, const Trainable<T>& dec, T slope, int64_t N, int64_t D, const T* X,
                     int64_t c, const T* C, int likelihood, const T* obs_log_var, double kl_weight, uint64_t seed,
                     uint64_t stream, const OptSpec& o, double* out3) {
  fm::FlushDenormals ftz;
  const Net &ne = enc.net, &nd = dec.net;
  const int64_t K = ne.out() / 2, de = ne.in(), dd = nd.in(), dy = nd.out();
  thread_local std::vector<T> ein_b, Ae_b, DZe_b, eps_b, din_b, Ad_b, DZd_b, dout_b, ddin_b, dH_b, ge_b, gd_b;
  thread_local std::vector<double> rec_b, kl_b;
  T* ein = grab(ein_b, N * de);
  T* Ae = grab(Ae_b, N * ne.width);
  T* DZe = grab(DZe_b, N * ne.width);
  T* eps = grab(eps_b, N * K);
  T* din = grab(din_b, N * dd);
  T* Ad = grab(Ad_b, N * nd.width);
  T* DZd = grab(DZd_b, N * nd.width);
  T* dout = grab(dout_b, N * dy);
  T* ddin = grab(ddin_b, N * dd);
  T* dH = grab(dH_b, N * 2 * K);
  T* ge = grab(ge_b, ne.P);
  T* gd = grab(gd_b, nd.P);
  double* rec = grab(rec_b, N);
  double* kl = grab(kl_b, N);
  const T* e_in = c ? ein : X;
  const T scale = static_cast<T>(1.0 / static_cast<double>(N));
  const rng::Stream rs(seed, stream);

  static thread_local par::Clock clock;
  par::Region team(clock, static_cast<double>(N) * (ne.P + nd.P), row_blocks(N));
  team.team([&](int id, int nt) {
    thread_local std::vector<T> wt_b;
    T* Wt = grab(wt_b, std::max(ne.P, nd.P));
    const RowBlock rb = row_block(N, id, nt);
    const int64_t r0 = rb.r0, r1 = rb.r1, M = rb.n();
    if (c) with_labels_rows(r0, r1, D, X, c, C, ein);
    forward_rows(ne, static_cast<const T*>(enc.theta), slope, N, r0, r1, e_in, Ae);
    const T* H = ne.block(static_cast<const T*>(Ae), N, ne.L);
    if (M > 0) {
      normals(rs, static_cast<uint64_t>(r0 * K), M * K, eps + r0 * K);
      // Zs straight into the decoder's input rows [Zs | C].
      kl_reparam<T>(M, K, H + r0 * 2 * K, 2 * K, eps + r0 * K, din + r0 * dd, dd, kl + r0);
      if (c)
        for (int64_t n = r0; n < r1; ++n) std::memcpy(din + n * dd + K, C + n * c, sizeof(T) * c);
    }
    forward_rows(nd, static_cast<const T*>(dec.theta), slope, N, r0, r1, din, Ad);
    if (M > 0) {
      const T* Y = nd.block(static_cast<const T*>(Ad), N, nd.L) + r0 * dy;
      const T* x = X + r0 * D;
      T* g = dout + r0 * dy;
      if (likelihood == 0)
        bce_logits<T>(M, D, Y, D, x, D, scale, rec + r0, g, D);
      else if (likelihood == 1)
        gaussian_nll<T>(M, D, Y, D, obs_log_var, 0, x, D, scale, rec + r0, g, D, static_cast<T*>(nullptr), 0);
      else
        gaussian_nll<T>(M, D, Y, 2 * D, Y + D, 2 * D, x, D, scale, rec + r0, g, 2 * D, g + D, 2 * D);
    }
    transpose_weights(nd, static_cast<const T*>(dec.theta), Wt);
    backward_rows(nd, static_cast<const T*>(Wt), slope, N, r0, r1, static_cast<const T*>(din),
                  static_cast<const T*>(Ad), static_cast<const T*>(dout), dy, DZd, ddin);
    if (M > 0)
      kl_reparam_backward<T>(M, K, H + r0 * 2 * K, 2 * K, eps + r0 * K, ddin + r0 * dd, dd, static_cast<T>(kl_weight),
                             scale, dH + r0 * 2 * K);
    transpose_weights(ne, static_cast<const T*>(enc.theta), Wt);
    backward_rows(ne, static_cast<const T*>(Wt), slope, N, r0, r1, e_in, static_cast<const T*>(Ae),
                  static_cast<const T*>(dH), 2 * K, DZe, static_cast<T*>(nullptr));
par::barrier();
    const GradJob<T> jobs[2] = {{&enc, &o, N, e_in, Ae, DZe, ge}, {&dec, &o, N, din, Ad, DZd, gd}};
    grads_and_update(jobs, 2, id, nt);
  });
  const double r = mean(N, rec), k = mean(N, kl);
  out3[0] = r + kl_weight * k;
  out3[1] = r;
  out3[2] = k;
}

namespace steps_detail {

// The row-parallel GAN step: its networks, inputs and buffers (grow-only, thread-local; each
// thread fills its rows), one method per stage of a thread's rows between the team's barriers.
template <class T>
struct GanStepNarrow {
  const Trainable<T>& gen;
  const Trainable<T>& disc;
  T slope;
  int64_t N;
  const T* X;
  int64_t c;
  const T* C;
  uint64_t seed;
  int64_t q, dx, w;  // w = dx + c
  T *z, *gin, *Ag, *DZg, *din, *Ad, *DZd, *tgt, *dY, *ddin, *gd, *gg;
  double *ld, *lg;
  T scale;

  void noise_rows(const RowBlock& rb, uint64_t s);
  void discriminator_rows(const RowBlock& rb, uint64_t stream, T* Wt);
  void generator_rows(const RowBlock& rb, uint64_t stream, T* Wt);
};

// Generator input rows [Z | C], Z = normals (index n q + j) of stream s.
template <class T>
void GanStepNarrow<T>::noise_rows(const RowBlock& rb, uint64_t s) {
  const int64_t r0 = rb.r0, r1 = rb.r1, M = rb.n();
  if (M == 0) return;
  normals(rng::Stream(seed, s), static_cast<uint64_t>(r0 * q), M * q, z + r0 * q);
  with_labels_rows(r0, r1, q, static_cast<const T*>(z), c, C, gin);
}

// Discriminator step on [real; fake] (2N rows): this thread's real rows and fake rows, up to
// their gradients DZd (the weight gradients follow the barrier).
template <class T>
void GanStepNarrow<T>::discriminator_rows(const RowBlock& rb, uint64_t stream, T* Wt) {
  const Net &ng = gen.net, &nd = disc.net;
  const int64_t r0 = rb.r0, r1 = rb.r1, M = rb.n();
  noise_rows(rb, stream);
  forward_rows(ng, static_cast<const T*>(gen.theta), slope, N, r0, r1, gin, Ag);
  const T* fake = ng.block(static_cast<const T*>(Ag), N, ng.L);
  with_labels_rows(r0, r1, dx, X, c, C, din);
  if (M > 0) with_labels(M, dx, fake + r0 * dx, c, C ? C + r0 * c : C, din + (N + r0) * w);
  for (int64_t b : {int64_t(0), N}) {
    forward_rows(nd, static_cast<const T*>(disc.theta), slope, 2 * N, b + r0, b + r1, din, Ad);
    if (M == 0) continue;
    // softplus(-y) on the real rows (target 1), softplus(y) on the fakes (target 0).
    std::fill(tgt + b + r0, tgt + b + r1, b == 0 ? T(1) : T(0));
    const T* y = nd.block(static_cast<const T*>(Ad), 2 * N, nd.L);
    bce_logits<T>(M, 1, y + b + r0, 1, tgt + b + r0, 1, scale, ld + b + r0, dY + b + r0, 1);
  }
  transpose_weights(nd, static_cast<const T*>(disc.theta), Wt);
  for (int64_t b : {int64_t(0), N})
    backward_rows(nd, static_cast<const T*>(Wt), slope, 2 * N, b + r0, b + r1, static_cast<const T*>(din),
                  static_cast<const T*>(Ad), static_cast<const T*>(dY), int64_t(1), DZd, static_cast<T*>(nullptr));
}

// Generator step: fresh noise (stream), gradients through the updated discriminator, up to this
// thread's rows of DZg.
template <class T>
void GanStepNarrow<T>::generator_rows(const RowBlock& rb, uint64_t stream, T* Wt) {
  const Net &ng = gen.net, &nd = disc.net;
  const int64_t r0 = rb.r0, r1 = rb.r1, M = rb.n();
  noise_rows(rb, stream);
  forward_rows(ng, static_cast<const T*>(gen.theta), slope, N, r0, r1, gin, Ag);
  const T* fake = ng.block(static_cast<const T*>(Ag), N, ng.L);
  with_labels_rows(r0, r1, dx, fake, c, C, din);
  forward_rows(nd, static_cast<const T*>(disc.theta), slope, N, r0, r1, din, Ad);
  if (M > 0) {
    std::fill(tgt + r0, tgt + r1, T(1));
    const T* y2 = nd.block(static_cast<const T*>(Ad), N, nd.L);
    bce_logits<T>(M, 1, y2 + r0, 1, tgt + r0, 1, scale, lg + r0, dY + r0, 1);
  }
  transpose_weights(nd, static_cast<const T*>(disc.theta), Wt);
  backward_rows(nd, static_cast<const T*>(Wt), slope, N, r0, r1, static_cast<const T*>(din),
                static_cast<const T*>(Ad), static_cast<const T*>(dY), int64_t(1), DZd, ddin);
  transpose_weights(ng, static_cast<const T*>(gen.theta), Wt);
  backward_rows(ng, static_cast<const T*>(Wt), slope, N, r0, r1, static_cast<const T*>(gin),
                static_cast<const T*>(Ag), static_cast<const T*>(ddin), w, DZg, static_cast<T*>(nullptr));
}

}  // namespace steps_detail

// The non-saturating GAN step (loss 0).
template <class T>
void gan_step_narrow(const Trainable<T>& gen, const Trainable<T>& disc, T slope, int64_t N, const T* X, int64_t c,
                     const T* C, bool update_gen, uint64_t seed, uint64_t stream, const OptSpec& od, const OptSpec& og,
                     double* out2) {
  fm::FlushDenormals ftz;
  const Net &ng = gen.net, &nd = disc.net;
  const int64_t q = ng.in() - c, dx = ng.out(), w = nd.in();  // w = dx + c
  thread_local std::vector<T> z_b, gin_b, Ag_b, DZg_b, din_b, Ad_b, DZd_b, tgt_b, dY_b, ddin_b, gd_b, gg_b;
  thread_local std::vector<double> ld_b, lg_b;
  // (braced initialisation: the buffers are grabbed in this order)
  steps_detail::GanStepNarrow<T> s{gen, disc, slope, N, X, c, C, seed, q, dx, w,
                                   grab(z_b, N * q), grab(gin_b, N * ng.in()), grab(Ag_b, N * ng.width),
                                   grab(DZg_b, N * ng.width), grab(din_b, 2 * N * w), grab(Ad_b, 2 * N * nd.width),
                                   grab(DZd_b, 2 * N * nd.width), grab(tgt_b, 2 * N), grab(dY_b, 2 * N),
                                   grab(ddin_b, N * w), grab(gd_b, nd.P), grab(gg_b, ng.P), grab(ld_b, 2 * N),
                                   grab(lg_b, N), static_cast<T>(1.0 / static_cast<double>(N))};

  static thread_local par::Clock clock;
  par::Region team(clock, static_cast<double>(N) * (ng.P + nd.P), row_blocks(N));
  team.team([&](int id, int nt) {
    thread_local std::vector<T> wt_b;
    T* Wt = grab(wt_b, std::max(ng.P, nd.P));
    const RowBlock rb = row_block(N, id, nt);
    s.discriminator_rows(rb, stream, Wt);
par::barrier();
    const GradJob<T> jd{&disc, &od, 2 * N, s.din, s.Ad, s.DZd, s.gd};
    grads_and_update(&jd, 1, id, nt);
    if (!update_gen) return;
par::barrier();  // the generator step reads the updated discriminator (and reuses din, Ad, DZd)
    s.generator_rows(rb, stream + 1, Wt);
par::barrier();
    const GradJob<T> jg{&gen, &og, N, s.gin, s.Ag, s.DZg, s.gg};
    grads_and_update(&jg, 1, id, nt);
  });
  out2[0] = mean(N, s.ld) + mean(N, s.ld + N);
  out2[1] = update_gen ? mean(N, s.lg) : 0.0;
}

}  // namespace fastgen::nn
