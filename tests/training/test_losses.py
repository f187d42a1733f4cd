"""Each loss against a slow, obviously-correct numpy reference and on its defining property."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aef_ee_training import losses


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# --- reconstruction --------------------------------------------------------------------------------------------


def slow_reconstruction(pred, target, mask, present, pool, max_shift):
    b, h, w, c = pred.shape
    pool = pool or h
    hc, wc = h // pool, w // pool
    pc = np.zeros((b, hc, wc, c))
    tc = np.zeros((b, hc, wc, c))
    mc = np.zeros((b, hc, wc), bool)
    for i in range(b):
        for y in range(hc):
            for x in range(wc):
                block = np.s_[y * pool : (y + 1) * pool, x * pool : (x + 1) * pool]
                pc[i, y, x] = pred[i][block].reshape(-1, c).mean(0)
                m = mask[i][block].reshape(-1)
                if m.any():
                    tc[i, y, x] = target[i][block].reshape(-1, c)[m].mean(0)
                    mc[i, y, x] = True
    s = max_shift
    per_site, valid = [], []
    for i in range(b):
        best, any_valid = math.inf, False
        for dy, dx in itertools.product(range(-s, s + 1), repeat=2):
            errs = []
            for y in range(s, hc - s):
                for x in range(s, wc - s):
                    if mc[i, y + dy, x + dx]:
                        errs.append(np.abs(pc[i, y, x] - tc[i, y + dy, x + dx]).mean())
            if errs:
                any_valid = True
                best = min(best, float(np.mean(errs)))
        ok = bool(present[i]) and any_valid
        valid.append(ok)
        per_site.append(best if ok else 0.0)
    n = max(sum(valid), 1)
    return sum(p for p, v in zip(per_site, valid) if v) / n


@pytest.mark.parametrize("pool,shift", [(1, 0), (1, 2), (2, 1), (0, 0)])
def test_reconstruction_matches_slow_reference(pool: int, shift: int) -> None:
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(3, 8, 8, 2)).astype(np.float32)
    target = rng.normal(size=(3, 8, 8, 2)).astype(np.float32)
    mask = rng.random((3, 8, 8)) > 0.3
    mask[2] = False  # a site with no valid target pixel does not count
    present = np.array([True, True, True])
    got, aux = losses.source_reconstruction(
        jnp.asarray(pred), jnp.asarray(target), jnp.asarray(mask), jnp.asarray(present), pool=pool, max_shift=shift
    )
    want = slow_reconstruction(pred, target, mask, present, pool, shift)
    assert float(got) == pytest.approx(want, rel=1e-5)
    assert list(np.asarray(aux["valid"])) == [True, True, False]


def test_reconstruction_is_shift_invariant_within_radius() -> None:
    rng = np.random.default_rng(1)
    target = rng.normal(size=(2, 16, 16, 3)).astype(np.float32)
    mask = np.ones((2, 16, 16), bool)
    present = np.ones(2, bool)
    shifted = np.roll(target, (1, -2), axis=(1, 2))  # the prediction is the target moved by 10 m and 20 m
    within, _ = losses.source_reconstruction(shifted, target, mask, present, pool=1, max_shift=2)
    beyond, _ = losses.source_reconstruction(np.roll(target, (3, 0), axis=(1, 2)), target, mask, present,
                                             pool=1, max_shift=2)
    assert float(within) == pytest.approx(0.0, abs=1e-6)
    assert float(beyond) > 0.5


def test_reconstruction_mean_over_sources_and_absent_targets() -> None:
    rng = np.random.default_rng(2)
    pred = {"a": rng.normal(size=(2, 4, 4, 1)).astype(np.float32), "b": np.zeros((2, 4, 4, 2), np.float32)}
    targets = {
        "a": {"values": np.zeros((2, 4, 4, 1), np.float32), "mask": np.ones((2, 4, 4), bool),
              "present": np.array([True, False])},
        "b": {"values": np.ones((2, 4, 4, 2), np.float32), "mask": np.ones((2, 4, 4), bool),
              "present": np.array([True, True])},
    }
    total, aux = losses.reconstruction(pred, targets, pools={"a": 1, "b": 1}, shifts={"a": 0, "b": 0})
    assert float(aux["reconstruction/a"]) == pytest.approx(np.abs(pred["a"][0]).mean(), rel=1e-6)
    assert float(aux["reconstruction/b"]) == pytest.approx(1.0)
    assert float(total) == pytest.approx((np.abs(pred["a"][0]).mean() + 1.0) / 2, rel=1e-6)


# --- batch uniformity ------------------------------------------------------------------------------------------


def test_uniformity_matches_slow_reference() -> None:
    field = _unit(np.random.default_rng(3).normal(size=(5, 3, 3, 16)))
    want = np.mean([abs(field[i, y, x] @ field[i - 1, y, x]) for i in range(5) for y in range(3) for x in range(3)])
    got, _ = losses.batch_uniformity(jnp.asarray(field, jnp.float32))
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_uniformity_of_uniform_vectors_is_its_expectation() -> None:
    dim = 64
    field = _unit(np.random.default_rng(4).normal(size=(64, 32, 32, dim)))
    got, _ = losses.batch_uniformity(jnp.asarray(field, jnp.float32))
    expected = math.gamma(dim / 2) / (math.sqrt(math.pi) * math.gamma((dim + 1) / 2))  # E|u_1|, about 0.0997
    assert float(got) == pytest.approx(expected, rel=0.02)
    collapsed, _ = losses.batch_uniformity(jnp.asarray(np.broadcast_to(field[:1], field.shape), jnp.float32))
    assert float(collapsed) == pytest.approx(1.0, abs=1e-5)


# --- consistency -----------------------------------------------------------------------------------------------


def test_consistency_matches_reference_and_properties() -> None:
    rng = np.random.default_rng(5)
    t = _unit(rng.normal(size=(4, 5, 8)))
    s = _unit(rng.normal(size=(4, 5, 8)))
    want = np.mean([(1 - t[i, j] @ s[i, j]) / 2 for i in range(4) for j in range(5)])
    got, _ = losses.consistency(jnp.asarray(t), jnp.asarray(s))
    assert float(got) == pytest.approx(want, rel=1e-5)
    assert float(losses.consistency(jnp.asarray(t), jnp.asarray(t))[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.consistency(jnp.asarray(t), jnp.asarray(-t))[0]) == pytest.approx(1.0, abs=1e-6)


def test_consistency_does_not_train_the_teacher() -> None:
    t = jnp.asarray(_unit(np.random.default_rng(6).normal(size=(3, 4))), jnp.float32)
    s = jnp.asarray(_unit(np.random.default_rng(7).normal(size=(3, 4))), jnp.float32)
    gt, gs = jax.grad(lambda a, b: losses.consistency(a, b)[0], argnums=(0, 1))(t, s)
    assert np.all(np.asarray(gt) == 0) and np.abs(np.asarray(gs)).sum() > 0


# --- CLIP ------------------------------------------------------------------------------------------------------


def slow_clip(site, text, present, logit_scale):
    scale = math.exp(min(logit_scale, math.log(100.0)))
    idx = [i for i in range(len(site)) if present[i]]
    total = 0.0
    for i in idx:
        row = [scale * site[i] @ text[j] for j in idx]
        col = [scale * site[j] @ text[i] for j in idx]
        k = idx.index(i)
        ce_row = -row[k] + math.log(sum(math.exp(v) for v in row))
        ce_col = -col[k] + math.log(sum(math.exp(v) for v in col))
        total += (ce_row + ce_col) / 2
    return total / max(len(idx), 1)


def test_clip_matches_slow_reference() -> None:
    rng = np.random.default_rng(8)
    site = _unit(rng.normal(size=(6, 8)))
    text = _unit(rng.normal(size=(6, 8)))
    present = np.array([True, True, False, True, True, False])
    got, _ = losses.clip(jnp.asarray(site), jnp.asarray(text), jnp.asarray(present), jnp.asarray(2.0))
    assert float(got) == pytest.approx(slow_clip(site, text, present, 2.0), rel=1e-5)


def test_clip_is_low_for_matched_pairs_and_log_b_for_random() -> None:
    b = 32
    site = _unit(np.random.default_rng(9).normal(size=(b, 64)))
    present = np.ones(b, bool)
    matched, aux = losses.clip(jnp.asarray(site), jnp.asarray(site), jnp.asarray(present), jnp.asarray(math.log(100)))
    assert float(matched) < 0.05 and float(aux["accuracy"]) == 1.0
    # With a tiny inverse temperature every text is as likely as any other: the loss is log(B).
    flat, _ = losses.clip(jnp.asarray(site), jnp.asarray(site[::-1]), jnp.asarray(present), jnp.asarray(-20.0))
    assert float(flat) == pytest.approx(math.log(b), rel=1e-4)


# --- categorical reconstruction --------------------------------------------------------------------------------


def slow_cross_entropy(logits, labels, mask, present, max_shift):
    b, h, w, k = logits.shape
    s = max_shift
    per_site, valid = [], []
    for i in range(b):
        best, any_valid = math.inf, False
        for dy, dx in itertools.product(range(-s, s + 1), repeat=2):
            nll = []
            for y in range(s, h - s):
                for x in range(s, w - s):
                    if mask[i, y + dy, x + dx]:
                        z = logits[i, y, x].astype(np.float64)
                        log_p = z - np.log(np.exp(z - z.max()).sum()) - z.max()
                        nll.append(-log_p[int(labels[i, y + dy, x + dx])])
            if nll:
                any_valid = True
                best = min(best, float(np.mean(nll)))
        ok = bool(present[i]) and any_valid
        valid.append(ok)
        per_site.append(best if ok else 0.0)
    return sum(p for p, v in zip(per_site, valid) if v) / max(sum(valid), 1)


@pytest.mark.parametrize("shift", [0, 1])
def test_cross_entropy_matches_slow_reference(shift: int) -> None:
    rng = np.random.default_rng(10)
    logits = rng.normal(size=(3, 6, 6, 4)).astype(np.float32)
    labels = rng.integers(0, 4, (3, 6, 6)).astype(np.float32)
    mask = rng.random((3, 6, 6)) > 0.3
    present = np.array([True, False, True])
    got, _ = losses.source_cross_entropy(logits, labels, mask, present, max_shift=shift)
    assert float(got) == pytest.approx(slow_cross_entropy(logits, labels, mask, present, shift), rel=1e-5)


def test_cross_entropy_of_confident_shifted_map_is_zero_and_dispatch() -> None:
    labels = np.random.default_rng(11).integers(0, 5, (2, 12, 12))
    logits = 50.0 * np.eye(5, dtype=np.float32)[np.roll(labels, (0, 1), axis=(1, 2))]  # moved by one pixel
    mask, present = np.ones((2, 12, 12), bool), np.ones(2, bool)
    assert float(losses.source_cross_entropy(logits, labels, mask, present, max_shift=1)[0]) < 1e-6
    assert float(losses.source_cross_entropy(logits, labels, mask, present, max_shift=0)[0]) > 1.0
    targets = {"lc": {"values": labels[..., None].astype(np.float32), "mask": mask, "present": present}}
    total, aux = losses.reconstruction({"lc": logits}, targets, pools={"lc": 1}, shifts={"lc": 1}, categorical=("lc",))
    assert float(total) == float(aux["reconstruction/lc"]) < 1e-6
