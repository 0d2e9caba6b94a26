"""Visualisation: 2-D embeddings of the test codes, measured by class.

The codes of (a subset of) the test set are drawn in 2-D, coloured by class,
beside the same points' pixels projected by PCA: the codes themselves when
the code is 2-D, else their PCA projection and a t-SNE map (and, for a fair
comparison of t-SNE maps, a t-SNE map of the pixels). Each embedding is
scored by the k-nearest-neighbour accuracy and the silhouette score of the
classes (`ae_jax.embeddings.embedding_scores`), so the picture comes with
numbers.
"""

import numbers

from etils import epath
import numpy as np
from sklearn import manifold

from ae_jax import figures
from ae_jax.metrics import embeddings
from ae_jax.tasks import common

# Test points embedded, drawn and scored (t-SNE and the silhouette score
# grow with their number).
MAX_POINTS = 3000
TSNE_PERPLEXITY = 30.0
KNN_NEIGHBOURS = 5
CV_FOLDS = 5  # Fewer where the smallest class has fewer test points.
SEED = 0


def tsne_2d(x: np.ndarray, *, seed: int = SEED) -> np.ndarray:
  """t-SNE map ``[N, 2]`` of ``x`` ``[N, D]``: PCA initialisation, automatic
  learning rate, perplexity `TSNE_PERPLEXITY` (capped below N / 3)."""
  x = np.asarray(x, np.float32).reshape(len(x), -1)
  perplexity = min(TSNE_PERPLEXITY, (len(x) - 1) / 3)
  tsne = manifold.TSNE(
      n_components=2,
      perplexity=perplexity,
      init='pca',
      learning_rate='auto',
      random_state=seed,
  )
  return tsne.fit_transform(x)


def _subset(num: int, max_points: int, seed: int) -> np.ndarray:
  if num <= max_points:
    return np.arange(num)
  rng = np.random.default_rng(seed)
  return np.sort(rng.choice(num, size=max_points, replace=False))


def visualize(
    trained, dataset, baseline=None, outdir=None, *, max_points=None
) -> dict:
  """k-NN accuracy and silhouette of 2-D embeddings of the test set; with
  ``outdir`` also ``embedding.png``, the embeddings side by side.

  Embeddings (rows, in order):
    ``'codes (2-D)'`` the codes as they are (latent_dim <= 2), or
    ``'codes, PCA'`` and ``'codes, t-SNE'`` (latent_dim > 2);
    ``'pixels, PCA'`` and, beside a t-SNE of the codes, ``'pixels, t-SNE'``;
    ``'baseline codes'`` (PCA-projected if > 2-D) with a baseline model.

  All embeddings are of the same `max_points` test points (a seeded random
  subset, default `MAX_POINTS`; every point if the test set is smaller). PCA
  projections are fitted on these points.
  """
  max_points = MAX_POINTS if max_points is None else max_points
  if (
      isinstance(max_points, bool)
      or not isinstance(max_points, numbers.Integral)
      or max_points < 2 * KNN_NEIGHBOURS
  ):
    raise ValueError(
        f'visualize: max_points must be an int >= {2 * KNN_NEIGHBOURS}, got '
        f'{max_points!r}'
    )
  idx = _subset(len(dataset.test_labels), int(max_points), SEED)
  x, labels = dataset.test_images[idx], dataset.test_labels[idx]
  z = common.codes(trained, x)
  latent_dim = z.shape[1]
  pixels = x.reshape(len(x), -1)

  panels = {}  # Row name -> (xy, axis name).
  if latent_dim <= 2:
    panels[f'codes ({latent_dim}-D)'] = (figures.project_2d(z)[0], 'code')
  else:
    panels['codes, PCA'] = (figures.project_2d(z)[0], 'PC')
    panels['codes, t-SNE'] = (tsne_2d(z), 't-SNE')
  panels['pixels, PCA'] = (figures.project_2d(pixels)[0], 'PC')
  if latent_dim > 2:
    panels['pixels, t-SNE'] = (tsne_2d(pixels), 't-SNE')
  if baseline is not None:
    zb = common.codes(baseline, x)
    name = 'code' if zb.shape[1] <= 2 else 'PC'
    panels['baseline codes'] = (figures.project_2d(zb)[0], name)

  # A small table's test split may hold fewer than CV_FOLDS points of a
  # class: fewer folds then, as many as its smallest class allows.
  smallest = int(np.unique(labels, return_counts=True)[1].min())
  folds = min(CV_FOLDS, smallest)
  if folds < 2:
    raise ValueError(
        f'visualize: a class has {smallest} point among the {len(labels)} '
        'test points embedded, and the k-NN scores cross-validate within '
        'each class; evaluate on a larger test split (config.test_fraction).'
    )
  rows = []
  for name, (xy, _) in panels.items():
    scores = embeddings.embedding_scores(
        xy, labels, k=KNN_NEIGHBOURS, folds=folds, seed=SEED
    )
    rows.append({'embedding': name, **scores, 'cv_folds': folds})

  if outdir is not None:
    titles = {
        r['embedding']: (
            f'{r["embedding"]}\n{KNN_NEIGHBOURS}-NN acc. '
            f'{r["knn_accuracy"]:.3f}, silhouette {r["silhouette"]:.3f}'
        )
        for r in rows
    }
    if baseline is not None:  # Say which model, and how it is projected.
      how = '' if baseline.latent_dim <= 2 else ', PCA'
      titles['baseline codes'] = titles['baseline codes'].replace(
          'baseline codes',
          f'baseline {baseline.config.model} codes '
          f'({baseline.latent_dim}-D){how}',
          1,
      )
    class_names = getattr(dataset, 'class_names', None) or [
        str(c) for c in range(dataset.num_classes)
    ]
    outdir = epath.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    figures.save_embeddings(
        outdir / 'embedding.png',
        {titles[name]: xy for name, (xy, _) in panels.items()},
        labels,
        class_names,
        title=(
            f'{trained.config.model} codes ({latent_dim}-D) of {len(x)} '
            f'{dataset.name} test images'
        ),
        axis_names={titles[name]: axis for name, (_, axis) in panels.items()},
    )
  return {
      'rows': rows,
      'code_size': int(latent_dim),
      'points': int(len(x)),
  }
