r"""Trains any registered model on any registered dataset.

  python -m experiments.train --config=experiments/configs/vae.py --workdir=runs/vae \
      [--config.latent_dim=2 ...]

Rerunning the same command on the same --workdir resumes from its last
checkpoint. Everything here is a thin wrapper of
`ae_jax.train.train_and_evaluate`, which tests and notebooks call directly.

Multi-host (every process runs the same command; see BUILD.md):
  --distributed=auto (default) joins a multi-process job where the environment
  says there is one (TPU VM slice, SLURM, Open MPI); --distributed=on with
  --coordinator_address=host0:1234 --num_processes=N --process_id=i starts one
  by hand; --distributed=off never does. Process 0 writes the files; every
  process prints its summary with a checksum of its final parameters.
"""

import json
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from ae_jax import train
from ae_jax.train import distributed
from experiments import cli

_CONFIG = config_flags.DEFINE_config_file(
    'config',
    None,
    'Experiment config file (experiments/configs/*.py[:args]).',
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory for checkpoints, metrics and figures.'
)
_DISTRIBUTED = flags.DEFINE_enum(
    'distributed',
    'auto',
    list(distributed.MODES),
    'Multi-process JAX: auto (start it on a detected TPU VM slice, SLURM or '
    'Open MPI job), on (always; give the three flags below unless on such a '
    'cluster) or off.',
)
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address',
    None,
    "Process 0's host:port, the same on every process (--distributed=on).",
)
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', None, 'Number of processes in the job.', lower_bound=1
)
_PROCESS_ID = flags.DEFINE_integer(
    'process_id',
    None,
    "This process's id in 0..num_processes-1.",
    lower_bound=0,
)
flags.mark_flags_as_required(['config', 'workdir'])
cli.mark_paths_nonempty('workdir')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  # Before anything touches a device: JAX cannot join a job afterwards.
  cli.exit_on_user_error(
      lambda: distributed.initialize(
          _DISTRIBUTED.value,
          _COORDINATOR.value,
          _NUM_PROCESSES.value,
          _PROCESS_ID.value,
      )
  )
  try:
    summary = cli.exit_on_user_error(
        lambda: train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    )
  except train.Preempted as e:
    # Saved; the shell's convention for "terminated by signal N".
    print(f'stopped: {e}', file=sys.stderr)
    sys.exit(128 + e.signum)
  print(json.dumps(summary, indent=2))


if __name__ == '__main__':
  cli.run(main)
