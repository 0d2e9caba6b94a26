r"""Super-resolution autoencoder: a conv denoising AE whose corruption downsamples.

The encoder sees the test image average-pooled by ``factor`` and brought back
to full size by nearest-neighbour upsampling (``noise='downsample'``,
`ae_jax.corruptions.downsample`); the loss compares the output with the
original. Evaluated against bicubic and nearest-neighbour upsampling:
  python -m experiments.train \
      --config=experiments/configs/superres_ae.py:dataset=fashion_mnist,factor=2 \
      --workdir=runs/superres_x2
  python -m experiments.evaluate --workdir=runs/superres_x2 --task=superres
``factor`` is an integer >= 1 (2: 28x28 from 14x14; 4: from 7x7).
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset='digits', smoke=False, factor=2)
  config = common.get_base_config('ae')
  config.encoder = 'conv'
  config.layout = 'hwc'
  config.conv_features = (16, 32)
  # Wider than the low-resolution image (196 values at 28x28 / 2): the code
  # is not what limits the output.
  config.latent_dim = 256
  config.noise = 'downsample'
  config.noise_level = float(arg.factor)
  return common.apply_variant(config, arg)
