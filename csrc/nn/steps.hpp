// Fused training steps (contract: csrc/KERNELS.md, "Neural networks"): one call = forward,
// loss, backward and optimiser update of one or two networks, with no Python between layers.
// Narrow networks (every width <= kNarrowWidth) go to the row-parallel steps of
// nn/steps_narrow.hpp (same results); the code here runs wide ones layer by layer, each product
// split among the threads by output tiles, and the WGAN-GP step.
// Scratch is thread-local and grow-only (a step runs thousands of times; after the first call it
// allocates nothing). All reductions are per row or per column in a fixed order, products use the
// shared GEMM: results are identical on 1 and 2 threads.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/fastmath.hpp"
#include "common/rng.hpp"
#include "common/mlp/layers.hpp"
#include "common/mlp/losses.hpp"
#include "common/mlp/optim.hpp"
#include "nn/penalty.hpp"
#include "nn/steps_narrow.hpp"
#include "common/mlp/train.hpp"

namespace fastgen::nn {

// Supervised step (autoencoder): loss 0 squared error (0.5 sum_d (y - a)^2), 1 bce on logits;
// returns the batch-mean loss before the update.
template <class T>
double mlp_step(const Trainable<T>& tr, T slope, int64_t N, const T* X, const T* Y, int loss, const OptSpec& o) {
  if (narrow(tr.net)) return mlp_step_narrow(tr, slope, N, X, Y, loss, o);
  fm::FlushDenormals ftz;
  const Net& net = tr.net;
  thread_local std::vector<T> A_buf, dY_buf, g_buf;
  thread_local std::vector<double> l_buf;
  T* A = grab(A_buf, N * net.width);
  T* dY = grab(dY_buf, N * net.out());
  T* grad = grab(g_buf, net.P);
  double* lr = grab(l_buf, N);
  forward(net, tr.theta, slope, N, X, A);
  const T* out = net.block(A, N, net.L);
  const T scale = static_cast<T>(1.0 / static_cast<double>(N));
  if (loss == 0)
    squared_error<T>(N, net.out(), out, Y, scale, lr, dY);
  else
    bce_logits<T>(N, net.out(), out, net.out(), Y, net.out(), scale, lr, dY, net.out());
  backward(net, tr.theta, slope, N, X, A, dY, grad, static_cast<T*>(nullptr));
  apply_update(tr, o, grad);
  return mean(N, lr);
}

// VAE step; writes (loss, reconstruction, kl) batch means before the update to out3.
// likelihood 0 Bernoulli (decoder gives D logits), 1 Gaussian with fixed log-variances
// obs_log_var [D], 2 Gaussian with learned variances (decoder gives [mean | log-var], 2D).
template <class T>
void vae_step(const Trainable<T>& enc, const Trainable<T>& dec, T slope, int64_t N, int64_t D, const T* X, int64_t c,
              const T* C, int likelihood, const T* obs_log_var, double kl_weight, uint64_t seed, uint64_t stream,
              const OptSpec& o, double* out3) {
  if (narrow(enc.net) && narrow(dec.net))
    return vae_step_narrow(enc, dec, slope, N, D, X, c, C, likelihood, obs_log_var, kl_weight, seed, stream, o, out3);
  fm::FlushDenormals ftz;
  const Net &ne = enc.net, &nd = dec.net;
  const int64_t K = ne.out() / 2, de = ne.in(), dd = nd.in();
  thread_local std::vector<T> ein_b, Ae_b, eps_b, din_b, Ad_b, dout_b, ddin_b, dH_b, ge_b, gd_b;
  thread_local std::vector<double> rec_b, kl_b;
  T* ein = grab(ein_b, N * de);
  T* Ae = grab(Ae_b, N * ne.width);
  T* eps = grab(eps_b, N * K);
  T* din = grab(din_b, N * dd);
  T* Ad = grab(Ad_b, N * nd.width);
  T* dout = grab(dout_b, N * nd.out());
  T* ddin = grab(ddin_b, N * dd);
  T* dH = grab(dH_b, N * 2 * K);
  T* ge = grab(ge_b, ne.P);
  T* gd = grab(gd_b, nd.P);
  double* rec = grab(rec_b, N);
  double* kl = grab(kl_b, N);

  const T* e_in = X;
  if (c) {
    with_labels(N, D, X, c, C, ein);
    e_in = ein;
  }
  forward(ne, enc.theta, slope, N, e_in, Ae);
  const T* H = ne.block(static_cast<const T*>(Ae), N, ne.L);
  normals(rng::Stream(seed, stream), 0, N * K, eps);
  // Zs straight into the decoder's input rows [Zs | C].
  kl_reparam<T>(N, K, H, 2 * K, eps, din, dd, kl);
  if (c)
    for (int64_t n = 0; n < N; ++n) std::memcpy(din + n * dd + K, C + n * c, sizeof(T) * c);
  forward(nd, dec.theta, slope, N, din, Ad);
  const T* Y = nd.block(static_cast<const T*>(Ad), N, nd.L);
  const T scale = static_cast<T>(1.0 / static_cast<double>(N));
  if (likelihood == 0)
    bce_logits<T>(N, D, Y, D, X, D, scale, rec, dout, D);
  else if (likelihood == 1)
    gaussian_nll<T>(N, D, Y, D, obs_log_var, 0, X, D, scale, rec, dout, D, static_cast<T*>(nullptr), 0);
  else
    gaussian_nll<T>(N, D, Y, 2 * D, Y + D, 2 * D, X, D, scale, rec, dout, 2 * D, dout + D, 2 * D);
  backward(nd, dec.theta, slope, N, din, Ad, dout, gd, ddin);
  kl_reparam_backward<T>(N, K, H, 2 * K, eps, ddin, dd, static_cast<T>(kl_weight), scale, dH);
  backward(ne, enc.theta, slope, N, e_in, Ae, dH, ge, static_cast<T*>(nullptr));
  apply_update(enc, o, ge);
  apply_update(dec, o, gd);
  const double r = mean(N, rec), k = mean(N, kl);
  out3[0] = r + kl_weight * k;
  out3[1] = r;
  out3[2] = k;
}

namespace steps_detail {

// The layer-by-layer GAN step: its networks, inputs and scratch (grow-only, thread-local), one
// method per stage. fake points into Ag (the generator's output block), rewritten by each stage's
// generator forward.
template <class T>
struct GanStepWide {
  const Trainable<T>& gen;
  const Trainable<T>& disc;
  T slope;
  int64_t N;
  const T* X;
  int64_t c;
  const T* C;
  uint64_t seed;
  int64_t q, dx, w;  // w = dx + c
  T *gin, *Ag, *din, *Ad, *dY, *gd;
  double* lrow;
  T scale;
  const T* fake = nullptr;
  T* gg = nullptr;

