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
import math
import signal
import time
from collections.abc import Callable, Iterator
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
from ae_jax.train import memory
from ae_jax.train import metric_writer
from ae_jax.train import outputs
from ae_jax.train import preemption
from ae_jax.train import pretrain
from ae_jax.train import provenance
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

NONFINITE_MODES = ('stop', 'skip')


class NonFiniteLossError(FloatingPointError):
  """Training produced NaN/inf; the last good checkpoint is left intact."""


# Kept where earlier versions defined them.
IncompatibleWorkdirError = run_files.IncompatibleWorkdirError
check_workdir = run_files.check_workdir


def check_config(
    config: ml_collections.ConfigDict,
) -> ml_collections.ConfigDict:
  """Every cheap check, before data is loaded or anything compiled.

  Returns ``config`` with exactly its model's fields (`configs.normalize`).
  """
  # Unknown fields, other models' fields; then the model's fields are there.
  config = configs.normalize(config)
  models.check_model_config(config)
  state_lib.check_optimizer_config(config)
  pretrain.check_config(config)
  if config.layout not in data.datasets.LAYOUTS:
    raise ValueError(
        f'config.layout={config.layout!r} must be one of {data.datasets.LAYOUTS}.'
    )
  if config.binarize not in data.datasets.BINARIZE_MODES:
    raise ValueError(
        f'config.binarize={config.binarize!r} must be one of '
        f'{data.datasets.BINARIZE_MODES}.'
    )
  if config.encoder == 'conv' and config.layout != 'hwc':
    raise ValueError(
        "config.encoder='conv' needs images in HWC layout; add "
        '--config.layout=hwc.'
    )
  if config.num_epochs <= 0 and config.num_train_steps <= 0:
    raise ValueError(
        'Set a positive --config.num_train_steps or '
        '--config.num_epochs (one of them decides the run length).'
    )
  for field in (
      'steps_per_call',
      'batch_size',
      'eval_batch_size',
      'log_every_steps',
      'checkpoint_every_steps',
      'max_checkpoints_to_keep',
  ):
    if not (isinstance(config[field], int) and config[field] >= 1):
      raise ValueError(
          f'config.{field}={config[field]!r} must be a positive ' 'integer.'
      )
  if config.nonfinite not in NONFINITE_MODES:
    raise ValueError(
        f'config.nonfinite={config.nonfinite!r} must be one of '
        f"{NONFINITE_MODES} ('stop' raises at the first NaN/inf; 'skip' "
        'drops the update of such a batch).'
    )
  for field in ('validation_size', 'max_consecutive_nonfinite'):
    if not (isinstance(config[field], int) and config[field] >= 0):
      raise ValueError(
          f'config.{field}={config[field]!r} must be an integer >= 0.'
      )
  if not config.eval_every_steps >= 0:
    raise ValueError(
        f'config.eval_every_steps={config.eval_every_steps} must be '
        '>= 0 (0 evaluates only at the end).'
    )
  return config


def load_dataset(config: ml_collections.ConfigDict) -> data.Dataset:
  """The training data ``config`` names, in its layout and binarisation."""
  return data.load_dataset(
      config.dataset,
      data_dir=config.data_dir or None,
      idx_dir=config.idx_dir or None,
      layout=config.layout,
      binarize=config.binarize,
      seed=config.seed,
  )


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


def _is_main_process() -> bool:
  return jax.process_index() == 0


def evaluate(
    eval_step,
    params,
    images,
    labels,
    *,
    batch_size: int,
    mesh: jax.sharding.Mesh,
    rng: jax.Array,
) -> dict[str, float]:
  """Means over every test example (padded batches, masked sums)."""
  totals = None
  batches = data.eval_batches(
      images,
      labels,
      batch_size=batch_size,
      process_index=jax.process_index(),
      process_count=jax.process_count(),
  )
  for i, batch in enumerate(batches):
    sums = eval_step(
        params, sharding.put_batch(batch, mesh), jax.random.fold_in(rng, i)
    )
    # Sums stay on device (no host sync per batch) until the end.
    totals = (
        sums
        if totals is None
        else jax.tree.map(lambda a, b: a + b, totals, sums)
    )
  totals = jax.device_get(totals)
  count = totals.pop('count')
  return {k: float(v / count) for k, v in totals.items()}


