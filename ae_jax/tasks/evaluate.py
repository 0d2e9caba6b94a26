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
    workdir: str,
    names: list[str] | None = None,
    baseline_workdir=None,
    *,
    options: dict | None = None,
) -> dict:
  """Runs tasks ``names`` (default: `tasks.default_tasks`) on ``workdir``;
  ``options[name]`` are task ``name``'s keyword arguments."""
  options = options or {}
  if names:  # Before loading anything.
    tasks.check(names, options=options)
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
  tasks.check(names, trained.config, options)
  needs_data = any(n not in tasks.DRAW_THEIR_OWN_DATA for n in names)
  dataset = tasks.load_data(trained) if needs_data else None
  results = {}
  for name in names:
    results[name] = tasks.run(
        name,
        trained,
        dataset,
        baseline,
        outdir=trained.workdir,
        **options.get(name, {}),
    )
    # Which parameters the numbers describe: a run trained further later
    # leaves this file describing an older step, and says so.
    described = dict(
        results[name],
        step=trained.step,
        params_sha256=distributed.params_fingerprint(trained.params),
    )
    if dataset is not None and tasks.disentanglement.has_factors(trained):
      # dsprites / xy_sprites: the test split is a draw of training images.
      described['test_split'] = 'training images (ground-truth dataset)'
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


def evaluate_members(
    workdir: str,
    rows: list[dict],
    names: list[str],
    *,
    options: dict | None = None,
) -> list[dict]:
  """Tasks ``names`` on every member of the sweep in ``workdir``.

  ``rows`` are the sweep's rows (`ae_jax.train.sweep.train_sweep`), in
  member order. Returns one row per member: its swept values and each
  task's scalars (a diverged member: ``diverged: True`` and no scalars);
  also written to ``<workdir>/sweep_<task>.json``. Check the names first
  with `tasks.check(names, config, options, flag='--evaluate')`, before the
  sweep trains.
  """
  swept = [k for k in rows[0] if not k.startswith(('test_', 'final_'))]
  swept = [k for k in swept if k not in ('diverged', 'steps_per_second')]
  out = []
  for i, row in enumerate(rows):
    merged = {k: row[k] for k in swept}
    if row.get('diverged'):  # NaN parameters: nothing to evaluate.
      logging.warning('member_%d diverged: not evaluated.', i)
      out.append(dict(merged, diverged=True))
      continue
    results = evaluate(
        str(epath.Path(workdir) / f'member_{i}'), names, options=options
    )
    for result in results.values():
      merged.update(
          {k: v for k, v in result.items() if isinstance(v, (int, float))}
      )
    out.append(merged)
  for name in names:
    workdir_lib.write_text(
        epath.Path(workdir) / f'sweep_{name}.json', json.dumps(out, indent=2)
    )
  return out
