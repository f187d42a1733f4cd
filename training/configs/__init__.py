"""Configs ``tiny``, ``small`` and ``paper``; each module has ``get_config()`` and its command line in the docstring."""
