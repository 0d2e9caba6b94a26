"""`train_and_evaluate(config, workdir)`: the training loop behind every binary.

Order of work, so that bad input fails before anything expensive and nothing
already saved is lost:
  1. check the config (names, ranges, batch sizes against the device count) and
     that an existing work directory was made by a compatible config;
  2. load the data (a missing dataset raises `DatasetNotFoundError`);
  3. build the model and state, restore the latest checkpoint if there is one;
  4. train: the data iterator starts at the restored step and each step's key
     is ``fold_in(rng, step)``, so a resumed run ends with the parameters of an
     uninterrupted one; metrics are fetched every ``log_every_steps`` (not
     every step, so the host never waits on the device) and checked for NaN/inf
     before any checkpoint is written;
  5. evaluate on the test split and write checkpoints, logs and figures.
"""

import contextlib
import dataclasses
import json
import logging
import signal
from collections.abc import Callable
from typing import Any

from etils import epath
import jax
import ml_collections
import numpy as np
import optax
import tqdm

from ae_jax import configs
from ae_jax import data
from ae_jax import models
from ae_jax.train import checkpoints
from ae_jax.train import distributed
from ae_jax.train import lock as lock_lib
from ae_jax.train import loop
from ae_jax.train import memory
from ae_jax.train import metric_writer
from ae_jax.train import nonfinite
from ae_jax.train import outputs
from ae_jax.train import preemption
from ae_jax.train import pretrain
from ae_jax.train import provenance
from ae_jax.train import run_config
from ae_jax.train import run_files
from ae_jax.train import sharding
from ae_jax.train import state as state_lib
from ae_jax.train import step as step_lib
from ae_jax.train import workdir as workdir_lib

# Kept for callers of earlier versions; the schema owns the list now.
RUN_CONTROL_FIELDS = configs.RUN_CONTROL_FIELDS

# What a launch may rewrite: each must be writable, and a file or a directory
# as expected, before any work starts.
RUN_FILES = (
    'config.json',
    'dataset.json',
    'metrics.jsonl',
    'final_metrics.json',
    'launches.jsonl',
    lock_lib.LOCK_NAME,
)
RUN_DIRS = ('checkpoints', 'tensorboard')

# Kept where earlier versions defined them.
NONFINITE_MODES = nonfinite.NONFINITE_MODES
NonFiniteLossError = nonfinite.NonFiniteLossError
evaluate = loop.evaluate
grad_norm_every_step = loop.grad_norm_every_step
check_config = run_config.check_config
IncompatibleWorkdirError = run_files.IncompatibleWorkdirError
check_workdir = run_files.check_workdir


def load_dataset(config: ml_collections.ConfigDict) -> data.Dataset:
  """The training data ``config`` names, in its layout and binarisation."""
  return data.load_configured(config)


def split_validation(
    dataset: data.Dataset, size: int
) -> tuple[data.Dataset, tuple[np.ndarray, np.ndarray] | None]:
  """``size`` training examples held out: ``(train-only dataset, (x, y))``.

  The held-out examples are a fixed random draw (seed 0, not the run's seed),
  so runs that differ only in their seed are compared on the same split.
  """
  if size == 0:
    return dataset, None
  n = len(dataset.train_images)
  if size >= n:
    raise ValueError(
        f'config.validation_size={size} leaves no training examples out of '
        f'{n}; lower it.'
    )
  order = np.random.default_rng(0).permutation(n)
  held, kept = order[:size], np.sort(order[size:])
  train = dataclasses.replace(
      dataset,
      train_images=dataset.train_images[kept],
      train_labels=dataset.train_labels[kept],
  )
  return train, (dataset.train_images[held], dataset.train_labels[held])


