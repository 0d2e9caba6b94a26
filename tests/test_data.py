"""Tests of ae_jax.data: datasets by name, local IDX builds, batching, prefetch.

Every TFDS data_dir is under tmp_path: nothing touches ~/tensorflow_datasets.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import logging
import os
import struct
import threading
import time
from unittest import mock

import numpy as np
import pytest

from ae_jax import data
from ae_jax.data import datasets
from ae_jax.data import local_idx
from ae_jax.data import tfds_source
from tests import idx_files

FASHION_DIR = '/usr/share/datasets/fashion-mnist'
N_TRAIN, N_TEST = 20, 10


# --------------------------------------------------------------------------
# Fake IDX files.


@pytest.fixture(autouse=True)
def _no_tensorflow(monkeypatch):
  # Behave as on a machine without TensorFlow even where it is installed, so
  # that no test ever tries to download.
  monkeypatch.setattr(tfds_source, '_tensorflow_available', lambda: False)


@pytest.fixture(scope='module')
def built(tmp_path_factory):
  """Fake IDX files, and a data_dir where fashion_mnist was built from them."""
  root = tmp_path_factory.mktemp('built')
  idx_dir, data_dir = str(root / 'idx'), str(root / 'tfds')
  splits = idx_files.write_idx_dir(idx_dir, N_TRAIN, N_TEST)
  with mock.patch.object(tfds_source, '_tensorflow_available', lambda: False):
    first = data.load_dataset(
        'fashion_mnist', data_dir=data_dir, idx_dir=idx_dir, layout='hwc'
    )
  return dict(idx_dir=idx_dir, data_dir=data_dir, splits=splits, first=first)


def _build_dir(data_dir, idx_dir, builder='local_fashion_mnist'):
  """Where the build of idx_dir's files lives in data_dir (keyed by them)."""
  fingerprint = local_idx.idx_fingerprint(idx_dir)
  keyed = local_idx.keyed_data_dir(str(data_dir), fingerprint)
  return os.path.join(keyed, builder, '1.0.0')


def _assert_holds(ds, splits):
  """ds (flat layout) holds exactly the images and labels of splits."""
  for split, (raw_images, raw_labels) in splits.items():
    np.testing.assert_array_equal(
        getattr(ds, f'{split}_images'),
        raw_images.reshape(len(raw_images), -1).astype(np.float32) / 255,
    )
    np.testing.assert_array_equal(getattr(ds, f'{split}_labels'), raw_labels)


# --------------------------------------------------------------------------
# digits.


@pytest.mark.parametrize('layout,shape', [('flat', (64,)), ('hwc', (8, 8, 1))])
def test_digits_shapes_and_values(layout, shape):
  ds = data.load_dataset('digits', layout=layout)
  assert ds.name == 'digits' and ds.input_shape == shape
  assert ds.train_images.shape == (1497, *shape)
  assert ds.test_images.shape == (300, *shape)
  for x in (ds.train_images, ds.test_images):
    assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
  for y in (ds.train_labels, ds.test_labels):
    assert y.dtype == np.int32 and set(np.unique(y)) == set(range(10))
  assert ds.num_classes == 10 and ds.class_names == tuple('0123456789')
  # Stratified: every class has its share of the 300 test digits.
  assert np.bincount(ds.test_labels).min() >= 28


def test_digits_deterministic():
  a, b = data.load_dataset('digits'), data.load_dataset('digits')
  np.testing.assert_array_equal(a.train_images, b.train_images)
  np.testing.assert_array_equal(a.test_labels, b.test_labels)


# --------------------------------------------------------------------------
# Local IDX builds.


def test_local_idx_build_round_trips_pixels_and_labels(built):
  ds = built['first']
  assert ds.name == 'fashion_mnist' and ds.input_shape == (28, 28, 1)
  assert ds.class_names == local_idx.FASHION_MNIST_CLASS_NAMES
  assert ds.num_classes == 10
  for split in ('train', 'test'):
    raw_images, raw_labels = built['splits'][split]
    images = getattr(ds, f'{split}_images')
    labels = getattr(ds, f'{split}_labels')
    assert images.dtype == np.float32 and labels.dtype == np.int32
    np.testing.assert_array_equal(
        images, raw_images[..., None].astype(np.float32) / np.float32(255)
    )
    np.testing.assert_array_equal(labels, raw_labels)
  # Keyed by the files' content; nothing at the unkeyed place of old builds.
  assert os.path.isdir(_build_dir(built['data_dir'], built['idx_dir']))
  assert not os.path.exists(
      os.path.join(built['data_dir'], 'local_fashion_mnist')
  )


