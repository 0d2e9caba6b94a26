"""TFDS builders that turn local MNIST-style IDX files into ArrayRecord builds.

Importing this package registers ``local_fashion_mnist`` and ``local_mnist``
with TFDS. See ``builder.py`` for the builders and ``idx.py`` for the reader.
"""

from ae_jax.data.local_idx.builder import FASHION_MNIST_CLASS_NAMES
from ae_jax.data.local_idx.builder import IMAGE_SHAPE
from ae_jax.data.local_idx.builder import LocalFashionMnist
from ae_jax.data.local_idx.builder import LocalMnist
from ae_jax.data.local_idx.builder import MNIST_CLASS_NAMES
from ae_jax.data.local_idx.idx import IDX_FILES
from ae_jax.data.local_idx.idx import all_idx_filenames
from ae_jax.data.local_idx.idx import missing_idx_files
from ae_jax.data.local_idx.idx import read_idx_images
from ae_jax.data.local_idx.idx import read_idx_labels
from ae_jax.data.local_idx.idx import read_idx_split

__all__ = [
    'FASHION_MNIST_CLASS_NAMES',
    'IDX_FILES',
    'IMAGE_SHAPE',
    'LocalFashionMnist',
    'LocalMnist',
    'MNIST_CLASS_NAMES',
    'all_idx_filenames',
    'missing_idx_files',
    'read_idx_images',
    'read_idx_labels',
    'read_idx_split',
]