def num_train_steps(config, num_train_examples: int) -> int:
  if config.num_epochs > 0:
    return config.num_epochs * (num_train_examples // config.batch_size)
  return config.num_train_steps


def steps_per_call(config, start_step: int, total_steps: int) -> int:
  """K: the most steps (up to ``config.steps_per_call``) fused into one call.

  K divides the run length, the start step and every log, eval and checkpoint
  interval (`loop.steps_per_call`).
  """
  return loop.steps_per_call(
      config.steps_per_call,
      total_steps,
      start_step,
      config.log_every_steps,
      config.checkpoint_every_steps,
      config.eval_every_steps,  # 0 (eval at the end) is no constraint.
  )


def _is_main_process() -> bool:
  return jax.process_index() == 0


def on_main_process(fn: Callable[[], Any]) -> None:
  """Runs ``fn`` on process 0 only; if it raises, every process stops.

  Process 0 re-raises its error; the others raise one saying process 0
  stopped (its log has the reason). Nothing collective may run inside.
  """
  error = None
  if _is_main_process():
    try:
      fn()
    except Exception as e:  # pylint: disable=broad-except
      error = e
  distributed.stop_all_if(error)


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str | epath.PathLike,
    *,
    dataset: data.Dataset | None = None,
) -> dict[str, Any]:
  """Trains ``config.model`` on ``config.dataset``; returns a summary dict.

  Resumes from the latest checkpoint in ``workdir`` if there is one; a fresh
  run with ``config.pretrain`` first pretrains its layers (`pretrain`).
  Writes ``config.json``, ``metrics.jsonl``, ``tensorboard/``,
  ``checkpoints/``, ``final_metrics.json`` and PNG figures into ``workdir``.
  ``dataset`` (arrays already in memory, e.g. the codes of a lower layer)
  replaces loading ``config.dataset``.

  One launch at a time may use ``workdir`` (`lock.hold`); a finished run
  relaunched with the same length returns its saved summary and changes
  nothing. A full disk stops the run with `workdir.DiskFullError`, keeping
  the last checkpoint.
  """
  workdir_lib.check_path(workdir)
  workdir = checkpoints.absolute(workdir)
  config = check_config(config)  # Now exactly its model's fields.
  mesh = sharding.make_mesh()
  sharding.check_batch_size(config.batch_size, mesh, 'batch_size')
  sharding.check_batch_size(config.eval_batch_size, mesh, 'eval_batch_size')
  with contextlib.ExitStack() as held:
    # Process 0 writes and locks; the others must stop with it, not wait in
    # the first collective for a process that has gone.
    on_main_process(
        lambda: (
            workdir_lib.check_writable(workdir, RUN_FILES, dirs=RUN_DIRS),
            held.enter_context(lock_lib.hold(workdir)),
        )
    )
    try:
      return _train(config, workdir, mesh, dataset)
    except Exception as e:
      if memory.is_out_of_memory(e) and not workdir_lib.is_disk_full(e):
        raise memory.OutOfMemoryError(memory.out_of_memory_message(e)) from e
      if not workdir_lib.is_disk_full(e):
        raise
      step = checkpoints.newest_complete_step(workdir / 'checkpoints')
      kept = (
          f'the last checkpoint, step {step}, is kept'
          if step is not None
          else 'no checkpoint was saved'
      )
      raise workdir_lib.disk_full_error(workdir, kept) from e


@dataclasses.dataclass(frozen=True)
class _Run:
  """What a launch trains: data, model, optimiser, length, PRNG streams."""

  config: ml_collections.ConfigDict
  workdir: epath.Path
  mesh: jax.sharding.Mesh
  dataset: data.Dataset
  validation: tuple[np.ndarray, np.ndarray] | None
  described: dict
  model: Any
  tx: optax.GradientTransformation
  total_steps: int
  keys: state_lib.RunKeys
  state_bytes: int  # Of one train state: the room a checkpoint needs.

  def init_state(self, params=None) -> state_lib.TrainState:
    return state_lib.init_train_state(
        self.model,
        self.tx,
        keys=self.keys,
        mesh=self.mesh,
        batch_size=self.config.batch_size,
        params=params,
    )


