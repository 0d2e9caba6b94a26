"""Feature learning: linear probes on the codes against pixels and PCA."""

import functools

import numpy as np

from ae_jax import evaluation
from ae_jax.tasks import common


def probe(trained, dataset, baseline=None, outdir=None) -> dict:
  del outdir  # No figure.
  del baseline
  flat = lambda a: a.reshape(len(a), -1)
  train_x, test_x = flat(dataset.train_images), flat(dataset.test_images)
  labels = dataset.train_labels, dataset.test_labels
  acc = lambda a, b: evaluation.linear_probe_accuracy(
      a, labels[0], b, labels[1]
  )
  k = trained.latent_dim
  pca_train, pca_test = evaluation.pca_codes(train_x, test_x, num_components=k)
  out = {
      'code_size': k,
      'codes': acc(
          common.codes(trained, dataset.train_images),
          common.codes(trained, dataset.test_images),
      ),
      'raw_pixels': acc(train_x, test_x),
      'pca': acc(pca_train, pca_test),
  }
  if hasattr(trained.model, 'predict'):  # A classifier: its own accuracy.
    predicted = common.batched(
        functools.partial(trained.model.predict, trained.params),
        dataset.test_images,
    )
    out['model_accuracy'] = float(np.mean(predicted == dataset.test_labels))
  return out
