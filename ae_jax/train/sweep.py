"""K models in one compiled program: `jax.vmap` over seeds and hyperparameters.

A sweep trains K copies of one config that differ in ``seed`` and/or numeric
hyperparameters (`SWEEPABLE`): the K train states are stacked on a leading
axis and one jitted, vmapped step updates all of them, so the program
compiles once and every matmul is K times wider, which keeps a CPU's cores
(and far more so a GPU) busier than K runs one after another.

How each field enters the traced step:

* model fields (``beta``, ``sparsity_weight``, ...): the model is a frozen
  dataclass; inside the vmapped step it is rebuilt with the traced value
  (`dataclasses.replace`), so the same code computes every member's loss;
* ``learning_rate``: the optimiser is built with a rate of 1 and its updates
  scaled by each member's rate (`optax.scale`); exact for adam, adamw and sgd
  and their schedules, which are all linear in the rate;
* ``seed``: each member's initialisation, step keys and batch order, as in a
  run of the trainer with that seed (the training set sits on the device
  once; each member gathers its own batch from it).

So each member ends with the parameters its own `train_and_evaluate` run
would reach (up to float reduction order; tested).

Each member is written like a run of `train_and_evaluate`
(``<workdir>/member_<i>/`` with ``config.json``, ``dataset.json`` and an orbax
checkpoint), so `ae_jax.load` and ``experiments.evaluate`` work on it.
"""

from collections.abc import Mapping, Sequence
import dataclasses
import itertools
import json
import time
from typing import Any

from absl import logging
from etils import epath
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from ae_jax import configs
from ae_jax import data
from ae_jax import models
from ae_jax.train import checkpoints
from ae_jax.train import state as state_lib
from ae_jax.train import step as step_lib
from ae_jax.train import trainer

# Fields a sweep may vary. `MODEL_FIELDS` must be fields of the built model.
MODEL_FIELDS = (
    'beta',
    'sparsity_weight',
    'noise_level',
    'contractive_weight',
    'mmd_weight',
    'tc_weight',
)
SWEEPABLE = ('seed', 'learning_rate') + MODEL_FIELDS


