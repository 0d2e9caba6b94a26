r"""Start-up cost: what importing ae_jax and launching a binary take.

  python -m benchmarks.startup [--repeats=5]

Each command runs in a fresh interpreter, ``--repeats`` times, interleaved;
the median wall time is printed beside its ratio to ``import jax`` alone
(the floor every JAX program pays), measured in the same rounds.
"""

import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags

_REPEATS = flags.DEFINE_integer('repeats', 5, 'Runs of each command.')

COMMANDS = {
    'import jax': ['-c', 'import jax'],
    'import ae_jax.losses': ['-c', 'import ae_jax.losses'],
    'import ae_jax (+ ae_jax.load)': ['-c', 'import ae_jax; ae_jax.load'],
    'experiments.train --help': ['-m', 'experiments.train', '--help'],
}


def main(argv):
  del argv
  times = {name: [] for name in COMMANDS}
  for _ in range(_REPEATS.value):
    for name, args in COMMANDS.items():
      start = time.perf_counter()
      subprocess.run([sys.executable, *args], capture_output=True, check=False)
      times[name].append(time.perf_counter() - start)
  floor = statistics.median(times['import jax'])
  print('| command | median s | x import jax |')
  print('|---|---|---|')
  for name, ts in times.items():
    median = statistics.median(ts)
    print(f'| `{name}` | {median:.2f} | {median / floor:.2f} |')


if __name__ == '__main__':
  app.run(main)
