"""Device functions of the AR/VAR kernels on CUDA (Numba): the Gram matrix and autocovariances from
the lagged sums, and the small solves. Line-by-line ports of ``csrc/autoregressive/ar_gram.hpp`` and
``csrc/autoregressive/ar_linalg.hpp`` (same operations in the same order; see those files for the math).

Matrices live in flat float64 arrays with an offset and a leading dimension; the series Y (T) is
read through ``f64`` so float32 input is widened before any arithmetic.
"""
from __future__ import annotations

import math

from numba import cuda

from ..common.widen import f64 as _f64


@cuda.jit(device=True)
def n_trend(trend):
    if trend == 0:
        return 0
    if trend == 3:
        return 2
    return 1


@cuda.jit(device=True)
def has_const(trend):
    return trend == 1 or trend == 3


@cuda.jit(device=True)
def has_time(trend):
    return trend >= 2


@cuda.jit(device=True)
def yv(Y, r, j, m, mo):
    """Y[r, j] - m[mo + j] in float64."""
    return _f64(Y[r, j]) - m[mo + j]


@cuda.jit(device=True)
def build_gram(Y, base, n, k, p, trend, m, mo, tc, acc, ao, M, o, ld, rows, ro):
    """ar_gram.hpp build_gram: the augmented Gram matrix at M[o + r ld + c] from the summed pass
    acc[ao ..] (C_h, then S0, then T0); rows[ro .. ro + 2k) is scratch."""
    kt = n_trend(trend)
    Dx = kt + p * k
    W = (p + 1) * k
    for d in range(p + 1):
        r0 = Dx
        c0 = Dx if d == 0 else kt + (d - 1) * k
        for i in range(k):
            for j in range(k):
                M[o + (r0 + i) * ld + c0 + j] = acc[ao + i * W + (p - d) * k + j]
        for a in range(p - d):
            b = a + d
            ra = Dx if a == 0 else kt + (a - 1) * k
            cb = Dx if b == 0 else kt + (b - 1) * k
            ra1 = kt + a * k
            cb1 = kt + b * k
            for i in range(k):
                for j in range(k):
                    ya_lo = yv(Y, base + p - 1 - a, i, m, mo)
                    yb_lo = yv(Y, base + p - 1 - b, j, m, mo)
                    ya_hi = yv(Y, base + n - 1 - a, i, m, mo)
                    yb_hi = yv(Y, base + n - 1 - b, j, m, mo)
                    M[o + (ra1 + i) * ld + cb1 + j] = M[o + (ra + i) * ld + cb + j] + ya_lo * yb_lo - ya_hi * yb_hi
    for a in range(p + 1):
        ra = Dx if a == 0 else kt + (a - 1) * k
        for b in range(a, p + 1):
            cb = Dx if b == 0 else kt + (b - 1) * k
            for i in range(k):
                for j in range(k):
                    M[o + (cb + j) * ld + ra + i] = M[o + (ra + i) * ld + cb + j]
    if kt == 0:
        return
    rc = 0 if has_const(trend) else -1
    rt = -1
    if has_time(trend):
        rt = 1 if has_const(trend) else 0
    tau_p = float(p + 1) - tc
    tau_n = float(n + 1) - tc
    for j in range(k):
        rows[ro + j] = acc[ao + k * W + j]          # S(0)
        rows[ro + k + j] = acc[ao + k * W + k + j]  # T(0)
    for a in range(p + 1):
        c = Dx if a == 0 else kt + (a - 1) * k
        for j in range(k):
            if rc >= 0:
                M[o + rc * ld + c + j] = rows[ro + j]
                M[o + (c + j) * ld + rc] = rows[ro + j]
            if rt >= 0:
                M[o + rt * ld + c + j] = rows[ro + k + j]
                M[o + (c + j) * ld + rt] = rows[ro + k + j]
        if a == p:
            break
        for j in range(k):
            ylo = yv(Y, base + p - 1 - a, j, m, mo)
            yhi = yv(Y, base + n - 1 - a, j, m, mo)
            rows[ro + k + j] = rows[ro + k + j] + rows[ro + j] + tau_p * ylo - tau_n * yhi
            rows[ro + j] = rows[ro + j] + ylo - yhi
    dn = float(n - p)
    if rc >= 0:
        M[o + rc * ld + rc] = dn
    if rt >= 0:
        if tc == 0.0:
            fa = float(p)
            fb = float(n)
            stt = (fb * (fb + 1.0) * (2.0 * fb + 1.0) - fa * (fa + 1.0) * (2.0 * fa + 1.0)) / 6.0
        else:
            stt = dn * (dn * dn - 1.0) / 12.0
        M[o + rt * ld + rt] = stt
        if rc >= 0:
            st = dn * (0.5 * float(p + 1 + n) - tc)
            M[o + rc * ld + rt] = st
            M[o + rt * ld + rc] = st


