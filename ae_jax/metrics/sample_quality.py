"""Distances between two sets of image features: the Frechet distance (the
statistic of FID) and the kernel distance (the statistic of KID).

Both compare the feature distribution of generated images with that of real
ones. FID and KID proper use Inception-v3 pool features; `ae_jax.tasks`
computes these statistics on the features of a classifier the project trains
on the same dataset (`ae_jax.tasks.feature_classifier`), so its values are
*not* comparable with published FID/KID numbers, only with each other and
with the real-vs-real floor computed the same way.

Conventions as in `ae_jax.metrics`.
"""

import numpy as np


from ae_jax.metrics import checks

__all__ = [
    'frechet_distance',
    'kernel_distance',
]


def _two_feature_sets(fn_name: str, a, b) -> tuple[np.ndarray, np.ndarray]:
  a = checks.matrix(fn_name, 'features_a', a).astype(np.float64)
  b = checks.matrix(fn_name, 'features_b', b).astype(np.float64)
  checks.same_example_shape(fn_name, 'features_a', a, 'features_b', b)
  for name, x in (('features_a', a), ('features_b', b)):
    if len(x) < 2:
      raise ValueError(
          f'{fn_name}: {name} has {len(x)} row; a covariance needs at least '
          'two examples (use a few thousand)'
      )
  return a, b


def frechet_distance(
    features_a: np.typing.ArrayLike, features_b: np.typing.ArrayLike
) -> float:
  """Frechet (2-Wasserstein) distance between Gaussians fitted to two sets.

  ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` with the sample
  means and (N - 1)-normalised covariances of ``features_a [N, D]`` and
  ``features_b [M, D]`` (Heusel et al. 2017, Eq. 6; the TTUR reference code's
  ``calculate_frechet_distance``). The trace of the matrix square root is
  taken as ``tr((S_a^(1/2) S_b S_a^(1/2))^(1/2))``, the same number from two
  symmetric eigendecompositions (no complex parts to discard, unlike
  ``scipy.linalg.sqrtm`` of the non-symmetric product). In float64.

  0 for identical sets; biased upwards for finite samples (compare values
  computed from the same numbers of examples).

  Raises:
    ValueError: empty, non-finite or mismatched features, or fewer than
      two rows.
  """
  a, b = _two_feature_sets('frechet_distance', features_a, features_b)
  mu_a, mu_b = a.mean(0), b.mean(0)
  cov_a = np.atleast_2d(np.cov(a, rowvar=False))
  cov_b = np.atleast_2d(np.cov(b, rowvar=False))
  eig_a, vec_a = np.linalg.eigh(cov_a)
  root_a = (vec_a * np.sqrt(np.clip(eig_a, 0.0, None))) @ vec_a.T
  middle = root_a @ cov_b @ root_a
  middle = (middle + middle.T) / 2
  trace_root = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)))
  value = (
      np.sum((mu_a - mu_b) ** 2)
      + np.trace(cov_a)
      + np.trace(cov_b)
      - 2.0 * trace_root
  )
  return float(max(value, 0.0))


def kernel_distance(
    features_a: np.typing.ArrayLike,
    features_b: np.typing.ArrayLike,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> float:
  """Kernel distance: the unbiased MMD^2 with a cubic polynomial kernel.

  ``k(x, y) = (x.y / D + 1)^3`` (Binkowski et al. 2018, "Demystifying MMD
  GANs"), averaged over ``subsets`` random subsets of ``subset_size`` rows
  of each set (drawn without replacement within a subset; fewer rows if a
  set is smaller), the protocol of their reference code and of
  torch-fidelity (100 subsets of 1,000). Unbiased: about 0 (and possibly
  negative) for two samples of one distribution, whatever their sizes.

  Raises:
    ValueError: as `frechet_distance`, or a bad ``subsets``/``subset_size``.
  """
  name = 'kernel_distance'
  a, b = _two_feature_sets(name, features_a, features_b)
  subsets = checks.positive_int(name, 'subsets', subsets)
  m = min(checks.positive_int(name, 'subset_size', subset_size), len(a), len(b))
  if m < 2:
    raise ValueError(f'{name}: subset_size must be >= 2, got {subset_size}')
  rng = np.random.default_rng(seed)
  dim = a.shape[1]
  kernel = lambda x, y: (x @ y.T / dim + 1.0) ** 3
  off_diagonal = ~np.eye(m, dtype=bool)
  values = []
  for _ in range(subsets):
    x = a[rng.choice(len(a), m, replace=False)]
    y = b[rng.choice(len(b), m, replace=False)]
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    values.append(
        k_xx[off_diagonal].mean() + k_yy[off_diagonal].mean() - 2 * k_xy.mean()
    )
  return float(np.mean(values))
