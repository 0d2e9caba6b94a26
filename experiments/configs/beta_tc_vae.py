r"""beta-TC-VAE (Chen et al. 2018): the VAE with only its total correlation weighted by beta.

  python -m experiments.train --config=experiments/configs/beta_tc_vae.py:dataset=fashion_mnist \
      --workdir=runs/beta_tc_vae
``beta=B`` sets the weight (1 is the VAE), ``estimator=mws`` the
minibatch-weighted estimator of q(z) instead of the stratified one.
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg, dataset='digits', smoke=False, beta=6.0, estimator='mss'
  )
  config = common.get_base_config('beta_tc_vae')
  config.latent_dim = 10
  config.beta = arg.beta
  config.tc_estimator = arg.estimator
  return common.apply_variant(config, arg)
