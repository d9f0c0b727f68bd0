"""MADE training and scoring kernels on CUDA (Numba): the GPU twin of ``csrc/autoregressive/made.hpp``; contract in
``csrc/KERNELS.md`` ("MADE"). Same names, arguments and results as ``fastgen._core``:

- ``categorical_nll(Z, X, scale) -> (loss float64[N], dZ)``
- ``gaussian_mixture_nll(Z, X, scale) -> (loss float64[N], dZ)``
- ``made_step(theta, m, v, sizes, acts, slope, mask, X, output, n_out, t, optimizer, hp) -> float64[1]``
- ``made_logprob(theta, sizes, acts, slope, X, output, n_out) -> float64[N]``

Built on the MLP engine shared with nn (``common/mlp/``): ``dense`` (products, network walks),
``elementwise`` (Bernoulli loss, batch means), ``optim`` (the optimiser). New here: the masked copy of theta, the
categorical and mixture losses (one thread per (row, variable) writing that variable's loss, then
one thread per row summing them in variable order: deterministic, no atomics), and the one-hot
first layer run from the category indices (a gather of W_1's rows, one thread per (row, unit); its
weight gradient one thread per (variable, unit) adding the rows of dz_1 in row order).

The data values are checked on the device before a step (one int64 flag read back): category
indices must be integers in [0, V) (they address weight rows), other values finite.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from numba import cuda

from ..common.args import DevArg, integer, launch1 as _launch, matrix, real, vector
from ..common.mlp import dense as _dense
from ..common.mlp import elementwise as _ew
from ..common.mlp.net import Net
from ..common.mlp.optim import Optimiser as _Optimiser, optimizer_code as _optimizer_code, rows as _rows
from ..common.widen import f64 as _f64

__all__ = ["categorical_nll", "gaussian_mixture_nll", "made_step", "made_logprob"]

BERNOULLI, CATEGORICAL, GAUSSIAN_MIXTURE = 0, 1, 2
_HALF_LOG_2PI = 0.91893853320467274178
_NAMES = {BERNOULLI: "Bernoulli", CATEGORICAL: "categorical", GAUSSIAN_MIXTURE: "Gaussian mixture"}


@cuda.jit(device=True)
def _span_logsumexp(Z, n, b, count):
    """logsumexp of Z[n, b : b + count] in float64: the max, then the shifted exps in order."""
    mx = _f64(Z[n, b])
    for v in range(1, count):
        mx = max(mx, _f64(Z[n, b + v]))
    s = 0.0
    for v in range(count):
        s += math.exp(_f64(Z[n, b + v]) - mx)
    return mx + math.log(s)


@functools.lru_cache(maxsize=None)
def kernels(dtype_name: str):
    """The MADE kernels of one float dtype (compiled at their first launch)."""
    F = np.float32 if dtype_name == "float32" else np.float64
    ZERO = F(0.0)
    act, _ = _dense.activations(dtype_name)

    @cuda.jit
    def mask_mul(a, b, out):
        """out = a * b (flat; out may be a)."""
        i = cuda.grid(1)
        if i < out.shape[0]:
            out[i] = a[i] * b[i]

    @cuda.jit
    def check_values(X, categorical, V, first_bad):
        """first_bad[0] = min flat index of a value that is not a category index in [0, V)
        (categorical) or not finite (others)."""
        i = cuda.grid(1)
        D = X.shape[1]
        if i >= X.shape[0] * D:
            return
        x = _f64(X[i // D, i % D])
        if categorical:
            ok = x >= 0.0 and x < V and x == math.floor(x)
        else:
            ok = not (math.isinf(x) or math.isnan(x))
        if not ok:
            cuda.atomic.min(first_bad, 0, np.int64(i))

    @cuda.jit
    def one_hot_forward(X, W, b, V, code, slope, out):
        """out[n, h] = act(sum_d W[d V + X[n, d], h] + b[h]), d in order (the one-hot product)."""
        i = cuda.grid(1)
        H = out.shape[1]
        if i >= out.shape[0] * H:
            return
        n = i // H
        h = i % H
        acc = ZERO
        for d in range(X.shape[1]):
            acc += W[d * V + int(X[n, d]), h]
        out[n, h] = act(acc + b[h], code, slope)

    @cuda.jit
    def one_hot_weight_grad(X, dz, V, G):
        """G [D V + 1, H] = [onehot | 1]^T dz: rows d V .. d V + V - 1 of (variable d, unit h) add
        dz[n, h] into row d V + X[n, d] for n in order; the last row is the bias gradient."""
        i = cuda.grid(1)
        D = X.shape[1]
        H = dz.shape[1]
        if i >= (D + 1) * H:
            return
        d = i // H
        h = i % H
        if d == D:
            s = ZERO
            for n in range(dz.shape[0]):
                s += dz[n, h]
            G[D * V, h] = s
            return
        for v in range(V):
            G[d * V + v, h] = ZERO
        for n in range(dz.shape[0]):
            r = d * V + int(X[n, d])
            G[r, h] = G[r, h] + dz[n, h]

    @cuda.jit
    def categorical_vars(Z, X, V, scale, want_grad, per_var, dZ):
        """Variable d of row n: per_var[n, d] = logsumexp(z) - z_c (float64);
        dZ = scale (softmax(z) - onehot(c)), z = Z[n, dV : dV + V], c = X[n, d]."""
        i = cuda.grid(1)
        D = X.shape[1]
        if i >= X.shape[0] * D:
            return
        n = i // D
        d = i % D
        base = d * V
        c = int(X[n, d])
        lse = _span_logsumexp(Z, n, base, V)
        per_var[n, d] = lse - _f64(Z[n, base + c])
        if want_grad:
            for v in range(V):
                p = math.exp(_f64(Z[n, base + v]) - lse)
                if v == c:
                    p -= 1.0
                dZ[n, base + v] = F(scale * p)

    @cuda.jit
    def mixture_vars(Z, X, K, scale, want_grad, per_var, dZ):
        """Variable d of row n, (a | mu | s) = Z[n, 3Kd : 3K(d + 1)], x = X[n, d]:
        per_var[n, d] = -logsumexp_k l_k, l_k = log_softmax(a)_k - log(2 pi)/2 - s_k - u_k^2 / 2,
        u_k = (x - mu_k) e^-s_k; gradients as csrc/autoregressive/made.hpp mixture_rows (float64 math)."""
        i = cuda.grid(1)
        D = X.shape[1]
        if i >= X.shape[0] * D:
            return
        n = i // D
        d = i % D
        b = 3 * K * d
        x = _f64(X[n, d])
        lsa = _span_logsumexp(Z, n, b, K)
        lmax = -math.inf
        for k in range(K):
            s = _f64(Z[n, b + 2 * K + k])
            u = (x - _f64(Z[n, b + K + k])) * math.exp(-s)
            lk = (_f64(Z[n, b + k]) - lsa) - _HALF_LOG_2PI - s - 0.5 * u * u
            lmax = max(lmax, lk)
        lse = -math.inf
        if lmax > -math.inf:
            sl = 0.0
            for k in range(K):
                s = _f64(Z[n, b + 2 * K + k])
                u = (x - _f64(Z[n, b + K + k])) * math.exp(-s)
                sl += math.exp((_f64(Z[n, b + k]) - lsa) - _HALF_LOG_2PI - s - 0.5 * u * u - lmax)
            lse = lmax + math.log(sl)
        per_var[n, d] = -lse
        if not want_grad:
            return
        for k in range(K):
            s = _f64(Z[n, b + 2 * K + k])
            inv = math.exp(-s)
            u = (x - _f64(Z[n, b + K + k])) * inv
            lk = (_f64(Z[n, b + k]) - lsa) - _HALF_LOG_2PI - s - 0.5 * u * u
            pi = math.exp(_f64(Z[n, b + k]) - lsa)
            r = math.exp(lk - lse) if lse > -math.inf else 0.0
            dZ[n, b + k] = F(scale * (pi - r))
            if r > 0.0:
                dZ[n, b + K + k] = F(-scale * r * u * inv)
                dZ[n, b + 2 * K + k] = F(scale * r * (1.0 - u * u))
            else:
                dZ[n, b + K + k] = ZERO
                dZ[n, b + 2 * K + k] = ZERO

    @cuda.jit
    def sum_vars(per_var, sign, out):
        """out[n] = sign * sum_d per_var[n, d] in variable order."""
        n = cuda.grid(1)
        if n >= per_var.shape[0]:
            return
        s = 0.0
        for d in range(per_var.shape[1]):
            s += per_var[n, d]
        out[n] = sign * s

    @cuda.jit
    def negate(a):
        i = cuda.grid(1)
        if i < a.shape[0]:
            a[i] = -a[i]

    return {name: fn for name, fn in locals().items() if isinstance(fn, type(mask_mul))}


# ---------------------------------------------------------------------------------------------
# Arguments


def _output(output, n_out):
    output = integer(output, "output", 0, 2)
    n_out = integer(n_out, "n_out")
    if output == BERNOULLI and n_out != 1:
        raise ValueError(f"n_out: must be 1 for Bernoulli outputs, got {n_out}")
    if n_out < 1:
        what = "categories" if output == CATEGORICAL else "mixture components"
        raise ValueError(f"n_out: the number of {what} must be >= 1, got {n_out}")
    return output, n_out


def _widths(output, n_out):
    return (n_out if output == CATEGORICAL else 1,
            n_out if output == CATEGORICAL else 3 * n_out if output == GAUSSIAN_MIXTURE else 1)


def _layout(net: Net, X, output, n_out) -> int:
    """n_features D from sizes (the checks and messages of the C++ binding)."""
    wi, wo = _widths(output, n_out)
    name = _NAMES[output]
    if net.d_in % wi:
        raise ValueError(f"sizes: the input width must be n_features * {wi} for {name} outputs, got {net.d_in}")
    D = net.d_in // wi
    shape = tuple(getattr(X, "shape", np.shape(X)))
    if len(shape) != 2 or shape[1] != D:
        raise ValueError(f"X: expected shape (*, {D}) (sizes[0] = {net.d_in}), got shape {shape}")
    if net.d_out != D * wo:
        raise ValueError(f"sizes: the output width must be n_features * {wo} = {D * wo} for {name} outputs with "
                         f"n_out = {n_out}, got {net.d_out}")
    if int(net.acts[-1]) != _dense.IDENTITY:
        raise ValueError(f"acts: the output layer must be the identity (it gives logits / mixture parameters), "
                         f"got code {int(net.acts[-1])}")
    return D


def _check_values(Xa: DevArg, output, n_out, name="X"):
    """Category indices in [0, V) / finite values, else ValueError naming the first bad entry."""
    N, D = Xa.shape
    if N * D == 0:
        return
    categorical = output == CATEGORICAL
    if Xa.host is not None:
        x = np.asarray(Xa.host, np.float64)
        ok = ((x >= 0) & (x < n_out) & (x == np.floor(x))) if categorical else np.isfinite(x)
        bad = -1 if ok.all() else int(np.argmin(ok.ravel()))
    else:
        flag = cuda.to_device(np.array([N * D], np.int64))
        kernels(Xa.dtype.name)["check_values"][_launch(N * D)](Xa.dev, categorical, float(n_out), flag)
        first = int(flag.copy_to_host()[0])
        bad = -1 if first == N * D else first
    if bad >= 0:
        i, j = divmod(bad, D)
        value = float(Xa.host[i, j]) if Xa.host is not None else float(Xa.dev[i:i + 1, j:j + 1].copy_to_host()[0, 0])
        what = f"a category index (an integer in [0, {n_out}))" if categorical else "a finite value"
        raise ValueError(f"{name}: expected {what} at ({i}, {j}), got {value}")


class _Masked:
    """The masked network theta * mask: the whole net, and for one-hot inputs its tail from layer 2."""

    def __init__(self, net: Net, thm, slope, output):
        self.net = Net(thm, np.asarray(net.sizes, np.int64), net.acts, slope, dtype=net.dtype)
        self.tail = None
        if output == CATEGORICAL and net.L > 1:
            self.tail = Net(thm[net.offsets[1]:], np.asarray(net.sizes[1:], np.int64), net.acts[1:], slope,
                            dtype=net.dtype)


def _forward(mk: _Masked, Xd, output, V, N):
    """Every layer's [N, d_l] activation views (one-hot first layer from the indices)."""
    net = mk.net
    if output != CATEGORICAL:
        return _dense.forward(net, Xd, None)
    d1 = net.sizes[1]
    A = cuda.device_array(N * net.n_act, dtype=net.dtype)
    a1 = A[:N * d1].reshape(N, d1)
    kernels(net.dtype.name)["one_hot_forward"][_launch(N * d1)](Xd, net.W(1), net.b(1), V, int(net.acts[0]),
                                                                net.slope_t, a1)
    views = [a1]
    if mk.tail is not None:
        views += _dense.forward(mk.tail, a1, None, out=A[N * d1:])
    return views