def test_second_load_reuses_the_build(built, tmp_path):
  build_dir = _build_dir(built['data_dir'], built['idx_dir'])
  mtimes = {
      f: os.path.getmtime(os.path.join(build_dir, f))
      for f in os.listdir(build_dir)
  }
  with mock.patch.object(
      local_idx.LocalFashionMnist,
      'download_and_prepare',
      side_effect=AssertionError('rebuilt'),
  ):
    # The same files: their build is read, not made again.
    ds = data.load_dataset(
        'fashion_mnist',
        data_dir=built['data_dir'],
        idx_dir=built['idx_dir'],
    )
  assert ds.train_images.shape == (N_TRAIN, 784)
  np.testing.assert_array_equal(
      ds.train_images, built['first'].train_images.reshape(N_TRAIN, -1)
  )
  assert mtimes == {
      f: os.path.getmtime(os.path.join(build_dir, f)) for f in mtimes
  }


def test_build_is_read_by_its_tfds_name(built):
  # The generic path: any TFDS name, read with tfds.data_source (ArrayRecord).
  # A keyed dir is an ordinary TFDS data dir.
  keyed = local_idx.keyed_data_dir(
      built['data_dir'], local_idx.idx_fingerprint(built['idx_dir'])
  )
  ds = data.load_dataset('local_fashion_mnist', data_dir=keyed, layout='hwc')
  np.testing.assert_array_equal(ds.test_images, built['first'].test_images)
  np.testing.assert_array_equal(ds.test_labels, built['first'].test_labels)
  assert ds.class_names == local_idx.FASHION_MNIST_CLASS_NAMES


def test_local_mnist_build(tmp_path):
  splits = idx_files.write_idx_dir(tmp_path / 'idx', N_TRAIN, N_TEST)
  ds = data.load_dataset(
      'mnist', data_dir=str(tmp_path / 'tfds'), idx_dir=str(tmp_path / 'idx')
  )
  assert ds.class_names == tuple('0123456789')
  np.testing.assert_array_equal(ds.test_labels, splits['test'][1])
  assert os.path.isdir(
      _build_dir(tmp_path / 'tfds', tmp_path / 'idx', 'local_mnist')
  )
  assert not os.path.exists(tmp_path / 'tfds' / 'mnist')


def test_concurrent_build_by_another_process_is_used(tmp_path):
  idx_files.write_idx_dir(tmp_path / 'idx', N_TRAIN, N_TEST)
  data_dir, idx_dir = str(tmp_path / 'tfds'), str(tmp_path / 'idx')
  build = local_idx.LocalFashionMnist.download_and_prepare

  def lose_the_race(self, **kwargs):
    # Another process builds the same files first; our rename fails.
    build(
        local_idx.LocalFashionMnist(
            data_dir=self.data_dir_root, idx_dir=idx_dir
        ),
        **kwargs,
    )
    raise OSError(39, 'Directory not empty')

  with mock.patch.object(
      local_idx.LocalFashionMnist, 'download_and_prepare', lose_the_race
  ):
    ds = data.load_dataset('fashion_mnist', data_dir=data_dir, idx_dir=idx_dir)
  assert ds.train_images.shape == (N_TRAIN, 784)


# --------------------------------------------------------------------------
# Builds keyed by the content of their IDX files.


def _load_mnist(data_dir, idx_dir):
  """MNIST from ``idx_dir`` (None: the default directory, absent here)."""
  return data.load_dataset(
      'mnist',
      data_dir=str(data_dir),
      idx_dir=None if idx_dir is None else str(idx_dir),
  )


@pytest.fixture
def count_builds(monkeypatch):
  """The data dirs that local_mnist was built into, in order."""
  built_into = []
  build = local_idx.LocalMnist.download_and_prepare

  def counting(self, **kwargs):
    built_into.append(os.fspath(self.data_dir_root))
    return build(self, **kwargs)

  monkeypatch.setattr(local_idx.LocalMnist, 'download_and_prepare', counting)
  return built_into


