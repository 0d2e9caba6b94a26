"""The train state (a small pytree) and the optax optimiser built from a config."""

from typing import Any, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import optax

from ae_jax.train import sharding

OPTIMIZERS = ('adam', 'adamw', 'sgd')
SCHEDULES = ('constant', 'cosine')


class TrainState(flax.struct.PyTreeNode):
  """Everything a run needs to continue exactly where it stopped.

  Attributes:
    step: number of optimiser steps taken (int32 scalar).
    params: model parameters.
    opt_state: optax state.
    rng: root PRNG key of training; step ``s`` uses ``fold_in(rng, s)``, so a
      resumed run draws the same numbers as an uninterrupted one.
    model_state: what the model carries between steps besides its parameters
      (`base.Model.init_model_state`; ``{}`` for most models).
  """

  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array
  model_state: Any = flax.struct.field(default_factory=dict)


def check_optimizer_config(config) -> None:
  """Raises ValueError naming the field and the fix; cheap, runs first."""
  if config.optimizer not in OPTIMIZERS:
    raise ValueError(
        f'Unknown optimizer {config.optimizer!r}; set '
        f'--config.optimizer to one of {OPTIMIZERS}.'
    )
  if config.lr_schedule not in SCHEDULES:
    raise ValueError(
        f'Unknown lr_schedule {config.lr_schedule!r}; set '
        f'--config.lr_schedule to one of {SCHEDULES}.'
    )
  if not config.learning_rate > 0:
    raise ValueError(
        f'config.learning_rate={config.learning_rate} must be > 0.'
    )
  for field in ('warmup_steps', 'weight_decay', 'grad_clip_norm'):
    if not config[field] >= 0:
      raise ValueError(
          f'config.{field}={config[field]} must be >= 0 ' '(0 turns it off).'
      )


def make_optimizer(
    config,
    num_train_steps: int,
    *,
    param_groups: dict[str, float] | None = None,
) -> optax.GradientTransformation:
  """Optimiser, schedule and clipping from ``config``.

  ``lr_schedule='cosine'`` warms up linearly for ``warmup_steps`` then decays
  to zero at ``num_train_steps``; ``'constant'`` (with optional warm-up) keeps
  ``learning_rate``. ``grad_clip_norm > 0`` clips the global gradient norm.

  ``param_groups`` (`base.Model.param_groups`) maps each top-level key of the
  params dict to its learning rate: every group gets its own optimiser of the
  configured kind (``optax.multi_transform``), e.g. an adversarial
  autoencoder's discriminator beside its encoder and decoder. All groups are
  still updated by the one jitted train step; its ``tx.update(...,
  gates={group: bool})`` (`base.Model.update_gates`) skips a group whose gate
  is False: zero update, optimiser state unchanged, the step count of its
  schedule included, so a group that paused counts only the steps it took
  (its cosine decay does not reach zero by ``num_train_steps``).
  """
  check_optimizer_config(config)
  if config.warmup_steps and config.warmup_steps >= num_train_steps:
    raise ValueError(
        f'config.warmup_steps={config.warmup_steps} is not shorter than the '
        f'{num_train_steps} training steps, so the learning rate would never '
        f'reach config.learning_rate; set --config.warmup_steps below '
        f'{num_train_steps} (or 0).'
    )
  if not param_groups:
    return _optimizer(config, num_train_steps, config.learning_rate)
  transforms = {
      key: _gated(key, _optimizer(config, num_train_steps, lr))
      for key, lr in param_groups.items()
  }

  def labels(params):
    missing = set(params) - set(param_groups)
    if missing:
      raise ValueError(
          f'Parameter groups {sorted(missing)} have no optimiser; the model '
          f'declared {sorted(param_groups)}.'
      )
    return {k: jax.tree.map(lambda _, k=k: k, v) for k, v in params.items()}

  return optax.multi_transform(transforms, labels)


