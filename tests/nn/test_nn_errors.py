"""Oversized requests to the nn estimators (issue 14): a ValueError naming the argument and the
bytes it would need, raised before anything is allocated (never a bare MemoryError)."""
import numpy as np
import pytest

from fastgen import GAN, VAE, Autoencoder
from fastgen._validation import check_allocation, format_bytes

NEED = r"need [\d.]+ (GiB|TiB|PiB|EiB), more than the .* of memory"
X = np.random.default_rng(0).normal(size=(30, 3))
B = (X > 0).astype(float)


def test_check_allocation_wording():
    with pytest.raises(ValueError, match=r"^n_samples: 10000000000 samples x 64 features need 4.66 TiB, more than "
                                         r"the 1.00 GiB of memory"):
        check_allocation("n_samples", 10**10 * 64 * 8, "10000000000 samples x 64 features", limit=2**30)
    check_allocation("n_samples", 2**30, limit=2**30)   # at the limit: fine
    assert format_bytes(1536) == "1.50 KiB" and format_bytes(12) == "12 B"


def small(cls, **kw):
    return cls(max_epochs=1, random_state=0, device="cpu", **kw)


@pytest.mark.parametrize("model, data", [
    (lambda: small(VAE, encoder_layers=(4,), latent_dim=2), B),
    (lambda: small(GAN, generator_layers=(4,), discriminator_layers=(4,), latent_dim=2), X),
])
def test_huge_sample(model, data):
    m = model().fit(data)
    with pytest.raises(ValueError, match="n_samples: 10000000000 samples x 3 features " + NEED):
        m.sample(10**10)


@pytest.mark.parametrize("model, name", [
    (lambda: small(VAE, encoder_layers=(10**6, 10**6)), "encoder_layers"),
    (lambda: small(VAE, encoder_layers=(4,), latent_dim=10**11), "latent_dim"),
    (lambda: small(VAE, encoder_layers=(4,), decoder_layers=(10**6, 10**6)), "decoder_layers"),
    (lambda: small(GAN, generator_layers=(10**6, 10**6)), "generator_layers"),
    (lambda: small(GAN, discriminator_layers=(10**6, 10**6)), "discriminator_layers"),
    (lambda: small(Autoencoder, encoder_layers=(10**6, 10**6)), "encoder_layers"),
])
def test_huge_networks(model, name):
    with pytest.raises(ValueError, match=name + ": layer widths .*" + NEED):
        model().fit(B)


def test_huge_n_importance():
    m = small(VAE, encoder_layers=(4,), latent_dim=2, n_importance=10**11).fit(B)
    with pytest.raises(ValueError, match="n_importance: .*" + NEED):
        m.score_samples(B)
