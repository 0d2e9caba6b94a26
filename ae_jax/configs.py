"""The config schema: the fields every run has, plus its model's own.

A run config is flat: the fields below (data, network, optimisation, logs)
and the hyperparameters of ``config.model``, declared once in that model's
``Config`` dataclass (`ae_jax.models.registry.MODELS`). A field of another
model is not in it: an experiment config (``experiments/configs/*.py``, which
starts from ``default_config(model)``) refuses ``--config.lstm_hidden=64`` on
``model='ae'`` as an unknown key, and `normalize` refuses it in a config
built by hand. `with_defaults` migrates a config saved by an older version
(a work directory's ``config.json``, which held every model's fields): the
other models' fields are dropped (they never had an effect) and fields added
since take their defaults, so an old run stays loadable.
"""

import difflib
import json
import math
import numbers
from typing import Any

import ml_collections


def _registry():
  from ae_jax.models import registry  # pylint: disable=g-import-not-at-top

  return registry


def general_config() -> ml_collections.ConfigDict:
  """The fields of every run, whatever its model, with their defaults."""
  c = ml_collections.ConfigDict()
  # What is trained.
  c.model = 'vae'  # A name in ae_jax.models.MODELS.
  c.encoder = 'mlp'  # 'mlp' | 'conv' (conv needs layout='hwc').
  c.hidden_sizes = (512,)  # MLP encoder widths; the decoder mirrors them.
  c.conv_features = (32, 64)  # Conv encoder channels (stride 2 each).
  # How conv layers compute, same parameters and outputs either way: 'auto'
  # (matrix products on CPU, flax/XLA convolutions elsewhere) | 'matmul' |
  # 'flax' (networks.CONV_IMPLS).
  c.conv_impl = 'auto'
  c.latent_dim = 20
  c.init = 'uniform_fan_in'  # Layer init: 'uniform_fan_in' | 'lecun_normal'.
  c.activation = 'relu'  # Hidden units: 'relu' | 'sigmoid' | 'tanh' | ...
  c.likelihood = 'bernoulli'  # 'bernoulli' (BCE on [0,1] data) | 'gaussian'.
  # The learned variance of a Gaussian likelihood (VAE family): one for every
  # feature ('shared') or one per feature ('per_feature', for tables).
  c.output_variance = 'shared'
  # Greedy layer-wise pretraining of the hidden layers before training:
  # 'none' | 'autoencoders' (stacked AEs) | 'rbm' (stacked RBMs).
  c.pretrain = 'none'
  c.pretrain_steps = 2000  # Per layer.
  c.pretrain_learning_rate = 1e-3
  # Data.
  # 'digits' | 'fashion_mnist' | 'mnist' | 'dsprites' | 'xy_sprites' | a
  # TFDS name | the user's own 'npz:<file>' | 'images:<folder>' |
  # 'csv:<file>' (ae_jax.data.user_files).
  c.dataset = 'digits'
  c.data_dir = ''  # TFDS data dir; '' = TFDS's default.
  c.idx_dir = ''  # Local IDX files; '' = /usr/share/datasets/<name>.
  # The official dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz; '' = render
  # the factor grid (ae_jax.data.sprites).
  c.dsprites_file = ''
  c.layout = (
      'flat'  # 'flat' [N, H*W*C] | 'hwc' [N, H, W, C] | 'sequence' [N, H, W*C].
  )
  c.binarize = 'none'  # 'none' | 'static' | 'dynamic'.
  # The user's own data: images: folders resized to N x N (0 = as stored);
  # the share of an images: or csv: source held out as the test split; the
  # csv column holding the classes ('' = none).
  c.image_size = 0
  c.test_fraction = 0.2
  c.label_column = ''
  # Keep the train split on the devices (False: stream batches from host).
  c.data_on_device = True
  # Train examples held out as a validation split (a fixed draw, the same for
  # every seed). With it, each checkpoint records the validation loss and the
  # best checkpoint by it is kept besides the most recent ones.
  c.validation_size = 0
  # Optimisation.
  c.seed = 0
  c.batch_size = 128  # Global batch; must divide across devices.
  c.num_train_steps = 2400  # Run length, unless num_epochs > 0.
  c.num_epochs = -1
  c.optimizer = 'adam'  # 'adam' | 'adamw' | 'sgd'.
  c.learning_rate = 1e-3
  c.lr_schedule = 'constant'  # 'constant' | 'cosine'.
  c.warmup_steps = 0
  c.weight_decay = 0.0
  c.steps_per_call = 10  # Steps fused per call (lax.scan); at most this many.
  c.grad_clip_norm = 0.0  # 0 = no clipping.
  # A batch with a NaN/inf loss or gradient: 'stop' (raise, naming the step
  # and the last good checkpoint) or 'skip' (optax.apply_if_finite: no update;
  # stop after more than max_consecutive_nonfinite such batches in a row).
  c.nonfinite = 'stop'
  c.max_consecutive_nonfinite = 10
  # Layer compute dtype: 'float32' | 'bfloat16' (mixed precision for GPU/TPU:
  # float32 parameters, optimiser state and losses; not for RBMs).
  c.compute_dtype = 'float32'
  # Evaluation, checkpoints, logs.
  c.eval_batch_size = 500
  c.eval_every_steps = 500  # 0 = only at the end.
  c.checkpoint_every_steps = 500
  c.max_checkpoints_to_keep = 3
  c.log_every_steps = 50
  c.progress_bar = True
  c.write_figures = True
  return c


