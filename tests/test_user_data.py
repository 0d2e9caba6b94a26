"""The user's own data from the command line: npz:, images: and csv: sources,
their refusals, and a table's standardisation carried to `ae_jax.load`."""

import json

import numpy as np
from PIL import Image
import pytest

import ae_jax
from ae_jax import data
from ae_jax import tasks
from ae_jax import train
from ae_jax.data import user_files


def _quiet(config, **overrides):
  config = config.copy_and_resolve_references()
  config.write_figures = False
  config.progress_bar = False
  config.update(overrides)
  return config


def _write_csv(path, header, rows):
  with open(path, 'w') as f:
    f.write(','.join(header) + '\n')
    for row in rows:
      f.write(','.join(str(v) for v in row) + '\n')
  return path


def _csv_ae_config(path, **overrides):
  """The AE smoke config on a `_table` file: 5 steps, Gaussian likelihood."""
  from experiments.configs import ae  # pylint: disable=g-import-not-at-top

  fields = dict(
      dataset=f'csv:{path}',
      label_column='label',
      likelihood='gaussian',
      batch_size=16,
      eval_batch_size=12,
      num_train_steps=5,
  )
  return _quiet(ae.get_config('smoke'), **{**fields, **overrides})


def _table(path, n=60, seed=0):
  """Columns a (signal), b (signal, large scale), c (noise), and a label."""
  rng = np.random.default_rng(seed)
  t = rng.normal(size=n)
  rows = [
      (
          t[i],
          100 + 50 * t[i] + rng.normal(),
          rng.normal(),
          'yes' if t[i] > 0 else 'no',
      )
      for i in range(n)
  ]
  return _write_csv(path, ['a', 'b', 'c', 'label'], rows), rows


# --------------------------------------------------------------------------
# npz


def test_npz_uint8_images_with_labels(tmp_path):
  rng = np.random.default_rng(0)
  x_train = rng.integers(0, 256, (30, 6, 5), dtype=np.uint8)
  x_test = rng.integers(0, 256, (8, 6, 5), dtype=np.uint8)
  path = tmp_path / 'd.npz'
  np.savez(
      path,
      x_train=x_train,
      x_test=x_test,
      y_train=np.arange(30) % 3,
      y_test=np.arange(8) % 3,
  )
  d = data.load_dataset(f'npz:{path}', layout='hwc')
  assert d.train_images.shape == (30, 6, 5, 1) and d.is_images
  np.testing.assert_array_equal(d.train_images[..., 0] * 255, x_train)
  assert d.num_classes == 3 and list(d.test_labels) == [0, 1, 2] * 2 + [0, 1]
  assert d.preprocessing == {'kind': 'unit_scale', 'divide_by': 255.0}
  assert data.load_dataset(f'npz:{path}').train_images.shape == (30, 30)


def test_npz_float_vectors_without_labels(tmp_path):
  path = tmp_path / 'v.npz'
  x = np.random.default_rng(0).normal(size=(20, 7)).astype(np.float32)
  np.savez(path, x_train=x, x_test=x[:5])
  d = data.load_dataset(f'npz:{path}')
  np.testing.assert_array_equal(d.train_images, x)
  assert d.num_classes == 1 and not d.is_images and d.preprocessing is None
  with pytest.raises(ValueError, match='layout=.hwc. needs images'):
    data.load_dataset(f'npz:{path}', layout='hwc')
  with pytest.raises(ValueError, match='binarize=.static. needs values in'):
    data.load_dataset(f'npz:{path}', binarize='static')


