// MLP engine bindings (nn.hpp): every argument checked and named, in-place arrays checked
// writeable, the GIL released around the kernels, results built by the binding (never copied).
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "common/arrays.hpp"
#include "common/mlp/args.hpp"
#include "nn/nn.hpp"

namespace fastgen::bind {

void register_nn_penalty(py::module_& m);  // penalty_binding.cpp

namespace {

// ---- primitives -------------------------------------------------------------------------------

py::array mlp_forward(py::array theta, py::array sizes, py::array acts, double slope, py::array X) {
  const nn::Net net = net_in(sizes, acts, slope, "");
  return by_float_dtype(theta, "theta", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* th = in<T>(theta, "theta", {net.P});
    const T* x = in<T>(X, "X", {-1, net.in()});
    const int64_t N = X.shape(0);
    auto A = out<T>({N * net.width});
    T* a = ptr(A);
    {
      NoGil nogil;
      fm::FlushDenormals ftz;
      nn::forward(net, th, static_cast<T>(slope), N, x, a);
    }
    return A;
  });
}

py::array mlp_predict(py::array theta, py::array sizes, py::array acts, double slope, py::array X) {
  const nn::Net net = net_in(sizes, acts, slope, "");
  return by_float_dtype(theta, "theta", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* th = in<T>(theta, "theta", {net.P});
    const T* x = in<T>(X, "X", {-1, net.in()});
    const int64_t N = X.shape(0);
    auto Y = out<T>({N, net.out()});
    T* y = ptr(Y);
    {
      NoGil nogil;
      fm::FlushDenormals ftz;
      nn::predict(net, th, static_cast<T>(slope), N, x, y);
    }
    return Y;
  });
}

py::tuple mlp_backward(py::array theta, py::array sizes, py::array acts, double slope, py::array X, py::array A,
                       py::array dY, bool want_dx) {
  const nn::Net net = net_in(sizes, acts, slope, "");
  return by_float_dtype(theta, "theta", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* th = in<T>(theta, "theta", {net.P});
    const T* x = in<T>(X, "X", {-1, net.in()});
    const int64_t N = X.shape(0);
    const T* a = in<T>(A, "A", {N * net.width});
    const T* dy = in<T>(dY, "dY", {N, net.out()});
    auto G = out<T>({net.P});
    auto DX = want_dx ? out<T>({N, net.in()}) : out<T>({0});
    T *g = ptr(G), *dx = want_dx ? ptr(DX) : nullptr;
    {
      NoGil nogil;
      fm::FlushDenormals ftz;
      nn::backward(net, th, static_cast<T>(slope), N, x, a, dy, g, dx);
    }
    return py::make_tuple(G, DX);
  });
}

template <class T>
py::array_t<T> to_T(const std::vector<double>& v, int64_t N) {
  auto r = out<T>({N});
  T* p = ptr(r);
  for (int64_t n = 0; n < N; ++n) p[n] = static_cast<T>(v[n]);
  return r;
}

py::tuple bce_logits(py::array Z, py::array X, double scale) {
  return by_float_dtype(Z, "Z", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* z = in<T>(Z, "Z", {-1, -1});
    const int64_t N = Z.shape(0), D = Z.shape(1);
    const T* x = in<T>(X, "X", {N, D});
    auto dZ = out<T>({N, D});
    T* dz = ptr(dZ);
    std::vector<double> loss(static_cast<size_t>(N));
    {
      NoGil nogil;
      nn::bce_logits<T>(N, D, z, D, x, D, static_cast<T>(scale), loss.data(), dz, D);
    }
    return py::make_tuple(to_T<T>(loss, N), dZ);
  });
}

py::tuple gaussian_nll(py::array M, py::array S, py::array X, double scale) {
  return by_float_dtype(M, "M", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* m = in<T>(M, "M", {-1, -1});
    const int64_t N = M.shape(0), D = M.shape(1);
    const T* x = in<T>(X, "X", {N, D});
    const bool learned = S.ndim() == 2;
    const T* s = learned ? in<T>(S, "S", {N, D}) : in<T>(S, "S", {D});
    auto dM = out<T>({N, D});
    auto dS = learned ? out<T>({N, D}) : out<T>({0});
    T *dm = ptr(dM), *ds = learned ? ptr(dS) : nullptr;
    std::vector<double> loss(static_cast<size_t>(N));
    {
      NoGil nogil;
      nn::gaussian_nll<T>(N, D, m, D, s, learned ? D : 0, x, D, static_cast<T>(scale), loss.data(), dm, D, ds, D);
    }
    return py::make_tuple(to_T<T>(loss, N), dM, dS);
  });
}

