"""What the CUDA kernel families share (the twin of ``csrc/common/``); no family imports another.

- ``philox.py``: Philox4x32-10 on the device (``stream_uniform``, ``uniform_at``, ``normal_at``,
  ...), seeds and streams on the host; ``fastgen._cuda.rng`` is its contract face.
- ``gemm.py``: the one tiled matrix product (``Geometry``, ``gemm`` with stagers and an epilogue),
  used by ``mlp/dense.py`` and ``rbm/products.py``.
- ``mlp/``: the MLP engine of ``nn`` and of the MADE kernels (dense layers, elementwise kernels,
  ``Net``, optimisers).
- ``args.py``: ``DevArg`` and the argument checks, launch shapes; ``kernels.py``: ``safe_log``,
  ``transpose_kernel``, ``zero_kernel``.
- ``widen.py`` (device float64 widening), ``fma.py`` (the hardware FMA on a GPU, an exactly rounded
  emulation under the simulator), ``arrays.py`` (device-side conversion of inputs already on the
  GPU: ``as_contiguous``, ``copy``, ``first_outside``, used by ``fastgen._backend.Backend``),
  ``rows.py`` (shift, one-hot, grouping and arg-extremes of device data for the initialisations
  and value checks, used by ``fastgen._reductions``).
"""
from .arrays import as_contiguous, copy, first_outside  # noqa: F401
from .rows import argmax, first_difference, group_rows, largest, one_hot, shift_rows  # noqa: F401