def grad_norm_every_step(config) -> bool:
  """Whether every call computes the gradient norm, not just logged ones.

  Skip mode decides from it which steps to skip. A conv model's calls are
  unrolled (`step.scan_steps`) and slow to compile, and the norm is noise
  next to their convolutions: a second program would cost seconds of
  compile and save nothing measurable.
  """
  return config.nonfinite == 'skip' or config.encoder == 'conv'


def steps_per_call(config, start_step: int, total_steps: int) -> int:
  """K: the most steps (up to ``config.steps_per_call``) fused into one call.

  K divides the run length, the start step and every log, eval and checkpoint
  interval, so each boundary falls between calls and one shape compiles once.
  """
  boundaries = math.gcd(
      total_steps,
      start_step,
      config.log_every_steps,
      config.checkpoint_every_steps,
      config.eval_every_steps,  # gcd(x, 0) = x: 0 (eval at the end) is no constraint.
  )
  return max(
      k for k in range(1, config.steps_per_call + 1) if boundaries % k == 0
  )


def _stack(items: Iterator[dict], k: int) -> Iterator[dict]:
  """Groups of ``k`` consecutive batches, each leaf stacked to ``[k, ...]``."""
  while True:
    group = [next(items) for _ in range(k)]
    yield {key: np.stack([g[key] for g in group]) for key in group[0]}


class _TrainMetrics:
  """Metrics of dispatched calls, fetched in one transfer per log interval.

  With ``skip_nonfinite`` a step whose gradient norm is NaN/inf was not
  applied (`optax.apply_if_finite`): it is counted, logged and left out of the
  means, and only more than ``max_consecutive`` such steps in a row stop the
  run. Any other NaN/inf metric stops it.
  """

  def __init__(self, *, skip_nonfinite: bool = False, max_consecutive: int = 0):
    self.pending: list[tuple[int, dict]] = []
    self.skip_nonfinite = skip_nonfinite
    self.max_consecutive = max_consecutive
    self.consecutive = 0
    self.skipped: list[int] = []

  def add(self, done: int, metrics: dict) -> None:
    """``metrics`` of the steps ending at step ``done``, each ``[K]``."""
    self.pending.append((done, metrics))

  def fetch(self, last_good_step: int | None, ckpt_dir) -> dict[str, float]:
    """Host means of the pending metrics; raises on the first NaN/inf step."""
    ends = [s for s, _ in self.pending]
    values = jax.device_get([m for _, m in self.pending])
    self.pending = []
    kept = []
    skipped = []
    for done, metrics in zip(ends, values):
      k = len(metrics['loss'])
      for i in range(k):
        step = done - k + 1 + i
        bad = {n: v[i] for n, v in metrics.items() if not np.isfinite(v[i])}
        if not bad:
          self.consecutive = 0
          kept.append({n: v[i] for n, v in metrics.items()})
        elif self.skip_nonfinite and not np.isfinite(metrics['grad_norm'][i]):
          self.consecutive += 1
          skipped.append(step)
          if self.consecutive > self.max_consecutive:
            self._raise(
                step,
                *next(iter(bad.items())),
                last_good_step,
                ckpt_dir,
                consecutive=self.consecutive,
            )
        else:
          self._raise(step, *next(iter(bad.items())), last_good_step, ckpt_dir)
    if skipped:
      self.skipped += skipped
      logging.warning(
          'Skipped %d batch(es) with a NaN/inf gradient (steps %s); the '
          'parameters were not updated on them.',
          len(skipped),
          skipped if len(skipped) <= 10 else f'{skipped[:10]}...',
      )
    # Not every step has every metric (`grad_norm` comes with logged calls).
    names = dict.fromkeys(name for m in kept for name in m)
    means = {
        name: float(np.mean([m[name] for m in kept if name in m]))
        for name in names
    }
    if self.skip_nonfinite:
      means['skipped_batches'] = float(len(skipped))
    return means

  @staticmethod
  def _raise(step, name, value, last_good_step, ckpt_dir, consecutive=None):
    where = (
        f'the last good checkpoint is step {last_good_step} in {ckpt_dir}'
        if last_good_step is not None
        else 'no checkpoint was saved'
    )
    what = f'{name}={value} at step {step}'
    if consecutive is not None:
      what += (
          f', the last of {consecutive} non-finite batches in a row (more '
          'than config.max_consecutive_nonfinite)'
      )
    fix = (
        'or raise --config.max_consecutive_nonfinite'
        if consecutive is not None
        else "or --config.nonfinite='skip' to drop such batches"
    )
    raise NonFiniteLossError(
        f'Training stopped: {what}; {where} and nothing after it was saved. '
        'Lower --config.learning_rate, set --config.grad_clip_norm, check '
        f'the data for extreme values, {fix}.'
    )


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


