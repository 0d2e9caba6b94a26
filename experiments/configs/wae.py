r"""WAE (Tolstikhin et al. 2018): a deterministic AE whose aggregate posterior is pulled to N(0, I) by an MMD (WAE-MMD) or by a code discriminator (WAE-GAN).

  python -m experiments.train --config=experiments/configs/wae.py:dataset=fashion_mnist \
      --workdir=runs/wae
``lambda=L`` sets the penalty's weight (default 10 for the MMD, the
paper's MNIST runs with an 8-d code; 1 for the GAN, the AAE's default
weight: at 10 the adversarial term swamps the reconstruction on
Fashion-MNIST, BUILD.md). ``penalty=gan`` is WAE-GAN: the reconstruction cost
plus lambda times the non-saturating GAN loss of a code discriminator that
tells prior samples from codes, which is the deterministic adversarial
autoencoder of ``ae_jax.models.aae`` (model 'aae', ``aae_encoder=
'deterministic'``, ``adversarial_weight`` = lambda).
"""

import math

from experiments.configs import common

PENALTIES = ('mmd', 'gan')
DEFAULT_LAMBDA = {'mmd': 10.0, 'gan': 1.0}


def get_config(arg=None):
  arg = common.parse_arg(
      arg,
      dataset='digits',
      smoke=False,
      penalty='mmd',
      **{'lambda': math.nan},  # NaN: the penalty's default.
  )
  if arg.penalty not in PENALTIES:
    raise ValueError(
        f'Unknown config argument penalty={arg.penalty!r}; use one of '
        f'{PENALTIES}.'
    )
  weight = arg['lambda']
  if math.isnan(weight):
    weight = DEFAULT_LAMBDA[arg.penalty]
  if arg.penalty == 'mmd':
    config = common.get_base_config('wae')
    config.mmd_weight = weight
  else:
    config = common.get_base_config('aae')
    config.aae_encoder = 'deterministic'
    config.adversarial_weight = weight
  config.latent_dim = 8
  config = common.apply_variant(config, arg)
  if arg.smoke and arg.penalty == 'gan':
    config.discriminator_sizes = (16,)
  return config
