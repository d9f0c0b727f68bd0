// Gaussian mixture bindings: responsibilities, k-means++ seeding, nearest-centre assignment,
// sampling. Shapes and dtypes checked and named; the small parameter arrays (weights, centres,
// means, factors) are checked for NaN/inf here; the kernels report bad data rows themselves.
#include <cmath>

#include "common/arrays.hpp"
#include "mixture/e_step.hpp"
#include "mixture/mixture.hpp"

namespace fastgen::bind {

template <class T>
static void check_finite(const T* a, int64_t n, const char* name) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(a[i])) throw std::invalid_argument(std::string(name) + ": contains NaN or infinity");
}

// log_weights T[K]: -inf is a zero weight; NaN and +inf are not weights.
template <class T>
static const T* checked_log_weights(const py::array& log_weights, int64_t K) {
  const T* lw = in<T>(log_weights, "log_weights", {K});
  for (int64_t k = 0; k < K; ++k)
    if (std::isnan(lw[k]) || lw[k] == std::numeric_limits<T>::infinity())
      throw std::invalid_argument("log_weights: entry " + std::to_string(k) + " is NaN or +inf");
  return lw;
}

static py::tuple mixture_responsibilities(py::array comp_logprob, py::array log_weights, bool want_resp,
                                          bool in_place) {
  return by_float_dtype(comp_logprob, "comp_logprob", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* lp = in<T>(comp_logprob, "comp_logprob", {-1, -1});
    const int64_t N = comp_logprob.shape(0), K = comp_logprob.shape(1);
    if (K < 1) throw std::invalid_argument("comp_logprob: need at least one component");
    const T* lw = checked_log_weights<T>(log_weights, K);
    if (in_place && !comp_logprob.writeable())
      throw std::invalid_argument("comp_logprob: in_place needs a writeable array");
    auto log_norm = out<T>({N});
    // In place, each row's responsibilities overwrite its log-densities once it has read them all
    // (logsumexp_rows): no second N x K array.
    py::array resp = !want_resp ? py::array(out<T>({0})) : in_place ? comp_logprob : py::array(out<T>({N, K}));
    T* pn = ptr(log_norm);
    T* pr = want_resp ? static_cast<T*>(resp.mutable_data()) : nullptr;
    int64_t bad;
    {
      NoGil nogil;
      bad = mixture::mixture_responsibilities(N, static_cast<int>(K), lp, lw, pn, pr);
    }
    if (bad >= 0) throw std::invalid_argument("comp_logprob: row " + std::to_string(bad) + " contains NaN or +inf");
    return py::make_tuple(log_norm, want_resp ? py::object(resp) : py::object(py::none()));
  });
}

// The fused E-step: (log_norm_sum, nk[K], s1[K, D], s2) with s2 [K, D, D] (full) or [K, D] (diag).
// log_weights as responsibilities takes them; the data rows are reported as that kernel reports them.
template <class T>
static py::tuple e_step_result(int64_t N, const mixture::Gaussians<T>& g, const T* x, py::array log_weights) {
  const int64_t K = g.K, D = g.D;
  const T* lw = checked_log_weights<T>(log_weights, K);
  auto nk = out<T>({K});
  auto s1 = out<T>({K, D});
  auto s2 = g.full ? out<T>({K, D, D}) : out<T>({K, D});
  double ln_sum;
  int64_t bad;
  {
    NoGil nogil;
    ln_sum = mixture::e_step(N, g, x, lw, ptr(nk), ptr(s1), ptr(s2), bad);
  }
  if (bad >= 0) throw std::invalid_argument("comp_logprob: row " + std::to_string(bad) + " contains NaN or +inf");
  return py::make_tuple(ln_sum, nk, s1, s2);
}

