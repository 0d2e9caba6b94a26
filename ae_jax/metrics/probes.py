"""Representation quality: a linear probe (logistic regression on
standardised codes), stratified label subsets and label-efficiency curves.

Conventions as in `ae_jax.metrics`.
"""

from collections.abc import Sequence
import inspect

import numpy as np
from sklearn import linear_model
from sklearn import model_selection
from sklearn import pipeline
from sklearn import preprocessing

from ae_jax.metrics import checks

__all__ = [
    'label_efficiency',
    'label_subsets',
    'linear_probe_accuracy',
    'stratified_subset',
]

# The grid of L2 penalties C that `cv_folds` chooses from: 1e-4 ... 100 in
# half-decades (13 values), scikit-learn's `LogisticRegressionCV` ``Cs``.
PENALTIES = tuple(float(c) for c in np.logspace(-4, 2, 13))


def check_cv_folds(fn: str, cv_folds) -> int:
  """``cv_folds`` as an int: 0 (C = 1) or at least 2 folds."""
  if (
      isinstance(cv_folds, (bool, np.bool_))
      or not isinstance(cv_folds, (int, np.integer))
      or cv_folds < 0
      or cv_folds == 1
  ):
    raise ValueError(
        f'{fn}: cv_folds={cv_folds!r} must be 0 (the L2 penalty C = 1 for '
        'every fit) or an integer >= 2 (C chosen by that many folds of '
        'cross-validation on the training labels), e.g. 5'
    )
  return int(cv_folds)


def _check_folds_fit(fn: str, cv_folds: int, y: np.ndarray, what: str):
  """Refuses folds that a class of ``y`` has too few examples for."""
  classes, counts = np.unique(y, return_counts=True)
  if cv_folds and counts.min() < cv_folds:
    raise ValueError(
        f'{fn}: cv_folds={cv_folds} needs at least {cv_folds} examples of '
        f'every class in {what}, but class {classes[counts.argmin()]} has '
        f'{counts.min()}; use fewer folds, more labels, or cv_folds=0 (C = 1)'
    )


def _classifier(cv_folds: int, max_iter: int, seed: int):
  if not cv_folds:
    return linear_model.LogisticRegression(max_iter=max_iter, random_state=seed)
  # scikit-learn >= 1.9 warns unless these are set; older ones lack them.
  newer = (
      'use_legacy_attributes'
      in inspect.signature(linear_model.LogisticRegressionCV).parameters
  )
  return linear_model.LogisticRegressionCV(
      **(dict(l1_ratios=(0.0,), use_legacy_attributes=False) if newer else {}),
      Cs=list(PENALTIES),
      cv=model_selection.StratifiedKFold(
          cv_folds, shuffle=True, random_state=seed
      ),
      # The held-out log-loss, not accuracy: with a few labels per fold
      # accuracy ties across much of the grid, and ties go to the smallest C.
      scoring='neg_log_loss',
      max_iter=max_iter,
      random_state=seed,
  )


def _probe_inputs(
    fn, train_features, train_labels, test_features, test_labels, max_iter
):
  """Checked ``(x_train, y_train, x_test, y_test, max_iter)`` of a probe."""
  x_train = checks.matrix(fn, 'train_features', train_features)
  x_test = checks.matrix(fn, 'test_features', test_features)
  checks.same_example_shape(
      fn,
      'train_features',
      np.asarray(train_features),
      'test_features',
      np.asarray(test_features),
  )
  y_train = checks.labels(fn, 'train_labels', train_labels, len(x_train))
  y_test = checks.labels(fn, 'test_labels', test_labels, len(x_test))
  max_iter = checks.positive_int(fn, 'max_iter', max_iter)
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
    cv_folds: int = 0,
) -> float:
  """Test accuracy of logistic regression on standardised features.

  A `sklearn.pipeline.Pipeline` of `StandardScaler` (fitted on the training
  features) and multinomial `LogisticRegression` (L2, ``C=1``, lbfgs): how
  linearly the codes separate the classes. Standardising first makes the
  result independent of the code scale, which differs wildly between models
  (e.g. sparse vs. VAE codes). With ``cv_folds`` the penalty C is chosen
  from `PENALTIES` by stratified cross-validation on the training labels
  alone (`LogisticRegressionCV`), then refitted on all of them: what a
  practitioner with few labels and no validation set does.

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
      the number of classes and ``N_train - num_classes``, or ``N_train``
      (every example).
    cv_folds: 0 for C = 1 (keyword-only), or the folds (>= 2) of the
      cross-validation that chooses C; every class needs that many training
      examples.

  Returns:
    Fraction of test examples classified correctly, a Python float.

  Raises:
    ValueError: on empty or non-finite features, mismatched shapes, fewer
      than two classes, or an impossible `num_train`.
    TypeError: on non-integer labels.
  """
  return _linear_probe(
      train_features,
      train_labels,
      test_features,
      test_labels,
      num_train=num_train,
      seed=seed,
      max_iter=max_iter,
      cv_folds=cv_folds,
  )[0]


