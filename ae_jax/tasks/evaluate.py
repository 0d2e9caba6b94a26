"""Evaluating a trained work directory: every task's JSON beside the run."""

import json

from absl import logging
from etils import epath

from ae_jax import tasks
from ae_jax import trained as trained_lib
from ae_jax.train import distributed
from ae_jax.train import lock as lock_lib
from ae_jax.train import workdir as workdir_lib


def evaluate(
    workdir: str, names: list[str] | None = None, baseline_workdir=None
) -> dict:
  """Runs tasks ``names`` (default: `tasks.default_tasks`) on ``workdir``."""
  for name in names or []:  # Before loading anything.
    if name not in tasks.TASKS:
      raise ValueError(
          f'Unknown task {name!r}; use --task with some of '
          f'{sorted(tasks.TASKS)}.'
      )
  # Results go into the work directory: refuse a read-only one before any
  # task computes.
  workdir_lib.check_path(workdir)
  if (epath.Path(workdir) / 'config.json').exists():
    outputs = [p.name for p in epath.Path(workdir).glob('eval_*.json')]
    workdir_lib.check_writable(workdir, tuple(outputs))
  trained = trained_lib.load(workdir)
  holder = lock_lib.live_holder(trained.workdir)
  if holder is not None:
    logging.warning(
        'A run is training in %s (pid %s on %s): evaluating its checkpoint of '
        'step %d; each eval_*.json records the step it describes.',
        trained.workdir,
        holder.get('pid'),
        holder.get('host'),
        trained.step,
    )
  baseline = trained_lib.load(baseline_workdir) if baseline_workdir else None
  if baseline is not None and baseline.input_shape != trained.input_shape:
    raise ValueError(
        f'--baseline_workdir={baseline_workdir} was trained on inputs of shape '
        f'{list(baseline.input_shape)}, {workdir} on '
        f'{list(trained.input_shape)}; give a baseline trained on the same '
        'data and layout.'
    )
  names = names or tasks.default_tasks(trained)
  dataset = tasks.load_data(trained)
  results = {}
  for name in names:
    results[name] = tasks.run(
        name, trained, dataset, baseline, outdir=trained.workdir
    )
    # Which parameters the numbers describe: a run trained further later
    # leaves this file describing an older step, and says so.
    described = dict(
        results[name],
        step=trained.step,
        params_sha256=distributed.params_fingerprint(trained.params),
    )
    if baseline is not None:
      described['baseline'] = {
          'workdir': str(baseline.workdir),
          'step': baseline.step,
          'params_sha256': distributed.params_fingerprint(baseline.params),
      }
    workdir_lib.write_text(
        trained.workdir / f'eval_{name}.json', json.dumps(described, indent=2)
    )
  return results