// One binding for both: full reads (prec_chol T[C, D, D], C == K or 1), diag (precisions T[K, D]).
static py::tuple e_step(bool full, py::array X, py::array means, py::array prec, py::array log_weights) {
  return by_float_dtype(X, "X", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* x = in<T>(X, "X", {-1, -1});
    const int64_t N = X.shape(0), D = X.shape(1);
    const T* mu = in<T>(means, "means", {-1, D});
    const int64_t K = means.shape(0);
    if (K < 1) throw std::invalid_argument("means: need at least one component");
    const T* P = full ? in<T>(prec, "prec_chol", {-1, D, D}) : in<T>(prec, "precisions", {K, D});
    const int64_t C = prec.shape(0);
    if (full && C != K && C != 1)
      throw std::invalid_argument("prec_chol: expected " + std::to_string(K) + " or 1 factors, got " + std::to_string(C));
    const mixture::Gaussians<T> g(full, static_cast<int>(K), static_cast<int>(D), static_cast<int>(C), mu, P);
    return e_step_result(N, g, x, log_weights);
  });
}

static py::tuple e_step_full(py::array X, py::array means, py::array prec_chol, py::array log_weights) {
  return e_step(true, X, means, prec_chol, log_weights);
}

static py::tuple e_step_diag(py::array X, py::array means, py::array precisions, py::array log_weights) {
  return e_step(false, X, means, precisions, log_weights);
}

static py::tuple kmeans_plusplus(py::array X, int64_t n_clusters, int64_t n_local_trials, uint64_t seed,
                                 uint64_t stream) {
  return by_float_dtype(X, "X", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* x = in<T>(X, "X", {-1, -1});
    const int64_t N = X.shape(0), D = X.shape(1);
    if (n_clusters < 1 || n_clusters > N)
      throw std::invalid_argument("n_clusters: expected 1 <= n_clusters <= n_samples=" + std::to_string(N) +
                                  ", got " + std::to_string(n_clusters));
    if (n_local_trials < 1 || n_local_trials > (1 << 20))
      throw std::invalid_argument("n_local_trials: expected 1 <= n_local_trials <= 2^20, got " +
                                  std::to_string(n_local_trials));
    auto centers = out<T>({n_clusters, D});
    auto indices = out<int64_t>({n_clusters});
    T* pc = ptr(centers);
    int64_t* pi = ptr(indices);
    bool finite = true;
    {
      NoGil nogil;
      for (int64_t i = 0; i < N * D && finite; ++i) finite = std::isfinite(x[i]);
      if (finite)
        mixture::kmeans_plusplus(N, static_cast<int>(D), static_cast<int>(n_clusters), static_cast<int>(n_local_trials),
                             x, seed, stream, pc, pi);
    }
    if (!finite) throw std::invalid_argument("X: contains NaN or infinity");
    return py::make_tuple(centers, indices);
  });
}

static py::tuple kmeans_assign(py::array X, py::array centers) {
  return by_float_dtype(X, "X", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* x = in<T>(X, "X", {-1, -1});
    const int64_t N = X.shape(0), D = X.shape(1);
    const T* c = in<T>(centers, "centers", {-1, D});
    const int64_t K = centers.shape(0);
    if (K < 1) throw std::invalid_argument("centers: need at least one centre");
    check_finite(c, K * D, "centers");
    auto labels = out<int64_t>({N});
    auto mind2 = out<T>({N});
    int64_t* pl = ptr(labels);
    T* pd = ptr(mind2);
    int64_t bad;
    {
      NoGil nogil;
      bad = mixture::kmeans_assign(N, static_cast<int>(K), static_cast<int>(D), x, c, pl, pd);
    }
    if (bad >= 0)
      throw std::invalid_argument("X: row " + std::to_string(bad) +
                                  " has no finite squared distance to any centre (NaN/inf in X, or overflow)");
    return py::make_tuple(labels, mind2);
  });
}

