"""Plain NumPy oracles of one EM step (GaussianMixture) and one variational step
(BayesianGaussianMixture), written from the formulas (Bishop, PRML 9.2 and 10.2, in
scikit-learn's parametrisation) for clarity, not speed: dense responsibilities, one component at
a time, covariances from the centred data, log-densities from slogdet and solve.

Covariances are always passed around in scikit-learn's compact layout for `covariance_type`
(full (K, D, D), tied (D, D), diag (K, D), spherical (K,)).
"""
from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, gammaln, logsumexp

EPS = np.finfo(np.float64).eps


def full_covariances(cov, covariance_type, K, D):
    cov = np.asarray(cov, dtype=np.float64)
    if covariance_type == "full":
        return cov
    if covariance_type == "tied":
        return np.repeat(cov[None], K, axis=0)
    if covariance_type == "diag":
        return np.array([np.diag(c) for c in cov])
    return np.array([c * np.eye(D) for c in cov])


def gaussian_log_density(X, means, cov, covariance_type):
    """log N(x_n | mu_k, Sigma_k), (N, K), from slogdet and a linear solve per component."""
    K, D = means.shape
    covs = full_covariances(cov, covariance_type, K, D)
    out = np.empty((len(X), K))
    for k in range(K):
        diff = X - means[k]
        _, logdet = np.linalg.slogdet(covs[k])
        maha = np.einsum("nd,nd->n", diff, np.linalg.solve(covs[k], diff.T).T)
        out[:, k] = -0.5 * (D * np.log(2 * np.pi) + logdet + maha)
    return out


def responsibilities(weighted_log_prob):
    """(log p(x_n), r_nk) from log N(x_n | k) + log-weight_k."""
    log_norm = logsumexp(weighted_log_prob, axis=1)
    return log_norm, np.exp(weighted_log_prob - log_norm[:, None])


def gaussian_statistics(X, resp, reg_covar, covariance_type):
    """scikit-learn's _estimate_gaussian_parameters, from the centred data: (nk + 10 eps, means, covariances)."""
    N, D = X.shape
    K = resp.shape[1]
    nk = resp.sum(axis=0) + 10 * EPS
    means = resp.T @ X / nk[:, None]
    scatters = np.array([(resp[:, k, None] * (X - means[k])).T @ (X - means[k]) for k in range(K)])
    if covariance_type == "full":
        cov = scatters / nk[:, None, None] + reg_covar * np.eye(D)
    elif covariance_type == "tied":
        cov = scatters.sum(axis=0) / nk.sum() + reg_covar * np.eye(D)
    elif covariance_type == "diag":
        cov = np.array([np.diag(s) for s in scatters]) / nk[:, None] + reg_covar
    else:
        cov = (np.array([np.diag(s) for s in scatters]) / nk[:, None] + reg_covar).mean(axis=1)
    return nk, means, cov


def gmm_em_step(X, weights, means, cov, covariance_type, reg_covar):
    """One EM iteration from (weights, means, covariances): returns the mean log-likelihood under
    the given parameters (scikit-learn's lower bound) and the updated parameters."""
    wlp = gaussian_log_density(X, means, cov, covariance_type) + np.log(weights)
    log_norm, resp = responsibilities(wlp)
    nk, new_means, new_cov = gaussian_statistics(X, resp, reg_covar, covariance_type)
    return log_norm.mean(), nk / nk.sum(), new_means, new_cov


# -- variational Bayesian Gaussian mixture -----------------------------------------------------------

def bgmm_priors(X, covariance_type, n_components):
    """scikit-learn's default priors."""
    D = X.shape[1]
    cov = np.atleast_2d(np.cov(X.T))
    var = np.var(X, axis=0, ddof=1)
    return {"weight_concentration_prior": 1.0 / n_components, "mean_precision_prior": 1.0,
            "mean_prior": X.mean(axis=0), "degrees_of_freedom_prior": float(D),
            "covariance_prior": {"full": cov, "tied": cov, "diag": var, "spherical": var.mean()}[covariance_type]}


