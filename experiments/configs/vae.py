r"""MLP VAE, 784-512-20 on Fashion-MNIST (Kingma & Welling 2014), Bernoulli decoder.

The main job (digits, seconds on a CPU):
  python -m experiments.train --config=experiments/configs/vae.py --workdir=runs/vae
Fashion-MNIST, 5 epochs (the reference run of BUILD.md):
  python -m experiments.train --config=experiments/configs/vae.py:dataset=fashion_mnist \
      --workdir=runs/vae_fmnist
Smoke test:
  python -m experiments.train --config=experiments/configs/vae.py:smoke --workdir=/tmp/vae
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset='digits', smoke=False)
  config = common.get_base_config('vae')
  return common.apply_variant(config, arg)
