// RBM bindings: shapes and arguments checked and named, GIL released around the kernels.
#include <cmath>
#include <string>

#include "common/arrays.hpp"
#include "rbm/rbm.hpp"
#include "rbm/step.hpp"

namespace fastgen::bind {

// The model arrays: W [H, V] fixes H and V; sigma is (0,) for Bernoulli or (V,) for Gaussian visibles.
template <class T>
static rbm::Model<T> model_in(const py::array& W, const py::array* b_h, const py::array* b_v, const py::array* sigma) {
  const T* w = in<T>(W, "W", {-1, -1});
  const int64_t H = W.shape(0), V = W.shape(1);
  if (H < 1 || V < 1)
    throw std::invalid_argument("W: need at least one hidden and one visible unit, got shape " + shape_str(W));
  rbm::Model<T> m{H, V, w, nullptr, nullptr, nullptr};
  if (b_h) m.b_h = in<T>(*b_h, "b_h", {H});
  if (b_v) m.b_v = in<T>(*b_v, "b_v", {V});
  if (sigma) {
    const T* s = in<T>(*sigma, "sigma", {-1});
    if (sigma->shape(0) != 0 && sigma->shape(0) != V)
      throw std::invalid_argument("sigma: expected shape (0,) (Bernoulli visibles) or (" + std::to_string(V) +
                                  ",) (Gaussian visibles), got " + shape_str(*sigma));
    if (sigma->shape(0) == V) {
      for (int64_t i = 0; i < V; ++i)
        if (!(s[i] > 0) || !std::isfinite(static_cast<double>(s[i])))
          throw std::invalid_argument("sigma: standard deviations must be positive and finite, got " +
                                      std::to_string(static_cast<double>(s[i])) + " at index " + std::to_string(i));
      m.sigma = s;
    }
  }
  return m;
}

template <class T>
static T* inout(py::array& a, const char* name, std::initializer_list<int64_t> shape) {
  in<T>(a, name, shape);
  if (!a.writeable()) throw std::invalid_argument(std::string(name) + ": must be a writeable array (updated in place)");
  return static_cast<T*>(a.mutable_data());
}

static void check_steps(int64_t n_steps) {
  if (n_steps < 1) throw std::invalid_argument("n_steps: must be >= 1, got " + std::to_string(n_steps));
}

static py::array hidden_probs(py::array V, py::array W, py::array b_h, py::array sigma) {
  return by_float_dtype(W, "W", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto m = model_in<T>(W, &b_h, nullptr, &sigma);
    const T* x = in<T>(V, "V", {-1, m.V});
    const int64_t N = V.shape(0);
    auto P = out<T>({N, m.H});
    T* p = ptr(P);
    {
      NoGil nogil;
      rbm::hidden_probs(m, N, x, p);
    }
    return P;
  });
}

static py::array visible_means(py::array Hs, py::array W, py::array b_v, py::array sigma) {
  return by_float_dtype(W, "W", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto m = model_in<T>(W, nullptr, &b_v, &sigma);
    const T* h = in<T>(Hs, "Hs", {-1, m.H});
    const int64_t N = Hs.shape(0);
    auto R = out<T>({N, m.V});
    T* r = ptr(R);
    {
      NoGil nogil;
      rbm::visible_means(m, N, h, r);
    }
    return R;
  });
}

static py::tuple sample_hiddens(py::array V, py::array W, py::array b_h, py::array sigma, uint64_t seed,
                                uint64_t stream) {
  return by_float_dtype(W, "W", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const auto m = model_in<T>(W, &b_h, nullptr, &sigma);
    const T* x = in<T>(V, "V", {-1, m.V});
    const int64_t N = V.shape(0);
    auto P = out<T>({N, m.H});
    auto S = out<T>({N, m.H});
    T *p = ptr(P), *s = ptr(S);
    {
      NoGil nogil;
      rbm::sample_hiddens(m, N, x, seed, stream, p, s);
    }
    return py::make_tuple(P, S);
  });
}