py::tuple gaussian_kl_reparam(py::array H, uint64_t seed, uint64_t stream, double scale) {
  (void)scale;  // the forward values do not depend on it (the contract's signature keeps it)
  return by_float_dtype(H, "H", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* h = in<T>(H, "H", {-1, -1});
    const int64_t N = H.shape(0), K2 = H.shape(1);
    if (K2 % 2) throw std::invalid_argument("H: expected [mu | log_var] with an even width, got " + shape_str(H));
    const int64_t K = K2 / 2;
    auto Zs = out<T>({N, K});
    auto Eps = out<T>({N, K});
    T *zs = ptr(Zs), *eps = ptr(Eps);
    std::vector<double> kl(static_cast<size_t>(N));
    {
      NoGil nogil;
      nn::normals(rng::Stream(seed, stream), 0, N * K, eps);
      nn::kl_reparam<T>(N, K, h, K2, eps, zs, K, kl.data());
    }
    return py::make_tuple(Zs, Eps, to_T<T>(kl, N));
  });
}

py::array gaussian_kl_reparam_backward(py::array H, py::array Eps, py::array dZs, double kl_weight, double scale) {
  return by_float_dtype(H, "H", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* h = in<T>(H, "H", {-1, -1});
    const int64_t N = H.shape(0), K2 = H.shape(1);
    if (K2 % 2) throw std::invalid_argument("H: expected [mu | log_var] with an even width, got " + shape_str(H));
    const int64_t K = K2 / 2;
    const T* eps = in<T>(Eps, "eps", {N, K});
    const T* dz = in<T>(dZs, "dZs", {N, K});
    auto dH = out<T>({N, K2});
    T* dh = ptr(dH);
    {
      NoGil nogil;
      nn::kl_reparam_backward<T>(N, K, h, K2, eps, dz, K, static_cast<T>(kl_weight), static_cast<T>(scale), dh);
    }
    return dH;
  });
}

void adam_update(py::array theta, py::array grad, py::array m, py::array v, int64_t t, double lr, double beta1,
                 double beta2, double eps, double weight_decay) {
  if (t < 1) throw std::invalid_argument("t: step number must be >= 1, got " + std::to_string(t));
  check_adam_hp(lr, beta1, beta2, eps, weight_decay, "");
  by_float_dtype(theta, "theta", [&](auto tag) {
    using T = decltype(tag);
    in<T>(theta, "theta", {-1});
    const int64_t P = theta.shape(0);
    T* th = inout<T>(theta, "theta", {P});
    const T* g = in<T>(grad, "grad", {P});
    T* mm = inout<T>(m, "m", {P});
    T* vv = inout<T>(v, "v", {P});
    NoGil nogil(false);  // updates parameters in place: never stops half-way (Ctrl-C waits for the step)
    nn::adam_update(P, th, g, mm, vv, t, lr, beta1, beta2, eps, weight_decay);
    return 0;
  });
}

void sgd_update(py::array theta, py::array grad, py::array velocity, double lr, double momentum, double weight_decay,
                bool nesterov) {
  check_sgd_hp(lr, momentum, weight_decay, "");
  by_float_dtype(theta, "theta", [&](auto tag) {
    using T = decltype(tag);
    in<T>(theta, "theta", {-1});
    const int64_t P = theta.shape(0);
    T* th = inout<T>(theta, "theta", {P});
    const T* g = in<T>(grad, "grad", {P});
    T* vel = inout<T>(velocity, "velocity", {P});
    NoGil nogil(false);  // updates parameters in place: never stops half-way (Ctrl-C waits for the step)
    nn::sgd_update(P, th, g, vel, lr, momentum, weight_decay, nesterov);
    return 0;
  });
}

// ---- row assembly and the importance-weighted bound (nn/batches.hpp) -------------------------------

py::array take_rows(py::array A, py::array rows) {
  const int64_t* rw = in<int64_t>(rows, "rows", {-1});
  const int64_t M = rows.shape(0);
  return by_float_dtype(A, "A", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* a = in<T>(A, "A", {-1, -1});
    const int64_t N = A.shape(0), d = A.shape(1);
    for (int64_t r = 0; r < M; ++r)
      if (rw[r] < 0 || rw[r] >= N)
        throw std::invalid_argument("rows: index " + std::to_string(rw[r]) + " at position " + std::to_string(r) +
                                    " outside [0, " + std::to_string(N) + ")");
    auto O = out<T>({M, d});
    T* o = ptr(O);
    {
      NoGil nogil;
      nn::take_rows(M, d, a, rw, o);
    }
    return O;
  });
}

