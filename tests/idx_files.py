"""Synthetic IDX files (the Fashion-MNIST format) and ways to damage them."""

import gzip
import os
import struct

import numpy as np

from ae_jax.data import local_idx


def fake_split(n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
  """Distinct, known images (0..255 everywhere) and labels."""
  pixels = np.arange(28 * 28, dtype=np.int64)
  images = (
      np.stack(
          [(pixels * (i + offset + 1) + i + offset) % 256 for i in range(n)]
      )
      .astype(np.uint8)
      .reshape(n, 28, 28)
  )
  labels = ((np.arange(n) + offset) % 10).astype(np.uint8)
  return images, labels


def write_gz(path: str, payload: bytes) -> None:
  with gzip.open(path, 'wb') as f:
    f.write(payload)


def write_idx_dir(
    directory, n_train: int, n_test: int, offset: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """The four IDX files of a ``n_train`` / ``n_test`` data set; its splits.

  Another ``offset`` gives other images and labels of the same shapes.
  """
  os.makedirs(directory, exist_ok=True)
  splits = {
      'train': fake_split(n_train, offset),
      'test': fake_split(n_test, 100 + offset),
  }
  for split, (images, labels) in splits.items():
    images_name, labels_name = local_idx.IDX_FILES[split]
    n = len(images)
    write_gz(
        os.path.join(directory, images_name),
        struct.pack('>iiii', 2051, n, 28, 28) + images.tobytes(),
    )
    write_gz(
        os.path.join(directory, labels_name),
        struct.pack('>ii', 2049, n) + labels.tobytes(),
    )
  return splits


def truncate(path) -> None:
  """Cuts the (gzip) file in half."""
  with open(path, 'rb') as f:
    raw = f.read()
  with open(path, 'wb') as f:
    f.write(raw[: len(raw) // 2])


def wrong_magic(path) -> None:
  """Replaces the IDX magic number with 1234."""
  with gzip.open(path, 'rb') as f:
    raw = f.read()
  write_gz(path, struct.pack('>i', 1234) + raw[4:])


def empty_split(directory, split: str) -> None:
  """Rewrites a split's two files as valid IDX files that hold 0 examples."""
  images_name, labels_name = local_idx.IDX_FILES[split]
  write_gz(
      os.path.join(directory, images_name),
      struct.pack('>iiii', 2051, 0, 28, 28),
  )
  write_gz(os.path.join(directory, labels_name), struct.pack('>ii', 2049, 0))
