"""Embedding scores (k-NN accuracy, silhouette) and the visualize task on
smoke runs: 2-D codes, and > 2-D codes through PCA and t-SNE."""

import dataclasses
import numpy as np
import pytest
from sklearn import decomposition
from sklearn import model_selection
import threadpoolctl

import ae_jax
from ae_jax import figures
from ae_jax import train
from ae_jax.metrics import embeddings
from ae_jax.tasks import common
from ae_jax.tasks import visualization
from experiments.configs import ae as ae_config


def _blobs(seed=0, *, n=400, c=4, spread=1.0, gap=20.0):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, c, n).astype(np.int32)
  angle = 2 * np.pi * np.arange(c) / c
  centres = gap * np.stack([np.cos(angle), np.sin(angle)], 1)
  return centres[labels] + spread * rng.normal(size=(n, 2)), labels


def _brute_force_scores(xy, labels, k=5, folds=5, seed=0):
  """k-NN by sorting distances on the same folds; silhouette from its
  definition, (b - a) / max(a, b) averaged over the points."""
  d = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
  cv = model_selection.StratifiedKFold(folds, shuffle=True, random_state=seed)
  correct = 0
  for train_idx, test_idx in cv.split(xy, labels):
    near = np.argsort(d[np.ix_(test_idx, train_idx)], 1)[:, :k]
    votes = labels[train_idx][near]
    pred = [np.bincount(v).argmax() for v in votes]  # Ties: smallest label.
    correct += np.sum(np.array(pred) == labels[test_idx])
  sil = []
  for i in range(len(xy)):
    same = labels == labels[i]
    a = d[i, same].sum() / (same.sum() - 1)
    b = min(d[i, labels == c].mean() for c in set(labels) - {labels[i]})
    sil.append((b - a) / max(a, b))
  return correct / len(xy), float(np.mean(sil))


def test_embedding_scores_match_a_brute_force_computation():
  xy, labels = _blobs(1, n=150, spread=12.0)  # Overlapping classes.
  scores = embeddings.embedding_scores(xy, labels, seed=3)
  knn, sil = _brute_force_scores(xy, labels, seed=3)
  assert 0.5 < knn < 0.95  # Measured 0.78 (silhouette 0.27).
  assert scores['knn_accuracy'] == pytest.approx(knn)
  assert scores['silhouette'] == pytest.approx(sil)


def test_separated_blobs_score_high_and_shuffled_labels_at_chance():
  xy, labels = _blobs()
  good = embeddings.embedding_scores(xy, labels)
  assert good['knn_accuracy'] == 1.0
  assert good['silhouette'] > 0.9  # Measured 0.938: spread 1, gaps 28.
  shuffled = np.random.default_rng(0).permutation(labels)
  bad = embeddings.embedding_scores(xy, shuffled)
  assert 0.1 < bad['knn_accuracy'] < 0.4  # Chance: 0.25.
  assert -0.2 < bad['silhouette'] < 0.05  # Measured -0.044.
  # Invariant to rotation, translation and uniform scale.
  rot = np.array([[0.6, -0.8], [0.8, 0.6]])
  moved = embeddings.embedding_scores(7.0 * xy @ rot + [3.0, -5.0], shuffled)
  assert moved == pytest.approx(bad)


def test_embedding_scores_refuse_bad_input():
  xy, labels = _blobs(n=60)
  with pytest.raises(ValueError, match=r'\[N, D\]'):
    embeddings.embedding_scores(xy[:, :, None], labels)
  with pytest.raises(ValueError, match='leading example axis'):
    embeddings.embedding_scores(xy[:, 0], labels)
  with pytest.raises(ValueError, match='NaN'):
    embeddings.embedding_scores(np.where(xy > 20, np.nan, xy), labels)
  with pytest.raises(ValueError, match=r'shape \(60,\)'):
    embeddings.embedding_scores(xy, labels[:-1])
  with pytest.raises(ValueError, match='single class'):
    embeddings.embedding_scores(xy, np.zeros_like(labels))
  with pytest.raises(ValueError, match='fewer than folds=5'):
    embeddings.embedding_scores(xy[:8], labels[:8])
  with pytest.raises(ValueError, match='k=50'):
    embeddings.embedding_scores(xy, labels, k=50)
  with pytest.raises(ValueError, match='folds must be >= 2'):
    embeddings.embedding_scores(xy, labels, folds=1)
  with pytest.raises(TypeError, match='integer class ids'):
    embeddings.embedding_scores(xy, labels.astype(float))


