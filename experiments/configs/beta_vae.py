r"""beta-VAE (Higgins et al. 2017), or with ``capacity=C`` the capacity-annealed variant (Burgess et al. 2018).

  python -m experiments.train --config=experiments/configs/beta_vae.py:dataset=fashion_mnist,beta=4 \
      --workdir=runs/beta_vae_4
  python -m experiments.train \
      --config=experiments/configs/beta_vae.py:dataset=fashion_mnist,capacity=25 \
      --workdir=runs/beta_vae_c25
With a capacity the loss is -E[log p(x|z)] + gamma |KL - C(step)|, C rising
linearly to ``capacity`` nats over the run.
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg, dataset='digits', smoke=False, beta=4.0, capacity=0.0, gamma=1000.0
  )
  config = common.get_base_config('vae')
  config.beta = arg.beta
  if arg.capacity > 0:
    config.beta = 1.0
    config.capacity_max = arg.capacity
    config.capacity_gamma = arg.gamma
    config.capacity_steps = 2000
  config = common.apply_variant(config, arg)
  if arg.smoke:
    config.capacity_steps = 10
  return config
