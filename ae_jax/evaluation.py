"""Evaluation numbers for trained autoencoders, and the baselines they beat.

Library functions that experiment binaries call on NumPy arrays of images,
codes and reconstructions (e.g. from `ae_jax.train.outputs.predict` or
`ae_jax.load`):

* baselines: PCA reconstruction error and PCA codes, the linear baseline of
  the deep autoencoder (Hinton & Salakhutdinov, 2006), via scikit-learn;
* representation quality: a linear probe (logistic regression on
  standardised codes), optionally on a stratified subset of the labels, and
  label-efficiency curves (probe accuracy against the number of labels);
* embeddings: k-NN accuracy and silhouette score of the classes in a
  low-dimensional embedding (2-D plots of the codes);
* reconstruction quality: per-image PSNR and SSIM;
* regularised autoencoders: the fraction of near-zero code entries (sparse
  AE), the mean activation of each hidden unit (KL-sparse AE), and the mean
  Frobenius norm of the encoder Jacobian (contractive AE, Rifai et al., 2011).

Conventions: arrays come first and hyperparameters are keyword-only. Inputs
are checked on the host before any work is done (empty arrays, NaN/inf,
shape mismatches, impossible component counts) and a `ValueError` /
`TypeError` names the function, the argument and the fix. Summary numbers are
returned as Python floats; per-image and per-unit numbers as NumPy arrays.
"""

from collections.abc import Callable
from collections.abc import Sequence
import functools
import numbers

import dm_pix
import jax
import numpy as np
from sklearn import decomposition
from sklearn import linear_model
from sklearn import metrics
from sklearn import model_selection
from sklearn import neighbors
from sklearn import pipeline
from sklearn import preprocessing

from ae_jax import penalties

__all__ = [
    'apply_in_batches',
    'embedding_scores',
    'fraction_near_zero',
    'label_efficiency',
    'linear_probe_accuracy',
    'mean_encoder_jacobian_norm',
    'mean_unit_activation',
    'pca_codes',
    'pca_reconstruction_mse',
    'psnr',
    'ssim',
    'stratified_subset',
]

# PCA is exact (full / covariance) for small inputs and randomized for large
# ones under scikit-learn's 'auto' solver; a fixed seed makes both repeatable.
_PCA_SEED = 0


# ---------------------------------------------------------------------------
# Input checks.
# ---------------------------------------------------------------------------


def _check_positive_int(fn_name: str, name: str, value) -> int:
  if (
      not isinstance(value, numbers.Integral)
      or isinstance(value, (bool, np.bool_))
      or value < 1
  ):
    raise ValueError(
        f'{fn_name}: {name} must be a positive int, got {name}={value!r}'
    )
  return int(value)


def _as_real_array(fn_name: str, name: str, value, *, min_ndim: int):
  """Host array of a real dtype, non-empty, finite, with >= `min_ndim` axes.

  Floating inputs keep their dtype (float16 is widened to float32); bool and
  integer inputs are converted to float64.
  """
  x = np.asarray(value)
  if x.dtype.kind == 'f':
    if x.dtype.itemsize < 4:
      x = x.astype(np.float32)
  elif x.dtype.kind in 'biu':
    x = x.astype(np.float64)
  else:
    raise TypeError(
        f'{fn_name}: {name} must have a real dtype (bool, int or float), '
        f'got {x.dtype}; convert it with np.asarray({name}, np.float32)'
    )
  if x.ndim < min_ndim:
    axes = '[N]' if min_ndim == 1 else '[N, ...]'
    raise ValueError(
        f'{fn_name}: {name} must have a leading example axis, {axes} with at '
        f'least {min_ndim} axes, got shape {x.shape}; add the batch axis, '
        f'e.g. {name}[None]'
    )
  if x.size == 0:
    raise ValueError(
        f'{fn_name}: {name} is empty (shape {x.shape}); pass at least one '
        'example with at least one feature'
    )
  if not np.all(np.isfinite(x)):
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    raise ValueError(
        f'{fn_name}: {name} has {bad} NaN/inf entries; fix or drop those '
        'examples first (a diverged model produces NaN codes)'
    )
  return x


def _as_matrix(fn_name: str, name: str, value) -> np.ndarray:
  """``[N, ...]`` real array -> finite ``[N, D]`` (examples flattened)."""
  x = _as_real_array(fn_name, name, value, min_ndim=2)
  return x.reshape(x.shape[0], -1)


def _check_same_example_shape(fn_name, name_a, a, name_b, b) -> None:
  if np.shape(a)[1:] != np.shape(b)[1:]:
    raise ValueError(
        f'{fn_name}: {name_a} examples have shape {np.shape(a)[1:]} but '
        f'{name_b} examples have shape {np.shape(b)[1:]}; both must come '
        'from the same data (or encoder), with the same per-example shape'
    )


