"""Finding, building and reading TFDS datasets as in-memory NumPy arrays.

``load_tfds_arrays`` returns a dataset's train and test splits as ``uint8``
image arrays and integer labels. It reads prepared ArrayRecord builds with
``tfds.data_source`` (no TensorFlow needed) and decides where the data comes
from, doing every cheap check before any expensive work:

``fashion_mnist`` / ``mnist``
  1. unless ``idx_dir`` is given, a prepared catalog build
     (``<data_dir>/fashion_mnist/<version>``) in a random-access format
     (ArrayRecord);
  2. if the four IDX ``.gz`` files are in ``idx_dir``: the project's local
     IDX build of exactly those files, keyed by their content
     (``<data_dir>/local_idx/<fingerprint>/local_fashion_mnist/...``, see
     ``ae_jax.data.local_idx.builds``; hashing them takes ~25 ms), built
     from them if it is not there yet (a few seconds, no TensorFlow). A build
     is never read for files other than those it was made from; an unkeyed
     build of an earlier ae_jax (``<data_dir>/local_fashion_mnist/...``)
     cannot be checked, so it is ignored here;
  3. if the files are not in ``idx_dir``: the one local IDX build in data_dir
     (keyed or unkeyed; when ``idx_dir`` is given, only one made from that
     directory), with a warning that it could not be checked against the
     files; if there are several, ``DatasetNotFoundError`` listing them;
  4. if TensorFlow is installed, TFDS's own download and preparation as
     ArrayRecord (needs network access);
  5. otherwise ``DatasetNotFoundError``, naming where it looked and the fixes.

any other TFDS image dataset (``cifar10``, ...)
  a prepared ArrayRecord build in data_dir, else (with TensorFlow) TFDS's
  download and preparation, else ``DatasetNotFoundError``.

Splits are read in chunks with the data source's ``__getitems__`` (about
35 us an example; one ``source[i]`` call at a time is ~5x slower), falling
back to single items for sources without a working ``__getitems__`` (such as
``tfds.testing.mock_data``'s).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import time
from typing import Any, Iterator, Sequence

import numpy as np

logger = logging.getLogger(__name__)

LOCAL_IDX_DATASETS = ('fashion_mnist', 'mnist')
DEFAULT_IDX_DIRS = {
    'fashion_mnist': '/usr/share/datasets/fashion-mnist',
    'mnist': '/usr/share/datasets/mnist',
}
SPLITS = ('train', 'test')
_READ_CHUNK = 8192


class DatasetNotFoundError(FileNotFoundError):
  """The dataset is not on this machine and cannot be fetched or built here.

  The message says where the loader looked and the command that provides the
  data.
  """


@dataclasses.dataclass(frozen=True)
class TfdsArrays:
  """A dataset's splits as read from TFDS, before scaling."""

  splits: dict[str, tuple[np.ndarray, np.ndarray]]  # uint8 [N,H,W,C], int [N]
  num_classes: int
  class_names: tuple[str, ...]


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> str:
  """``data_dir``, or TFDS's default (``$TFDS_DATA_DIR``, else ~/...)."""
  if data_dir is None:
    data_dir = os.environ.get('TFDS_DATA_DIR') or '~/tensorflow_datasets'
  return os.path.expanduser(os.fspath(data_dir))


def is_tfds_name(name: str, data_dir: str | None = None) -> bool:
  """Whether TFDS knows ``name`` (its catalog, or a build in data_dir)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  try:
    with _probing():
      tfds.builder(name, data_dir=resolve_data_dir(data_dir))
  except tfds.core.registered.DatasetNotFoundError:
    return False
  return True


def load_tfds_arrays(
    name: str, *, data_dir: str | None = None, idx_dir: str | None = None
) -> TfdsArrays:
  """Finds (or builds) ``name`` in data_dir and reads both splits to memory."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  data_dir = resolve_data_dir(data_dir)
  if os.path.exists(data_dir) and not os.path.isdir(data_dir):
    raise ValueError(
        f'The TFDS data dir {data_dir} (config.data_dir, else $TFDS_DATA_DIR '
        'or ~/tensorflow_datasets) is a file; set --config.data_dir to a '
        'directory.'
    )
  with _probing():
    builder = tfds.builder(name, data_dir=data_dir)
  _check_features(name, builder)
  if name in LOCAL_IDX_DATASETS:
    builder = _local_idx_or_catalog(name, builder, data_dir, idx_dir)
  elif not _readable(builder):
    if not _tensorflow_available():
      raise DatasetNotFoundError(_generic_not_found(name, builder, data_dir))
    _download_and_prepare(name, builder, data_dir)
  return _read_builder(name, builder)


def _tensorflow_available() -> bool:
  return importlib.util.find_spec('tensorflow') is not None


