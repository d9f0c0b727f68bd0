"""``fastgen._cuda.rbm``: restricted Boltzmann machine kernels on CUDA (Numba); contract in
``csrc/KERNELS.md`` ("Restricted Boltzmann machines"), CPU twin in ``csrc/rbm/rbm.hpp``.

Files: ``sampling.py`` (conditionals, Gibbs chains), ``training.py`` (``cd_update``), ``scoring.py``
(free energy, pseudo-likelihood, AIS), ``logz.py`` (``log_partition``); ``products.py`` (the
half-steps, the AIS base draw and the CD product as epilogues of the shared tiled GEMM,
``common/gemm.py``), ``rows.py`` (per-unit and per-row kernels), ``sigmoid.py`` (the CPU's
rounding: exp/sigmoid, unfused multiply-add), ``model.py`` (argument checks, launches).

Same names, arguments and results as ``fastgen._core``:

- ``hidden_probs(V, W, b_h, sigma) -> P``
- ``visible_means(Hs, W, b_v, sigma) -> means``
- ``sample_hiddens(V, W, b_h, sigma, seed, stream) -> (P, Hs)``
- ``sample_visibles(Hs, W, b_v, sigma, seed, stream) -> V``
- ``gibbs_vhv(V0, W, b_h, b_v, sigma, n_steps, seed, stream) -> (V, Hs)``
- ``gibbs_hvh(H0, W, b_h, b_v, sigma, n_steps, seed, stream) -> (V, P, Hs)``
- ``cd_update(W, b_h, b_v, log_var, sigma, vel_W, vel_b_h, vel_b_v, vel_log_var,
  V_pos, H_pos, V_neg, H_neg, learning_rate, momentum, weight_decay) -> None`` (in place)
- ``train_step(V, W, b_h, b_v, log_var, sigma, vel_W, vel_b_h, vel_b_v, vel_log_var, chains, n_steps,
  seed, stream, learning_rate, momentum, weight_decay) -> None`` (in place; chains None for CD)
- ``free_energy(V, W, b_h, b_v, sigma) -> T[N]``
- ``pseudo_likelihood(V, W, b_h, b_v, flip) -> T[N]``
- ``log_partition(W, b_h, b_v, sigma, over_hidden) -> float``
- ``ais(W, b_h, b_v, sigma, base_b_v, betas, n_chains, seed, stream) -> float64[n_chains]``

Inputs are NumPy arrays (copied to the device once) or device arrays (used in place); results are
Numba device arrays. The in-place arguments of ``cd_update`` must be device arrays.

Design (written for a data-centre GPU; the simulator runs the same code with smaller tiles):

- Every half-step is ONE launch of the shared tiled matrix product (``common/gemm.py``, tiles of
  ``Geometry.tiles``: BM x BN output tile per block, BK-deep slices of both operands staged in shared memory, an RM x RN
  register tile per thread) whose epilogue adds the bias, applies the sigmoid and draws the unit
  from its own Philox uniform (``common/philox.py``; Gaussian visibles: the Box-Muller normal of
  the element's block). No array of uniforms is ever formed. Each output element is the k-ordered
  chain ``acc = fma(a_k, b_k, acc)`` from 0 -- the CPU micro-kernel's order and rounding --
  whatever tile, block or thread computes it (zero padding past K adds exact zeros): the
  products are deterministic and equal the CPU's bit for bit.
- Bit-identical to the CPU: the sigmoid is the CPU's own (``common/philox_vec.hpp``: clamped argument,
  Cody-Waite reduction, Taylor polynomial, 2^n scaling), and every multiply-add is rounded as the
  CPU rounds it. The CPU's compiler fuses a * b + c only in the code built for FMA instruction
  sets (the products and their epilogues); its baseline code (CD statistics and parameter
  updates, the AIS base draw, the pseudo-likelihood's flipped affine term) rounds twice. Here
  the first kind is an explicit fused multiply-add and the second uses multiply/add intrinsics
  that the GPU compiler never contracts (``sigmoid.MUL``/``ADD``). So probabilities, draws
  ``u < (double) p``, chains and CD updates match the CPU bit for bit (tested under the simulator,
  whose ``fma`` is replaced by an exactly rounded one). Known limits: the CPU's build for CPUs
  without FMA rounds the products twice (p then agrees to an ulp, and a draw differs only when
  its uniform lies within that ulp of p); Gaussian visible samples use libdevice's log/sin/cos
  (an ulp from glibc's); which product of AIS's interpolated visible mean a * w + beta * (x + b)
  the CPU fuses cannot be observed from outside (GCC's usual choice, the first, is used).
  Beyond the sigmoid's clamp the CPU returns exp at the clamp as GCC folded it (unfused); so do
  the kernels (``sigmoid._exp_at_clamp``).
- float64 exp and log1p are libdevice's, and T values enter float64 sums through ``widen.f64``:
  Numba types float(x) of a float32 x as float32, so math.exp(float(x)) would be a float32 exp on
  the GPU (checked on the PTX; the simulator, where float() is a Python double, cannot show it).
- Row sums (free energies, pseudo-likelihood, AIS weight increments) are formed in float64 in
  the product's epilogue as one partial per (row, column tile), added in a fixed order inside the
  tile (shared memory, no atomics), then added tile by tile in order by a small per-row kernel.
- ``cd_update``: one product of inner size B + C (the B positive rows, then the C negative
  rows, pre-scaled by 1/B and -1/C as the CPU does) whose epilogue applies the momentum/decay
  update to W in place; one launch of V + H threads then forms the bias (and log-variance)
  statistics, each column's rows in order (float64), and updates those parameters. With learned
  variances the gradient G is kept, the column kernel reads sum_j W_ji G_ji from it (W before
  the update) and then updates its own column of W.
- AIS: per temperature one hidden launch (affine terms, weight increments accumulated per
  (chain, tile) in float64, hidden draw) and one visible launch (draw, the next visible linear
  term accumulated likewise); a last launch adds each chain's tile accumulators in order.
- ``log_partition``: one thread per block of 2^q consecutive states walked in Gray-code order
  (its running affine vector in a column of a global scratch matrix: coalesced, and every thread
  of a warp flips the same unit at the same step, so the weight row it adds is a broadcast);
  the (max, sum) pairs of the blocks are merged in block order by two small launches.

Floating point: probabilities, affine terms and products are in T (float32 or float64), free
energies, softplus sums, log-partition terms and AIS weights in float64, as on the CPU. The
kernels of each dtype are built by ``model.kernels(dtype)`` with T-typed constants, so a
float32 kernel does float32 arithmetic (no silent promotion to float64).
"""
from __future__ import annotations

