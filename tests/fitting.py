"""A small jitted training loop on the digits data, for property tests of models."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ae_jax import data
from ae_jax import models
from ae_jax.train import state as state_lib
from ae_jax.train import loop


@functools.cache
def digits(layout: str = 'flat') -> data.Dataset:
  return data.load_dataset('digits', layout=layout)


def fit(
    config,
    *,
    steps: int = 300,
    batch_size: int = 64,
    seed: int = 0,
    index: np.ndarray | None = None,
):
  """``(model, params, model_state)`` after ``steps`` Adam steps on digits.

  One compiled call of the trainer's fused steps (`loop.fused_step`) with
  the trainer's PRNG layout (`state.run_keys`); the optimiser comes from
  ``config`` as in the trainer. ``index`` (``[steps, batch_size]`` rows of
  the training set) replaces uniform draws, e.g. to train on one class.
  """
  dataset = digits(config.layout)
  model = models.build_model(
      config,
      dataset.input_shape,
      num_classes=dataset.num_classes,
      num_train=len(dataset.train_images),
  )
  tx = state_lib.make_optimizer(
      config, steps, param_groups=model.param_groups()
  )
  if index is None:
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(dataset.train_images), (steps, batch_size))
  keys = state_lib.run_keys(jax.random.PRNGKey(seed))
  state = state_lib.create_train_state(
      model.init(keys.params),
      tx,
      keys.train,
      model.init_model_state(keys.model_state, index.shape[1]),
  )
  train = {
      'image': jnp.asarray(dataset.train_images),
      'label': jnp.asarray(dataset.train_labels),
  }
  # All the steps in one call: rolled, or a conv model's program would grow
  # with the number of steps.
  run = jax.jit(
      loop.fused_step(model, tx, config, device_data=True, unroll=False)
  )
  state, _ = run(state, {'index': jnp.asarray(index, jnp.int32)}, train)
  return model, state.params, state.model_state


def config(**overrides):
  """The base config with a small MLP, plus ``overrides``."""
  from experiments.configs import common  # pylint: disable=g-import-not-at-top

  c = common.get_base_config('ae')
  c.hidden_sizes = (32,)
  c.latent_dim = 16
  c.update(overrides)
  return c
