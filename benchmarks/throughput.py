r"""Training throughput: the real training loop against a bare jitted step.

  python -m benchmarks.throughput [--models=ae,vae] [--batch_sizes=128,1024]
  python -m benchmarks.throughput --models=vae,beta_vae,capacity_vae,info_vae,\
      iwae,factor_vae,aae --batch_sizes=128

`--models` names the entries of `VARIANTS`: each is the same MLP 784-512-20
(discriminators 512-512, the config default) with its own objective, so the
step rate shows what each objective costs next to the plain VAE's.

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

import time

from absl import app
from absl import flags
import jax

from ae_jax import data
from ae_jax.train import trainer
from benchmarks import harness
from experiments.configs import common

# Config overrides on top of the shared MLP 784-512-20: one per objective.
VARIANTS = {
    'ae': dict(model='ae'),
    'vae': dict(model='vae'),
    'beta_vae': dict(model='vae', beta=4.0),
    'capacity_vae': dict(
        model='vae',
        capacity_max=25.0,
        capacity_gamma=1000.0,
        capacity_steps=2000,
    ),
    'info_vae': dict(model='vae', beta=0.0, mmd_weight=10.0),
    'iwae': dict(model='iwae', iwae_samples=50),
    'factor_vae': dict(model='factor_vae', tc_weight=10.0),
    'aae': dict(model='aae'),
    'conv_vae': dict(model='vae', encoder='conv', layout='hwc'),
    # Issue 17's objectives, on the same network where they have one.
    'beta_tc_vae': dict(model='beta_tc_vae', beta=6.0),
    'wae': dict(model='wae'),
    'vampprior': dict(model='vampprior'),
    'rae_l2': dict(model='rae'),
    'rae_gp': dict(
        model='rae', decoder_l2_weight=0.0, gradient_penalty_weight=1e-7
    ),
    'vq_vae': dict(model='vq_vae', latent_dim=32),
    'planar_vae': dict(model='flow_vae', flow='planar'),
    'iaf_vae': dict(model='flow_vae', flow='iaf', flow_length=4),
    'miwae': dict(model='miwae', outer_samples=4, iwae_samples=4),
    'hierarchical_vae': dict(model='hierarchical_vae'),
    'vae_gan': dict(model='vae_gan'),
}

_MODELS = flags.DEFINE_list(
    'models', ['ae', 'vae'], f'Entries of VARIANTS: {", ".join(VARIANTS)}.'
)
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


def _config(variant: str, batch_size: int, dataset: str, steps: int):
  config = harness.mlp_config(batch_size, dataset, steps)
  config.update(VARIANTS[variant])
  return config


def bare_step(config, dataset, steps: int) -> tuple[float, float]:
  """(compile seconds, steps/s) of the jitted step on a device-resident batch."""
  jitted, state, batch = harness.bare_step_setup(config, dataset, steps)
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


loop = harness.loop


def main(argv):
  del argv
  unknown = [m for m in _MODELS.value if m not in VARIANTS]
  if unknown:
    raise app.UsageError(
        f'--models: unknown {unknown}; choose from {", ".join(VARIANTS)}.'
    )
  layouts = sorted({VARIANTS[m].get('layout', 'flat') for m in _MODELS.value})
  try:
    datasets = {
        l: data.load_dataset('fashion_mnist', layout=l) for l in layouts
    }
  except data.DatasetNotFoundError:
    datasets = {l: data.load_dataset('digits', layout=l) for l in layouts}
  dataset = datasets[layouts[0]]
  print(
      f'dataset {dataset.name} ({len(dataset.train_images)} train), '
      f'{jax.device_count()} {jax.devices()[0].platform} device(s), '
      'MLP encoder 512, 20-d code, decoder mirrored (conv_vae: conv 32-64)'
  )
  header = (
      f'{"model":12} {"batch":>6} {"compile s":>10} {"bare step/s":>12} '
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
      dataset = datasets[config.layout]
      k = trainer.steps_per_call(config, 0, steps)
      bare, looped, compile_s = 0.0, 0.0, None
      for _ in range(_REPEATS.value):
        c, b = bare_step(config, dataset, steps)
        compile_s = c if compile_s is None else min(compile_s, c)
        bare = max(bare, b)
        looped = max(looped, loop(config))
      print(
          f'{name:12} {batch_size:>6} {compile_s:>10.2f} {bare:>12.1f} '
          f'{looped:>12.1f} {looped * batch_size:>11.0f} {looped / bare:>10.1%} '
          f'{k:>10}',
          flush=True,
      )


if __name__ == '__main__':
  app.run(main)
