r"""Adversarial autoencoder (Makhzani et al. 2015): 784-1000-1000-8 codes matched to N(0, I).

  python -m experiments.train --config=experiments/configs/aae.py:dataset=fashion_mnist \
      --workdir=runs/aae
A 2-D code matched to a mixture of 10 Gaussians, one per class (label-conditioned):
  python -m experiments.train \
      --config=experiments/configs/aae.py:dataset=fashion_mnist,prior=gaussian_mixture,conditional \
      --workdir=runs/aae_mixture
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg,
      dataset='digits',
      smoke=False,
      prior='standard_normal',
      conditional=False,
      gaussian=False,
  )
  config = common.get_base_config('aae')
  config.hidden_sizes = (1000, 1000)
  config.latent_dim = 8
  config.prior = arg.prior
  config.aae_conditional = arg.conditional
  config.aae_encoder = 'gaussian' if arg.gaussian else 'deterministic'
  config.learning_rate = 2e-4
  config.discriminator_learning_rate = 2e-4
  if arg.prior == 'gaussian_mixture':
    config.latent_dim = 2
  config = common.apply_variant(config, arg)
  if arg.smoke:
    config.discriminator_sizes = (16,)
    config.latent_dim = 2
  return config
