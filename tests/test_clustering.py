"""Clustering accuracy, the 'cluster' task and the 'projector' export."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

import ae_jax
from ae_jax import figures
from ae_jax import tasks
from ae_jax import train
from ae_jax.metrics import clustering
from ae_jax.tasks import evaluate
from ae_jax.tasks import markdown
from experiments.configs import ae as ae_config


class TestClusteringAccuracy:

  def test_a_renamed_partition_is_perfect(self):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, size=200)
    renamed = np.array([3, 0, 4, 1, 2])[labels]  # A permutation of the ids.
    assert clustering.clustering_accuracy(labels, renamed) == 1.0

  def test_hand_computed_case(self):
    # Contingency (rows clusters 0-2, columns classes 0-1):
    #   [[3, 1], [0, 2], [1, 0]]. Best one-to-one map: 0 -> 0, 1 -> 1 with
    # 3 + 2 = 5 of 7 right; cluster 2 has no class left and counts as wrong.
    labels = np.array([0, 0, 0, 1, 1, 1, 0])
    clusters = np.array([0, 0, 0, 0, 1, 1, 2])
    assert clustering.clustering_accuracy(labels, clusters) == pytest.approx(
        5 / 7
    )
    # Majority voting would give cluster 2 class 0 too (6 / 7): the
    # Hungarian match is one-to-one.
    assert clustering.clustering_accuracy(labels, clusters) < 6 / 7

  def test_one_cluster_scores_the_largest_class(self):
    labels = np.array([0, 1, 1, 2, 1])
    assert clustering.clustering_accuracy(labels, np.zeros(5, int)) == 0.6

  def test_sparse_ids_are_matched_like_dense_ones(self):
    labels = np.array([0, 0, 1, 1, 2])
    clusters = np.array([7, 7, 1000, 3, 3])
    dense = np.array([1, 1, 2, 0, 0])
    assert clustering.clustering_accuracy(
        labels, clusters
    ) == clustering.clustering_accuracy(labels, dense)

  @pytest.mark.parametrize(
      'labels, clusters, match',
      [
          ([0, 1, 1], [0, 1], r'clusters has shape \(2,\) but labels \(3,\)'),
          ([[0, 1]], [[0, 1]], r'labels must be a non-empty \[N\] array'),
          ([], [], 'non-empty'),
          ([0, -1], [0, 1], 'negative ids'),
      ],
  )
  def test_bad_shapes_and_ids_are_refused(self, labels, clusters, match):
    with pytest.raises(ValueError, match=match):
      clustering.clustering_accuracy(
          np.array(labels, np.int64), np.array(clusters, np.int64)
      )

  def test_float_ids_are_refused(self):
    with pytest.raises(TypeError, match='integer ids'):
      clustering.clustering_accuracy(np.array([0.0, 1.0]), np.array([0, 1]))


class TestKmeansScores:

  def test_separated_blobs_are_found(self):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 50)
    centres = np.array([[0, 0], [10, 0], [0, 10]], np.float32)
    x = centres[labels] + rng.normal(size=(150, 2)).astype(np.float32)
    scores = clustering.kmeans_scores(x, labels, num_clusters=3)
    assert scores['accuracy'] == 1.0 and scores['nmi'] == pytest.approx(1.0)

  def test_noise_scores_near_chance(self):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=400)
    x = rng.normal(size=(400, 5))
    scores = clustering.kmeans_scores(x, labels, num_clusters=4, n_init=2)
    assert scores['accuracy'] < 0.4 and scores['nmi'] < 0.05

  def test_bad_arguments_are_refused(self):
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match='num_clusters=5 is more than'):
      clustering.kmeans_scores(x, y, num_clusters=5)
    with pytest.raises(ValueError, match='n_init must be a positive int'):
      clustering.kmeans_scores(x, y, num_clusters=2, n_init=0)
    with pytest.raises(ValueError, match=r'labels must have shape \(4,\)'):
      clustering.kmeans_scores(x, y[:3], num_clusters=2)


def _train(workdir, steps):
  config = ae_config.get_config('smoke')
  config.num_train_steps = steps
  config.latent_dim = 8
  config.hidden_sizes = (64,)
  config.write_figures = False
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('runs')
  # A few seconds each on one CPU core: digits, 64 -> 64 -> 8 codes.
  return {
      'trained': _train(root / 'trained', 300),
      'untrained': _train(root / 'untrained', 1),
  }


def test_trained_codes_cluster_better_than_untrained_ones(runs):
  trained = ae_jax.load(runs['trained'])
  dataset = tasks.load_data(trained)
  result = tasks.run(
      'cluster', trained, dataset, baseline=ae_jax.load(runs['untrained'])
  )
  assert [r['features'] for r in result['rows']] == [
      'codes',
      'raw_pixels',
      'pca',
      'baseline_codes',
  ]
  assert result['num_clusters'] == 10 and result['points'] == 300
  assert [r['dim'] for r in result['rows']] == [8, 64, 8, 8]
  # Ten digit classes: chance is about 0.1. Training organises the codes
  # by class (here about 0.65 against 0.51 for a 1-step model, whose
  # random encoder is a random projection of the pixels).
  assert result['accuracy'] > 0.5
  assert result['accuracy'] > result['baseline_accuracy'] + 0.05
  assert result['nmi'] > result['baseline_nmi']
  # The pixel row is plain k-means on the flattened test images.
  pixels = clustering.kmeans_scores(
      dataset.test_images,
      dataset.test_labels,
      num_clusters=10,
      n_init=result['n_init'],
  )
  assert result['raw_pixels_accuracy'] == pixels['accuracy']
  assert result['raw_pixels_nmi'] == pixels['nmi']
  assert 0.5 < result['pca_accuracy'] <= 1 and 0.5 < result['pca_nmi'] <= 1


def test_cluster_task_refuses_bad_options_and_unlabelled_data(runs):
  trained = ae_jax.load(runs['trained'])
  dataset = tasks.load_data(trained)
  with pytest.raises(ValueError, match='n_init .* must be a positive int'):
    tasks.run('cluster', trained, dataset, n_init=0)
  one_class = dataclasses.replace(
      dataset,
      num_classes=1,
      class_names=('all',),
      train_labels=np.zeros_like(dataset.train_labels),
      test_labels=np.zeros_like(dataset.test_labels),
  )
  with pytest.raises(ValueError, match='at least two classes'):
    tasks.run('cluster', trained, one_class)


def test_cluster_runs_by_default_for_an_autoencoder(runs):
  assert 'cluster' in tasks.default_tasks(ae_jax.load(runs['trained']))
  assert 'projector' not in tasks.default_tasks(ae_jax.load(runs['trained']))


def _read_tsv(path):
  with open(path, encoding='utf8') as f:
    return [line.rstrip('\n').split('\t') for line in f]


def test_evaluate_writes_the_cluster_json_and_the_projector_files(runs):
  workdir = runs['trained']
  results = evaluate.evaluate(
      str(workdir),
      ['cluster', 'projector'],
      options={'cluster': {'n_init': 2}, 'projector': {'max_points': 100}},
  )
  saved = json.loads((workdir / 'eval_cluster.json').read_text())
  assert saved['n_init'] == 2 and saved['fitted_on'] == 'test'
  assert saved['accuracy'] == results['cluster']['accuracy']
  assert saved['nmi'] == results['cluster']['nmi']
  assert '| codes | 8 |' in markdown.task_tables('cluster', results['cluster'])

  out = results['projector']
  trained = ae_jax.load(workdir)
  dataset = tasks.load_data(trained)
  assert out['points'] == 100 and out['code_size'] == 8 and out['sprite']
  assert out['logdir'] == str(workdir / 'projector')
  config = open(out['config']).read()
  step = f'{trained.step:05d}'
  for line in (
      f'tensor_name: "codes:{step}"',
      f'tensor_path: "{step}/codes/tensors.tsv"',
      f'metadata_path: "{step}/codes/metadata.tsv"',
      f'image_path: "{step}/codes/sprite.png"',
      'single_image_dim: 8',
  ):
    assert line in config
  # The tensors are the model's codes of the first 100 test images,
  # written as exact float32 values.
  tensors = np.array(_read_tsv(out['tensors']), np.float64).astype(np.float32)
  codes = np.asarray(trained.encode(dataset.test_images[:100]), np.float32)
  np.testing.assert_array_equal(tensors, codes)
  metadata = _read_tsv(out['metadata'])
  assert metadata[0] == ['label', 'class']
  assert metadata[1:] == [
      [str(y), dataset.class_names[y]] for y in dataset.test_labels[:100]
  ]
  # The sprite tiles the 8 x 8 test images row by row, 10 a row
  # (ceil(sqrt(100 * 64) / 8)), as grey RGB bytes.
  sprite = np.asarray(Image.open(out['sprite_file']).convert('RGB'))
  assert sprite.shape == (80, 80, 3)
  for i in (0, 1, 57):
    r, c = divmod(i, 10)
    tile = sprite[8 * r : 8 * r + 8, 8 * c : 8 * c + 8]
    want = np.uint8(np.clip(dataset.test_images[i].reshape(8, 8), 0, 1) * 255)
    np.testing.assert_array_equal(tile, np.stack([want] * 3, -1))

  # A rerun replaces the export: one embedding in the config, no leftovers.
  again = tasks.run('projector', trained, dataset, outdir=workdir)
  assert again['points'] == 300
  assert open(again['config']).read().count('embeddings {') == 1
  assert not os.path.exists(str(workdir / 'projector.tmp'))
  assert len(_read_tsv(again['tensors'])) == 300


def test_vector_data_gets_codes_and_labels_but_no_sprite(runs, tmp_path):
  trained = ae_jax.load(runs['trained'])
  dataset = tasks.load_data(trained)
  # A standardised table of 64 columns (values outside [0, 1]), without
  # class names: no images, a single metadata column without a header.
  mean = dataset.train_images.mean(0)
  std = dataset.train_images.std(0) + 1e-3
  table = dataclasses.replace(
      dataset,
      train_images=(dataset.train_images - mean) / std,
      test_images=(dataset.test_images - mean) / std,
      class_names=(),
  )
  out = tasks.run('projector', trained, table, outdir=tmp_path, max_points=50)
  assert not out['sprite'] and out['sprite_file'] is None
  assert 'sprite' not in open(out['config']).read()
  assert not os.path.exists(
      os.path.join(os.path.dirname(out['tensors']), 'sprite.png')
  )
  assert _read_tsv(out['metadata']) == [
      [str(y)] for y in dataset.test_labels[:50]
  ]
  tensors = np.array(_read_tsv(out['tensors']), np.float64).astype(np.float32)
  np.testing.assert_array_equal(
      tensors, np.asarray(trained.encode(table.test_images[:50]), np.float32)
  )
  # Vectors in [0, 1] that the loader marks as not images (a csv: table).
  marked = dataclasses.replace(dataset, is_images=False)
  out = tasks.run('projector', trained, marked, outdir=tmp_path, max_points=9)
  assert not out['sprite'] and len(_read_tsv(out['tensors'])) == 9


@pytest.mark.parametrize(
    'input_shape, expected',
    [
        ((784,), (28, 28, 1)),
        ((64,), (8, 8, 1)),
        ((3072,), (32, 32, 3)),
        ((28, 28), (28, 28, 1)),
        ((32, 32, 3), (32, 32, 3)),
        ((9,), None),  # A 9-column table is not a 3 x 3 image.
        ((7,), None),
        ((8, 8, 5), None),
    ],
)
def test_image_shape_or_none(input_shape, expected):
  assert figures.image_shape_or_none(input_shape) == expected


def test_image_shape_draws_any_square_and_names_what_it_cannot():
  # The same rule with any side: tiny test images are still drawn.
  assert figures.image_shape((16,)) == (4, 4, 1)
  assert figures.image_shape((27,)) == (3, 3, 3)
  assert figures.image_shape((64, 64, 3)) == (64, 64, 3)
  for shape in [(10,), (8, 8, 2), (2, 3, 4, 1)]:
    with pytest.raises(ValueError, match='Cannot draw inputs of shape'):
      figures.image_shape(shape)


def test_the_evaluate_binary_exports_projector_points_of_its_flag(
    runs, tmp_path
):
  # A copy: the binary writes its outputs into the run the module shares.
  workdir = shutil.copytree(runs['trained'], tmp_path / 'trained')
  proc = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.evaluate',
          f'--workdir={workdir}',
          '--task=projector',
          '--projector_points=7',
      ],
      capture_output=True,
      text=True,
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
      timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(os.path.join(workdir, 'eval_projector.json')) as f:
    out = json.load(f)
  assert out['points'] == 7 and len(_read_tsv(out['tensors'])) == 7


def test_projector_refuses_bad_options_before_work(runs, tmp_path):
  trained = ae_jax.load(runs['trained'])
  dataset = tasks.load_data(trained)
  with pytest.raises(
      ValueError,
      match=r'max_points \(--projector_points\) must be a positive int',
  ):
    tasks.run('projector', trained, dataset, outdir=tmp_path, max_points=0)
  with pytest.raises(ValueError, match='needs outdir'):
    tasks.run('projector', trained, dataset)
  # 28 x 28 images: at most (8192 // 28) ** 2 fit in TensorBoard's sprite.
  big = dataclasses.replace(
      dataset,
      # A read-only view: 85,265 images without 267 MB of memory.
      test_images=np.broadcast_to(np.zeros((1, 784), np.float32), (85265, 784)),
      test_labels=np.zeros(85265, np.int32),
      train_images=np.zeros((2, 784), np.float32),
      train_labels=np.zeros(2, np.int32),
  )
  with pytest.raises(ValueError, match=r'use max_points <= 85264'):
    tasks.run('projector', trained, big, outdir=tmp_path, max_points=10**6)
  assert not os.listdir(tmp_path)
