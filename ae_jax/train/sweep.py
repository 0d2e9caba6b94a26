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

Devices: the step is jitted over a ('model', 'data') mesh
(`sharding.make_sweep_mesh`). The members' states, hyperparameters and
batch indices are split across 'model' (each device trains K / model_parallel
members), each member's batch across 'data', and XLA adds the gradient
all-reduce over 'data' only. The state is donated, a second trace of the step
raises (`fail_on_retrace`), and the training loop runs under
``jax.transfer_guard('disallow')``: the explicit copy of each call's int32
batch indices is the only host-device traffic.

Each member is written like a run of `train_and_evaluate`
(``<workdir>/member_<i>/`` with ``config.json``, ``dataset.json``, an orbax
checkpoint and ``final_metrics.json``), so `ae_jax.load` and
``experiments.evaluate`` work on it. The stacked state of all members is
checkpointed in ``<workdir>/checkpoints`` every ``checkpoint_every_steps``
(and on SIGTERM/Ctrl-C, which then stop the sweep): the same sweep
relaunched resumes from it, and one finished is not trained again.
"""

from collections.abc import Mapping, Sequence
import dataclasses
import functools
import json
import signal
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
from ae_jax.train import distributed
from ae_jax.train import lock as lock_lib
from ae_jax.train import loop
from ae_jax.train import memory
from ae_jax.train import preemption
from ae_jax.train import run_files
from ae_jax.train import sharding
from ae_jax.train import state as state_lib
from ae_jax.train import step as step_lib
from ae_jax.train import sweep_plan
from ae_jax.train import trainer
from ae_jax.train import workdir as workdir_lib

# The plan of a sweep, kept importable from here.
MODEL_FIELDS = sweep_plan.MODEL_FIELDS
SWEEPABLE = sweep_plan.SWEEPABLE
grid = sweep_plan.grid
member_config = sweep_plan.member_config
check = sweep_plan.check
check_mesh = sweep_plan.check_mesh
check_existing = sweep_plan.check_existing


def fail_on_retrace(fn):
  """``fn`` that raises if traced a second time.

  A retrace means the step recompiles (its argument shapes or dtypes
  changed), which costs seconds per call and would silently dominate a sweep.
  The count lives in this closure, so separate sweeps in one process (a
  notebook, a test session) each get their own, unlike
  `chex.assert_max_traces`, which counts per call site.
  """
  traces = 0

  @functools.wraps(fn)
  def traced_once(*args):
    nonlocal traces
    traces += 1
    if traces > 1:
      raise RuntimeError(
          f'The sweep step {fn.__name__!r} was traced {traces} times: its '
          'argument shapes or dtypes changed between calls, so every call '
          'would recompile. Feed every call the same shapes.'
      )
    return fn(*args)

  return traced_once


def jit_sweep_step(train_step, mesh: jax.sharding.Mesh, *, unroll=False):
  """``train_step(state, batch, hparams, data)`` over chunks of steps, jitted.

  Members (the state's and hparams' leading axis) are split across 'model',
  batches ``[steps, K, B]`` across 'model' and 'data', the training set is
  replicated; the state is donated, so its buffers hold the next state. The
  step fails on a second trace (`fail_on_retrace`).
  """
  members = sharding.member_sharded(mesh)
  return jax.jit(
      fail_on_retrace(step_lib.scan_steps(train_step, unroll=unroll)),
      in_shardings=(
          members,
          sharding.member_sharded(mesh, axis=1, batch=True),
          members,
          sharding.replicated(mesh),
      ),
      out_shardings=(members, sharding.member_sharded(mesh, axis=1)),
      donate_argnums=(0,),
  )


def _hparams(members, fields) -> dict[str, np.ndarray]:
  return {
      f: np.asarray([m[f] for m in members], np.float32)
      for f in fields
      if f != 'seed'
  }


def train_sweep(
    config: ml_collections.ConfigDict,
    values: Mapping[str, Sequence[float]],
    workdir: epath.PathLike,
    *,
    dataset: data.Dataset | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> list[dict[str, Any]]:
  """Trains every member of the sweep in one compiled program.

  Args:
    config: the shared config (`configs.default_config` fields).
    values: field -> values, see `grid`.
    workdir: output directory; members go to ``member_<i>/``, the table to
      ``sweep.json``.
    dataset: arrays already in memory instead of loading ``config.dataset``.
    mesh: a `sharding.make_sweep_mesh` mesh: members split across its
      'model' axis, each member's batch across 'data'. Default: every device
      on 'data', as the trainer does.

  Returns:
    One row per member: its values, its test metrics (batch means over the
    whole test split) and the sweep's steps/s.
  """
  config = trainer.check_config(config)
  members = grid(values)
  if jax.process_count() > 1:
    raise ValueError(
        'A sweep runs in one process; spread its members over local devices '
        'with --model_parallel instead of several processes.'
    )
  mesh = sharding.make_sweep_mesh() if mesh is None else mesh
  check_mesh(len(members), config, mesh)
  workdir_lib.check_path(workdir)
  workdir = checkpoints.absolute(workdir)
  workdir_lib.check_writable(
      workdir, ('sweep.json', lock_lib.LOCK_NAME), dirs=('checkpoints',)
  )
  with lock_lib.hold(workdir):
    check_existing(workdir, config, members)
    return _train_sweep(config, members, values, workdir, dataset, mesh)


def _train_sweep(config, members, values, workdir, dataset, mesh):
  """`train_sweep` once its work directory is checked and locked."""
  k = len(members)
  if dataset is None:
    dataset = trainer.load_dataset(config)
  described = run_files.describe_dataset(dataset)
  sweep_plan.check_same_data(workdir, described)
  described['num_train'] = len(dataset.train_images)
  model = check(
      config,
      members,
      dataset.input_shape,
      num_classes=dataset.num_classes,
      num_train=len(dataset.train_images),
  )
  total_steps = trainer.num_train_steps(config, len(dataset.train_images))
  lr_swept = 'learning_rate' in values
  base = member_config(config, {'learning_rate': 1.0} if lr_swept else {})
  base_tx = state_lib.make_optimizer(
      base, total_steps, param_groups=model.param_groups()
  )
  # Devices with memory of their own each hold the members of their slice
  # of the 'model' axis; a CPU's devices share the host's memory.
  shared = jax.local_devices()[0].platform == 'cpu'
  memory.check_fits(
      state_lib.abstract_train_state(
          model, base_tx, batch_size=config.batch_size
      ),
      sizing_fields=lambda: models.sizing_fields(
          config,
          dataset.input_shape,
          num_classes=dataset.num_classes,
          num_train=len(dataset.train_images),
      ),
      copies=k if shared else -(-k // mesh.shape[sharding.MODEL_AXIS]),
      extra_bytes=dataset.train_images.nbytes,
      extra_what='the training set',
  )
  model_fields = [f for f in values if f in MODEL_FIELDS]
  on_members = sharding.member_sharded(mesh)
  hparams = jax.device_put(_hparams(members, values), on_members)

  def member(hp):
    m = dataclasses.replace(model, **{f: hp[f] for f in model_fields})
    tx = (
        optax.chain(base_tx, optax.scale(hp['learning_rate']))
        if lr_swept
        else base_tx
    )
    return m, tx

  seeds = [int(m.get('seed', config.seed)) for m in members]
  root_keys = np.stack([np.asarray(jax.random.PRNGKey(s)) for s in seeds])
  keys = jax.device_put(root_keys, on_members)

  def init(key, hp):
    m, tx = member(hp)
    keys = state_lib.run_keys(key)  # As the single run of its seed.
    return state_lib.create_train_state(
        m.init(keys.params),
        tx,
        keys.train,
        m.init_model_state(keys.model_state, config.batch_size),
    )

  state = jax.jit(jax.vmap(init), out_shardings=on_members)(keys, hparams)
  # The stacked state is checkpointed in <workdir>/checkpoints, so a stopped
  # sweep (SIGTERM, Ctrl-C, a kill) resumes where it was, like a run.
  with checkpoints.make_manager(workdir, max_to_keep=1) as manager:
    start, state, last_losses = _restore(manager, state, config, members)

    def one_step(state, index, hp, train_data):
      m, tx = member(hp)
      batch = step_lib.gather_batch(train_data, index)
      return step_lib.make_train_step(
          m, tx, dynamic_binarization=config.binarize == 'dynamic'
      )(state, batch)

    def train_step(state, batch, hparams, train_data):
      return jax.vmap(one_step, in_axes=(0, 0, 0, None))(
          state, batch['index'], hparams, train_data
      )

    # Steps per call: dividing the run, its start and the checkpoint interval.
    chunk = loop.steps_per_call(
        config.steps_per_call, total_steps, start, config.checkpoint_every_steps
    )
    throughput = loop.Throughput()
    run = loop.Programs(
        lambda _: jit_sweep_step(
            train_step, mesh, unroll=step_lib.unroll_fused_steps(config)
        ),
        constants=(
            hparams,
            sharding.put_replicated(
                {'image': dataset.train_images, 'label': dataset.train_labels},
                mesh,
            ),
        ),
        throughput=throughput,
    )
    # Each member draws the batches a run with its own seed would draw.
    indices = [
        data.train_indices(
            len(dataset.train_images),
            batch_size=config.batch_size,
            seed=s,
            start_step=start,
        )
        for s in seeds
    ]
    on_index = sharding.member_sharded(mesh, axis=1, batch=True)
    logging.info(
        'Sweep of %d %s models over %s: %d steps, %d per call, mesh %s.',
        k,
        config.model,
        ', '.join(values),
        total_steps,
        chunk,
        dict(mesh.shape),
    )
    # Inside the loop only the explicit `device_put` of each call's indices
    # (and a checkpoint's copy to the host) may move data: an implicit copy (a
    # host array reaching the step, a resharded argument) raises instead of
    # slowing every call.
    with preemption.catch_signals() as stop, jax.transfer_guard('disallow'):
      for call in loop.calls(
          start,
          total_steps,
          chunk,
          checkpoint_every=config.checkpoint_every_steps,
      ):
        index = np.stack(
            [np.stack([next(it) for it in indices]) for _ in range(chunk)]
        )  # [chunk, K, batch]
        state, metrics = run(None, state, {'index': _put(index, on_index)})
        throughput.after_call(call.done, metrics)
        if call.checkpoint_due or stop.pending:
          with jax.transfer_guard('allow'), throughput.untimed():
            last_losses = np.asarray(jax.device_get(metrics['loss'][-1]))
            checkpoints.save(
                manager,
                state,
                config=config,
                step=call.done,
                extra=dict(
                    _sweep_record(members), train_loss=last_losses.tolist()
                ),
            )
          if stop.pending and not call.is_last:
            manager.wait_until_finished()
            raise preemption.Preempted(
                stop.signum or signal.SIGTERM, call.done, manager.directory
            )
      jax.block_until_ready(state)
    steps_per_s = throughput.steps_per_second(total_steps)
    compile_s = run.compile_seconds
    if steps_per_s is None:  # Nothing trained now: keep what was measured.
      steps_per_s, compile_s = _measured_before(workdir)
    manager.wait_until_finished()
    eval_keys = jax.device_put(
        np.stack([np.asarray(state_lib.run_keys(r).eval) for r in root_keys]),
        on_members,
    )
    test = evaluate(
        member, state.params, hparams, eval_keys, dataset, config, mesh=mesh
    )
    final_loss = np.asarray(last_losses, np.float32)
    rows = []
    for i, point in enumerate(members):
      row = dict(point)
      row.update({f'test_{n}': float(v[i]) for n, v in test.items()})
      row['final_train_loss'] = float(final_loss[i])
      # One member diverging is a result of the sweep, not a reason to stop
      # the others: it is flagged, and its NaN checkpoint will not load.
      row['diverged'] = not all(
          np.isfinite(v) for n, v in row.items() if n not in point
      )
      rows.append(row)
    diverged = [i for i, row in enumerate(rows) if row['diverged']]
    if diverged:
      logging.warning(
          'Sweep members %s diverged (NaN/inf test or train loss): %s. Lower '
          'their learning rate or set --config.grad_clip_norm.',
          diverged,
          [members[i] for i in diverged],
      )
    _write_members(
        workdir, config, members, state, described, rows, total_steps
    )
    summary = {
        'model': config.model,
        'members': k,
        'mesh': dict(mesh.shape),
        'steps': total_steps,
        'compile_seconds': compile_s,
        'steps_per_second': steps_per_s,
        'model_steps_per_second': steps_per_s * k,
        'rows': rows,
    }
    workdir_lib.write_text(
        workdir / 'sweep.json', json.dumps(summary, indent=2)
    )
    return rows


def _measured_before(workdir: epath.Path) -> tuple[float, float]:
  """``(steps/s, compile seconds)`` of an earlier launch's ``sweep.json``:
  relaunching a finished sweep trains nothing and would record zeros."""
  try:
    before = json.loads((workdir / 'sweep.json').read_text())
    return float(before['steps_per_second']), float(before['compile_seconds'])
  except (OSError, ValueError, KeyError, TypeError):
    return 0.0, 0.0


def _sweep_record(members) -> dict[str, Any]:
  return {'sweep': json.loads(json.dumps(list(members)))}


def _restore(manager, state, config, members):
  """``(start step, state, last train losses)`` of the sweep's checkpoint."""
  step = checkpoints.newest_complete_step(manager.directory)
  if step is not None:
    record = checkpoints.step_record(manager.directory, step)
    ours = _sweep_record(members)['sweep']
    diffs = configs.trained_differences(
        record.get('config') or {}, json.loads(config.to_json())
    )
    if record.get('sweep') != ours or diffs:
      raise ValueError(
          f'{manager.directory} holds the checkpoint of another sweep '
          f'(members {record.get("sweep")}; {"; ".join(diffs) or "same config"}'
          '); use a new --workdir. Nothing was changed.'
      )
  # A diverged member's NaNs are saved with the others (and checksummed).
  found, restored, record = checkpoints.restore_latest(
      manager, state, allow_nonfinite=True
  )
  if restored is None:
    return 0, state, None
  return (
      int(np.asarray(jax.device_get(restored.step))[0]),
      restored,
      record.get('train_loss'),
  )


