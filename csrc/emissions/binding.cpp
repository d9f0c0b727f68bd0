// Emission log-likelihoods and EM sufficient statistics (shared by HMMs and mixtures).
#include "common/arrays.hpp"
#include "emissions/emissions.hpp"
#include "emissions/logsumexp.hpp"
#include "emissions/stats.hpp"

namespace fastgen::bind {

static py::array categorical_logprob(py::array X, py::array log_emission) {
  return by_float_dtype(log_emission, "log_emission", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const int64_t N = X.ndim() == 1 ? X.shape(0) : -1;
    const int64_t* x = in<int64_t>(X, "X", {-1});
    const T* le = in<T>(log_emission, "log_emission", {-1, -1});
    const int K = static_cast<int>(log_emission.shape(0)), M = static_cast<int>(log_emission.shape(1));
    auto res = out<T>({N, K});
    T* r = ptr(res);
    {
      NoGil nogil;
      check_symbols(x, N, M);
      emissions::categorical_logprob(N, K, M, x, le, r);
    }
    return res;
  });
}

static py::array gaussian_logprob_diag(py::array X, py::array means, py::array precisions) {
  return by_float_dtype(X, "X", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* x = in<T>(X, "X", {-1, -1});
    const int64_t N = X.shape(0), D = X.shape(1);
    const T* mu = in<T>(means, "means", {-1, D});
    const int64_t K = means.shape(0);
    const T* p = in<T>(precisions, "precisions", {K, D});
    auto res = out<T>({N, K});
    T* r = ptr(res);
    {
      NoGil nogil;
      emissions::gaussian_logprob_diag(N, static_cast<int>(K), static_cast<int>(D), x, mu, p, r);
    }
    return res;
  });
}

static py::array gaussian_logprob_full(py::array X, py::array means, py::array prec_chol) {
  return by_float_dtype(X, "X", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* x = in<T>(X, "X", {-1, -1});
    const int64_t N = X.shape(0), D = X.shape(1);
    const T* mu = in<T>(means, "means", {-1, D});
    const int64_t K = means.shape(0);
    const T* P = in<T>(prec_chol, "prec_chol", {-1, D, D});
    const int64_t C = prec_chol.shape(0);
    if (C != K && C != 1)
      throw std::invalid_argument("prec_chol: expected " + std::to_string(K) + " or 1 factors, got " + std::to_string(C));
    auto res = out<T>({N, K});
    T* r = ptr(res);
    {
      NoGil nogil;
      emissions::gaussian_logprob_full(N, static_cast<int>(K), static_cast<int>(D), static_cast<int>(C), x, mu, P, r);
    }
    return res;
  });
}

static py::array poisson_logprob(py::array X, py::array lambdas) {
  return by_float_dtype(X, "X", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* x = in<T>(X, "X", {-1, -1});
    const int64_t N = X.shape(0), D = X.shape(1);
    const T* lam = in<T>(lambdas, "lambdas", {-1, D});
    const int64_t K = lambdas.shape(0);
    auto res = out<T>({N, K});
    T* r = ptr(res);
    {
      NoGil nogil;
      emissions::poisson_logprob(N, static_cast<int>(K), static_cast<int>(D), x, lam, r);
    }
    return res;
  });
}

static py::tuple weighted_moments(py::array X, py::array weights, int order) {
  if (order < 0 || order > 2) throw std::invalid_argument("order: expected 0, 1 or 2, got " + std::to_string(order));
  return by_float_dtype(X, "X", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* x = in<T>(X, "X", {-1, -1});
    const int64_t N = X.shape(0), D = X.shape(1);
    const T* w = in<T>(weights, "weights", {N, -1});
    const int64_t K = weights.shape(1);
    auto ws = out<T>({K});
    auto wx = out<T>({K, D});
    py::array_t<T> wxx = order == 1 ? out<T>({K, D}) : order == 2 ? out<T>({K, D, D}) : out<T>({0});
    T *pws = ptr(ws), *pwx = ptr(wx), *pwxx = ptr(wxx);
    {
      NoGil nogil;
      stats::weighted_moments(N, static_cast<int>(K), static_cast<int>(D), order, x, w, pws, pwx, pwxx);
    }
    return py::make_tuple(ws, wx, order == 0 ? py::object(py::none()) : py::object(wxx));
  });
}