@pytest.mark.parametrize(
    'arrays, match',
    [
        (dict(x_train=np.zeros((4, 3))), 'no array x_test'),
        (
            dict(
                x_train=np.zeros((4, 3)),
                x_test=np.zeros((4, 3)),
                y_train=np.zeros(4, int),
            ),
            'only one of y_train and y_test',
        ),
        (
            dict(x_train=np.zeros((4, 3), np.int64), x_test=np.zeros((4, 3))),
            'dtype int64; store uint8',
        ),
        (
            dict(x_train=np.zeros((4, 3)), x_test=np.zeros((4, 2))),
            'give both one shape',
        ),
        (
            dict(x_train=np.full((4, 3), np.nan), x_test=np.zeros((4, 3))),
            'train split has 12 NaN',
        ),
        (
            dict(x_train=np.zeros((1, 3)), x_test=np.zeros((4, 3))),
            'has 1 example',
        ),
        (  # Reported as "NaN or inf" before.
            dict(x_train=np.full((4, 3), 1e300), x_test=np.zeros((4, 3))),
            r'x_train has 12 finite values beyond float32 \(largest 1e\+300\)',
        ),
        (
            dict(
                x_train=np.zeros((4, 3)),
                x_test=np.zeros((2, 3)),
                y_train=np.zeros(4, int),
                y_test=np.array([0.5, 1.0]),
            ),
            'y_test must hold one non-negative integer',
        ),
    ],
)
def test_bad_npz_files_are_refused(tmp_path, arrays, match):
  path = tmp_path / 'bad.npz'
  np.savez(path, **arrays)
  with pytest.raises(ValueError, match=match):
    data.load_dataset(f'npz:{path}')


def test_missing_and_damaged_npz(tmp_path):
  with pytest.raises(ValueError, match='does not exist'):
    data.load_dataset(f'npz:{tmp_path}/nothing.npz')
  damaged = tmp_path / 'damaged.npz'
  damaged.write_bytes(b'PK\x03\x04 not a zip')
  with pytest.raises(ValueError, match='not a readable .npz file'):
    data.load_dataset(f'npz:{damaged}')
  with pytest.raises(ValueError, match='names no path'):
    data.load_dataset('npz:')


# --------------------------------------------------------------------------
# A folder of images


def _image_folder(root, sizes=((7, 9),), per_class=5, rgb=False):
  rng = np.random.default_rng(0)
  for c, name in enumerate(('cat', 'dog')):
    (root / name).mkdir(parents=True)
    for i in range(per_class):
      h, w = sizes[i % len(sizes)]
      shape = (h, w, 3) if rgb else (h, w)
      pixels = rng.integers(0, 256, shape, dtype=np.uint8)
      pixels[0, 0] = 255 * c  # The class shows in the first pixel.
      Image.fromarray(pixels).save(root / name / f'{i}.png')
  return root


def test_image_folder_classes_and_stratified_split(tmp_path):
  root = _image_folder(tmp_path / 'imgs')
  d = data.load_dataset(f'images:{root}', layout='hwc', test_fraction=0.4)
  assert d.class_names == ('cat', 'dog') and d.num_classes == 2
  assert d.train_images.shape == (6, 7, 9, 1) and d.test_images.shape[0] == 4
  assert sorted(d.test_labels) == [0, 0, 1, 1]  # Stratified.
  # Labels follow the folders: the first pixel is 0 for cats, 1 for dogs.
  np.testing.assert_array_equal(d.train_images[:, 0, 0, 0], d.train_labels)
  again = data.load_dataset(f'images:{root}', layout='hwc', test_fraction=0.4)
  np.testing.assert_array_equal(again.test_images, d.test_images)


def test_image_folder_rgb_and_resizing(tmp_path):
  root = _image_folder(tmp_path / 'imgs', sizes=((7, 9), (12, 4)), rgb=True)
  with pytest.raises(ValueError, match='different sizes .*image_size=N'):
    data.load_dataset(f'images:{root}')
  d = data.load_dataset(f'images:{root}', layout='hwc', image_size=8)
  assert d.train_images.shape[1:] == (8, 8, 3)
  assert 0 <= d.train_images.min() and d.train_images.max() <= 1


def test_image_folder_refusals(tmp_path):
  with pytest.raises(ValueError, match='not a folder'):
    data.load_dataset(f'images:{tmp_path}/nothing')
  (tmp_path / 'empty').mkdir()
  with pytest.raises(ValueError, match='holds no image files'):
    data.load_dataset(f'images:{tmp_path}/empty')
  root = _image_folder(tmp_path / 'imgs')
  (root / 'cat' / 'broken.png').write_bytes(b'not a png')
  with pytest.raises(ValueError, match='broken.png is not a readable image'):
    data.load_dataset(f'images:{root}')
  with pytest.raises(ValueError, match='test_fraction=1.5 must be a float'):
    data.load_dataset(f'images:{root}', test_fraction=1.5)