static py::array sample_visibles(py::array Hs, py::array W, py::array b_v, py::array sigma, uint64_t seed,
                                 uint64_t stream) {
  return by_float_dtype(W, "W", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto m = model_in<T>(W, nullptr, &b_v, &sigma);
    const T* h = in<T>(Hs, "Hs", {-1, m.H});
    const int64_t N = Hs.shape(0);
    auto R = out<T>({N, m.V});
    T* r = ptr(R);
    {
      NoGil nogil;
      rbm::sample_visibles(m, N, h, seed, stream, r);
    }
    return R;
  });
}

static py::tuple gibbs_vhv(py::array V0, py::array W, py::array b_h, py::array b_v, py::array sigma,
                           int64_t n_steps, uint64_t seed, uint64_t stream) {
  return by_float_dtype(W, "W", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const auto m = model_in<T>(W, &b_h, &b_v, &sigma);
    const T* v0 = in<T>(V0, "V0", {-1, m.V});
    check_steps(n_steps);
    const int64_t C = V0.shape(0);
    auto Vo = out<T>({C, m.V});
    auto S = out<T>({C, m.H});
    T *vo = ptr(Vo), *s = ptr(S);
    {
      NoGil nogil;
      rbm::gibbs_vhv(m, C, v0, n_steps, seed, stream, vo, s);
    }
    return py::make_tuple(Vo, S);
  });
}

static py::tuple gibbs_hvh(py::array H0, py::array W, py::array b_h, py::array b_v, py::array sigma,
                           int64_t n_steps, uint64_t seed, uint64_t stream) {
  return by_float_dtype(W, "W", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const auto m = model_in<T>(W, &b_h, &b_v, &sigma);
    const T* h0 = in<T>(H0, "H0", {-1, m.H});
    check_steps(n_steps);
    const int64_t C = H0.shape(0);
    auto Vo = out<T>({C, m.V});
    auto P = out<T>({C, m.H});
    auto S = out<T>({C, m.H});
    T *vo = ptr(Vo), *p = ptr(P), *s = ptr(S);
    {
      NoGil nogil;
      rbm::gibbs_hvh(m, C, h0, n_steps, seed, stream, vo, p, s);
    }
    return py::make_tuple(Vo, P, S);
  });
}

// The parameters and optimiser state updated in place by cd_update and train_step, checked.
template <class T>
static rbm::Update<T> update_in(py::array& W, py::array& b_h, py::array& b_v, py::array& log_var, py::array& sigma,
                                py::array& vel_W, py::array& vel_b_h, py::array& vel_b_v, py::array& vel_log_var,
                                double learning_rate, double momentum, double weight_decay, int64_t* H_, int64_t* V_) {
  T* w = inout<T>(W, "W", {-1, -1});
  const int64_t H = W.shape(0), V = W.shape(1);
  if (H < 1 || V < 1)
    throw std::invalid_argument("W: need at least one hidden and one visible unit, got shape " + shape_str(W));
  rbm::Update<T> u{};
  u.W = w;
  u.b_h = inout<T>(b_h, "b_h", {H});
  u.b_v = inout<T>(b_v, "b_v", {V});
  in<T>(sigma, "sigma", {-1});
  in<T>(log_var, "log_var", {-1});
  const int64_t ns = sigma.shape(0), nl = log_var.shape(0);
  if (ns != 0 && ns != V)
    throw std::invalid_argument("sigma: expected shape (0,) or (" + std::to_string(V) + ",), got " + shape_str(sigma));
  if (nl != 0 && nl != V)
    throw std::invalid_argument("log_var: expected shape (0,) or (" + std::to_string(V) + ",), got " +
                                shape_str(log_var));
  if (nl == V && ns != V)
    throw std::invalid_argument("log_var: learned variances need sigma of shape (" + std::to_string(V) + ",)");
  if (ns == V) {
    u.sigma = inout<T>(sigma, "sigma", {V});
    for (int64_t i = 0; i < V; ++i)
      if (!(u.sigma[i] > 0) || !std::isfinite(static_cast<double>(u.sigma[i])))
        throw std::invalid_argument("sigma: standard deviations must be positive and finite");
  }
  if (nl == V) u.log_var = inout<T>(log_var, "log_var", {V});
  u.vel_W = inout<T>(vel_W, "vel_W", {H, V});
  u.vel_b_h = inout<T>(vel_b_h, "vel_b_h", {H});
  u.vel_b_v = inout<T>(vel_b_v, "vel_b_v", {V});
  in<T>(vel_log_var, "vel_log_var", {nl});
  if (nl == V) u.vel_log_var = inout<T>(vel_log_var, "vel_log_var", {V});
  for (double x : {learning_rate, momentum, weight_decay})
    if (!std::isfinite(x)) throw std::invalid_argument("learning_rate, momentum, weight_decay: must be finite");
  u.lr = static_cast<T>(learning_rate);
  u.momentum = static_cast<T>(momentum);
  u.weight_decay = static_cast<T>(weight_decay);
  *H_ = H;
  *V_ = V;
  return u;
}

