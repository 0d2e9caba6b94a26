"""Deprecated path: moved to `ae_jax.metrics.likelihood`; kept for old imports."""

# pylint: disable=unused-import,wildcard-import
from ae_jax.metrics.likelihood import *  # noqa: F401,F403
