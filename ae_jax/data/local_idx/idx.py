"""Reading MNIST-style IDX files (``*-idx3-ubyte.gz`` / ``*-idx1-ubyte.gz``).

The IDX format (LeCun et al.) is a big-endian header -- a magic number, then
one ``int32`` per dimension -- followed by the raw ``uint8`` values. Images use
magic 2051 (3 dimensions: count, rows, columns) and labels magic 2049 (1
dimension: count). Files are read in full with ``gzip`` and ``np.frombuffer``;
every defect (gzip error, truncation, wrong magic, wrong size) becomes a
``ValueError`` that names the file and how to get an intact copy. A file that
holds no images is valid IDX but cannot make a split:
``check_idx_headers`` refuses it from the headers alone.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

# The four files of the MNIST and Fashion-MNIST distributions, by split.
IDX_FILES: dict[str, tuple[str, str]] = {
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}

_REINSTALL_HINT = (
    'Replace it with an intact copy: for Fashion-MNIST, '
    '`sudo apt-get install --reinstall dataset-fashion-mnist`; otherwise '
    'fetch the file again from its source.'
)


def all_idx_filenames() -> tuple[str, ...]:
  """The four IDX file names, train first."""
  return IDX_FILES['train'] + IDX_FILES['test']


def missing_idx_files(idx_dir: str | os.PathLike[str] | None) -> list[str]:
  """Names of the IDX files absent from ``idx_dir`` (all four if it is None)."""
  if idx_dir is None or not os.path.isdir(idx_dir):
    return list(all_idx_filenames())
  return [
      name
      for name in all_idx_filenames()
      if not os.path.isfile(os.path.join(idx_dir, name))
  ]


def _corrupt(path: str, why: str) -> ValueError:
  return ValueError(f'IDX file {path!r} is corrupt: {why}. {_REINSTALL_HINT}')


def _decompress(path: str, size: int = -1) -> bytes:
  """The first ``size`` decompressed bytes of path (all of them if -1)."""
  try:
    with gzip.open(path, 'rb') as f:
      return f.read(size)
  except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError.
    raise _corrupt(
        path, f'cannot decompress it ({type(e).__name__}: {e})'
    ) from e


def _parse_header(
    path: str, raw: bytes, magic: int, ndim: int
) -> tuple[int, ...]:
  """The dimensions in an IDX header, after checking its magic and signs."""
  header_size = 4 * (1 + ndim)
  if len(raw) < header_size:
    raise _corrupt(path, f'{len(raw)} bytes is shorter than its header')
  header = np.frombuffer(raw, dtype='>i4', count=1 + ndim)
  if int(header[0]) != magic:
    raise _corrupt(
        path,
        f'magic number {int(header[0])}, expected {magic} '
        f'({"images" if magic == IMAGES_MAGIC else "labels"})',
    )
  dims = tuple(int(d) for d in header[1:])
  if any(d < 0 for d in dims):
    raise _corrupt(path, f'negative dimension in header {dims}')
  return dims


def _read_payload(
    path: str, magic: int, ndim: int
) -> tuple[tuple[int, ...], np.ndarray]:
  """Returns ``(dims, values)`` of an IDX file after checking its integrity."""
  raw = _decompress(path)
  dims = _parse_header(path, raw, magic, ndim)
  header_size = 4 * (1 + ndim)
  expected = header_size + int(np.prod(dims, dtype=np.int64))
  if len(raw) != expected:
    raise _corrupt(
        path, f'{len(raw)} bytes where the header {dims} implies {expected}'
    )
  values = np.frombuffer(raw, dtype=np.uint8, offset=header_size)
  return dims, values


def check_idx_headers(idx_dir: str) -> None:
  """Fails, naming the file, on what the four headers alone show is wrong.

  Only the headers are read (microseconds), before a build that would
  otherwise convert the whole train split first:

  * a split's images file holding 0 images: valid IDX, but TFDS cannot write
    an empty split (it fails deep in its writer, "No examples were yielded");
  * a labels file whose count differs from its images file's;
  * train files holding fewer images than test files: the ``train-*`` and
    ``t10k-*`` files swapped, which would otherwise train on the test split.
  """
  counts = {}
  for split, (images_name, labels_name) in IDX_FILES.items():
    path = os.path.join(idx_dir, images_name)
    dims = _parse_header(path, _decompress(path, 16), IMAGES_MAGIC, ndim=3)
    if dims[0] == 0:
      raise ValueError(
          f'IDX file {path!r} holds 0 images, so the {split} split would be '
          f'empty; ae_jax needs at least one {split} image. Point '
          '--config.idx_dir at a directory whose four IDX files hold the '
          'data set, or replace this file with an intact copy (for '
          'Fashion-MNIST: `sudo apt-get install --reinstall '
          'dataset-fashion-mnist`).'
      )
    labels_path = os.path.join(idx_dir, labels_name)
    (num_labels,) = _parse_header(
        labels_path, _decompress(labels_path, 8), LABELS_MAGIC, ndim=1
    )
    if num_labels != dims[0]:
      raise _corrupt(
          labels_path,
          f'{num_labels} labels for the {dims[0]} images of {path!r}',
      )
    counts[split] = dims[0]
  if counts['train'] < counts['test']:
    raise ValueError(
        f'The train IDX files in {idx_dir!r} hold {counts["train"]} images, '
        f'fewer than the {counts["test"]} of the test files: the train-* and '
        't10k-* files look swapped. Give each its own name '
        f'({", ".join(all_idx_filenames())}).'
    )


# The name of earlier versions.
check_idx_splits_not_empty = check_idx_headers


def read_idx_images(path: str) -> np.ndarray:
  """Reads an ``idx3`` image file as ``uint8 [N, rows, cols, 1]``."""
  dims, values = _read_payload(path, IMAGES_MAGIC, ndim=3)
  return values.reshape(*dims, 1)


def read_idx_labels(path: str, num_classes: int | None = None) -> np.ndarray:
  """Reads an ``idx1`` label file as ``int64 [N]``; checks the label range."""
  _, values = _read_payload(path, LABELS_MAGIC, ndim=1)
  if num_classes is not None and values.size and values.max() >= num_classes:
    raise _corrupt(
        path, f'label {int(values.max())} outside [0, {num_classes - 1}]'
    )
  return values.astype(np.int64)


def read_idx_split(
    idx_dir: str, split: str, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
  """Reads one split (``'train'`` or ``'test'``) as ``(images, labels)``."""
  images_name, labels_name = IDX_FILES[split]
  images_path = os.path.join(idx_dir, images_name)
  labels_path = os.path.join(idx_dir, labels_name)
  images = read_idx_images(images_path)
  labels = read_idx_labels(labels_path, num_classes)
  if images.shape[0] != labels.shape[0]:
    raise _corrupt(
        labels_path,
        f'{labels.shape[0]} labels for the {images.shape[0]} '
        f'images of {images_path!r}',
    )
  return images, labels
