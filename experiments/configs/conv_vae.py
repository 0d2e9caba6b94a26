r"""Convolutional VAE: 3x3 stride-2 conv encoder (32, 64 channels), mirrored decoder.

  python -m experiments.train --config=experiments/configs/conv_vae.py:dataset=fashion_mnist \
      --workdir=runs/conv_vae_fmnist
"""

from experiments.configs import vae


def get_config(arg=None):
  config = vae.get_config(arg)
  config.encoder = 'conv'
  config.layout = 'hwc'
  return config
