"""Low-dimensional embeddings (2-D plots of the codes): k-NN accuracy and
silhouette score of the classes.

Conventions as in `ae_jax.metrics`.
"""

import numpy as np
from sklearn import metrics
from sklearn import model_selection
from sklearn import neighbors

from ae_jax.metrics import checks

__all__ = [
    'embedding_scores',
]


def embedding_scores(
    embedding: np.typing.ArrayLike,
    labels: np.typing.ArrayLike,
    *,
    k: int = 5,
    folds: int = 5,
    seed: int = 0,
) -> dict[str, float]:
  """How well an embedding (e.g. a 2-D plot of codes) separates the classes.

  Two numbers that make a scatter plot measurable:

  * ``knn_accuracy``: accuracy of a ``k``-nearest-neighbour classifier
    (`sklearn.neighbors.KNeighborsClassifier`, Euclidean) under stratified
    `folds`-fold cross-validation on the embedded points themselves (each
    point predicted once, by its neighbours in the other folds): local class
    purity, what the eye sees as clean clusters. Chance is about the largest
    class fraction.
  * ``silhouette``: `sklearn.metrics.silhouette_score` with the classes as
    the clusters, in ``[-1, 1]``: near 1 for compact, well separated classes,
    near 0 for overlapping ones. Global geometry; it costs ``O(N^2)``
    distances, so pass a subset of a few thousand points.

  Both are invariant to translating, rotating and uniformly scaling the
  embedding, so embeddings of different methods can be compared.

  Args:
    embedding: real array ``[N, D]`` (``D = 2`` for a plot; any ``D >= 1``).
    labels: integer class ids ``[N]``, at least two classes, each with at
      least `folds` examples.
    k: neighbours (keyword-only), at most the size of a training fold.
    folds: cross-validation folds, >= 2 (keyword-only).
    seed: seeds the fold assignment (keyword-only).

  Returns:
    ``{'knn_accuracy': float, 'silhouette': float}``.

  Raises:
    ValueError: on an empty, non-finite or non-2-D embedding, mismatched
      labels, fewer than two classes, a class with fewer than `folds`
      examples, or a bad `k` / `folds`.
    TypeError: on non-integer labels.
  """
  fn = 'embedding_scores'
  xy = checks.real_array(fn, 'embedding', embedding, min_ndim=2)
  if xy.ndim != 2:
    raise ValueError(
        f'{fn}: embedding must be [N, D] points, got shape {xy.shape}; '
        'flatten or project it first'
    )
  y = checks.labels(fn, 'labels', labels, len(xy))
  k = checks.positive_int(fn, 'k', k)
  folds = checks.positive_int(fn, 'folds', folds)
  if folds < 2:
    raise ValueError(f'{fn}: folds must be >= 2, got folds={folds}')
  classes, counts = np.unique(y, return_counts=True)
  if len(classes) < 2:
    raise ValueError(
        f'{fn}: labels has a single class {classes.tolist()}; scores need '
        'at least two classes'
    )
  if counts.min() < folds:
    raise ValueError(
        f'{fn}: class {classes[counts.argmin()]} has {counts.min()} '
        f'examples, fewer than folds={folds}; pass more points or fewer '
        'folds'
    )
  smallest_fold = len(y) - -(-len(y) // folds)  # N minus the largest fold.
  if k > smallest_fold:
    raise ValueError(
        f'{fn}: k={k} is more than the {smallest_fold} points a training '
        'fold holds; use a smaller k or more points'
    )
  cv = model_selection.StratifiedKFold(folds, shuffle=True, random_state=seed)
  predicted = model_selection.cross_val_predict(
      neighbors.KNeighborsClassifier(n_neighbors=k), xy, y, cv=cv
  )
  return {
      'knn_accuracy': float(np.mean(predicted == y)),
      'silhouette': float(metrics.silhouette_score(xy, y)),
  }