# --------------------------------------------------------------------------
# csv


def test_csv_standardised_with_train_statistics(tmp_path):
  path, rows = _table(tmp_path / 't.csv')
  d = data.load_dataset(f'csv:{path}', label_column='label')
  assert d.class_names == ('no', 'yes') and not d.is_images
  assert d.train_images.shape == (48, 3) and d.test_images.shape == (12, 3)
  np.testing.assert_allclose(d.train_images.mean(0), 0, atol=1e-6)
  np.testing.assert_allclose(d.train_images.std(0), 1, atol=1e-5)
  p = d.preprocessing
  assert p['columns'] == ['a', 'b', 'c']
  raw = np.asarray([r[:3] for r in rows], np.float64)
  # The test split uses the train split's statistics, not its own.
  both = user_files.standardize(raw, p)
  assert {tuple(r) for r in np.round(d.test_images, 5)} <= {
      tuple(r) for r in np.round(both, 5)
  }
  assert abs(d.test_images.mean()) > 1e-4


@pytest.mark.parametrize(
    'text, options, match',
    [
        ('a,b\n1,2\n3,x\n', {}, "line 3, column 'b': 'x' is not a number"),
        ('a,b\n1,2\n3,\n' + '1,2\n' * 8, {}, "column 'b': 1 empty, NaN"),
        ('a,b\n1,nan\n' + '1,2\n' * 8, {}, "column 'b': 1 empty, NaN"),
        ('a,b\n1,2\n', {}, 'cannot be split into train and test'),
        ('1,2\n3,4\n', {}, 'add a header row'),
        ('a,b\n1,2,3\n', {}, 'line 2: 3 cells'),
        (
            'a,b\n' + '1,2\n' * 9,
            {'label_column': 'y'},
            "label_column='y' is not a column",
        ),
        (
            'a,b\n' + '1,2\n' * 9,
            {'image_size': 8},
            'image_size=8 applies to images',
        ),
        # The second 'a' was read as a copy of the first.
        ('a,a,c\n' + '1,2,3\n4,5,7\n' * 5, {}, "column\\(s\\) 'a' more than"),
        (
            'a,b,y\n' + '1,2,p\n3,5,q\n' * 4 + '2,2,\n',
            {'label_column': 'y'},
            "line 10: the label column 'y' is empty",
        ),
        # A std that overflows float64 made every value 0, silently.
        (
            'a,b\n' + ''.join(f'{k}e300,{k}\n' for k in range(1, 11)),
            {},
            "column\\(s\\) 'a': their mean or standard deviation overflows",
        ),
    ],
)
def test_bad_csv_files_are_refused(tmp_path, text, options, match):
  path = tmp_path / 'bad.csv'
  path.write_text(text)
  with pytest.raises(ValueError, match=match):
    data.load_dataset(f'csv:{path}', **options)


def test_unknown_kind_and_source_names():
  with pytest.raises(ValueError, match='npz:/path/file.npz'):
    data.load_dataset('my data.npz')


# --------------------------------------------------------------------------
# Through the trainer, the tasks and ae_jax.load


@pytest.fixture(scope='module')
def table_run(tmp_path_factory):
  from experiments.configs import vae  # pylint: disable=g-import-not-at-top

  root = tmp_path_factory.mktemp('table')
  path, rows = _table(root / 't.csv', n=200)
  config = _quiet(
      vae.get_config('smoke'),
      dataset=f'csv:{path}',
      label_column='label',
      likelihood='gaussian',
      output_variance='per_feature',
      hidden_sizes=(32,),
      latent_dim=2,
      batch_size=32,
      eval_batch_size=20,
      num_train_steps=400,
      learning_rate=5e-3,
  )
  train.train_and_evaluate(config, root / 'run')
  return config, root / 'run', rows


def test_bernoulli_likelihood_refused_on_standardised_table(table_run):
  config, _, _ = table_run
  with pytest.raises(ValueError, match='Set --config.likelihood=gaussian'):
    train.trainer.load_dataset(_quiet(config, likelihood='bernoulli'))


