r"""Evaluates a trained work directory against baselines; writes JSON, prints Markdown.

  python -m experiments.evaluate --workdir=runs/deep_ae_fmnist
  python -m experiments.evaluate --workdir=runs/dae_gaussian --task=denoise \
      --baseline_workdir=runs/ae_fmnist
  python -m experiments.evaluate --workdir=runs/beta_vae_sprites \
      --task=disentanglement

Without --task, every task that applies to the model runs
(`ae_jax.tasks.default_tasks`; `nll` only when named). Tasks are listed in
`ae_jax.tasks`; several may be given comma-separated. Each result goes to
``<workdir>/eval_<task>.json``, its figures next to it, and its table to
stdout.
"""

import sys

from absl import app
from absl import flags

from ae_jax import tasks
from ae_jax.tasks import evaluate
from ae_jax.tasks import markdown
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
    'A second trained work directory to compare with (denoise, jacobian, '
    'superres).',
)
_TASK_OPTIONS = cli.define_task_options()
flags.mark_flags_as_required(['workdir'])
cli.mark_paths_nonempty('workdir', 'baseline_workdir')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  if _TASK.value is not None and not _TASK.value:  # --task= (an unset var).
    sys.exit(
        'error: --task is empty; name some tasks, or leave the flag out for '
        'the ones that apply to the model.'
    )
  results = cli.exit_on_user_error(
      lambda: evaluate.evaluate(
          _WORKDIR.value,
          _TASK.value,
          _BASELINE.value,
          options=cli.task_options(_TASK_OPTIONS),
      )
  )
  for name, result in results.items():
    print(markdown.task_tables(name, result))


if __name__ == '__main__':
  cli.run(main)
