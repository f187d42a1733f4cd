"""The vMF sampler (Wood's algorithm) against the exact mean resultant length I_{d/2}(k) / I_{d/2-1}(k)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aef_ee_training.model import vmf


@pytest.mark.parametrize("kappa", [2.0, 30.0, 300.0, 8000.0])
def test_mean_resultant_length_matches_theory(kappa: float) -> None:
    dim, n = 64, 20000
    mu = jax.random.normal(jax.random.PRNGKey(1), (n, dim))
    mu = mu / jnp.linalg.norm(mu, axis=-1, keepdims=True)
    z = np.asarray(vmf.sample(jax.random.PRNGKey(2), mu, kappa))
    cos = np.sum(z * np.asarray(mu), axis=-1)
    expected = vmf.mean_resultant_length(kappa, dim)
    # Standard error of the mean of n cosines, 5 sigma.
    assert abs(cos.mean() - expected) < 5 * cos.std() / np.sqrt(n) + 1e-6
    np.testing.assert_allclose(np.linalg.norm(z, axis=-1), 1.0, atol=1e-5)


def test_three_dimensional_closed_form() -> None:
    # On S^2 the mean resultant length is coth(k) - 1/k.
    kappa = 4.0
    assert vmf.mean_resultant_length(kappa, 3) == pytest.approx(1 / np.tanh(kappa) - 1 / kappa, rel=1e-10)
    w = np.asarray(vmf.sample_cosine(jax.random.PRNGKey(0), (50000,), kappa, 3))
    # On S^2 the cosine has density k e^{k w} / (2 sinh k) on [-1, 1]; compare the CDF at a few points.
    for q in (-0.5, 0.0, 0.5, 0.9):
        cdf = (np.exp(kappa * q) - np.exp(-kappa)) / (np.exp(kappa) - np.exp(-kappa))
        assert abs((w <= q).mean() - cdf) < 0.01


def test_sample_is_orthogonal_decomposition_and_differentiable() -> None:
    mu = jnp.eye(8)[:2]
    grad = jax.grad(lambda m: vmf.sample(jax.random.PRNGKey(0), m, 50.0)[:, 0].sum())(mu)
    assert np.all(np.isfinite(np.asarray(grad))) and np.abs(np.asarray(grad)).sum() > 0