def _as_labels(fn_name: str, name: str, value, num: int) -> np.ndarray:
  y = np.asarray(value)
  if y.dtype.kind not in 'biu':
    raise TypeError(
        f'{fn_name}: {name} must be integer class ids, got dtype {y.dtype}; '
        f'cast with {name}.astype(np.int32)'
    )
  if y.shape != (num,):
    raise ValueError(
        f'{fn_name}: {name} must have shape ({num},), one label per feature '
        f'row, got {y.shape}; pass the labels of exactly those examples'
    )
  return y


# ---------------------------------------------------------------------------
# PCA baseline.
# ---------------------------------------------------------------------------


def _fit_pca(
    fn_name: str, train, test, num_components
) -> tuple[decomposition.PCA, np.ndarray, np.ndarray]:
  """Checks the inputs and fits PCA on `train`; returns (pca, train, test)."""
  train = _as_real_array(fn_name, 'train', train, min_ndim=2)
  test = _as_real_array(fn_name, 'test', test, min_ndim=2)
  _check_same_example_shape(fn_name, 'train', train, 'test', test)
  num_components = _check_positive_int(
      fn_name, 'num_components', num_components
  )
  train = train.reshape(train.shape[0], -1)
  test = test.reshape(test.shape[0], -1)
  limit = min(train.shape)
  if num_components > limit:
    raise ValueError(
        f'{fn_name}: num_components={num_components} is more than PCA can '
        f'fit on {train.shape[0]} training examples of {train.shape[1]} '
        f'features (at most min(examples, features) = {limit}); use '
        f'num_components <= {limit} or more training examples'
    )
  pca = decomposition.PCA(n_components=num_components, random_state=_PCA_SEED)
  pca.fit(train)
  return pca, train, test


def pca_reconstruction_mse(
    train_images: np.typing.ArrayLike,
    test_images: np.typing.ArrayLike,
    *,
    num_components: int,
) -> float:
  """Test mean squared error per pixel of a PCA fitted on the train images.

  PCA with `num_components` components (centred on the train mean) is the
  optimal linear autoencoder with that code size: the baseline that the deep
  autoencoder of Hinton & Salakhutdinov (2006) is compared with (their Fig. 2:
  784-1000-500-250-30 autoencoder against 30-component PCA on MNIST). The
  result is directly comparable with the models' ``'mse'`` metric averaged
  over the test set.

  Args:
    train_images: real array ``[N_train, ...]``; each example is flattened.
    test_images: real array ``[N_test, ...]`` with the same per-example shape.
    num_components: code size, ``1 <= num_components <= min(N_train, D)``
      with ``D`` the number of pixels per example (keyword-only).

  Returns:
    ``mean((test - reconstruct(test)) ** 2)`` over test examples and pixels,
    a Python float (accumulated in float64).

  Raises:
    ValueError: on empty or non-finite inputs, mismatched per-example shapes
      or an impossible `num_components`.
    TypeError: on a non-real dtype.

  References:
    Hinton & Salakhutdinov, `Reducing the dimensionality of data with neural
    networks <https://doi.org/10.1126/science.1127647>`_, Science 313, 2006.
  """
  pca, _, test = _fit_pca(
      'pca_reconstruction_mse', train_images, test_images, num_components
  )
  recon = pca.inverse_transform(pca.transform(test))
  diff = np.asarray(recon, np.float64) - np.asarray(test, np.float64)
  return float(np.mean(np.square(diff)))


def pca_codes(
    train: np.typing.ArrayLike,
    test: np.typing.ArrayLike,
    *,
    num_components: int,
) -> tuple[np.ndarray, np.ndarray]:
  """PCA codes of train and test examples, the PCA fitted on `train` only.

  The linear baseline for code-quality measures (linear probe, latent
  scatter plots): same code size as the autoencoder, no nonlinearity.

  Args:
    train: real array ``[N_train, ...]``; each example is flattened.
    test: real array ``[N_test, ...]`` with the same per-example shape.
    num_components: code size, ``1 <= num_components <= min(N_train, D)``
      (keyword-only).

  Returns:
    ``(train_codes, test_codes)`` of shapes ``[N_train, num_components]`` and
    ``[N_test, num_components]``: projections on the principal axes, in
    decreasing order of explained variance (not whitened).

  Raises:
    ValueError, TypeError: as for :func:`pca_reconstruction_mse`.
  """
  pca, train, test = _fit_pca('pca_codes', train, test, num_components)
  return pca.transform(train), pca.transform(test)


# ---------------------------------------------------------------------------
# Linear probe.
# ---------------------------------------------------------------------------


def _probe_inputs(
    fn, train_features, train_labels, test_features, test_labels, max_iter
):
  """Checked ``(x_train, y_train, x_test, y_test, max_iter)`` of a probe."""
  x_train = _as_matrix(fn, 'train_features', train_features)
  x_test = _as_matrix(fn, 'test_features', test_features)
  _check_same_example_shape(
      fn,
      'train_features',
      np.asarray(train_features),
      'test_features',
      np.asarray(test_features),
  )
  y_train = _as_labels(fn, 'train_labels', train_labels, len(x_train))
  y_test = _as_labels(fn, 'test_labels', test_labels, len(x_test))
  max_iter = _check_positive_int(fn, 'max_iter', max_iter)
  return x_train, y_train, x_test, y_test, max_iter