  void noise_in(uint64_t s);
  double discriminator_step(int loss, double gp_weight, uint64_t stream);
  double critic_wgan(const T* y, double gp_weight, uint64_t stream);
  double add_penalty(double gp_weight, uint64_t stream);
  double generator_step(int loss, uint64_t stream);
};

// Generator input [Z | C] with Z = normals (index n q + j) of stream s.
template <class T>
void GanStepWide<T>::noise_in(uint64_t s) {
  thread_local std::vector<T> z_b;
  T* z = grab(z_b, N * q);
  normals(rng::Stream(seed, s), 0, N * q, z);
  with_labels(N, q, z, c, C, gin);
}

// Discriminator: one pass over [real; fake] (2N rows), the fakes constants here; its gradient
// into gd. Returns d_loss.
template <class T>
double GanStepWide<T>::discriminator_step(int loss, double gp_weight, uint64_t stream) {
  const Net &ng = gen.net, &nd = disc.net;
  noise_in(stream);
  forward(ng, gen.theta, slope, N, gin, Ag);
  fake = ng.block(static_cast<const T*>(Ag), N, ng.L);
  with_labels(N, dx, X, c, C, din);
  with_labels(N, dx, fake, c, C, din + N * w);
  forward(nd, disc.theta, slope, 2 * N, din, Ad);
  const T* y = nd.block(static_cast<const T*>(Ad), 2 * N, nd.L);
  if (loss != 0) return critic_wgan(y, gp_weight, stream);
  // softplus(-y) on the real rows (target 1), softplus(y) on the fakes (target 0).
  thread_local std::vector<T> tgt_b;
  T* tgt = grab(tgt_b, 2 * N);
  std::fill(tgt, tgt + N, T(1));
  std::fill(tgt + N, tgt + 2 * N, T(0));
  bce_logits<T>(2 * N, 1, y, 1, tgt, 1, scale, lrow, dY, 1);
  const double d_loss = mean(N, lrow) + mean(N, lrow + N);
  backward(nd, disc.theta, slope, 2 * N, din, Ad, dY, gd, static_cast<T*>(nullptr));
  return d_loss;
}

// WGAN-GP critic: mean score of the fakes minus that of the reals, plus the penalty.
template <class T>
double GanStepWide<T>::critic_wgan(const T* y, double gp_weight, uint64_t stream) {
  const Net& nd = disc.net;
  double sr = 0, sf = 0;
  for (int64_t n = 0; n < N; ++n) sr += static_cast<double>(y[n]);
  for (int64_t n = 0; n < N; ++n) sf += static_cast<double>(y[N + n]);
  std::fill(dY, dY + N, -scale);
  std::fill(dY + N, dY + 2 * N, scale);
  backward(nd, disc.theta, slope, 2 * N, din, Ad, dY, gd, static_cast<T*>(nullptr));
  const double sg = add_penalty(gp_weight, stream);
  const double dn = static_cast<double>(N);
  return sf / dn - sr / dn + gp_weight * (sg / dn);
}

// Penalty at x_hat = e X + (1 - e) fake, e_n = uniform n of stream + 2; its gradient joins gd.
// Returns sum_n gp_n.
template <class T>
double GanStepWide<T>::add_penalty(double gp_weight, uint64_t stream) {
  const Net& nd = disc.net;
  thread_local std::vector<T> hat_b, Ah_b, gp_b, ggp_b;
  T* hat = grab(hat_b, N * w);
  T* Ah = grab(Ah_b, N * nd.width);
  T* gp = grab(gp_b, N);
  T* ggp = grab(ggp_b, nd.P);
  const rng::Stream ru(seed, stream + 2);
  for (int64_t n = 0; n < N; ++n) {
    const T e = static_cast<T>(ru.uniform(static_cast<uint64_t>(n)));
    T* h = hat + n * w;
    const T *xr = X + n * dx, *fr = fake + n * dx;
    for (int64_t j = 0; j < dx; ++j) h[j] = e * xr[j] + (T(1) - e) * fr[j];
    if (c) std::memcpy(h + dx, C + n * c, sizeof(T) * c);
  }
  forward(nd, disc.theta, slope, N, hat, Ah);
  mlp_penalty_backward<T>(nd.L, nd.d, nd.act, slope, disc.theta, N, hat, Ah, gp_weight, gp, ggp);
  double sg = 0;
  for (int64_t n = 0; n < N; ++n) sg += static_cast<double>(gp[n]);
  for (int64_t i = 0; i < nd.P; ++i) gd[i] += ggp[i];
  return sg;
}

// Generator: fresh noise (stream), gradients through the (updated) discriminator into gg.
// Returns g_loss.
template <class T>
double GanStepWide<T>::generator_step(int loss, uint64_t stream) {
  const Net &ng = gen.net, &nd = disc.net;
  thread_local std::vector<T> gg_b, ddin_b, dfake_b;
  gg = grab(gg_b, ng.P);
  T* ddin = grab(ddin_b, N * w);
  T* dfake = grab(dfake_b, N * dx);
  noise_in(stream);
  forward(ng, gen.theta, slope, N, gin, Ag);
  with_labels(N, dx, fake, c, C, din);
  forward(nd, disc.theta, slope, N, din, Ad);
  const T* y2 = nd.block(static_cast<const T*>(Ad), N, nd.L);
  double g_loss;
  if (loss == 0) {
    thread_local std::vector<T> one_b;
    T* ones = grab(one_b, N);
    std::fill(ones, ones + N, T(1));
    bce_logits<T>(N, 1, y2, 1, ones, 1, scale, lrow, dY, 1);
    g_loss = mean(N, lrow);
  } else {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) s += static_cast<double>(y2[n]);
    g_loss = -s / static_cast<double>(N);
    std::fill(dY, dY + N, -scale);
  }
  backward(nd, disc.theta, slope, N, din, Ad, dY, static_cast<T*>(nullptr), ddin);
  for (int64_t n = 0; n < N; ++n) std::memcpy(dfake + n * dx, ddin + n * w, sizeof(T) * dx);
  backward(ng, gen.theta, slope, N, gin, Ag, dfake, gg, static_cast<T*>(nullptr));
  return g_loss;
}

}  // namespace steps_detail

