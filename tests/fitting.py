"""A small jitted training loop on the digits data, for property tests of models."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ae_jax import data
from ae_jax import models
from ae_jax.train import state as state_lib
from ae_jax.train import step as step_lib


@functools.cache
def digits(layout: str = 'flat') -> data.Dataset:
  return data.load_dataset('digits', layout=layout)


def fit(config, *, steps: int = 300, batch_size: int = 64, seed: int = 0):
  """``(model, params, model_state)`` after ``steps`` Adam steps on digits.

  One compiled call (`lax.scan` over the steps); the optimiser comes from
  ``config`` as in the trainer.
  """
  dataset = digits(config.layout)
  model = models.build_model(
      config, dataset.input_shape, num_classes=dataset.num_classes
  )
  tx = state_lib.make_optimizer(
      config, steps, param_groups=model.param_groups()
  )
  k_init, k_state, k_train = jax.random.split(jax.random.PRNGKey(seed), 3)
  state = state_lib.create_train_state(
      model.init(k_init),
      tx,
      k_train,
      model.init_model_state(k_state, batch_size),
  )
  train = {
      'image': jnp.asarray(dataset.train_images),
      'label': jnp.asarray(dataset.train_labels),
  }
  rng = np.random.default_rng(seed)
  index = rng.integers(0, len(dataset.train_images), (steps, batch_size))
  run = jax.jit(
      step_lib.scan_steps(
          step_lib.gather_from_device_data(step_lib.make_train_step(model, tx))
      )
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