def _put(array: np.ndarray, where: jax.sharding.Sharding) -> jax.Array:
  """The one host-to-device copy per call of the sweep step (explicit)."""
  return jax.device_put(array, where)


def evaluate(member, params, hparams, keys, dataset, config, *, mesh) -> dict:
  """Per-member means of every per-example metric over the test split.

  Member ``i``'s batch ``j`` uses ``fold_in(keys[i], j)``, the key the
  trainer's evaluation gives that batch, so a member's test metrics equal
  those of its own run. Members stay split across 'model'; each device
  evaluates its members on the whole (replicated) batch.
  """
  x = np.asarray(dataset.test_images)
  labels = np.asarray(dataset.test_labels)
  # The trainer's batches (`loop.evaluate` over this host's devices, the
  # mesh of a single run): the same padding rows, which whole-batch
  # statistics (an MMD) see.
  b = loop.eval_batch_size(len(x), config.eval_batch_size, jax.device_count())

  def one(p, hp, key, j, xb, yb):
    m, _ = member(hp)
    key = jax.random.fold_in(key, j)
    return m.per_example_losses(p, xb, key, train=False, labels=yb)

  on_members = sharding.member_sharded(mesh)
  rep = sharding.replicated(mesh)
  fn = jax.jit(
      jax.vmap(one, in_axes=(0, 0, 0, None, None, None)),
      in_shardings=(on_members, on_members, on_members, rep, rep, rep),
      out_shardings=on_members,
  )
  sums, n = None, 0
  # One shape for every call; padding rows are masked out of the sums.
  for j, batch in enumerate(data.eval_batches(x, labels, batch_size=b)):
    args = jax.device_put((np.int32(j), batch['image'], batch['label']), rep)
    out = jax.device_get(fn(params, hparams, keys, *args))
    mask = batch['mask'].astype(np.float64)
    part = {
        k: np.asarray(v, np.float64) @ mask
        for k, v in out.items()
        if np.ndim(v) == 2
    }
    sums = part if sums is None else {k: sums[k] + part[k] for k in sums}
    n += mask.sum()
  return {k: v / n for k, v in sums.items()}


