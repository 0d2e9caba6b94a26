r"""Trains any registered model on any registered dataset.

  python -m experiments.train --config=experiments/configs/vae.py --workdir=runs/vae \
      [--config.latent_dim=2 ...]

Rerunning the same command on the same --workdir resumes from its last
checkpoint. Everything here is a thin wrapper of
`ae_jax.train.train_and_evaluate`, which tests and notebooks call directly.
"""

import json

from absl import app
from absl import flags
from ml_collections import config_flags

from ae_jax import train
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
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  summary = cli.exit_on_user_error(
      lambda: train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  )
  print(json.dumps(summary, indent=2))


if __name__ == '__main__':
  app.run(main)
