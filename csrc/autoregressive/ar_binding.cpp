// Linear AR/VAR kernel bindings: every shape checked and named, the GIL released around the kernels.
#include "autoregressive/ar.hpp"
#include "common/arrays.hpp"

namespace fastgen::bind {

static int check_trend(int trend) {
  if (trend < 0 || trend > 3)
    throw std::invalid_argument("trend: expected a code in 0..3 (n, c, t, ct), got " + std::to_string(trend));
  return ar::n_trend(trend);
}

// Y T[N, k], offsets, orders int64[S] with 0 <= orders[s] < n_s. Returns (S, k, P).
struct Series {
  int64_t N, k, S, P;
  const int64_t* offsets;
  const int64_t* orders;
};

static Series check_series(const py::array& Y, const py::array& offsets, const py::array& orders) {
  if (Y.ndim() != 2) throw std::invalid_argument("Y: expected shape (*, *), got " + shape_str(Y));
  const int64_t N = Y.shape(0), k = Y.shape(1);
  if (k < 1) throw std::invalid_argument("Y: need at least one variable (column)");
  const int64_t* o = offsets_in(offsets, N);
  const int64_t S = offsets.shape(0) - 1;
  const int64_t* p = in<int64_t>(orders, "orders", {S});
  int64_t P = 0;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t n = o[s + 1] - o[s];
    if (p[s] < 0 || p[s] >= n)
      throw std::invalid_argument("orders: series " + std::to_string(s) + " has " + std::to_string(n) +
                                  " rows, so its order must lie in [0, " + std::to_string(n - 1) + "], got " +
                                  std::to_string(p[s]));
    P = std::max(P, p[s]);
  }
  return {N, k, S, P, o, p};
}

static py::tuple ar_ols(py::array Y, py::array offsets, py::array orders, int trend, bool all_orders) {
  const int kt = check_trend(trend);
  const Series sr = check_series(Y, offsets, orders);
  return by_float_dtype(Y, "Y", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* y = in<T>(Y, "Y", {sr.N, sr.k});
    const int64_t Dx = kt + sr.P * sr.k;
    auto params = out<double>({sr.S, Dx, sr.k});
    auto sse = all_orders ? out<double>({sr.S, sr.P + 1, sr.k, sr.k}) : out<double>({sr.S, sr.k, sr.k});
    auto status = out<int64_t>({sr.S});
    double *pp = ptr(params), *ps = ptr(sse);
    int64_t* st = ptr(status);
    {
      NoGil nogil;
      ar::ar_ols(sr.S, static_cast<int>(sr.k), y, sr.offsets, sr.orders, trend, all_orders, static_cast<int>(sr.P), pp,
                 ps, st);
    }
    return py::make_tuple(params, sse, status);
  });
}

static py::tuple ar_yule_walker(py::array Y, py::array offsets, py::array orders, bool demean, bool adjusted,
                                bool all_orders) {
  const Series sr = check_series(Y, offsets, orders);
  return by_float_dtype(Y, "Y", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* y = in<T>(Y, "Y", {sr.N, sr.k});
    const int64_t Dx = (demean ? 1 : 0) + sr.P * sr.k;
    auto params = out<double>({sr.S, Dx, sr.k});
    auto sigma = all_orders ? out<double>({sr.S, sr.P + 1, sr.k, sr.k}) : out<double>({sr.S, sr.k, sr.k});
    auto status = out<int64_t>({sr.S});
    double *pp = ptr(params), *ps = ptr(sigma);
    int64_t* st = ptr(status);
    {
      NoGil nogil;
      ar::ar_yule_walker(sr.S, static_cast<int>(sr.k), y, sr.offsets, sr.orders, demean, adjusted, all_orders,
                         static_cast<int>(sr.P), pp, ps, st);
    }
    return py::make_tuple(params, sigma, status);
  });
}

// params f64[G, kt + p k, k] -> p (checked).
static int64_t order_of(const py::array& params, int64_t k, int kt, const char* name) {
  const int64_t Dx = params.shape(1);
  if (Dx < kt || (Dx - kt) % k != 0)
    throw std::invalid_argument(std::string(name) + ": expected kt + p k = " + std::to_string(kt) + " + p * " +
                                std::to_string(k) + " rows for this trend, got " + std::to_string(Dx));
  return (Dx - kt) / k;
}

