"""Reconstruction tasks: against PCA, code sparsity, encoder contraction."""

import functools

import numpy as np

from ae_jax.metrics import code_stats
from ae_jax.metrics import pca as pca_lib
from ae_jax.tasks import common

JACOBIAN_EXAMPLES = 1000


def pca(trained, dataset, baseline=None, outdir=None) -> dict:
  del outdir  # No figure.
  del baseline
  x = dataset.test_images
  width = int(np.prod(x.shape[1:]))
  if trained.latent_dim >= width:
    raise ValueError(
        f'Task pca: the code ({trained.latent_dim}-d) is at least as wide as '
        f'the inputs ({width}-d), so PCA with as many components '
        'reconstructs exactly; compare a smaller --config.latent_dim.'
    )
  ae = common.mse(common.reconstruct(trained, x), x)
  flat = lambda a: a.reshape(len(a), -1)
  pca_mse = pca_lib.pca_reconstruction_mse(
      flat(dataset.train_images), flat(x), num_components=trained.latent_dim
  )
  return {
      'code_size': trained.latent_dim,
      'ae_mse': ae,
      'pca_mse': pca_mse,
      'ae_over_pca': ae / pca_mse,
      # Summed over the pixels of an image, as Hinton & Salakhutdinov (2006)
      # report it.
      'ae_squared_error_per_image': ae * width,
      'pca_squared_error_per_image': pca_mse * width,
  }


def sparsity(trained, dataset, baseline=None, outdir=None) -> dict:
  del outdir  # No figure.
  del baseline
  x = dataset.test_images
  z = common.codes(trained, x)
  activation = code_stats.mean_unit_activation(z)
  out = {
      'fraction_near_zero': code_stats.fraction_near_zero(z),
      'mean_activation': float(activation.mean()),
      'min_unit_activation': float(activation.min()),
      'max_unit_activation': float(activation.max()),
      'mse': common.mse(common.reconstruct(trained, x), x),
  }
  if trained.config.sparsity == 'kl':
    rho = trained.config.sparsity_target
    out['target'] = rho
    out['max_deviation_from_target'] = float(np.abs(activation - rho).max())
  return out


def jacobian_batch_size(trained) -> int:
  """Images per Jacobian call, so that its passes fit one evaluation batch.

  `codes.mean_encoder_jacobian_norm` runs ``min(D_in, latent_dim)``
  passes over each batch at once (vmapped), i.e. that many times the
  activations of a plain forward pass.
  """
  passes = min(int(np.prod(trained.input_shape)), trained.latent_dim)
  return max(1, common.batch_size(trained) // passes)


def jacobian(trained, dataset, baseline=None, outdir=None) -> dict:
  del outdir  # No figure.
  x = dataset.test_images[:JACOBIAN_EXAMPLES]
  norm = lambda t: code_stats.mean_encoder_jacobian_norm(
      functools.partial(t.model.encode, t.params),
      x,
      batch_size=jacobian_batch_size(t),
  )
  out = {
      'examples': len(x),
      'jacobian_norm': norm(trained),
      'mse': common.mse(
          common.reconstruct(trained, dataset.test_images), dataset.test_images
      ),
  }
  if baseline is not None:
    out['baseline_jacobian_norm'] = norm(baseline)
    out['baseline_mse'] = common.mse(
        common.reconstruct(baseline, dataset.test_images), dataset.test_images
    )
    out['ratio'] = out['jacobian_norm'] / out['baseline_jacobian_norm']
  return out
