"""Models by name: `build_model(config, input_shape)` for every registered model.

A new model plugs in by adding ``'name': module.build`` to `MODELS`, where
``build(config, input_shape, *, num_classes=None) -> base.Model`` validates
its own config fields (``num_classes`` is the dataset's, for models that use
labels).
"""

from collections.abc import Callable, Sequence
import math
from typing import Any

import jax
import ml_collections

from ae_jax import configs
from ae_jax.models import aae
from ae_jax.models import autoencoder
from ae_jax.models import base
from ae_jax.models import classifier
from ae_jax.models import factor_vae
from ae_jax.models import lstm_ae
from ae_jax.models import networks
from ae_jax.models import rbm
from ae_jax.models import vae

MODELS: dict[str, Callable[..., base.Model]] = {
    'ae': autoencoder.build,
    'vae': vae.build,
    'mlp_classifier': classifier.build,
    'rbm': rbm.build,
    'lstm_ae': lstm_ae.build,
    'aae': aae.build,
    'iwae': vae.build_iwae,
    'factor_vae': factor_vae.build,
}

ENCODERS = ('mlp', 'conv')

# Config fields read by one model only, with their neutral values: setting one
# for another model would silently do nothing, so it is refused instead.
MODEL_SPECIFIC_FIELDS = {
    'noise': ('none', ('ae',)),
    'sparsity': ('none', ('ae',)),
    'contractive_weight': (0.0, ('ae',)),
    'code_activation': ('linear', ('ae',)),
    'dropout_rate': (0.0, ('ae', 'mlp_classifier')),
    'rbm_visible': ('bernoulli', ('rbm',)),
    'rbm_hidden': ('bernoulli', ('rbm',)),
    'cd_steps': (1, ('rbm',)),
    'persistent_chains': (False, ('rbm',)),
    'prior': ('standard_normal', ('aae',)),
    'aae_encoder': ('deterministic', ('aae',)),
    'aae_conditional': (False, ('aae',)),
    'adversarial_weight': (1.0, ('aae',)),
    'iwae_samples': (1, ('iwae',)),
    'mmd_weight': (0.0, ('vae', 'factor_vae')),
    'capacity_max': (0.0, ('vae',)),
    'tc_weight': (10.0, ('factor_vae',)),
}


def check_model_config(config) -> None:
  """Raises ValueError naming the field and the fix for invalid model settings.

  Cheap: runs before any data is loaded or anything is compiled.
  """
  configs.check_values(config)  # Types, finiteness, seed: every field.
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
  if config.activation not in networks.ACTIVATIONS:
    raise ValueError(
        f'Unknown activation {config.activation!r}; set '
        f'--config.activation to one of {networks.ACTIVATIONS}.'
    )
  check_precision(config)
  if not 0 <= config.dropout_rate < 1:
    raise ValueError(
        f'config.dropout_rate={config.dropout_rate} must lie in [0, 1).'
    )
  for field, (neutral, users) in MODEL_SPECIFIC_FIELDS.items():
    # Stacked autoencoders pass the regularisers on to their layer AEs.
    if config.pretrain == 'autoencoders' and field != 'dropout_rate':
      continue
    if config.model not in users and config[field] != neutral:
      raise ValueError(
          f'config.{field}={config[field]!r} has no effect on model '
          f'{config.model!r} (only on {", ".join(users)}); remove it or set '
          f'--config.{field}={neutral!r}.'
      )
  base.check_likelihood(config.likelihood)


def check_precision(config) -> None:
  """Checks ``config.compute_dtype`` (see `networks.COMPUTE_DTYPES`).

  RBMs (``model='rbm'``, ``pretrain='rbm'``) compute in float32 only: their
  contrastive-divergence gradient is a small difference of two sampled
  statistics, which bfloat16's 8-bit mantissa would swamp.
  """
  name = config.get('compute_dtype', 'float32')
  networks.check_compute_dtype(name)
  if name != 'float32' and 'rbm' in (config.model, config.get('pretrain')):
    raise ValueError(
        f'config.compute_dtype={name!r} is not supported by RBMs '
        f'(model={config.model!r}, pretrain={config.pretrain!r}): they '
        'compute in float32 only; set --config.compute_dtype=float32.'
    )


def build_model(
    config, input_shape: Sequence[int], *, num_classes: int | None = None
) -> base.Model:
  """The model named by ``config.model`` for examples of ``input_shape``."""
  check_model_config(config)
  return MODELS[config.model](
      config, tuple(input_shape), num_classes=num_classes
  )


# Config fields that can set the size of a model's arrays.
SIZE_FIELDS = (
    'latent_dim',
    'hidden_sizes',
    'conv_features',
    'lstm_hidden',
    'discriminator_sizes',
)


def sizing_fields(
    config, input_shape: Sequence[int], *, num_classes: int | None = None
) -> dict[str, Any]:
  """The `SIZE_FIELDS` (with their values) that change this model's number
  of parameters: what a user lowers when it does not fit in memory.

  Shapes only (`jax.eval_shape`): nothing is allocated.
  """

  def count(c) -> int:
    model = build_model(c, input_shape, num_classes=num_classes)
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0))
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))

  base_count = count(config)
  out = {}
  for field in SIZE_FIELDS:
    value = config[field]
    larger = (
        value + 1 if isinstance(value, int) else tuple(v + 1 for v in value)
    )
    if larger == value:  # An empty tuple.
      continue
    changed = ml_collections.ConfigDict(config.to_dict())
    changed[field] = larger
    try:
      if count(changed) != base_count:
        out[field] = value
    except (ValueError, TypeError):  # A value the model refuses: not it.
      continue
  return out
