"""Evaluation tasks run on a trained work directory, each against its baseline.

``run(name, trained, dataset, baseline=None) -> dict`` of plain numbers (JSON
ready). Each task measures the property a model family is built for:

  'pca'       test reconstruction MSE against PCA with as many components as
              the code (Hinton & Salakhutdinov 2006);
  'sparsity'  fraction of near-zero code entries and each unit's mean
              activation (against ``config.sparsity_target`` for KL sparsity);
  'denoise'   PSNR of noisy and denoised test images at several noise types
              and levels, and of a baseline model fed the same noisy input;
  'jacobian'  mean Frobenius norm of the encoder Jacobian on test images
              (contractive AE), and the baseline model's;
  'probe'     logistic-regression accuracy on the codes, on raw pixels and on
              PCA features of the same size (and the model's own accuracy for
              a classifier);
  'prior'     MMD between test codes and the model's prior (adversarial
              autoencoder), against a baseline model's codes;
  'nll'       importance-sampled test negative log-likelihood (k = 5000) of a
              VAE or IWAE;
  'latent'    per-dimension KL, active units and a latent interpolation grid
              of a VAE-family model.
"""

from ae_jax.tasks import denoising
from ae_jax.tasks import features
from ae_jax.tasks import generative
from ae_jax.tasks import reconstruction
from ae_jax.tasks.common import codes
from ae_jax.tasks.common import load_data
from ae_jax.tasks.generative import scaled_prior_mmd

TASKS = {
    'pca': reconstruction.pca,
    'sparsity': reconstruction.sparsity,
    'denoise': denoising.denoise,
    'jacobian': reconstruction.jacobian,
    'probe': features.probe,
    'prior': generative.prior,
    'nll': generative.nll,
    'latent': generative.latent,
}


def run(name, trained, dataset, baseline=None, outdir=None) -> dict:
  """Task ``name`` on ``trained``; figures (if any) go to ``outdir``."""
  if name not in TASKS:
    raise ValueError(f'Unknown task {name!r}; use one of {sorted(TASKS)}.')
  return TASKS[name](trained, dataset, baseline, outdir)
