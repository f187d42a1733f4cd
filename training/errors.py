"""Errors of the training package, under aef-ee's root :class:`aef_ee.errors.AefError`."""

from __future__ import annotations

from aef_ee.errors import AefError, AefValueError

__all__ = ["TrainingError", "NonFiniteError", "ConfigError"]


class TrainingError(AefError, RuntimeError):
    """Training cannot go on (a bad step, a checkpoint that does not match the model)."""


class NonFiniteError(TrainingError, FloatingPointError):
    """The loss or the gradients became NaN or infinite; the message names the step and the terms."""


class ConfigError(AefValueError):
    """A config value is unusable (batch not divisible by devices, unknown config name, ...)."""
