"""Two-dimensional toy data: a noisy spiral, seeded, as arrays or a `Dataset`.

Low-dimensional densities whose shape can be seen: the denoising
autoencoder's vector field and its Markov chain (`ae_jax.dae_sampling`) are
drawn over them. The spiral is the 2-D section of scikit-learn's Swiss roll
(``t = 1.5 pi (1 + 2 u)``, ``(t cos t, t sin t)``, ``u ~ U[0, 1]``), mapped by
a fixed affine map (not fitted to the draw) into ``[0.1, 0.9]^2``, so that the
corruptions that clip to ``[0, 1]`` (`ae_jax.corruptions.gaussian_noise`)
rarely touch it; then isotropic Gaussian noise of std ``noise`` is added.
Adjacent arms lie about 0.18 apart.
"""

from collections.abc import Sequence

import numpy as np

from ae_jax.data import datasets

__all__ = ['SPIRAL_ARM_GAP', 'spiral', 'spiral_dataset']

_T_MIN, _T_MAX = 1.5 * np.pi, 4.5 * np.pi
_SCALE = 0.4 / _T_MAX  # Radius t_max -> 0.4 around the centre (0.5, 0.5).
# Radial distance between adjacent arms, in data units.
SPIRAL_ARM_GAP = float(2 * np.pi * _SCALE)


def spiral(
    num: int, *, seed: int | Sequence[int] = 0, noise: float = 0.01
) -> np.ndarray:
  """``num`` points of the noisy spiral, float32 ``[num, 2]``.

  Args:
    num: number of points, >= 1.
    seed: seed of ``np.random.default_rng``; the same seed gives the same
      points.
    noise: std of the isotropic Gaussian noise around the curve, >= 0.

  Raises:
    ValueError: for ``num < 1`` or a negative or non-finite ``noise``.
  """
  if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
    raise ValueError(f'spiral: num={num!r} must be a positive int, e.g. 2000.')
  if not (np.isfinite(noise) and noise >= 0):
    raise ValueError(
        f'spiral: noise={noise!r} is the std around the curve and must be a '
        'finite number >= 0, e.g. 0.01.'
    )
  rng = np.random.default_rng(seed)
  t = _T_MIN + (_T_MAX - _T_MIN) * rng.random(num)
  curve = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
  points = 0.5 + _SCALE * curve + noise * rng.standard_normal((num, 2))
  return points.astype(np.float32)


def spiral_dataset(
    num_train: int = 5000,
    num_test: int = 2000,
    *,
    seed: int = 0,
    noise: float = 0.01,
) -> datasets.Dataset:
  """Train and test draws of `spiral` as a `Dataset` (input shape ``(2,)``,
  one class, labels 0), for ``train_and_evaluate(..., dataset=)``. The
  splits come from the streams ``[seed, 0]`` and ``[seed, 1]``."""
  train = spiral(num_train, seed=[seed, 0], noise=noise)
  test = spiral(num_test, seed=[seed, 1], noise=noise)
  return datasets.Dataset(
      name='spiral',
      train_images=train,
      train_labels=np.zeros(len(train), np.int32),
      test_images=test,
      test_labels=np.zeros(len(test), np.int32),
      num_classes=1,
      class_names=('spiral',),
  )
