r"""Convolutional autoencoder: 3x3 stride-2 convolutions (16, 32), 32-d code, mirrored decoder.

  python -m experiments.train --config=experiments/configs/conv_ae.py:dataset=fashion_mnist \
      --workdir=runs/conv_ae_fmnist
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset='digits', smoke=False)
  config = common.get_base_config('ae')
  config.encoder = 'conv'
  config.layout = 'hwc'
  config.latent_dim = 32
  # (32, 64), the conv VAE's, costs about 2.3x more per step on a CPU
  # (`benchmarks.suite --models=conv_vae,conv_ae`; BUILD.md).
  config.conv_features = (16, 32)
  return common.apply_variant(config, arg)
