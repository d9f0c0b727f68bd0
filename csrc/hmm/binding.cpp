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

// ---------------------------------------------------------------------------------------------
// Emissions computed from the rows of X inside the passes (hmm.hpp's *_rows kernels): each kind
// checks its parameters as the emissions kernel of its densities does, builds its lanes emission
// and hands it to forward_backward, viterbi or e_step below.

// The inputs every kind shares: X T[N, D], the HMM's parameters and offsets, K from the first
// emission parameter's rows (T[K, D]).
template <class T>
struct RowsInputs {
  HmmInputs h;
  const T *pi, *A, *x;
  int64_t D;
};

template <class T>
static RowsInputs<T> rows_inputs(const py::array& X, const py::array& param, const char* name, const T** p) {
  RowsInputs<T> r{};
  r.x = in<T>(X, "X", {-1, -1});
  r.D = X.shape(1);
  *p = in<T>(param, name, {-1, r.D});
  r.h.N = X.shape(0);
  r.h.K = param.shape(0);
  if (r.h.K < 1) throw std::invalid_argument(std::string(name) + ": need at least one state");
  return r;
}

template <class T>
static void hmm_parameters(RowsInputs<T>& r, const py::array& startprob, const py::array& transmat,
                           const py::array& offsets) {
  r.pi = in<T>(startprob, "startprob", {r.h.K});
  r.A = in<T>(transmat, "transmat", {r.h.K, r.h.K});
  r.h.offsets = offsets_in(offsets, r.h.N);
  r.h.S = offsets.shape(0) - 1;
}

// The Gaussian components' emissions on the checked inputs r (K = r.h.K components).
struct DiagComponents {
  template <class T>
  hmm::lanes::DiagGaussian<T> operator()(const RowsInputs<T>& r, const T* mu, const py::array& precisions) const {
    const T* prec = in<T>(precisions, "precisions", {r.h.K, r.D});
    return {r.x, int(r.h.K), int(r.D), mu, prec};
  }
};

struct FullComponents {  // K factors, or 1 shared (tied)
  template <class T>
  hmm::lanes::FullGaussian<T> operator()(const RowsInputs<T>& r, const T* mu, const py::array& prec_chol) const {
    const T* P = in<T>(prec_chol, "prec_chol", {-1, r.D, r.D});
    const int64_t C = prec_chol.shape(0);
    if (C != r.h.K && C != 1)
      throw std::invalid_argument("prec_chol: expected " + std::to_string(r.h.K) + " or 1 factors, got " +
                                  std::to_string(C));
    return {r.x, int(r.h.K), int(r.D), int(C), mu, P};
  }
};

// Calls f(inputs, emission) with the Gaussian emission `build` makes of means T[K, D] and prec.
template <class Build, class F>
static py::tuple with_gaussian(const py::array& startprob, const py::array& transmat, const py::array& X,
                               const py::array& means, const py::array& prec, const py::array& offsets, Build build,
                               F&& f) {
  return by_float_dtype(X, "X", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* mu;
    RowsInputs<T> r = rows_inputs<T>(X, means, "means", &mu);
    const auto em = build(r, mu, prec);
    hmm_parameters(r, startprob, transmat, offsets);
    return f(r, em);
  });
}

// A mixture of Gaussians per state (GMMHMM): `build`'s components of means T[K M, D] (state-major)
// and prec, log_weights T[K, M]; the lattice has K states.
template <class Build, class F>
static py::tuple with_mixture(const py::array& startprob, const py::array& transmat, const py::array& X,
                              const py::array& means, const py::array& prec, const py::array& log_weights,
                              const py::array& offsets, Build build, F&& f) {
  return by_float_dtype(X, "X", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* mu;
    RowsInputs<T> r = rows_inputs<T>(X, means, "means", &mu);
    auto comp = build(r, mu, prec);
    const T* lw = in<T>(log_weights, "log_weights", {-1, -1});
    const int64_t K = log_weights.shape(0), M = log_weights.shape(1);
    if (K < 1 || M < 1 || K * M != r.h.K)
      throw std::invalid_argument("log_weights: expected shape (n_states, n_mix) with n_states * n_mix = " +
                                  std::to_string(r.h.K) + " (the means' rows), got " + shape_str(log_weights));
    r.h.K = K;
    hmm_parameters(r, startprob, transmat, offsets);
    return f(r, hmm::lanes::Mixture<decltype(comp)>(std::move(comp), int(K), int(M), lw));
  });
}