def linear_probe_accuracy(
    train_features: np.typing.ArrayLike,
    train_labels: np.typing.ArrayLike,
    test_features: np.typing.ArrayLike,
    test_labels: np.typing.ArrayLike,
    *,
    max_iter: int = 1000,
    seed: int = 0,
    num_train: int | None = None,
) -> float:
  """Test accuracy of logistic regression on standardised features.

  A `sklearn.pipeline.Pipeline` of `StandardScaler` (fitted on the training
  features) and multinomial `LogisticRegression` (L2, ``C=1``, lbfgs): how
  linearly the codes separate the classes. Standardising first makes the
  result independent of the code scale, which differs wildly between models
  (e.g. sparse vs. VAE codes).

  Args:
    train_features: real array ``[N_train, ...]`` (flattened per example).
    train_labels: integer class ids ``[N_train]``, at least two classes.
    test_features: real array ``[N_test, ...]``, same per-example shape.
    test_labels: integer class ids ``[N_test]``.
    max_iter: lbfgs iteration limit (keyword-only); scikit-learn warns with a
      `ConvergenceWarning` when it is reached.
    seed: seeds the subsample and the solver (keyword-only).
    num_train: if given, fit on a stratified random subsample of this many
      training examples (drawn with `seed`; class proportions kept, at least
      one example per class), for label-efficiency curves. Subsamples of
      different sizes are drawn independently, not nested. Must be between
      the number of classes and ``N_train``; ``N_train`` uses every example.

  Returns:
    Fraction of test examples classified correctly, a Python float.

  Raises:
    ValueError: on empty or non-finite features, mismatched shapes, fewer
      than two classes, or an impossible `num_train`.
    TypeError: on non-integer labels.
  """
  fn = 'linear_probe_accuracy'
  x_train, y_train, x_test, y_test, max_iter = _probe_inputs(
      fn, train_features, train_labels, test_features, test_labels, max_iter
  )
  classes = np.unique(y_train)
  if len(classes) < 2:
    raise ValueError(
        f'{fn}: train_labels has a single class {classes.tolist()}; a probe '
        'needs examples of at least two classes'
    )

  if num_train is not None:
    num_train = _check_positive_int(fn, 'num_train', num_train)
    if not len(classes) <= num_train <= len(x_train):
      raise ValueError(
          f'{fn}: num_train={num_train} must be between the number of '
          f'classes ({len(classes)}, one example each) and the number of '
          f'training examples ({len(x_train)}); pass num_train=None to use '
          'them all'
      )
    if num_train < len(x_train):
      counts = np.bincount(np.searchsorted(classes, y_train))
      if counts.min() < 2:
        raise ValueError(
            f'{fn}: class {classes[counts.argmin()]} has a single training '
            'example, so it cannot be subsampled with stratification; use '
            'num_train=None or more training data'
        )
      x_train, _, y_train, _ = model_selection.train_test_split(
          x_train,
          y_train,
          train_size=num_train,
          stratify=y_train,
          random_state=seed,
      )

  probe = pipeline.make_pipeline(
      preprocessing.StandardScaler(),
      linear_model.LogisticRegression(max_iter=max_iter, random_state=seed),
  )
  probe.fit(x_train, y_train)
  return float(probe.score(x_test, y_test))


def stratified_subset(
    labels: np.typing.ArrayLike, num: int, *, seed: int = 0
) -> np.ndarray:
  """Indices of a class-stratified random subset of `num` labelled examples.

  `sklearn.model_selection.train_test_split` with ``stratify=labels``: each
  class gets its share of the subset (``num * count / N``, rounded so that
  the shares add up to `num`), so ``num = num_classes * k`` on balanced
  labels gives exactly ``k`` examples of every class. The subsets behind
  label-efficiency curves (:func:`label_efficiency`).

  Args:
    labels: integer class ids ``[N]``, at least two classes.
    num: subset size (positive int): ``num == N`` (every example), or
      ``num_classes <= num <= N - num_classes`` (the examples left out must
      also hold every class, a scikit-learn requirement), with at least two
      examples of each class.
    seed: seeds the draw (keyword-only).

  Returns:
    Sorted int64 indices ``[num]`` into `labels`, without repeats.

  Raises:
    ValueError: on labels that are not 1-D, a single class, a class with a
      single example, or an impossible `num`.
    TypeError: on non-integer labels.
  """
  fn = 'stratified_subset'
  y = np.asarray(labels)
  if y.ndim != 1 or y.size == 0:
    raise ValueError(
        f'{fn}: labels must be a non-empty 1-D array of class ids, got shape '
        f'{y.shape}; pass one label per example'
    )
  y = _as_labels(fn, 'labels', y, len(y))
  num = _check_positive_int(fn, 'num', num)
  n = len(y)
  classes, counts = np.unique(y, return_counts=True)
  if len(classes) < 2:
    raise ValueError(
        f'{fn}: labels has a single class {classes.tolist()}; a stratified '
        'subset needs at least two classes'
    )
  if num == n:
    return np.arange(n)
  c = len(classes)
  if not c <= num <= n - c:
    raise ValueError(
        f'{fn}: num={num} must be between the number of classes ({c}) and '
        f'N - {c} = {n - c} (the examples left out must hold every class '
        f'too), or equal N = {n} for every example'
    )
  if counts.min() < 2:
    raise ValueError(
        f'{fn}: class {classes[counts.argmin()]} has a single example, so '
        f'it cannot be subsampled with stratification; use num={n} (every '
        'example) or more data'
    )
  subset, _ = model_selection.train_test_split(
      np.arange(n), train_size=num, stratify=y, random_state=seed
  )
  return np.sort(subset)


