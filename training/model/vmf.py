"""The von Mises-Fisher distribution on the unit sphere S^{d-1}: sampling (Wood 1994) and its mean resultant length.

The embedding is the mean direction ``mu`` of a vMF with a fixed concentration ``kappa``; training decodes samples
``z = w mu + sqrt(1 - w^2) v`` where ``w`` (the cosine to ``mu``) comes from Wood's rejection sampler and ``v`` is a
uniform unit vector orthogonal to ``mu``. ``w`` does not depend on ``mu``, so gradients flow to ``mu`` through ``z``
(the reparameterisation used for vMF variational posteriors).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["sample", "sample_cosine", "mean_resultant_length"]


def sample_cosine(key: jax.Array, shape: tuple[int, ...], kappa: float, dim: int) -> jnp.ndarray:
    """Draws ``w = <z, mu>`` for z ~ vMF(mu, kappa) on S^{dim-1} with Wood's rejection sampler.

    Args:
      key: PRNG key.
      shape: how many independent cosines to draw.
      kappa: concentration > 0.
      dim: ambient dimension d (the sphere is S^{d-1}).

    Returns:
      ``shape`` float32 in [-1, 1].
    """
    if kappa <= 0:
        raise ValueError(f"kappa must be positive; got {kappa!r}")
    m1 = dim - 1.0
    # b = (-2k + sqrt(4k^2 + m1^2)) / m1, rewritten to avoid cancellation at large kappa.
    b = m1 / (2.0 * kappa + np.sqrt(4.0 * kappa**2 + m1**2))
    x0 = (1.0 - b) / (1.0 + b)
    c = kappa * x0 + m1 * np.log(1.0 - x0**2)

    def propose(k: jax.Array) -> tuple[jnp.ndarray, jnp.ndarray]:
        kz, ku = jax.random.split(k)
        z = jax.random.beta(kz, m1 / 2.0, m1 / 2.0, shape, dtype=jnp.float32)
        u = jax.random.uniform(ku, shape, dtype=jnp.float32, minval=1e-12, maxval=1.0)
        w = (1.0 - (1.0 + b) * z) / (1.0 - (1.0 - b) * z)
        accept = kappa * w + m1 * jnp.log1p(-x0 * w) - c >= jnp.log(u)
        return w, accept

    def cond(state: tuple[jax.Array, jnp.ndarray, jnp.ndarray]) -> jnp.ndarray:
        return ~jnp.all(state[2])

    def body(state: tuple[jax.Array, jnp.ndarray, jnp.ndarray]) -> tuple[jax.Array, jnp.ndarray, jnp.ndarray]:
        key, w, done = state
        key, sub = jax.random.split(key)
        w_new, accept = propose(sub)
        take = accept & ~done
        return key, jnp.where(take, w_new, w), done | accept

    key, sub = jax.random.split(key)
    w0, accept0 = propose(sub)
    _, w, _ = jax.lax.while_loop(cond, body, (key, w0, accept0))
    return w


def sample(key: jax.Array, mu: jnp.ndarray, kappa: float) -> jnp.ndarray:
    """Samples z ~ vMF(mu, kappa) independently for every vector.

    Args:
      key: PRNG key.
      mu: (..., d) unit mean directions.
      kappa: concentration.

    Returns:
      (..., d) float32 unit vectors; differentiable with respect to ``mu``.
    """
    mu = mu.astype(jnp.float32)
    k_w, k_v = jax.random.split(key)
    w = sample_cosine(k_w, mu.shape[:-1], kappa, mu.shape[-1])[..., None]
    v = jax.random.normal(k_v, mu.shape, jnp.float32)
    v = v - jnp.sum(v * mu, axis=-1, keepdims=True) * mu
    v = v / jnp.linalg.norm(v, axis=-1, keepdims=True)
    return w * mu + jnp.sqrt(jnp.clip(1.0 - w**2, 0.0, 1.0)) * v


def mean_resultant_length(kappa: float, dim: int) -> float:
    """E[<z, mu>] = I_{d/2}(kappa) / I_{d/2-1}(kappa), the ratio of modified Bessel functions (exact, via scipy)."""
    from scipy.special import ive

    return float(ive(dim / 2.0, kappa) / ive(dim / 2.0 - 1.0, kappa))
