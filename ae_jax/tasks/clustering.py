"""Clustering (unsupervised classification): k-means on the test codes,
scored against the classes, beside k-means on pixels and on PCA features.

The protocol of autoencoder + k-means in DEC (Xie, Girshick & Farhadi,
2016) and its reimplementations: k-means with k = the number of classes on
the codes, each cluster matched one-to-one to a class by the Hungarian
algorithm (`ae_jax.metrics.clustering.clustering_accuracy`), and the
normalised mutual information of clusters and classes. No labels are used
until scoring.

What is clustered: the test split. DEC clusters the whole data set (train
and test together, 70,000 images for Fashion-MNIST); here k-means is fitted
on the codes of the test images (which the encoder never trained on) and
that partition of the same test images is scored. PCA, the linear encoder
of the baseline row, is fitted on the training images like the model's
encoder, and applied to the test images.
"""

import numbers

import numpy as np

from ae_jax.metrics import clustering as clustering_metrics
from ae_jax.metrics import pca
from ae_jax.tasks import common

# k-means restarts (k-means++ initialisations; the lowest inertia is kept),
# as DEC's own k-means (`KMeans(n_clusters, n_init=20)` in DEC-keras): on
# 10,000 Fashion-MNIST test images the pixel features (784-D) take about
# 6 s on 2 CPU cores, the codes and PCA features well under a second.
N_INIT = 20
SEED = 0
FEATURES = ('codes', 'raw_pixels', 'pca')


def cluster(
    trained, dataset, baseline=None, outdir=None, *, n_init=None
) -> dict:
  """Hungarian accuracy and NMI of k-means (k = number of classes) on the
  test codes (``accuracy``, ``nmi``), on the raw test pixels
  (``raw_pixels_*``) and on PCA features of the code size (``pca_*``, PCA
  fitted on the training images), and on a ``baseline`` model's codes
  (``baseline_*``) when one is given. ``rows``: one row per feature set.

  ``n_init``: k-means restarts per feature set (default `N_INIT`).
  """
  del outdir  # No figure: the numbers are the result.
  n_init = N_INIT if n_init is None else n_init
  if (
      isinstance(n_init, bool)
      or not isinstance(n_init, numbers.Integral)
      or n_init < 1
  ):
    raise ValueError(
        f'cluster: n_init (k-means restarts) must be a positive int, got '
        f'{n_init!r}'
    )
  k = int(dataset.num_classes)
  if k < 2:
    raise ValueError(
        f'cluster: {dataset.name} has {k} class; clustering accuracy needs '
        'labels of at least two classes (data without labels has one). Give '
        'labelled data or leave this task out.'
    )
  flat = lambda a: a.reshape(len(a), -1)
  test_x, test_y = flat(dataset.test_images), dataset.test_labels
  code_size = int(trained.latent_dim)
  _, pca_test = pca.pca_codes(
      flat(dataset.train_images),
      test_x,
      num_components=common.pca_components(trained, dataset),
  )
  features = {
      'codes': common.codes(trained, dataset.test_images),
      'raw_pixels': test_x,
      'pca': pca_test,
  }
  if baseline is not None:
    features['baseline_codes'] = common.codes(baseline, dataset.test_images)
  out = {}
  rows = []
  for name, f in features.items():
    f = flat(np.asarray(f))
    scores = clustering_metrics.kmeans_scores(
        f, test_y, num_clusters=k, n_init=int(n_init), seed=SEED
    )
    rows.append(
        {
            'features': name,
            'dim': int(f.shape[1]),
            'accuracy': scores['accuracy'],
            'nmi': scores['nmi'],
        }
    )
    prefix = {'codes': '', 'baseline_codes': 'baseline_'}.get(name, name + '_')
    out[f'{prefix}accuracy'] = scores['accuracy']
    out[f'{prefix}nmi'] = scores['nmi']
  out.update(
      num_clusters=k,
      n_init=int(n_init),
      points=int(len(test_y)),
      code_size=code_size,
      fitted_on='test',
      rows=rows,
  )
  return out