def _default_repeats(num: int) -> int:
  """Draws of a label subset of size `num`: small subsets vary the most."""
  return 5 if num <= 100 else 3


def label_efficiency(
    train_features: np.typing.ArrayLike,
    train_labels: np.typing.ArrayLike,
    test_features: np.typing.ArrayLike,
    test_labels: np.typing.ArrayLike,
    *,
    sizes: Sequence[int | None] = (100, 1000, None),
    seed: int = 0,
    repeats: int | None = None,
    max_iter: int = 1000,
) -> list[dict[str, float | int]]:
  """Linear-probe test accuracy against the number of training labels.

  For each size ``n`` in `sizes`, fits :func:`linear_probe_accuracy`
  (standardised features, logistic regression) on a class-stratified random
  subset of ``n`` training examples (:func:`stratified_subset`) and scores
  it on the whole test set; small subsets are drawn several times (seeds
  ``seed, seed + 1, ...``) and the accuracies averaged. How much labelled
  data a representation needs: good codes reach high accuracy from few
  labels. Subsets of different sizes are drawn independently, not nested.

  Args:
    train_features: real array ``[N_train, ...]`` (flattened per example).
    train_labels: integer class ids ``[N_train]``, at least two classes.
    test_features: real array ``[N_test, ...]``, same per-example shape.
    test_labels: integer class ids ``[N_test]``.
    sizes: non-empty sequence of subset sizes (keyword-only): ``None`` or
      ``N_train`` for every training example (one fit), else an int with
      ``num_classes <= n <= N_train - num_classes``.
    seed: first seed of the draws and the solver (keyword-only).
    repeats: draws per subset size smaller than ``N_train`` (keyword-only);
      ``None`` draws 5 times for ``n <= 100`` and 3 times above. The full
      training set is fitted once (its subset is always the same).
    max_iter: lbfgs iteration limit of each probe (keyword-only).

  Returns:
    One dict per entry of `sizes`, in order: ``labels`` (the subset size,
    ``N_train`` for ``None``), ``repeats`` (draws), ``accuracy_mean`` and
    ``accuracy_std`` (mean and population standard deviation over the
    draws; 0.0 for one draw). The ``None`` row equals
    ``linear_probe_accuracy(train_features, train_labels, test_features,
    test_labels, seed=seed)``.

  Raises:
    ValueError: on empty or non-finite features, mismatched shapes, fewer
      than two classes, a bad size or repeat count (before any fit).
    TypeError: on non-integer labels.
  """
  fn = 'label_efficiency'
  x_train, y_train, x_test, y_test, max_iter = _probe_inputs(
      fn, train_features, train_labels, test_features, test_labels, max_iter
  )
  if repeats is not None:
    repeats = _check_positive_int(fn, 'repeats', repeats)
  n = len(y_train)
  classes, counts = np.unique(y_train, return_counts=True)
  c = len(classes)
  if c < 2:
    raise ValueError(
        f'{fn}: train_labels has a single class {classes.tolist()}; a probe '
        'needs examples of at least two classes'
    )
  if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
    raise ValueError(
        f'{fn}: sizes must be a sequence of ints or None, got {sizes!r}; '
        'e.g. sizes=(100, 1000, None)'
    )
  if not sizes:
    raise ValueError(f'{fn}: sizes is empty; pass at least one size')
  nums = []
  for size in sizes:
    if size is None:
      nums.append(n)
      continue
    num = _check_positive_int(fn, 'each entry of sizes', size)
    if num != n and not c <= num <= n - c:
      raise ValueError(
          f'{fn}: sizes entry {num} must be between the number of classes '
          f'({c}, one example each) and N_train - {c} = {n - c}, or None '
          f'(all {n} training examples)'
      )
    if num != n and counts.min() < 2:
      raise ValueError(
          f'{fn}: class {classes[counts.argmin()]} has a single training '
          f'example, so size {num} cannot be drawn with stratification; '
          'use sizes=(None,) or more training data'
      )
    nums.append(num)

  rows = []
  for num in nums:
    draws = 1 if num == n else (repeats or _default_repeats(num))
    accuracies = []
    for i in range(draws):
      if num == n:
        x_sub, y_sub = x_train, y_train
      else:
        idx = stratified_subset(y_train, num, seed=seed + i)
        x_sub, y_sub = x_train[idx], y_train[idx]
      accuracies.append(
          linear_probe_accuracy(
              x_sub, y_sub, x_test, y_test, max_iter=max_iter, seed=seed + i
          )
      )
    row = {'labels': num, 'repeats': draws}
    row['accuracy_mean'] = float(np.mean(accuracies))
    row['accuracy_std'] = float(np.std(accuracies))
    rows.append(row)
  return rows