static void cd_update(py::array W, py::array b_h, py::array b_v, py::array log_var, py::array sigma, py::array vel_W,
                      py::array vel_b_h, py::array vel_b_v, py::array vel_log_var, py::array V_pos, py::array H_pos,
                      py::array V_neg, py::array H_neg, double learning_rate, double momentum, double weight_decay) {
  by_float_dtype(W, "W", [&](auto tag) {
    using T = decltype(tag);
    int64_t H, V;
    const rbm::Update<T> u = update_in<T>(W, b_h, b_v, log_var, sigma, vel_W, vel_b_h, vel_b_v, vel_log_var,
                                          learning_rate, momentum, weight_decay, &H, &V);
    const T* vp = in<T>(V_pos, "V_pos", {-1, V});
    const T* hp = in<T>(H_pos, "H_pos", {V_pos.shape(0), H});
    const T* vn = in<T>(V_neg, "V_neg", {-1, V});
    const T* hn = in<T>(H_neg, "H_neg", {V_neg.shape(0), H});
    const int64_t B = V_pos.shape(0), C = V_neg.shape(0);
    if (B < 1 || C < 1) throw std::invalid_argument("V_pos, V_neg: need at least one row each");
    {
      NoGil nogil(false);  // updates parameters in place: never stops half-way (Ctrl-C waits for the step)
      rbm::cd_update(H, V, u, B, vp, hp, C, vn, hn);
    }
  });
}

static void train_step(py::array V_batch, py::array W, py::array b_h, py::array b_v, py::array log_var,
                       py::array sigma, py::array vel_W, py::array vel_b_h, py::array vel_b_v, py::array vel_log_var,
                       py::object chains, int64_t n_steps, uint64_t seed, uint64_t stream, double learning_rate,
                       double momentum, double weight_decay) {
  by_float_dtype(W, "W", [&](auto tag) {
    using T = decltype(tag);
    int64_t H, V;
    const rbm::Update<T> u = update_in<T>(W, b_h, b_v, log_var, sigma, vel_W, vel_b_h, vel_b_v, vel_log_var,
                                          learning_rate, momentum, weight_decay, &H, &V);
    const T* vb = in<T>(V_batch, "V", {-1, V});
    const int64_t B = V_batch.shape(0);
    if (B < 1) throw std::invalid_argument("V: need at least one row");
    check_steps(n_steps);
    T* ch = nullptr;
    int64_t C = B;
    py::array chain_array;
    if (!chains.is_none()) {
      chain_array = py::array(chains);
      ch = inout<T>(chain_array, "chains", {-1, H});
      C = chain_array.shape(0);
      if (C < 1) throw std::invalid_argument("chains: need at least one chain");
    }
    const rbm::Model<T> mdl{H, V, u.W, u.b_h, u.b_v, u.sigma};
    rbm::Phases<T> ph;
    {
      NoGil nogil;  // nothing is written before the phases are done: Ctrl-C may stop them
      ph = rbm::step_phases(mdl, B, vb, C, ch, n_steps, seed, stream);
    }
    {
      NoGil nogil(false);  // updates parameters in place: never stops half-way (Ctrl-C waits for the step)
      rbm::cd_update(H, V, u, B, vb, ph.P_pos.get(), C, ph.V_neg.get(), ph.P_neg.get());
    }
  });
}

static py::array free_energy(py::array V, py::array W, py::array b_h, py::array b_v, py::array sigma) {
  return by_float_dtype(W, "W", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto m = model_in<T>(W, &b_h, &b_v, &sigma);
    const T* x = in<T>(V, "V", {-1, m.V});
    const int64_t N = V.shape(0);
    auto F = out<T>({N});
    T* f = ptr(F);
    {
      NoGil nogil;
      rbm::free_energy(m, N, x, f);
    }
    return F;
  });
}

