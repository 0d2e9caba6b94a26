r"""Dropout autoencoder: dropout on the hidden units in training only.

One rate:
  python -m experiments.train \
      --config=experiments/configs/dropout_ae.py:dataset=fashion_mnist,rate=0.2 \
      --workdir=runs/dropout_ae
The sweep over rates 0 to 0.5 (test reconstruction and linear-probe accuracy):
  python -m experiments.dropout_sweep --dataset=fashion_mnist --workdir=runs/dropout_sweep
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset='digits', smoke=False, rate=0.2)
  config = common.get_base_config('ae')
  config.hidden_sizes = (1000, 500)
  config.latent_dim = 64
  config.dropout_rate = arg.rate
  return common.apply_variant(config, arg)
