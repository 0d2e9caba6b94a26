r"""Bernoulli-Bernoulli RBM with 500 hidden units trained by CD-1 (or persistent CD).

  python -m experiments.train --config=experiments/configs/rbm.py:dataset=fashion_mnist \
      --workdir=runs/rbm_fmnist
  python -m experiments.train \
      --config=experiments/configs/rbm.py:dataset=fashion_mnist,persistent,k=1 \
      --workdir=runs/rbm_pcd_fmnist
``gaussian`` makes the visible units Gaussian (unit variance; data standardised
is better, grey levels in [0, 1] work). Logged: the CD surrogate (``loss``,
not a likelihood), ``free_energy``, one-pass reconstruction ``mse`` and the
stochastic ``pseudo_log_likelihood`` (Bernoulli visibles).
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg, dataset='digits', smoke=False, persistent=False, k=1, gaussian=False
  )
  config = common.get_base_config('rbm')
  config.latent_dim = 500
  config.cd_steps = arg.k
  config.persistent_chains = arg.persistent
  config.learning_rate = 1e-4 if arg.persistent else 1e-3
  if arg.gaussian:
    config.rbm_visible = 'gaussian'
    config.likelihood = 'gaussian'
  return common.apply_variant(config, arg)