def _gated(group: str, inner: optax.GradientTransformation):
  """``inner`` that skips a step when ``gates[group]`` (an update's extra
  argument) is False: zero updates and ``inner``'s state unchanged, as if
  the step had not happened for this group. Same state as ``inner``, so
  checkpoints do not change."""
  inner = optax.with_extra_args_support(inner)

  def update(updates, state, params=None, *, gates=None, **extra_args):
    new_updates, new_state = inner.update(updates, state, params, **extra_args)
    if gates is None or group not in gates:
      return new_updates, new_state
    on = gates[group]
    return (
        jax.tree.map(
            lambda u: jnp.where(on, u, jnp.zeros_like(u)), new_updates
        ),
        jax.tree.map(lambda n, o: jnp.where(on, n, o), new_state, state),
    )

  return optax.GradientTransformationExtraArgs(inner.init, update)


def _optimizer(config, num_train_steps: int, lr: float):
  warmup = config.warmup_steps
  if config.lr_schedule == 'cosine':
    schedule = optax.warmup_cosine_decay_schedule(
        0.0,
        lr,
        warmup_steps=warmup,
        decay_steps=max(num_train_steps, warmup + 1),
    )
  elif warmup:
    schedule = optax.join_schedules(
        [optax.linear_schedule(0.0, lr, warmup), optax.constant_schedule(lr)],
        [warmup],
    )
  else:
    schedule = lr
  if config.optimizer == 'adam':
    opt = optax.adam(schedule)
  elif config.optimizer == 'adamw':
    opt = optax.adamw(schedule, weight_decay=config.weight_decay)
  else:
    opt = optax.sgd(schedule, momentum=0.9)
  if config.grad_clip_norm:
    opt = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), opt)
  return opt


def create_train_state(
    params,
    tx: optax.GradientTransformation,
    rng: jax.Array,
    model_state: Any = None,
) -> TrainState:
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      opt_state=tx.init(params),
      rng=rng,
      model_state={} if model_state is None else model_state,
  )


class RunKeys(NamedTuple):
  """The PRNG streams of one run, all from ``PRNGKey(seed)``: the one place
  their layout is written (trainer and sweep members share it, so a sweep
  member equals the single run of its seed).

  Attributes:
    params: initial parameters (`Model.init`).
    model_state: initial model state (`Model.init_model_state`).
    train: root of the training steps: step ``s`` uses ``fold_in(train, s)``.
    eval: evaluation draws (`outputs.evaluate`: batch ``i`` folds in ``i``).
  """

  params: jax.Array
  model_state: jax.Array
  train: jax.Array
  eval: jax.Array


def run_keys(seed_key: jax.Array) -> RunKeys:
  """`RunKeys` from ``PRNGKey(seed)`` (traceable: vmapped over sweep members)."""
  init, train, evaluation = jax.random.split(seed_key, 3)
  params, model_state = jax.random.split(init)
  return RunKeys(params, model_state, train, evaluation)


def init_train_state(
    model,
    tx: optax.GradientTransformation,
    *,
    keys: RunKeys,
    mesh: jax.sharding.Mesh,
    batch_size: int,
    params=None,
) -> TrainState:
  """A fresh state created directly replicated on ``mesh``.

  Creating it with the train step's own sharding means the first step does
  not compile a second variant for unplaced inputs. ``params`` (e.g. from
  layer-wise pretraining) replace the model's random initialisation.
  """

  def create(params):
    if params is None:
      params = model.init(keys.params)
    model_state = model.init_model_state(keys.model_state, batch_size)
    return create_train_state(params, tx, keys.train, model_state)

  return jax.jit(create, out_shardings=sharding.replicated(mesh))(params)


def abstract_train_state(model, tx, *, batch_size: int) -> TrainState:
  """The state's shapes and dtypes, without allocating any of it."""

  def create(key):
    params_rng, state_rng = jax.random.split(key)
    return create_train_state(
        model.init(params_rng),
        tx,
        key,
        model.init_model_state(state_rng, batch_size),
    )

  return jax.eval_shape(create, jax.random.PRNGKey(0))
