r"""Evaluates a trained work directory against baselines; writes JSON, prints Markdown.

  python -m experiments.evaluate --workdir=runs/deep_ae_fmnist
  python -m experiments.evaluate --workdir=runs/dae_gaussian --task=denoise \
      --baseline_workdir=runs/ae_fmnist

Without --task, every task that applies to the model runs
(`ae_jax.tasks.default_tasks`; `nll` only when named). Tasks are listed in
`ae_jax.tasks`; several may be given comma-separated. Each result goes to
``<workdir>/eval_<task>.json``, its figures next to it, and its table to
stdout.
"""

import json

from absl import app
from absl import flags
from absl import logging
from etils import epath

import ae_jax
from ae_jax import tasks
from ae_jax.train import distributed
from ae_jax.train import lock as lock_lib
from ae_jax.train import workdir as workdir_lib
from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', None, 'Trained work directory.')
_TASK = flags.DEFINE_list(
    'task',
    None,
    f'Tasks: {sorted(tasks.TASKS)}; default: those that apply to the model '
    '(tasks.default_tasks: all but the slow nll).',
)
_BASELINE = flags.DEFINE_string(
    'baseline_workdir',
    None,
    'A second trained work directory to compare with (denoise, jacobian).',
)
flags.mark_flags_as_required(['workdir'])
cli.mark_paths_nonempty('workdir', 'baseline_workdir')


def _is_rows(value) -> bool:
  return (
      isinstance(value, list)
      and bool(value)
      and all(isinstance(r, dict) for r in value)
  )


def markdown(task: str, result: dict) -> str:
  """The result as Markdown: its 'rows' (or its scalars) as one table, and
  each other list of row dicts (e.g. probe's 'label_efficiency') as another.
  Per-unit lists and nested dicts stay in the JSON file."""
  fmt = lambda v: f'{v:.4g}' if isinstance(v, float) else str(v)
  scalar = lambda v: not isinstance(v, (list, dict))
  tables = {task: result['rows'] if 'rows' in result else [result]}
  tables.update(
      {
          f'{task} {k}': v
          for k, v in result.items()
          if k != 'rows' and _is_rows(v)
      }
  )
  lines = []
  for name, rows in tables.items():
    keys = [k for k, v in rows[0].items() if scalar(v)]
    lines += [
        f'{name}:',
        '| ' + ' | '.join(keys) + ' |',
        '|' + '---|' * len(keys),
    ]
    lines += [
        '| ' + ' | '.join(fmt(r.get(k)) for k in keys) + ' |' for r in rows
    ]
  return '\n'.join(lines)


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
  trained = ae_jax.load(workdir)
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
  baseline = ae_jax.load(baseline_workdir) if baseline_workdir else None
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


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  results = cli.exit_on_user_error(
      lambda: evaluate(_WORKDIR.value, _TASK.value, _BASELINE.value)
  )
  for name, result in results.items():
    print(markdown(name, result))


if __name__ == '__main__':
  cli.run(main)
