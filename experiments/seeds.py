r"""Trains one config with several seeds and prints mean and spread of test metrics.

  python -m experiments.seeds --config=experiments/configs/vae.py:dataset=fashion_mnist \
      --workdir=runs/vae_fmnist --seeds=0,1,2 --metrics=neg_elbo,loss_kl,loss_rec

Each seed trains in ``<workdir>/seed_<n>`` (resumable like experiments.train);
the table is also written to ``<workdir>/seeds.json``.
"""

import json
import sys

from absl import flags
from etils import epath
from ml_collections import config_flags
import numpy as np

from ae_jax import train
from ae_jax.tasks import markdown
from ae_jax.train import workdir as workdir_lib
from experiments import cli

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Parent of the per-seed runs.')
_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds to train.')
_METRICS = flags.DEFINE_list(
    'metrics', ['loss'], 'Final test metrics to report.'
)
flags.mark_flags_as_required(['config', 'workdir'])
cli.mark_paths_nonempty('workdir')


def parse_seeds(values: list[str]) -> list[int]:
  """``--seeds`` as distinct integers in ``[0, 2**32 - 1]``, all checked
  before the first seed trains (`config.seed`'s range)."""
  if not _METRICS.value:
    raise ValueError('--metrics is empty; name test metrics, e.g. loss.')
  seeds = cli.parse_distinct('seeds', values, int, '0,1,2')
  bad = [s for s in seeds if not 0 <= s <= 2**32 - 1]
  if bad:
    raise ValueError(
        f"--seeds: {bad} outside [0, 2**32 - 1] (config.seed's range); "
        'use e.g. --seeds=0,1,2.'
    )
  return seeds


def main(argv):
  del argv
  cli.setup_logging()
  seeds = cli.exit_on_user_error(lambda: parse_seeds(_SEEDS.value))
  results = {}
  for seed in seeds:
    config = _CONFIG.value.copy_and_resolve_references()
    config.seed = seed
    workdir = epath.Path(_WORKDIR.value) / f'seed_{seed}'
    summary = cli.exit_on_user_error(
        lambda: train.train_and_evaluate(config, workdir)  # pylint: disable=cell-var-from-loop
    )
    results[seed] = summary['test']
    unknown = set(_METRICS.value) - set(results[seed])
    if unknown:  # After one seed, not all: its run is saved and resumes.
      sys.exit(
          f'error: unknown --metrics {sorted(unknown)}; this model reports '
          f'{sorted(results[seed])}.'
      )
  rows = {}
  for name in _METRICS.value:
    values = np.array([results[s][name] for s in results])
    rows[name] = {
        'mean': float(values.mean()),
        'spread': float(values.max() - values.min()),
        'per_seed': values.tolist(),
    }
  print(
      markdown.table(
          [
              {
                  'metric': name,
                  'mean': row['mean'],
                  'spread (max-min)': row['spread'],
                  'per seed': ', '.join(f'{v:.4g}' for v in row['per_seed']),
              }
              for name, row in rows.items()
          ]
      )
  )
  workdir_lib.write_text(
      epath.Path(_WORKDIR.value) / 'seeds.json', json.dumps(rows, indent=2)
  )


if __name__ == '__main__':
  cli.run(main)