// GAN step: discriminator update, then (update_gen) generator update through the updated
// discriminator. loss 0 non-saturating, 1 WGAN-GP. Writes (d_loss, g_loss) to out2.
template <class T>
void gan_step(const Trainable<T>& gen, const Trainable<T>& disc, T slope, int64_t N, const T* X, int64_t c,
              const T* C, int loss, double gp_weight, bool update_gen, uint64_t seed, uint64_t stream,
              const OptSpec& od, const OptSpec& og, double* out2) {
  if (loss == 0 && narrow(gen.net) && narrow(disc.net))
    return gan_step_narrow(gen, disc, slope, N, X, c, C, update_gen, seed, stream, od, og, out2);
  fm::FlushDenormals ftz;
  const Net &ng = gen.net, &nd = disc.net;
  const int64_t q = ng.in() - c, dx = ng.out(), w = nd.in();  // w = dx + c
  thread_local std::vector<T> gin_b, Ag_b, din_b, Ad_b, dY_b, gd_b;
  thread_local std::vector<double> l_b;
  // (braced initialisation: the buffers are grabbed in this order)
  steps_detail::GanStepWide<T> s{gen, disc, slope, N, X, c, C, seed, q, dx, w,
                                 grab(gin_b, N * ng.in()), grab(Ag_b, N * ng.width), grab(din_b, 2 * N * w),
                                 grab(Ad_b, 2 * N * nd.width), grab(dY_b, 2 * N), grab(gd_b, nd.P), grab(l_b, 2 * N),
                                 static_cast<T>(1.0 / static_cast<double>(N))};
  const double d_loss = s.discriminator_step(loss, gp_weight, stream);
  apply_update(disc, od, s.gd);
  out2[0] = d_loss;
  out2[1] = 0.0;
  if (!update_gen) return;
  // Generator: fresh noise (stream + 1), gradients through the updated discriminator.
  const double g_loss = s.generator_step(loss, stream + 1);
  apply_update(gen, og, s.gg);
  out2[1] = g_loss;
}

}  // namespace fastgen::nn
