"""Evaluation tasks run on a trained work directory, each against its baseline.

``run(name, trained, dataset, baseline=None, outdir=None) -> dict`` of plain
numbers (JSON ready); figures go to ``outdir``. One module per application:
`reconstruction` (pca, sparsity, jacobian), `denoising`, `features` (probe),
`generative` (prior, nll, latent, generate), `visualization` (visualize),
`compression`, `clustering` (cluster), `projector`, `superres`. Each task
measures the property a model family is built for:

  'pca'       test reconstruction MSE against PCA with as many components as
              the code (Hinton & Salakhutdinov 2006);
  'sparsity'  fraction of near-zero code entries and each unit's mean
              activation (against ``config.sparsity_target`` for KL sparsity);
  'denoise'   PSNR and SSIM of noisy and denoised test images at several noise types
              and levels, and of a baseline model fed the same noisy input;
  'jacobian'  mean Frobenius norm of the encoder Jacobian on test images
              (contractive AE), and the baseline model's;
  'probe'     logistic-regression accuracy on the codes, on raw pixels and on
              PCA features of the same size (and the model's own accuracy for
              a classifier), and a label-efficiency curve (100, 1,000, all
              labels; label_efficiency.png);
  'visualize' 2-D embeddings of the test codes (PCA / t-SNE) beside PCA
              (and t-SNE) of the pixels, each scored by 5-NN accuracy and
              silhouette; embedding.png;
  'prior'     MMD between test codes and the model's prior (adversarial
              autoencoder), against a baseline model's codes;
  'nll'       importance-sampled test negative log-likelihood (k = 5000) of a
              VAE or IWAE;
  'latent'    per-dimension KL, active units, total correlation and MMD to
              N(0, I) of a VAE-family model's codes; the active units of
              each layer of a two-stochastic-layer VAE;
  'generate'  prior samples (pixel MMD to test images) and latent
              interpolations;
  'compression'  bits per test image of the quantised code against test MSE
              (fixed and entropy-coded rate), against PCA with as many
              components and the same quantiser;
  'disentanglement'  BetaVAE and FactorVAE scores, MIG, DCI, SAP,
              modularity and explicitness of a model trained on a
              ground-truth set (dsprites, xy_sprites), a per-factor table,
              latent traversals and the MI matrix (`disentanglement`);
  'cluster'   k-means (k = number of classes) on the test codes, on raw
              pixels and on PCA features of the code size: Hungarian
              clustering accuracy and NMI (the autoencoder + k-means of
              DEC, Xie et al. 2016);
  'projector' (asked for only) the first test codes, labels and image
              sprites for TensorBoard's embedding projector, in
              ``projector/``;
  'superres'  PSNR and SSIM of test images average-pooled by 2 and 4 and
              upsampled by the model, bicubic and nearest-neighbour
              interpolation (and a baseline model); superres.png; by default
              only for a model trained with ``noise='downsample'``.

`default_tasks(trained)` picks those that apply to a model, leaving out the
slow `nll` and the `projector` export.
"""

import numpy as np

from ae_jax import figures
from ae_jax.models import capabilities
from ae_jax.tasks import clustering
from ae_jax.tasks import compression
from ae_jax.tasks import denoising
from ae_jax.tasks import disentanglement
from ae_jax.tasks import features
from ae_jax.tasks import generative
from ae_jax.tasks import projector
from ae_jax.tasks import reconstruction
from ae_jax.tasks import superres
from ae_jax.tasks import visualization
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
    'generate': generative.generate,
    'compression': compression.compression,
    'visualize': visualization.visualize,
    'disentanglement': disentanglement.disentanglement,
    'cluster': clustering.cluster,
    'projector': projector.projector,
    'superres': superres.superres,
}
# Tasks that sample their own observations (the run's dataset is not loaded
# for them).
DRAW_THEIR_OWN_DATA = frozenset({'disentanglement'})
# Checks a task makes on a run's config before any data is loaded.
PRECHECKS = {'disentanglement': disentanglement.check, 'probe': features.check}