static py::tuple sample_gaussian_mixture(py::array weights, py::array means, py::array cov_chol, int64_t n_samples,
                                         uint64_t seed, uint64_t stream) {
  return by_float_dtype(weights, "weights", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* w = in<T>(weights, "weights", {-1});
    const int64_t K = weights.shape(0);
    if (K < 1) throw std::invalid_argument("weights: need at least one component");
    const T* mu = in<T>(means, "means", {K, -1});
    const int64_t D = means.shape(1);
    const T* L = in<T>(cov_chol, "cov_chol", {-1, D, D});
    const int64_t C = cov_chol.shape(0);
    if (C != K && C != 1)
      throw std::invalid_argument("cov_chol: expected " + std::to_string(K) + " or 1 factors, got " + std::to_string(C));
    if (n_samples < 0) throw std::invalid_argument("n_samples: must be >= 0, got " + std::to_string(n_samples));
    double total = 0;
    for (int64_t k = 0; k < K; ++k) {
      if (!(w[k] >= 0) || !std::isfinite(w[k]))
        throw std::invalid_argument("weights: entry " + std::to_string(k) + " is negative, NaN or infinite");
      total += w[k];
    }
    // Probabilities: rounding of a normalised vector only (float32 weights normalised in float64).
    const double tol = 1e-6 + 4.0 * K * std::numeric_limits<T>::epsilon();
    if (!(std::abs(total - 1.0) <= tol))
      throw std::invalid_argument("weights: must sum to 1, got " + std::to_string(total));
    check_finite(mu, K * D, "means");
    for (int64_t c = 0; c < C; ++c)  // only the lower triangle is read
      for (int64_t i = 0; i < D; ++i) check_finite(L + (c * D + i) * D, i + 1, "cov_chol");
    auto X = out<T>({n_samples, D});
    auto labels = out<int64_t>({n_samples});
    T* px = ptr(X);
    int64_t* pl = ptr(labels);
    {
      NoGil nogil;
      mixture::sample_gaussian_mixture(static_cast<int>(K), static_cast<int>(D), static_cast<int>(C), w, mu, L, n_samples,
                                   seed, stream, px, pl);
    }
    return py::make_tuple(X, labels);
  });
}

void register_mixture(py::module_& m) {
  m.def("responsibilities", &mixture_responsibilities, py::arg("comp_logprob"), py::arg("log_weights"),
        py::arg("want_resp") = true, py::arg("in_place") = false,
        "E-step of a mixture -> (log_norm[N], resp[N,K] or None); all -inf rows give -inf and zeros. "
        "in_place: resp overwrites comp_logprob (returned as resp).");
  m.def("e_step_full", &e_step_full, py::arg("X"), py::arg("means"), py::arg("prec_chol"), py::arg("log_weights"),
        "Fused E-step, full or tied Gaussians -> (sum_n log p(x_n), nk[K], s1[K,D], s2[K,D,D]); no N x K array.");
  m.def("e_step_diag", &e_step_diag, py::arg("X"), py::arg("means"), py::arg("precisions"), py::arg("log_weights"),
        "Fused E-step, diagonal Gaussians -> (sum_n log p(x_n), nk[K], s1[K,D], s2[K,D]); no N x K array.");
  m.def("kmeans_plusplus", &kmeans_plusplus, py::arg("X"), py::arg("n_clusters"), py::arg("n_local_trials"),
        py::arg("seed"), py::arg("stream"), "Greedy k-means++ seeding on Philox uniforms -> (centers[K,D], indices[K]).");
  m.def("kmeans_assign", &kmeans_assign, py::arg("X"), py::arg("centers"),
        "Nearest centre (ties to the lower index) -> (labels int64[N], min_dist2[N]).");
  m.def("sample_gaussian_mixture", &sample_gaussian_mixture, py::arg("weights"), py::arg("means"), py::arg("cov_chol"),
        py::arg("n_samples"), py::arg("seed"), py::arg("stream"),
        "Draws from a Gaussian mixture (lower Cholesky factors of the covariances) -> (X[n,D], labels int64[n]).");
}

}  // namespace fastgen::bind
