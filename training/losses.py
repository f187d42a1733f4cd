"""The four training losses. Each returns ``(loss, aux)``: a float32 scalar and a dict of float32 diagnostics.

* :func:`reconstruction` — L1 between decoded and held-out frames, re-gridded to each target's nominal resolution,
  minimised over small spatial offsets (the co-registration error of the sensors); cross-entropy for categorical
  targets (class ids in one band, decoded as logits), compared on the model grid.
* :func:`batch_uniformity` — mean |<e_i, e_roll(i)>| between each embedding and the one at the same pixel of the
  next site in the batch; pushes embeddings to spread over the sphere.
* :func:`consistency` — mean (1 - cos) / 2 between the teacher's (full input, no gradient) and the student's
  (perturbed input) embeddings.
* :func:`clip` — CLIP's symmetric contrastive loss between site embeddings and text embeddings.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "regrid",
    "min_over_shifts",
    "source_reconstruction",
    "source_cross_entropy",
    "reconstruction",
    "batch_uniformity",
    "consistency",
    "clip",
]

Aux = dict[str, jnp.ndarray]
# An index into a (B, h, w, ...) grid: every site, a window of rows and of columns.
Window = tuple[slice, slice, slice]
# Largest logit scale (inverse temperature) CLIP allows, to keep the contrastive loss stable.
MAX_LOGIT_SCALE = 100.0


def regrid(values: jnp.ndarray, mask: jnp.ndarray, pool: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Block-averages (B, H, W, C) values over valid pixels of (B, H, W) mask into (B, H/pool, W/pool, C).

    A block is valid when any of its pixels is; the value is the mean of its valid pixels.
    """
    if pool == 1:
        return values, mask
    b, h, w, c = values.shape
    if h % pool or w % pool:
        raise ValueError(f"pool {pool} does not divide the {h}x{w} grid")
    m = mask.astype(values.dtype).reshape(b, h // pool, pool, w // pool, pool, 1)
    v = values.reshape(b, h // pool, pool, w // pool, pool, c)
    count = m.sum(axis=(2, 4))
    mean = (v * m).sum(axis=(2, 4)) / jnp.maximum(count, 1.0)
    return mean, count[..., 0] > 0


def min_over_shifts(
    pixel_error: Callable[[Window, Window], jnp.ndarray],
    mask: jnp.ndarray,
    present: jnp.ndarray,
    max_shift: int,
) -> tuple[jnp.ndarray, Aux]:
    """The shift-invariant mean of a per-pixel error: each site's minimum over offsets of its mean over valid cells.

    The prediction's centre (``max_shift`` cells trimmed from every side) is compared with the target moved by every
    offset (dy, dx) in [-max_shift, max_shift]^2, which absorbs the co-registration error between sensors.

    Args:
      pixel_error: ``(centre, shifted) -> (B, h - 2s, w - 2s)`` error of each centre cell of the prediction against
        the target cell at the offset; both arguments are index tuples over (B, h, w, ...) grids.
      mask: (B, h, w) bool, valid target cells.
      present: (B,) bool, whether the site has a target frame of this source.
      max_shift: s, the largest offset in cells searched in each direction.

    Returns:
      The mean over sites with a valid target of each site's minimum (over offsets) mean error, and aux with
      ``per_site`` (B,) (0 where not valid) and ``valid`` (B,) bool.

    Raises:
      ValueError: ``2 * max_shift`` leaves no centre on the h x w grid.
    """
    s = max_shift
    h, w = mask.shape[1:3]
    if 2 * s >= min(h, w):
        raise ValueError(f"max_shift {s} leaves no overlap on a {h}x{w} grid")
    centre = np.s_[:, s : h - s, s : w - s]
    errors, counts = [], []
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            shifted = np.s_[:, s + dy : h - s + dy, s + dx : w - s + dx]
            m = mask[shifted].astype(jnp.float32)
            n = m.sum(axis=(1, 2))
            err = (pixel_error(centre, shifted) * m).sum(axis=(1, 2)) / jnp.maximum(n, 1.0)
            errors.append(jnp.where(n > 0, err, jnp.inf))
            counts.append(n)
    per_site = jnp.min(jnp.stack(errors), axis=0)  # (B,)
    valid = present & (jnp.max(jnp.stack(counts), axis=0) > 0)
    per_site = jnp.where(valid, per_site, 0.0)
    return per_site.sum() / jnp.maximum(valid.sum(), 1), {"per_site": per_site, "valid": valid}


def source_reconstruction(
    pred: jnp.ndarray,
    target: jnp.ndarray,
    mask: jnp.ndarray,
    present: jnp.ndarray,
    *,
    pool: int,
    max_shift: int,
) -> tuple[jnp.ndarray, Aux]:
    """Shift-invariant L1 of one source.

    Args:
      pred: (B, L, L, C) predictions (normalised units).
      target: (B, L, L, C) held-out frame (normalised units).
      mask: (B, L, L) bool, valid target pixels.
      present: (B,) bool, whether the site has a target frame of this source.
      pool: re-gridding factor to the source's nominal resolution (0: the whole site is one cell).
      max_shift: largest offset in cells (after re-gridding) searched in each direction.

    Returns:
      The mean over sites with a valid target of each site's minimum (over offsets) mean absolute error, and aux
      with ``per_site`` (B,) and ``valid`` (B,).
    """
    pool = pool or pred.shape[1]
    pred_c, _ = regrid(pred, jnp.ones(pred.shape[:3], bool), pool)
    target_c, mask_c = regrid(target, mask, pool)
    return min_over_shifts(
        lambda centre, shifted: jnp.abs(pred_c[centre] - target_c[shifted]).mean(axis=-1), mask_c, present, max_shift
    )


def source_cross_entropy(
    logits: jnp.ndarray,
    labels: jnp.ndarray,
    mask: jnp.ndarray,
    present: jnp.ndarray,
    *,
    max_shift: int,
) -> tuple[jnp.ndarray, Aux]:
    """Shift-invariant cross-entropy of one categorical source (e.g. land cover) on the model grid.

    Args:
      logits: (B, L, L, K) decoder outputs.
      labels: (B, L, L) class ids in [0, K) (any numeric dtype; invalid pixels are ignored via ``mask``).
      mask: (B, L, L) bool; present: (B,) bool; max_shift: as in :func:`source_reconstruction`.

    Returns:
      The mean over sites with a valid target of each site's minimum (over offsets) mean cross-entropy (nats).
    """
    log_p = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    k = logits.shape[-1]
    labels = jnp.clip(labels.astype(jnp.int32), 0, k - 1)

    def nll(centre: Window, shifted: Window) -> jnp.ndarray:
        return -jnp.take_along_axis(log_p[centre], labels[shifted][..., None], axis=-1)[..., 0]

    return min_over_shifts(nll, mask, present, max_shift)


def reconstruction(
    preds: Mapping[str, jnp.ndarray],
    targets: Mapping[str, Mapping[str, jnp.ndarray]],
    *,
    pools: Mapping[str, int],
    shifts: Mapping[str, int],
    categorical: Collection[str] = (),
) -> tuple[jnp.ndarray, Aux]:
    """Mean over target sources of :func:`source_reconstruction` (or :func:`source_cross_entropy` for the sources
    named in ``categorical``, whose target ``values`` hold class ids in their one band); aux has each source's loss."""
    losses = {}
    for name, pred in preds.items():
        tgt = targets[name]
        if name in categorical:
            losses[name], _ = source_cross_entropy(
                pred, tgt["values"][..., 0], tgt["mask"], tgt["present"], max_shift=shifts[name]
            )
            continue
        losses[name], _ = source_reconstruction(
            pred, tgt["values"], tgt["mask"], tgt["present"], pool=pools[name], max_shift=shifts[name]
        )
    total = sum(losses.values()) / len(losses)
    return total, {f"reconstruction/{name}": value for name, value in losses.items()}


def batch_uniformity(field: jnp.ndarray) -> tuple[jnp.ndarray, Aux]:
    """Mean |<e, e'>| where e' is the embedding at the same position of the next site (batch rolled by one).

    Args:
      field: (B, ..., E) unit embeddings.

    For independent uniform unit vectors in E dimensions the expectation is
    Gamma(E/2) / (sqrt(pi) Gamma((E+1)/2)) (about 0.0997 for E = 64).
    """
    dots = jnp.sum(field * jnp.roll(field, 1, axis=0), axis=-1)
    return jnp.abs(dots).mean(), {}


def consistency(teacher: jnp.ndarray, student: jnp.ndarray) -> tuple[jnp.ndarray, Aux]:
    """Mean (1 - cos) / 2 between (..., E) teacher and student embeddings; no gradient reaches the teacher."""
    teacher = jax.lax.stop_gradient(teacher)
    cos = jnp.sum(teacher * student, axis=-1) / jnp.maximum(
        jnp.linalg.norm(teacher, axis=-1) * jnp.linalg.norm(student, axis=-1), 1e-12
    )
    return ((1.0 - cos) / 2.0).mean(), {}


def clip(
    site: jnp.ndarray, text: jnp.ndarray, present: jnp.ndarray, logit_scale: jnp.ndarray
) -> tuple[jnp.ndarray, Aux]:
    """Symmetric contrastive (InfoNCE) loss between matched sites and texts.

    Args:
      site: (B, E) unit site embeddings.
      text: (B, E) unit text embeddings (projected from the frozen sentence encoder).
      present: (B,) bool, sites that have text; the others are neither anchors nor negatives.
      logit_scale: scalar log inverse temperature (clipped at log(MAX_LOGIT_SCALE)).

    Returns:
      Mean over present sites of (CE(site -> texts) + CE(text -> sites)) / 2; aux has ``accuracy`` (site -> text).
    """
    scale = jnp.exp(jnp.minimum(logit_scale, jnp.log(MAX_LOGIT_SCALE)))
    logits = scale * site @ text.T  # (B, B): row i = site i against every text
    pair = present[:, None] & present[None, :]
    logits = jnp.where(pair, logits, -1e9)
    diag = jnp.diagonal(logits)
    row = jax.nn.logsumexp(logits, axis=1) - diag
    col = jax.nn.logsumexp(logits, axis=0) - diag
    n = jnp.maximum(present.sum(), 1)
    loss = jnp.where(present, (row + col) / 2.0, 0.0).sum() / n
    correct = (jnp.argmax(logits, axis=1) == jnp.arange(site.shape[0])) & present
    return loss, {"accuracy": correct.sum() / n}