def _linear_probe(
    train_features,
    train_labels,
    test_features,
    test_labels,
    *,
    num_train,
    seed,
    max_iter,
    cv_folds,
) -> tuple[float, float]:
  """:func:`linear_probe_accuracy` and the L2 penalty C its fit used (the
  one cross-validation chose, or 1.0)."""
  fn = 'linear_probe_accuracy'
  x_train, y_train, x_test, y_test, max_iter = _probe_inputs(
      fn, train_features, train_labels, test_features, test_labels, max_iter
  )
  cv_folds = check_cv_folds(fn, cv_folds)
  classes = np.unique(y_train)
  if len(classes) < 2:
    raise ValueError(
        f'{fn}: train_labels has a single class {classes.tolist()}; a probe '
        'needs examples of at least two classes'
    )

  if num_train is not None:
    num_train = checks.positive_int(fn, 'num_train', num_train)
    n, c = len(x_train), len(classes)
    # As `stratified_subset`: the examples left out must hold every class
    # too (scikit-learn's split requires it).
    if num_train != n and not c <= num_train <= n - c:
      raise ValueError(
          f'{fn}: num_train={num_train} must be between the number of '
          f'classes ({c}, one example each) and N_train - {c} = {n - c} (the '
          'examples left out must hold every class too), or equal N_train = '
          f'{n}; pass num_train=None to use them all'
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

  _check_folds_fit(fn, cv_folds, y_train, 'the training labels')
  probe = pipeline.make_pipeline(
      preprocessing.StandardScaler(),
      _classifier(cv_folds, max_iter, seed),
  )
  probe.fit(x_train, y_train)
  # Accuracy, whatever the CV scoring (`LogisticRegressionCV.score` uses it).
  accuracy = float(np.mean(probe.predict(x_test) == y_test))
  # `C_` holds one value per class, all the same for a multinomial fit.
  penalty = np.ravel(probe[-1].C_)[0] if cv_folds else probe[-1].C
  return accuracy, float(penalty)


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
  y = checks.labels(fn, 'labels', y, len(y))
  num = checks.positive_int(fn, 'num', num)
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


def label_subsets(
    labels: np.typing.ArrayLike,
    *,
    sizes: Sequence[int | None] = (100, 1000, None),
    seed: int = 0,
    repeats: int | None = None,
    cv_folds: int = 0,
    fn: str = 'label_subsets',
) -> list[tuple[int, list[np.ndarray | None]]]:
  """The label subsets of :func:`label_efficiency`, drawn and checked.

  Cheap (no fit): a caller checks its settings with it before expensive
  work. ``fn`` names the caller in error messages.

  Returns:
    ``(n, draws)`` per entry of `sizes`: ``draws`` holds the
    :func:`stratified_subset` indices of seeds ``seed, seed + 1, ...``, or
    ``[None]`` (one fit on every label) for ``n = N``.

  Raises:
    ValueError: on a single class, a bad size or repeat count, or
      ``cv_folds`` that a subset has too few labels of some class for.
    TypeError: on non-integer labels.
  """
  labels = checks.labels(fn, 'labels', labels, len(np.asarray(labels)))
  cv_folds = check_cv_folds(fn, cv_folds)
  if repeats is not None:
    repeats = checks.positive_int(fn, 'repeats', repeats)
  n = len(labels)
  classes, counts = np.unique(labels, return_counts=True)
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
    num = checks.positive_int(fn, 'each entry of sizes', size)
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

  # Every subset is drawn (cheap) and checked before the first fit.
  subsets = []
  for num in nums:
    if num == n:
      subsets.append((num, [None]))
      continue
    draws = repeats or _default_repeats(num)
    indices = [
        stratified_subset(labels, num, seed=seed + i) for i in range(draws)
    ]
    for idx in indices:
      _check_folds_fit(fn, cv_folds, labels[idx], f'a subset of {num} labels')
    subsets.append((num, indices))
  return subsets


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
    cv_folds: int = 0,
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
    cv_folds: on the label subsets, C chosen by this many folds of
      cross-validation on the subset's labels (keyword-only; 0: C = 1, see
      :func:`linear_probe_accuracy`). The fit with every training label
      keeps C = 1: with all of them the penalty matters least, and choosing
      it would cost ``cv_folds x 13`` full fits.

  Returns:
    One dict per entry of `sizes`, in order: ``labels`` (the subset size,
    ``N_train`` for ``None``), ``repeats`` (draws), ``accuracy_mean`` and
    ``accuracy_std`` (mean and population standard deviation over the
    draws; 0.0 for one draw) and ``accuracies`` (each draw's, in seed
    order: the same draws for every feature set given the same labels and
    `seed`, so two feature sets compare draw by draw) and ``penalties``
    (each draw's L2 penalty C: the one ``cv_folds`` chose, else 1.0). The
    ``None`` row equals ``linear_probe_accuracy(train_features,
    train_labels, test_features, test_labels, seed=seed)``.

  Raises:
    ValueError: on empty or non-finite features, mismatched shapes, fewer
      than two classes, a bad size, repeat count or ``cv_folds`` (before
      any fit).
    TypeError: on non-integer labels.
  """
  fn = 'label_efficiency'
  x_train, y_train, x_test, y_test, max_iter = _probe_inputs(
      fn, train_features, train_labels, test_features, test_labels, max_iter
  )
  subsets = label_subsets(
      y_train, sizes=sizes, seed=seed, repeats=repeats, cv_folds=cv_folds, fn=fn
  )
  rows = []
  for num, indices in subsets:
    draws = len(indices)
    accuracies, penalties = [], []
    for i, idx in enumerate(indices):
      x_sub, y_sub = (
          (x_train, y_train) if idx is None else (x_train[idx], y_train[idx])
      )
      accuracy, penalty = _linear_probe(
          x_sub,
          y_sub,
          x_test,
          y_test,
          num_train=None,
          max_iter=max_iter,
          seed=seed + i,
          cv_folds=0 if idx is None else cv_folds,
      )
      accuracies.append(accuracy)
      penalties.append(penalty)
    row = {'labels': num, 'repeats': draws}
    row['accuracy_mean'] = float(np.mean(accuracies))
    row['accuracy_std'] = float(np.std(accuracies))
    row['accuracies'] = accuracies
    row['penalties'] = penalties
    rows.append(row)
  return rows