static py::array pseudo_likelihood(py::array V, py::array W, py::array b_h, py::array b_v, py::array flip) {
  return by_float_dtype(W, "W", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto m = model_in<T>(W, &b_h, &b_v, nullptr);
    const T* x = in<T>(V, "V", {-1, m.V});
    const int64_t N = V.shape(0);
    const int64_t* fl = in<int64_t>(flip, "flip", {N});
    for (int64_t n = 0; n < N; ++n)
      if (fl[n] < 0 || fl[n] >= m.V)
        throw std::invalid_argument("flip: index " + std::to_string(fl[n]) + " at row " + std::to_string(n) +
                                    " outside [0, " + std::to_string(m.V) + ")");
    auto R = out<T>({N});
    T* r = ptr(R);
    {
      NoGil nogil;
      rbm::pseudo_likelihood(m, N, x, fl, r);
    }
    return R;
  });
}

static double log_partition(py::array W, py::array b_h, py::array b_v, py::array sigma, bool over_hidden) {
  return by_float_dtype(W, "W", [&](auto tag) -> double {
    using T = decltype(tag);
    const auto m = model_in<T>(W, &b_h, &b_v, &sigma);
    if (!over_hidden && m.gaussian())
      throw std::invalid_argument("over_hidden: Gaussian visibles can only be summed out analytically "
                                  "(enumerate the hidden layer, over_hidden=True)");
    const int64_t units = over_hidden ? m.H : m.V;
    if (units > 30)
      throw std::invalid_argument(std::string("over_hidden: enumerating 2^") + std::to_string(units) + " states of the " +
                                  (over_hidden ? "hidden" : "visible") + " layer is too many (at most 30 units)");
    double r;
    {
      NoGil nogil;
      r = rbm::log_partition(m, over_hidden);
    }
    return r;
  });
}

static py::array ais(py::array W, py::array b_h, py::array b_v, py::array sigma, py::array base_b_v, py::array betas,
                     int64_t n_chains, uint64_t seed, uint64_t stream) {
  return by_float_dtype(W, "W", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const auto m = model_in<T>(W, &b_h, &b_v, &sigma);
    const T* a = in<T>(base_b_v, "base_b_v", {m.V});
    const double* bt = in<double>(betas, "betas", {-1});
    const int64_t K = betas.shape(0) - 1;
    if (K < 1) throw std::invalid_argument("betas: need at least 2 values (0 and 1), got " + shape_str(betas));
    if (bt[0] != 0.0 || bt[K] != 1.0)
      throw std::invalid_argument("betas: must start at 0 and end at 1, got " + std::to_string(bt[0]) + " ... " +
                                  std::to_string(bt[K]));
    for (int64_t k = 1; k <= K; ++k)
      if (!(bt[k] >= bt[k - 1]))
        throw std::invalid_argument("betas: must be non-decreasing, got betas[" + std::to_string(k) +
                                    "] = " + std::to_string(bt[k]) + " after " + std::to_string(bt[k - 1]));
    for (int64_t i = 0; i < m.V; ++i)
      if (!std::isfinite(static_cast<double>(a[i]))) throw std::invalid_argument("base_b_v: must be finite");
    if (n_chains < 1) throw std::invalid_argument("n_chains: must be >= 1, got " + std::to_string(n_chains));
    auto R = out<double>({n_chains});
    double* r = ptr(R);
    {
      NoGil nogil;
      rbm::ais(m, a, bt, K, n_chains, seed, stream, r);
    }
    return R;
  });
}

// The hand-written product behind every RBM half-step, exposed for the matmul benchmark
// (benchmarks/bench_rbm.py: this kernel against numpy's BLAS at the RBM shapes). Not in the contract.
static py::array matmul(py::array A, py::array B) {
  return by_float_dtype(A, "A", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* a = in<T>(A, "A", {-1, -1});
    const int64_t M = A.shape(0), K = A.shape(1);
    const T* b = in<T>(B, "B", {K, -1});
    const int64_t N = B.shape(1);
    auto C = out<T>({M, N});
    T* c = ptr(C);
    {
      NoGil nogil;
      if (K == 0)
        std::fill(c, c + M * N, T(0));
      else {
        rbm::NoEpilogue none;
        rbm::gemm<T, false>(M, N, K, a, K, b, N, c, N, none);
      }
    }
    return C;
  });
}

