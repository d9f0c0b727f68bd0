"""What the CUDA kernel families share (the twin of ``csrc/common/``): device float64 widening
(``widen.py``) and the fused multiply-add (``fma.py``: the hardware FMA on a GPU, an exactly
rounded emulation under the simulator). The Philox generator is ``fastgen._cuda.rng`` (``_core.rng``'s twin)."""