def grid(values: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
  """The K members of a sweep: the Cartesian product of ``values``.

  Args:
    values: field -> the values it takes, e.g. ``{'beta': [0.5, 1, 2]}``.

  Returns:
    One dict per member, fields in the order given, the first field slowest.

  Raises:
    ValueError: for an unknown field, no values, or a repeated value.
  """
  if not values:
    raise ValueError(
        f'A sweep needs at least one field; give e.g. --sweep.beta=0.5,1,2 '
        f'(sweepable: {", ".join(SWEEPABLE)}).'
    )
  for field, vals in values.items():
    if field not in SWEEPABLE:
      raise ValueError(
          f'Cannot sweep {field!r}; sweepable fields: {", ".join(SWEEPABLE)}.'
      )
    if not vals or len(set(vals)) != len(vals):
      raise ValueError(
          f'--sweep.{field}: give distinct values, comma-separated, got '
          f'{list(vals)}.'
      )
    if field == 'seed' and any(int(v) != v or v < 0 for v in vals):
      raise ValueError(f'--sweep.seed: seeds are integers >= 0, got {vals}.')
  fields = list(values)
  return [dict(zip(fields, p)) for p in itertools.product(*values.values())]


def member_config(config, point: Mapping[str, float]):
  """``config`` with one member's values."""
  c = configs.with_defaults(config.to_dict())
  for field, value in point.items():
    c[field] = int(value) if field == 'seed' else float(value)
  return c


def check(
    config,
    members: Sequence[Mapping[str, float]],
    input_shape,
    *,
    num_classes=None,
) -> models.Model:
  """Every member's config is valid and its fields can vary under vmap.

  Returns the model of the first member (the shared structure).
  """
  built = []
  for point in members:
    c = member_config(config, point)
    trainer.check_config(c)
    built.append(models.build_model(c, input_shape, num_classes=num_classes))
  model = built[0]
  names = {f.name for f in dataclasses.fields(model)}
  for field in members[0]:
    if field in MODEL_FIELDS and field not in names:
      raise ValueError(
          f'--sweep.{field} does not apply to model {config.model!r} (it has '
          f'no {field!r}); sweep one of its fields or seed/learning_rate.'
      )
  if 'learning_rate' in members[0] and model.param_groups() is not None:
    raise ValueError(
        f'--sweep.learning_rate: model {config.model!r} has several '
        'optimisers (param_groups); sweep its other fields instead.'
    )
  if config.pretrain != 'none':
    raise ValueError('A sweep cannot pretrain; set --config.pretrain=none.')
  for m in built[1:]:  # Everything but the swept numbers must match.
    other = {f.name: getattr(m, f.name) for f in dataclasses.fields(m)}
    same = {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}
    for k in set(other) - set(members[0]):
      if other[k] != same[k]:
        raise ValueError(
            f'Sweep members differ in {k!r} ({same[k]!r} vs {other[k]!r}), '
            'which changes the model structure; sweep it with separate runs.'
        )
  return model


def _hparams(members, fields) -> dict[str, jax.Array]:
  return {
      f: jnp.asarray([m[f] for m in members], jnp.float32)
      for f in fields
      if f != 'seed'
  }


def train_sweep(
    config: ml_collections.ConfigDict,
    values: Mapping[str, Sequence[float]],
    workdir: epath.PathLike,
    *,
    dataset: data.Dataset | None = None,
) -> list[dict[str, Any]]:
  """Trains every member of the sweep in one compiled program.

  Args:
    config: the shared config (`configs.default_config` fields).
    values: field -> values, see `grid`.
    workdir: output directory; members go to ``member_<i>/``, the table to
      ``sweep.json``.
    dataset: arrays already in memory instead of loading ``config.dataset``.

  Returns:
    One row per member: its values, its test metrics (batch means over the
    whole test split) and the sweep's steps/s.
  """
  config = configs.with_defaults(config.to_dict())
  members = grid(values)
  trainer.check_config(config)
  workdir = checkpoints.absolute(workdir)
  if dataset is None:
    dataset = trainer.load_dataset(config)
  model = check(
      config, members, dataset.input_shape, num_classes=dataset.num_classes
  )
  k = len(members)
  total_steps = trainer.num_train_steps(config, len(dataset.train_images))
  lr_swept = 'learning_rate' in values
  base = member_config(config, {'learning_rate': 1.0} if lr_swept else {})
  base_tx = state_lib.make_optimizer(
      base, total_steps, param_groups=model.param_groups()
  )
  model_fields = [f for f in values if f in MODEL_FIELDS]
  hparams = _hparams(members, values)

  def member(hp):
    m = dataclasses.replace(model, **{f: hp[f] for f in model_fields})
    tx = (
        optax.chain(base_tx, optax.scale(hp['learning_rate']))
        if lr_swept
        else base_tx
    )
    return m, tx

  seeds = [int(m.get('seed', config.seed)) for m in members]
  keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])

  def init(key, hp):
    m, tx = member(hp)
    init_rng, train_rng, _ = jax.random.split(key, 3)
    params_rng, state_rng = jax.random.split(init_rng)
    return state_lib.create_train_state(
        m.init(params_rng),
        tx,
        train_rng,
        m.init_model_state(state_rng, config.batch_size),
    )

  state = jax.jit(jax.vmap(init))(keys, hparams)

  def one_step(state, index, hp, train_data):
    m, tx = member(hp)
    batch = {k: v[index] for k, v in train_data.items()}
    return step_lib.make_train_step(
        m, tx, dynamic_binarization=config.binarize == 'dynamic'
    )(state, batch)

  def train_step(state, batch, train_data):
    return jax.vmap(one_step, in_axes=(0, 0, 0, None))(
        state, batch['index'], hparams, train_data
    )

  chunk = max(1, min(config.steps_per_call, total_steps))
  while total_steps % chunk:
    chunk -= 1
  run = jax.jit(
      step_lib.scan_steps(train_step, unroll=config.encoder == 'conv'),
      donate_argnums=(0,),
  )
  train_data = {
      'image': jnp.asarray(dataset.train_images),
      'label': jnp.asarray(dataset.train_labels),
  }
  # Each member draws the batches a run with its own seed would draw.
  indices = [
      data.train_indices(
          len(dataset.train_images), batch_size=config.batch_size, seed=s
      )
      for s in seeds
  ]
  logging.info(
      'Sweep of %d %s models over %s: %d steps, %d per call.',
      k,
      config.model,
      ', '.join(values),
      total_steps,
      chunk,
  )
  compile_start = time.perf_counter()
  first = True
  train_start = None
  metrics = None
  for _ in range(total_steps // chunk):
    index = np.stack(
        [np.stack([next(it) for it in indices]) for _ in range(chunk)]
    )  # [chunk, K, batch]
    state, metrics = run(state, {'index': jnp.asarray(index)}, train_data)
    if first:
      jax.block_until_ready(metrics)
      compile_s = time.perf_counter() - compile_start
      train_start, first = time.perf_counter(), False
  jax.block_until_ready(state)
  timed_steps = total_steps - chunk
  steps_per_s = (
      timed_steps / (time.perf_counter() - train_start) if timed_steps else 0.0
  )
  eval_keys = jax.vmap(lambda key: jax.random.split(key, 3)[2])(keys)
  test = evaluate(member, state.params, hparams, eval_keys, dataset, config)
  rows = []
  for i, point in enumerate(members):
    row = dict(point)
    row.update({f'test_{n}': float(v[i]) for n, v in test.items()})
    row['final_train_loss'] = float(metrics['loss'][-1, i])
    rows.append(row)
  _write_members(workdir, config, members, state, dataset)
  summary = {
      'model': config.model,
      'members': k,
      'steps': total_steps,
      'compile_seconds': compile_s,
      'steps_per_second': steps_per_s,
      'model_steps_per_second': steps_per_s * k,
      'rows': rows,
  }
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / 'sweep.json').write_text(json.dumps(summary, indent=2))
  return rows