def _backward(mk: _Masked, views, Xd, dY, grad, output, V, N):
    net = mk.net
    if output != CATEGORICAL:
        _dense.backward(net, Xd, None, views, dY, grad=grad)
        return
    d1 = net.sizes[1]
    dz1 = dY
    if mk.tail is not None:
        da1 = cuda.device_array((N, d1), dtype=net.dtype)
        _dense.backward(mk.tail, views[0], None, views[1:], dY, grad=grad[net.offsets[1]:], dX=da1)
        dz1 = cuda.device_array((N, d1), dtype=net.dtype)
        dense = _dense.kernels(net.dtype.name, _dense.geometry)
        dense["output_grad"][_launch(N * d1)](da1, views[0], int(net.acts[0]), net.slope_t, dz1)
    D = Xd.shape[1]
    kernels(net.dtype.name)["one_hot_weight_grad"][_launch((D + 1) * d1)](Xd, dz1, V, net.grad_block(grad, 1))


def _nll(T, output, n_out, Y, Xd, scale, rows, dY, sign=1.0):
    """rows[n] = sign * NLL of row n (float64); dY = scale dNLL/dY when dY is given."""
    N, D = Xd.shape
    want = dY is not None
    if output == BERNOULLI:
        g = dY if want else cuda.device_array(Y.shape, dtype=T)
        _ew.kernels(T.name)["bce_logits"][_launch(N)](Y, Xd, T.type(scale), rows, g)
        if sign < 0:
            kernels(T.name)["negate"][_launch(N)](rows)
        return
    k = kernels(T.name)
    per_var = cuda.device_array((N, D), dtype=np.float64)
    g = dY if want else cuda.device_array((1, 1), dtype=T)
    name = "categorical_vars" if output == CATEGORICAL else "mixture_vars"
    k[name][_launch(N * D)](Y, Xd, n_out, float(scale), want, per_var, g)
    k["sum_vars"][_launch(N)](per_var, float(sign), rows)


