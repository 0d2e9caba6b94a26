r"""K models in one vmapped program against K sequential runs of the binary.

  python -m benchmarks.sweep [--k=8] [--steps=1000] \
      [--config=experiments/configs/vae.py:dataset=fashion_mnist]

Both sides are what a user would type, timed end to end as subprocesses in
one run (so the ratio is not skewed by other load on a shared machine):

  * sequential: ``python -m experiments.train --config.seed=i`` for i < K,
    one after another (each loads data, compiles, trains, evaluates, writes
    its checkpoint and figures);
  * vmapped: ``python -m experiments.sweep --sweep.seed=0,...,K-1`` (loads
    once, compiles once, trains the K models side by side, evaluates and
    writes K checkpoints).

The model is small on purpose (``--hidden=128``, 10-d code): a sweep is how
one trains many small models. Prints both wall times and their ratio.
"""

import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

_CONFIG = flags.DEFINE_string(
    'config',
    'experiments/configs/vae.py:dataset=fashion_mnist',
    'Config of every member (falls back to digits without Fashion-MNIST).',
)
_K = flags.DEFINE_integer('k', 8, 'Number of models.')
_STEPS = flags.DEFINE_integer('steps', 1000, 'Training steps per model.')
_HIDDEN = flags.DEFINE_integer('hidden', 128, 'Hidden units of the MLP.')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args: list[str]) -> float:
  start = time.perf_counter()
  proc = subprocess.run(
      [sys.executable, '-m', *args], cwd=ROOT, capture_output=True, text=True
  )
  if proc.returncode:
    sys.exit(f'{" ".join(args)} failed:\n{proc.stderr[-3000:]}')
  return time.perf_counter() - start


def _config() -> str:
  config = _CONFIG.value
  if 'fashion_mnist' in config:
    from ae_jax import data  # pylint: disable=g-import-not-at-top

    try:
      data.load_dataset('fashion_mnist')
    except data.DatasetNotFoundError:
      config = config.replace('fashion_mnist', 'digits')
  return config


def main(argv):
  del argv
  config = _config()
  common = [
      f'--config={config}',
      f'--config.num_train_steps={_STEPS.value}',
      f'--config.hidden_sizes=({_HIDDEN.value},)',
      '--config.latent_dim=10',
      '--config.progress_bar=False',
  ]
  k = _K.value
  with tempfile.TemporaryDirectory() as tmp:
    sequential = sum(
        _run(
            [
                'experiments.train',
                *common,
                f'--config.seed={i}',
                f'--workdir={tmp}/run_{i}',
            ]
        )
        for i in range(k)
    )
    vmapped = _run(
        [
            'experiments.sweep',
            *common,
            f'--sweep.seed={",".join(map(str, range(k)))}',
            f'--workdir={tmp}/sweep',
        ]
    )
  print(
      f'{k} models of {config}, MLP {_HIDDEN.value} hidden, 10-d code, '
      f'{_STEPS.value} steps each'
  )
  print(f'{"sequential runs of experiments.train":40} {sequential:8.1f} s')
  print(f'{"one experiments.sweep (vmap)":40} {vmapped:8.1f} s')
  print(f'{"speed-up":40} {sequential / vmapped:8.2f}x')


if __name__ == '__main__':
  app.run(main)