def _legacy_build(data_dir, idx_dir):
  """An unkeyed build, where ae_jax before keying wrote it."""
  local_idx.LocalMnist(
      data_dir=str(data_dir), idx_dir=str(idx_dir)
  ).download_and_prepare(file_format='array_record')


def test_other_idx_files_in_one_data_dir_get_their_own_build(
    tmp_path, count_builds
):
  # The same shapes, other pixels and labels: reading A's build for B's files
  # would go unnoticed.
  a = idx_files.write_idx_dir(tmp_path / 'a', N_TRAIN, N_TEST)
  b = idx_files.write_idx_dir(tmp_path / 'b', N_TRAIN, N_TEST, offset=1)
  data_dir = tmp_path / 'tfds'
  _assert_holds(_load_mnist(data_dir, tmp_path / 'a'), a)
  _assert_holds(_load_mnist(data_dir, tmp_path / 'b'), b)
  assert len(count_builds) == 2 and count_builds[0] != count_builds[1]
  # A again: its build is still there, read without building.
  _assert_holds(_load_mnist(data_dir, tmp_path / 'a'), a)
  assert len(count_builds) == 2
  # The same files from another directory are the same build.
  os.rename(tmp_path / 'a', tmp_path / 'a_moved')
  _assert_holds(_load_mnist(data_dir, tmp_path / 'a_moved'), a)
  assert len(count_builds) == 2


def test_source_json_records_where_a_build_came_from(tmp_path):
  idx_dir = tmp_path / 'idx'
  idx_files.write_idx_dir(idx_dir, N_TRAIN, N_TEST)
  _load_mnist(tmp_path / 'tfds', idx_dir)
  (key,) = os.listdir(tmp_path / 'tfds' / local_idx.KEYED_ROOT)
  assert len(key) == 16 and int(key, 16) >= 0
  assert key == local_idx.idx_fingerprint(idx_dir)
  keyed = tmp_path / 'tfds' / local_idx.KEYED_ROOT / key
  with open(keyed / local_idx.SOURCE_FILE) as f:
    source = json.load(f)
  assert source['idx_dir'] == str(idx_dir) and source['fingerprint'] == key
  assert list(source['files']) == list(local_idx.all_idx_filenames())
  for name, recorded in source['files'].items():
    raw = (idx_dir / name).read_bytes()
    assert recorded == {
        'size': len(raw),
        'sha256': hashlib.sha256(raw).hexdigest(),
    }
  # Any change to a file is another build.
  idx_files.truncate(idx_dir / 't10k-labels-idx1-ubyte.gz')
  assert local_idx.idx_fingerprint(idx_dir) != key