def default_config(
    model: str = 'vae', pretrain: str = 'none'
) -> ml_collections.ConfigDict:
  """The fields of a run of ``model`` (with ``pretrain``), with defaults:
  `general_config` plus the model's declared hyperparameters."""
  registry = _registry()
  if model not in registry.MODELS:
    raise ValueError(
        f'Unknown model {model!r}; set --config.model to one of '
        f'{sorted(registry.MODELS)}.'
    )
  c = general_config()
  c.model = model
  c.pretrain = pretrain
  for field, default in registry.hparam_defaults(model, pretrain).items():
    c[field] = default
  return c


def _values(config) -> dict[str, Any]:
  if isinstance(config, ml_collections.ConfigDict):
    return config.to_dict()
  return json.loads(json.dumps(dict(config)))


def normalize(config, *, foreign: str = 'refuse') -> ml_collections.ConfigDict:
  """``config`` with exactly the fields of its model: a new ConfigDict.

  Fields it lacks take their defaults. A field of another model is dropped
  when it holds that model's default (e.g. ``beta`` left at 1.0 after
  ``config.model = 'ae'``) and refused otherwise; an unknown field is
  refused with the closest known name. ``foreign='drop'`` drops both
  instead (reading a config.json written by an older version).

  Raises:
    ValueError: naming the field and the fix.
  """
  values = _values(config)
  model = values.get('model', 'vae')
  pretrain = values.get('pretrain', 'none')
  registry = _registry()
  if not isinstance(model, str) or model not in registry.MODELS:
    raise ValueError(
        f'Unknown model {model!r}; set --config.model to one of '
        f'{sorted(registry.MODELS)}.'
    )
  if not isinstance(pretrain, str):
    pretrain = 'none'  # check_config names the bad value.
  schema = _values(default_config(model, pretrain))
  owners = registry.field_owners()
  unknown = sorted(k for k in values if k not in schema and k not in owners)
  if unknown and foreign == 'refuse':
    known = sorted(set(schema) | set(owners))
    hints = {f: difflib.get_close_matches(f, known, n=1) for f in unknown}
    raise ValueError(
        'Unknown config field(s): '
        + ', '.join(
            f'{f!r}' + (f' (did you mean {hints[f][0]!r}?)' if hints[f] else '')
            for f in unknown
        )
        + "; ae_jax/configs.py and each model's Config list the fields."
    )
  out = dict(schema)
  for field, value in values.items():
    if field in schema:
      out[field] = value
    elif field in owners and foreign == 'refuse':
      default = registry.hparam_defaults(owners[field][0])[field]
      if _values({'v': value})['v'] != _values({'v': default})['v']:
        raise ValueError(
            f'config.{field}={value!r} is not a field of model {model!r} '
            f'(it is one of {", ".join(owners[field])}); remove it, or '
            'train one of those models (their experiment configs are in '
            'experiments/configs/).'
        )
  return ml_collections.ConfigDict(out)


def with_defaults(saved: dict) -> ml_collections.ConfigDict:
  """A saved config (e.g. a loaded config.json) migrated to this version:
  `normalize` with other models' fields and unknown fields dropped, and
  the fields of the user's files that its data never read at their defaults
  (versions before 2026-11-30 accepted and ignored them there)."""
  config = normalize(saved, foreign='drop')
  for field, default, _ in unread_user_file_fields(config):
    config[field] = default
  return config


# Fields that only the user's own files read, with their defaults and the
# kinds of `config.dataset` (`data.user_files.parse_source`) that read each.
USER_FILE_FIELDS = (
    ('test_fraction', 0.2, ('csv', 'images')),
    ('image_size', 0, ('images',)),
    ('label_column', '', ('csv',)),
)


