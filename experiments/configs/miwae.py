r"""MIWAE / CIWAE / PIWAE (Rainforth et al. 2018): the VAE network on bounds that share M K importance samples between the inference and the generative network.

  python -m experiments.train --config=experiments/configs/miwae.py:dataset=fashion_mnist,estimator=piwae \
      --workdir=runs/piwae
``estimator=miwae|ciwae|piwae``, ``outer=M``, ``samples=K`` and ``beta=B``
(CIWAE) choose the bound; the default M = K = 8 spends 64 samples.
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg,
      dataset='digits',
      smoke=False,
      estimator='miwae',
      outer=8,
      samples=8,
      beta=0.5,
  )
  config = common.get_base_config('miwae')
  config.iwae_estimator = arg.estimator
  config.outer_samples = arg.outer
  config.iwae_samples = arg.samples
  config.ciwae_beta = arg.beta
  config = common.apply_variant(config, arg)
  if arg.smoke:
    config.outer_samples = config.iwae_samples = 2
  return config