static py::array categorical_counts(py::array X, py::array weights, int64_t n_symbols) {
  return by_float_dtype(weights, "weights", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const int64_t* x = in<int64_t>(X, "X", {-1});
    const int64_t N = X.shape(0);
    const T* w = in<T>(weights, "weights", {N, -1});
    const int64_t K = weights.shape(1);
    if (n_symbols < 1) throw std::invalid_argument("n_symbols: must be >= 1");
    auto res = out<T>({K, n_symbols});
    T* r = ptr(res);
    {
      NoGil nogil;
      check_symbols(x, N, n_symbols);
      stats::categorical_counts(N, static_cast<int>(K), static_cast<int>(n_symbols), x, w, r);
    }
    return res;
  });
}

static py::array sum_rows(py::array values, py::array rows) {
  return by_float_dtype(values, "values", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* v = in<T>(values, "values", {-1, -1});
    const int64_t N = values.shape(0), K = values.shape(1);
    const int64_t* r = in<int64_t>(rows, "rows", {-1});
    const int64_t R = rows.shape(0);
    for (int64_t i = 0; i < R; ++i)
      if (r[i] < 0 || r[i] >= N)
        throw std::invalid_argument("rows: index " + std::to_string(r[i]) + " outside [0, " + std::to_string(N) + ")");
    auto res = out<T>({K});
    stats::sum_rows(static_cast<int>(K), R, v, r, ptr(res));
    return res;
  });
}

template <class T>
static const T* mixture_in(const py::array& comp_logprob, const py::array& log_weights, int64_t* N, int64_t* K,
                           int64_t* M, const T** lw) {
  const T* c = in<T>(comp_logprob, "comp_logprob", {-1, -1});
  *lw = in<T>(log_weights, "log_weights", {-1, -1});
  *N = comp_logprob.shape(0);
  *K = log_weights.shape(0);
  *M = log_weights.shape(1);
  if (comp_logprob.shape(1) != *K * *M)
    throw std::invalid_argument("comp_logprob: expected " + std::to_string(*K * *M) + " columns (K*M), got " +
                                std::to_string(comp_logprob.shape(1)));
  return c;
}

static py::array mixture_logprob(py::array comp_logprob, py::array log_weights) {
  return by_float_dtype(comp_logprob, "comp_logprob", [&](auto tag) -> py::array {
    using T = decltype(tag);
    int64_t N, K, M;
    const T* lw;
    const T* c = mixture_in<T>(comp_logprob, log_weights, &N, &K, &M, &lw);
    auto res = out<T>({N, K});
    T* r = ptr(res);
    {
      NoGil nogil;
      emissions::mixture_logprob(N, static_cast<int>(K), static_cast<int>(M), c, lw, r);
    }
    return res;
  });
}

static py::array mixture_posteriors(py::array comp_logprob, py::array log_weights, py::array state_post) {
  return by_float_dtype(comp_logprob, "comp_logprob", [&](auto tag) -> py::array {
    using T = decltype(tag);
    int64_t N, K, M;
    const T* lw;
    const T* c = mixture_in<T>(comp_logprob, log_weights, &N, &K, &M, &lw);
    const T* sp = in<T>(state_post, "state_post", {N, K});
    auto res = out<T>({N, K * M});
    T* r = ptr(res);
    {
      NoGil nogil;
      emissions::mixture_posteriors(N, static_cast<int>(K), static_cast<int>(M), c, lw, sp, r);
    }
    return res;
  });
}

void register_emissions(py::module_& m) {
  m.def("sum_rows", &sum_rows, py::arg("values"), py::arg("rows"));
  m.def("mixture_logprob", &mixture_logprob, py::arg("comp_logprob"), py::arg("log_weights"));
  m.def("mixture_posteriors", &mixture_posteriors, py::arg("comp_logprob"), py::arg("log_weights"),
        py::arg("state_post"));
  m.def("categorical_logprob", &categorical_logprob, py::arg("X"), py::arg("log_emission"));
  m.def("gaussian_logprob_diag", &gaussian_logprob_diag, py::arg("X"), py::arg("means"), py::arg("precisions"));
  m.def("gaussian_logprob_full", &gaussian_logprob_full, py::arg("X"), py::arg("means"), py::arg("prec_chol"));
  m.def("poisson_logprob", &poisson_logprob, py::arg("X"), py::arg("lambdas"));
  m.def("weighted_moments", &weighted_moments, py::arg("X"), py::arg("weights"), py::arg("order"));
  m.def("categorical_counts", &categorical_counts, py::arg("X"), py::arg("weights"), py::arg("n_symbols"));
}

}  // namespace fastgen::bind