static py::array ar_sse(py::array Y, py::array offsets, py::array params, int trend, py::array orders) {
  const int kt = check_trend(trend);
  const Series sr = check_series(Y, offsets, orders);
  const double* B = in<double>(params, "params", {-1, -1, sr.k});
  const int64_t G = params.shape(0);
  if (G != 1 && G != sr.S)
    throw std::invalid_argument("params: expected 1 or " + std::to_string(sr.S) + " parameter sets, got " +
                                std::to_string(G));
  const int64_t P = order_of(params, sr.k, kt, "params");
  if (sr.P > P)
    throw std::invalid_argument("orders: at most the params' order " + std::to_string(P) + ", got " +
                                std::to_string(sr.P));
  return by_float_dtype(Y, "Y", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* y = in<T>(Y, "Y", {sr.N, sr.k});
    auto sse = out<double>({sr.S, sr.k, sr.k});
    double* ps = ptr(sse);
    {
      NoGil nogil;
      ar::ar_sse(sr.S, static_cast<int>(sr.k), y, sr.offsets, B, G, static_cast<int>(P), sr.orders, trend, ps);
    }
    return sse;
  });
}

static py::tuple ar_forecast(py::array params, int trend, py::array y_last, py::array t_next, py::array sigma,
                             int64_t steps) {
  const int kt = check_trend(trend);
  const double* yl = in<double>(y_last, "y_last", {-1, -1, -1});
  const int64_t S = y_last.shape(0), P = y_last.shape(1), k = y_last.shape(2);
  if (k < 1) throw std::invalid_argument("y_last: need at least one variable");
  const double* B = in<double>(params, "params", {S, kt + P * k, k});
  const int64_t* tn = in<int64_t>(t_next, "t_next", {S});
  const double* sg = in<double>(sigma, "sigma", {S, k, k});
  if (steps < 0) throw std::invalid_argument("steps: must be >= 0, got " + std::to_string(steps));
  auto mean = out<double>({S, steps, k});
  auto mse = out<double>({S, steps, k, k});
  double *pm = ptr(mean), *pv = ptr(mse);
  {
    NoGil nogil;
    ar::ar_forecast(S, static_cast<int>(k), static_cast<int>(P), trend, B, yl, tn, sg, steps, pm, pv);
  }
  return py::make_tuple(mean, mse);
}

static py::array ar_simulate(py::array params, int trend, py::array chol, py::array y_last, py::array t_next,
                             int64_t n_steps, int64_t n_paths, uint64_t seed, uint64_t stream) {
  const int kt = check_trend(trend);
  if (y_last.ndim() != 3) throw std::invalid_argument("y_last: expected shape (*, *, *), got " + shape_str(y_last));
  const int64_t S = y_last.shape(0), P = y_last.shape(1), k = y_last.shape(2);
  if (k < 1) throw std::invalid_argument("y_last: need at least one variable");
  const double* B = in<double>(params, "params", {S, kt + P * k, k});
  const double* L = in<double>(chol, "chol", {S, k, k});
  const int64_t* tn = in<int64_t>(t_next, "t_next", {S});
  if (n_steps < 0) throw std::invalid_argument("n_steps: must be >= 0, got " + std::to_string(n_steps));
  if (n_paths < 0) throw std::invalid_argument("n_paths: must be >= 0, got " + std::to_string(n_paths));
  return by_float_dtype(y_last, "y_last", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* yl = in<T>(y_last, "y_last", {S, P, k});
    auto res = out<T>({S, n_paths, n_steps, k});
    T* r = ptr(res);
    {
      NoGil nogil;
      ar::ar_simulate(S, static_cast<int>(k), static_cast<int>(P), trend, B, L, yl, tn, n_steps, n_paths, seed, stream,
                      r);
    }
    return res;
  });
}

void register_ar(py::module_& m) {
  m.def("ar_ols", &ar_ols, py::arg("Y"), py::arg("offsets"), py::arg("orders"), py::arg("trend"),
        py::arg("all_orders") = false,
        "OLS fits of many AR/VAR series -> (params f64[S, kt+P*k, k], sse f64[S, k, k] or [S, P+1, k, k], status).");
  m.def("ar_yule_walker", &ar_yule_walker, py::arg("Y"), py::arg("offsets"), py::arg("orders"), py::arg("demean"),
        py::arg("adjusted") = false, py::arg("all_orders") = false,
        "Yule-Walker fits -> (params f64[S, demean+P*k, k], sigma f64[S, k, k] or [S, P+1, k, k], status).");
  m.def("ar_sse", &ar_sse, py::arg("Y"), py::arg("offsets"), py::arg("params"), py::arg("trend"), py::arg("orders"),
        "Residual sums of squares per sequence -> f64[S, k, k].");
  m.def("ar_forecast", &ar_forecast, py::arg("params"), py::arg("trend"), py::arg("y_last"), py::arg("t_next"),
        py::arg("sigma"), py::arg("steps"), "Point forecasts and MSE matrices -> (mean f64[S, steps, k], mse f64[S, steps, k, k]).");
  m.def("ar_simulate", &ar_simulate, py::arg("params"), py::arg("trend"), py::arg("chol"), py::arg("y_last"),
        py::arg("t_next"), py::arg("n_steps"), py::arg("n_paths"), py::arg("seed"), py::arg("stream"),
        "Monte-Carlo paths -> T[S, n_paths, n_steps, k].");
}

}  // namespace fastgen::bind