def unread_user_file_fields(config) -> list[tuple[str, Any, tuple[str, ...]]]:
  """The `USER_FILE_FIELDS` entries ``(field, default, kinds that read it)``
  set to another value for data that does not read them (a built-in
  dataset, npz:)."""
  kind, sep, _ = str(config.get('dataset', '')).partition(':')
  kind = kind if sep else None
  return [
      (field, default, kinds)
      for field, default, kinds in USER_FILE_FIELDS
      if kind not in kinds and config.get(field, default) != default
  ]


def _kind(value) -> str:
  """The schema type of a default value: what a config may hold there."""
  if isinstance(value, bool):
    return 'bool'
  if isinstance(value, numbers.Integral):
    return 'int'
  if isinstance(value, numbers.Real):
    return 'float'
  if isinstance(value, (tuple, list)):
    return 'ints'
  return 'str'


def _fits(kind: str, value) -> bool:
  is_bool = isinstance(value, bool)
  if kind == 'bool':
    return is_bool
  if kind == 'int':  # True is an int to Python, but surely a mistake here.
    return isinstance(value, numbers.Integral) and not is_bool
  if kind == 'float':
    return (
        isinstance(value, numbers.Real) and not is_bool and math.isfinite(value)
    )
  if kind == 'ints':
    return isinstance(value, (tuple, list)) and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool)
        for v in value
    )
  return isinstance(value, str)


_KIND_TEXT = {
    'bool': 'True or False',
    'int': 'an integer',
    'float': 'a finite number',
    'ints': 'a tuple of integers, e.g. "(512,)"',
    'str': 'a string',
}


def check_values(config) -> None:
  """Every schema field holds a value of its type; numbers are finite.

  The range checks of each field live with the code that reads it
  (`models.check_model_config`, `train.state.check_optimizer_config`, ...);
  this catches what they would let through: ``inf`` or NaN in a float field
  (``beta=inf`` would train to NaN), ``True`` in an int field, and a seed
  outside ``[0, 2**32 - 1]`` (NumPy's generators refuse a negative one only
  once data is drawn; `jax.random.PRNGKey` keeps the low 32 bits of a
  larger one, so ``2**32`` would silently repeat seed 0).

  Raises:
    TypeError: a field holds a value of the wrong type.
    ValueError: a float field is NaN or inf, or the seed is out of range.
  """
  model, pretrain = config.get('model', 'vae'), config.get('pretrain', 'none')
  try:
    schema = default_config(model, pretrain)
  except (ValueError, TypeError):  # An unknown model: named by its own check.
    schema = general_config()
  for field, default in schema.items():
    if field not in config:
      continue
    value, kind = config[field], _kind(default)
    if not _fits(kind, value):
      wrong_number = kind == 'float' and not isinstance(value, bool)
      error = (
          ValueError
          if wrong_number and isinstance(value, numbers.Real)
          else TypeError
      )
      raise error(
          f'config.{field}={value!r} must be {_KIND_TEXT[kind]} (default '
          f'{default!r}); set --config.{field} to one.'
      )
  seed = config.get('seed', 0)
  if not 0 <= seed <= 2**32 - 1:
    raise ValueError(
        f'config.seed={seed} must be in [0, 2**32 - 1] (NumPy seeds the data '
        'order and binarisation with it, and jax.random.PRNGKey keeps only '
        f'its low 32 bits: it would repeat seed {seed % 2**32}); set '
        '--config.seed to a value in that range.'
    )


# Fields that may change between launches on one work directory: they control
# the run (its length, logging, where data is read from), not what is trained.
RUN_CONTROL_FIELDS = frozenset(
    {
        'num_train_steps',
        'num_epochs',
        'log_every_steps',
        'eval_every_steps',
        'checkpoint_every_steps',
        'max_checkpoints_to_keep',
        'progress_bar',
        'write_figures',
        'data_on_device',
        'steps_per_call',
        'data_dir',
        'idx_dir',
        'dsprites_file',
        'eval_batch_size',
        'max_consecutive_nonfinite',
        # The same model computed another way (`networks.CONV_IMPLS`): a
        # checkpoint moves between implementations and platforms.
        'conv_impl',
    }
)


def unknown_fields(saved: dict) -> list[str]:
  """Fields of a saved config that this version does not have."""
  known = set(general_config()) | set(_registry().field_owners())
  return sorted(set(saved) - known)


def trained_differences(saved: dict, current: dict) -> list[str]:
  """``'field: saved -> current'`` for each field that changes what is
  trained (`RUN_CONTROL_FIELDS` aside); fields added since ``saved`` was
  written count as their defaults."""
  saved = json.loads(with_defaults(saved).to_json())
  current = json.loads(with_defaults(current).to_json())
  return [
      f'{k}: {saved.get(k)!r} -> {current.get(k)!r}'
      for k in sorted(set(saved) | set(current))
      if k not in RUN_CONTROL_FIELDS and saved.get(k) != current.get(k)
  ]
