"""TFDS builders that turn local MNIST-style IDX files into ArrayRecord builds.

Importing this package registers ``local_fashion_mnist`` and ``local_mnist``
with TFDS. See ``builder.py`` for the builders, ``idx.py`` for the reader and
``builds.py`` for where builds live (keyed by their files' content).
"""

from ae_jax.data.local_idx.builder import FASHION_MNIST_CLASS_NAMES
from ae_jax.data.local_idx.builder import IMAGE_SHAPE
from ae_jax.data.local_idx.builder import LocalFashionMnist
from ae_jax.data.local_idx.builder import LocalMnist
from ae_jax.data.local_idx.builder import MNIST_CLASS_NAMES
from ae_jax.data.local_idx.builds import describe_source
from ae_jax.data.local_idx.builds import digest_idx_files
from ae_jax.data.local_idx.builds import fingerprint
from ae_jax.data.local_idx.builds import idx_fingerprint
from ae_jax.data.local_idx.builds import KEYED_ROOT
from ae_jax.data.local_idx.builds import keyed_data_dir
from ae_jax.data.local_idx.builds import keyed_data_dirs
from ae_jax.data.local_idx.builds import read_source
from ae_jax.data.local_idx.builds import SOURCE_FILE
from ae_jax.data.local_idx.builds import write_source
from ae_jax.data.local_idx.idx import IDX_FILES
from ae_jax.data.local_idx.idx import all_idx_filenames
from ae_jax.data.local_idx.idx import check_idx_headers
from ae_jax.data.local_idx.idx import missing_idx_files
from ae_jax.data.local_idx.idx import read_idx_images
from ae_jax.data.local_idx.idx import read_idx_labels
from ae_jax.data.local_idx.idx import read_idx_split

__all__ = [
    'FASHION_MNIST_CLASS_NAMES',
    'IDX_FILES',
    'IMAGE_SHAPE',
    'KEYED_ROOT',
    'LocalFashionMnist',
    'LocalMnist',
    'MNIST_CLASS_NAMES',
    'SOURCE_FILE',
    'all_idx_filenames',
    'check_idx_headers',
    'describe_source',
    'digest_idx_files',
    'fingerprint',
    'idx_fingerprint',
    'keyed_data_dir',
    'keyed_data_dirs',
    'missing_idx_files',
    'read_idx_images',
    'read_idx_labels',
    'read_idx_split',
    'read_source',
    'write_source',
]
