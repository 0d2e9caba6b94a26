r"""Trains K models that differ in seed and/or hyperparameters in one program.

  python -m experiments.sweep --config=experiments/configs/beta_vae.py:dataset=fashion_mnist \
      --sweep.beta=0.5,1,2,4 --workdir=runs/sweep_beta
  python -m experiments.sweep --config=experiments/configs/vae.py --sweep.seed=0,1,2,3 \
      --sweep.learning_rate=1e-3,3e-4 --workdir=runs/sweep_seed_lr
  # 8 GPUs as 4 (model) x 2 (data): 2 members per GPU pair, batches split in 2.
  python -m experiments.sweep --config=experiments/configs/vae.py \
      --sweep.seed=0,1,2,3,4,5,6,7 --model_parallel=4 --workdir=runs/sweep_8

  # A disentanglement study: 3 betas x 3 seeds, every member's metrics.
  python -m experiments.sweep \
      --config=experiments/configs/beta_vae.py:dataset=xy_sprites \
      --sweep.beta=1,4,16 --sweep.seed=0,1,2 --evaluate=disentanglement \
      --workdir=runs/study_beta

Every combination of the given values is one member (`ae_jax.train.sweep`):
all members train together under `jax.vmap` in one compiled step. Writes
``sweep.json`` (per-member test metrics), ``sweep.png`` (each member's test
loss and a second metric against the first swept field), ``member_<i>/`` work
directories that ``experiments.evaluate`` and `ae_jax.load` read, and prints
a Markdown table. The members' stacked state is checkpointed every
``checkpoint_every_steps`` in ``<workdir>/checkpoints``: SIGTERM or Ctrl-C
saves and stops (exit 143 or 130), and the same command resumes.

``--model_parallel=N`` spreads the members over N devices (a 'model' mesh
axis; N must divide the member count and the device count); the remaining
devices split each member's batch (a 'data' axis), so the default, N=1, is
data parallelism over every device, as in ``experiments.train``.
"""

import json
import sys

from absl import app
from absl import flags
from etils import epath
import ml_collections
from ml_collections import config_flags

from ae_jax import figures
from ae_jax import tasks
from ae_jax.tasks import disentanglement
from ae_jax.tasks import evaluate
from ae_jax.tasks import markdown
from ae_jax.train import preemption
from ae_jax.train import sharding
from ae_jax.train import sweep as sweep_lib
from experiments import cli

_CONFIG = config_flags.DEFINE_config_file(
    'config',
    None,
    'Experiment config file (experiments/configs/*.py[:args]).',
    lock_config=True,
)
cli.refuse_unknown_override_fields()
_SWEEP = config_flags.DEFINE_config_dict(
    'sweep',
    ml_collections.ConfigDict({f: '' for f in sweep_lib.SWEEPABLE}),
    'Comma-separated values per field, e.g. --sweep.beta=0.5,1,2,4 '
    f'(fields: {", ".join(sweep_lib.SWEEPABLE)}).',
)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.')
_MODEL_PARALLEL = flags.DEFINE_integer(
    'model_parallel',
    1,
    'Devices the members are split across (a "model" mesh axis); the other '
    "devices split each member's batch. Must divide the number of members.",
)
_EVALUATE = flags.DEFINE_list(
    'evaluate',
    None,
    'Evaluation tasks to run on every member after training (e.g. '
    'disentanglement): sweep_<task>.json, a table, and for disentanglement '
    'sweep_disentanglement.png (each metric against the swept field, a '
    'point per member).',
)
_TASK_OPTIONS = cli.define_task_options()
flags.mark_flags_as_required(['config', 'workdir'])
cli.mark_paths_nonempty('workdir')


def parse(sweep: ml_collections.ConfigDict) -> dict[str, list[float]]:
  """``--sweep.<field>=v1,v2,...`` as numbers, in the order of SWEEPABLE."""
  out = {}
  for field in sweep_lib.SWEEPABLE:
    text = sweep[field].strip()
    if not text:
      continue
    try:
      out[field] = [float(v) for v in text.split(',')]
    except ValueError as e:
      raise ValueError(
          f'--sweep.{field}={text!r}: give comma-separated numbers, e.g. '
          f'--sweep.{field}=0.5,1,2'
      ) from e
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  values = cli.exit_on_user_error(lambda: parse(_SWEEP.value))
  options = cli.task_options(_TASK_OPTIONS)
  cli.exit_on_user_error(  # Before training: a bad task would waste it.
      lambda: tasks.check(
          _EVALUATE.value or [], _CONFIG.value, options, flag='--evaluate'
      )
  )
  try:
    rows = cli.exit_on_user_error(
        lambda: sweep_lib.train_sweep(
            _CONFIG.value,
            values,
            _WORKDIR.value,
            mesh=sharding.make_sweep_mesh(_MODEL_PARALLEL.value),
        )
    )
  except preemption.Preempted as e:
    # Saved; the shell's convention for "terminated by signal N".
    print(f'stopped: {e}', file=sys.stderr)
    sys.exit(128 + e.signum)
  workdir = epath.Path(_WORKDIR.value)
  summary = json.loads((workdir / 'sweep.json').read_text())
  print(markdown.table(rows, digits=5))
  print(
      f"{summary['members']} members, {summary['steps']} steps, compiled in "
      f"{summary['compile_seconds']:.1f} s, {summary['steps_per_second']:.1f} "
      f"sweep steps/s ({summary['model_steps_per_second']:.1f} model steps/s)"
  )
  if len(values) == 1:
    figures.save_sweep_result(workdir / 'sweep.png', rows, summary['model'])
  if _EVALUATE.value:
    evaluated = cli.exit_on_user_error(
        lambda: evaluate.evaluate_members(
            str(workdir), rows, _EVALUATE.value, options=options
        )
    )
    print(markdown.table(evaluated, digits=4))
    if 'disentanglement' in _EVALUATE.value:
      disentanglement.save_sweep_figure(
          workdir / 'sweep_disentanglement.png',
          evaluated,
          summary['model'],
          fields=list(values),
      )


if __name__ == '__main__':
  cli.run(main)