@pytest.mark.parametrize('kind', ['keyed', 'legacy'])
def test_absent_files_read_the_one_build_with_a_warning(tmp_path, caplog, kind):
  a = idx_files.write_idx_dir(tmp_path / 'a', N_TRAIN, N_TEST)
  data_dir = tmp_path / 'tfds'
  if kind == 'keyed':
    _load_mnist(data_dir, tmp_path / 'a')
    build = _build_dir(data_dir, tmp_path / 'a', 'local_mnist')
    source = f'the IDX files in {tmp_path / "a"}'
  else:
    _legacy_build(data_dir, tmp_path / 'a')
    build = str(data_dir / 'local_mnist' / '1.0.0')
    source = 'unknown source'
  caplog.set_level(logging.WARNING, logger=tfds_source.__name__)
  _assert_holds(_load_mnist(data_dir, None), a)  # The default idx_dir.
  (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
  message = warning.getMessage()
  assert build in message and source in message
  assert 'could not be checked' in message
  # Its own directory, files since removed: the build made from it.
  if kind == 'keyed':
    for f in (tmp_path / 'a').iterdir():
      f.unlink()
    _assert_holds(_load_mnist(data_dir, tmp_path / 'a'), a)


def test_a_given_idx_dir_without_files_never_reads_another_dirs_build(
    tmp_path,
):
  # Before, --config.idx_dir=B (misspelt, or moved) silently trained on the
  # build of A while config.json recorded B.
  idx_files.write_idx_dir(tmp_path / 'a', N_TRAIN, N_TEST)
  data_dir = tmp_path / 'tfds'
  _load_mnist(data_dir, tmp_path / 'a')
  with pytest.raises(data.DatasetNotFoundError, match='idx_dir'):
    _load_mnist(data_dir, tmp_path / 'b')


def test_absent_files_with_two_builds_name_both(tmp_path):
  idx_files.write_idx_dir(tmp_path / 'a', N_TRAIN, N_TEST)
  idx_files.write_idx_dir(tmp_path / 'b', N_TRAIN, N_TEST, offset=1)
  data_dir = tmp_path / 'tfds'
  _load_mnist(data_dir, tmp_path / 'a')
  _load_mnist(data_dir, tmp_path / 'b')
  with pytest.raises(data.DatasetNotFoundError) as e:
    _load_mnist(data_dir, None)
  message = str(e.value)
  for d in ('a', 'b'):
    assert _build_dir(data_dir, tmp_path / d, 'local_mnist') in message
    assert f'the IDX files in {tmp_path / d} ' in message
  assert '2 builds' in message and '--config.idx_dir=DIR' in message


def test_unkeyed_build_is_ignored_when_files_are_present(
    tmp_path, caplog, count_builds
):
  idx_files.write_idx_dir(tmp_path / 'a', N_TRAIN, N_TEST)
  b = idx_files.write_idx_dir(tmp_path / 'b', N_TRAIN, N_TEST, offset=1)
  data_dir = tmp_path / 'tfds'
  _legacy_build(data_dir, tmp_path / 'a')  # Of other files than b's.
  caplog.set_level(logging.INFO, logger=tfds_source.__name__)
  _assert_holds(_load_mnist(data_dir, tmp_path / 'b'), b)
  assert count_builds[-1] == local_idx.keyed_data_dir(
      str(data_dir), local_idx.idx_fingerprint(tmp_path / 'b')
  )
  assert any(
      r.getMessage().startswith(f'Ignoring {data_dir / "local_mnist"}')
      for r in caplog.records
  )
  assert os.path.isdir(data_dir / 'local_mnist' / '1.0.0')  # Not deleted.


def test_builder_names_do_not_shadow_the_catalog(tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  assert local_idx.LocalFashionMnist.name == 'local_fashion_mnist'
  assert local_idx.LocalMnist.name == 'local_mnist'
  for name, cls in [('fashion_mnist', 'FashionMNIST'), ('mnist', 'MNIST')]:
    assert type(tfds.builder(name, data_dir=str(tmp_path))).__name__ == cls


@pytest.mark.slow
def test_real_fashion_mnist(tmp_path):
  if not os.path.isdir(FASHION_DIR):
    pytest.skip(
        f'{FASHION_DIR} absent: '
        'sudo apt-get install -y dataset-fashion-mnist'
    )
  ds = data.load_dataset('fashion_mnist', data_dir=str(tmp_path))
  assert ds.train_images.shape == (60000, 784)
  assert ds.test_images.shape == (10000, 784)
  assert 0.27 < float(ds.train_images.mean()) < 0.30  # 0.286
  assert np.bincount(ds.train_labels).tolist() == [6000] * 10
  assert np.bincount(ds.test_labels).tolist() == [1000] * 10


# --------------------------------------------------------------------------
# Missing and corrupt data, bad arguments.


def test_missing_dataset_names_the_fix_fast(tmp_path):
  start = time.perf_counter()
  with pytest.raises(data.DatasetNotFoundError) as e:
    data.load_dataset(
        'fashion_mnist',
        data_dir=str(tmp_path / 'tfds'),
        idx_dir=str(tmp_path / 'idx'),
    )
  assert time.perf_counter() - start < 2.0
  message = str(e.value)
  assert isinstance(e.value, FileNotFoundError)
  assert 'apt-get install -y dataset-fashion-mnist' in message
  assert 'pip install tensorflow' in message and '--config.data_dir' in message
  assert str(tmp_path / 'tfds') in message and str(tmp_path / 'idx') in message
  assert not os.path.exists(tmp_path / 'tfds')  # Nothing was written.


def test_missing_mnist_names_idx_dir(tmp_path):
  with pytest.raises(data.DatasetNotFoundError, match='--config.idx_dir'):
    data.load_dataset(
        'mnist', data_dir=str(tmp_path), idx_dir=str(tmp_path / 'idx')
    )


def _corrupt_size(path):
  with gzip.open(path, 'rb') as f:
    raw = f.read()
  idx_files.write_gz(path, raw[:-7])


@pytest.mark.parametrize(
    'corrupt,why',
    [
        (idx_files.truncate, 'decompress'),
        (idx_files.wrong_magic, 'magic number 1234'),
        (_corrupt_size, 'bytes where the header'),
    ],
)
def test_corrupt_idx_file_is_named(tmp_path, corrupt, why):
  idx_files.write_idx_dir(tmp_path / 'idx', N_TRAIN, N_TEST)
  bad = str(tmp_path / 'idx' / 'train-images-idx3-ubyte.gz')
  corrupt(bad)
  with pytest.raises(ValueError, match=why) as e:
    data.load_dataset(
        'fashion_mnist',
        data_dir=str(tmp_path / 'tfds'),
        idx_dir=str(tmp_path / 'idx'),
    )
  assert bad in str(e.value)
  assert 'apt-get install --reinstall dataset-fashion-mnist' in str(e.value)
  # A failed build leaves nothing that a later, good build trips over.
  idx_files.write_idx_dir(tmp_path / 'idx', N_TRAIN, N_TEST)
  ds = data.load_dataset(
      'fashion_mnist',
      data_dir=str(tmp_path / 'tfds'),
      idx_dir=str(tmp_path / 'idx'),
  )
  assert ds.train_images.shape == (N_TRAIN, 784)


def test_idx_split_without_images_is_refused_before_building(tmp_path):
  idx_files.write_idx_dir(tmp_path / 'idx', N_TRAIN, N_TEST)
  idx_files.empty_split(tmp_path / 'idx', 'test')
  empty = str(tmp_path / 'idx' / local_idx.IDX_FILES['test'][0])
  with pytest.raises(ValueError) as e:
    _load_mnist(tmp_path / 'tfds', tmp_path / 'idx')
  message = str(e.value)
  assert empty in message and '0 images' in message
  assert '--config.idx_dir' in message and '\n' not in message
  assert not os.path.exists(tmp_path / 'tfds')  # Nothing was written.


def test_idx_labels_out_of_range(tmp_path):
  path = str(tmp_path / 'labels.gz')
  idx_files.write_gz(path, struct.pack('>ii', 2049, 2) + bytes([3, 12]))
  with pytest.raises(ValueError, match='label 12'):
    local_idx.read_idx_labels(path, num_classes=10)


def test_unknown_name_lists_the_names(tmp_path):
  with pytest.raises(ValueError) as e:
    data.load_dataset('no_such_dataset', data_dir=str(tmp_path))
  for expected in (
      "'digits'",
      "'fashion_mnist'",
      "'mnist'",
      "'dsprites'",
      "'xy_sprites'",
      'tfds.list_builders()',
  ):
    assert expected in str(e.value)
  assert data.DATASET_NAMES == (
      'digits',
      'fashion_mnist',
      'mnist',
      'dsprites',
      'xy_sprites',
  )


def test_empty_name_names_the_config_field(tmp_path):
  # What `--config.dataset=` gives.
  with pytest.raises(ValueError) as e:
    data.load_dataset('', data_dir=str(tmp_path))
  message = str(e.value)
  assert 'config.dataset' in message
  assert all(repr(n) in message for n in data.DATASET_NAMES)


@pytest.mark.parametrize(
    'kwargs,allowed',
    [
        (dict(layout='chw'), ("'flat'", "'hwc'")),
        (dict(binarize='yes'), ("'none'", "'static'", "'dynamic'")),
    ],
)
def test_bad_arguments_list_allowed_values(kwargs, allowed):
  with pytest.raises(ValueError) as e:
    data.load_dataset('digits', **kwargs)
  assert all(a in str(e.value) for a in allowed)


def test_non_finite_and_empty_splits_are_named():
  images = np.zeros((3, 2, 2, 1), np.float32)
  labels = np.zeros((3,), np.int32)
  with pytest.raises(ValueError, match='test split: images contain NaN'):
    datasets._validate_split(
        'x', 'test', np.full_like(images, np.nan), labels, 10
    )
  with pytest.raises(ValueError, match='train split: it is empty'):
    datasets._validate_split('x', 'train', images[:0], labels[:0], 10)


def test_data_dir_default_honours_tfds_data_dir(monkeypatch, tmp_path):
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path))
  assert tfds_source.resolve_data_dir(None) == str(tmp_path)
  monkeypatch.delenv('TFDS_DATA_DIR')
  assert tfds_source.resolve_data_dir(None) == os.path.expanduser(
      '~/tensorflow_datasets'
  )


