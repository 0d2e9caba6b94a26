"""Disentanglement metrics: how codes line up with known generative factors.

Two kinds of function, following disentanglement_lib
(``evaluation/metrics/*.py``, whose defaults are this module's, from its
``unsupervised_study_v1`` gin files):

* pure functions of codes ``[N, num_codes]`` and integer factor levels
  ``[N, num_factors]`` (rows are examples; disentanglement_lib passes the
  transposes): `mutual_information_matrix`, `mig`, `dci`, `sap`,
  `modularity`, `explicitness`;
* samplers that draw their own pairs or groups of observations from a
  ground-truth set (`ae_jax.data.ground_truth.GroundTruthData` or anything
  with its ``sample_factors`` / ``sample_observations_from_factors``):
  `beta_vae_score`, `factor_vae_score`, and `sample_codes` for the pure
  ones. They make the same draws from the same ``np.random.RandomState``
  in the same order as disentanglement_lib, and only batch the
  representation calls (many groups per call), so with the same inputs and
  seed they return the same numbers (``tests/test_disentanglement_metrics``
  holds values printed by disentanglement_lib's own code).

Deviations, all named: inputs on which disentanglement_lib crashes or
returns a misaligned number are refused with a message (a factor with one
level, fewer than 2 code units where units are compared, a factor level
missing from one of explicitness's splits); a constant unit is standardised
to 0 in explicitness (theirs gives NaN); `dci`'s trees are seeded (disentanglement_lib's are
not, so its DCI moves between runs by about 0.003 on the test inputs);
`factor_vae_score` reports the number of active code
units (disentanglement_lib reports the number of units, active or not);
`dci`'s informativeness is the test accuracy of its boosted trees, as
disentanglement_lib computes it (Eastwood & Williams define it as an error).
Results depend on the scikit-learn version, as disentanglement_lib's do
(its logistic regressions now default to lbfgs).
"""

from __future__ import annotations

from collections.abc import Callable
import warnings

import numpy as np

from ae_jax.metrics import checks

__all__ = [
    'beta_vae_score',
    'dci',
    'dci_from_importance',
    'explicitness',
    'factor_entropy',
    'factor_vae_score',
    'histogram_discretize',
    'mig',
    'modularity',
    'mutual_information_gaps',
    'mutual_information_matrix',
    'sample_codes',
    'sap',
]

# disentanglement_lib's unsupervised_study_v1 settings.
NUM_BINS = 20
NUM_TRAIN = 10000
NUM_TEST = 5000
GROUP_SIZE = 64  # beta_vae / factor_vae batch_size.
NUM_VARIANCE_ESTIMATE = 10000
PRUNE_THRESHOLD = 0.05
SAMPLE_BATCH = 16  # generate_batch_factor_code's batch_size.
# Images encoded per representation call by the samplers (memory bound).
_ENCODE_ROWS = 8192


def _codes_and_factors(
    fn: str, codes, factors, *, min_codes: int = 2
) -> tuple[np.ndarray, np.ndarray]:
  """Checked codes (float64) and factors; every metric but explicitness
  compares units, so needs ``min_codes`` = 2, and every factor must take at
  least two levels (its entropy, or its classifier, is undefined otherwise)."""
  codes = checks.matrix(fn, 'codes', codes).astype(np.float64)
  factors = np.asarray(factors)
  if factors.ndim != 2 or len(codes) != len(factors):
    raise ValueError(
        f'{fn}: codes must be [N, num_codes] and factors [N, num_factors] with '
        f'the same N, got {codes.shape} and {factors.shape}.'
    )
  if factors.dtype.kind not in 'iu':
    raise TypeError(
        f'{fn}: factors must be integer levels, got {factors.dtype}; use '
        'factors.astype(np.int64).'
    )
  if len(codes) < 2:
    raise ValueError(f'{fn}: needs at least 2 points, got {len(codes)}.')
  if codes.shape[1] < min_codes:
    raise ValueError(
        f'{fn}: needs at least {min_codes} code units (it compares units), '
        f'got {codes.shape[1]}.'
    )
  for k in range(factors.shape[1]):
    if np.all(factors[:, k] == factors[0, k]):
      raise ValueError(
          f'{fn}: factor {k} takes one level ({factors[0, k]}) in these '
          f'{len(factors)} points; draw more points or drop the factor.'
      )
  return codes, factors