def test_load_reapplies_the_tables_standardisation(table_run):
  config, workdir, rows = table_run
  info = json.loads((workdir / 'dataset.json').read_text())
  assert info['images'] is False and info['preprocessing']['columns'] == [
      'a',
      'b',
      'c',
  ]
  trained = ae_jax.load(workdir)
  d = train.trainer.load_dataset(config)
  raw = np.asarray([r[:3] for r in rows], np.float64)
  x = trained.preprocess(raw)
  assert {tuple(r) for r in np.round(d.train_images, 5)} <= {
      tuple(r) for r in np.round(x, 5)
  }
  with pytest.raises(
      ValueError, match=r'give \[N, 3\] raw values of the columns a, b, c'
  ):
    trained.preprocess(raw[:, :2])
  # Image tasks are left out for a table, and refused when named.
  names = tasks.default_tasks(trained)
  assert 'pca' in names and not set(names) & tasks.IMAGE_TASKS
  with pytest.raises(ValueError, match="Task 'denoise' works on images"):
    tasks.run('denoise', trained, d)


def test_per_feature_variance_learns_each_columns_noise(table_run):
  # Column c is pure noise and a, b are one latent signal: the learned
  # variance of c stays near 1 (standardised), those of a and b fall.
  _, workdir, _ = table_run
  log_var = np.asarray(ae_jax.load(workdir).params['output_log_variance'])
  assert log_var.shape == (3,)
  assert log_var[2] > -0.7 and max(log_var[:2]) < log_var[2] - 1.0


def test_unlabelled_vectors_train_and_skip_label_tasks(tmp_path):
  from experiments.configs import ae  # pylint: disable=g-import-not-at-top

  x = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
  np.savez(tmp_path / 'v.npz', x_train=x, x_test=x[:16])
  config = _quiet(
      ae.get_config('smoke'),
      dataset=f'npz:{tmp_path / "v.npz"}',
      likelihood='gaussian',
      hidden_sizes=(8,),
      latent_dim=2,
      batch_size=16,
      eval_batch_size=16,
      num_train_steps=20,
  )
  train.train_and_evaluate(config, tmp_path / 'run')
  trained = ae_jax.load(tmp_path / 'run')
  assert trained.num_classes == 1 and not trained.is_images
  names = tasks.default_tasks(trained)
  assert 'pca' in names
  assert not set(names) & (tasks.LABEL_TASKS | tasks.IMAGE_TASKS)


def test_hidden_files_skipped_bom_read_constant_and_16_bit_refused(tmp_path):
  root = _image_folder(tmp_path / 'imgs')
  (root / '__MACOSX').mkdir()
  (root / '__MACOSX' / '._0.png').write_bytes(b'resource fork')
  (root / 'cat' / '._0.png').write_bytes(b'resource fork')
  d = data.load_dataset(f'images:{root}')
  assert d.class_names == ('cat', 'dog') and len(d.train_images) == 8
  assert d.preprocessing == {'kind': 'unit_scale', 'divide_by': 255.0}
  Image.fromarray(np.zeros((7, 9), np.uint16) + 4000).save(
      root / 'dog' / 'x.png'
  )
  with pytest.raises(ValueError, match='16-bit or float'):
    data.load_dataset(f'images:{root}')
  path, _ = _table(tmp_path / 't.csv')
  bom = tmp_path / 'bom.csv'
  bom.write_bytes(b'\xef\xbb\xbf' + path.read_bytes())
  assert data.load_dataset(f'csv:{bom}', label_column='label').num_classes == 2
  const = tmp_path / 'const.csv'
  const.write_text('a,b\n' + ''.join(f'{i},1\n' for i in range(10)))
  with pytest.raises(ValueError, match="column\\(s\\) 'b' hold one value"):
    data.load_dataset(f'csv:{const}')


def test_per_feature_variance_needs_a_gaussian_likelihood(table_run):
  config, _, _ = table_run
  for bad, match in (
      (dict(likelihood='bernoulli'), 'add --config.likelihood=gaussian'),
      (dict(output_variance='each'), "output_variance='each' is not one of"),
  ):
    with pytest.raises(ValueError, match=match):
      train.trainer.check_config(_quiet(config, **bad))