@cuda.jit(device=True)
def autocovariances(Y, base, n, k, p, demean, adjusted, m, mo, acc, ao, G, go, mean, meo, work, wo):
    """ar_gram.hpp autocovariances: Gamma(h) at G[go + h k^2 + i k + j], the mean at mean[meo ..]."""
    W = (p + 1) * k
    for j in range(k):
        s = acc[ao + k * W + j]
        for t in range(p):
            s += yv(Y, base + t, j, m, mo)
        mean[meo + j] = s
        work[wo + j] = s / float(n) if demean else 0.0  # mu'
    for j in range(k):
        work[wo + k + j] = mean[meo + j]      # F_h
        work[wo + 2 * k + j] = mean[meo + j]  # B_h
    for h in range(p + 1):
        if h > 0:
            for j in range(k):
                work[wo + k + j] -= yv(Y, base + h - 1, j, m, mo)
                work[wo + 2 * k + j] -= yv(Y, base + n - h, j, m, mo)
        den = float(n - h) if adjusted else float(n)
        for i in range(k):
            for j in range(k):
                c = acc[ao + i * W + (p - h) * k + j]
                for t in range(h, p):
                    c += yv(Y, base + t, i, m, mo) * yv(Y, base + t - h, j, m, mo)
                if demean:
                    c += (-work[wo + k + i] * work[wo + j] - work[wo + i] * work[wo + 2 * k + j]
                          + float(n - h) * work[wo + i] * work[wo + j])
                G[go + (h * k + i) * k + j] = c / den
    for j in range(k):
        mean[meo + j] = m[mo + j] + work[wo + j]


@cuda.jit(device=True)
def cholesky(n, A, o, lda, tol):
    """ar_linalg.hpp cholesky in place; returns (ok, smallest pivot, largest pivot)."""
    lo = math.inf
    hi = 0.0
    for j in range(n):
        d = A[o + j * lda + j]
        for l in range(j):
            d -= A[o + j * lda + l] * A[o + j * lda + l]
        if not (d > tol):
            return False, lo, hi
        lo = min(lo, d)
        hi = max(hi, d)
        ljj = math.sqrt(d)
        A[o + j * lda + j] = ljj
        for i in range(j + 1, n):
            s = A[o + i * lda + j]
            for l in range(j):
                s -= A[o + i * lda + l] * A[o + j * lda + l]
            A[o + i * lda + j] = s / ljj
    return True, lo, hi


@cuda.jit(device=True)
def solve_lower(n, L, lo, lda, X, xo, m, ldx):
    for i in range(n):
        for l in range(i):
            c = L[lo + i * lda + l]
            for e in range(m):
                X[xo + i * ldx + e] -= c * X[xo + l * ldx + e]
        for e in range(m):
            X[xo + i * ldx + e] /= L[lo + i * lda + i]


@cuda.jit(device=True)
def solve_lower_t(n, L, lo, lda, X, xo, m, ldx):
    for i in range(n - 1, -1, -1):
        for l in range(i + 1, n):
            c = L[lo + l * lda + i]
            for e in range(m):
                X[xo + i * ldx + e] -= c * X[xo + l * ldx + e]
        d = L[lo + i * lda + i]
        for e in range(m):
            X[xo + i * ldx + e] /= d