# --------------------------------------------------------------------------
# Binarisation.


def test_binarize_static():
  a = data.load_dataset('digits', binarize='static', seed=3)
  b = data.load_dataset('digits', binarize='static', seed=3)
  c = data.load_dataset('digits', binarize='static', seed=4)
  grey = data.load_dataset('digits')
  for x in (a.train_images, a.test_images):
    assert set(np.unique(x)) == {0.0, 1.0}
  np.testing.assert_array_equal(a.train_images, b.train_images)
  np.testing.assert_array_equal(a.test_images, b.test_images)
  assert (a.train_images != c.train_images).any()
  # Bernoulli(p): the mean of the samples follows the grey levels.
  assert abs(a.train_images.mean() - grey.train_images.mean()) < 0.01
  assert (a.train_images[grey.train_images == 0] == 0).all()
  assert (a.train_images[grey.train_images == 1] == 1).all()


def test_binarize_dynamic(built):
  grey = data.load_dataset('digits')
  dyn = data.load_dataset('digits', binarize='dynamic', seed=3)
  static = data.load_dataset('digits', binarize='static', seed=3)
  np.testing.assert_array_equal(dyn.train_images, grey.train_images)
  assert set(np.unique(dyn.test_images)) == {0.0, 1.0}
  np.testing.assert_array_equal(dyn.test_images, static.test_images)
  fashion = data.load_dataset(
      'fashion_mnist',
      data_dir=built['data_dir'],
      idx_dir=built['idx_dir'],
      binarize='dynamic',
  )
  assert set(np.unique(fashion.test_images)) <= {0.0, 1.0}
  assert len(np.unique(fashion.train_images)) > 2