# ---------------------------------------------------------------------------
# Low-dimensional embeddings (visualisations).
# ---------------------------------------------------------------------------


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
  xy = _as_real_array(fn, 'embedding', embedding, min_ndim=2)
  if xy.ndim != 2:
    raise ValueError(
        f'{fn}: embedding must be [N, D] points, got shape {xy.shape}; '
        'flatten or project it first'
    )
  y = _as_labels(fn, 'labels', labels, len(xy))
  k = _check_positive_int(fn, 'k', k)
  folds = _check_positive_int(fn, 'folds', folds)
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


# ---------------------------------------------------------------------------
# Reconstruction quality.
# ---------------------------------------------------------------------------


def psnr(
    clean: np.typing.ArrayLike,
    other: np.typing.ArrayLike,
    *,
    max_value: float = 1.0,
) -> np.ndarray:
  """Peak signal-to-noise ratio of each image, in dB.

  ``10 * log10(max_value**2 / mse)`` with ``mse`` the mean squared error over
  all pixels (and channels) of one image. Higher is better; the usual
  measure for denoising autoencoders (e.g. Vincent et al., 2010, on noisy vs.
  cleaned images).

  Args:
    clean: reference images ``[N, ...]``, values in ``[0, max_value]``
      (checked: a 0-255 image scored with ``max_value=1`` is a common bug).
    other: reconstructions or noisy images with the same shape; values are
      not range-checked (a Gaussian decoder may overshoot slightly).
    max_value: the largest possible pixel value (keyword-only), 1.0 for
      images in ``[0, 1]``, 255 for 8-bit images.

  Returns:
    float64 array ``[N]``. An image identical to its reference has zero
    error and a PSNR of ``+inf``; average PSNRs over images that are not all
    identical, or report the median.

  Raises:
    ValueError: on empty or non-finite inputs, mismatched shapes, a
      non-positive `max_value` or `clean` values outside ``[0, max_value]``.
  """
  fn = 'psnr'
  clean = _as_real_array(fn, 'clean', clean, min_ndim=2)
  other = _as_real_array(fn, 'other', other, min_ndim=2)
  if clean.shape != other.shape:
    raise ValueError(
        f'{fn}: clean shape {clean.shape} != other shape {other.shape}; '
        'pass one reconstruction per clean image, in the same layout'
    )
  if not (isinstance(max_value, numbers.Real) and max_value > 0):
    raise ValueError(f'{fn}: max_value must be > 0, got {max_value!r}')
  lo, hi = float(clean.min()), float(clean.max())
  if lo < 0 or hi > max_value:
    raise ValueError(
        f'{fn}: clean values span [{lo:g}, {hi:g}], outside [0, max_value='
        f'{max_value:g}]; rescale the images or set max_value (e.g. 255)'
    )
  diff = clean.astype(np.float64) - other.astype(np.float64)
  mse = np.mean(np.square(diff).reshape(len(diff), -1), axis=1)
  with np.errstate(divide='ignore'):  # mse == 0 -> +inf, documented.
    return 10.0 * np.log10(float(max_value) ** 2 / mse)


# The SSIM window of Wang et al. (2004): 11x11 Gaussian, sigma 1.5.
SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5


def _as_image_shape(fn_name: str, image_shape) -> tuple[int, int, int]:
  """(H, W) or (H, W, C) of positive ints -> (H, W, C)."""
  try:
    dims = tuple(image_shape)
  except TypeError:
    dims = None
  if (
      dims is None
      or len(dims) not in (2, 3)
      or not all(
          isinstance(d, numbers.Integral)
          and not isinstance(d, (bool, np.bool_))
          and d >= 1
          for d in dims
      )
  ):
    raise ValueError(
        f'{fn_name}: image_shape must be (H, W) or (H, W, C) of positive '
        f'ints, got {image_shape!r}; for a dataset use '
        'ae_jax.figures.image_shape(dataset.input_shape)'
    )
  dims = tuple(int(d) for d in dims)
  return dims if len(dims) == 3 else (*dims, 1)


