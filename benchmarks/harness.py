"""Shared by the benchmarks: the MLP 784-512-20 config and the timed loop."""

import tempfile

from ae_jax import train
from experiments.configs import common


def mlp_config(batch_size: int, dataset: str, steps: int):
  """The shared MLP 784-512-20 autoencoder, no eval, figures or progress bar."""
  config = common.get_base_config()
  config.model = 'ae'
  config.dataset = dataset
  config.hidden_sizes = (512,)
  config.latent_dim = 20
  config.batch_size = batch_size
  config.num_train_steps = steps
  config.eval_every_steps = 0
  config.checkpoint_every_steps = steps
  config.write_figures = False
  config.progress_bar = False
  return config


def loop(config) -> float:
  """steps/s of the real training loop, as it measures itself.

  `ae_jax.train.train_and_evaluate` itself (input pipeline, prefetch, metric
  fetches, logs), timed by the loop from the end of its first (compiling)
  call; eval and checkpoints excluded.
  """
  with tempfile.TemporaryDirectory() as workdir:
    summary = train.train_and_evaluate(config, workdir)
  return summary['train_steps_per_second']