def _write_members(
    workdir, config, members, state, described, rows, total_steps
) -> None:
  """``member_<i>/`` work directories that `ae_jax.load` can read.

  Each is written like a finished run of the trainer: config.json,
  dataset.json, a checkpoint (saved from host memory as a single-device
  state, whatever mesh the sweep trained on) and final_metrics.json, whose
  ``diverged`` flag lets `ae_jax.load` explain a member it cannot load.
  """
  host = jax.device_get(state)
  for i, (point, row) in enumerate(zip(members, rows)):
    d = workdir / f'member_{i}'
    d.mkdir(parents=True, exist_ok=True)
    c = member_config(config, point)
    run_files.write_run_description(d, c, described)
    one = jax.tree.map(lambda v, i=i: jnp.asarray(v[i]), host)
    with checkpoints.make_manager(d, max_to_keep=1) as manager:
      if total_steps in manager.all_steps():
        # The same sweep run again: its checkpoint replaces the old one, so
        # final_metrics.json and the parameters always agree.
        manager.delete(total_steps)
      checkpoints.save(manager, one, config=c)
      manager.wait_until_finished()
    final = {
        'step': total_steps,
        'model': config.model,
        'dataset': config.dataset,
        'test': {
            n[len('test_') :]: v
            for n, v in row.items()
            if n.startswith('test_')
        },
        'final_train_loss': row['final_train_loss'],
        'diverged': row['diverged'],
        'params_sha256': distributed.params_fingerprint(one.params),
    }
    workdir_lib.write_text(
        d / 'final_metrics.json', json.dumps(_strict_json(final), indent=2)
    )


def _strict_json(value):
  """NaN/inf as strings: json writes them as bare tokens strict readers
  reject."""
  if isinstance(value, dict):
    return {k: _strict_json(v) for k, v in value.items()}
  if isinstance(value, float) and not np.isfinite(value):
    return str(value)
  return value
