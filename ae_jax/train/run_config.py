"""`check_config`: every cheap check of a run config, before any data or compile.

Names, ranges and combinations of the run's fields (the model's own fields
are checked by `models.check_model_config`, the optimiser's by
`state.check_optimizer_config`, pretraining's by `pretrain.check_config`).
"""

import ml_collections

from ae_jax import configs
from ae_jax import corruptions
from ae_jax import data
from ae_jax import models
from ae_jax.train import nonfinite
from ae_jax.train import pretrain
from ae_jax.train import state as state_lib


def check_config(
    config: ml_collections.ConfigDict,
) -> ml_collections.ConfigDict:
  """Every cheap check, before data is loaded or anything compiled.

  Returns ``config`` with exactly its model's fields (`configs.normalize`).
  """
  # Unknown fields, other models' fields; then the model's fields are there.
  config = configs.normalize(config)
  models.check_model_config(config)
  state_lib.check_optimizer_config(config)
  pretrain.check_config(config)
  if config.layout not in data.datasets.LAYOUTS:
    raise ValueError(
        f'config.layout={config.layout!r} must be one of {data.datasets.LAYOUTS}.'
    )
  if config.binarize not in data.datasets.BINARIZE_MODES:
    raise ValueError(
        f'config.binarize={config.binarize!r} must be one of '
        f'{data.datasets.BINARIZE_MODES}.'
    )
  if config.encoder == 'conv' and config.layout != 'hwc':
    raise ValueError(
        "config.encoder='conv' needs images in HWC layout; add "
        '--config.layout=hwc.'
    )
  if config.get('noise') in corruptions.IMAGE_CORRUPTIONS and (
      config.layout != 'hwc'
  ):
    raise ValueError(
        f'config.noise={config.noise!r} corrupts images [H, W, C]; add '
        '--config.layout=hwc.'
    )
  variance = config.get('output_variance', 'shared')
  if variance not in ('shared', 'per_feature'):
    raise ValueError(
        f"config.output_variance={variance!r} is not one of ('shared', "
        "'per_feature'); set --config.output_variance to one of them."
    )
  if variance == 'per_feature' and config.likelihood != 'gaussian':
    raise ValueError(
        "config.output_variance='per_feature' is the variance of a Gaussian "
        'likelihood; add --config.likelihood=gaussian (a model of the VAE '
        'family learns it).'
    )
  if config.num_epochs <= 0 and config.num_train_steps <= 0:
    raise ValueError(
        'Set a positive --config.num_train_steps or '
        '--config.num_epochs (one of them decides the run length).'
    )
  for field in (
      'steps_per_call',
      'batch_size',
      'eval_batch_size',
      'log_every_steps',
      'checkpoint_every_steps',
      'max_checkpoints_to_keep',
  ):
    if not (isinstance(config[field], int) and config[field] >= 1):
      raise ValueError(
          f'config.{field}={config[field]!r} must be a positive ' 'integer.'
      )
  if config.nonfinite not in nonfinite.NONFINITE_MODES:
    raise ValueError(
        f'config.nonfinite={config.nonfinite!r} must be one of '
        f"{nonfinite.NONFINITE_MODES} ('stop' raises at the first NaN/inf; 'skip' "
        'drops the update of such a batch).'
    )
  for field in ('validation_size', 'max_consecutive_nonfinite'):
    if not (isinstance(config[field], int) and config[field] >= 0):
      raise ValueError(
          f'config.{field}={config[field]!r} must be an integer >= 0.'
      )
  if not config.eval_every_steps >= 0:
    raise ValueError(
        f'config.eval_every_steps={config.eval_every_steps} must be '
        '>= 0 (0 evaluates only at the end).'
    )
  _check_user_file_fields(config)
  return config


def _check_user_file_fields(config) -> None:
  """A field of the user's files set for data that does not read it (a
  built-in dataset, or npz: with its own test split) is refused, not
  ignored: ``--config.test_fraction=0.5`` on fashion_mnist changed
  nothing."""
  unread = configs.unread_user_file_fields(config)
  if unread:
    field, default, kinds = unread[0]
    source = data.user_files.parse_source(config.dataset)
    where = (
        f'{config.dataset} comes with its own splits and image size'
        if source is None
        else f'{source[0]}: data does not read it'
    )
    raise ValueError(
        f'config.{field}={config[field]!r} applies to '
        f'{" and ".join(k + ":" for k in kinds)} data only; {where}. '
        f'Leave --config.{field} out (default {default!r}).'
    )