class _NoMissingInfoWarning(logging.Filter):
  """Hides TFDS's warning that a not-yet-built variant has no info file."""

  def filter(self, record: logging.LogRecord) -> bool:
    return 'has no dataset_info.json' not in record.getMessage()


@contextlib.contextmanager
def _probing() -> Iterator[None]:
  """Probing a data_dir for a build expects to find none: TFDS warns then."""
  absl_logger = logging.getLogger('absl')
  quiet = _NoMissingInfoWarning()
  absl_logger.addFilter(quiet)
  try:
    yield
  finally:
    absl_logger.removeFilter(quiet)


def _readable(builder: Any) -> bool:
  """Whether builder's data is prepared in a format tfds.data_source reads."""
  from tensorflow_datasets.core import file_adapters  # pylint: disable=g-import-not-at-top

  with _probing():
    prepared = builder.is_prepared()
  if not prepared:
    return False
  random_access = set(file_adapters.FileFormat.with_random_access())
  return bool(set(builder.info.available_file_formats()) & random_access)


def _check_features(name: str, builder: Any) -> None:
  """Fails unless examples hold a fixed-shape uint8 'image' and a 'label'."""
  features = builder.info.features
  keys = sorted(features.keys()) if hasattr(features, 'keys') else []
  if 'image' not in keys or 'label' not in keys:
    raise ValueError(
        f'TFDS dataset {name!r} has features {keys}; ae_jax needs an image '
        "dataset with 'image' and 'label' features."
    )
  image = features['image']
  shape = tuple(image.shape)
  if len(shape) != 3 or any(d is None for d in shape):
    raise ValueError(
        f'TFDS dataset {name!r} has images of shape {shape}; ae_jax needs '
        'fixed-size [H, W, C] images.'
    )
  if np.dtype(image.np_dtype) != np.uint8:
    raise ValueError(
        f'TFDS dataset {name!r} has {image.np_dtype} images; '
        'ae_jax reads uint8 images.'
    )


def _local_idx_or_catalog(
    name: str, catalog: Any, data_dir: str, idx_dir: str | None
) -> Any:
  """Resolution order 1-5 of the module docstring for fashion_mnist/mnist."""
  from ae_jax.data import local_idx  # pylint: disable=g-import-not-at-top

  given = idx_dir is not None
  # Files named explicitly win over a catalog build of the same name.
  if not given and _readable(catalog):
    return catalog
  idx_dir = os.path.expanduser(
      os.fspath(idx_dir) if given else DEFAULT_IDX_DIRS[name]
  )
  builder_cls = {
      'fashion_mnist': local_idx.LocalFashionMnist,
      'mnist': local_idx.LocalMnist,
  }[name]
  missing = local_idx.missing_idx_files(idx_dir)
  if not missing:
    return _local_build_of(builder_cls, data_dir, idx_dir)
  builds = _local_builds(builder_cls, data_dir)
  if given:
    # An explicit directory without its files (moved, misspelt): only a
    # build made from that directory may stand in for them.
    builds = [b for b in builds if _made_from(b, idx_dir)]
  if len(builds) == 1:
    (build,) = builds
    logger.warning(
        'Reading the %s build %s, made from %s: idx_dir %s lacks the IDX '
        'files (%s), so the build could not be checked against them.',
        name,
        build.data_dir,
        _build_source(build, data_dir),
        idx_dir,
        ', '.join(missing),
    )
    return build
  if builds:
    raise DatasetNotFoundError(
        _several_builds(name, builds, data_dir, idx_dir, missing)
    )
  if _tensorflow_available():
    _download_and_prepare(name, catalog, data_dir)
    return catalog
  raise DatasetNotFoundError(
      _local_idx_not_found(
          name,
          data_dir,
          catalog,
          builder_cls(data_dir=data_dir),
          idx_dir,
          missing,
      )
  )


def _local_build_of(builder_cls: Any, data_dir: str, idx_dir: str) -> Any:
  """The build of the IDX files in idx_dir (order 2), made if not there yet."""
  from ae_jax.data import local_idx  # pylint: disable=g-import-not-at-top

  digests = local_idx.digest_idx_files(idx_dir)
  keyed_dir = local_idx.keyed_data_dir(data_dir, local_idx.fingerprint(digests))
  with _probing():
    if os.path.isdir(os.path.join(data_dir, builder_cls.name)):
      legacy = builder_cls(data_dir=data_dir)
      if legacy.is_prepared():
        logger.info(
            'Ignoring %s, an unkeyed build of an earlier ae_jax: it does not '
            'record its IDX files, so it cannot be checked against those in '
            '%s.',
            legacy.data_dir,
            idx_dir,
        )
    local = builder_cls(data_dir=keyed_dir, idx_dir=idx_dir)
    prepared = local.is_prepared()
  if not prepared:
    # The builder checks this too (for `tfds build`), but only once TFDS has
    # announced the build and made its directories.
    local_idx.check_idx_headers(idx_dir)
    _check_writable(data_dir, builder_cls.name)
    start = time.perf_counter()
    try:
      local.download_and_prepare(
          # One downloads dir for all builds, as before keying: the keyed
          # dir holds only the build and its source.json.
          download_dir=os.path.join(data_dir, 'downloads'),
          file_format='array_record',
      )
    except OSError:
      # Another process on this machine (multi-process training) finished the
      # same build first, so renaming ours into place failed: use theirs.
      with _probing():
        local = builder_cls(data_dir=keyed_dir, idx_dir=idx_dir)
        if not local.is_prepared():
          raise
    logger.info(
        'Built %s from the IDX files in %s into %s in %.1f s.',
        local.name,
        idx_dir,
        local.data_dir,
        time.perf_counter() - start,
    )
  local_idx.write_source(keyed_dir, idx_dir, digests)
  return local


