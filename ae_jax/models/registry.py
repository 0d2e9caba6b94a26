"""Models by name: `build_model(config, data)` for every registered model.

A new model plugs in with one line in `MODELS`: its ``build(config, data:
base.DataSpec) -> base.Model`` (which validates the fields it reads) and its
``Config`` dataclass, the one declaration of its hyperparameters
(`base.hparam`). `ae_jax.configs` builds each run config from these.
"""

from collections.abc import Callable, Sequence
import dataclasses
import math
import typing
from typing import Any

import jax
import ml_collections

from ae_jax import configs
from ae_jax.models import aae
from ae_jax.models import autoencoder
from ae_jax.models import base
from ae_jax.models import beta_tc_vae
from ae_jax.models import classifier
from ae_jax.models import factor_vae
from ae_jax.models import flow_vae
from ae_jax.models import hierarchical_vae
from ae_jax.models import lstm_ae
from ae_jax.models import miwae
from ae_jax.models import networks
from ae_jax.models import rae
from ae_jax.models import rbm
from ae_jax.models import vae
from ae_jax.models import vae_gan
from ae_jax.models import vampprior
from ae_jax.models import vq_vae
from ae_jax.models import wae


@dataclasses.dataclass(frozen=True)
class Entry:
  """A registered model: how to build it and the hyperparameters it has."""

  build: Callable[[Any, base.DataSpec], base.Model]
  config: type  # A dataclass of `base.hparam` fields.

  @property
  def model_class(self) -> type:
    """The class ``build`` returns (its annotation): what a config check
    asks about a capability before any model is built."""
    return typing.get_type_hints(self.build)['return']


MODELS: dict[str, Entry] = {
    'vae': Entry(vae.build, vae.Config),
    'ae': Entry(autoencoder.build, autoencoder.Config),
    'mlp_classifier': Entry(classifier.build, classifier.Config),
    'rbm': Entry(rbm.build, rbm.Config),
    'lstm_ae': Entry(lstm_ae.build, lstm_ae.Config),
    'aae': Entry(aae.build, aae.Config),
    'iwae': Entry(vae.build_iwae, vae.IWAEConfig),
    'factor_vae': Entry(factor_vae.build, factor_vae.Config),
    'beta_tc_vae': Entry(beta_tc_vae.build, beta_tc_vae.Config),
    'wae': Entry(wae.build, wae.Config),
    'vampprior': Entry(vampprior.build, vampprior.Config),
    'rae': Entry(rae.build, rae.Config),
    'vq_vae': Entry(vq_vae.build, vq_vae.Config),
    'flow_vae': Entry(flow_vae.build, flow_vae.Config),
    'miwae': Entry(miwae.build, miwae.Config),
    'vae_gan': Entry(vae_gan.build, vae_gan.Config),
    'hierarchical_vae': Entry(hierarchical_vae.build, hierarchical_vae.Config),
}

# Pretraining (config.pretrain) trains layer models whose hyperparameters the
# run config then carries too: stacked autoencoders take the AE regularisers.
PRETRAIN_LAYER_CONFIGS = {'autoencoders': autoencoder.Config}

ENCODERS = ('mlp', 'conv')


def hparam_defaults(model: str, pretrain: str = 'none') -> dict[str, Any]:
  """The hyperparameters of ``model`` (and of its pretraining layers), with
  their declared defaults, in declaration order."""
  classes = [MODELS[model].config]
  if pretrain in PRETRAIN_LAYER_CONFIGS:
    classes.append(PRETRAIN_LAYER_CONFIGS[pretrain])
  out = {}
  for cls in classes:
    for f in dataclasses.fields(cls):
      out.setdefault(f.name, f.default)
  return out


def field_owners() -> dict[str, list[str]]:
  """Every model hyperparameter -> the models that have it."""
  owners = {}
  for name, entry in MODELS.items():
    for f in dataclasses.fields(entry.config):
      owners.setdefault(f.name, []).append(name)
  return owners


def traced_fields(model: str | None = None) -> tuple[str, ...]:
  """Hyperparameters a vmapped sweep may vary (`base.hparam` ``traced``), of
  ``model`` or of any model."""
  names = [model] if model else list(MODELS)
  out = []
  for name in names:
    out += [f for f in base.traced_fields(MODELS[name].config) if f not in out]
  return tuple(out)


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
  if config.get('conv_impl', 'auto') not in networks.CONV_IMPLS:
    raise ValueError(
        f'Unknown conv_impl {config.conv_impl!r}; set --config.conv_impl '
        f'to one of {networks.CONV_IMPLS}.'
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
  if config.activation == 'gated' and config.encoder != 'mlp':
    raise ValueError(
        f'{networks.GATED_ONLY_MLP} (encoder={config.encoder!r}); set '
        '--config.encoder=mlp or another --config.activation.'
    )
  check_precision(config)
  if not 0 <= config.get('dropout_rate', 0.0) < 1:
    raise ValueError(
        f'config.dropout_rate={config.dropout_rate} must lie in [0, 1).'
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
    config,
    data: base.DataSpec | Sequence[int],
    *,
    num_classes: int | None = None,
    num_train: int | None = None,
) -> base.Model:
  """The model named by ``config.model`` for ``data`` (a `base.DataSpec`, or
  the shape of one example with ``num_classes``/``num_train`` beside it).

  ``config`` may lack hyperparameters of the model (an older or hand-built
  config): they take their declared defaults; a field the model does not
  have is refused unless it is at its default (`configs.normalize`).
  """
  config = configs.normalize(config)
  check_model_config(config)
  if not isinstance(data, base.DataSpec):
    data = base.DataSpec(
        tuple(data), int(num_classes or 0), int(num_train or 0)
    )
  return MODELS[config.model].build(config, data)


# Config fields that can set the size of a model's arrays.
SIZE_FIELDS = (
    'latent_dim',
    'hidden_sizes',
    'conv_features',
    'lstm_hidden',
    'discriminator_sizes',
)


def sizing_fields(
    config,
    input_shape: Sequence[int],
    *,
    num_classes: int | None = None,
    num_train: int | None = None,
) -> dict[str, Any]:
  """The `SIZE_FIELDS` (with their values) that change this model's number
  of parameters: what a user lowers when it does not fit in memory.

  Shapes only (`jax.eval_shape`): nothing is allocated.
  """

  def count(c) -> int:
    model = build_model(
        c, input_shape, num_classes=num_classes, num_train=num_train
    )
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0))
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))

  base_count = count(config)
  out = {}
  config = configs.normalize(config)
  for field in SIZE_FIELDS:
    if field not in config:
      continue
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
