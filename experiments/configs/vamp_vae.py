r"""VampPrior VAE (Tomczak & Welling 2018): the VAE's network with a prior that is a mixture of its posteriors at K learned pseudo-inputs.

  python -m experiments.train --config=experiments/configs/vamp_vae.py:dataset=fashion_mnist \
      --workdir=runs/vampprior
``components=K`` sets the number of pseudo-inputs (the paper: 500).
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset='digits', smoke=False, components=500)
  config = common.get_base_config('vampprior')
  config.num_pseudo_inputs = arg.components
  return common.apply_variant(config, arg)
