r"""Evaluates a trained work directory against baselines; writes JSON, prints Markdown.

  python -m experiments.evaluate --workdir=runs/deep_ae_fmnist --task=pca
  python -m experiments.evaluate --workdir=runs/dae_gaussian --task=denoise \
      --baseline_workdir=runs/ae_fmnist

Tasks (`ae_jax.tasks`): pca, sparsity, denoise, jacobian, probe; several may
be given comma-separated. Results go to ``<workdir>/eval_<task>.json``.
"""

import json

from absl import app
from absl import flags

import ae_jax
from ae_jax import tasks
from experiments import cli

_WORKDIR = flags.DEFINE_string('workdir', None, 'Trained work directory.')
_TASK = flags.DEFINE_list('task', None, f'Tasks: {sorted(tasks.TASKS)}.')
_BASELINE = flags.DEFINE_string(
    'baseline_workdir',
    None,
    'A second trained work directory to compare with (denoise, jacobian).',
)
flags.mark_flags_as_required(['workdir', 'task'])


def markdown(task: str, result: dict) -> str:
  """The result as a Markdown table."""
  rows = result.get('rows', [result])
  keys = list(rows[0])
  fmt = lambda v: f'{v:.4g}' if isinstance(v, float) else str(v)
  lines = [
      f'{task}:',
      '| ' + ' | '.join(keys) + ' |',
      '|' + '---|' * len(keys),
  ]
  lines += ['| ' + ' | '.join(fmt(r[k]) for k in keys) + ' |' for r in rows]
  return '\n'.join(lines)


def evaluate(workdir: str, names: list[str], baseline_workdir=None) -> dict:
  for name in names:  # Before loading anything.
    if name not in tasks.TASKS:
      raise ValueError(
          f'Unknown task {name!r}; use --task with some of '
          f'{sorted(tasks.TASKS)}.'
      )
  trained = ae_jax.load(workdir)
  baseline = ae_jax.load(baseline_workdir) if baseline_workdir else None
  dataset = tasks.load_data(trained)
  results = {}
  for name in names:
    results[name] = tasks.run(
        name, trained, dataset, baseline, outdir=trained.workdir
    )
    path = trained.workdir / f'eval_{name}.json'
    path.write_text(json.dumps(results[name], indent=2))
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
  app.run(main)
