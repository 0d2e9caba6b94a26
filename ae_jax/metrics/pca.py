"""PCA baselines: the linear autoencoder every deep one is compared with
(Hinton & Salakhutdinov, 2006), via scikit-learn.

Conventions as in `ae_jax.metrics`.
"""

import numpy as np
from sklearn import decomposition

from ae_jax.metrics import checks

__all__ = [
    'fit_pca',
    'pca_codes',
    'pca_reconstruction_mse',
]


# PCA is exact (full / covariance) for small inputs and randomized for large
# ones under scikit-learn's 'auto' solver; a fixed seed makes both repeatable.
PCA_SEED = 0


def fit_pca(
    fn_name: str, train, test, num_components
) -> tuple[decomposition.PCA, np.ndarray, np.ndarray]:
  """Checks the inputs and fits PCA on `train`; returns (pca, train, test)."""
  train = checks.real_array(fn_name, 'train', train, min_ndim=2)
  test = checks.real_array(fn_name, 'test', test, min_ndim=2)
  checks.same_example_shape(fn_name, 'train', train, 'test', test)
  num_components = checks.positive_int(
      fn_name, 'num_components', num_components
  )
  train = train.reshape(train.shape[0], -1)
  test = test.reshape(test.shape[0], -1)
  limit = min(train.shape)
  if num_components > limit:
    raise ValueError(
        f'{fn_name}: num_components={num_components} is more than PCA can '
        f'fit on {train.shape[0]} training examples of {train.shape[1]} '
        f'features (at most min(examples, features) = {limit}); use '
        f'num_components <= {limit} or more training examples'
    )
  pca = decomposition.PCA(n_components=num_components, random_state=PCA_SEED)
  pca.fit(train)
  return pca, train, test


def pca_reconstruction_mse(
    train_images: np.typing.ArrayLike,
    test_images: np.typing.ArrayLike,
    *,
    num_components: int,
) -> float:
  """Test mean squared error per pixel of a PCA fitted on the train images.

  PCA with `num_components` components (centred on the train mean) is the
  optimal linear autoencoder with that code size: the baseline that the deep
  autoencoder of Hinton & Salakhutdinov (2006) is compared with (their Fig. 2:
  784-1000-500-250-30 autoencoder against 30-component PCA on MNIST). The
  result is directly comparable with the models' ``'mse'`` metric averaged
  over the test set.

  Args:
    train_images: real array ``[N_train, ...]``; each example is flattened.
    test_images: real array ``[N_test, ...]`` with the same per-example shape.
    num_components: code size, ``1 <= num_components <= min(N_train, D)``
      with ``D`` the number of pixels per example (keyword-only).

  Returns:
    ``mean((test - reconstruct(test)) ** 2)`` over test examples and pixels,
    a Python float (accumulated in float64).

  Raises:
    ValueError: on empty or non-finite inputs, mismatched per-example shapes
      or an impossible `num_components`.
    TypeError: on a non-real dtype.

  References:
    Hinton & Salakhutdinov, `Reducing the dimensionality of data with neural
    networks <https://doi.org/10.1126/science.1127647>`_, Science 313, 2006.
  """
  pca, _, test = fit_pca(
      'pca_reconstruction_mse', train_images, test_images, num_components
  )
  recon = pca.inverse_transform(pca.transform(test))
  diff = np.asarray(recon, np.float64) - np.asarray(test, np.float64)
  return float(np.mean(np.square(diff)))


def pca_codes(
    train: np.typing.ArrayLike,
    test: np.typing.ArrayLike,
    *,
    num_components: int,
) -> tuple[np.ndarray, np.ndarray]:
  """PCA codes of train and test examples, the PCA fitted on `train` only.

  The linear baseline for code-quality measures (linear probe, latent
  scatter plots): same code size as the autoencoder, no nonlinearity.

  Args:
    train: real array ``[N_train, ...]``; each example is flattened.
    test: real array ``[N_test, ...]`` with the same per-example shape.
    num_components: code size, ``1 <= num_components <= min(N_train, D)``
      (keyword-only).

  Returns:
    ``(train_codes, test_codes)`` of shapes ``[N_train, num_components]`` and
    ``[N_test, num_components]``: projections on the principal axes, in
    decreasing order of explained variance (not whitened).

  Raises:
    ValueError, TypeError: as for :func:`pca_reconstruction_mse`.
  """
  pca, train, test = fit_pca('pca_codes', train, test, num_components)
  return pca.transform(train), pca.transform(test)
