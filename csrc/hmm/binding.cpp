// HMM inference and sampling bindings: shapes checked and named, GIL released around the kernels.
#include "common/arrays.hpp"
#include "hmm/hmm.hpp"

namespace fastgen::bind {

struct HmmInputs {
  int64_t N, K, S;
  const int64_t* offsets;
};

template <class T>
static HmmInputs check_hmm(const py::array& startprob, const py::array& transmat, const py::array& frame_logprob,
                           const py::array& offsets, const T** pi, const T** A, const T** lp) {
  *lp = in<T>(frame_logprob, "frame_logprob", {-1, -1});
  const int64_t N = frame_logprob.shape(0), K = frame_logprob.shape(1);
  if (K < 1) throw std::invalid_argument("frame_logprob: need at least one state");
  *pi = in<T>(startprob, "startprob", {K});
  *A = in<T>(transmat, "transmat", {K, K});
  const int64_t* o = offsets_in(offsets, N);
  return {N, K, offsets.shape(0) - 1, o};
}

// The results of a forward/backward call: logprob[S], and the posteriors and xi_sum when asked for
// (None otherwise); pl, pp, px point into them (null when not asked for).
template <class T>
struct FbOutputs {
  py::array_t<T> logprob, post, xi;
  T *pl, *pp, *px;
  FbOutputs(const HmmInputs& h, bool want_posteriors, bool want_xi)
      : logprob(out<T>({h.S})),
        post(want_posteriors ? out<T>({h.N, h.K}) : out<T>({0})),
        xi(want_xi ? out<T>({h.K, h.K}) : out<T>({0})),
        pl(ptr(logprob)),
        pp(want_posteriors ? ptr(post) : nullptr),
        px(want_xi ? ptr(xi) : nullptr) {}
  py::tuple result() const {
    return py::make_tuple(logprob, pp ? py::object(post) : py::object(py::none()),
                          px ? py::object(xi) : py::object(py::none()));
  }
};

template <bool Log>
static py::tuple forward_backward_impl(py::array startprob, py::array transmat, py::array frame_logprob,
                                       py::array offsets, bool want_posteriors, bool want_xi) {
  return by_float_dtype(frame_logprob, "frame_logprob", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T *pi, *A, *lp;
    const HmmInputs h = check_hmm<T>(startprob, transmat, frame_logprob, offsets, &pi, &A, &lp);
    FbOutputs<T> o(h, want_posteriors, want_xi);
    {
      NoGil nogil;
      if constexpr (Log)
        hmm::forward_backward_log(h.N, static_cast<int>(h.K), h.S, pi, A, lp, h.offsets, o.pl, o.pp, o.px);
      else
        hmm::forward_backward(h.N, static_cast<int>(h.K), h.S, pi, A, lp, h.offsets, o.pl, o.pp, o.px);
    }
    return o.result();
  });
}

static py::tuple viterbi(py::array startprob, py::array transmat, py::array frame_logprob, py::array offsets) {
  return by_float_dtype(frame_logprob, "frame_logprob", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T *pi, *A, *lp;
    const HmmInputs h = check_hmm<T>(startprob, transmat, frame_logprob, offsets, &pi, &A, &lp);
    auto logprob = out<T>({h.S});
    auto states = out<int64_t>({h.N});
    T* pl = ptr(logprob);
    int64_t* ps = ptr(states);
    {
      NoGil nogil;
      hmm::viterbi(h.N, static_cast<int>(h.K), h.S, pi, A, lp, h.offsets, pl, ps);
    }
    return py::make_tuple(logprob, states);
  });
}

// The diagonal Gaussian emissions' inputs (emissions' gaussian_logprob_diag) with the HMM's.
template <class T>
static HmmInputs check_hmm_diag(const py::array& startprob, const py::array& transmat, const py::array& X,
                                const py::array& means, const py::array& precisions, const py::array& offsets,
                                const T** pi, const T** A, const T** x, const T** mu, const T** prec, int64_t* D) {
  *x = in<T>(X, "X", {-1, -1});
  const int64_t N = X.shape(0);
  *D = X.shape(1);
  *mu = in<T>(means, "means", {-1, *D});
  const int64_t K = means.shape(0);
  if (K < 1) throw std::invalid_argument("means: need at least one state");
  *prec = in<T>(precisions, "precisions", {K, *D});
  *pi = in<T>(startprob, "startprob", {K});
  *A = in<T>(transmat, "transmat", {K, K});
  const int64_t* o = offsets_in(offsets, N);
  return {N, K, offsets.shape(0) - 1, o};
}