def _check_writable(data_dir: str, build: str) -> None:
  """A build needs to write into data_dir: say so before TFDS fails there."""
  try:
    os.makedirs(data_dir, exist_ok=True)
    probe = os.path.join(data_dir, f'.write_probe.{os.getpid()}')
    with open(probe, 'w'):
      pass
    os.unlink(probe)
  except OSError as e:
    raise ValueError(
        f'The {build} build must be written once into the TFDS data dir '
        f'{data_dir}, which cannot be written ({e.strerror}); set '
        '--config.data_dir (or $TFDS_DATA_DIR) to a writable directory.'
    ) from None


def _local_builds(builder_cls: Any, data_dir: str) -> list[Any]:
  """Every prepared local IDX build in data_dir: keyed ones, then unkeyed."""
  from ae_jax.data import local_idx  # pylint: disable=g-import-not-at-top

  candidates = local_idx.keyed_data_dirs(data_dir) + [data_dir]
  builds = []
  with _probing():
    for candidate in candidates:
      # Only construct builders where one may be: TFDS's constructor is
      # ~ms, and a listing of data_dir costs microseconds.
      if os.path.isdir(os.path.join(candidate, builder_cls.name)):
        builder = builder_cls(data_dir=candidate)
        if builder.is_prepared():
          builds.append(builder)
  return builds


def _made_from(build: Any, idx_dir: str) -> bool:
  """Whether a keyed build records ``idx_dir`` as its source."""
  from ae_jax.data import local_idx  # pylint: disable=g-import-not-at-top

  source = local_idx.read_source(os.fspath(build.data_dir_root)) or {}
  recorded = source.get('idx_dir')
  return recorded is not None and os.path.abspath(recorded) == os.path.abspath(
      idx_dir
  )


def _build_source(build: Any, data_dir: str) -> str:
  """Where a local IDX build came from, from its source.json if it is keyed."""
  from ae_jax.data import local_idx  # pylint: disable=g-import-not-at-top

  root = os.fspath(build.data_dir_root)
  if os.path.abspath(root) == os.path.abspath(data_dir):
    return 'unknown source (an unkeyed build of an earlier ae_jax)'
  return local_idx.describe_source(local_idx.read_source(root))


def _download_and_prepare(name: str, builder: Any, data_dir: str) -> None:
  """TFDS's own download and preparation, as ArrayRecord (needs TF+network)."""
  with _probing():
    prepared = builder.is_prepared()
  if prepared:  # ... but in a format that tfds.data_source cannot read.
    raise DatasetNotFoundError(
        f'The TFDS build of {name!r} at {builder.data_dir} is in '
        f'{sorted(f.value for f in builder.info.available_file_formats())}, '
        'which tfds.data_source cannot read. Rebuild it as ArrayRecord: '
        f'`tfds build {name} --data_dir={data_dir} --file_format=array_record '
        '--overwrite`.'
    )
  try:
    builder.download_and_prepare(file_format='array_record')
  except (
      Exception
  ) as e:  # Whatever failed (mostly: no network), say how to fix.
    raise DatasetNotFoundError(
        f'TFDS could not download and prepare {name!r} into '
        f'{builder.data_dir} ({type(e).__name__}: {e}). Without network '
        'access, pass --config.data_dir= a TFDS data dir holding a prepared '
        f'ArrayRecord build of {name!r}.'
    ) from e


def _fixes_for_idx(name: str) -> list[str]:
  if name == 'fashion_mnist':
    return [
        '`sudo apt-get install -y dataset-fashion-mnist` (offline; puts the '
        'IDX files in /usr/share/datasets/fashion-mnist)',
        '--config.idx_dir=DIR, a directory holding the four IDX files',
    ]
  return [
      '--config.idx_dir=DIR, a directory holding the four MNIST IDX files '
      f'({", ".join(_idx_filenames())})',
  ]