def test_a_code_as_wide_as_the_table_skips_pca(tmp_path):
  path, _ = _table(tmp_path / 't.csv', n=60)
  config = _csv_ae_config(path, latent_dim=4)
  train.train_and_evaluate(config, tmp_path / 'run')
  trained = ae_jax.load(tmp_path / 'run')
  assert 'pca' not in tasks.default_tasks(trained)
  d = train.trainer.load_dataset(config)
  with pytest.raises(ValueError, match='at least as wide as the inputs'):
    tasks.run('pca', trained, d)
  # The PCA rows of probe and cluster use at most the table's 3 columns.
  assert tasks.run('cluster', trained, d)['rows'][2]['dim'] == 3


def test_evaluation_refuses_a_changed_file(tmp_path):
  from ae_jax.tasks import common  # pylint: disable=g-import-not-at-top

  path, _ = _table(tmp_path / 't.csv', n=40)
  config = _csv_ae_config(path, eval_batch_size=8)
  train.train_and_evaluate(config, tmp_path / 'run')
  trained = ae_jax.load(tmp_path / 'run')
  assert len(common.load_data(trained).train_images) == 32
  with open(path, 'a') as f:
    f.write('0,1,2,yes\n')
  with pytest.raises(ValueError, match='changed since .* was trained on it'):
    common.load_data(trained)


def test_an_image_folder_trains_a_conv_ae_and_is_evaluated(tmp_path):
  from experiments.configs import conv_ae  # pylint: disable=g-import-not-at-top

  root = _image_folder(tmp_path / 'imgs', sizes=((7, 9), (12, 4)), rgb=True)
  config = _quiet(
      conv_ae.get_config('smoke'),
      dataset=f'images:{root}',
      image_size=8,
      test_fraction=0.3,
      batch_size=4,
      eval_batch_size=3,
      num_train_steps=5,
  )
  train.train_and_evaluate(config, tmp_path / 'run')
  trained = ae_jax.load(tmp_path / 'run')
  assert trained.input_shape == (8, 8, 3) and trained.is_images
  d = train.trainer.load_dataset(config)
  assert 'denoise' in tasks.default_tasks(trained)
  assert tasks.run('pca', trained, d)['ae_mse'] > 0
  raw = (d.test_images * 255).round().astype(np.uint8)
  np.testing.assert_allclose(trained.preprocess(raw), d.test_images, atol=1e-6)


def test_four_channel_arrays_train_a_conv_ae_without_image_figures(tmp_path):
  # RGBA-like [N, H, W, 4]: it trained, then failed drawing its figures.
  from experiments.configs import conv_ae  # pylint: disable=g-import-not-at-top

  x = np.random.default_rng(0).random((24, 8, 8, 4), np.float32)
  np.savez(tmp_path / 'c4.npz', x_train=x, x_test=x[:6])
  config = _quiet(
      conv_ae.get_config('smoke'),
      dataset=f'npz:{tmp_path / "c4.npz"}',
      batch_size=4,
      eval_batch_size=3,
      num_train_steps=5,
      write_figures=True,
  )
  train.train_and_evaluate(config, tmp_path / 'run')
  trained = ae_jax.load(tmp_path / 'run')
  assert trained.input_shape == (8, 8, 4) and trained.is_images
  assert (tmp_path / 'run' / 'latent_codes.png').exists()
  assert not (tmp_path / 'run' / 'reconstructions.png').exists()
  assert not set(tasks.default_tasks(trained)) & tasks.IMAGE_TASKS


def test_a_sweep_trains_on_a_table(tmp_path):
  from ae_jax.train import sweep  # pylint: disable=g-import-not-at-top

  path, _ = _table(tmp_path / 't.csv', n=60)
  config = _csv_ae_config(path, eval_every_steps=0)
  out = sweep.train_sweep(config, {'seed': [0, 1]}, tmp_path / 'sweep')
  assert len(out) == 2 and out[0]['test_loss'] != out[1]['test_loss']
  member = ae_jax.load(tmp_path / 'sweep' / 'member_1')
  assert member.preprocessing['columns'] == ['a', 'b', 'c']
  assert not member.is_images