void register_rbm(py::module_& m) {
  m.def("_matmul", &matmul, py::arg("A"), py::arg("B"), "A @ B with the RBM kernels' product (benchmarks).");
  m.def("hidden_probs", &hidden_probs, py::arg("V"), py::arg("W"), py::arg("b_h"), py::arg("sigma"),
        "p(h = 1 | v) -> T[N, H].");
  m.def("visible_means", &visible_means, py::arg("Hs"), py::arg("W"), py::arg("b_v"), py::arg("sigma"),
        "E[v | h] -> T[N, V].");
  m.def("sample_hiddens", &sample_hiddens, py::arg("V"), py::arg("W"), py::arg("b_h"), py::arg("sigma"),
        py::arg("seed"), py::arg("stream"), "-> (p(h | v) T[N, H], draws T[N, H]).");
  m.def("sample_visibles", &sample_visibles, py::arg("Hs"), py::arg("W"), py::arg("b_v"), py::arg("sigma"),
        py::arg("seed"), py::arg("stream"), "-> visible draws T[N, V].");
  m.def("gibbs_vhv", &gibbs_vhv, py::arg("V0"), py::arg("W"), py::arg("b_h"), py::arg("b_v"), py::arg("sigma"),
        py::arg("n_steps"), py::arg("seed"), py::arg("stream"), "n_steps sweeps v->h->v -> (V, Hs).");
  m.def("gibbs_hvh", &gibbs_hvh, py::arg("H0"), py::arg("W"), py::arg("b_h"), py::arg("b_v"), py::arg("sigma"),
        py::arg("n_steps"), py::arg("seed"), py::arg("stream"), "n_steps sweeps h->v->h -> (V, P, Hs).");
  m.def("cd_update", &cd_update, py::arg("W"), py::arg("b_h"), py::arg("b_v"), py::arg("log_var"),
        py::arg("sigma"), py::arg("vel_W"), py::arg("vel_b_h"), py::arg("vel_b_v"), py::arg("vel_log_var"),
        py::arg("V_pos"), py::arg("H_pos"), py::arg("V_neg"), py::arg("H_neg"), py::arg("learning_rate"),
        py::arg("momentum"), py::arg("weight_decay"), "CD/PCD step with momentum and weight decay, in place.");
  m.def("train_step", &train_step, py::arg("V"), py::arg("W"), py::arg("b_h"), py::arg("b_v"), py::arg("log_var"),
        py::arg("sigma"), py::arg("vel_W"), py::arg("vel_b_h"), py::arg("vel_b_v"), py::arg("vel_log_var"),
        py::arg("chains"), py::arg("n_steps"), py::arg("seed"), py::arg("stream"), py::arg("learning_rate"),
        py::arg("momentum"), py::arg("weight_decay"),
        "One CD-k (chains None: from the batch's hidden draws on `stream`, the sweeps on the streams after it) or "
        "PCD-k (chains T[C, H], replaced by the last sweep's draws) step with momentum and weight decay, in place: "
        "hidden_probs / sample_hiddens, gibbs_hvh and cd_update in one call, the same bits.");
  m.def("free_energy", &free_energy, py::arg("V"), py::arg("W"), py::arg("b_h"), py::arg("b_v"), py::arg("sigma"),
        "Free energy F(v) -> T[N].");
  m.def("pseudo_likelihood", &pseudo_likelihood, py::arg("V"), py::arg("W"), py::arg("b_h"), py::arg("b_v"),
        py::arg("flip"), "scikit-learn's pseudo-likelihood with the given flipped units -> T[N].");
  m.def("log_partition", &log_partition, py::arg("W"), py::arg("b_h"), py::arg("b_v"), py::arg("sigma"),
        py::arg("over_hidden"), "Exact log Z by enumerating one layer.");
  m.def("ais", &ais, py::arg("W"), py::arg("b_h"), py::arg("b_v"), py::arg("sigma"), py::arg("base_b_v"),
        py::arg("betas"), py::arg("n_chains"), py::arg("seed"), py::arg("stream"),
        "Annealed importance sampling log-weights -> float64[n_chains].");
}

}  // namespace fastgen::bind
