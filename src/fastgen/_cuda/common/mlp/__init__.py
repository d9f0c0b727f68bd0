"""The MLP engine on CUDA, shared by the ``nn`` and ``autoregressive`` (MADE) families: the twin of
``csrc/common/mlp/``. ``dense.py``: activations, the dense-layer products (on ``common/gemm.py``)
and the network walks (forward, backward); ``elementwise.py``: losses, the VAE's
reparameterisation, optimiser updates, batch means, the GAN's input assembly; ``net.py``: one
network's checked description (``Net``); ``optim.py``: the optimisers on checked arrays."""
