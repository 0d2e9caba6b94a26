r"""Sparse autoencoders: an L1 activity penalty, or KL sparsity of sigmoid codes.

L1 on ReLU codes (sweep the weight; the fraction of zero code units rises):
  python -m experiments.train \
      --config=experiments/configs/sparse_ae.py:dataset=fashion_mnist,weight=1 \
      --workdir=runs/sparse_l1_1
  python -m experiments.evaluate --workdir=runs/sparse_l1_1 --task=sparsity
KL sparsity (Ng 2011): one sigmoid hidden layer of 196 units, target mean
activation rho = 0.05, weight decay by AdamW:
  python -m experiments.train \
      --config=experiments/configs/sparse_ae.py:dataset=fashion_mnist,sparsity=kl \
      --workdir=runs/sparse_kl
  python -m experiments.evaluate --workdir=runs/sparse_kl --task=sparsity
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg, dataset='digits', smoke=False, sparsity='l1', weight=-1.0
  )
  config = common.get_base_config('ae')
  config.sparsity = arg.sparsity
  if arg.sparsity == 'kl':
    config.hidden_sizes = ()
    config.latent_dim = 196
    config.code_activation = 'sigmoid'
    config.sparsity_target = 0.05
    config.sparsity_weight = 300.0  # Every unit within 0.01 of rho on FMNIST.
    config.optimizer = 'adamw'
    config.weight_decay = 1e-4
  else:
    config.hidden_sizes = (512,)
    config.latent_dim = 64
    config.code_activation = 'relu'
    config.sparsity_weight = 1.0
  if arg.weight >= 0:
    config.sparsity_weight = arg.weight
  config = common.apply_variant(config, arg)
  if arg.smoke and arg.sparsity == 'kl':
    config.latent_dim = 16
  return config
