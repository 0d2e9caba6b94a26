"""Datasets by name, materialised once as in-memory NumPy arrays.

``load_dataset(name)`` returns a ``Dataset``: float32 images in [0, 1] and
int32 labels for the train and test splits, in a ``'flat'`` ``[N, H*W*C]``,
``'hwc'`` ``[N, H, W, C]`` or ``'sequence'`` ``[N, H, W*C]`` layout (an image
read as H steps of one row each, for sequence models), optionally binarised.

Names:
  ``'digits'``         scikit-learn's 8x8 digits (1,797 images, values 0..16,
                       scaled by 1/16), split 1,497 train / 300 test, stratified,
                       ``random_state=0``. Ships with scikit-learn.
  ``'fashion_mnist'``, ``'mnist'``
                       28x28x1, scaled by 1/255, from a TFDS build or local IDX
                       files (see ``tfds_source`` for the resolution order).
  ``'dsprites'``, ``'xy_sprites'``
                       ground-truth-factor sets (`ground_truth`): every factor
                       combination in the train split, a fixed draw of 5,000
                       (or all) in the test split; labels = the shape. The
                       dSprites train split stays uint8 (2.9 GiB, converted
                       per batch); the official file via ``dsprites_file``.
  any other TFDS image dataset name (``tfds.list_builders()``), e.g.
  ``'cifar10'``        read from a prepared ArrayRecord build in data_dir.
  ``'npz:<file>'``, ``'images:<folder>'``, ``'csv:<file>'``
                       the user's own data (`user_files`): images or vectors;
                       a table is standardised with its train split's
                       statistics (``Dataset.preprocessing``).

A train split may be uint8 (read as ``x / 255``) where float32 would exceed
`FLOAT_TRAIN_MAX_BYTES`; the input pipeline and the on-device gather convert
each batch (`pipeline.as_unit_float`).

Binarisation (``binarize=``):
  ``'none'``     grey levels in [0, 1].
  ``'static'``   every pixel of both splits replaced once by a Bernoulli sample
                 of its grey level (Larochelle & Murray 2011 style): values
                 exactly 0/1, the same for the same ``seed``.
  ``'dynamic'``  the train split keeps its grey levels, because the training
                 step draws fresh binary pixels on device at every step; the
                 test split is binarised once, exactly as ``'static'`` does it,
                 so that evaluation is stable across steps and runs.
  Each split draws from its own stream, ``np.random.default_rng([seed, k])``
  with k = 0 (train), 1 (test): the binarised test split of ``'dynamic'`` is
  the same as that of ``'static'`` for the same seed.
"""

from __future__ import annotations

import dataclasses
import difflib
import re

import numpy as np

from ae_jax.data import ground_truth
from ae_jax.data import tfds_source
from ae_jax.data import user_files
from ae_jax.data.pipeline import as_unit_float
from ae_jax.data.tfds_source import DatasetNotFoundError

__all__ = [
    'DATASET_NAMES',
    'Dataset',
    'DatasetNotFoundError',
    'LAYOUTS',
    'BINARIZE_MODES',
    'load_configured',
    'load_dataset',
]

DATASET_NAMES = (
    'digits',
    'fashion_mnist',
    'mnist',
    *ground_truth.GROUND_TRUTH_NAMES,
)
# A train split larger than this as float32 is kept as uint8.
FLOAT_TRAIN_MAX_BYTES = 2 << 30
LAYOUTS = ('flat', 'hwc', 'sequence')
BINARIZE_MODES = ('none', 'static', 'dynamic')

_DATASET_NAMES_HINT = (
    f'set --config.dataset to one of {", ".join(map(repr, DATASET_NAMES))}, '
    'any TFDS image dataset name (tfds.list_builders()), or your own data as '
    'npz:/path/file.npz, images:/path/folder or csv:/path/file.csv.'
)
# TFDS names: snake_case, optionally /config and :version.
_TFDS_NAME = re.compile(r'[a-z0-9_]+(/[a-z0-9_.-]+)?(:[0-9.*]+)?')
_DIGITS_TEST_SIZE = 300
_SPLIT_STREAM = {'train': 0, 'test': 1}
_BINARIZE_CHUNK = 8192


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A dataset's two splits, in host memory."""

  name: str
  train_images: np.ndarray  # float32 [N, *input_shape], values in [0, 1]
  train_labels: np.ndarray  # int32 [N]
  test_images: np.ndarray  # float32 [M, *input_shape]
  test_labels: np.ndarray  # int32 [M]
  num_classes: int
  class_names: tuple[str, ...]
  # How raw inputs became these values, for `ae_jax.load(dir).preprocess`:
  # None (used as they are), {'kind': 'unit_scale', 'divide_by': 255.0} or
  # {'kind': 'standardize', 'columns', 'mean', 'std'} (`user_files`).
  preprocessing: dict | None = None
  # False for vectors that are not images (tables, `user_files`): no image
  # figures or image tasks.
  is_images: bool = True

  def __post_init__(self):
    # A user's own arrays (`train_and_evaluate(..., dataset=)`) fail here,
    # before anything is compiled, not as NaN metrics or a crash mid-run.
    for split in ('train', 'test'):
      _check_split_arrays(self, split)
    if self.test_images.shape[1:] != self.train_images.shape[1:]:
      raise ValueError(
          f'Dataset {self.name!r}: test examples have shape '
          f'{self.test_images.shape[1:]} but train examples '
          f'{self.train_images.shape[1:]}; give both splits one layout.'
      )

  @property
  def input_shape(self) -> tuple[int, ...]:
    """Shape of one example: ``(H*W*C,)`` (flat) or ``(H, W, C)`` (hwc)."""
    return tuple(self.train_images.shape[1:])