# --------------------------------------------------------------------------
# TFDS catalog datasets through tfds.data_source, with TFDS's mock data.


@pytest.mark.parametrize(
    'name,shape', [('mnist', (28, 28, 1)), ('cifar10', (32, 32, 3))]
)
def test_tfds_catalog_dataset_with_mock_data(built, name, shape):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from tensorflow_datasets.core import file_adapters  # pylint: disable=g-import-not-at-top

  array_record = {file_adapters.FileFormat.ARRAY_RECORD}
  # mock_data serves examples from the builder's code but reports the build as
  # absent; the patches make it a "prepared ArrayRecord build". For 'mnist'
  # valid IDX files are offered too: the catalog build must win.
  with (
      tfds.testing.mock_data(
          num_examples=7, policy=tfds.testing.MockPolicy.USE_CODE
      ),
      mock.patch.object(
          tfds.core.DatasetBuilder, 'is_prepared', return_value=True
      ),
      mock.patch.object(
          tfds.core.DatasetInfo,
          'available_file_formats',
          return_value=array_record,
      ),
  ):
    ds = data.load_dataset(
        name, data_dir=built['data_dir'], idx_dir=built['idx_dir'], layout='hwc'
    )
  assert ds.train_images.shape == (7, *shape)
  assert ds.test_images.shape == (7, *shape)
  assert ds.train_images.dtype == np.float32
  assert 0.0 <= ds.train_images.min() and ds.train_images.max() <= 1.0
  assert ds.num_classes == 10 and len(ds.class_names) == 10
  assert ((0 <= ds.train_labels) & (ds.train_labels < 10)).all()


# --------------------------------------------------------------------------
# train_batches.


def _toy(n=10):
  images = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
  return images, np.arange(n, dtype=np.int32)


def _take(it, k):
  return list(itertools.islice(it, k))


