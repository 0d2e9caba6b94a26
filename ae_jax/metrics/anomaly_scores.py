"""Metrics of anomaly scores: the AUROC, and the threshold
``mean + k * std`` of normal scores with its precision, recall and F1.

Scores may come from anywhere (e.g. `ae_jax.anomaly.score`); higher =
more anomalous. Non-finite scores are refused with a `ValueError`.
`ae_jax.anomaly` re-exports these functions next to its detector.
"""

import numpy as np
from sklearn import metrics

from ae_jax.metrics import checks

__all__ = ['auroc', 'fit_threshold', 'threshold_metrics']


def _as_scores(fn_name: str, name: str, value) -> np.ndarray:
  """Finite, non-empty, 1-D float64 scores."""
  x = checks.real_array(fn_name, name, value, min_ndim=1)
  if x.ndim != 1:
    raise ValueError(
        f'{fn_name}: {name} must be 1-D, one score per example, got shape '
        f'{x.shape}; pass e.g. detector.score(x), not the images'
    )
  return x.astype(np.float64)


def auroc(
    scores: np.typing.ArrayLike, is_anomaly: np.typing.ArrayLike
) -> float:
  """Area under the ROC curve of `scores` for detecting the anomalies.

  `sklearn.metrics.roc_auc_score` with the anomalies as the positive class:
  the probability that a random anomaly scores strictly higher than a random
  normal example, ties counting one half (the Mann-Whitney U statistic over
  the number of pairs). 0.5 is chance, 1 a perfect ranking.

  Args:
    scores: ``[N]`` finite real scores, higher = more anomalous.
    is_anomaly: ``[N]`` bool (or 0/1 integers), True for anomalies; both
      classes must occur.

  Returns:
    The AUROC, a Python float in ``[0, 1]``.

  Raises:
    ValueError: on empty, non-1-D or non-finite scores, a length mismatch,
      values other than 0/1, or flags of a single class.
    TypeError: on non-real scores or float flags.
  """
  fn = 'auroc'
  scores = _as_scores(fn, 'scores', scores)
  flags = checks.flags(fn, 'is_anomaly', is_anomaly, len(scores))
  num_anomalies = int(flags.sum())
  if num_anomalies in (0, len(flags)):
    which = 'normal' if num_anomalies == 0 else 'anomalous'
    raise ValueError(
        f'{fn}: every one of the {len(flags)} examples is {which}; the AUROC '
        'needs both normal examples and anomalies, so score a test set '
        'that has both'
    )
  return float(metrics.roc_auc_score(flags, scores))


def fit_threshold(normal_scores: np.typing.ArrayLike, k: float = 3.0) -> float:
  """``mean + k * std`` of the scores of normal (training) data.

  A score above it is flagged as an anomaly. With Gaussian normal scores
  ``k = 3`` flags about 0.1% of normal data; reconstruction errors have a
  heavier right tail, so the real fraction is larger (report it, see
  `threshold_metrics`).

  Args:
    normal_scores: ``[N]`` finite scores of normal examples, N >= 2.
    k: number of standard deviations above the mean, finite and >= 0.

  Returns:
    The threshold, a Python float. The standard deviation is the population
    one (``ddof=0``).

  Raises:
    ValueError: on bad scores (as `auroc`), fewer than two of them, or a
      negative or non-finite `k`.
  """
  fn = 'fit_threshold'
  scores = _as_scores(fn, 'normal_scores', normal_scores)
  if len(scores) < 2:
    raise ValueError(
        f'{fn}: normal_scores has {len(scores)} score; a standard deviation '
        'needs at least 2, so score more normal examples'
    )
  k = checks.finite_real(fn, 'k', k, minimum=0)
  return float(np.mean(scores) + k * np.std(scores))


def threshold_metrics(
    scores: np.typing.ArrayLike,
    is_anomaly: np.typing.ArrayLike,
    threshold: float,
) -> dict[str, float]:
  """Precision, recall and F1 of flagging ``scores > threshold``.

  `sklearn.metrics.precision_recall_fscore_support` with
  ``average='binary'`` and the anomalies as the positive class;
  ``zero_division=0``: precision is 0 when nothing is flagged, recall is 0
  when there is no anomaly.

  Args:
    scores: ``[N]`` finite real scores, higher = more anomalous.
    is_anomaly: ``[N]`` bool (or 0/1 integers), True for anomalies.
    threshold: finite real; scores strictly above it are flagged.

  Returns:
    ``{'threshold', 'precision', 'recall', 'f1', 'flagged_fraction'}``,
    Python floats; ``flagged_fraction`` is the fraction of all N examples
    flagged.

  Raises:
    ValueError, TypeError: on bad scores or flags (as `auroc`, except that a
      single class is allowed) or a non-finite threshold.
  """
  fn = 'threshold_metrics'
  scores = _as_scores(fn, 'scores', scores)
  flags = checks.flags(fn, 'is_anomaly', is_anomaly, len(scores))
  threshold = checks.finite_real(fn, 'threshold', threshold)
  flagged = scores > threshold
  precision, recall, f1, _ = metrics.precision_recall_fscore_support(
      flags, flagged, average='binary', pos_label=True, zero_division=0
  )
  return {
      'threshold': threshold,
      'precision': float(precision),
      'recall': float(recall),
      'f1': float(f1),
      'flagged_fraction': float(np.mean(flagged)),
  }