def _check_split_arrays(dataset: Dataset, split: str) -> None:
  """Types, shapes, emptiness, finiteness and label range of one split.

  Not the [0, 1] range: a `Dataset` may hold codes of a lower layer
  (`ae_jax.train.pretrain`). NaN/inf are found through min and max, which
  propagate them, without a temporary the size of the images.
  """
  images = getattr(dataset, f'{split}_images')
  labels = getattr(dataset, f'{split}_labels')
  where = f'Dataset {dataset.name!r}, {split}_images'
  uint8_train = split == 'train' and getattr(images, 'dtype', None) == np.uint8
  if not isinstance(images, np.ndarray) or not (
      images.dtype.kind == 'f' or uint8_train
  ):
    raise TypeError(
        f'{where}: must be a floating NumPy array [N, *input_shape], got '
        f'{type(images).__name__} of dtype {getattr(images, "dtype", None)}; '
        'convert with np.asarray(x, np.float32) (uint8 pixels: / 255).'
    )
  if images.ndim < 2 or 0 in images.shape:
    raise ValueError(
        f'{where}: must be a non-empty array [N, *input_shape] (N >= 1), got '
        f'shape {images.shape}; pass at least one example per split.'
    )
  lo, hi = images.min(), images.max()
  if not (np.isfinite(lo) and np.isfinite(hi)):
    bad = int(images.size - np.count_nonzero(np.isfinite(images)))
    raise ValueError(
        f'{where}: {bad} values are NaN or inf; drop or repair those '
        'examples (np.isfinite(x).all(axis=...)) before training.'
    )
  where = f'Dataset {dataset.name!r}, {split}_labels'
  if not isinstance(labels, np.ndarray) or labels.dtype.kind not in 'iu':
    raise TypeError(
        f'{where}: must be an integer NumPy array [N] of class ids, got '
        f'dtype {getattr(labels, "dtype", None)}; convert with '
        'labels.astype(np.int32).'
    )
  if labels.shape != images.shape[:1]:
    raise ValueError(
        f'{where}: shape {labels.shape} does not match the '
        f'{images.shape[0]} {split} images; pass one label per example.'
    )
  if labels.min() < 0 or labels.max() >= dataset.num_classes:
    raise ValueError(
        f'{where}: labels span [{labels.min()}, {labels.max()}], outside '
        f'[0, num_classes - 1 = {dataset.num_classes - 1}]; set num_classes '
        'to the number of classes or remap the labels.'
    )


