"""Deprecated path: moved to `ae_jax.metrics.rate_distortion` (the name no
longer clashes with the task `ae_jax.tasks.compression`); kept for old imports.
"""

# pylint: disable=unused-import,wildcard-import
from ae_jax.metrics.rate_distortion import *  # noqa: F401,F403