py::array repeat_join(py::array A, py::object B, int64_t ka, int64_t kb) {
  if (ka < 1 || kb < 1)
    throw std::invalid_argument("ka, kb: repeat counts must be >= 1, got " + std::to_string(ka) + ", " +
                                std::to_string(kb));
  return by_float_dtype(A, "A", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* a = in<T>(A, "A", {-1, -1});
    const int64_t Na = A.shape(0), wa = A.shape(1), M = Na * ka;
    const T* b = nullptr;
    int64_t wb = 0;
    if (!B.is_none()) {
      if (!py::isinstance<py::array>(B)) throw py::type_error("B: expected a numpy array or None");
      const py::array Barr = py::reinterpret_borrow<py::array>(B);
      b = in<T>(Barr, "B", {-1, -1});
      wb = Barr.shape(1);
      if (Barr.shape(0) * kb != M)
        throw std::invalid_argument("B: needs " + std::to_string(M) + " / kb = " + std::to_string(M / kb) +
                                    " rows (A's " + std::to_string(Na) + " rows x ka = " + std::to_string(ka) +
                                    ", kb = " + std::to_string(kb) + "), got " + shape_str(Barr));
    }
    auto O = out<T>({M, wa + wb});
    T* o = ptr(O);
    {
      NoGil nogil;
      nn::repeat_join(M, wa, a, ka, wb, b, kb, o);
    }
    return O;
  });
}

py::array iwae_bound(py::array nll, py::array H, py::array Zs, py::array Eps, int64_t k) {
  if (k < 1) throw std::invalid_argument("k: draws per row must be >= 1, got " + std::to_string(k));
  return by_float_dtype(H, "H", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* h = in<T>(H, "H", {-1, -1});
    const int64_t N = H.shape(0), K2 = H.shape(1);
    if (K2 % 2 || K2 == 0)
      throw std::invalid_argument("H: expected [mu | log_var] with an even, nonzero width, got " + shape_str(H));
    const int64_t K = K2 / 2, M = N * k;
    const T* l = in<T>(nll, "nll", {M});
    const T* z = in<T>(Zs, "Zs", {M, K});
    const T* e = in<T>(Eps, "eps", {M, K});
    auto O = out<double>({N});
    double* o = ptr(O);
    {
      NoGil nogil;
      nn::iwae_bound(N, K, k, l, h, z, e, o);
    }
    return O;
  });
}

// ---- training steps ---------------------------------------------------------------------------

py::array mlp_step(py::array theta, py::array m, py::array v, py::array sizes, py::array acts, double slope,
                   py::array X, py::array Y, int loss, int64_t t, int optimizer, py::array hp) {
  const nn::Net net = net_in(sizes, acts, slope, "");
  const nn::OptSpec o = opt_in(optimizer, hp, t, "hp", "t");
  if (loss != 0 && loss != 1)
    throw std::invalid_argument("loss: expected 0 (squared error) or 1 (bce on logits), got " + std::to_string(loss));
  return by_float_dtype(theta, "theta", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto tr = trainable<T>(net, theta, m, v, optimizer, "");
    const T* x = in<T>(X, "X", {-1, net.in()});
    const int64_t N = X.shape(0);
    check_rows(N, "X");
    const T* y = in<T>(Y, "Y", {N, net.out()});
    auto R = out<double>({1});
    double* r = ptr(R);
    {
      NoGil nogil(false);  // updates parameters in place: never stops half-way (Ctrl-C waits for the step)
      r[0] = nn::mlp_step(tr, static_cast<T>(slope), N, x, y, loss, o);
    }
    return R;
  });
}