@cuda.jit(device=True)
def lu_solve(n, A, ao, lda, B, bo, m, ldb, tol):
    """ar_linalg.hpp lu_solve (partial pivoting) in place; returns False on a tiny pivot."""
    amax = 0.0
    for i in range(n):
        for j in range(n):
            amax = max(amax, abs(A[ao + i * lda + j]))
    for c in range(n):
        piv = c
        for i in range(c + 1, n):
            if abs(A[ao + i * lda + c]) > abs(A[ao + piv * lda + c]):
                piv = i
        pv = A[ao + piv * lda + c]
        if not (abs(pv) > tol * amax):
            return False
        if piv != c:
            for j in range(n):
                tmp = A[ao + c * lda + j]
                A[ao + c * lda + j] = A[ao + piv * lda + j]
                A[ao + piv * lda + j] = tmp
            for e in range(m):
                tmp = B[bo + c * ldb + e]
                B[bo + c * ldb + e] = B[bo + piv * ldb + e]
                B[bo + piv * ldb + e] = tmp
        for i in range(c + 1, n):
            f = A[ao + i * lda + c] / pv
            if f == 0.0:
                continue
            for j in range(c + 1, n):
                A[ao + i * lda + j] -= f * A[ao + c * lda + j]
            for e in range(m):
                B[bo + i * ldb + e] -= f * B[bo + c * ldb + e]
    for i in range(n - 1, -1, -1):
        for j in range(i + 1, n):
            for e in range(m):
                B[bo + i * ldb + e] -= A[ao + i * lda + j] * B[bo + j * ldb + e]
        for e in range(m):
            B[bo + i * ldb + e] /= A[ao + i * lda + i]
    return True


@cuda.jit(device=True)
def levinson(p, r, ro, phi, po, work, wo, allc, alo):
    """ar_linalg.hpp levinson: order-p coefficients at phi[po ..], every order's at
    allc[alo + q (p + 1) + j]."""
    v = r[ro]
    allc[alo] = 0.0
    for q in range(1, p + 1):
        if v == 0.0 or not math.isfinite(v):
            return False
        num = r[ro + q]
        for j in range(1, q):
            num -= phi[po + j - 1] * r[ro + q - j]
        kappa = num / v
        for j in range(1, q):
            work[wo + j - 1] = phi[po + j - 1] - kappa * phi[po + q - j - 1]
        for j in range(1, q):
            phi[po + j - 1] = work[wo + j - 1]
        phi[po + q - 1] = kappa
        v *= (1.0 - kappa) * (1.0 + kappa)
        for j in range(q):
            allc[alo + q * (p + 1) + j] = phi[po + j]
    return math.isfinite(v)


@cuda.jit(device=True)
def yw_solve(k, q, G, go, B, bo, Sig, so, R, ro, rhs, rho):
    """ar_fit.hpp yw_solve: order-q block Yule-Walker system by LU; Sigma at Sig[so ..]."""
    nn = q * k
    for bi in range(q):
        for bj in range(q):
            for i in range(k):
                for j in range(k):
                    h = bj - bi
                    if h >= 0:
                        v = G[go + (h * k + i) * k + j]
                    else:
                        v = G[go + (-h * k + j) * k + i]
                    R[ro + (bi * k + i) * nn + bj * k + j] = v
    for bi in range(q):
        for i in range(k):
            for e in range(k):
                rhs[rho + (bi * k + i) * k + e] = G[go + ((bi + 1) * k + e) * k + i]
    for r in range(nn * k):
        B[bo + r] = rhs[rho + r]
    if nn > 0:
        if not lu_solve(nn, R, ro, nn, B, bo, k, k, 1e-14):
            return False
    for e in range(k):
        for f in range(k):
            v = G[go + e * k + f]
            for r in range(nn):
                v -= B[bo + r * k + e] * rhs[rho + r * k + f]
            Sig[so + e * k + f] = v
    for e in range(k):
        for f in range(e + 1, k):
            a = 0.5 * (Sig[so + e * k + f] + Sig[so + f * k + e])
            Sig[so + e * k + f] = a
            Sig[so + f * k + e] = a
    return True
