r"""InfoVAE / MMD-VAE (Zhao et al. 2017): MMD(q(z), p(z)) in place of the KL term.

  python -m experiments.train --config=experiments/configs/info_vae.py:dataset=fashion_mnist \
      --workdir=runs/info_vae
``beta`` (default 0: the MMD-VAE) keeps a KL term; ``weight`` is the MMD weight.
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg, dataset='digits', smoke=False, weight=10.0, beta=0.0
  )
  config = common.get_base_config('vae')
  config.beta = arg.beta
  config.mmd_weight = arg.weight
  return common.apply_variant(config, arg)
