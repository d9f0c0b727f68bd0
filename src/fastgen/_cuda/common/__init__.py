"""What the CUDA kernel families share (the twin of ``csrc/common/``): device float64 widening
(``widen.py``) and the fused multiply-add (``fma.py``: the hardware FMA on a GPU, an exactly
rounded emulation under the simulator), and the device-side conversion of inputs that are already on
the GPU (``arrays.py``: ``as_contiguous``, ``copy``, ``first_nonfinite``, used by ``fastgen._backend.Backend``).
The Philox generator is ``fastgen._cuda.rng`` (``_core.rng``'s twin)."""
from .arrays import as_contiguous, copy, first_nonfinite  # noqa: F401