def _train(config, workdir: epath.Path, mesh, dataset) -> dict[str, Any]:
  """`train_and_evaluate` once the work directory is checked and locked."""
  run = _prepare(config, workdir, mesh, dataset)
  state = run.init_state()
  # Closed on every way out: its background clean-up must not outlive the
  # process (an exit mid-clean-up prints orbax tracebacks).
  with checkpoints.make_manager(
      workdir,
      max_to_keep=config.max_checkpoints_to_keep,
      best_metric=None if run.validation is None else run.model.best_metric,
  ) as manager:
    _, restored, _ = checkpoints.restore_latest(manager, state)
    state = state if restored is None else restored
    start_step = int(jax.device_get(state.step))
    if start_step > run.total_steps:
      raise ValueError(
          f'{workdir} is already trained to step {start_step}, past the '
          f'{run.total_steps} steps this config asks for '
          '(config.num_train_steps / num_epochs); nothing was changed. Raise '
          'the run length to train further, or evaluate it as it is with '
          'experiments.evaluate.'
      )
    if start_step == run.total_steps:
      finished = run_files.finished_summary(
          workdir, start_step, distributed.params_fingerprint(state.params)
      )
      if finished is not None:
        on_main_process(  # Deleted or edited by hand: ae_jax.load needs them.
            lambda: run_files.write_run_description(
                workdir, config, run.described
            )
        )
        logging.info(
            '%s is already trained to step %d; nothing to do (its summary '
            'is final_metrics.json).',
            workdir,
            start_step,
        )
        return finished
    # After the finished-run return (which writes nothing), before the
    # first write.
    on_main_process(
        lambda: workdir_lib.check_free_space(workdir, run.state_bytes)
    )
    if restored is None and config.pretrain != 'none':
      params = pretrain.pretrain(
          config,
          run.model,
          run.dataset,
          workdir / 'pretrain',
          jax.device_get(state.params),
          train_fn=train_and_evaluate,
      )
      state = run.init_state(params)
    on_main_process(
        lambda: (
            metric_writer.truncate_metrics(workdir, start_step),
            run_files.write_run_description(workdir, config, run.described),
            provenance.record_launch(workdir, start_step),
        )
    )
    writer = metric_writer.MetricWriter(
        workdir,
        enabled=_is_main_process(),
        purge_after=start_step if start_step else None,
    )
    eval_step = step_lib.jit_eval_step(step_lib.make_eval_step(run.model), mesh)

    def run_eval(params, images, labels):
      return loop.evaluate(
          eval_step,
          params,
          images,
          labels,
          batch_size=config.eval_batch_size,
          mesh=mesh,
          rng=run.keys.eval,
      )

    state, summary = _fit(run, state, start_step, manager, writer, run_eval)
    if summary['test'] is None:  # Already trained: evaluate the restored one.
      summary['test'] = run_eval(
          state.params, run.dataset.test_images, run.dataset.test_labels
      )
    if run.validation is not None:
      best = manager.best_step()
      summary['best_checkpoint'] = {
          'step': best,
          'validation': manager.metrics(best) if best is not None else None,
      }
    if 'skipped_batches' in summary:  # Last, as before the training core.
      summary['skipped_batches'] = summary.pop('skipped_batches')
  # This process's copy: every process of a multi-host run prints the same.
  summary['params_sha256'] = distributed.params_fingerprint(state.params)
  if _is_main_process():
    workdir_lib.write_text(
        workdir / 'final_metrics.json', json.dumps(summary, indent=2)
    )
  if config.write_figures:
    outputs.write_figures(
        run.model,
        state.params,
        run.dataset,
        workdir,
        mesh,
        batch_size=config.eval_batch_size,
        seed=config.seed,
        write=_is_main_process(),
    )
  writer.close()
  return summary


def _prepare(config, workdir: epath.Path, mesh, dataset) -> _Run:
  """Checks the work directory against the data; builds model and optimiser.

  Ends with the memory check, before anything is compiled or allocated.
  """
  run_files.check_workdir(workdir, config)
  if dataset is None:
    dataset = load_dataset(config)
  described = run_files.describe_dataset(dataset)
  run_files.check_same_data(workdir, described)
  dataset, validation = split_validation(dataset, config.validation_size)
  num_train = len(dataset.train_images)
  described['num_train'] = num_train  # What the model saw.
  if config.batch_size > num_train:
    raise ValueError(
        f'config.batch_size={config.batch_size} exceeds the {num_train} '
        f'training examples of {config.dataset!r}; lower '
        '--config.batch_size.'
    )
  model = models.build_model(
      config,
      dataset.input_shape,
      num_classes=dataset.num_classes,
      num_train=num_train,
  )
  total_steps = num_train_steps(config, num_train)
  tx = state_lib.make_optimizer(
      config, total_steps, param_groups=model.param_groups()
  )
  if config.nonfinite == 'skip':
    tx = optax.apply_if_finite(tx, config.max_consecutive_nonfinite)
  abstract = state_lib.abstract_train_state(
      model, tx, batch_size=config.batch_size
  )
  memory.check_fits(
      abstract,
      sizing_fields=lambda: models.sizing_fields(
          config,
          dataset.input_shape,
          num_classes=dataset.num_classes,
          num_train=num_train,
      ),
      extra_bytes=dataset.train_images.nbytes if config.data_on_device else 0,
      extra_what='the training set (--config.data_on_device=False streams it)',
  )
  return _Run(
      config=config,
      workdir=workdir,
      mesh=mesh,
      dataset=dataset,
      validation=validation,
      described=described,
      model=model,
      tx=tx,
      total_steps=total_steps,
      keys=state_lib.run_keys(jax.random.PRNGKey(config.seed)),
      state_bytes=memory.tree_bytes(abstract),
  )


def _train_batches(run: _Run, start_step: int, k: int):
  """``(batches, constants)``: the calls' stacked batches, on the devices.

  With ``config.data_on_device`` the training split lives on every device
  (``constants``) and each step sends 4 bytes per example (its index), so
  the host does no per-step copying that would compete with the step for CPU
  cores; otherwise batches stream from host memory.
  """
  config, dataset, mesh = run.config, run.dataset, run.mesh
  order = dict(
      batch_size=config.batch_size,
      seed=config.seed,
      start_step=start_step,
      process_index=jax.process_index(),
      process_count=jax.process_count(),
  )
  if config.data_on_device:
    constants = (
        sharding.put_replicated(
            {'image': dataset.train_images, 'label': dataset.train_labels},
            mesh,
        ),
    )
    source = (
        {'index': idx}
        for idx in data.train_indices(len(dataset.train_images), **order)
    )
  else:
    constants = ()
    source = data.train_batches(
        dataset.train_images, dataset.train_labels, **order
    )
  batches = data.prefetch(
      loop.stack(source, k),
      transform=lambda b: sharding.put_batch(b, mesh, stacked=True),
  )
  return batches, constants


