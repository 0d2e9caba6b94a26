"""The code discriminator shared by the adversarial models (aae, factor_vae).

An MLP from codes ``[B, D]`` to one logit per code, sized by
``config.discriminator_sizes``, and the accuracy metric both models log.
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from ae_jax.models import base
from ae_jax.models import networks


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
  """Hyperparameters of a model with a code discriminator (aae, factor_vae)."""

  discriminator_sizes: tuple[int, ...] = base.hparam((512, 512))
  # Its own optimiser's learning rate (Kim & Mnih use 1e-4 over 3e5 steps).
  discriminator_learning_rate: float = base.hparam(1e-3)


def build(config, *, activation: str) -> nn.Module:
  """The discriminator MLP (``Dense(1)`` head); checks its config fields."""
  if not config.discriminator_learning_rate > 0:
    raise ValueError(
        f'config.discriminator_learning_rate='
        f'{config.discriminator_learning_rate} must be > 0.'
    )
  sizes = tuple(config.discriminator_sizes)
  if not sizes or not all(isinstance(s, int) and s >= 1 for s in sizes):
    raise ValueError(
        f'config.discriminator_sizes={sizes} must be positive integers, e.g. '
        "--config.discriminator_sizes='(512, 512)'."
    )
  return networks.MLPEncoder(
      sizes,
      1,
      activation=activation,
      init_scheme=config.init,
      dtype=networks.compute_dtype(config),
  )


def accuracy(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """Per-pair accuracy ``[B]``: real called real (logit > 0), fake called fake."""
  return 0.5 * ((real_logits > 0).astype(jnp.float32) + (fake_logits < 0))
