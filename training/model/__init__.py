"""Model modules: stems, STP blocks, summary, vMF, decoders; :class:`aef_ee_training.model.aef.AlphaEarth` assembles
them."""