def _fit(run: _Run, state, start_step: int, manager, writer, run_eval):
  """The training calls from ``start_step``: ``(state, summary)``."""
  config, mesh, total = run.config, run.mesh, run.total_steps
  k = steps_per_call(config, start_step, total)
  batches, constants = _train_batches(run, start_step, k)
  skip_nonfinite = config.nonfinite == 'skip'

  def program(grad_norm: bool):
    """The K-step call, with or without the gradient-norm metric."""
    return step_lib.jit_train_step(
        loop.fused_step(
            run.model,
            run.tx,
            config,
            device_data=bool(constants),
            skip_nonfinite=skip_nonfinite,
            grad_norm=grad_norm,
        ),
        mesh,
        device_data=bool(constants),
        stacked=True,
    )

  throughput = loop.Throughput()
  # Keyed by "this call's metrics are logged": only those calls pay for the
  # gradient norm (see `step.make_train_step`).
  programs = loop.Programs(program, constants=constants, throughput=throughput)
  norm_every_step = loop.grad_norm_every_step(config)
  pending = nonfinite.TrainMetrics(
      skip_nonfinite=skip_nonfinite,
      max_consecutive=config.max_consecutive_nonfinite,
  )
  eval_metrics = None
  bar = tqdm.tqdm(
      total=total,
      initial=start_step,
      unit='step',
      disable=not (config.progress_bar and _is_main_process()),
      dynamic_ncols=True,
      mininterval=1.0,
  )
  logging.info(
      'Training %s on %s for %d steps (from step %d) on %d device(s).',
      config.model,
      config.dataset,
      total,
      start_step,
      mesh.size,
  )
  multi_process = jax.process_count() > 1
  # One process: our handlers. Several: JAX's preemption service (it sees
  # SIGTERM itself) tells every process at the same step.
  with preemption.catch_signals(enabled=not multi_process) as stop:
    try:
      for call in loop.calls(
          start_step,
          total,
          k,
          log_every=config.log_every_steps,
          eval_every=config.eval_every_steps,
          checkpoint_every=config.checkpoint_every_steps,
      ):
        # A NaN/inf gradient in the other calls still shows as a NaN loss at
        # the next step, and every checkpoint follows a logged call.
        state, metrics = programs(
            call.logged or norm_every_step, state, next(batches)
        )
        pending.add(call.done, metrics)
        throughput.after_call(call.done, metrics)
        preempted = stop.pending or (
            multi_process and manager.reached_preemption(call.done)
        )
        if call.logged or preempted:
          means = pending.fetch(manager.latest_step, manager.directory)
          writer.write(call.done, 'train', means)
          if _is_main_process():
            lock_lib.refresh(run.workdir)
          bar.update(call.done - bar.n)
          if 'loss' in means:
            bar.set_postfix(loss=f'{means["loss"]:.4g}', refresh=False)
        with throughput.untimed():
          if call.eval_due:
            eval_metrics = run_eval(
                state.params, run.dataset.test_images, run.dataset.test_labels
            )
            writer.write(call.done, 'test', eval_metrics)
            logging.info('step %d test %s', call.done, _fmt(eval_metrics))
          if call.checkpoint_due or preempted:
            metrics = None
            if run.validation is not None:  # Ranks it (the best is kept).
              metrics = run_eval(state.params, *run.validation)
              writer.write(call.done, 'validation', metrics)
            checkpoints.save(manager, state, metrics=metrics, config=config)
            writer.flush()
        if preempted and not call.is_last:
          raise preemption.Preempted(
              stop.signum or signal.SIGTERM, call.done, manager.directory
          )
    finally:
      batches.close()
      bar.close()
      manager.wait_until_finished()
      writer.flush()
  summary = {'step': total, 'model': config.model, 'dataset': config.dataset}
  steps_per_second = throughput.steps_per_second(total)
  if steps_per_second is not None:
    summary['train_steps_per_second'] = steps_per_second
  summary['test'] = eval_metrics  # None: already trained, nothing ran.
  if pending.skipped:
    summary['skipped_batches'] = len(pending.skipped)
  return state, summary


def _fmt(metrics: dict[str, float]) -> str:
  return ' '.join(f'{k}={v:.4g}' for k, v in sorted(metrics.items()))