# ---------------------------------------------------------------------------------------------
# Contract functions


def _loss(Z, X, scale, output, factor):
    Za = DevArg(Z, "Z", 2)
    T = Za.float_dtype()
    N, W = Za.shape
    Xa = matrix(X, "X", T, N, -1)
    D = Xa.shape[1]
    sc = real(scale, "scale")
    if D < 1 or W == 0 or W % (D * factor):
        per = "V" if output == CATEGORICAL else "3 K"
        raise ValueError(f"Z: expected {per} columns per variable of X ({D} variables), got shape {Za.shape}")
    n_out = W // (D * factor)
    _check_values(Xa, output, n_out)
    loss = cuda.device_array(N, dtype=np.float64)
    dZ = cuda.device_array((N, W), dtype=T)
    if N:
        _nll(T, output, n_out, Za.device(), Xa.device(), sc, loss, dZ)
    return loss, dZ


def categorical_nll(Z, X, scale):
    """(loss float64[N], dZ): V logits per variable (Z [N, D V]), category indices X [N, D] (as T)."""
    return _loss(Z, X, scale, CATEGORICAL, 1)


def gaussian_mixture_nll(Z, X, scale):
    """(loss float64[N], dZ): per variable K weight logits, K means, K log-stds (Z [N, 3 K D])."""
    return _loss(Z, X, scale, GAUSSIAN_MIXTURE, 3)