from typing import NamedTuple

import numba

from ..common.gemm import GPU_TILES, Geometry as Tiles


class Geometry(NamedTuple):
    """Launch shapes. tiles: the products' tiling (``common/gemm.Geometry``: bm x bn output tile per
    block, bk-deep shared slices, rm x rn per thread); logz_bits: states per Gray block =
    2^logz_bits; logz_threads: most threads of the enumeration (its scratch is n_other x
    logz_threads doubles)."""

    tiles: Tiles
    logz_bits: int
    logz_threads: int


GPU_GEOMETRY = Geometry(tiles=GPU_TILES, logz_bits=6, logz_threads=8192)
# The simulator runs one Python thread per CUDA thread: small blocks, and tiles small enough that
# the tiny test shapes still cross tile boundaries in every direction.
SIM_GEOMETRY = Geometry(tiles=Tiles(bm=4, bn=4, bk=2, rm=2, rn=2), logz_bits=2, logz_threads=64)

geometry = SIM_GEOMETRY if numba.config.ENABLE_CUDASIM else GPU_GEOMETRY  # read at each call (tests switch it)
_LOGZ_MERGE_GROUP = 256  # Gray blocks merged per thread of the first merge launch (read at each call)

from .logz import MAX_ENUM_UNITS, log_partition  # noqa: E402  (the submodules read geometry from here)
from .sampling import gibbs_hvh, gibbs_vhv, hidden_probs, sample_hiddens, sample_visibles, visible_means  # noqa: E402
from .scoring import ais, free_energy, pseudo_likelihood  # noqa: E402
from .training import cd_update, train_step  # noqa: E402

__all__ = [
    "hidden_probs", "visible_means", "sample_hiddens", "sample_visibles", "gibbs_vhv",
    "gibbs_hvh", "cd_update", "train_step", "free_energy", "pseudo_likelihood", "log_partition", "ais",
]
