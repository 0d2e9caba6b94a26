r"""Trains any registered model on any registered dataset.

  python -m experiments.train --config=experiments/configs/vae.py --workdir=runs/vae \
      [--config.latent_dim=2 ...]

Rerunning the same command on the same --workdir resumes from its last
checkpoint. Everything here is a thin wrapper of
`ae_jax.train.train_and_evaluate`, which tests and notebooks call directly.
"""

import json
import logging as std_logging
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from ae_jax import data
from ae_jax import train

_CONFIG = config_flags.DEFINE_config_file(
    'config',
    None,
    'Experiment config file (experiments/configs/*.py[:args]).',
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Directory for checkpoints, ' 'metrics and figures.'
)
flags.mark_flags_as_required(['config', 'workdir'])

# Errors that are the user's to fix: print the message, not a traceback.
USER_ERRORS = (
    ValueError,
    TypeError,
    data.DatasetNotFoundError,
    train.NonFiniteLossError,
)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  # Orbax logs every file it writes at INFO; keep ours, drop its chatter.
  logging.get_absl_handler().addFilter(
      lambda r: '/orbax/' not in r.pathname or r.levelno >= std_logging.WARNING
  )
  try:
    summary = train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except USER_ERRORS as e:
    logging.debug('Traceback of the error below:', exc_info=True)
    sys.exit(f'error: {e}')
  print(json.dumps(summary, indent=2))


if __name__ == '__main__':
  app.run(main)