static py::tuple forward_backward_diag(py::array startprob, py::array transmat, py::array X, py::array means,
                                       py::array precisions, py::array offsets, bool want_posteriors, bool want_xi) {
  return by_float_dtype(X, "X", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T *pi, *A, *x, *mu, *prec;
    int64_t D;
    const HmmInputs h = check_hmm_diag<T>(startprob, transmat, X, means, precisions, offsets, &pi, &A, &x, &mu, &prec, &D);
    FbOutputs<T> o(h, want_posteriors, want_xi);
    {
      NoGil nogil;
      hmm::forward_backward_diag(h.N, static_cast<int>(h.K), static_cast<int>(D), h.S, pi, A, x, mu, prec, h.offsets,
                                 o.pl, o.pp, o.px);
    }
    return o.result();
  });
}

static py::tuple e_step_diag(py::array startprob, py::array transmat, py::array X, py::array means,
                             py::array precisions, py::array offsets, bool want_xi) {
  return by_float_dtype(X, "X", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T *pi, *A, *x, *mu, *prec;
    int64_t D;
    const HmmInputs h = check_hmm_diag<T>(startprob, transmat, X, means, precisions, offsets, &pi, &A, &x, &mu, &prec, &D);
    auto logprob = out<T>({h.S});
    auto start = out<T>({h.K});
    auto xi = want_xi ? out<T>({h.K, h.K}) : out<T>({0});
    auto ws = out<T>({h.K});
    auto wx = out<T>({h.K, D});
    auto wxx = out<T>({h.K, D});
    T* px = want_xi ? ptr(xi) : nullptr;
    {
      NoGil nogil;
      hmm::e_step_diag(h.N, static_cast<int>(h.K), static_cast<int>(D), h.S, pi, A, x, mu, prec, h.offsets,
                       ptr(logprob), ptr(start), px, ptr(ws), ptr(wx), ptr(wxx));
    }
    return py::make_tuple(logprob, start, want_xi ? py::object(xi) : py::object(py::none()), ws, wx, wxx);
  });
}

static py::tuple viterbi_diag(py::array startprob, py::array transmat, py::array X, py::array means,
                              py::array precisions, py::array offsets) {
  return by_float_dtype(X, "X", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T *pi, *A, *x, *mu, *prec;
    int64_t D;
    const HmmInputs h = check_hmm_diag<T>(startprob, transmat, X, means, precisions, offsets, &pi, &A, &x, &mu, &prec, &D);
    auto logprob = out<T>({h.S});
    auto states = out<int64_t>({h.N});
    T* pl = ptr(logprob);
    int64_t* ps = ptr(states);
    {
      NoGil nogil;
      hmm::viterbi_diag(h.N, static_cast<int>(h.K), static_cast<int>(D), h.S, pi, A, x, mu, prec, h.offsets, pl, ps);
    }
    return py::make_tuple(logprob, states);
  });
}

// The categorical emissions' inputs (emissions' categorical_logprob: X int64[N] symbols, log_emission
// T[K, M]) with the HMM's; the symbols are checked against M.
template <class T>
struct CategoricalInputs {
  HmmInputs h;
  const T *pi, *A, *le;
  const int64_t* x;
  int M;
};

template <class T>
static CategoricalInputs<T> check_hmm_categorical(const py::array& startprob, const py::array& transmat,
                                                  const py::array& X, const py::array& log_emission,
                                                  const py::array& offsets) {
  CategoricalInputs<T> c;
  c.x = in<int64_t>(X, "X", {-1});
  const int64_t N = X.shape(0);
  c.le = in<T>(log_emission, "log_emission", {-1, -1});
  const int64_t K = log_emission.shape(0);
  c.M = static_cast<int>(log_emission.shape(1));
  if (K < 1) throw std::invalid_argument("log_emission: need at least one state");
  c.pi = in<T>(startprob, "startprob", {K});
  c.A = in<T>(transmat, "transmat", {K, K});
  const int64_t* o = offsets_in(offsets, N);
  check_symbols(c.x, N, c.M);
  c.h = {N, K, offsets.shape(0) - 1, o};
  return c;
}

static py::tuple forward_backward_categorical(py::array startprob, py::array transmat, py::array X,
                                              py::array log_emission, py::array offsets, bool want_posteriors,
                                              bool want_xi) {
  return by_float_dtype(log_emission, "log_emission", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const CategoricalInputs<T> c = check_hmm_categorical<T>(startprob, transmat, X, log_emission, offsets);
    FbOutputs<T> o(c.h, want_posteriors, want_xi);
    {
      NoGil nogil;
      hmm::forward_backward_categorical(c.h.N, static_cast<int>(c.h.K), c.M, c.h.S, c.pi, c.A, c.x, c.le, c.h.offsets,
                                        o.pl, o.pp, o.px);
    }
    return o.result();
  });
}

static py::tuple viterbi_categorical(py::array startprob, py::array transmat, py::array X, py::array log_emission,
                                     py::array offsets) {
  return by_float_dtype(log_emission, "log_emission", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const CategoricalInputs<T> c = check_hmm_categorical<T>(startprob, transmat, X, log_emission, offsets);
    auto logprob = out<T>({c.h.S});
    auto states = out<int64_t>({c.h.N});
    T* pl = ptr(logprob);
    int64_t* ps = ptr(states);
    {
      NoGil nogil;
      hmm::viterbi_categorical(c.h.N, static_cast<int>(c.h.K), c.M, c.h.S, c.pi, c.A, c.x, c.le, c.h.offsets, pl, ps);
    }
    return py::make_tuple(logprob, states);
  });
}