def ssim(
    clean: np.typing.ArrayLike,
    other: np.typing.ArrayLike,
    *,
    image_shape: Sequence[int],
    max_value: float = 1.0,
    filter_size: int | None = None,
    batch_size: int = 1000,
) -> np.ndarray:
  """Structural similarity (SSIM, Wang et al., 2004) of each image.

  `dm_pix.ssim` with the standard constants (``k1=0.01``, ``k2=0.03``) and a
  Gaussian window of standard deviation 1.5 pixels, applied without padding
  (only windows that lie inside the image; as separable banded matrices,
  which give dm_pix's own filter 20x faster); the per-image SSIM is the mean
  of the SSIM map over window positions (and channels, each channel
  filtered separately). 1 means identical; higher is better. It compares
  local means, contrasts and correlations, so it rewards sharp, structured
  reconstructions that the per-pixel error of :func:`psnr` does not.

  The window is 11x11 (Wang et al.) when the images are at least 11 pixels
  high and wide (e.g. 28x28 MNIST). Smaller images (8x8 digits) get the
  largest odd window that fits, ``7x7`` for 8x8, with the same sigma (the
  Gaussian truncated and renormalised): `dm_pix.ssim` does not refuse a
  window larger than the image but silently computes a wrong value (its
  ``jnp.convolve(..., mode='valid')`` then returns the overlap with only
  part of the window, whose weights no longer sum to one: two constant 8x8
  images of values 0.3 and 0.6 score 0.648 instead of 0.800).

  Args:
    clean: reference images in ``[0, max_value]``, flat ``[N, H*W*C]`` or
      ``[N, H, W]`` / ``[N, H, W, C]`` (checked as in :func:`psnr`).
    other: reconstructions or noisy images with the same shape; values are
      not range-checked.
    image_shape: ``(H, W)`` or ``(H, W, C)`` of one image (keyword-only),
      e.g. ``ae_jax.figures.image_shape(dataset.input_shape)``; its product
      must be the number of values per example.
    max_value: the largest possible pixel value (keyword-only); sets the
      SSIM constants ``(0.01 * max_value) ** 2`` and ``(0.03 * max_value) **
      2``.
    filter_size: window side in pixels (keyword-only); ``None`` for
      ``min(11, H, W)`` rounded down to an odd number. At most ``min(H, W)``.
    batch_size: images per jitted call (keyword-only).

  Returns:
    float64 array ``[N]`` of values in ``[-1, 1]`` (computed in float32).

  Raises:
    ValueError: on empty or non-finite inputs, mismatched shapes, a bad
      `image_shape`, `max_value`, `filter_size` or `batch_size`, or `clean`
      values outside ``[0, max_value]``.

  References:
    Wang, Bovik, Sheikh & Simoncelli, `Image quality assessment: from error
    visibility to structural similarity
    <https://doi.org/10.1109/TIP.2003.819861>`_, IEEE TIP 13(4), 2004.
  """
  fn = 'ssim'
  clean = _as_real_array(fn, 'clean', clean, min_ndim=2)
  other = _as_real_array(fn, 'other', other, min_ndim=2)
  if clean.shape != other.shape:
    raise ValueError(
        f'{fn}: clean shape {clean.shape} != other shape {other.shape}; '
        'pass one reconstruction per clean image, in the same layout'
    )
  h, w, c = _as_image_shape(fn, image_shape)
  example = clean.shape[1:]
  if int(np.prod(example)) != h * w * c or (
      len(example) > 1 and example not in ((h, w), (h, w, c))
  ):
    raise ValueError(
        f'{fn}: examples of shape {example} are not images of shape '
        f'{(h, w, c)} (image_shape={tuple(image_shape)!r}); pass the '
        'image_shape of the data, flat [N, H*W*C] or [N, H, W(, C)] images'
    )
  if not (isinstance(max_value, numbers.Real) and max_value > 0):
    raise ValueError(f'{fn}: max_value must be > 0, got {max_value!r}')
  batch_size = _check_positive_int(fn, 'batch_size', batch_size)
  if filter_size is None:
    filter_size = min(SSIM_FILTER_SIZE, h, w)
    filter_size -= 1 - filter_size % 2  # Odd: a window centred on a pixel.
  else:
    filter_size = _check_positive_int(fn, 'filter_size', filter_size)
    if filter_size > min(h, w):
      raise ValueError(
          f'{fn}: filter_size={filter_size} is larger than the {h}x{w} '
          'images (dm_pix would silently return a wrong value); use '
          f'filter_size <= {min(h, w)} or filter_size=None'
      )
  lo, hi = float(clean.min()), float(clean.max())
  if lo < 0 or hi > max_value:
    raise ValueError(
        f'{fn}: clean values span [{lo:g}, {hi:g}], outside [0, max_value='
        f'{max_value:g}]; rescale the images or set max_value (e.g. 255)'
    )
  n = len(clean)
  pairs = np.stack(
      [clean.reshape(n, h, w, c), other.reshape(n, h, w, c)], axis=1
  ).astype(np.float32)
  per_image = lambda p: _ssim_of_pairs(
      p, max_value=float(max_value), filter_size=filter_size
  )
  values = apply_in_batches(per_image, pairs, batch_size=batch_size)
  return values.astype(np.float64)


