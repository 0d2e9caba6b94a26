r"""Contractive autoencoder (Rifai et al. 2011): one sigmoid layer, Jacobian penalty.

The penalty is the squared Frobenius norm of the encoder Jacobian, in closed
form for this sigmoid layer; ``weight=0`` gives the plain AE it is compared with:
  python -m experiments.train \
      --config=experiments/configs/contractive_ae.py:dataset=fashion_mnist \
      --workdir=runs/cae
  python -m experiments.train \
      --config=experiments/configs/contractive_ae.py:dataset=fashion_mnist,weight=0 \
      --workdir=runs/cae_off
  python -m experiments.evaluate --workdir=runs/cae --task=jacobian \
      --baseline_workdir=runs/cae_off
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, dataset='digits', smoke=False, weight=1.0)
  config = common.get_base_config('ae')
  config.hidden_sizes = ()
  config.latent_dim = 256
  config.code_activation = 'sigmoid'
  config.contractive_weight = arg.weight
  config = common.apply_variant(config, arg)
  if arg.smoke:
    config.latent_dim = 16
  return config