def test_save_embeddings_refuses_mismatched_panels(tmp_path):
  xy, labels = _blobs(n=40)
  names = list('abcd')
  with pytest.raises(ValueError, match="panel 'b' has shape"):
    figures.save_embeddings(
        tmp_path / 'e.png', {'a': xy, 'b': xy[:-1]}, labels, names, title='t'
    )
  with pytest.raises(ValueError, match='labels span'):
    figures.save_embeddings(
        tmp_path / 'e.png', {'a': xy}, labels, 'abc', title='t'
    )
  assert not (tmp_path / 'e.png').exists()


@pytest.fixture(scope='module')
def smoke_runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('runs')
  out = {}
  for dim in (2, 3):
    config = ae_config.get_config('smoke')
    config.num_train_steps = 30
    config.latent_dim = dim
    config.write_figures = False
    train.train_and_evaluate(config, root / f'ae{dim}')
    out[dim] = ae_jax.load(root / f'ae{dim}')
  return out


@pytest.fixture(autouse=True)
def _one_openmp_thread():
  # t-SNE's OpenMP threads spin-wait: with two pytest workers on two cores
  # they can be 30x slower than one thread.
  with threadpoolctl.threadpool_limits(1, user_api='openmp'):
    yield


def test_visualize_scores_2d_codes_as_they_are(smoke_runs, tmp_path):
  trained = smoke_runs[2]
  dataset = common.load_data(trained)
  result = visualization.visualize(trained, dataset, outdir=tmp_path)
  assert result['code_size'] == 2 and result['points'] == 300
  assert [r['embedding'] for r in result['rows']] == [
      'codes (2-D)',
      'pixels, PCA',
  ]
  x, y = dataset.test_images, dataset.test_labels  # All 300 test images.
  want = {
      'codes (2-D)': embeddings.embedding_scores(trained.encode(x), y),
      'pixels, PCA': embeddings.embedding_scores(
          decomposition.PCA(2).fit_transform(x), y
      ),
  }
  for row in result['rows']:
    assert row['knn_accuracy'] == pytest.approx(
        want[row['embedding']]['knn_accuracy']
    )
    assert row['silhouette'] == pytest.approx(
        want[row['embedding']]['silhouette'], abs=1e-6
    )
  assert (tmp_path / 'embedding.png').stat().st_size > 0


def test_visualize_a_small_test_split_with_fewer_folds(smoke_runs):
  # A 40-row table's test split: a class of 3 points stopped the task
  # ("fewer than folds=5").
  trained = smoke_runs[2]
  dataset = common.load_data(trained)
  y = dataset.test_labels
  idx = np.r_[np.flatnonzero(y == 0)[:3], np.flatnonzero(y == 1)[:9]]
  small = dataclasses.replace(
      dataset, test_images=dataset.test_images[idx], test_labels=y[idx]
  )
  result = visualization.visualize(trained, small)
  assert {r['cv_folds'] for r in result['rows']} == {3}
  codes = result['rows'][0]
  want = embeddings.embedding_scores(
      trained.encode(small.test_images), small.test_labels, folds=3
  )
  assert codes['knn_accuracy'] == pytest.approx(want['knn_accuracy'])
  one = dataclasses.replace(
      small, test_images=small.test_images[2:], test_labels=y[idx][2:]
  )
  with pytest.raises(ValueError, match='a class has 1 point among the 10'):
    visualization.visualize(trained, one)


def test_visualize_projects_larger_codes_with_pca_and_tsne(
    smoke_runs, tmp_path
):
  trained, baseline = smoke_runs[3], smoke_runs[2]
  dataset = common.load_data(trained)
  result = visualization.visualize(
      trained, dataset, baseline, outdir=tmp_path, max_points=150
  )
  assert result['code_size'] == 3 and result['points'] == 150
  rows = {r['embedding']: r for r in result['rows']}
  assert list(rows) == [
      'codes, PCA',
      'codes, t-SNE',
      'pixels, PCA',
      'pixels, t-SNE',
      'baseline codes',
  ]
  for row in rows.values():
    assert 0 <= row['knn_accuracy'] <= 1 and -1 <= row['silhouette'] <= 1
  # t-SNE separates the digits' pixels far better than a linear 2-D map
  # (measured on these 150 points: 5-NN accuracy 0.78 against 0.59).
  assert (
      rows['pixels, t-SNE']['knn_accuracy']
      > rows['pixels, PCA']['knn_accuracy'] + 0.1
  )
  # The baseline row scores the baseline's own 2-D codes of the same points.
  alone = visualization.visualize(baseline, dataset, max_points=150)['rows']
  assert rows['baseline codes'] == {**alone[0], 'embedding': 'baseline codes'}
  assert (tmp_path / 'embedding.png').stat().st_size > 0
  with pytest.raises(ValueError, match='max_points'):
    visualization.visualize(trained, dataset, max_points=3)