template <class F>
static py::tuple with_poisson(const py::array& startprob, const py::array& transmat, const py::array& X,
                              const py::array& lambdas, const py::array& offsets, F&& f) {
  return by_float_dtype(X, "X", [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const T* lam;
    RowsInputs<T> r = rows_inputs<T>(X, lambdas, "lambdas", &lam);
    hmm_parameters(r, startprob, transmat, offsets);
    return f(r, hmm::lanes::Poisson<T>(r.x, int(r.h.K), int(r.D), lam));
  });
}

// The three passes on an emission from rows (forward_backward's, viterbi's and e_step_diag's outputs).
struct ForwardBackwardRows {
  bool want_posteriors, want_xi;
  template <class T, class Em>
  py::tuple operator()(const RowsInputs<T>& r, const Em& em) const {
    FbOutputs<T> o(r.h, want_posteriors, want_xi);
    {
      NoGil nogil;
      hmm::forward_backward_rows(r.h.N, int(r.h.K), r.h.S, r.pi, r.A, em, r.h.offsets, o.pl, o.pp, o.px);
    }
    return o.result();
  }
};

struct ViterbiRows {
  template <class T, class Em>
  py::tuple operator()(const RowsInputs<T>& r, const Em& em) const {
    auto logprob = out<T>({r.h.S});
    auto states = out<int64_t>({r.h.N});
    T* pl = ptr(logprob);
    int64_t* ps = ptr(states);
    {
      NoGil nogil;
      hmm::viterbi_rows(r.h.N, int(r.h.K), r.h.S, r.pi, r.A, em, r.h.offsets, pl, ps);
    }
    return py::make_tuple(logprob, states);
  }
};

struct EStepRows {
  bool want_xi;
  template <class T, class Em>
  py::tuple operator()(const RowsInputs<T>& r, const Em& em) const {
    const int64_t K = r.h.K, D = r.D, C = em.components();
    auto logprob = out<T>({r.h.S});
    auto start = out<T>({K});
    auto xi = want_xi ? out<T>({K, K}) : out<T>({0});
    auto ws = out<T>({C});
    auto wx = out<T>({C, D});
    auto wxx = Em::order == 0 ? out<T>({0}) : Em::order == 1 ? out<T>({C, D}) : out<T>({C, D, D});
    T* px = want_xi ? ptr(xi) : nullptr;
    {
      NoGil nogil;
      hmm::e_step_rows(r.h.N, int(K), r.h.S, r.pi, r.A, em, r.h.offsets, ptr(logprob), ptr(start), px, ptr(ws),
                       ptr(wx), ptr(wxx));
    }
    return py::make_tuple(logprob, start, want_xi ? py::object(xi) : py::object(py::none()), ws, wx,
                          Em::order == 0 ? py::object(py::none()) : py::object(wxx));
  }
};

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

// forward_backward_<kind>, e_step_<kind> and viterbi_<kind> of a Gaussian kind: means and one
// array of precisions (named `prec`), checked and made into the emission by `build`.
template <class Build>
static void def_gaussian(py::module_& m, const std::string& kind, const char* prec, const std::string& what,
                         const std::string& densities, const char* e_step_doc, Build build) {
  using A = py::array;
  m.def(("forward_backward_" + kind).c_str(),
        [build](A sp, A tm, A X, A means, A p, A off, bool wp, bool wx) {
          return with_gaussian(sp, tm, X, means, p, off, build, ForwardBackwardRows{wp, wx});
        },
        py::arg("startprob"), py::arg("transmat"), py::arg("X"), py::arg("means"), py::arg(prec), py::arg("offsets"),
        py::arg("want_posteriors") = true, py::arg("want_xi") = true,
        ("forward_backward with " + what + " emissions computed inside the pass (" + densities + "), same outputs.")
            .c_str());
  m.def(("e_step_" + kind).c_str(),
        [build](A sp, A tm, A X, A means, A p, A off, bool wx) {
          return with_gaussian(sp, tm, X, means, p, off, build, EStepRows{wx});
        },
        py::arg("startprob"), py::arg("transmat"), py::arg("X"), py::arg("means"), py::arg(prec), py::arg("offsets"),
        py::arg("want_xi") = true, e_step_doc);
  m.def(("viterbi_" + kind).c_str(),
        [build](A sp, A tm, A X, A means, A p, A off) {
          return with_gaussian(sp, tm, X, means, p, off, build, ViterbiRows{});
        },
        py::arg("startprob"), py::arg("transmat"), py::arg("X"), py::arg("means"), py::arg(prec), py::arg("offsets"),
        ("viterbi with " + what + " emissions computed inside the pass.").c_str());
}

