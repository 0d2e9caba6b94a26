r"""The likelihood table of the VampPrior and Exemplar VAE papers, as ae_jax trains it.

Published (Norouzi, Fleet & Norouzi, "Exemplar VAE", NeurIPS 2020, Table 1:
dynamically binarised Fashion-MNIST, test NLL in nats, importance sampling
with k = 5000): VAE with a N(0, I) prior 228.70, VampPrior 227.35, Exemplar
VAE 226.75. Their networks follow Tomczak & Welling ("VAE with a VampPrior",
AISTATS 2018): encoder and decoder of two 300-unit gated dense layers, a
40-d code, a Bernoulli decoder, Adam 5e-4, batches of 100, a KL warm-up over
100 epochs, up to 2,000 epochs with early stopping on a validation split.

Here: the same sizes and gated dense layers, ``(W x + b) * sigmoid(V x +
c)`` (``gated=false``: ReLU layers instead, the default before 2026-11-29),
Adam 5e-4, batches of 100, dynamic binarisation, the KL warm-up over
``warmup_epochs`` (default 100, as the paper), ``epochs`` epochs in all
(default 200), no early stopping: the last checkpoint. ``schedule=cosine``
decays the learning rate to 0 over the run instead of keeping it
(``constant``, as the paper). ``model=vampprior`` (500 pseudo-inputs) and
``model=iwae`` (``iwae_samples``, default 5) train the same network on their
objectives.

  python -m experiments.train --config=experiments/configs/papers/vae_nll.py \
      --config.seed=0 --workdir=runs/papers/vae_nll/seed0
  python -m experiments.evaluate --workdir=runs/papers/vae_nll/seed0 --task=nll \
      --nll_examples=0
"""

from experiments.configs import common


def get_config(arg=None):
  arg = common.parse_arg(
      arg,
      smoke=False,
      epochs=200,
      warmup_epochs=100,
      model='vae',
      iwae_samples=5,
      schedule='constant',
      gated=True,
      dataset='fashion_mnist',  # Another only for tests (the paper's is this).
  )
  config = common.get_base_config(arg.model)
  config.hidden_sizes = (300, 300)
  config.latent_dim = 40
  config.learning_rate = 5e-4
  config.batch_size = 100
  config.lr_schedule = arg.schedule
  if arg.gated:
    config.activation = 'gated'
  config.binarize = 'dynamic'
  if arg.model == 'vampprior':
    config.num_pseudo_inputs = 500
  if arg.model == 'iwae':
    config.iwae_samples = arg.iwae_samples
  else:  # The IWAE bound has no KL term to warm up.
    config.kl_warmup_steps = arg.warmup_epochs * 600  # 60,000 / 100.
  config = common.apply_variant(config, arg)
  if not arg.smoke:
    config.num_epochs = arg.epochs
    config.eval_every_steps = 0
    config.checkpoint_every_steps = 12000  # 20 epochs of 600 steps.
  return config