py::array vae_step(py::array theta_e, py::array m_e, py::array v_e, py::array sizes_e, py::array acts_e,
                   py::array theta_d, py::array m_d, py::array v_d, py::array sizes_d, py::array acts_d, double slope,
                   py::array X, py::object C, int likelihood, py::object obs_log_var, double kl_weight, uint64_t seed,
                   uint64_t stream, int64_t t, int optimizer, py::array hp) {
  const nn::Net ne = net_in(sizes_e, acts_e, slope, "_e"), nd = net_in(sizes_d, acts_d, slope, "_d");
  const nn::OptSpec o = opt_in(optimizer, hp, t, "hp", "t");
  if (likelihood < 0 || likelihood > 2)
    throw std::invalid_argument("likelihood: expected 0 (Bernoulli), 1 (Gaussian, fixed variance) or 2 (Gaussian, "
                                "learned variance), got " + std::to_string(likelihood));
  if (!std::isfinite(kl_weight)) throw std::invalid_argument("kl_weight: must be finite, got " + num(kl_weight));
  if (ne.out() % 2)
    throw std::invalid_argument("sizes_e: the encoder's output must be [mu | log_var] (even width), got " +
                                std::to_string(ne.out()));
  return by_float_dtype(theta_e, "theta_e", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto enc = trainable<T>(ne, theta_e, m_e, v_e, optimizer, "_e");
    const auto dec = trainable<T>(nd, theta_d, m_d, v_d, optimizer, "_d");
    const T* x = in<T>(X, "X", {-1, -1});
    const int64_t N = X.shape(0), D = X.shape(1);
    check_rows(N, "X");
    const T* c_data;
    const int64_t c = labels_in<T>(C, N, &c_data);
    const int64_t K = ne.out() / 2;
    if (ne.in() != D + c)
      throw std::invalid_argument("sizes_e: the encoder's input width must be n_features + n_labels = " +
                                  std::to_string(D + c) + ", got " + std::to_string(ne.in()));
    if (nd.in() != K + c)
      throw std::invalid_argument("sizes_d: the decoder's input width must be latent + n_labels = " +
                                  std::to_string(K + c) + ", got " + std::to_string(nd.in()));
    const int64_t want = likelihood == 2 ? 2 * D : D;
    if (nd.out() != want)
      throw std::invalid_argument("sizes_d: the decoder's output width must be " + std::to_string(want) +
                                  " for likelihood " + std::to_string(likelihood) + ", got " +
                                  std::to_string(nd.out()));
    const T* olv = nullptr;
    if (likelihood == 1) {
      if (obs_log_var.is_none() || !py::isinstance<py::array>(obs_log_var))
        throw py::type_error("obs_log_var: likelihood 1 needs the per-feature log-variances, a numpy array");
      olv = in<T>(py::reinterpret_borrow<py::array>(obs_log_var), "obs_log_var", {D});
    }
    auto R = out<double>({3});
    double* r = ptr(R);
    {
      NoGil nogil(false);  // updates parameters in place: never stops half-way (Ctrl-C waits for the step)
      nn::vae_step(enc, dec, static_cast<T>(slope), N, D, x, c, c_data, likelihood, olv, kl_weight, seed, stream, o,
                   r);
    }
    return R;
  });
}

py::array gan_step(py::array theta_g, py::array m_g, py::array v_g, py::array sizes_g, py::array acts_g,
                   py::array theta_d, py::array m_d, py::array v_d, py::array sizes_d, py::array acts_d, double slope,
                   py::array X, py::object C, int loss, double gp_weight, bool update_gen, uint64_t seed,
                   uint64_t stream, int64_t t_d, int64_t t_g, int optimizer, py::array hp_d, py::array hp_g) {
  const nn::Net ng = net_in(sizes_g, acts_g, slope, "_g"), nd = net_in(sizes_d, acts_d, slope, "_d");
  const nn::OptSpec od = opt_in(optimizer, hp_d, t_d, "hp_d", "t_d");
  const nn::OptSpec og = opt_in(optimizer, hp_g, update_gen ? t_g : 1, "hp_g", "t_g");
  if (loss != 0 && loss != 1)
    throw std::invalid_argument("loss: expected 0 (non-saturating) or 1 (WGAN-GP), got " + std::to_string(loss));
  if (!std::isfinite(gp_weight)) throw std::invalid_argument("gp_weight: must be finite, got " + num(gp_weight));
  if (nd.out() != 1)
    throw std::invalid_argument("sizes_d: the discriminator's output width must be 1, got " +
                                std::to_string(nd.out()));
  return by_float_dtype(theta_g, "theta_g", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto gen = trainable<T>(ng, theta_g, m_g, v_g, optimizer, "_g");
    const auto disc = trainable<T>(nd, theta_d, m_d, v_d, optimizer, "_d");
    const T* x = in<T>(X, "X", {-1, ng.out()});
    const int64_t N = X.shape(0);
    check_rows(N, "X");
    const T* c_data;
    const int64_t c = labels_in<T>(C, N, &c_data);
    if (ng.in() <= c)
      throw std::invalid_argument("sizes_g: the generator's input width must exceed n_labels = " + std::to_string(c) +
                                  " (noise dimension >= 1), got " + std::to_string(ng.in()));
    if (nd.in() != ng.out() + c)
      throw std::invalid_argument("sizes_d: the discriminator's input width must be n_features + n_labels = " +
                                  std::to_string(ng.out() + c) + ", got " + std::to_string(nd.in()));
    auto R = out<double>({2});
    double* r = ptr(R);
    {
      NoGil nogil(false);  // updates parameters in place: never stops half-way (Ctrl-C waits for the step)
      nn::gan_step(gen, disc, static_cast<T>(slope), N, x, c, c_data, loss, gp_weight, update_gen, seed, stream, od,
                   og, r);
    }
    return R;
  });
}

}  // namespace

