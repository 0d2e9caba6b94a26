"""Shared by the benchmarks: the MLP 784-512-20 config and the timed loop."""

import tempfile

import jax

from ae_jax import data
from ae_jax import models
from ae_jax import train
from ae_jax.train import sharding
from ae_jax.train import state as state_lib
from ae_jax.train import step as step_lib
from experiments.configs import common


def mlp_config(batch_size: int, dataset: str, steps: int):
  """The shared MLP 784-512-20 autoencoder, no eval, figures or progress bar."""
  config = common.get_base_config('ae')
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


def bare_step_setup(config, dataset, steps: int):
  """``(jitted step, state, batch)``: the trainer's jitted, sharded, donated
  step, a fresh replicated state and one batch already on the device."""
  mesh = sharding.make_mesh()
  model = models.build_model(
      config,
      dataset.input_shape,
      num_classes=dataset.num_classes,
      num_train=len(dataset.train_images),
  )
  tx = state_lib.make_optimizer(
      config, steps, param_groups=model.param_groups()
  )
  state = state_lib.init_train_state(
      model,
      tx,
      keys=state_lib.run_keys(jax.random.PRNGKey(0)),
      mesh=mesh,
      batch_size=config.batch_size,
  )
  batch = next(
      data.train_batches(
          dataset.train_images,
          dataset.train_labels,
          batch_size=config.batch_size,
          seed=0,
      )
  )
  batch = sharding.put_batch(batch, mesh)
  jitted = step_lib.jit_train_step(step_lib.make_train_step(model, tx), mesh)
  return jitted, state, batch
