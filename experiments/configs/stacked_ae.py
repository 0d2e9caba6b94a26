r"""Stacked autoencoder: greedy layer-wise pretraining, then a fine-tuned softmax classifier.

Each of the 1000-500 hidden layers is first trained as a (denoising, masking
0.25) autoencoder on the codes of the layer below, then the stack plus a
softmax head is fine-tuned on the labels (Vincent et al. 2010). ``pretrain=none``
trains the same classifier from random weights:
  python -m experiments.train --config=experiments/configs/stacked_ae.py:dataset=fashion_mnist \
      --workdir=runs/stacked_ae
  python -m experiments.train \
      --config=experiments/configs/stacked_ae.py:dataset=fashion_mnist,pretrain=none \
      --workdir=runs/stacked_ae_scratch
Logistic regression on raw pixels, the baseline (0.842 in Xiao et al. 2017):
  python -m experiments.evaluate --workdir=runs/stacked_ae --task=probe
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg, dataset='digits', smoke=False, pretrain='autoencoders', noise=0.25
  )
  config = common.get_base_config('mlp_classifier', pretrain=arg.pretrain)
  config.hidden_sizes = (1000, 500)
  config.activation = 'sigmoid'
  config.pretrain = arg.pretrain
  config.pretrain_steps = 2400
  config.learning_rate = 1e-4  # Fine-tuning.
  if arg.pretrain == 'autoencoders' and arg.noise > 0:
    config.noise = 'masking'
    config.noise_level = arg.noise
  config = common.apply_variant(config, arg)
  if arg.smoke:
    config.hidden_sizes = (32, 16)
    config.pretrain_steps = 10
  return config