def test_train_batches_deterministic_and_typed():
  x, y = _toy()
  a = _take(data.train_batches(x, y, batch_size=3, seed=1), 7)
  b = _take(data.train_batches(x, y, batch_size=3, seed=1), 7)
  for p, q in zip(a, b):
    np.testing.assert_array_equal(p['image'], q['image'])
    np.testing.assert_array_equal(p['label'], q['label'])
  assert a[0]['image'].shape == (3, 3) and a[0]['image'].dtype == np.float32
  assert a[0]['label'].dtype == np.int32
  np.testing.assert_array_equal(a[0]['image'][:, 0], a[0]['label'])
  c = _take(data.train_batches(x, y, batch_size=3, seed=2), 7)
  assert any((p['label'] != q['label']).any() for p, q in zip(a, c))


def test_train_batches_epochs():
  x, y = _toy(10)
  batches = _take(data.train_batches(x, y, batch_size=3, seed=0), 9)
  epochs = [
      np.concatenate([b['label'] for b in batches[i : i + 3]])
      for i in (0, 3, 6)
  ]  # 10 // 3 = 3 steps an epoch.
  for labels in epochs:  # Each example at most once; one is dropped.
    assert len(set(labels.tolist())) == 9
  np.testing.assert_array_equal(
      epochs[1], np.random.default_rng([0, 1]).permutation(10)[:9]
  )
  assert (epochs[0] != epochs[1]).any() and (epochs[1] != epochs[2]).any()


def test_train_batches_resume():
  x, y = _toy(10)
  full = _take(data.train_batches(x, y, batch_size=4, seed=5), 12)
  for k in (1, 2, 5, 9):
    resumed = _take(
        data.train_batches(x, y, batch_size=4, seed=5, start_step=k), 12 - k
    )
    for p, q in zip(full[k:], resumed):
      np.testing.assert_array_equal(p['label'], q['label'])


def test_train_batches_processes_concatenate_to_global_batch():
  x, y = _toy(12)
  one = _take(data.train_batches(x, y, batch_size=6, seed=0), 5)
  two = [
      _take(
          data.train_batches(
              x, y, batch_size=6, seed=0, process_index=i, process_count=2
          ),
          5,
      )
      for i in range(2)
  ]
  for step, batch in enumerate(one):
    assert two[0][step]['image'].shape == (3, 3)
    np.testing.assert_array_equal(
        np.concatenate([two[0][step]['label'], two[1][step]['label']]),
        batch['label'],
    )


@pytest.mark.parametrize(
    'kwargs,match',
    [
        (dict(batch_size=0), 'positive'),
        (dict(batch_size=11), 'lower --config.batch_size to at most 10'),
        (dict(batch_size=5, process_count=2), 'multiple of 2'),
        (dict(batch_size=4, process_index=2, process_count=2), 'process_index'),
    ],
)
def test_train_batches_errors(kwargs, match):
  x, y = _toy(10)
  with pytest.raises(ValueError, match=match):
    data.train_batches(x, y, seed=0, **kwargs)


def test_batches_reject_length_mismatch():
  x, y = _toy(10)
  with pytest.raises(ValueError, match='differ in length'):
    data.train_batches(x, y[:9], batch_size=2, seed=0)
  with pytest.raises(ValueError, match='differ in length'):
    data.eval_batches(x, y[:9], batch_size=2)


# --------------------------------------------------------------------------
# eval_batches.


def test_eval_batches_pad_and_mask():
  x, y = _toy(10)
  batches = list(data.eval_batches(x, y, batch_size=4))
  assert len(batches) == data.num_eval_batches(10, 4) == 3
  for b in batches:
    assert b['image'].shape == (4, 3) and b['mask'].shape == (4,)
    assert b['mask'].dtype == np.float32 and b['label'].dtype == np.int32
  np.testing.assert_array_equal(batches[-1]['mask'], [1, 1, 0, 0])
  # Padding rows are the batch before's rows at the same positions (test
  # data, for statistics over a whole batch), not zeros.
  np.testing.assert_array_equal(batches[-1]['image'][2:], x[6:8])
  np.testing.assert_array_equal(batches[-1]['label'][2:], y[6:8])
  # Fewer examples than one batch: zeros.
  (small,) = data.eval_batches(x[:3], y[:3], batch_size=4)
  np.testing.assert_array_equal(small['image'][3:], 0)
  mask = np.concatenate([b['mask'] for b in batches]).astype(bool)
  assert mask.sum() == 10
  np.testing.assert_array_equal(
      np.concatenate([b['image'] for b in batches])[mask], x
  )
  np.testing.assert_array_equal(
      np.concatenate([b['label'] for b in batches])[mask], y
  )