def evaluate(member, params, hparams, keys, dataset, config) -> dict:
  """Per-member means of every per-example metric over the test split.

  Member ``i``'s batch ``j`` uses ``fold_in(keys[i], j)``, the key the
  trainer's evaluation gives that batch, so a member's test metrics equal
  those of its own run.
  """
  x = np.asarray(dataset.test_images)
  labels = np.asarray(dataset.test_labels)
  b = min(config.eval_batch_size, len(x))

  def one(p, hp, key, xb, yb):
    m, _ = member(hp)
    return m.per_example_losses(p, xb, key, train=False, labels=yb)

  fn = jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None, None)))
  sums, n = None, 0
  for j, start in enumerate(range(0, len(x), b)):
    xb, yb = x[start : start + b], labels[start : start + b]
    real = len(xb)
    if real < b:  # One shape for every call; padding is sliced off.
      xb = np.concatenate([xb, np.repeat(xb[-1:], b - real, 0)])
      yb = np.concatenate([yb, np.repeat(yb[-1:], b - real, 0)])
    batch_keys = jax.vmap(lambda k, j=j: jax.random.fold_in(k, j))(keys)
    out = jax.device_get(
        fn(params, hparams, batch_keys, jnp.asarray(xb), jnp.asarray(yb))
    )
    part = {
        k: np.sum(np.asarray(v, np.float64)[:, :real], axis=1)
        for k, v in out.items()
        if np.ndim(v) == 2
    }
    sums = part if sums is None else {k: sums[k] + part[k] for k in sums}
    n += real
  return {k: v / n for k, v in sums.items()}


def _write_members(workdir, config, members, state, dataset) -> None:
  """``member_<i>/`` work directories that `ae_jax.load` can read."""
  for i, point in enumerate(members):
    d = workdir / f'member_{i}'
    d.mkdir(parents=True, exist_ok=True)
    trainer.write_run_description(d, member_config(config, point), dataset)
    one = jax.tree.map(lambda v, i=i: v[i], state)
    manager = checkpoints.make_manager(d, max_to_keep=1)
    checkpoints.save(manager, one)
    manager.wait_until_finished()
    manager.close()
