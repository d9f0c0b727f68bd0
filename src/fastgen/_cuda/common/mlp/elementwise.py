"""Row-wise and elementwise kernels of the CUDA nn engine: losses, the VAE's reparameterisation,
optimisers, batch means and the GAN's input assembly. Contract: ``csrc/KERNELS.md``, "Neural
networks"; CPU twin ``csrc/nn/nn.hpp``.

Loss kernels run one thread per row: the row's loss is a float64 sum over its features in
feature order (deterministic, no atomics) and the gradients are written on the way. Batch means
(``mean_rows``) are one block: each thread adds a fixed strided set of rows, then a fixed tree in
shared memory -- the same result on every run. Gradient values are computed in T; loss terms in
float64 from the widened T values (``widen.f64``: a float32 value must not keep the math in
float32 on the GPU).

Random draws: eps[n, k] / noise[n, j] is the Philox normal of element index n * width + j of the
stream and the WGAN-GP mixing weight e_n the uniform of index n (``common/philox.py``), as on
the CPU.
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
from numba import cuda

from ..philox import normal_at, stream_uniform
from ..widen import f64 as _f64

_LOG_2PI = 1.8378770664093454835606594728112
RED_THREADS = 128  # threads of the batch-mean block (a power of two)


@cuda.jit(device=True)
def softplus_d(z):
    """log(1 + e^z) in float64, stable: max(z, 0) + log1p(e^-|z|)."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@functools.lru_cache(maxsize=None)
