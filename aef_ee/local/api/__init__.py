"""HTTP endpoints of the local Earth Engine, one module per REST resource family."""