def load_dataset(
    name: str,
    *,
    data_dir: str | None = None,
    idx_dir: str | None = None,
    layout: str = 'flat',
    binarize: str = 'none',
    seed: int = 0,
    dsprites_file: str | None = None,
    image_size: int = 0,
    test_fraction: float = 0.2,
    label_column: str = '',
) -> Dataset:
  """Loads a dataset's train and test splits into memory.

  Args:
    name: ``'digits'``, ``'fashion_mnist'``, ``'mnist'`` or any TFDS image
      dataset name.
    data_dir: TFDS data dir; None means TFDS's default (``$TFDS_DATA_DIR``,
      else ``~/tensorflow_datasets``). Local IDX builds are written here.
    idx_dir: directory of the four IDX ``.gz`` files for ``fashion_mnist`` /
      ``mnist``; None means ``/usr/share/datasets/fashion-mnist`` or
      ``/usr/share/datasets/mnist``. When the files are there, the build made
      from exactly these files is read (or made); see ``tfds_source``.
    layout: ``'flat'``, ``'hwc'`` or ``'sequence'``.
    binarize: ``'none'``, ``'static'`` or ``'dynamic'`` (module docstring).
    seed: seed of the binarisation.
    dsprites_file: the official dSprites npz for ``'dsprites'`` (None:
      render the factor grid, `sprites.dsprites`).
    image_size, test_fraction, label_column: how the user's own data
      (``'npz:'``, ``'images:'``, ``'csv:'`` sources) is read
      (`user_files`).

  Raises:
    ValueError: bad argument, or data that is empty, not finite or corrupt.
    DatasetNotFoundError: the data is not here and cannot be fetched.
  """
  _check_choice('layout', layout, LAYOUTS)
  _check_choice('binarize', binarize, BINARIZE_MODES)
  if not name:  # `--config.dataset=`; TFDS would fail to parse it as a name.
    raise ValueError(f'config.dataset is empty: {_DATASET_NAMES_HINT}')
  if user_files.parse_source(name):
    return _user_dataset(
        name,
        layout,
        binarize,
        seed,
        image_size=image_size,
        test_fraction=test_fraction,
        label_column=label_column,
    )
  if not _TFDS_NAME.fullmatch(name):
    # TFDS would answer with a page of its name grammar.
    close = difflib.get_close_matches(
        name.lower().replace('-', '_'), DATASET_NAMES, n=1
    )
    raise ValueError(
        f'config.dataset={name!r} is not a dataset name'
        + (f' (did you mean {close[0]!r}?)' if close else '')
        + f': {_DATASET_NAMES_HINT}'
    )
  if ground_truth.is_ground_truth(name):
    return _ground_truth_dataset(name, layout, binarize, seed, dsprites_file)
  if name == 'digits':
    splits, num_classes, class_names = _load_digits()
  else:
    if name not in DATASET_NAMES and not tfds_source.is_tfds_name(
        name, data_dir
    ):
      raise ValueError(
          f'Unknown dataset {name!r} (config.dataset): {_DATASET_NAMES_HINT}'
      )
    arrays = tfds_source.load_tfds_arrays(
        name, data_dir=data_dir, idx_dir=idx_dir
    )
    splits = {
        split: (as_unit_float(images), labels)
        for split, (images, labels) in arrays.splits.items()
    }
    num_classes, class_names = arrays.num_classes, arrays.class_names

  out = {}
  for split, (images, labels) in splits.items():
    _validate_split(name, split, images, labels, num_classes)
    images = _binarize_and_lay_out(images, split, layout, binarize, seed)
    out[split] = (
        np.ascontiguousarray(images, dtype=np.float32),
        np.ascontiguousarray(labels, dtype=np.int32),
    )
  return Dataset(
      name=name,
      train_images=out['train'][0],
      train_labels=out['train'][1],
      test_images=out['test'][0],
      test_labels=out['test'][1],
      num_classes=int(num_classes),
      class_names=tuple(class_names),
  )


def load_configured(config, *, binarize: str | None = None) -> Dataset:
  """The data a run's ``config`` names, in its layout and binarisation
  (``binarize`` overrides ``config.binarize``). The user's own data outside
  [0, 1] is refused for a Bernoulli likelihood."""
  dataset = load_dataset(
      config.dataset,
      data_dir=config.data_dir or None,
      idx_dir=config.idx_dir or None,
      layout=config.layout,
      binarize=config.binarize if binarize is None else binarize,
      seed=config.seed,
      dsprites_file=config.get('dsprites_file') or None,
      image_size=config.get('image_size', 0),
      test_fraction=config.get('test_fraction', 0.2),
      label_column=config.get('label_column', ''),
  )
  if (
      user_files.parse_source(config.dataset)
      and config.get('likelihood') == 'bernoulli'
  ):
    lo = min(dataset.train_images.min(), dataset.test_images.min())
    hi = max(dataset.train_images.max(), dataset.test_images.max())
    if lo < 0 or hi > 1:
      raise ValueError(
          f'config.likelihood=bernoulli needs values in [0, 1]; '
          f'{config.dataset} spans [{lo:.4g}, {hi:.4g}]'
          + (' after standardising' if dataset.preprocessing else '')
          + '. Set --config.likelihood=gaussian.'
      )
  return dataset


