r"""Convolutional autoencoder: 3x3 stride-2 convolutions (32, 64), 32-d code, mirrored decoder.

  python -m experiments.train --config=experiments/configs/conv_ae.py:dataset=fashion_mnist \
      --workdir=runs/conv_ae_fmnist
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset='digits', smoke=False)
  config = common.get_base_config()
  config.model = 'ae'
  config.encoder = 'conv'
  config.layout = 'hwc'
  config.latent_dim = 32
  return common.apply_variant(config, arg)
