"""One network of the CUDA MLP engine (shared by nn and MADE): its description (sizes, acts, slope,
theta) and the arrays that go with it. Contract: ``csrc/KERNELS.md``, "Neural networks".

Errors are ValueError (values, shapes) or TypeError (dtypes, kinds), each message starting with
the argument's name, as the C++ binding's.
"""
from __future__ import annotations


import numpy as np

from .dense import LEAKY, N_ACTS
from ..args import DevArg, host_values, inplace, real


class Net:
    """One network: sizes (Python ints d_0..d_L), acts (int32 codes), slope, theta (device array of
    P = sum_l (d_{l-1} + 1) d_l values), and the offsets of each layer in theta and in the
    activation buffer A.

    theta_name/sizes_name/acts_name name the arguments in errors (vae_step: "theta_e", ...);
    in_place: theta must be a device array (the training steps update it)."""

    def __init__(self, theta, sizes, acts, slope, *, names=("theta", "sizes", "acts"), in_place=False,
                 dtype=None):
        t_name, s_name, a_name = names
        th = DevArg(theta, t_name, 1)
        self.dtype = th.float_dtype() if dtype is None else np.dtype(dtype)
        th.expect_dtype(self.dtype)
        sz = DevArg(sizes, s_name, 1)
        sz.expect_dtype(np.int64)
        ac = DevArg(acts, a_name, 1)
        ac.expect_dtype(np.int32)
        s = host_values(sz)
        if s.shape[0] < 2:
            raise ValueError(f"{s_name}: need at least 2 layer sizes (input and output), got {s.shape[0]}")
        if (s < 1).any():
            raise ValueError(f"{s_name}: every layer size must be >= 1, got {s.tolist()}")
        self.L = s.shape[0] - 1
        ac.expect_shape(self.L)
        a = host_values(ac)
        if ((a < 0) | (a >= N_ACTS)).any():
            raise ValueError(f"{a_name}: activation codes must lie in [0, {N_ACTS - 1}], got {a.tolist()}")
        self.sizes = [int(v) for v in s]
        self.acts = a.astype(np.int32)
        sl = real(slope, "slope")
        if (a == LEAKY).any() and not 0.0 < sl < 1.0:
            raise ValueError(f"slope: leaky_relu needs 0 < slope < 1, got {sl}")
        self.slope_t = self.dtype.type(sl)
        self.offsets = [0]
        for l in range(1, self.L + 1):
            self.offsets.append(self.offsets[-1] + (self.sizes[l - 1] + 1) * self.sizes[l])
        self.P = self.offsets[-1]
        self.act_offsets = [0]
        for l in range(1, self.L + 1):
            self.act_offsets.append(self.act_offsets[-1] + self.sizes[l])
        self.n_act = self.act_offsets[-1]
        if in_place:
            th = inplace(theta, t_name, self.dtype, self.P)
        else:
            th.expect_shape(self.P)
        self.theta_arg = th
        self.theta = th.device()

    @property
    def d_in(self) -> int:
        return self.sizes[0]

    @property
    def d_out(self) -> int:
        return self.sizes[-1]

    def W(self, l: int):
        o = self.offsets[l - 1]
        din, dout = self.sizes[l - 1], self.sizes[l]
        return self.theta[o:o + din * dout].reshape(din, dout)

    def b(self, l: int):
        o = self.offsets[l - 1] + self.sizes[l - 1] * self.sizes[l]
        return self.theta[o:o + self.sizes[l]]

    def grad_block(self, grad, l: int):
        """[dW_l; db_l] as one [d_{l-1} + 1, d_l] view of a flat gradient."""
        o = self.offsets[l - 1]
        return grad[o:self.offsets[l]].reshape(self.sizes[l - 1] + 1, self.sizes[l])

    def act_views(self, A, N: int):
        """The [N, d_l] blocks of a flat activation buffer."""
        out = []
        for l in range(1, self.L + 1):
            o = self.act_offsets[l - 1] * N
            out.append(A[o:o + N * self.sizes[l]].reshape(N, self.sizes[l]))
        return out