def _user_dataset(name, layout, binarize, seed, **options) -> Dataset:
  """A ``'<kind>:<path>'`` source (`user_files`) as a `Dataset`."""
  loaded = user_files.load_user_data(name, **options)
  splits = loaded['splits']
  lo = min(float(x.min()) for x, _ in splits.values())
  hi = max(float(x.max()) for x, _ in splits.values())
  if binarize != 'none' and (lo < 0 or hi > 1):
    raise ValueError(
        f'config.binarize={binarize!r} needs values in [0, 1]; {name} spans '
        f'[{lo:.4g}, {hi:.4g}]. Set --config.binarize=none.'
    )
  if not loaded['images'] and layout != 'flat':
    raise ValueError(
        f'config.layout={layout!r} needs images; {name} holds vectors. Set '
        '--config.layout=flat.'
    )
  out = {
      split: _binarize_and_lay_out(x, split, layout, binarize, seed)
      for split, (x, _) in splits.items()
  }
  return Dataset(
      name=name,
      train_images=np.ascontiguousarray(out['train'], np.float32),
      train_labels=splits['train'][1],
      test_images=np.ascontiguousarray(out['test'], np.float32),
      test_labels=splits['test'][1],
      num_classes=loaded['num_classes'],
      class_names=tuple(loaded['class_names']),
      preprocessing=loaded['preprocessing'],
      is_images=loaded['images'],
  )


def _binarize_and_lay_out(images, split, layout, binarize, seed):
  """One split ``[N, H, W, C]`` binarised as ``binarize`` asks (module
  docstring) and reshaped to ``layout``."""
  if binarize == 'static' or (binarize == 'dynamic' and split == 'test'):
    images = _bernoulli(images, seed, split)
  if layout == 'flat':
    return images.reshape(images.shape[0], -1)
  if layout == 'sequence':
    return images.reshape(images.shape[0], images.shape[1], -1)
  return images


def _ground_truth_dataset(name, layout, binarize, seed, dsprites_file):
  """A ground-truth set as a `Dataset` (its splits checked when built, by
  `ground_truth.to_dataset`; a uint8 train split keeps its bytes)."""
  data = ground_truth.load_ground_truth(name, dsprites_file=dsprites_file)
  dataset = ground_truth.to_dataset(data)
  if binarize != 'none' and dataset.train_images.dtype == np.uint8:
    raise ValueError(
        f'config.binarize={binarize!r}: {name} images are binary already; '
        'set --config.binarize=none.'
    )
  return dataclasses.replace(
      dataset,
      **{
          f'{split}_images': _binarize_and_lay_out(
              getattr(dataset, f'{split}_images'), split, layout, binarize, seed
          )
          for split in ('train', 'test')
      },
  )


def _check_choice(arg: str, value: str, allowed: tuple[str, ...]) -> None:
  if value not in allowed:
    raise ValueError(
        f'{arg}={value!r} is not one of '
        f'{", ".join(repr(a) for a in allowed)}.'
    )


def _load_digits():
  """scikit-learn's digits as float32 [N, 8, 8, 1] in [0, 1], split 1497/300."""
  from sklearn import datasets as sk_datasets  # pylint: disable=g-import-not-at-top
  from sklearn import model_selection  # pylint: disable=g-import-not-at-top

  digits = sk_datasets.load_digits()
  images = (digits.images.astype(np.float32) / np.float32(16.0))[..., None]
  labels = digits.target.astype(np.int32)
  train_x, test_x, train_y, test_y = model_selection.train_test_split(
      images,
      labels,
      test_size=_DIGITS_TEST_SIZE,
      random_state=0,
      stratify=labels,
  )
  splits = {'train': (train_x, train_y), 'test': (test_x, test_y)}
  return splits, 10, tuple(str(d) for d in range(10))


def _validate_split(
    name: str,
    split: str,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
) -> None:
  """Fails, naming the split, on empty, non-finite or inconsistent data."""
  where = f'Dataset {name!r}, {split} split'
  if images.shape[0] == 0:
    raise ValueError(f'{where}: it is empty. Rebuild or reinstall the data.')
  if images.shape[0] != labels.shape[0]:
    raise ValueError(
        f'{where}: {images.shape[0]} images but ' f'{labels.shape[0]} labels.'
    )
  if not np.isfinite(images).all():
    raise ValueError(f'{where}: images contain NaN or inf values.')
  lo, hi = float(images.min()), float(images.max())
  if lo < 0.0 or hi > 1.0:
    raise ValueError(f'{where}: image values span [{lo}, {hi}], not [0, 1].')
  if labels.min() < 0 or labels.max() >= num_classes:
    raise ValueError(
        f'{where}: labels span [{labels.min()}, {labels.max()}], '
        f'not [0, {num_classes - 1}].'
    )


def _bernoulli(images: np.ndarray, seed: int, split: str) -> np.ndarray:
  """One Bernoulli(p = grey level) sample of every pixel, as float32 0/1."""
  rng = np.random.default_rng([seed, _SPLIT_STREAM[split]])
  out = np.empty(images.shape, dtype=np.float32)
  for start in range(0, images.shape[0], _BINARIZE_CHUNK):
    probs = images[start : start + _BINARIZE_CHUNK]
    out[start : start + len(probs)] = (
        rng.random(probs.shape, dtype=np.float32) < probs
    )
  return out