# The tasks run by default, in this order, and the capability each needs
# (`ae_jax.models.capabilities`); 'nll' and 'jacobian' of a model that is
# not contractive run only when asked for.
DEFAULT_WHEN = {
    'pca': capabilities.reconstructs,
    'visualize': capabilities.reconstructs,
    'probe': lambda model: True,  # Features of every model.
    'cluster': capabilities.reconstructs,
    'denoise': capabilities.reconstructs,
    'compression': capabilities.reconstructs,
    'generate': capabilities.reconstructs,
    'superres': capabilities.is_super_resolution,
    'sparsity': capabilities.is_sparse,
    'jacobian': capabilities.is_contractive,
    'prior': capabilities.has_prior,
    'latent': lambda model: isinstance(
        model,
        (capabilities.LatentVariableModel, capabilities.StochasticLayers),
    ),
}
# Default tasks that need the data to have ground-truth factors.
DEFAULT_WHEN_FACTORS = ('disentanglement',)
# Tasks that score codes against the labels: not for unlabelled data.
LABEL_TASKS = frozenset({'probe', 'cluster', 'visualize'})
# Tasks that corrupt, draw or score images: not for vectors that are not
# images (a csv: table; `TrainedModel.is_images`) nor for images that cannot
# be drawn (`figures.drawable`).
IMAGE_TASKS = frozenset({'denoise', 'generate', 'compression', 'superres'})


def default_tasks(trained) -> list[str]:
  """The tasks that apply to ``trained``'s model, in a fixed order.

  Every task that measures something the model has; `nll` (k = 5000
  importance samples, many minutes on a CPU) only when asked for.
  """
  names = [n for n, applies in DEFAULT_WHEN.items() if applies(trained.model)]
  if not figures.drawable(
      getattr(trained, 'is_images', True), trained.input_shape
  ):
    names = [n for n in names if n not in IMAGE_TASKS]
  if trained.latent_dim >= np.prod(trained.input_shape):  # A narrow table.
    names = [n for n in names if n != 'pca']
  if getattr(trained, 'num_classes', None) == 1:  # Unlabelled data.
    names = [n for n in names if n not in LABEL_TASKS]
  if disentanglement.has_factors(trained):
    names += list(DEFAULT_WHEN_FACTORS)
  return names


def check(names, config=None, options=None, *, flag: str = '--task') -> None:
  """Refuses, before any work: an unknown name in ``names``, ``options``
  for a task ``names`` leaves out, and (given the run's ``config``) what a
  task's `PRECHECKS` entry refuses. ``flag`` is the one the user typed."""
  options = options or {}
  for name in names:
    if name not in TASKS:
      raise ValueError(
          f'Unknown task {name!r}; use {flag} with some of {sorted(TASKS)}.'
      )
  for name in options:
    if name not in names:
      raise ValueError(
          f'Options for task {name!r} were given but {flag} does not name '
          f'it; add {flag}={name} or drop the option.'
      )
  if config is not None:
    for name in names:
      if name in PRECHECKS:
        PRECHECKS[name](config, **options.get(name, {}))


def run(name, trained, dataset, baseline=None, outdir=None, **options) -> dict:
  """Task ``name`` on ``trained``; figures (if any) go to ``outdir``;
  ``options`` are the task's own keyword arguments (e.g. ``points`` of
  'disentanglement')."""
  if name not in TASKS:
    raise ValueError(f'Unknown task {name!r}; use one of {sorted(TASKS)}.')
  if name in IMAGE_TASKS and not figures.drawable(
      getattr(dataset, 'is_images', True), dataset.input_shape
  ):
    raise ValueError(
        f'Task {name!r} works on images of 1 or 3 channels; {dataset.name} '
        f'holds examples of shape {dataset.input_shape}. Leave '
        f'it out of --task (tasks for vectors: pca, probe, visualize, '
        'cluster, latent, sparsity).'
    )
  return TASKS[name](trained, dataset, baseline, outdir, **options)
