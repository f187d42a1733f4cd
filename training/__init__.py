"""The AlphaEarth-style embedding model and its training (JAX + Flax NNX).

Entry points: ``python -m training.train`` (:func:`training.train.train_and_evaluate`) and
``python -m training.infer`` (:func:`training.infer.embed_video`). See ``docs/model.md``.
"""