def _gaussian_band(n: int, size: int) -> np.ndarray:
  """``[n, n - size + 1]``: column ``j`` holds the normalised Gaussian window
  at rows ``j .. j + size - 1``, so ``x @ band`` filters an axis of length
  ``n`` without padding (the window of `dm_pix.ssim`, centred offsets)."""
  offsets = np.arange(size) - (size - 1) / 2
  window = np.exp(-0.5 * np.square(offsets / SSIM_FILTER_SIGMA))
  band = np.zeros((n, n - size + 1), np.float32)
  for j in range(n - size + 1):
    band[j : j + size, j] = window / window.sum()
  return band


@functools.partial(jax.jit, static_argnames=('max_value', 'filter_size'))
def _ssim_of_pairs(pairs, *, max_value, filter_size):
  """``[B, 2, H, W, C]`` (clean, other) pairs -> ``[B]`` SSIM; compiled once
  per shape, `max_value` and `filter_size`."""
  along_h = _gaussian_band(pairs.shape[2], filter_size)
  along_w = _gaussian_band(pairs.shape[3], filter_size)
  highest = jax.lax.Precision.HIGHEST

  def blur(z):  # [B, H, W, C] -> [B, H', W', C], separable and unpadded.
    z = jax.numpy.einsum('bhwc,wv->bhvc', z, along_w, precision=highest)
    return jax.numpy.einsum('bhvc,hu->buvc', z, along_h, precision=highest)

  # dm_pix's own filter (jnp.convolve under vmap) computes the same numbers
  # about 20x slower on a CPU.
  return dm_pix.ssim(
      pairs[:, 0], pairs[:, 1], max_val=max_value, filter_fn=blur
  )


# ---------------------------------------------------------------------------
# Code statistics of regularised autoencoders.
# ---------------------------------------------------------------------------


def fraction_near_zero(
    codes: np.typing.ArrayLike, *, threshold: float = 1e-2
) -> float:
  """Fraction of code entries with ``|z| < threshold``: sparsity of codes.

  The check for sparse autoencoders (an L1 penalty on the code, or a
  k-sparse / ReLU code): a dense code gives a fraction near 0.

  Args:
    codes: real array ``[N, ...]`` of codes.
    threshold: positive cut-off (keyword-only); entries strictly below it in
      absolute value count as zero.

  Returns:
    A Python float in ``[0, 1]``, over all examples and units.

  Raises:
    ValueError: on empty or non-finite codes or a non-positive threshold.
  """
  fn = 'fraction_near_zero'
  codes = _as_real_array(fn, 'codes', codes, min_ndim=2)
  if not (isinstance(threshold, numbers.Real) and threshold > 0):
    raise ValueError(
        f'{fn}: threshold must be > 0, got {threshold!r}; with 0 nothing '
        'counts as zero'
    )
  return float(np.mean(np.abs(codes) < threshold))


def mean_unit_activation(codes: np.typing.ArrayLike) -> np.ndarray:
  """Mean activation of each hidden unit over the examples.

  For the KL-sparse autoencoder (Ng, 2011, "Sparse autoencoder", CS294A
  lecture notes), whose penalty ``KL(rho || rho_hat_j)`` drives each unit's
  mean sigmoid activation ``rho_hat_j`` to the target sparsity ``rho``: after
  training these values should sit near ``rho``.

  Args:
    codes: real array ``[N, ...]`` of hidden activations.

  Returns:
    float64 array of shape ``codes.shape[1:]`` (``[units]`` for ``[N,
    units]`` codes).

  Raises:
    ValueError: on empty or non-finite codes, or codes without an example
      axis.
  """
  codes = _as_real_array('mean_unit_activation', 'codes', codes, min_ndim=2)
  return np.mean(codes, axis=0, dtype=np.float64)


def gaussian_total_correlation(codes: np.typing.ArrayLike) -> float:
  """Total correlation of a Gaussian fitted to the codes, in nats.

  ``TC = KL(q(z) || prod_j q(z_j))``, for a Gaussian with covariance ``S``:
  ``0.5 * (sum_j log S_jj - log det S)``; zero iff the units are
  uncorrelated. The quantity FactorVAE (Kim & Mnih, 2018) penalises, measured
  in closed form on sampled codes (its training objective uses a density-ratio
  discriminator instead).

  Args:
    codes: real array ``[N, D]`` with ``N > D`` (a full-rank covariance).

  Returns:
    A Python float >= 0.

  Raises:
    ValueError: on non-finite codes, ``N <= D`` or a singular covariance
      (a constant unit).
  """
  fn = 'gaussian_total_correlation'
  z = _as_matrix(fn, 'codes', codes).astype(np.float64)
  n, d = z.shape
  if n <= d:
    raise ValueError(
        f'{fn}: needs more examples than units, got {n} examples of {d} '
        'units; pass more codes'
    )
  cov = np.atleast_2d(np.cov(z.T))
  sign, logdet = np.linalg.slogdet(cov)
  if sign <= 0 or np.any(np.diag(cov) <= 0):
    raise ValueError(
        f'{fn}: the covariance of the codes is singular (a constant or '
        'duplicated unit); drop such units first'
    )
  return max(float(0.5 * (np.sum(np.log(np.diag(cov))) - logdet)), 0.0)