def kernels(dtype_name: str):
    """The elementwise kernels of one float dtype (compiled at their first launch)."""
    F = np.float32 if dtype_name == "float32" else np.float64
    ZERO, ONE, HALF = F(0.0), F(1.0), F(0.5)

    @cuda.jit(device=True)
    def sigmoid_t(z):
        if z >= ZERO:
            return ONE / (ONE + F(math.exp(-z)))
        e = F(math.exp(z))
        return e / (ONE + e)

    @cuda.jit
    def bce_logits(Z, X, scale, loss, dZ):
        """loss[n] = sum_d softplus(z) - x z (float64); dZ = scale (sigmoid(z) - x)."""
        n = cuda.grid(1)
        if n >= Z.shape[0]:
            return
        s = 0.0
        for d in range(Z.shape[1]):
            z = Z[n, d]
            x = X[n, d]
            zd = _f64(z)
            s += softplus_d(zd) - _f64(x) * zd
            dZ[n, d] = scale * (sigmoid_t(z) - x)
        loss[n] = s

    @cuda.jit
    def squared_error(A, Y, scale, loss, dA):
        """loss[n] = 0.5 sum_d (y - a)^2 (float64); dA = scale (a - y)."""
        n = cuda.grid(1)
        if n >= A.shape[0]:
            return
        s = 0.0
        for d in range(A.shape[1]):
            a = A[n, d]
            y = Y[n, d]
            r = _f64(y) - _f64(a)
            s += r * r
            dA[n, d] = scale * (a - y)
        loss[n] = 0.5 * s

    @cuda.jit
    def gaussian_nll(M, m0, S, s0, s_rows, X, scale, loss, dM, dm0, want_ds, dS, ds0):
        """Means M[n, m0 + d], log-variances S[n or 0, s0 + d] (s_rows: one row per sample, else
        the fixed row 0): loss[n] = 0.5 sum_d (log 2pi + s + (x - m)^2 e^-s) (float64);
        dM[n, dm0 + d] = scale (m - x) e^-s; dS[n, ds0 + d] = scale 0.5 (1 - (x - m)^2 e^-s)."""
        n = cuda.grid(1)
        if n >= X.shape[0]:
            return
        acc = 0.0
        for d in range(X.shape[1]):
            m = M[n, m0 + d]
            s = S[n, s0 + d] if s_rows else S[0, s0 + d]
            x = X[n, d]
            sd = _f64(s)
            rd = _f64(x) - _f64(m)
            acc += _LOG_2PI + sd + rd * rd * math.exp(-sd)
            ie = F(math.exp(-s))
            r = x - m
            dM[n, dm0 + d] = scale * (-r * ie)
            if want_ds:
                dS[n, ds0 + d] = scale * HALF * (ONE - r * r * ie)
        loss[n] = 0.5 * acc

    @cuda.jit
    def kl_reparam(H, k0, k1, s0, s1, Zs, eps, kl):
        """H = [mu | lv] [N, 2K]: eps = normals n K + k, Zs = mu + exp(lv / 2) eps,
        kl[n] = -0.5 sum_k (1 + lv - mu^2 - e^lv) (float64)."""
        n = cuda.grid(1)
        if n >= H.shape[0]:
            return
        K = Zs.shape[1]
        s = 0.0
        for k in range(K):
            mu = H[n, k]
            lv = H[n, K + k]
            e = F(normal_at(k0, k1, s0, s1, n * K + k))
            eps[n, k] = e
            Zs[n, k] = mu + F(math.exp(lv * HALF)) * e
            mud = _f64(mu)
            lvd = _f64(lv)
            s += 1.0 + lvd - mud * mud - math.exp(lvd)
        kl[n] = -0.5 * s

    @cuda.jit
    def kl_reparam_backward(H, eps, dZs, c, dH):
        """c = scale kl_weight: dmu = dZs + c mu, dlv = dZs eps exp(lv/2) / 2 + c 0.5 (e^lv - 1)."""
        i = cuda.grid(1)
        K = eps.shape[1]
        if i >= eps.shape[0] * K:
            return
        n = i // K
        k = i % K
        mu = H[n, k]
        lv = H[n, K + k]
        g = dZs[n, k]
        dH[n, k] = g + c * mu
        dH[n, K + k] = g * eps[n, k] * F(math.exp(lv * HALF)) * HALF + c * HALF * F(math.expm1(lv))

    @cuda.jit
    def adam(theta, grad, m, v, beta1, beta2, eps, wd, step_size, bc2_sqrt):
        """torch.optim.Adam's update of one element (scalars precomputed in float64, cast to T)."""
        i = cuda.grid(1)
        if i >= theta.shape[0]:
            return
        g = grad[i] + wd * theta[i]
        mi = beta1 * m[i] + (ONE - beta1) * g
        vi = beta2 * v[i] + (ONE - beta2) * g * g
        m[i] = mi
        v[i] = vi
        denom = F(math.sqrt(vi)) / bc2_sqrt + eps
        theta[i] = theta[i] - step_size * (mi / denom)

    @cuda.jit
    def sgd(theta, grad, vel, lr, momentum, wd, nesterov):
        """torch.optim.SGD with momentum (buffer = velocity; 0 before the first step)."""
        i = cuda.grid(1)
        if i >= theta.shape[0]:
            return
        g = grad[i] + wd * theta[i]
        b = momentum * vel[i] + g
        vel[i] = b
        u = g + momentum * b if nesterov else b
        theta[i] = theta[i] - lr * u

    @cuda.jit
    def add_into(a, b):
        """a += b (flat)."""
        i = cuda.grid(1)
        if i < a.shape[0]:
            a[i] = a[i] + b[i]

    @cuda.jit
    def fill_normals(k0, k1, s0, s1, out):
        """out[n, j] = normal of index n * width + j (the GAN's noise)."""
        i = cuda.grid(1)
        if i < out.size:
            out[i // out.shape[1], i % out.shape[1]] = F(normal_at(k0, k1, s0, s1, i))

    @cuda.jit
    def stack_real_fake(X, fake, C, out):
        """out [2N, d + c] = [[X | C]; [fake | C]]: both discriminator passes in one."""
        i = cuda.grid(1)
        W = out.shape[1]
        N = X.shape[0]
        d = X.shape[1]
        if i >= out.shape[0] * W:
            return
        r = i // W
        j = i % W
        n = r % N
        if j >= d:
            out[r, j] = C[n, j - d]
        elif r < N:
            out[r, j] = X[n, j]
        else:
            out[r, j] = fake[n, j]

    @cuda.jit
    def mix_concat(X, fake, C, k0, k1, s0, s1, out):
        """out [N, d + c] = [e_n X + (1 - e_n) fake | C], e_n = uniform of index n (WGAN-GP)."""
        i = cuda.grid(1)
        W = out.shape[1]
        d = X.shape[1]
        if i >= out.shape[0] * W:
            return
        n = i // W
        j = i % W
        if j >= d:
            out[n, j] = C[n, j - d]
        else:
            e = F(stream_uniform(k0, k1, s0, s1, np.uint64(n)))
            out[n, j] = e * X[n, j] + (ONE - e) * fake[n, j]

    @cuda.jit
    def gan_d_loss(Dout, wgan, inv_n, loss, dY):
        """Dout [2N, 1] = D(real) then D(fake). Row n: non-saturating softplus(-r) + softplus(f),
        WGAN f - r (float64); dY = its derivative / N in each logit."""
        n = cuda.grid(1)
        N = loss.shape[0]
        if n >= N:
            return
        r = Dout[n, 0]
        f = Dout[N + n, 0]
        if wgan:
            loss[n] = _f64(f) - _f64(r)
            dY[n, 0] = -inv_n
            dY[N + n, 0] = inv_n
        else:
            loss[n] = softplus_d(-_f64(r)) + softplus_d(_f64(f))
            dY[n, 0] = -inv_n * sigmoid_t(-r)
            dY[N + n, 0] = inv_n * sigmoid_t(f)

    @cuda.jit
    def gan_g_loss(Dout, wgan, inv_n, loss, dY):
        """Generator: softplus(-D(G(z))) or -D(G(z)) per row; dY its derivative / N."""
        n = cuda.grid(1)
        if n >= loss.shape[0]:
            return
        f = Dout[n, 0]
        if wgan:
            loss[n] = -_f64(f)
            dY[n, 0] = -inv_n
        else:
            loss[n] = softplus_d(-_f64(f))
            dY[n, 0] = -inv_n * sigmoid_t(-f)

    return {name: fn for name, fn in locals().items() if isinstance(fn, type(bce_logits))}


@cuda.jit
def mean_rows(a, b, wb, use_b, out, slot):
    """out[slot] = mean_n (a[n] + wb b[n]) (or of a[n]) in float64; one block of RED_THREADS: each
    thread adds rows t, t + RED_THREADS, ... in order, then a fixed tree."""
    red = cuda.shared.array(RED_THREADS, numba.float64)
    t = cuda.threadIdx.x
    N = a.shape[0]
    s = 0.0
    for n in range(t, N, RED_THREADS):
        v = _f64(a[n])
        if use_b:
            v += wb * _f64(b[n])
        s += v
    red[t] = s
    cuda.syncthreads()
    h = RED_THREADS // 2
    while h > 0:
        if t < h:
            red[t] += red[t + h]
        cuda.syncthreads()
        h //= 2
    if t == 0:
        out[slot] = red[0] / N


def batch_mean(a, out, slot, b=None, wb=0.0):
    """out[slot] = mean(a + wb b) on the device (float64)."""
    mean_rows[1, RED_THREADS](a, a if b is None else b, float(wb), b is not None, out, slot)
