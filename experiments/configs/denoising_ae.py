r"""Denoising autoencoder (Vincent et al. 2008): corrupted input, clean target.

  python -m experiments.train \
      --config=experiments/configs/denoising_ae.py:dataset=fashion_mnist,noise=gaussian,level=0.3 \
      --workdir=runs/dae_gaussian
  python -m experiments.evaluate --workdir=runs/dae_gaussian --task=denoise \
      --baseline_workdir=runs/ae_fmnist
``noise`` is 'gaussian' (level = std), 'masking' or 'salt_and_pepper' (level =
fraction of pixels); ``conv`` uses the convolutional encoder and decoder.
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg,
      dataset='digits',
      smoke=False,
      noise='gaussian',
      level=0.3,
      conv=False,
  )
  config = common.get_base_config('ae')
  config.hidden_sizes = (512,)
  config.latent_dim = 64
  config.noise = arg.noise
  config.noise_level = arg.level
  if arg.conv:
    config.encoder = 'conv'
    config.layout = 'hwc'
  return common.apply_variant(config, arg)
