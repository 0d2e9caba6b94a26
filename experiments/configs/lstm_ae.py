r"""LSTM sequence autoencoder: images read as 28 steps of 28-pixel rows.

  python -m experiments.train --config=experiments/configs/lstm_ae.py:dataset=fashion_mnist \
      --workdir=runs/lstm_ae_fmnist
The model takes any ``[batch, time, features]`` array with optional
``lengths`` for padded variable-length sequences (`ae_jax.models.lstm_ae`).
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset='digits', smoke=False)
  config = common.get_base_config('lstm_ae')
  config.layout = 'sequence'
  config.lstm_hidden = 256
  config.latent_dim = 32
  config = common.apply_variant(config, arg)
  if arg.smoke:
    config.lstm_hidden = 16
  return config
