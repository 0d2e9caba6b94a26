r"""WAE-MMD (Tolstikhin et al. 2018): a deterministic AE whose aggregate posterior is pulled to N(0, I) by an MMD.

  python -m experiments.train --config=experiments/configs/wae.py:dataset=fashion_mnist \
      --workdir=runs/wae
``lambda=L`` sets the MMD weight (the paper's MNIST runs: 10, with an 8-d
code).
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset='digits', smoke=False, **{'lambda': 10.0})
  config = common.get_base_config('wae')
  config.latent_dim = 8
  config.mmd_weight = arg['lambda']
  return common.apply_variant(config, arg)
