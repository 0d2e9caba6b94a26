r"""IWAE (Burda et al. 2015): the VAE network trained on the K-sample importance-weighted bound.

  python -m experiments.train --config=experiments/configs/iwae.py:dataset=fashion_mnist,samples=50 \
      --workdir=runs/iwae_k50
Earlier versions spelt this ``--config=experiments/configs/vae.py --config.model=iwae
--config.iwae_samples=K``; ``iwae_samples`` is a field of model 'iwae' only.
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset='digits', smoke=False, samples=5)
  config = common.get_base_config('iwae')
  config.iwae_samples = arg.samples
  return common.apply_variant(config, arg)