def _train(config, workdir: epath.Path, mesh, dataset) -> dict[str, Any]:
  """`train_and_evaluate` once the work directory is checked and locked."""
  run_files.check_workdir(workdir, config)
  if dataset is None:
    dataset = load_dataset(config)
  described = run_files.describe_dataset(dataset)
  run_files.check_same_data(workdir, described)
  dataset, validation = split_validation(dataset, config.validation_size)
  described['num_train'] = len(dataset.train_images)  # What the model saw.
  if config.batch_size > len(dataset.train_images):
    raise ValueError(
        f'config.batch_size={config.batch_size} exceeds the '
        f'{len(dataset.train_images)} training examples of '
        f'{config.dataset!r}; lower --config.batch_size.'
    )
  model = models.build_model(
      config,
      dataset.input_shape,
      num_classes=dataset.num_classes,
      num_train=len(dataset.train_images),
  )
  total_steps = num_train_steps(config, len(dataset.train_images))
  tx = state_lib.make_optimizer(
      config, total_steps, param_groups=model.param_groups()
  )
  skip_nonfinite = config.nonfinite == 'skip'
  if skip_nonfinite:
    tx = optax.apply_if_finite(tx, config.max_consecutive_nonfinite)
  abstract = state_lib.abstract_train_state(
      model, tx, batch_size=config.batch_size
  )
  on_device = dataset.train_images.nbytes if config.data_on_device else 0
  memory.check_fits(
      abstract,
      sizing_fields=lambda: models.sizing_fields(
          config, dataset.input_shape, num_classes=dataset.num_classes
      ),
      extra_bytes=on_device,
      extra_what='the training set (--config.data_on_device=False streams it)',
  )

  keys = state_lib.run_keys(jax.random.PRNGKey(config.seed))
  init = dict(
      keys=keys,
      mesh=mesh,
      batch_size=config.batch_size,
  )
  state = state_lib.init_train_state(model, tx, **init)
  # Closed on every way out: its background clean-up must not outlive the
  # process (an exit mid-clean-up prints orbax tracebacks).
  with checkpoints.make_manager(
      workdir,
      max_to_keep=config.max_checkpoints_to_keep,
      best_metric=None if validation is None else 'loss',
  ) as manager:
    _, restored, _ = checkpoints.restore_latest(manager, state)
    if restored is not None:
      state = restored
    start_step = int(jax.device_get(state.step))
    if start_step > total_steps:
      raise ValueError(
          f'{workdir} is already trained to step {start_step}, past the '
          f'{total_steps} steps this config asks for (config.num_train_steps / '
          'num_epochs); nothing was changed. Raise the run length to train '
          'further, or evaluate it as it is with experiments.evaluate.'
      )
    finished = None
    if start_step == total_steps:
      finished = run_files.finished_summary(
          workdir, start_step, distributed.params_fingerprint(state.params)
      )
    if finished is not None:
      on_main_process(  # Deleted or edited by hand: ae_jax.load needs them.
          lambda: run_files.write_run_description(workdir, config, described)
      )
      logging.info(
          '%s is already trained to step %d; nothing to do (its summary is '
          'final_metrics.json).',
          workdir,
          start_step,
      )
      return finished
    # After the finished-run return (which writes nothing), before the
    # first write.
    on_main_process(
        lambda: workdir_lib.check_free_space(
            workdir, memory.tree_bytes(abstract)
        )
    )
    if restored is None and config.pretrain != 'none':
      params = pretrain.pretrain(
          config,
          dataset,
          workdir / 'pretrain',
          jax.device_get(state.params),
          train_fn=train_and_evaluate,
      )
      state = state_lib.init_train_state(model, tx, params=params, **init)
    last_good = manager.latest_step()
    on_main_process(
        lambda: (
            metric_writer.truncate_metrics(workdir, start_step),
            run_files.write_run_description(workdir, config, described),
            provenance.record_launch(workdir, start_step),
        )
    )
    writer = metric_writer.MetricWriter(workdir, enabled=_is_main_process())

    process = dict(
        process_index=jax.process_index(), process_count=jax.process_count()
    )
    k = steps_per_call(config, start_step, total_steps)
    if config.data_on_device:
      # The training split lives on every device; each step sends 4 bytes per
      # example (its index) instead of the image, so the host does no per-step
      # copying that would compete with the step for CPU cores.
      train_data = sharding.put_replicated(
          {'image': dataset.train_images, 'label': dataset.train_labels}, mesh
      )
      source = (
          {'index': idx}
          for idx in data.train_indices(
              len(dataset.train_images),
              batch_size=config.batch_size,
              seed=config.seed,
              start_step=start_step,
              **process,
          )
      )
    else:  # Stream batches from host memory (datasets larger than a device).
      train_data = None
      source = data.train_batches(
          dataset.train_images,
          dataset.train_labels,
          batch_size=config.batch_size,
          seed=config.seed,
          start_step=start_step,
          **process,
      )

    unroll = step_lib.unroll_fused_steps(config)

    def jit_steps(grad_norm: bool):
      """The K-step call, with or without the gradient-norm metric."""
      train_step = step_lib.make_train_step(
          model,
          tx,
          dynamic_binarization=config.binarize == 'dynamic',
          skip_nonfinite=skip_nonfinite,
          grad_norm=grad_norm,
      )
      if train_data is None:
        return step_lib.jit_train_step(
            step_lib.scan_steps(train_step, unroll=unroll), mesh, stacked=True
        )
      jitted = step_lib.jit_train_step(
          step_lib.scan_steps(
              step_lib.gather_from_device_data(train_step), unroll=unroll
          ),
          mesh,
          device_data=True,
          stacked=True,
      )
      return lambda state, batches: jitted(state, batches, train_data)

    # Keyed by "this call's metrics are logged": only those calls pay for the
    # gradient norm (see `step.make_train_step`). Each compiles on first use.
    run_steps = {True: jit_steps(True), False: jit_steps(False)}
    norm_every_step = grad_norm_every_step(config)
    eval_step = step_lib.jit_eval_step(step_lib.make_eval_step(model), mesh)

    def run_eval(images, labels):
      return evaluate(
          eval_step,
          state.params,
          images,
          labels,
          batch_size=config.eval_batch_size,
          mesh=mesh,
          rng=keys.eval,
      )

    def save_checkpoint(done):
      metrics = None
      if validation is not None:  # Ranks the checkpoint (best is kept).
        metrics = run_eval(*validation)
        writer.write(done, 'validation', metrics)
      checkpoints.save(manager, state, metrics=metrics, config=config)
      writer.flush()

    logging.info(
        'Training %s on %s for %d steps (from step %d) on %d device(s).',
        config.model,
        config.dataset,
        total_steps,
        start_step,
        mesh.size,
    )
    batches = data.prefetch(
        _stack(source, k),
        transform=lambda b: sharding.put_batch(b, mesh, stacked=True),
    )
    pending = _TrainMetrics(
        skip_nonfinite=skip_nonfinite,
        max_consecutive=config.max_consecutive_nonfinite,
    )
    eval_metrics = None
    timing = {
        'first_step_done': None,
        'other_seconds': 0.0,
        'untimed_steps': 0,
        'compiled': set(),
    }
    bar = tqdm.tqdm(
        total=total_steps,
        initial=start_step,
        unit='step',
        disable=not (config.progress_bar and _is_main_process()),
        dynamic_ncols=True,
        mininterval=1.0,
    )
    multi_process = jax.process_count() > 1
    # One process: our handlers. Several: JAX's preemption service (it sees
    # SIGTERM itself) tells every process at the same step.
    with preemption.catch_signals(enabled=not multi_process) as stop:
      try:
        for step in range(start_step, total_steps, k):
          done = step + k
          is_last = done == total_steps
          eval_due = is_last or (
              config.eval_every_steps > 0
              and done % config.eval_every_steps == 0
          )
          logged = (
              eval_due
              or done % config.checkpoint_every_steps == 0
              or done % config.log_every_steps == 0
          )
          # A NaN/inf gradient in the other calls still shows as a NaN loss at
          # the next step, and every checkpoint follows a logged call.
          measured = logged or norm_every_step
          compiles = timing['first_step_done'] is not None and (
              measured not in timing['compiled']
          )
          if compiles:  # Keep a second program's compile out of throughput.
            jax.block_until_ready(state)
            t0 = time.perf_counter()
          timing['compiled'].add(measured)
          state, metrics = run_steps[measured](state, next(batches))
          pending.add(done, metrics)
          if compiles:
            jax.block_until_ready(metrics)
            timing['other_seconds'] += time.perf_counter() - t0
            timing['untimed_steps'] += k
          if timing['first_step_done'] is None:
            # Compile time stays out of throughput.
            jax.block_until_ready(metrics)
            timing['first_step_done'] = (time.perf_counter(), done)
          preempted = stop.pending or (
              multi_process and manager.reached_preemption(done)
          )
          ckpt_due = (
              is_last or preempted or done % config.checkpoint_every_steps == 0
          )
          if logged or ckpt_due:
            means = pending.fetch(last_good, manager.directory)
            writer.write(done, 'train', means)
            if _is_main_process():
              lock_lib.refresh(workdir)
            bar.update(done - bar.n)
            if 'loss' in means:
              bar.set_postfix(loss=f'{means["loss"]:.4g}', refresh=False)
          if eval_due or ckpt_due:
            t0 = time.perf_counter()
            if eval_due:
              eval_metrics = run_eval(dataset.test_images, dataset.test_labels)
              writer.write(done, 'test', eval_metrics)
              logging.info('step %d test %s', done, _fmt(eval_metrics))
            if ckpt_due:
              save_checkpoint(done)
              last_good = done
            timing['other_seconds'] += time.perf_counter() - t0
          if preempted and not is_last:
            raise preemption.Preempted(
                stop.signum or signal.SIGTERM, done, manager.directory
            )
      finally:
        batches.close()
        bar.close()
        manager.wait_until_finished()
        writer.flush()

    summary = {
        'step': total_steps,
        'model': config.model,
        'dataset': config.dataset,
    }
    if timing['first_step_done'] is not None:
      t_first, first = timing['first_step_done']
      elapsed = time.perf_counter() - t_first - timing['other_seconds']
      timed = total_steps - first - timing['untimed_steps']
      if timed > 0 and elapsed > 0:
        summary['train_steps_per_second'] = timed / elapsed
    if eval_metrics is None:  # Already trained: evaluate the restored state.
      eval_metrics = run_eval(dataset.test_images, dataset.test_labels)
    summary['test'] = eval_metrics
    if validation is not None:
      best = manager.best_step()
      summary['best_checkpoint'] = {
          'step': best,
          'validation': manager.metrics(best) if best is not None else None,
      }
    if pending.skipped:
      summary['skipped_batches'] = len(pending.skipped)
    # This process's copy: every process of a multi-host run prints the same.
    summary['params_sha256'] = distributed.params_fingerprint(state.params)
    if _is_main_process():
      workdir_lib.write_text(
          workdir / 'final_metrics.json', json.dumps(summary, indent=2)
      )
    if config.write_figures:
      outputs.write_figures(
          model,
          state.params,
          dataset,
          workdir,
          mesh,
          batch_size=config.eval_batch_size,
          seed=config.seed,
          write=_is_main_process(),
      )
    writer.close()
    return summary


def _fmt(metrics: dict[str, float]) -> str:
  return ' '.join(f'{k}={v:.4g}' for k, v in sorted(metrics.items()))
