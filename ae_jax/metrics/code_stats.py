"""Code statistics of regularised autoencoders: near-zero fraction (sparse
AE), mean unit activation (KL-sparse AE), total correlation of Gaussian
codes, and the encoder Jacobian norm (contractive AE, Rifai et al., 2011).

Conventions as in `ae_jax.metrics`.
"""

from collections.abc import Callable
import numbers

import jax
import numpy as np

from ae_jax import penalties
from ae_jax.metrics import batching
from ae_jax.metrics import checks

__all__ = [
    'fraction_near_zero',
    'gaussian_total_correlation',
    'mean_encoder_jacobian_norm',
    'mean_unit_activation',
]


def fraction_near_zero(
    codes: np.typing.ArrayLike, *, threshold: float = 1e-2
) -> float:
  """Fraction of code entries with ``|z| < threshold``: sparsity of codes.

  The check for sparse autoencoders (an L1 penalty on the code, or a
  k-sparse / ReLU code): a dense code gives a fraction near 0.

  Args:
    codes: real array ``[N, ...]`` of codes.
    threshold: positive cut-off (keyword-only); entries strictly below it in
      absolute value count as zero.

  Returns:
    A Python float in ``[0, 1]``, over all examples and units.

  Raises:
    ValueError: on empty or non-finite codes or a non-positive threshold.
  """
  fn = 'fraction_near_zero'
  codes = checks.real_array(fn, 'codes', codes, min_ndim=2)
  if not (isinstance(threshold, numbers.Real) and threshold > 0):
    raise ValueError(
        f'{fn}: threshold must be > 0, got {threshold!r}; with 0 nothing '
        'counts as zero'
    )
  return float(np.mean(np.abs(codes) < threshold))


def mean_unit_activation(codes: np.typing.ArrayLike) -> np.ndarray:
  """Mean activation of each hidden unit over the examples.

  For the KL-sparse autoencoder (Ng, 2011, "Sparse autoencoder", CS294A
  lecture notes), whose penalty ``KL(rho || rho_hat_j)`` drives each unit's
  mean sigmoid activation ``rho_hat_j`` to the target sparsity ``rho``: after
  training these values should sit near ``rho``.

  Args:
    codes: real array ``[N, ...]`` of hidden activations.

  Returns:
    float64 array of shape ``codes.shape[1:]`` (``[units]`` for ``[N,
    units]`` codes).

  Raises:
    ValueError: on empty or non-finite codes, or codes without an example
      axis.
  """
  codes = checks.real_array('mean_unit_activation', 'codes', codes, min_ndim=2)
  return np.mean(codes, axis=0, dtype=np.float64)


def gaussian_total_correlation(codes: np.typing.ArrayLike) -> float:
  """Total correlation of a Gaussian fitted to the codes, in nats.

  ``TC = KL(q(z) || prod_j q(z_j))``, for a Gaussian with covariance ``S``:
  ``0.5 * (sum_j log S_jj - log det S)``; zero iff the units are
  uncorrelated. The quantity FactorVAE (Kim & Mnih, 2018) penalises, measured
  in closed form on sampled codes (its training objective uses a density-ratio
  discriminator instead).

  Args:
    codes: real array ``[N, D]`` with ``N > D`` (a full-rank covariance).

  Returns:
    A Python float >= 0.

  Raises:
    ValueError: on non-finite codes, ``N <= D`` or a singular covariance
      (a constant unit).
  """
  fn = 'gaussian_total_correlation'
  z = checks.matrix(fn, 'codes', codes).astype(np.float64)
  n, d = z.shape
  if n <= d:
    raise ValueError(
        f'{fn}: needs more examples than units, got {n} examples of {d} '
        'units; pass more codes'
    )
  cov = np.atleast_2d(np.cov(z.T))
  sign, logdet = np.linalg.slogdet(cov)
  if sign <= 0 or np.any(np.diag(cov) <= 0):
    raise ValueError(
        f'{fn}: the covariance of the codes is singular (a constant or '
        'duplicated unit); drop such units first'
    )
  return max(float(0.5 * (np.sum(np.log(np.diag(cov))) - logdet)), 0.0)


def mean_encoder_jacobian_norm(
    encode_fn: Callable[[jax.Array], jax.Array],
    images: np.typing.ArrayLike,
    *,
    batch_size: int = 256,
) -> float:
  """Mean over images of ``||d encode(x) / dx||_F``, the encoder's contraction.

  The contractive autoencoder (Rifai et al., 2011) penalises the squared
  Frobenius norm of this Jacobian; reporting its (unsquared) mean on test
  images shows how much a model contracts the input space around the data:
  compare a CAE with a plain AE of the same architecture. Exact per-example
  Jacobians from `ae_jax.penalties.jacobian_frobenius_norm`, in jitted
  batches of `batch_size` (one backward pass per code unit, each over the
  whole batch, vmapped: a call holds ``batch_size * min(D_in, K)`` rows of
  activations; the `jacobian` task sizes it to one evaluation batch).

  Args:
    encode_fn: maps a ``[B, ...]`` float32 jax array to codes ``[B, K]``,
      each example's code depending on that example only (no batch norm in
      training mode), e.g. ``functools.partial(model.encode, params)``.
    images: real array ``[N, ...]``, N >= 1.
    batch_size: examples per jitted call (keyword-only).

  Returns:
    The mean of the N per-example Frobenius norms (not squared), a Python
    float.

  Raises:
    ValueError: on empty or non-finite images or a bad `batch_size`.

  References:
    Rifai et al., `Contractive Auto-Encoders: Explicit Invariance During
    Feature Extraction <https://icml.cc/2011/papers/455_icmlpaper.pdf>`_,
    ICML 2011.
  """
  fn = 'mean_encoder_jacobian_norm'
  images = checks.real_array(fn, 'images', images, min_ndim=2)
  batch_size = checks.positive_int(fn, 'batch_size', batch_size)
  # The penalty is the squared norm; the square root is taken per example.
  squared = jax.jit(lambda x: penalties.jacobian_frobenius_norm(encode_fn, x))
  sq_norms = batching.apply_in_batches(
      squared, images.astype(np.float32), batch_size=batch_size
  )
  return float(np.mean(np.sqrt(np.asarray(sq_norms, np.float64))))