# ---------------------------------------------------------------------------
# Encoder Jacobian (contractive autoencoder).
# ---------------------------------------------------------------------------


def apply_in_batches(
    fn: Callable[[jax.Array], jax.Array],
    x: np.typing.ArrayLike,
    *,
    batch_size: int,
) -> np.ndarray:
  """``fn`` over the rows of `x` in fixed-size batches -> NumPy, in order.

  Every call sees ``min(batch_size, len(x))`` rows: the last batch is padded
  by repeating the last example (finite wherever the real rows are, unlike
  zeros for a function with a log inside), so a jitted `fn` compiles once.
  Padding rows are dropped from the result. For a single host with no mesh
  and a plain ``fn(x)``; for ``fn(params, x)`` sharded over a mesh use
  `ae_jax.train.outputs.predict`.

  Args:
    fn: maps ``[B, ...]`` to an array ``[B, ...]`` with one row per input
      row; pass it jitted for speed.
    x: array ``[N, ...]``, N >= 1.
    batch_size: rows per call (keyword-only).

  Returns:
    ``np.concatenate`` of the outputs, exactly ``N`` rows.

  Raises:
    ValueError: on an empty `x`, a bad `batch_size`, or an `fn` that does not
      return one row per input row.
  """
  fn_name = 'apply_in_batches'
  batch_size = _check_positive_int(fn_name, 'batch_size', batch_size)
  x = np.asarray(x)
  if x.ndim < 1 or len(x) == 0:
    raise ValueError(
        f'{fn_name}: x must have at least one row, got shape {x.shape}'
    )
  batch = min(batch_size, len(x))
  out = []
  for start in range(0, len(x), batch):
    chunk = x[start : start + batch]
    real = len(chunk)
    if real < batch:
      pad = np.repeat(chunk[-1:], batch - real, axis=0)
      chunk = np.concatenate([chunk, pad])
    y = np.asarray(fn(chunk))
    if y.ndim < 1 or y.shape[0] != batch:
      raise ValueError(
          f'{fn_name}: fn returned shape {y.shape} for a batch of {batch} '
          'rows; it must return one output row per input row'
      )
    out.append(y[:real])
  return np.concatenate(out)


def mean_encoder_jacobian_norm(
    encode_fn: Callable[[jax.Array], jax.Array],
    images: np.typing.ArrayLike,
    *,
    batch_size: int = 256,
) -> float:
  """Mean over images of ``||d encode(x) / dx||_F``, the encoder's contraction.

  The contractive autoencoder (Rifai et al., 2011) penalises the squared
  Frobenius norm of this Jacobian; reporting its (unsquared) mean on test
  images shows how much a model contracts the input space around the data:
  compare a CAE with a plain AE of the same architecture. Exact per-example
  Jacobians from `ae_jax.penalties.jacobian_frobenius_norm`, in jitted
  batches of `batch_size` (one backward pass per code unit, each over the
  whole batch, vmapped: a call holds ``batch_size * min(D_in, K)`` rows of
  activations; the `jacobian` task sizes it to one evaluation batch).

  Args:
    encode_fn: maps a ``[B, ...]`` float32 jax array to codes ``[B, K]``,
      each example's code depending on that example only (no batch norm in
      training mode), e.g. ``functools.partial(model.encode, params)``.
    images: real array ``[N, ...]``, N >= 1.
    batch_size: examples per jitted call (keyword-only).

  Returns:
    The mean of the N per-example Frobenius norms (not squared), a Python
    float.

  Raises:
    ValueError: on empty or non-finite images or a bad `batch_size`.

  References:
    Rifai et al., `Contractive Auto-Encoders: Explicit Invariance During
    Feature Extraction <https://icml.cc/2011/papers/455_icmlpaper.pdf>`_,
    ICML 2011.
  """
  fn = 'mean_encoder_jacobian_norm'
  images = _as_real_array(fn, 'images', images, min_ndim=2)
  batch_size = _check_positive_int(fn, 'batch_size', batch_size)
  # The penalty is the squared norm; the square root is taken per example.
  squared = jax.jit(lambda x: penalties.jacobian_frobenius_norm(encode_fn, x))
  sq_norms = apply_in_batches(
      squared, images.astype(np.float32), batch_size=batch_size
  )
  return float(np.mean(np.sqrt(np.asarray(sq_norms, np.float64))))
