r"""WAE (Tolstikhin et al. 2018): a deterministic AE whose aggregate posterior is pulled to N(0, I) by an MMD (WAE-MMD) or by a code discriminator (WAE-GAN).

  python -m experiments.train --config=experiments/configs/wae.py:dataset=fashion_mnist \
      --workdir=runs/wae
``lambda=L`` sets the penalty's weight (the paper's MNIST runs: 10 for the
MMD, with an 8-d code). ``penalty=gan`` is WAE-GAN: the reconstruction cost
plus lambda times the non-saturating GAN loss of a code discriminator that
tells prior samples from codes, which is the deterministic adversarial
autoencoder of ``ae_jax.models.aae`` (model 'aae', ``aae_encoder=
'deterministic'``, ``adversarial_weight`` = lambda).
"""

from experiments.configs import common

PENALTIES = ('mmd', 'gan')


def get_config(arg=None):
  arg = common.parse_arg(
      arg, dataset='digits', smoke=False, penalty='mmd', **{'lambda': 10.0}
  )
  if arg.penalty not in PENALTIES:
    raise ValueError(
        f'Unknown config argument penalty={arg.penalty!r}; use one of '
        f'{PENALTIES}.'
    )
  if arg.penalty == 'mmd':
    config = common.get_base_config('wae')
    config.mmd_weight = arg['lambda']
  else:
    config = common.get_base_config('aae')
    config.aae_encoder = 'deterministic'
    config.adversarial_weight = arg['lambda']
  config.latent_dim = 8
  config = common.apply_variant(config, arg)
  if arg.smoke and arg.penalty == 'gan':
    config.discriminator_sizes = (16,)
  return config
