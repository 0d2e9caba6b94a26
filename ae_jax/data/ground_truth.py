"""Datasets with known generative factors, and the factor sampler metrics draw from.

A `GroundTruthData` holds one image per combination of its discrete factors,
in row-major order of ``factor_sizes`` (the layout of the official dSprites
file: row ``np.ravel_multi_index(factors.T, factor_sizes)``), as uint8 grey
levels (0..255, read as ``x / 255``). Its sampler is the interface of
disentanglement_lib's ``GroundTruthData``, so the metrics in
`ae_jax.metrics.disentanglement` draw exactly what that library's metrics
draw from the same ``np.random.RandomState``:

  ``sample_factors(num, random_state)``   int64 ``[num, num_factors]``, each
                                          factor uniform over its values;
  ``sample_observations_from_factors(factors, random_state)``
                                          float32 ``[num, H, W, C]`` in [0, 1];
  ``sample(num, random_state)``           ``(factors, observations)``.

`load_ground_truth(name)` builds a named set (`GROUND_TRUTH_NAMES`); `to_dataset`
turns one into the `Dataset` a training run reads.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ae_jax.data.pipeline import as_unit_float

__all__ = [
    'GROUND_TRUTH_NAMES',
    'GroundTruthData',
    'load_ground_truth',
    'is_ground_truth',
    'to_dataset',
]

# The named sets `load_ground_truth` builds (`ae_jax.data.sprites`).
GROUND_TRUTH_NAMES = ('dsprites', 'xy_sprites')
# The most levels of any factor of each set (orientation, position).
MAX_LEVELS = {'dsprites': 40, 'xy_sprites': 10}
# Test split of a ground-truth set: a fixed draw of its images (training
# sees every combination, as in disentanglement_lib; there is no held-out
# combination, so this split measures fit, not generalisation).
TEST_SIZE = 5000
_TEST_SEED = 1234


@dataclasses.dataclass(frozen=True, eq=False)
class GroundTruthData:
  """Images of every factor combination, and a sampler over the factors."""

  name: str
  factor_names: tuple[str, ...]
  factor_sizes: tuple[int, ...]
  images: np.ndarray  # uint8 [prod(factor_sizes), H, W, C], x / 255
  # The physical value of each factor's levels (e.g. scale 0.5..1), for
  # figures and docs; index k of factor i is factor_values[i][k].
  factor_values: tuple[np.ndarray, ...] = ()

  def __post_init__(self):
    if self.images.dtype != np.uint8 or self.images.ndim != 4:
      raise TypeError(
          f'GroundTruthData {self.name!r}: images must be uint8 [N, H, W, C], '
          f'got {self.images.dtype} {self.images.shape}.'
      )
    if len(self.factor_names) != len(self.factor_sizes):
      raise ValueError(
          f'GroundTruthData {self.name!r}: {len(self.factor_names)} factor '
          f'names for {len(self.factor_sizes)} factor sizes.'
      )
    if int(np.prod(self.factor_sizes)) != len(self.images):
      raise ValueError(
          f'GroundTruthData {self.name!r}: {len(self.images)} images but '
          f'{int(np.prod(self.factor_sizes))} factor combinations '
          f'{self.factor_sizes}; one image per combination is needed.'
      )

  @property
  def num_factors(self) -> int:
    return len(self.factor_sizes)

  @property
  def observation_shape(self) -> tuple[int, int, int]:
    return tuple(self.images.shape[1:])

  def check_factors(self, factors) -> np.ndarray:
    """``factors`` as int64 ``[N, num_factors]``; refuses out-of-range ones."""
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[1] != self.num_factors:
      raise ValueError(
          f'{self.name}: factors must be [N, {self.num_factors}] '
          f'({", ".join(self.factor_names)}), got shape {factors.shape}.'
      )
    if factors.dtype.kind not in 'iu':
      raise TypeError(
          f'{self.name}: factors must be integer level indices, got '
          f'{factors.dtype}; use factors.astype(np.int64).'
      )
    for i, (name, size) in enumerate(zip(self.factor_names, self.factor_sizes)):
      col = factors[:, i]
      if len(col) and (col.min() < 0 or col.max() >= size):
        raise ValueError(
            f'{self.name}: factor {i} ({name}) spans [{col.min()}, '
            f'{col.max()}], outside its {size} levels [0, {size - 1}].'
        )
    return factors.astype(np.int64, copy=False)

  def index(self, factors) -> np.ndarray:
    """Rows of `images` holding ``factors`` (int64 ``[N]``)."""
    factors = self.check_factors(factors)
    return np.ravel_multi_index(tuple(factors.T), self.factor_sizes)

  def all_factors(self) -> np.ndarray:
    """The factors of every row of `images`, int64 ``[N, num_factors]``."""
    return factor_grid(self.factor_sizes)

  def sample_factors(self, num: int, random_state) -> np.ndarray:
    """``num`` factor rows, each factor uniform (disentanglement_lib's order
    of draws: one ``randint`` per factor)."""
    factors = np.zeros((num, self.num_factors), dtype=np.int64)
    for i, size in enumerate(self.factor_sizes):
      factors[:, i] = random_state.randint(size, size=num)
    return factors

  def sample_observations_from_factors(
      self, factors, random_state=None
  ) -> np.ndarray:
    """The images of ``factors``, float32 ``[N, H, W, C]`` in [0, 1]."""
    del random_state  # Each combination has exactly one image.
    return as_unit_float(self.images[self.index(factors)])

  def sample(self, num: int, random_state):
    factors = self.sample_factors(num, random_state)
    return factors, self.sample_observations_from_factors(factors, random_state)

  def sample_observations(self, num: int, random_state) -> np.ndarray:
    return self.sample(num, random_state)[1]


def factor_grid(factor_sizes) -> np.ndarray:
  """Every combination of the factors' levels, in row-major order, int64
  ``[prod(factor_sizes), len(factor_sizes)]``."""
  n = int(np.prod(factor_sizes))
  return np.stack(np.unravel_index(np.arange(n), factor_sizes), axis=1).astype(
      np.int64
  )


def is_ground_truth(name: str) -> bool:
  return name in GROUND_TRUTH_NAMES


def load_ground_truth(
    name: str, *, dsprites_file: str | None = None, cache_dir=None
):
  """The named ground-truth set (`GROUND_TRUTH_NAMES`).

  Args:
    name: ``'dsprites'`` (737,280 64x64 binary images; from
      ``dsprites_file`` when given, else rendered, see `sprites.dsprites`)
      or ``'xy_sprites'`` (3,600 32x32 RGB images, `sprites.xy_sprites`).
    dsprites_file: the official ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.
    cache_dir: where a rendered set is cached; None = ``$AE_JAX_CACHE`` or
      ``~/.cache/ae_jax``.
  """
  from ae_jax.data import sprites  # pylint: disable=g-import-not-at-top

  if name == 'dsprites':
    return sprites.dsprites(dsprites_file, cache_dir=cache_dir)
  if name == 'xy_sprites':
    return sprites.xy_sprites()
  raise ValueError(
      f'{name!r} has no ground-truth factors; use one of '
      f'{", ".join(map(repr, GROUND_TRUTH_NAMES))} (--config.dataset).'
  )


def to_dataset(data: GroundTruthData):
  """``data`` as a training `Dataset`, images ``[N, H, W, C]``.

  Train split: every image, in row order. Test split: a fixed draw of
  `TEST_SIZE` images (at most a sixth of them), float32. Labels: the first factor's
  level (the shape, for both named sets). The train split stays uint8 when
  float32 would not be small (dSprites: 2.9 GiB as uint8, 11.6 GiB as
  float32); the input pipeline converts each batch.
  """
  from ae_jax.data import datasets  # pylint: disable=g-import-not-at-top

  n = len(data.images)
  test_rows = np.sort(
      np.random.default_rng(_TEST_SEED).choice(
          n, size=min(TEST_SIZE, max(1, n // 6)), replace=False
      )
  )
  factors = data.all_factors()
  train = data.images
  if train.nbytes * 4 <= datasets.FLOAT_TRAIN_MAX_BYTES:
    train = as_unit_float(train)
  test = as_unit_float(data.images[test_rows])
  return datasets.Dataset(
      name=data.name,
      train_images=train,
      train_labels=factors[:, 0].astype(np.int32),
      test_images=test,
      test_labels=factors[test_rows, 0].astype(np.int32),
      num_classes=data.factor_sizes[0],
      class_names=_level_names(data, 0),
  )


def _level_names(data: GroundTruthData, factor: int) -> tuple[str, ...]:
  if data.factor_values:
    return tuple(str(v) for v in data.factor_values[factor])
  return tuple(
      f'{data.factor_names[factor]}={k}'
      for k in range(data.factor_sizes[factor])
  )
