r"""Deep undercomplete autoencoder 784-1000-500-250-30 (Hinton & Salakhutdinov 2006).

Compared with PCA of the same 30 dimensions (BUILD.md, "Classic autoencoders"):
  python -m experiments.train --config=experiments/configs/deep_ae.py:dataset=fashion_mnist \
      --workdir=runs/deep_ae_fmnist
  python -m experiments.evaluate --workdir=runs/deep_ae_fmnist --task=pca
Pretrained by stacked RBMs (logistic units, Gaussian top RBM), then fine-tuned;
``pretrain=none`` trains the same logistic network from random weights:
  python -m experiments.train \
      --config=experiments/configs/deep_ae.py:dataset=fashion_mnist,pretrain=rbm \
      --workdir=runs/deep_ae_rbm_fmnist
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg, dataset='digits', smoke=False, pretrain='', activation=''
  )
  config = common.get_base_config('ae', pretrain=arg.pretrain or 'none')
  config.hidden_sizes = (1000, 500, 250)
  config.latent_dim = 30
  if arg.pretrain:  # 'rbm' or 'none': the logistic network of the paper.
    config.activation = 'sigmoid'
    config.pretrain = arg.pretrain
    config.pretrain_steps = 4000
    config.pretrain_learning_rate = 1e-3
  if arg.activation:
    config.activation = arg.activation
  config = common.apply_variant(config, arg)
  if arg.dataset in ('fashion_mnist', 'mnist'):
    config.num_epochs = 20
  if arg.smoke:
    config.hidden_sizes = (32, 16)
    config.pretrain_steps = 10
  return config
