"""Clustering accuracy: the best one-to-one match of clusters to classes
(the Hungarian algorithm), and k-means scores of a feature set.

Conventions as in `ae_jax.metrics`.
"""

import numpy as np
from scipy import optimize
from sklearn import cluster
from sklearn import metrics

from ae_jax.metrics import checks

__all__ = [
    'clustering_accuracy',
    'kmeans_scores',
]


def _ids(fn_name: str, name: str, value) -> np.ndarray:
  """``[N]`` non-negative integer ids (labels or cluster indices)."""
  y = np.asarray(value)
  if y.dtype.kind not in 'biu':
    raise TypeError(
        f'{fn_name}: {name} must be integer ids, got dtype {y.dtype}; cast '
        f'with {name}.astype(np.int32)'
    )
  if y.ndim != 1 or y.size == 0:
    raise ValueError(
        f'{fn_name}: {name} must be a non-empty [N] array of ids, got shape '
        f'{y.shape}; pass one id per example (flatten it)'
    )
  if y.min() < 0:
    raise ValueError(
        f'{fn_name}: {name} has negative ids (min {y.min()}); remap them to '
        '0, 1, ... (e.g. np.unique(x, return_inverse=True)[1])'
    )
  return y.astype(np.int64)


def clustering_accuracy(
    labels: np.typing.ArrayLike, clusters: np.typing.ArrayLike
) -> float:
  """Unsupervised clustering accuracy (ACC) of a partition against classes.

  ``max over one-to-one maps m from clusters to classes of
  mean(labels == m(clusters))``: the accuracy of the best labelling of the
  clusters, found by the Hungarian algorithm
  (`scipy.optimize.linear_sum_assignment`) on the ``[clusters, classes]``
  contingency table. This is the ACC of DEC (Xie, Girshick & Farhadi, 2016,
  Eq. 10) and of its reimplementations. It is invariant to renaming the
  clusters; with more clusters than classes, the clusters left unmatched
  count as wrong (and the reverse for more classes than clusters).

  Args:
    labels: integer class ids ``[N]``, >= 0.
    clusters: integer cluster ids ``[N]``, >= 0 (e.g. k-means' ``labels_``).

  Returns:
    The accuracy as a Python float in ``(0, 1]``.

  Raises:
    ValueError: empty or non-1-D ids, negative ids, or ``clusters`` and
      ``labels`` of different lengths.
    TypeError: non-integer ids.
  """
  fn = 'clustering_accuracy'
  y = _ids(fn, 'labels', labels)
  c = _ids(fn, 'clusters', clusters)
  if c.shape != y.shape:
    raise ValueError(
        f'{fn}: clusters has shape {c.shape} but labels {y.shape}; pass one '
        'cluster id per labelled example'
    )
  # Dense ids keep the table small when ids are sparse (e.g. {0, 7, 1000}).
  _, c = np.unique(c, return_inverse=True)
  _, y = np.unique(y, return_inverse=True)
  table = np.zeros((c.max() + 1, y.max() + 1), np.int64)
  np.add.at(table, (c, y), 1)
  rows, cols = optimize.linear_sum_assignment(table, maximize=True)
  return float(table[rows, cols].sum() / len(y))


def kmeans_scores(
    features: np.typing.ArrayLike,
    labels: np.typing.ArrayLike,
    *,
    num_clusters: int,
    n_init: int = 10,
    seed: int = 0,
) -> dict[str, float]:
  """k-means on ``features`` scored against ``labels``.

  `sklearn.cluster.KMeans` (k-means++ initialisation, Lloyd iterations,
  ``n_init`` restarts, the one of least inertia kept; seeded, so repeatable)
  with ``num_clusters`` clusters is fitted on ``features`` and its partition
  of the same points is scored: ``accuracy`` (`clustering_accuracy`,
  Hungarian matching) and ``nmi``
  (`sklearn.metrics.normalized_mutual_info_score`, arithmetic mean
  normalisation, as in DEC's reimplementations). Chance accuracy is about
  the largest class fraction; chance NMI about 0.

  Args:
    features: real array ``[N, ...]`` (each example flattened).
    labels: integer class ids ``[N]``.
    num_clusters: k, at most N (keyword-only); usually the number of classes.
    n_init: k-means restarts (keyword-only).
    seed: seeds k-means (keyword-only).

  Returns:
    ``{'accuracy': float, 'nmi': float, 'inertia': float}`` (inertia: the
    within-cluster sum of squares of the kept restart).

  Raises:
    ValueError: non-finite or empty features, mismatched labels, a bad
      ``num_clusters`` / ``n_init``.
    TypeError: non-integer labels.
  """
  fn = 'kmeans_scores'
  x = checks.matrix(fn, 'features', features)
  y = checks.labels(fn, 'labels', labels, len(x))
  k = checks.positive_int(fn, 'num_clusters', num_clusters)
  n_init = checks.positive_int(fn, 'n_init', n_init)
  if k > len(x):
    raise ValueError(
        f'{fn}: num_clusters={k} is more than the {len(x)} points; pass more '
        'points or fewer clusters'
    )
  kmeans = cluster.KMeans(n_clusters=k, n_init=n_init, random_state=seed)
  clusters = kmeans.fit_predict(x)
  return {
      'accuracy': clustering_accuracy(y, clusters),
      'nmi': float(metrics.normalized_mutual_info_score(y, clusters)),
      'inertia': float(kmeans.inertia_),
  }