def bgmm_m_step(X, resp, covariance_type, prior_type, priors, reg_covar):
    """Variational posteriors of the weights, means and precisions given responsibilities
    (Bishop 10.58-10.63; covariances normalised by the degrees of freedom, as scikit-learn stores them)."""
    K = resp.shape[1]
    nk, xk, sk = gaussian_statistics(X, resp, reg_covar, covariance_type)
    p = dict(priors)
    if prior_type == "dirichlet_process":
        tail = np.array([nk[k + 1:].sum() for k in range(K)])
        p["weight_concentration_"] = (1.0 + nk, priors["weight_concentration_prior"] + tail)
    else:
        p["weight_concentration_"] = priors["weight_concentration_prior"] + nk
    beta0, m0 = priors["mean_precision_prior"], priors["mean_prior"]
    nu0, W0inv = priors["degrees_of_freedom_prior"], priors["covariance_prior"]
    p["mean_precision_"] = beta0 + nk
    p["means_"] = (beta0 * m0 + nk[:, None] * xk) / p["mean_precision_"][:, None]
    diff = xk - m0
    shrink = nk * beta0 / p["mean_precision_"]
    if covariance_type == "full":
        p["degrees_of_freedom_"] = nu0 + nk
        cov = np.array([W0inv + nk[k] * sk[k] + shrink[k] * np.outer(diff[k], diff[k]) for k in range(K)])
        cov /= p["degrees_of_freedom_"][:, None, None]
    elif covariance_type == "tied":
        p["degrees_of_freedom_"] = nu0 + nk.sum() / K
        cov = W0inv + sk * nk.sum() / K + sum(shrink[k] * np.outer(diff[k], diff[k]) for k in range(K)) / K
        cov /= p["degrees_of_freedom_"]
    elif covariance_type == "diag":
        p["degrees_of_freedom_"] = nu0 + nk
        cov = (W0inv + nk[:, None] * sk + shrink[:, None] * diff ** 2) / p["degrees_of_freedom_"][:, None]
    else:
        p["degrees_of_freedom_"] = nu0 + nk
        cov = (W0inv + nk * sk + shrink * (diff ** 2).mean(axis=1)) / p["degrees_of_freedom_"]
    p["covariances_"] = cov
    return p


def _expected_log_weights(p, prior_type):
    wc = p["weight_concentration_"]
    if prior_type == "dirichlet_process":
        a, b = wc
        e_log_v = digamma(a) - digamma(a + b)          # E[log v_k]
        e_log_1mv = digamma(b) - digamma(a + b)        # E[log (1 - v_k)]
        return e_log_v + np.concatenate([[0.0], np.cumsum(e_log_1mv)[:-1]])
    return digamma(wc) - digamma(wc.sum())


def bgmm_weighted_log_prob(X, p, covariance_type, prior_type):
    """E_q[log pi_k + log N(x_n | mu_k, Lambda_k)] up to constants (Bishop 10.64-10.66)."""
    K, D = p["means_"].shape
    dof = np.broadcast_to(p["degrees_of_freedom_"], (K,))
    # Gaussian with the normalised covariance, then the Wishart's expected log-determinant terms.
    log_gauss = gaussian_log_density(X, p["means_"], p["covariances_"], covariance_type) - 0.5 * D * np.log(dof)
    log_lambda = D * np.log(2.0) + np.array([digamma(0.5 * (dof[k] - np.arange(D))).sum() for k in range(K)])
    return log_gauss + 0.5 * (log_lambda - D / p["mean_precision_"]) + _expected_log_weights(p, prior_type)


def bgmm_lower_bound(resp, p, covariance_type, prior_type):
    """scikit-learn's lower bound (constants dropped) for responsibilities `resp` and posteriors `p`."""
    K, D = p["means_"].shape
    covs = full_covariances(p["covariances_"], covariance_type, K, D)
    dof = np.broadcast_to(p["degrees_of_freedom_"], (K,))
    # log-det of the precision Cholesky factor of the normalised covariance, minus the normalisation.
    log_det_chol = np.array([-0.5 * np.linalg.slogdet(c)[1] for c in covs]) - 0.5 * D * np.log(dof)
    log_wishart = np.array([-(dof[k] * log_det_chol[k] + dof[k] * D * 0.5 * np.log(2.0)
                              + gammaln(0.5 * (dof[k] - np.arange(D))).sum()) for k in range(K)])
    if prior_type == "dirichlet_process":
        log_norm_weight = -betaln(*p["weight_concentration_"]).sum()
    else:
        wc = p["weight_concentration_"]
        log_norm_weight = gammaln(wc.sum()) - gammaln(wc).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        r_log_r = np.where(resp > 0, resp * np.log(resp), 0.0).sum()
    return -r_log_r - log_wishart.sum() - log_norm_weight - 0.5 * D * np.log(p["mean_precision_"]).sum()


def bgmm_weights(p, prior_type):
    wc = p["weight_concentration_"]
    if prior_type == "dirichlet_process":
        a, b = wc
        v = a / (a + b)
        w = v * np.concatenate([[1.0], np.cumprod(1 - v)[:-1]])
        return w / w.sum()
    return wc / wc.sum()


def bgmm_vb_steps(X, resp0, covariance_type, prior_type, priors, reg_covar, n_steps):
    """Initial posteriors from `resp0`, then `n_steps` E+M iterations. Returns (lower bounds, posteriors)."""
    p = bgmm_m_step(X, resp0, covariance_type, prior_type, priors, reg_covar)
    bounds = []
    for _ in range(n_steps):
        _, resp = responsibilities(bgmm_weighted_log_prob(X, p, covariance_type, prior_type))
        p = bgmm_m_step(X, resp, covariance_type, prior_type, priors, reg_covar)
        bounds.append(bgmm_lower_bound(resp, p, covariance_type, prior_type))
    p["weights_"] = bgmm_weights(p, prior_type)
    return np.array(bounds), p
