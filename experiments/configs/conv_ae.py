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
  # (32, 64) costs about 2.3x more per step on a CPU (bare step 0.085 s vs
  # 0.037 s at batch 128 on 2 cores, `benchmarks.suite`; 0.38 s vs 0.11 s
  # before the conv layers became matrix products there, issue 16).
  config.conv_features = (16, 32)
  return common.apply_variant(config, arg)
