r"""MLP autoencoder (deterministic codes), BCE reconstruction loss.

  python -m experiments.train --config=experiments/configs/ae.py --workdir=runs/ae
  python -m experiments.train --config=experiments/configs/ae.py:dataset=fashion_mnist \
      --workdir=runs/ae_fmnist
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset='digits', smoke=False)
  config = common.get_base_config('ae')
  return common.apply_variant(config, arg)