void register_nn(py::module_& m) {
  register_nn_penalty(m);
  using py::arg;
  m.def("mlp_forward", &mlp_forward, arg("theta"), arg("sizes"), arg("acts"), arg("slope"), arg("X"),
        "Every layer's activations, stacked: T[N * (d_1 + ... + d_L)] (KERNELS.md, Neural networks).");
  m.def("mlp_predict", &mlp_predict, arg("theta"), arg("sizes"), arg("acts"), arg("slope"), arg("X"),
        "The network's output T[N, d_L].");
  m.def("mlp_backward", &mlp_backward, arg("theta"), arg("sizes"), arg("acts"), arg("slope"), arg("X"), arg("A"),
        arg("dY"), arg("want_dx"), "(grad T[P], dX T[N, d_0] or T[0]) from dY = dLoss/da_L.");
  m.def("bce_logits", &bce_logits, arg("Z"), arg("X"), arg("scale"), "(loss T[N], dZ) of Bernoulli logits.");
  m.def("gaussian_nll", &gaussian_nll, arg("M"), arg("S"), arg("X"), arg("scale"),
        "(loss T[N], dM, dS) of a Gaussian with log-variances S ([N, D] learned, [D] fixed: dS empty).");
  m.def("gaussian_kl_reparam", &gaussian_kl_reparam, arg("H"), arg("seed"), arg("stream"), arg("scale"),
        "(Zs, eps, kl T[N]) from H = [mu | log_var].");
  m.def("gaussian_kl_reparam_backward", &gaussian_kl_reparam_backward, arg("H"), arg("eps"), arg("dZs"),
        arg("kl_weight"), arg("scale"), "dH = [dmu | dlv].");
  m.def("adam_update", &adam_update, arg("theta"), arg("grad"), arg("m"), arg("v"), arg("t"), arg("lr"),
        arg("beta1"), arg("beta2"), arg("eps"), arg("weight_decay"), "Adam step t (torch.optim.Adam), in place.");
  m.def("sgd_update", &sgd_update, arg("theta"), arg("grad"), arg("velocity"), arg("lr"), arg("momentum"),
        arg("weight_decay"), arg("nesterov"), "SGD with momentum (torch.optim.SGD, dampening 0), in place.");
  m.def("take_rows", &take_rows, arg("A"), arg("rows"), "A[rows]: T[M, d] (rows int64[M] in [0, N)).");
  m.def("repeat_join", &repeat_join, arg("A"), arg("B"), arg("ka"), arg("kb"),
        "Row r = [A[r // ka] | B[r // kb]] (B None: no columns): T[N_A ka, a + b].");
  m.def("iwae_bound", &iwae_bound, arg("nll"), arg("H"), arg("Zs"), arg("eps"), arg("k"),
        "Importance-weighted bound float64[N] of N rows from k draws each (KERNELS.md, Neural networks).");
  m.def("mlp_step", &mlp_step, arg("theta"), arg("m"), arg("v"), arg("sizes"), arg("acts"), arg("slope"), arg("X"),
        arg("Y"), arg("loss"), arg("t"), arg("optimizer"), arg("hp"),
        "One supervised training step in place; float64[1] batch-mean loss before the update.");
  m.def("vae_step", &vae_step, arg("theta_e"), arg("m_e"), arg("v_e"), arg("sizes_e"), arg("acts_e"), arg("theta_d"),
        arg("m_d"), arg("v_d"), arg("sizes_d"), arg("acts_d"), arg("slope"), arg("X"), arg("C"), arg("likelihood"),
        arg("obs_log_var"), arg("kl_weight"), arg("seed"), arg("stream"), arg("t"), arg("optimizer"), arg("hp"),
        "One VAE training step in place; float64[3] (loss, reconstruction, kl) before the update.");
  m.def("gan_step", &gan_step, arg("theta_g"), arg("m_g"), arg("v_g"), arg("sizes_g"), arg("acts_g"), arg("theta_d"),
        arg("m_d"), arg("v_d"), arg("sizes_d"), arg("acts_d"), arg("slope"), arg("X"), arg("C"), arg("loss"),
        arg("gp_weight"), arg("update_gen"), arg("seed"), arg("stream"), arg("t_d"), arg("t_g"), arg("optimizer"),
        arg("hp_d"), arg("hp_g"), "One GAN training step in place; float64[2] (d_loss, g_loss) before the updates.");
}

}  // namespace fastgen::bind
