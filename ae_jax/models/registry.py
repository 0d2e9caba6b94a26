"""Models by name: `build_model(config, input_shape)` for every registered model.

A new model plugs in by adding ``'name': module.build`` to `MODELS`, where
``build(config, input_shape) -> base.Model`` validates its own config fields.
"""

from collections.abc import Callable, Sequence

from ae_jax.models import autoencoder
from ae_jax.models import base
from ae_jax.models import networks
from ae_jax.models import vae

MODELS: dict[str, Callable[..., base.Model]] = {
    'ae': autoencoder.build,
    'vae': vae.build,
}

ENCODERS = ('mlp', 'conv')


def check_model_config(config) -> None:
  """Raises ValueError naming the field and the fix for invalid model settings.

  Cheap: runs before any data is loaded or anything is compiled.
  """
  if config.model not in MODELS:
    raise ValueError(
        f'Unknown model {config.model!r}; set --config.model to one '
        f'of {sorted(MODELS)}.'
    )
  if config.encoder not in ENCODERS:
    raise ValueError(
        f'Unknown encoder {config.encoder!r}; set --config.encoder '
        f'to one of {ENCODERS}.'
    )
  if not (isinstance(config.latent_dim, int) and config.latent_dim >= 1):
    raise ValueError(
        f'config.latent_dim={config.latent_dim!r} must be a '
        'positive integer.'
    )
  for field in ('hidden_sizes', 'conv_features'):
    sizes = tuple(config[field])
    if not all(isinstance(s, int) and s >= 1 for s in sizes):
      raise ValueError(
          f'config.{field}={sizes} must be positive integers, e.g. '
          f'--config.{field}="(512,)".'
      )
  if config.init not in networks.INITS:
    raise ValueError(
        f'Unknown init {config.init!r}; set --config.init to one of '
        f'{networks.INITS}.'
    )
  base.check_likelihood(config.likelihood)


def build_model(config, input_shape: Sequence[int]) -> base.Model:
  """The model named by ``config.model`` for examples of ``input_shape``."""
  check_model_config(config)
  return MODELS[config.model](config, tuple(input_shape))
