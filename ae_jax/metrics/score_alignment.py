"""Does a vector field point up a density? The score of a Gaussian KDE and
the mean cosine between a field and it.

A denoising autoencoder's field ``r(x) - x`` estimates ``sigma^2`` times the
score ``grad log p_sigma(x)`` of the data density smoothed by its noise
(`ae_jax.dae_sampling`). Where the density is known only through samples,
the score of a Gaussian kernel density estimate stands in for it: with
kernel width ``h`` it is the score of the empirical distribution smoothed by
``N(0, h^2 I)``, so ``h = sigma`` compares the field with the score it
should equal for the training points themselves.

  ``grad log p_h(x) = sum_i w_i(x) (x_i - x) / h^2``,
  ``w_i(x) = softmax_i(-|x - x_i|^2 / (2 h^2))``.

Conventions as in `ae_jax.metrics`: NumPy in, float64 inside, checked inputs.
"""

import numpy as np

from ae_jax.metrics import checks

__all__ = [
    'gaussian_kde_log_density',
    'gaussian_kde_score',
    'mean_cosine',
]

_CHUNK = 512  # Query rows per pass: a [512, N] distance matrix.


def _points_and_data(fn_name, points, data, bandwidth):
  points = checks.matrix(fn_name, 'points', points).astype(np.float64)
  data = checks.matrix(fn_name, 'data', data).astype(np.float64)
  checks.same_example_shape(fn_name, 'points', points, 'data', data)
  h = checks.finite_real(fn_name, 'bandwidth', bandwidth)
  if h <= 0:
    raise ValueError(
        f'{fn_name}: bandwidth={bandwidth!r} is the kernel std and must be '
        '> 0, e.g. the noise std of the denoising autoencoder.'
    )
  return points, data, h


def _log_kernels(points: np.ndarray, data: np.ndarray, h: float) -> np.ndarray:
  d2 = (
      np.sum(points**2, 1)[:, None]
      - 2 * points @ data.T
      + np.sum(data**2, 1)[None, :]
  )
  return -np.maximum(d2, 0.0) / (2 * h**2)


def gaussian_kde_log_density(
    points: np.typing.ArrayLike,
    data: np.typing.ArrayLike,
    *,
    bandwidth: float,
) -> np.ndarray:
  """``log p_h(points)`` ``[N]`` of the Gaussian KDE of ``data [M, D]``.

  Raises:
    ValueError: empty, non-finite or mismatched arrays, or a bandwidth
      that is not > 0.
  """
  points, data, h = _points_and_data(
      'gaussian_kde_log_density', points, data, bandwidth
  )
  dim = data.shape[1]
  norm = np.log(len(data)) + 0.5 * dim * np.log(2 * np.pi * h**2)
  out = np.empty(len(points))
  for start in range(0, len(points), _CHUNK):
    logk = _log_kernels(points[start : start + _CHUNK], data, h)
    peak = logk.max(1, keepdims=True)  # Log-sum-exp: far points underflow.
    out[start : start + _CHUNK] = (
        peak[:, 0] + np.log(np.exp(logk - peak).sum(1)) - norm
    )
  return out


def gaussian_kde_score(
    points: np.typing.ArrayLike,
    data: np.typing.ArrayLike,
    *,
    bandwidth: float,
) -> np.ndarray:
  """``grad_x log p_h(x)`` ``[N, D]`` at ``points`` of the Gaussian KDE of
  ``data [M, D]`` with kernel std ``bandwidth`` (module docstring).

  Raises:
    ValueError: as `gaussian_kde_log_density`.
  """
  points, data, h = _points_and_data(
      'gaussian_kde_score', points, data, bandwidth
  )
  out = np.empty_like(points)
  for start in range(0, len(points), _CHUNK):
    chunk = points[start : start + _CHUNK]
    logk = _log_kernels(chunk, data, h)
    w = np.exp(logk - logk.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    out[start : start + _CHUNK] = (w @ data - chunk) / h**2
  return out


def mean_cosine(
    field_a: np.typing.ArrayLike, field_b: np.typing.ArrayLike
) -> float:
  """Mean over rows of the cosine between ``field_a[i]`` and ``field_b[i]``
  (``[N, D]`` each): 1 where they point the same way, 0 for unrelated
  directions on average, -1 opposite. A zero row counts as cosine 0.

  Raises:
    ValueError: empty, non-finite or mismatched arrays.
  """
  name = 'mean_cosine'
  a = checks.matrix(name, 'field_a', field_a).astype(np.float64)
  b = checks.matrix(name, 'field_b', field_b).astype(np.float64)
  if a.shape != b.shape:
    raise ValueError(
        f'{name}: field_a has shape {a.shape} but field_b {b.shape}; pass '
        'the two fields at the same points.'
    )
  norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
  dots = np.sum(a * b, axis=1)
  cos = np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)
  return float(np.mean(cos))