def _train_and_test(
    fn: str,
    train_codes,
    train_factors,
    test_codes,
    test_factors,
    *,
    min_codes: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """`_codes_and_factors` of both splits, which must have the same code
  units and the same factors (an extra test factor was ignored, a missing
  one an IndexError deep in the metric)."""
  x, y = _codes_and_factors(fn, train_codes, train_factors, min_codes=min_codes)
  xt, yt = _codes_and_factors(fn, test_codes, test_factors, min_codes=min_codes)
  for what, a, b in (('codes', x, xt), ('factors', y, yt)):
    if a.shape[1] != b.shape[1]:
      raise ValueError(
          f'{fn}: test_{what} has {b.shape[1]} columns, train_{what} '
          f'{a.shape[1]}; pass the same {what} for both splits.'
      )
  return x, y, xt, yt


def histogram_discretize(codes, *, num_bins: int = NUM_BINS) -> np.ndarray:
  """Each code unit binned into ``num_bins`` equal-width bins over its range
  (disentanglement_lib's ``_histogram_discretize``), int ``[N, num_codes]``."""
  codes = np.asarray(codes, np.float64)
  out = np.zeros(codes.shape, np.int64)
  for j in range(codes.shape[1]):
    edges = np.histogram(codes[:, j], num_bins)[1][:-1]
    out[:, j] = np.digitize(codes[:, j], edges)
  return out


def mutual_information_matrix(codes, factors, *, num_bins: int = NUM_BINS):
  """Discrete mutual information (nats) of each binned code unit with each
  factor, ``[num_codes, num_factors]``."""
  from sklearn import metrics  # pylint: disable=g-import-not-at-top

  codes, factors = _codes_and_factors(
      'mutual_information_matrix', codes, factors
  )
  binned = histogram_discretize(codes, num_bins=num_bins)
  return np.array(
      [
          [
              metrics.mutual_info_score(factors[:, k], binned[:, j])
              for k in range(factors.shape[1])
          ]
          for j in range(codes.shape[1])
      ]
  )


def factor_entropy(factors) -> np.ndarray:
  """Entropy (nats) of each factor's empirical distribution, ``[num_factors]``."""
  from sklearn import metrics  # pylint: disable=g-import-not-at-top

  factors = np.asarray(factors)
  return np.array(
      [
          metrics.mutual_info_score(factors[:, k], factors[:, k])
          for k in range(factors.shape[1])
      ]
  )


def mig(codes, factors, *, num_bins: int = NUM_BINS) -> float:
  """Mutual information gap (Chen et al. 2018): for each factor, the gap
  between the two code units most informative about it, over the factor's
  entropy; averaged over factors. 1 = each factor in exactly one unit."""
  codes, factors = _codes_and_factors('mig', codes, factors)
  mi = mutual_information_matrix(codes, factors, num_bins=num_bins)
  return float(np.mean(mutual_information_gaps(mi, factor_entropy(factors))))


def mutual_information_gaps(mutual_information, entropy) -> np.ndarray:
  """Per factor, the MI gap between its two most informative units over
  its entropy, ``[num_factors]`` (MIG is their mean)."""
  top = np.sort(np.asarray(mutual_information), axis=0)[::-1]
  return (top[0] - top[1]) / np.asarray(entropy)


def _entropy(p: np.ndarray, axis: int, base: int) -> np.ndarray:
  """scipy.stats.entropy(p, base=base) along ``axis`` (p normalised there)."""
  p = p / p.sum(axis=axis, keepdims=True)
  logs = np.log(p, where=p > 0, out=np.zeros_like(p))
  return -np.sum(p * logs, axis=axis) / np.log(base)


def dci_from_importance(importance) -> dict[str, float]:
  """Disentanglement and completeness (Eastwood & Williams 2018) of an
  importance matrix ``[num_codes, num_factors]``."""
  r = np.asarray(importance, np.float64)
  if (
      r.ndim != 2
      or min(r.shape) < 2
      or not np.all(np.isfinite(r))
      or r.min() < 0
  ):
    raise ValueError(
        'dci_from_importance: importance must be a finite, non-negative '
        f'[num_codes >= 2, num_factors >= 2] matrix, got shape {r.shape}.'
    )
  num_codes, num_factors = r.shape
  weights = r if r.sum() != 0 else np.ones_like(r)
  per_code = 1.0 - _entropy(r + 1e-11, axis=1, base=num_factors)
  per_factor = 1.0 - _entropy(r + 1e-11, axis=0, base=num_codes)
  code_weight = weights.sum(axis=1) / weights.sum()
  factor_weight = weights.sum(axis=0) / weights.sum()
  return {
      'dci_disentanglement': float(np.sum(per_code * code_weight)),
      'dci_completeness': float(np.sum(per_factor * factor_weight)),
  }


def dci(
    train_codes, train_factors, test_codes, test_factors, *, seed: int = 0
) -> dict:
  """DCI (Eastwood & Williams 2018) with gradient-boosted trees.

  One ``GradientBoostingClassifier`` (scikit-learn defaults, seeded with
  ``seed``: disentanglement_lib's are unseeded) per factor on the training
  codes; its feature importances form the importance matrix.
  Returns ``dci_disentanglement``, ``dci_completeness``,
  ``dci_informativeness`` (mean test accuracy over factors),
  ``dci_informativeness_train`` and ``importance`` ``[num_codes,
  num_factors]``.
  """
  from sklearn import ensemble  # pylint: disable=g-import-not-at-top

  x, y, xt, yt = _train_and_test(
      'dci', train_codes, train_factors, test_codes, test_factors
  )
  importance = np.zeros((x.shape[1], y.shape[1]))
  train_acc, test_acc = [], []
  for k in range(y.shape[1]):
    model = ensemble.GradientBoostingClassifier(random_state=seed)
    model.fit(x, y[:, k])
    importance[:, k] = np.abs(model.feature_importances_)
    train_acc.append(np.mean(model.predict(x) == y[:, k]))
    test_acc.append(np.mean(model.predict(xt) == yt[:, k]))
  return {
      **dci_from_importance(importance),
      'dci_informativeness': float(np.mean(test_acc)),
      'dci_informativeness_train': float(np.mean(train_acc)),
      'importance': importance,
  }


def sap(train_codes, train_factors, test_codes, test_factors) -> float:
  """Separated attribute predictability (Kumar et al. 2018), discrete factors.

  For each (unit, factor) a linear SVM (C = 0.01, balanced classes) predicts
  the factor from the one unit; score = test accuracy. SAP is the mean over
  factors of the gap between the best and second-best unit.
  """
  from sklearn import svm  # pylint: disable=g-import-not-at-top

  x, y, xt, yt = _train_and_test(
      'sap', train_codes, train_factors, test_codes, test_factors
  )
  score = np.zeros((x.shape[1], y.shape[1]))
  for j in range(x.shape[1]):
    for k in range(y.shape[1]):
      clf = svm.LinearSVC(C=0.01, class_weight='balanced')
      clf.fit(x[:, j : j + 1], y[:, k])
      score[j, k] = np.mean(clf.predict(xt[:, j : j + 1]) == yt[:, k])
  top = np.sort(score, axis=0)
  return float(np.mean(top[-1] - top[-2]))


def modularity(mutual_information) -> float:
  """Modularity (Ridgeway & Mozer 2018) of an MI matrix ``[num_codes,
  num_factors]``: 1 when each unit carries information about one factor."""
  sq = np.square(np.asarray(mutual_information, np.float64))
  if sq.ndim != 2 or sq.shape[1] < 2:
    raise ValueError(
        'modularity: mutual_information must be [num_codes, num_factors >= 2], '
        f'got shape {sq.shape}.'
    )
  top = sq.max(axis=1)
  with np.errstate(divide='ignore', invalid='ignore'):
    score = 1.0 - (sq.sum(axis=1) - top) / (top * (sq.shape[1] - 1.0))
  score[top == 0.0] = 0.0
  return float(np.mean(score))


def explicitness(train_codes, train_factors, test_codes, test_factors) -> dict:
  """Explicitness (Ridgeway & Mozer 2018): per factor, the one-vs-rest
  ROC-AUC of a logistic regression on the standardised codes, averaged
  over factors. ``{'explicitness': test, 'explicitness_train': train}``."""
  from sklearn import exceptions  # pylint: disable=g-import-not-at-top
  from sklearn import linear_model  # pylint: disable=g-import-not-at-top
  from sklearn import metrics  # pylint: disable=g-import-not-at-top
  from sklearn import preprocessing  # pylint: disable=g-import-not-at-top

  x, y, xt, yt = _train_and_test(
      'explicitness',
      train_codes,
      train_factors,
      test_codes,
      test_factors,
      min_codes=1,
  )
  for k in range(y.shape[1]):
    # One-vs-rest AUCs need each split to hold the same levels (the
    # classifier's columns); disentanglement_lib crashes or misaligns here.
    if not np.array_equal(np.unique(y[:, k]), np.unique(yt[:, k])):
      raise ValueError(
          f'explicitness: factor {k} takes levels {np.unique(yt[:, k]).size} '
          f'in the test points but {np.unique(y[:, k]).size} in the training '
          'points; draw more points (--disentanglement_points) so that both '
          'splits hold every level.'
      )
  mean, std = x.mean(axis=0), x.std(axis=0)
  std = np.where(std > 0, std, 1.0)  # A constant unit stays 0, not NaN.
  x, xt = (x - mean) / std, (xt - mean) / std
  train, test = [], []
  for k in range(y.shape[1]):
    with warnings.catch_warnings():
      warnings.simplefilter('ignore', exceptions.ConvergenceWarning)
      clf = linear_model.LogisticRegression().fit(x, y[:, k])
    mlb = preprocessing.MultiLabelBinarizer()
    train.append(
        metrics.roc_auc_score(
            mlb.fit_transform(y[:, k : k + 1]), clf.predict_proba(x)
        )
    )
    test.append(
        metrics.roc_auc_score(
            mlb.fit_transform(yt[:, k : k + 1]), clf.predict_proba(xt)
        )
    )
  return {
      'explicitness': float(np.mean(test)),
      'explicitness_train': float(np.mean(train)),
  }


Representation = Callable[[np.ndarray], np.ndarray]


def sample_codes(
    data,
    representation: Representation,
    num: int,
    random_state,
    *,
    batch_size: int = SAMPLE_BATCH,
) -> tuple[np.ndarray, np.ndarray]:
  """``num`` random observations' codes ``[num, num_codes]`` and factors
  ``[num, num_factors]`` (disentanglement_lib's
  ``generate_batch_factor_code``: draws in batches of ``batch_size``)."""
  factors, observations = [], []
  for start in range(0, num, batch_size):
    f, obs = data.sample(min(batch_size, num - start), random_state)
    factors.append(f)
    observations.append(obs)
  codes = _encode(representation, np.concatenate(observations))
  return codes, np.concatenate(factors)


def _encode(representation: Representation, x: np.ndarray) -> np.ndarray:
  """``representation`` of ``x`` in calls of at most `_ENCODE_ROWS` rows."""
  return np.concatenate(
      [
          np.asarray(representation(x[i : i + _ENCODE_ROWS]), np.float64)
          for i in range(0, len(x), _ENCODE_ROWS)
      ]
  )


def _check_sampler(fn: str, data, num_points: int, group_size: int) -> None:
  if num_points < 1 or group_size < 2:
    raise ValueError(
        f'{fn}: needs num_points >= 1 and groups of >= 2 observations, got '
        f'{num_points} and {group_size}.'
    )
  if data.num_factors < 1:
    raise ValueError(f'{fn}: the data has no factors.')


def _beta_vae_points(data, representation, group_size, num_points, rs):
  """disentanglement_lib's ``_generate_training_batch`` (beta_vae.py)."""
  labels, features = [], []
  per_call = max(1, _ENCODE_ROWS // (2 * group_size))
  for start in range(0, num_points, per_call):
    obs = []
    for _ in range(min(per_call, num_points - start)):
      index = rs.randint(data.num_factors)
      f1 = data.sample_factors(group_size, rs)
      f2 = data.sample_factors(group_size, rs)
      f2[:, index] = f1[:, index]
      obs.append(data.sample_observations_from_factors(f1, rs))
      obs.append(data.sample_observations_from_factors(f2, rs))
      labels.append(index)
    codes = np.asarray(representation(np.concatenate(obs)), np.float64)
    codes = codes.reshape(-1, 2, group_size, codes.shape[-1])
    features.append(np.mean(np.abs(codes[:, 0] - codes[:, 1]), axis=1))
  return np.concatenate(features), np.array(labels, np.int64)


def beta_vae_score(
    data,
    representation: Representation,
    random_state,
    *,
    group_size: int = GROUP_SIZE,
    num_train: int = NUM_TRAIN,
    num_eval: int = NUM_TEST,
) -> dict:
  """BetaVAE score (Higgins et al. 2017): accuracy of a linear classifier
  that tells, from the mean absolute code difference of ``group_size``
  pairs sharing one factor, which factor was shared.

  Returns ``{'beta_vae_score': eval accuracy, 'beta_vae_score_train': ...}``.
  """
  from sklearn import exceptions  # pylint: disable=g-import-not-at-top
  from sklearn import linear_model  # pylint: disable=g-import-not-at-top

  _check_sampler('beta_vae_score', data, min(num_train, num_eval), group_size)
  x, y = _beta_vae_points(
      data, representation, group_size, num_train, random_state
  )
  model = linear_model.LogisticRegression(random_state=random_state)
  with warnings.catch_warnings():  # lbfgs on unscaled features, as theirs.
    warnings.simplefilter('ignore', exceptions.ConvergenceWarning)
    model.fit(x, y)
  train = np.mean(model.predict(x) == y)
  xe, ye = _beta_vae_points(
      data, representation, group_size, num_eval, random_state
  )
  return {
      'beta_vae_score': float(model.score(xe, ye)),
      'beta_vae_score_train': float(train),
  }


def _factor_vae_votes(
    data, representation, group_size, num_points, rs, scale, active
):
  """disentanglement_lib's ``_generate_training_batch`` (factor_vae.py)."""
  votes = np.zeros((data.num_factors, len(scale)), np.int64)
  per_call = max(1, _ENCODE_ROWS // group_size)
  for start in range(0, num_points, per_call):
    obs, indices = [], []
    for _ in range(min(per_call, num_points - start)):
      index = rs.randint(data.num_factors)
      f = data.sample_factors(group_size, rs)
      f[:, index] = f[0, index]
      obs.append(data.sample_observations_from_factors(f, rs))
      indices.append(index)
    codes = np.asarray(representation(np.concatenate(obs)), np.float64)
    codes = codes.reshape(len(indices), group_size, -1)
    local = np.var(codes, axis=1, ddof=1)
    # As disentanglement_lib: the argmin among the active units indexes the
    # vote (a relabelling of the columns, which the majority vote ignores).
    argmin = np.argmin(local[:, active] / scale[active], axis=1)
    np.add.at(votes, (np.array(indices), argmin), 1)
  return votes


def factor_vae_score(
    data,
    representation: Representation,
    random_state,
    *,
    group_size: int = GROUP_SIZE,
    num_train: int = NUM_TRAIN,
    num_eval: int = NUM_TEST,
    num_variance_estimate: int = NUM_VARIANCE_ESTIMATE,
    prune_threshold: float = PRUNE_THRESHOLD,
) -> dict:
  """FactorVAE score (Kim & Mnih 2018): accuracy of a majority-vote
  classifier from the unit of least normalised variance, within groups that
  share one factor, to that factor. Units whose standard deviation over the
  data is below ``prune_threshold`` are left out.

  Returns ``factor_vae_score`` (eval accuracy), ``factor_vae_score_train``
  and ``num_active_units``.
  """
  _check_sampler('factor_vae_score', data, min(num_train, num_eval), group_size)
  obs = data.sample_observations(num_variance_estimate, random_state)
  codes = _encode(representation, obs)
  variances = np.var(codes, axis=0, ddof=1)
  active = np.sqrt(variances) >= prune_threshold
  if not active.any():
    return {
        'factor_vae_score': 0.0,
        'factor_vae_score_train': 0.0,
        'num_active_units': 0,
    }
  train = _factor_vae_votes(
      data,
      representation,
      group_size,
      num_train,
      random_state,
      variances,
      active,
  )
  classifier = np.argmax(train, axis=0)
  cols = np.arange(train.shape[1])
  evals = _factor_vae_votes(
      data,
      representation,
      group_size,
      num_eval,
      random_state,
      variances,
      active,
  )
  return {
      'factor_vae_score': float(evals[classifier, cols].sum() / evals.sum()),
      'factor_vae_score_train': float(
          train[classifier, cols].sum() / train.sum()
      ),
      'num_active_units': int(active.sum()),
  }
