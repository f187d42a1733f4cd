"""The AlphaEarth-style embedding model and its training (JAX + Flax NNX).

Entry points: ``python -m aef_ee_training.train`` (:func:`aef_ee_training.train.train_and_evaluate`) and
``python -m aef_ee_training.infer`` (:func:`aef_ee_training.infer.embed_video`). See ``docs/model.md``.
"""