def test_eval_batches_two_processes():
  x, y = _toy(11)
  one = list(data.eval_batches(x, y, batch_size=6))
  two = [
      list(
          data.eval_batches(
              x, y, batch_size=6, process_index=i, process_count=2
          )
      )
      for i in range(2)
  ]
  assert len(one) == len(two[0]) == len(two[1]) == 2
  for b, (p, q) in enumerate(zip(*two)):
    for key in ('image', 'label', 'mask'):
      assert p[key].shape[0] == 3
      np.testing.assert_array_equal(
          np.concatenate([p[key], q[key]]), one[b][key]
      )
  assert sum(b['mask'].sum() for proc in two for b in proc) == 11
  assert data.num_eval_batches(0, 4) == 0 and data.num_eval_batches(8, 4) == 2


# --------------------------------------------------------------------------
# prefetch.


def _prefetch_threads():
  return [t for t in threading.enumerate() if t.name == 'ae_jax-prefetch']


def test_prefetch_yields_transformed_items_in_order():
  out = list(data.prefetch(iter(range(50)), size=3, transform=lambda v: v * 2))
  assert out == [2 * v for v in range(50)]
  assert not _prefetch_threads()


def test_prefetch_reraises_source_exception():
  error = RuntimeError('source broke')

  def source():
    yield from range(3)
    raise error

  it = data.prefetch(source())
  assert [next(it) for _ in range(3)] == [0, 1, 2]
  with pytest.raises(RuntimeError) as e:
    next(it)
  assert e.value is error


def test_prefetch_stops_its_thread_when_closed_early():
  closed = threading.Event()

  def source():
    try:
      yield from itertools.count()
    finally:
      closed.set()

  it = data.prefetch(source(), size=2)
  assert [next(it) for _ in range(5)] == list(range(5))
  assert len(_prefetch_threads()) == 1
  it.close()
  deadline = time.monotonic() + 2.0
  while _prefetch_threads() and time.monotonic() < deadline:
    time.sleep(0.01)
  assert not _prefetch_threads()
  assert closed.is_set()  # The source was closed, in the producer thread.


def test_prefetch_rejects_bad_size():
  with pytest.raises(ValueError, match='size'):
    data.prefetch(iter([]), size=0)


def test_public_api():
  for name in (
      'Dataset',
      'DatasetNotFoundError',
      'DATASET_NAMES',
      'load_dataset',
      'train_batches',
      'eval_batches',
      'num_eval_batches',
      'prefetch',
  ):
    assert hasattr(data, name), name


def test_swapped_train_and_test_idx_files_are_refused_before_building(
    tmp_path,
):
  # Before: it trained on the 10,000 test images and tested on 60,000.
  idx_files.write_idx_dir(tmp_path / 'idx', N_TEST, N_TRAIN)
  with pytest.raises(ValueError, match='look swapped'):
    _load_mnist(tmp_path / 'tfds', tmp_path / 'idx')
  assert not (tmp_path / 'tfds' / 'local_idx').exists()


def test_unusable_tfds_data_dir_is_named(tmp_path):
  idx_files.write_idx_dir(tmp_path / 'idx', N_TRAIN, N_TEST)
  (tmp_path / 'file').write_text('x')
  with pytest.raises(ValueError, match='is a file; set --config.data_dir'):
    _load_mnist(tmp_path / 'file', tmp_path / 'idx')
  # A build is needed but the directory cannot be made (read-only alike).
  with pytest.raises(ValueError, match='cannot be written'):
    _load_mnist(tmp_path / 'file' / 'tfds', tmp_path / 'idx')


@pytest.mark.parametrize('name', ['fashion-mnist', 'Fashion_MNIST'])
def test_malformed_dataset_name_suggests_the_right_one(name):
  with pytest.raises(ValueError, match="did you mean 'fashion_mnist'"):
    data.load_dataset(name)
