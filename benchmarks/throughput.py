r"""Training throughput: the real training loop against a bare jitted step.

  python -m benchmarks.throughput [--models=ae,vae] [--batch_sizes=128,1024]

For each model and batch size, in one process (so the ratio is not skewed by
other load on a shared machine):
  * bare: the jitted, sharded, donated train step called back to back on one
    batch already on the device (no input pipeline, no metric fetches, no
    logging): the ceiling;
  * loop: `ae_jax.train.train_and_evaluate` itself (input pipeline, prefetch,
    metric fetches, JSONL/TensorBoard logs, progress bar), timed by the loop
    from the end of its first (compiling) call, eval and checkpoints excluded;
    it fuses `steps/call` steps per call as configured by default;
  * compile: seconds to compile the train step (lower + compile).
Uses Fashion-MNIST when it is installed, else digits (note which in the output).
Prints a table; the loop should reach >= 90% of the bare step's steps/s.
"""

import tempfile
import time

from absl import app
from absl import flags
import jax

from ae_jax import data
from ae_jax import models
from ae_jax import train
from ae_jax.train import sharding
from ae_jax.train import state as state_lib
from ae_jax.train import step as step_lib
from ae_jax.train import trainer
from experiments.configs import common

_MODELS = flags.DEFINE_list('models', ['ae', 'vae'], 'Registered model names.')
_BATCH_SIZES = flags.DEFINE_list('batch_sizes', ['128', '1024'], 'Batch sizes.')
_EXAMPLES = flags.DEFINE_integer(
    'examples',
    200_000,
    'Training examples per measurement (steps = this / batch).',
)
_REPEATS = flags.DEFINE_integer(
    'repeats',
    2,
    'Measurements per setting, alternating bare and loop; best kept.',
)


def _config(model: str, batch_size: int, dataset: str, steps: int):
  config = common.get_base_config()
  config.model = model
  config.dataset = dataset
  config.hidden_sizes = (512,)
  config.latent_dim = 20
  config.batch_size = batch_size
  config.num_train_steps = steps
  config.eval_every_steps = 0
  config.checkpoint_every_steps = steps
  config.write_figures = False
  config.progress_bar = False
  return config


def bare_step(config, dataset, steps: int) -> tuple[float, float]:
  """(compile seconds, steps/s) of the jitted step on a device-resident batch."""
  mesh = sharding.make_mesh()
  model = models.build_model(config, dataset.input_shape)
  tx = state_lib.make_optimizer(config, steps)
  state = state_lib.init_train_state(
      model,
      tx,
      init_rng=jax.random.PRNGKey(0),
      train_rng=jax.random.PRNGKey(1),
      mesh=mesh,
      batch_size=config.batch_size,
  )
  batch = next(
      data.train_batches(
          dataset.train_images,
          dataset.train_labels,
          batch_size=config.batch_size,
          seed=0,
      )
  )
  batch = sharding.put_batch(batch, mesh)
  jitted = step_lib.jit_train_step(step_lib.make_train_step(model, tx), mesh)
  t0 = time.perf_counter()
  compiled = jitted.lower(state, batch).compile()
  compile_s = time.perf_counter() - t0
  del compiled  # Timed above; the loop below calls the jitted step, as the trainer does.
  for _ in range(5):
    state, metrics = jitted(state, batch)
  jax.block_until_ready(metrics)
  t0 = time.perf_counter()
  for _ in range(steps):
    state, metrics = jitted(state, batch)
  jax.block_until_ready(metrics)
  return compile_s, steps / (time.perf_counter() - t0)


def loop(config) -> float:
  """steps/s of the real training loop, as it measures itself."""
  with tempfile.TemporaryDirectory() as workdir:
    summary = train.train_and_evaluate(config, workdir)
  return summary['train_steps_per_second']


def main(argv):
  del argv
  try:
    dataset = data.load_dataset('fashion_mnist')
  except data.DatasetNotFoundError:
    dataset = data.load_dataset('digits')
  print(
      f'dataset {dataset.name} ({len(dataset.train_images)} train), '
      f'{jax.device_count()} {jax.devices()[0].platform} device(s), '
      f'MLP {dataset.input_shape[0]}-512-20'
  )
  header = (
      f'{"model":6} {"batch":>6} {"compile s":>10} {"bare step/s":>12} '
      f'{"loop step/s":>12} {"loop ex/s":>11} {"loop/bare":>10} '
      f'{"steps/call":>10}'
  )
  print(header)
  for name in _MODELS.value:
    for batch_size in map(int, _BATCH_SIZES.value):
      # A multiple of the log interval, so the loop fuses steps_per_call
      # steps per call as it does in the default configs.
      block = common.get_base_config().log_every_steps
      steps = max(_EXAMPLES.value // batch_size // block, 1) * block
      config = _config(name, batch_size, dataset.name, steps)
      k = trainer.steps_per_call(config, 0, steps)
      bare, looped, compile_s = 0.0, 0.0, None
      for _ in range(_REPEATS.value):
        c, b = bare_step(config, dataset, steps)
        compile_s = c if compile_s is None else min(compile_s, c)
        bare = max(bare, b)
        looped = max(looped, loop(config))
      print(
          f'{name:6} {batch_size:>6} {compile_s:>10.2f} {bare:>12.1f} '
          f'{looped:>12.1f} {looped * batch_size:>11.0f} {looped / bare:>10.1%} '
          f'{k:>10}',
          flush=True,
      )


if __name__ == '__main__':
  app.run(main)
