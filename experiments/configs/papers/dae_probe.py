r"""Features learned without labels against a linear probe on pixels.

Published: logistic regression on the raw pixels of Fashion-MNIST reaches
0.842 test accuracy (Xiao, Rasul & Vollgraf 2017, the benchmark table of the
Fashion-MNIST repository, LogisticRegression C=1, multinomial). The features
follow the denoising-autoencoder line of work (Vincent et al. 2008, 2010):
an overcomplete code trained to undo masking noise, probed linearly.

Here: an MLP denoising autoencoder 784-512-``latent_dim`` (default 1000,
wider than the image) trained on masking noise at ``level`` (default 0.5,
half the pixels zeroed) for 5 epochs, Adam 1e-3, batches of 128;
``evaluate --task=probe`` fits logistic regression (standardised features)
on the codes, the raw pixels and PCA, with every training label (C = 1, as
the benchmark) and with 100 and 1,000 (the label-efficiency rows; with
``--probe_cv_folds=5`` their penalty C is chosen by 5-fold cross-validation
on the subset's labels, for every feature type alike).

  python -m experiments.train --config=experiments/configs/papers/dae_probe.py \
      --config.seed=0 --workdir=runs/papers/probe/seed0
  python -m experiments.evaluate --workdir=runs/papers/probe/seed0 --task=probe \
      --probe_cv_folds=5
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg,
      smoke=False,
      latent_dim=1000,
      level=0.5,
      dataset='fashion_mnist',  # Another only for tests.
  )
  config = common.get_base_config('ae')
  config.hidden_sizes = (512,)
  config.latent_dim = arg.latent_dim
  config.noise = 'masking'
  config.noise_level = arg.level
  return common.apply_variant(config, arg)