static py::array sample_states(py::array startprob, py::array transmat, int64_t n_samples, uint64_t seed,
                               uint64_t stream) {
  return by_float_dtype(startprob, "startprob", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* pi = in<T>(startprob, "startprob", {-1});
    const int64_t K = startprob.shape(0);
    if (K < 1) throw std::invalid_argument("startprob: need at least one state");
    const T* A = in<T>(transmat, "transmat", {K, K});
    if (n_samples < 0) throw std::invalid_argument("n_samples: must be >= 0, got " + std::to_string(n_samples));
    auto res = out<int64_t>({n_samples});
    int64_t* r = ptr(res);
    {
      NoGil nogil;
      hmm::sample_states(static_cast<int>(K), pi, A, n_samples, seed, stream, r);
    }
    return res;
  });
}

static py::array sample_poisson(py::array lambdas, uint64_t seed, uint64_t stream) {
  return by_float_dtype(lambdas, "lambdas", [&](auto tag) -> py::array {
    using T = decltype(tag);
    const T* lam = in<T>(lambdas, "lambdas", {-1, -1});
    const int64_t N = lambdas.shape(0), D = lambdas.shape(1);
    auto res = out<int64_t>({N, D});
    int64_t* r = ptr(res);
    {
      NoGil nogil;
      hmm::sample_poisson(N, static_cast<int>(D), lam, seed, stream, r);
    }
    return res;
  });
}

void register_hmm(py::module_& m) {
  m.def("forward_backward", &forward_backward_impl<false>, py::arg("startprob"), py::arg("transmat"),
        py::arg("frame_logprob"), py::arg("offsets"), py::arg("want_posteriors") = true, py::arg("want_xi") = true,
        "Scaled forward/backward -> (logprob[S], posteriors[N,K] or None, xi_sum[K,K] or None).");
  m.def("forward_backward_log", &forward_backward_impl<true>, py::arg("startprob"), py::arg("transmat"),
        py::arg("frame_logprob"), py::arg("offsets"), py::arg("want_posteriors") = true, py::arg("want_xi") = true,
        "Log-domain forward/backward, same contract as forward_backward.");
  m.def("viterbi", &viterbi, py::arg("startprob"), py::arg("transmat"), py::arg("frame_logprob"),
        py::arg("offsets"), "Most likely state paths -> (logprob[S], states[N]).");
  m.def("forward_backward_diag", &forward_backward_diag, py::arg("startprob"), py::arg("transmat"), py::arg("X"),
        py::arg("means"), py::arg("precisions"), py::arg("offsets"), py::arg("want_posteriors") = true,
        py::arg("want_xi") = true,
        "forward_backward with diagonal Gaussian emissions computed inside the pass (emissions.gaussian_logprob_diag's "
        "densities), same outputs.");
  m.def("e_step_diag", &e_step_diag, py::arg("startprob"), py::arg("transmat"), py::arg("X"), py::arg("means"),
        py::arg("precisions"), py::arg("offsets"), py::arg("want_xi") = true,
        "One EM E-step with diagonal Gaussian emissions, no N x K array -> (logprob[S], start[K] (summed first-frame "
        "posteriors), xi_sum[K,K] or None, w_sum[K], wx[K,D], wxx[K,D]) (weighted_moments order 1 of the posteriors).");
  m.def("viterbi_diag", &viterbi_diag, py::arg("startprob"), py::arg("transmat"), py::arg("X"), py::arg("means"),
        py::arg("precisions"), py::arg("offsets"), "viterbi with diagonal Gaussian emissions computed inside the pass.");
  m.def("forward_backward_categorical", &forward_backward_categorical, py::arg("startprob"), py::arg("transmat"),
        py::arg("X"), py::arg("log_emission"), py::arg("offsets"), py::arg("want_posteriors") = true,
        py::arg("want_xi") = true,
        "forward_backward with categorical emissions read by symbol inside the pass (emissions.categorical_logprob's "
        "rows), same outputs.");
  m.def("viterbi_categorical", &viterbi_categorical, py::arg("startprob"), py::arg("transmat"), py::arg("X"),
        py::arg("log_emission"), py::arg("offsets"), "viterbi with categorical emissions read by symbol inside the pass.");
  m.def("sample_states", &sample_states, py::arg("startprob"), py::arg("transmat"), py::arg("n_samples"),
        py::arg("seed"), py::arg("stream"));
  m.def("sample_poisson", &sample_poisson, py::arg("lambdas"), py::arg("seed"), py::arg("stream"));
}

}  // namespace fastgen::bind
