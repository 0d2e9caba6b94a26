"""Where local IDX builds live in a TFDS data dir, keyed by their source files.

A build made from the IDX files of one directory must never be read in place
of another directory's files: ``load_dataset('mnist', idx_dir=B)`` after a
build from ``A`` in the same data_dir would silently train on A's images. So
each build goes into a data dir of its own, named by a fingerprint of the
content of the four files it was made from::

  <data_dir>/local_idx/<fingerprint>/local_mnist/1.0.0/   the TFDS build
  <data_dir>/local_idx/<fingerprint>/source.json          what it came from

The fingerprint is the first 16 hex digits of a sha256 over the four files'
names, sizes and sha256 digests (~25 ms for Fashion-MNIST's 30 MB of ``.gz``
files). Builds of different files coexist, the same files find their build
from whatever directory they are read, and nothing here deletes or overwrites
a build. ``source.json`` records ``idx_dir`` as it was given and each file's
size and sha256, for a person asking where a build came from.

Earlier versions of ae_jax built into ``<data_dir>/local_mnist/1.0.0`` and
recorded no source; such a "legacy" build cannot be checked against any files.
This module only names paths and digests; ``tfds_source`` decides which build
to read.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping

from ae_jax.data.local_idx import idx

KEYED_ROOT = 'local_idx'
SOURCE_FILE = 'source.json'
_FINGERPRINT_HEX_DIGITS = 16


def digest_idx_files(
    idx_dir: str | os.PathLike[str],
) -> dict[str, dict[str, Any]]:
  """``{file name: {'size': bytes, 'sha256': hex}}`` of the four IDX files."""
  digests = {}
  for name in idx.all_idx_filenames():
    path = os.path.join(idx_dir, name)
    with open(path, 'rb') as f:
      sha256 = hashlib.file_digest(f, 'sha256').hexdigest()
    digests[name] = {'size': os.path.getsize(path), 'sha256': sha256}
  return digests


def fingerprint(digests: Mapping[str, Mapping[str, Any]]) -> str:
  """The build key of ``digest_idx_files``'s result: 16 hex digits."""
  h = hashlib.sha256()
  for name in idx.all_idx_filenames():
    size, sha256 = digests[name]['size'], digests[name]['sha256']
    h.update(f'{name}\0{size}\0{sha256}\n'.encode())
  return h.hexdigest()[:_FINGERPRINT_HEX_DIGITS]


def idx_fingerprint(idx_dir: str | os.PathLike[str]) -> str:
  """The build key of the four IDX files in ``idx_dir`` (all must exist)."""
  return fingerprint(digest_idx_files(idx_dir))


def keyed_data_dir(data_dir: str, key: str) -> str:
  """The TFDS data dir that holds the builds of the files with this key."""
  return os.path.join(data_dir, KEYED_ROOT, key)


def keyed_data_dirs(data_dir: str) -> list[str]:
  """Every keyed data dir under ``data_dir``, sorted (built or not)."""
  root = os.path.join(data_dir, KEYED_ROOT)
  if not os.path.isdir(root):
    return []
  return [
      os.path.join(root, key)
      for key in sorted(os.listdir(root))
      if os.path.isdir(os.path.join(root, key))
  ]


def write_source(
    keyed_dir: str,
    idx_dir: str,
    digests: Mapping[str, Mapping[str, Any]],
) -> None:
  """Writes ``source.json`` into keyed_dir unless one is there already.

  The first build's record stays: the files' digests are the same for any
  later writer (they are the key), only its idx_dir may differ. The record is
  written to a temporary file and renamed, so a reader never sees half of it.
  """
  path = os.path.join(keyed_dir, SOURCE_FILE)
  if os.path.exists(path):
    return
  record = {
      'idx_dir': idx_dir,
      'fingerprint': fingerprint(digests),
      'files': {name: dict(digests[name]) for name in idx.all_idx_filenames()},
  }
  tmp = f'{path}.tmp-{os.getpid()}'
  with open(tmp, 'w') as f:
    json.dump(record, f, indent=2)
    f.write('\n')
  os.replace(tmp, path)


def read_source(keyed_dir: str) -> dict[str, Any] | None:
  """keyed_dir's ``source.json``, or None if it is missing or unreadable."""
  try:
    with open(os.path.join(keyed_dir, SOURCE_FILE)) as f:
      record = json.load(f)
  except (OSError, ValueError):
    return None
  return record if isinstance(record, dict) else None


def describe_source(record: Mapping[str, Any] | None) -> str:
  """A build's origin in words, from its ``source.json`` record."""
  if not record:
    return 'unknown source'
  return (
      f'the IDX files in {record.get("idx_dir", "?")} '
      f'(fingerprint {record.get("fingerprint", "?")})'
  )
