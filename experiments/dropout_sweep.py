r"""Dropout autoencoder over dropout rates: test reconstruction and linear-probe accuracy.

  python -m experiments.dropout_sweep --dataset=fashion_mnist --workdir=runs/dropout_sweep

Trains `experiments/configs/dropout_ae.py` once per rate (in
``<workdir>/rate_<r>``, resumable), then fits a logistic-regression probe on
each model's training codes. Writes ``sweep.json`` and ``sweep.png`` (test MSE
and probe accuracy against the rate) and prints a Markdown table.
"""

import json

from absl import app
from absl import flags
from etils import epath

import ae_jax
from ae_jax import figures
from ae_jax import tasks
from ae_jax import train
from ae_jax.metrics import probes
from ae_jax.tasks import markdown
from ae_jax.train import workdir as workdir_lib
from experiments import cli
from experiments.configs import dropout_ae

_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.')
_DATASET = flags.DEFINE_string('dataset', 'digits', 'Dataset name.')
_RATES = flags.DEFINE_list(
    'rates', ['0', '0.1', '0.2', '0.3', '0.4', '0.5'], 'Dropout rates.'
)
_SMOKE = flags.DEFINE_bool('smoke', False, 'Tiny models, a few steps.')
flags.mark_flags_as_required(['workdir'])
cli.mark_paths_nonempty('workdir')


def sweep(workdir, dataset: str, rates: list[float], smoke: bool) -> list[dict]:
  for rate in rates:  # Every config is checked before anything trains.
    if not 0 <= rate < 1:
      raise ValueError(f'--rates: {rate} is not a dropout rate in [0, 1).')
  workdir = epath.Path(workdir)
  rows = []
  for i, rate in enumerate(rates):
    arg = f'dataset={dataset},rate={rate}' + (',smoke' if smoke else '')
    config = dropout_ae.get_config(arg)
    config.progress_bar = False
    run_dir = workdir / f'rate_{rate}'
    try:
      summary = train.train_and_evaluate(config, run_dir)
    except ValueError as e:
      if i or 'config.dataset' not in str(e):
        raise
      # This binary's flag is --dataset, not the config field.
      raise ValueError(
          str(e)
          .replace('--config.dataset', '--dataset')
          .replace('config.dataset', '--dataset')
      ) from e
    trained = ae_jax.load(run_dir)
    data = tasks.load_data(trained)
    codes = lambda x: tasks.codes(trained, x)
    rows.append(
        {
            'dropout_rate': rate,
            'test_mse': summary['test']['mse'],
            'test_loss': summary['test']['loss'],
            'probe_accuracy': probes.linear_probe_accuracy(
                codes(data.train_images),
                data.train_labels,
                codes(data.test_images),
                data.test_labels,
            ),
        }
    )
  workdir_lib.write_text(workdir / 'sweep.json', json.dumps(rows, indent=2))
  figures.save_sweep(
      workdir / 'sweep.png',
      rates,
      ('test reconstruction MSE per pixel', [r['test_mse'] for r in rows]),
      ('linear-probe test accuracy', [r['probe_accuracy'] for r in rows]),
      xlabel='dropout rate (hidden units, training only)',
      title=f'Dropout autoencoder on {dataset}',
  )
  return rows


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  rates = cli.exit_on_user_error(
      lambda: cli.parse_distinct('rates', _RATES.value, float, '0,0.2,0.4')
  )
  rows = cli.exit_on_user_error(
      lambda: sweep(_WORKDIR.value, _DATASET.value, rates, _SMOKE.value)
  )
  print(markdown.table(rows, ['dropout_rate', 'test_mse', 'probe_accuracy']))


if __name__ == '__main__':
  cli.run(main)
