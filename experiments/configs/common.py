"""Defaults every experiment config starts from, and the ``:key=val`` parser.

A config file defines ``get_config(arg=None)``; ``arg`` is whatever follows
the colon in ``--config=experiments/configs/vae.py:ARG``: comma-separated
``key=value`` pairs or bare names of variants, e.g. ``:smoke`` or
``:dataset=fashion_mnist,latent_dim=2``.
"""

import difflib

import ml_collections

from ae_jax import configs

_TRUE = ('1', 'true', 'yes')
_FALSE = ('0', 'false', 'no')

# Named variants every config accepts.
VARIANTS = ('smoke',)


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """``'a=1,smoke'`` -> ConfigDict(a=1, smoke=True) over ``defaults``.

  Values are converted to the type of their default; unknown keys raise.
  """
  result = ml_collections.ConfigDict(dict(defaults))
  for token in filter(None, (arg or '').split(',')):
    key, sep, value = token.partition('=')
    key = key.strip()
    if key not in defaults:
      close = difflib.get_close_matches(key, defaults, n=1)
      hint = f'did you mean {close[0]!r}? ' if close else ''
      raise ValueError(
          f'Unknown config argument {key!r} in {arg!r}; {hint}known: '
          f'{sorted(defaults)}.'
      )
    default = defaults[key]
    if not sep:
      result[key] = True
    elif isinstance(default, bool):
      text = value.strip().lower()
      if text not in _TRUE + _FALSE:
        raise ValueError(
            f'Config argument {key}={value!r} in {arg!r} is not a boolean; '
            f'write {key}=true or {key}=false (or just {key!r} for true).'
        )
      result[key] = text in _TRUE
    else:
      try:
        result[key] = type(default)(value.strip())
      except ValueError:
        raise ValueError(
            f'Config argument {key}={value!r} in {arg!r} must be '
            f'{type(default).__name__} like its default {default!r}.'
        ) from None
  return result


def get_base_config(
    model: str = 'vae', pretrain: str = 'none'
) -> ml_collections.ConfigDict:
  """The fields of a run of ``model``, with the defaults of the main job: a
  field of another model is then an unknown key on the command line.

  (A config file written for earlier versions calls it without arguments and
  then sets ``config.model``: that still works, as the trainer completes a
  config with its model's fields, `ae_jax.configs.normalize`.)
  """
  return configs.default_config(model, pretrain)


# The disentanglement study's settings per ground-truth set (BUILD.md,
# "Disentanglement"): 10-d codes and batches of 64 as in disentanglement_lib
# (Locatello et al. 2019); the run length fits 2 CPU cores, not their 300,000
# steps. dSprites uses a conv encoder (64x64 inputs).
GROUND_TRUTH_STUDY = {
    'xy_sprites': dict(
        latent_dim=10, batch_size=64, num_train_steps=6000, eval_every_steps=0
    ),
    'dsprites': dict(
        latent_dim=10,
        batch_size=64,
        num_train_steps=30000,
        eval_every_steps=0,
        encoder='conv',
        layout='hwc',
        conv_features=(32, 32, 64, 64),
        learning_rate=1e-4,
    ),
}


def apply_variant(
    config: ml_collections.ConfigDict, arg: ml_collections.ConfigDict
) -> ml_collections.ConfigDict:
  """Applies the shared ``dataset=`` and ``smoke`` arguments."""
  config.dataset = arg.dataset
  if arg.dataset in GROUND_TRUTH_STUDY:
    # Only fields the experiment config left at their defaults: a model's
    # own code size (vq_vae) or run length (deep_ae) stays.
    defaults = configs.default_config(config.model, config.pretrain)
    for field, value in GROUND_TRUTH_STUDY[arg.dataset].items():
      if config[field] == defaults[field]:
        config[field] = value
  if arg.dataset in ('fashion_mnist', 'mnist'):
    config.num_epochs = 5  # The reference runs in BUILD.md.
    config.eval_every_steps = 0
  if arg.smoke:  # Seconds on one CPU core: tiny model, a few steps.
    config.hidden_sizes = (32,)
    config.conv_features = (8, 16)
    config.latent_dim = 2
    config.batch_size = 32
    config.eval_batch_size = 100
    config.num_train_steps = 20
    config.num_epochs = -1
    config.eval_every_steps = 10
    config.checkpoint_every_steps = 10
    config.log_every_steps = 5
    config.progress_bar = False
  return config
