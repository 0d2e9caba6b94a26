"""Feature learning: linear probes on the codes against pixels and PCA, and
how their accuracy grows with the number of training labels."""

import functools

from etils import epath
import numpy as np

from ae_jax import figures
from ae_jax.metrics import pca
from ae_jax.metrics import probes
from ae_jax.models import capabilities
from ae_jax.tasks import common

# Training labels of the label-efficiency curve; None = all of them. Sizes
# that the training set cannot stratify (more than N_train - num_classes)
# are skipped.
LABEL_SIZES = (100, 1000, None)
FEATURES = ('codes', 'raw_pixels', 'pca')


def check(config, *, cv_folds: int = 0) -> None:
  """Refuses a bad ``cv_folds`` (``--probe_cv_folds``) before any work."""
  del config
  probes.check_cv_folds('probe (--probe_cv_folds)', cv_folds)


def probe(
    trained, dataset, baseline=None, outdir=None, *, cv_folds: int = 0
) -> dict:
  """Linear-probe test accuracy with every training label on the codes, raw
  pixels and PCA features of the code size (``codes``, ``raw_pixels``,
  ``pca``), and ``label_efficiency`` rows: mean and std of the accuracy over
  stratified draws of `LABEL_SIZES` training labels, per feature type; the
  codes' and PCA's rows also give the mean paired gain over the pixels on
  the same draws (``gain_over_pixels``) and in how many draws they beat
  them (``draws_above_pixels``). ``cv_folds`` (``--probe_cv_folds``): the
  label subsets' probes choose their L2 penalty by that many folds of
  cross-validation on the subset's labels, for every feature type alike
  (0: C = 1; `probes.label_efficiency`), recorded as ``cv_folds``. With
  ``outdir`` also ``label_efficiency.png``: accuracy against the number of
  labels, one curve per feature type."""
  del baseline
  flat = lambda a: a.reshape(len(a), -1)
  train_x, test_x = flat(dataset.train_images), flat(dataset.test_images)
  train_y, test_y = dataset.train_labels, dataset.test_labels
  n, num_classes = len(train_y), len(np.unique(train_y))
  sizes = [s for s in LABEL_SIZES if s is None or s <= n - num_classes]
  # A bad cv_folds, or folds that a label subset cannot hold, are refused
  # before any encoding.
  probes.label_subsets(
      train_y, sizes=sizes, cv_folds=cv_folds, fn='probe (--probe_cv_folds)'
  )
  k = trained.latent_dim
  pca_train, pca_test = pca.pca_codes(
      train_x, test_x, num_components=common.pca_components(trained, dataset)
  )
  features = {
      'codes': (
          common.codes(trained, dataset.train_images),
          common.codes(trained, dataset.test_images),
      ),
      'raw_pixels': (train_x, test_x),
      'pca': (pca_train, pca_test),
  }
  out = {'code_size': k, 'cv_folds': cv_folds}
  rows, draws = [], {}
  for name in FEATURES:
    train_f, test_f = features[name]
    # The all-labels fit of the curve is the headline number (fitted once).
    curve = probes.label_efficiency(
        train_f, train_y, test_f, test_y, sizes=sizes, cv_folds=cv_folds
    )
    for row in curve:
      draws[name, row['labels']] = np.asarray(row.pop('accuracies'))
    rows += [{'features': name, **row} for row in curve]
    (full,) = [r for r in curve if r['labels'] == n]
    out[name] = full['accuracy_mean']
  for row in rows:  # Paired: every feature set is probed on the same draws.
    if row['features'] != 'raw_pixels':
      gain = (
          draws[row['features'], row['labels']]
          - draws['raw_pixels', row['labels']]
      )
      row['gain_over_pixels'] = float(np.mean(gain))
      row['draws_above_pixels'] = int(np.sum(gain > 0))
  if isinstance(trained.model, capabilities.Classifier):  # Its own accuracy.
    predicted = common.batched(
        trained,
        functools.partial(trained.model.predict, trained.params),
        dataset.test_images,
    )
    out['model_accuracy'] = float(np.mean(predicted == test_y))
  out['label_efficiency'] = rows
  if outdir is not None:
    legend = {
        'codes': f'{trained.config.model} codes ({k}-D)',
        'raw_pixels': f'raw pixels ({train_x.shape[1]}-D)',
        'pca': f'PCA ({k}-D)',
    }
    curves = {}
    for name in FEATURES:
      mine = [r for r in rows if r['features'] == name]
      curves[legend[name]] = (
          [r['labels'] for r in mine],
          [r['accuracy_mean'] for r in mine],
      )
    outdir = epath.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    figures.save_curves(
        outdir / 'label_efficiency.png',
        curves,
        xlabel='training labels (class-stratified subset)',
        ylabel='test accuracy (logistic regression)',
        title=(
            f'Label efficiency of linear probes, {dataset.name} '
            '(mean over draws)'
        ),
        logx=True,
    )
  return out
