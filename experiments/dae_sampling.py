r"""A denoising autoencoder as a generative model (issue 20): field and chain.

  python -m experiments.dae_sampling --outdir=runs/dae_sampling
  python -m experiments.dae_sampling --outdir=runs/dae_sampling \
      --workdir=runs/dae_fmnist --baseline_workdir=runs/vae_fmnist

The spiral study (`ae_jax.tasks.dae_chain.spiral_study`; 33 s on 2
CPU cores): trains a 2-D MLP denoising autoencoder on a spiral, writes
``field.png`` (r(x) - x over the data density) and ``chain_samples.png``, and
prints the mean cosine between the field and the KDE score and the MMD of
the chain's samples against the held-out floor and a fitted Gaussian. With
``--workdir`` (a trained image DAE, e.g. experiments/configs/denoising_ae.py)
it also runs that model's chain from uniform noise and prints the Frechet
distance of its states (`image_chain`) beside ``--baseline_workdir``'s
samples. Results: ``<outdir>/dae_sampling_*.json``.
"""

import json

from absl import app
from absl import flags

from ae_jax.tasks import dae_chain
from experiments import cli

_OUTDIR = flags.DEFINE_string(
    'outdir', None, 'Directory for the spiral run, figures and JSON results.'
)
_TRAIN_STEPS = flags.DEFINE_integer(
    'train_steps',
    dae_chain.SpiralSettings.train_steps,
    'Training steps of the spiral DAE.',
)
_SPIRAL = flags.DEFINE_bool('spiral', True, 'Run the spiral study.')
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'A trained image denoising autoencoder to sample.'
)
_BASELINE = flags.DEFINE_string(
    'baseline_workdir',
    None,
    "A model whose samples are scored beside the chain's (e.g. a VAE).",
)
_STEPS = flags.DEFINE_integer('chain_steps', 100, 'Image chain length.')
_THIN = flags.DEFINE_integer(
    'chain_thin', 25, 'Score every this many image chain steps.'
)
_OUTPUT = flags.DEFINE_enum(
    'output',
    'mean',
    dae_chain.OUTPUTS,
    "Image chain step: the decoder mean or a draw ('sample').",
)
flags.mark_flags_as_required(['outdir'])
cli.mark_paths_nonempty('outdir', 'workdir', 'baseline_workdir')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  results = cli.exit_on_user_error(
      lambda: dae_chain.run(
          _OUTDIR.value,
          spiral=_SPIRAL.value,
          train_steps=_TRAIN_STEPS.value,
          workdir=_WORKDIR.value,
          baseline_workdir=_BASELINE.value,
          chain_steps=_STEPS.value,
          chain_thin=_THIN.value,
          output=_OUTPUT.value,
      )
  )
  print(json.dumps(results, indent=2))


if __name__ == '__main__':
  cli.run(main)