def made_step(theta, m, v, sizes, acts, slope, mask, X, output, n_out, t, optimizer, hp):
    """One training step at the weights theta * mask, in place -> float64[1] mean NLL before the update."""
    net = Net(theta, sizes, acts, slope, in_place=True)
    t = integer(t, "t", low=1)
    opt = _Optimiser(net, m, v, _optimizer_code(optimizer), hp, ("m", "v", "hp"))
    output, n_out = _output(output, n_out)
    D = _layout(net, X, output, n_out)
    T = net.dtype
    Md = vector(mask, "mask", T, net.P).device()
    Xa = _rows(X, "X", T, D)
    N = Xa.shape[0]
    _check_values(Xa, output, n_out)
    k = kernels(T.name)
    thm = cuda.device_array(net.P, dtype=T)
    k["mask_mul"][_launch(net.P)](net.theta, Md, thm)
    mk = _Masked(net, thm, slope, output)
    Xd = Xa.device()
    views = _forward(mk, Xd, output, n_out, N)
    rows = cuda.device_array(N, dtype=np.float64)
    dY = cuda.device_array((N, net.d_out), dtype=T)
    _nll(T, output, n_out, views[-1], Xd, 1.0 / N, rows, dY)
    grad = cuda.device_array(net.P, dtype=T)
    _backward(mk, views, Xd, dY, grad, output, n_out, N)
    k["mask_mul"][_launch(net.P)](grad, Md, grad)
    out = cuda.device_array(1, dtype=np.float64)
    _ew.batch_mean(rows, out, 0)
    opt.step(net, grad, t)
    return out


def made_logprob(theta, sizes, acts, slope, X, output, n_out):
    """Exact log p(x) per row (float64[N]) for the masked parameters theta."""
    net = Net(theta, sizes, acts, slope)
    output, n_out = _output(output, n_out)
    D = _layout(net, X, output, n_out)
    Xa = matrix(X, "X", net.dtype, -1, D)
    N = Xa.shape[0]
    _check_values(Xa, output, n_out)
    out = cuda.device_array(N, dtype=np.float64)
    if N == 0:
        return out
    mk = _Masked(net, net.theta, slope, output)
    Xd = Xa.device()
    views = _forward(mk, Xd, output, n_out, N)
    _nll(net.dtype, output, n_out, views[-1], Xd, 0.0, out, None, sign=-1.0)
    return out
