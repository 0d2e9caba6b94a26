"""TFDS builders for MNIST-style datasets from local IDX ``.gz`` files.

TFDS's catalog ``fashion_mnist``/``mnist`` builders need TensorFlow to build
(downloads, ``tf.io.gfile``, PNG encoding). These builders read the same four
IDX files from a local directory with NumPy and store images as
``tfds.features.Tensor`` (raw ``uint8``, no encoding), so they build to
``file_format='array_record'`` without TensorFlow in a few seconds, and the
result is read back with ``tfds.data_source`` like any catalog dataset.

They register as ``local_fashion_mnist`` and ``local_mnist`` (explicit names,
so they never shadow the catalog's ``fashion_mnist``/``mnist``) and build
under ``<data_dir>/local_fashion_mnist/<VERSION>/``. The IDX directory is the
``idx_dir`` constructor keyword; when it is None, the TFDS ``manual_dir``
(``tfds build --manual_dir=DIR``) is used.

A builder only reads ``idx_dir`` when it builds: it takes an existing build in
its data_dir as prepared, whatever files that build came from. So ae_jax never
builds into a data_dir shared by different files: ``tfds_source`` gives each
set of files its own data dir, keyed by their content
(``<data_dir>/local_idx/<fingerprint>/``, see ``builds.py``).

Versioning follows TFDS: bump ``VERSION`` (and add a ``RELEASE_NOTES`` entry)
whenever the generated examples or features change, so that older builds in a
data_dir are not read as if they were current.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import numpy as np
import tensorflow_datasets as tfds

from ae_jax.data.local_idx import idx

IMAGE_SHAPE = (28, 28, 1)

FASHION_MNIST_CLASS_NAMES = (
    'T-shirt/top',
    'Trouser',
    'Pullover',
    'Dress',
    'Coat',
    'Sandal',
    'Shirt',
    'Sneaker',
    'Bag',
    'Ankle boot',
)
MNIST_CLASS_NAMES = tuple(str(d) for d in range(10))


class _LocalIdxBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Shared logic: IDX files in a local directory -> train/test splits."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release: IDX files read with NumPy.'}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      'Place the four IDX files ('
      + ', '.join(idx.all_idx_filenames())
      + ') in the manual directory, or pass idx_dir= to the builder.'
  )

  CLASS_NAMES: tuple[str, ...] = ()
  DESCRIPTION = ''
  HOMEPAGE = ''
  CITATION = ''

  def __init__(
      self, *, idx_dir: str | os.PathLike[str] | None = None, **kwargs: Any
  ):
    self._idx_dir = None if idx_dir is None else os.fspath(idx_dir)
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        description=self.DESCRIPTION,
        features=tfds.features.FeaturesDict(
            {
                'image': tfds.features.Tensor(
                    shape=IMAGE_SHAPE, dtype=np.uint8
                ),
                'label': tfds.features.ClassLabel(names=list(self.CLASS_NAMES)),
            }
        ),
        supervised_keys=('image', 'label'),
        # Keep the IDX files' (canonical) order instead of TFDS's hash order.
        disable_shuffling=True,
        homepage=self.HOMEPAGE,
        citation=self.CITATION,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    idx_dir = self._idx_dir
    if idx_dir is None:
      idx_dir = os.fspath(dl_manager.manual_dir)
    missing = idx.missing_idx_files(idx_dir)
    if missing:
      raise FileNotFoundError(
          f'{self.name}: IDX files {missing} not found in {idx_dir!r}. '
          + self.MANUAL_DOWNLOAD_INSTRUCTIONS
      )
    # Before any example is written: TFDS's writer fails on an empty split
    # with a long traceback that names neither the file nor the fix.
    idx.check_idx_headers(idx_dir)
    return {
        split: self._generate_examples(idx_dir, split)
        for split in ('train', 'test')
    }

  def _generate_examples(
      self, idx_dir: str, split: str
  ) -> Iterator[tuple[int, dict[str, Any]]]:
    images, labels = idx.read_idx_split(idx_dir, split, len(self.CLASS_NAMES))
    if images.shape[1:] != IMAGE_SHAPE:
      raise ValueError(
          f'{self.name}: {split} images in {idx_dir!r} have shape '
          f'{images.shape[1:]}, expected {IMAGE_SHAPE}.'
      )
    for i in range(images.shape[0]):
      yield i, {'image': images[i], 'label': int(labels[i])}


class LocalFashionMnist(_LocalIdxBuilder):
  """Fashion-MNIST (Xiao et al. 2017) from local IDX files."""

  name = 'local_fashion_mnist'
  CLASS_NAMES = FASHION_MNIST_CLASS_NAMES
  DESCRIPTION = (
      'Fashion-MNIST: 28x28 grey images of 10 clothing classes, '
      '60,000 train / 10,000 test, read from local IDX files.'
  )
  HOMEPAGE = 'https://github.com/zalandoresearch/fashion-mnist'
  CITATION = (
      'Han Xiao, Kashif Rasul, Roland Vollgraf. Fashion-MNIST: a Novel '
      'Image Dataset for Benchmarking Machine Learning Algorithms. '
      'arXiv:1708.07747, 2017.'
  )


class LocalMnist(_LocalIdxBuilder):
  """MNIST (LeCun et al. 1998) from local IDX files."""

  name = 'local_mnist'
  CLASS_NAMES = MNIST_CLASS_NAMES
  DESCRIPTION = (
      'MNIST: 28x28 grey handwritten digits, 60,000 train / '
      '10,000 test, read from local IDX files.'
  )
  HOMEPAGE = 'http://yann.lecun.com/exdb/mnist/'
  CITATION = (
      'Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based '
      'learning applied to document recognition. Proceedings of the '
      'IEEE 86(11):2278-2324, 1998.'
  )
