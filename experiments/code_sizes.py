r"""Dimensionality reduction: test reconstruction MSE against PCA per code size.

  python -m experiments.code_sizes --config=experiments/configs/ae.py:dataset=fashion_mnist \
      --workdir=runs/code_sizes [--code_sizes=2,10,30] [--config.num_epochs=10 ...]

Trains the config once per code size (``config.latent_dim``) in
``<workdir>/code_<k>`` (resumable: rerunning skips finished sizes), then
compares each model's test reconstruction MSE with PCA of as many components
fitted on the same training images (the `pca` evaluation task). Writes
``code_sizes.json`` and ``code_sizes.png`` (MSE against code size, both
methods) and prints a Markdown table. Each size has its own shapes, so each
compiles its own step.
"""

import json

from absl import app
from absl import flags
from etils import epath
from ml_collections import config_flags

import ae_jax
from ae_jax import configs
from ae_jax import figures
from ae_jax import tasks
from ae_jax import train
from ae_jax.tasks import markdown
from ae_jax.train import run_files
from ae_jax.train import workdir as workdir_lib
from experiments import cli

_CONFIG = config_flags.DEFINE_config_file(
    'config',
    'experiments/configs/ae.py',
    'Experiment config file (experiments/configs/*.py[:args]).',
    lock_config=False,
)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.')
_CODE_SIZES = flags.DEFINE_list(
    'code_sizes', ['2', '10', '30'], 'Code sizes (latent_dim) to train.'
)
flags.mark_flags_as_required(['workdir'])
cli.mark_paths_nonempty('workdir')


def parse_sizes(values: list[str]) -> list[int]:
  """``--code_sizes`` as positive ints, checked before anything trains."""
  try:
    sizes = [int(v) for v in values]
  except ValueError as e:
    raise ValueError(
        f'--code_sizes={",".join(values)}: give positive integers, e.g. '
        '--code_sizes=2,10,30'
    ) from e
  if not sizes or min(sizes) < 1 or len(set(sizes)) != len(sizes):
    raise ValueError(
        f'--code_sizes={",".join(values)}: give distinct positive integers, '
        'e.g. --code_sizes=2,10,30'
    )
  return sorted(sizes)


def sweep(config, workdir, sizes: list[int]) -> list[dict]:
  """Trains and evaluates one model per code size; returns the table rows."""
  workdir = epath.Path(workdir)
  runs = []
  for k in sizes:  # Every config is built and checked before any training.
    c = configs.with_defaults(config.to_dict())
    c.latent_dim = k
    c.progress_bar = False
    train.check_config(c)
    run_files.check_workdir(workdir / f'code_{k}', c)
    runs.append((k, c))
  rows = []
  for k, c in runs:
    run_dir = workdir / f'code_{k}'
    train.train_and_evaluate(c, run_dir)
    trained = ae_jax.load(run_dir)
    result = tasks.run('pca', trained, tasks.load_data(trained))
    rows.append(
        {
            'code_size': k,
            'model_mse': result['ae_mse'],
            'pca_mse': result['pca_mse'],
            'model_over_pca': result['ae_over_pca'],
        }
    )
  workdir_lib.write_text(
      workdir / 'code_sizes.json', json.dumps(rows, indent=2)
  )
  figures.save_curves(
      workdir / 'code_sizes.png',
      {
          f'{config.model} ({config.encoder})': (
              sizes,
              [r['model_mse'] for r in rows],
          ),
          'PCA': (sizes, [r['pca_mse'] for r in rows]),
      },
      xlabel='code size (dimensions)',
      ylabel='test reconstruction MSE per pixel',
      title=f'Dimensionality reduction on {config.dataset}',
      logx=True,
      logy=True,
  )
  return rows


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  rows = cli.exit_on_user_error(
      lambda: sweep(
          _CONFIG.value, _WORKDIR.value, parse_sizes(_CODE_SIZES.value)
      )
  )
  print(
      markdown.table(
          rows, ['code_size', 'model_mse', 'pca_mse', 'model_over_pca']
      )
  )


if __name__ == '__main__':
  cli.run(main)