def _idx_filenames() -> Sequence[str]:
  from ae_jax.data import local_idx  # pylint: disable=g-import-not-at-top

  return local_idx.all_idx_filenames()


def _relative(path: Any, root: str) -> str:
  return os.path.relpath(os.fspath(path), root)


def _local_idx_not_found(
    name: str,
    data_dir: str,
    catalog: Any,
    local: Any,
    idx_dir: str,
    missing: list[str],
) -> str:
  from ae_jax.data import local_idx  # pylint: disable=g-import-not-at-top

  fixes = _fixes_for_idx(name) + [
      '`pip install tensorflow`, with network access, so TFDS can download it',
      f'--config.data_dir=DIR, a TFDS data dir holding a prepared ArrayRecord '
      f'build of {name!r}',
  ]
  local_path = _relative(local.data_dir, data_dir)
  return (
      f'Dataset {name!r} not found. Looked for:\n'
      f'  - a prepared ArrayRecord TFDS build in data_dir {data_dir} '
      f'({_relative(catalog.data_dir, data_dir)}, '
      f'{os.path.join(local_idx.KEYED_ROOT, "*", local_path)} or '
      f'{local_path}): none;\n'
      f'  - its IDX files in idx_dir {idx_dir}: missing {", ".join(missing)};\n'
      '  - TensorFlow, so TFDS can download it (not installed).\n'
      'Fix it with one of:\n' + ''.join(f'  - {fix}\n' for fix in fixes)
  )


def _several_builds(
    name: str,
    builds: list[Any],
    data_dir: str,
    idx_dir: str,
    missing: list[str],
) -> str:
  listing = ''.join(
      f'  - {build.data_dir}, made from {_build_source(build, data_dir)}\n'
      for build in builds
  )
  return (
      f'Dataset {name!r}: idx_dir {idx_dir} lacks its IDX files (missing '
      f'{", ".join(missing)}), and data_dir {data_dir} holds '
      f'{len(builds)} builds of it; without the files, ae_jax cannot tell '
      f'which one to read:\n{listing}'
      'Fix it: pass --config.idx_dir=DIR, the directory holding the four IDX '
      'files of the data you want (their build is reused, or made).\n'
  )


def _generic_not_found(name: str, builder: Any, data_dir: str) -> str:
  return (
      f'Dataset {name!r} not found: no prepared ArrayRecord TFDS build at '
      f'{builder.data_dir}, and TensorFlow, which TFDS needs to download and '
      'build it, is not installed.\nFix it with one of:\n'
      '  - `pip install tensorflow`, with network access, so TFDS can '
      'download it\n'
      f'  - --config.data_dir=DIR, a TFDS data dir holding a prepared '
      f'ArrayRecord build of {name!r} (now: {data_dir})\n'
  )


def _read_builder(name: str, builder: Any) -> TfdsArrays:
  """Reads both splits of a prepared builder into arrays."""
  available = list(builder.info.splits.keys())
  missing = [s for s in SPLITS if s not in available]
  if available and missing:  # (mock_data builders list no splits at all.)
    raise ValueError(
        f'TFDS dataset {name!r} has splits {available}; ae_jax '
        f'needs {list(SPLITS)} (missing {missing}).'
    )
  start = time.perf_counter()
  image_shape = tuple(builder.info.features['image'].shape)
  splits = {
      split: _materialise(builder.as_data_source(split=split), image_shape)
      for split in SPLITS
  }
  label = builder.info.features['label']
  names = tuple(getattr(label, 'names', None) or ())
  if names:
    num_classes = len(names)
  else:
    num_classes = 1 + max(
        (int(l.max()) for _, l in splits.values() if l.size), default=0
    )
    names = tuple(str(i) for i in range(num_classes))
  logger.info(
      'Read %s from %s in %.1f s.',
      name,
      builder.data_dir,
      time.perf_counter() - start,
  )
  return TfdsArrays(splits=splits, num_classes=num_classes, class_names=names)


def _materialise(
    source: Sequence[dict[str, Any]], image_shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
  """All of a data source's examples, as (uint8 images, int64 labels)."""
  n = len(source)
  images = np.empty((n, *image_shape), dtype=np.uint8)
  labels = np.empty((n,), dtype=np.int64)
  getitems = getattr(source, '__getitems__', None)
  for start in range(0, n, _READ_CHUNK):
    keys = list(range(start, min(n, start + _READ_CHUNK)))
    items = None
    if getitems is not None:
      try:
        items = getitems(keys)
      except TypeError:  # e.g. tfds.testing.mock_data: read one at a time.
        getitems = None
    if items is None:
      items = [source[i] for i in keys]
    images[start : start + len(keys)] = np.stack([it['image'] for it in items])
    labels[start : start + len(keys)] = [it['label'] for it in items]
  return images, labels
