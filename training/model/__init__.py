"""Model modules: stems, STP blocks, summary, vMF, decoders; :class:`training.model.aef.AlphaEarth` assembles them."""
