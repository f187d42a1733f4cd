"""The training objective on one batch: teacher pass, vMF sample, decoders, perturbed student pass, four losses.

``total = a * reconstruction + b * uniformity + c * consistency + d * text`` with the weights in
``config.loss_weights``. Everything random comes from the one key passed in, so a step is a pure function of
(parameters, batch, key) — what makes resuming exact and the sharded step equal to the single-device one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from aef_ee_training import losses
from aef_ee_training.model import vmf
from aef_ee_training.model.aef import AlphaEarth, site_embedding

__all__ = ["perturb", "compute_losses", "NUM_PERTURBATIONS"]

# Student perturbations (paper): 0 drop whole sources, 1 drop random frames, 2 drop the first or last half period.
NUM_PERTURBATIONS = 3
SOURCE_DROP_RATE = 0.5


def perturb(
    key: jax.Array, inputs: Mapping[str, Mapping[str, jnp.ndarray]], period_days: jnp.ndarray, *, frame_drop_rate: float
) -> dict[str, dict[str, jnp.ndarray]]:
    """Returns ``inputs`` with frame masks thinned by one random perturbation per site (frames are untouched).

    Args:
      key: PRNG key.
      inputs: the batch's ``inputs`` (source -> frames, pixel_mask, frame_mask (B, T_s), days (B, T_s)).
      period_days: (B,) valid-period lengths.
      frame_drop_rate: probability of dropping each frame under perturbation 1.
    """
    names = sorted(inputs)
    b = period_days.shape[0]
    k_kind, k_src, k_keep, k_frames, k_half = jax.random.split(key, 5)
    kind = jax.random.randint(k_kind, (b,), 0, NUM_PERTURBATIONS)
    dropped = jax.random.bernoulli(k_src, SOURCE_DROP_RATE, (b, len(names)))
    # Never drop every source: if all are dropped, one chosen at random survives.
    survivor = jax.nn.one_hot(jax.random.randint(k_keep, (b,), 0, len(names)), len(names), dtype=bool)
    dropped = jnp.where(jnp.all(dropped, axis=1, keepdims=True), dropped & ~survivor, dropped)
    first_half = jax.random.bernoulli(k_half, 0.5, (b,))
    frame_keys = jax.random.split(k_frames, len(names))
    out = {}
    for i, name in enumerate(names):
        src = inputs[name]
        mask = src["frame_mask"]
        in_first = src["days"] < (period_days[:, None] / 2.0)
        keep_half = jnp.where(first_half[:, None], ~in_first, in_first)  # drop the chosen half
        keep_frame = ~jax.random.bernoulli(frame_keys[i], frame_drop_rate, mask.shape)
        keep = jnp.select(
            [kind[:, None] == 0, kind[:, None] == 1],
            [jnp.broadcast_to(~dropped[:, i : i + 1], mask.shape), keep_frame],
            keep_half,
        )
        out[name] = {**src, "frame_mask": mask & keep}
    return out


def compute_losses(
    model: AlphaEarth, batch: Mapping[str, Any], key: jax.Array, *, config: Any
) -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
    """The weighted total loss and every term (plus per-source reconstruction) for one batch."""
    k_sample, k_perturb = jax.random.split(key)
    inputs, period = batch["inputs"], batch["period_days"]
    b = period.shape[0]
    # Teacher (full input) and student (perturbed frame masks) run as one batch of 2B: one encoder in the compiled
    # program instead of two, which halves compile time; per-site results are the same.
    student_inputs = perturb(k_perturb, inputs, period, frame_drop_rate=config.frame_drop_rate)
    both = jax.tree.map(lambda t, s: jnp.concatenate([t, s]), dict(inputs), student_inputs)
    fields = model.embed(both, jnp.concatenate([period, period]))  # (2B, L, L, E)
    teacher, student = fields[:b], fields[b:]
    z = vmf.sample(k_sample, teacher, config.kappa)
    preds = model.decode(z, batch["targets"])
    recon, recon_aux = losses.reconstruction(
        preds, batch["targets"], pools=dict(config.target_pool), shifts=dict(config.target_shift),
        categorical=tuple(config.get("categorical", {})),
    )
    uniformity, _ = losses.batch_uniformity(teacher)
    consistency, _ = losses.consistency(teacher, student)
    text, text_aux = losses.clip(
        site_embedding(teacher),
        model.embed_text(batch["text"]["embedding"]),
        batch["text"]["present"],
        model.logit_scale[...],
    )
    w = config.loss_weights
    total = (
        w.reconstruction * recon + w.uniformity * uniformity + w.consistency * consistency + w.text * text
    )
    aux = {
        "loss/reconstruction": recon,
        "loss/uniformity": uniformity,
        "loss/consistency": consistency,
        "loss/text": text,
        "text/accuracy": text_aux["accuracy"],
        **{f"loss/{k}": v for k, v in recon_aux.items()},
    }
    return total, aux