// forward_backward_gmm_<kind>, e_step_gmm_<kind> and viterbi_gmm_<kind>: a GMMHMM's components
// as the Gaussian kind's (means T[K M, D], `prec`, made into components by `build`) with
// log_weights T[K, M].
template <class Build>
static void def_mixture(py::module_& m, const std::string& kind, const char* prec, const char* e_step_doc,
                        Build build) {
  using A = py::array;
  m.def(("forward_backward_gmm_" + kind).c_str(),
        [build](A sp, A tm, A X, A means, A p, A lw, A off, bool wp, bool wx) {
          return with_mixture(sp, tm, X, means, p, lw, off, build, ForwardBackwardRows{wp, wx});
        },
        py::arg("startprob"), py::arg("transmat"), py::arg("X"), py::arg("means"), py::arg(prec),
        py::arg("log_weights"), py::arg("offsets"), py::arg("want_posteriors") = true, py::arg("want_xi") = true,
        ("forward_backward with mixtures of " + kind + " Gaussians per state computed inside the pass "
         "(emissions.mixture_logprob of the components' densities), same outputs.").c_str());
  m.def(("e_step_gmm_" + kind).c_str(),
        [build](A sp, A tm, A X, A means, A p, A lw, A off, bool wx) {
          return with_mixture(sp, tm, X, means, p, lw, off, build, EStepRows{wx});
        },
        py::arg("startprob"), py::arg("transmat"), py::arg("X"), py::arg("means"), py::arg(prec),
        py::arg("log_weights"), py::arg("offsets"), py::arg("want_xi") = true, e_step_doc);
  m.def(("viterbi_gmm_" + kind).c_str(),
        [build](A sp, A tm, A X, A means, A p, A lw, A off) {
          return with_mixture(sp, tm, X, means, p, lw, off, build, ViterbiRows{});
        },
        py::arg("startprob"), py::arg("transmat"), py::arg("X"), py::arg("means"), py::arg(prec),
        py::arg("log_weights"), py::arg("offsets"),
        ("viterbi with mixtures of " + kind + " Gaussians per state computed inside the pass.").c_str());
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
  using A = py::array;
  const char* e_step_doc =
      "One EM E-step, no N x K array -> (logprob[S], start[K] (summed first-frame posteriors), xi_sum[K,K] or None, "
      "w_sum[C], wx[C,D], wxx) (weighted_moments of the posteriors: order 1 (diag, wxx[C,D]), 2 (full, wxx[C,D,D]), "
      "0 (poisson, wxx None); C = K, or K * n_mix for gmm_*: the components' posteriors).";
  def_gaussian(m, "diag", "precisions", "diagonal Gaussian", "emissions.gaussian_logprob_diag's densities",
               e_step_doc, DiagComponents{});
  def_gaussian(m, "full", "prec_chol", "full (K factors) or tied (1) Gaussian",
               "emissions.gaussian_logprob_full's densities", e_step_doc, FullComponents{});
  def_mixture(m, "diag", "precisions", e_step_doc, DiagComponents{});
  def_mixture(m, "full", "prec_chol", e_step_doc, FullComponents{});
  m.def("forward_backward_poisson",
        [](A sp, A tm, A X, A lambdas, A off, bool wp, bool wx) {
          return with_poisson(sp, tm, X, lambdas, off, ForwardBackwardRows{wp, wx});
        },
        py::arg("startprob"), py::arg("transmat"), py::arg("X"), py::arg("lambdas"), py::arg("offsets"),
        py::arg("want_posteriors") = true, py::arg("want_xi") = true,
        "forward_backward with Poisson emissions computed inside the pass (emissions.poisson_logprob's), same "
        "outputs.");
  m.def("e_step_poisson",
        [](A sp, A tm, A X, A lambdas, A off, bool wx) { return with_poisson(sp, tm, X, lambdas, off, EStepRows{wx}); },
        py::arg("startprob"), py::arg("transmat"), py::arg("X"), py::arg("lambdas"), py::arg("offsets"),
        py::arg("want_xi") = true, e_step_doc);
  m.def("viterbi_poisson",
        [](A sp, A tm, A X, A lambdas, A off) { return with_poisson(sp, tm, X, lambdas, off, ViterbiRows{}); },
        py::arg("startprob"), py::arg("transmat"), py::arg("X"), py::arg("lambdas"), py::arg("offsets"),
        "viterbi with Poisson emissions computed inside the pass.");
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
