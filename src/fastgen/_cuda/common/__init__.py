"""What the CUDA kernel families share (the twin of ``csrc/common/``): device float64 widening
(``widen.py``). The Philox generator is ``fastgen._cuda.rng`` (``_core.rng``'s twin)."""
