"""Multi-head attention with a key mask that stays finite when every key is masked."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["MultiHeadAttention", "attend"]

# Masked logits get this instead of -inf so a query whose keys are all masked yields a finite (uniform) mix.
MASKED_LOGIT = -1e9


def attend(q: jnp.ndarray, k: jnp.ndarray, v: jnp.ndarray, key_mask: jnp.ndarray | None = None) -> jnp.ndarray:
    """Scaled dot-product attention.

    Args:
      q: (..., Nq, H, Dh); k, v: (..., Nk, H, Dh).
      key_mask: broadcastable to (..., Nk), True where a key may be attended to.

    Returns:
      (..., Nq, H, Dh) in q's dtype. The softmax runs in float32.
    """
    logits = jnp.einsum("...qhd,...khd->...hqk", q, k).astype(jnp.float32) / jnp.sqrt(q.shape[-1]).astype(jnp.float32)
    if key_mask is not None:
        logits = jnp.where(key_mask[..., None, None, :], logits, MASKED_LOGIT)
    weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
    return jnp.einsum("...hqk,...khd->...qhd", weights, v)


class MultiHeadAttention(nnx.Module):
    """Self- or cross-attention over the second-to-last axis of (..., N, D) tokens."""

    def __init__(self, width: int, num_heads: int, *, dtype: jnp.dtype, rngs: nnx.Rngs) -> None:
        if width % num_heads:
            raise ValueError(f"width {width} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.query = nnx.Linear(width, width, dtype=dtype, rngs=rngs)
        self.key = nnx.Linear(width, width, dtype=dtype, rngs=rngs)
        self.value = nnx.Linear(width, width, dtype=dtype, rngs=rngs)
        self.out = nnx.Linear(width, width, dtype=dtype, rngs=rngs)

    def __call__(self, x_q: jnp.ndarray, x_kv: jnp.ndarray, key_mask: jnp.ndarray | None = None) -> jnp.ndarray:
        """x_q: (..., Nq, D); x_kv: (..., Nk, D); key_mask: broadcastable to (..., Nk). Returns (..., Nq, D)."""

        def heads(x: jnp.ndarray) -> jnp.ndarray:
            return x.reshape(*x.shape[:-1], self.num_heads, x.shape[-1] // self.num_heads)

        out = attend(heads(self.query(x_q)), heads(self.key(x_kv)), heads(self.value(x_kv)), key_mask)
        return self.out(out.reshape(*out.shape[:-2], -1))
