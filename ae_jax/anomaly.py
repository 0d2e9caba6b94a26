"""Anomaly detection with a trained autoencoder: scores, AUROC and thresholds.

An autoencoder trained on normal data only reconstructs (or explains) normal
inputs better than anything else, so a per-example error is an anomaly
score: higher = more anomalous. Two scores of a trained model:

* ``'mse'``: reconstruction error, the mean squared error over all pixels
  (and channels) between an input and its mean reconstruction
  ``model.reconstruct(params, x)`` (deterministic; a VAE decodes its
  posterior mean). Every model that reconstructs has it;
* ``'neg_elbo'``: the per-example negative ELBO of a VAE-family model
  (``'neg_elbo'`` of ``model.per_example_losses(..., train=False)``), an
  upper bound on ``-log p(x)``, with one posterior sample per example drawn
  from a fixed key (so the same input gets the same score every call).

Evaluation without a threshold is the AUROC (`auroc`): the probability that a
random anomaly scores higher than a random normal example. The threshold
form (`fit_threshold`, `threshold_metrics`) flags scores above
``mean + k * std`` of the scores of the normal training data and reports
precision, recall and F1 with the anomalies as the positive class.

  detector = AnomalyDetector.from_trained(ae_jax.load(workdir)).fit(x_normal)
  detector.predict(x_new)          # bool [N]
  auroc(detector.score(x_test), y_test != normal_class)

Score functions are jitted once per (model, kind) and applied in fixed-size
batches (`evaluation.apply_in_batches`), so scoring any number of arrays
with the same batch size compiles once. Inputs are checked on the host first
and a `ValueError` / `TypeError` names the function, the argument and the
fix, as in `ae_jax.evaluation`.
"""

from collections.abc import Callable
import functools
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from sklearn import metrics

from ae_jax import evaluation
from ae_jax import trained as trained_lib
from ae_jax.models import base

__all__ = [
    'SCORE_KINDS',
    'AnomalyDetector',
    'auroc',
    'available_scores',
    'fit_threshold',
    'negative_elbo',
    'reconstruction_error',
    'score',
    'score_fn',
    'threshold_metrics',
]

SCORE_KINDS = ('mse', 'neg_elbo')
BATCH_SIZE = 500
# The key of the posterior samples of 'neg_elbo' scores.
_ELBO_SEED = 0

# The input checks of `ae_jax.evaluation`, so that messages read the same.
# pylint: disable=protected-access
_as_real_array = evaluation._as_real_array
_check_positive_int = evaluation._check_positive_int
# pylint: enable=protected-access


# ---------------------------------------------------------------------------
# Input checks.
# ---------------------------------------------------------------------------


def _as_scores(fn_name: str, name: str, value) -> np.ndarray:
  """Finite, non-empty, 1-D float64 scores."""
  x = _as_real_array(fn_name, name, value, min_ndim=1)
  if x.ndim != 1:
    raise ValueError(
        f'{fn_name}: {name} must be 1-D, one score per example, got shape '
        f'{x.shape}; pass e.g. detector.score(x), not the images'
    )
  return x.astype(np.float64)


def _as_flags(fn_name: str, name: str, value, num: int) -> np.ndarray:
  """``[num]`` bool from bool or 0/1 integer labels."""
  y = np.asarray(value)
  if y.dtype.kind not in 'biu':
    raise TypeError(
        f'{fn_name}: {name} must be bool (True = anomaly) or 0/1 integers, '
        f'got dtype {y.dtype}; pass e.g. labels != normal_class'
    )
  if y.shape != (num,):
    raise ValueError(
        f'{fn_name}: {name} must have shape ({num},), one flag per score, '
        f'got {y.shape}; pass the flags of exactly the scored examples'
    )
  if y.dtype.kind != 'b' and not np.all((y == 0) | (y == 1)):
    raise ValueError(
        f'{fn_name}: {name} has values {np.unique(y)[:5].tolist()}, not only '
        f'0/1; pass a bool array (True = anomaly), e.g. labels != '
        'normal_class, not the class labels themselves'
    )
  return y.astype(bool)


def _check_real(fn_name: str, name: str, value, *, minimum=None) -> float:
  if (
      not isinstance(value, numbers.Real)
      or isinstance(value, (bool, np.bool_))
      or not np.isfinite(value)
  ):
    raise ValueError(
        f'{fn_name}: {name} must be a finite real number, got {name}={value!r}'
    )
  if minimum is not None and value < minimum:
    raise ValueError(f'{fn_name}: {name} must be >= {minimum}, got {value!r}')
  return float(value)


def _as_inputs(fn_name: str, model: base.Model, x) -> np.ndarray:
  """``[N, *model.input_shape]`` finite float32 inputs."""
  x = _as_real_array(fn_name, 'x', x, min_ndim=2)
  if tuple(x.shape[1:]) != tuple(model.input_shape):
    raise ValueError(
        f'{fn_name}: x must have shape [N, '
        f'{", ".join(map(str, model.input_shape))}] for this model, got '
        f'{x.shape}; load the data in the layout the model was trained on'
    )
  return x.astype(np.float32)


# ---------------------------------------------------------------------------
# Metrics of scores.
# ---------------------------------------------------------------------------


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
  flags = _as_flags(fn, 'is_anomaly', is_anomaly, len(scores))
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
  k = _check_real(fn, 'k', k, minimum=0)
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
  flags = _as_flags(fn, 'is_anomaly', is_anomaly, len(scores))
  threshold = _check_real(fn, 'threshold', threshold)
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


# ---------------------------------------------------------------------------
# Scores of a trained model.
# ---------------------------------------------------------------------------


def available_scores(model: base.Model) -> tuple[str, ...]:
  """The `SCORE_KINDS` that `model` can compute.

  ``'mse'`` for every model that reconstructs; ``'neg_elbo'`` for models
  whose ``per_example_losses`` return one (vae, iwae, factor_vae, ...),
  found by tracing it on shapes only (`jax.eval_shape`, nothing runs).
  """
  return _available_scores(model)


@functools.cache
def _available_scores(model: base.Model) -> tuple[str, ...]:
  kinds = ['mse'] if model.reconstructs else []
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0))
  losses = jax.eval_shape(
      lambda p, x, k, y: model.per_example_losses(
          p, x, k, train=False, labels=y
      ),
      params,
      jax.ShapeDtypeStruct((1, *model.input_shape), jnp.float32),
      jax.random.PRNGKey(0),
      jax.ShapeDtypeStruct((1,), jnp.int32),  # For models that read labels.
  )
  if 'neg_elbo' in losses:
    kinds.append('neg_elbo')
  return tuple(kinds)


def _check_kind(fn_name: str, model: base.Model, kind) -> str:
  if kind not in SCORE_KINDS:
    raise ValueError(
        f'{fn_name}: unknown score kind {kind!r}; use one of {SCORE_KINDS}'
    )
  if kind not in available_scores(model):
    if kind == 'mse':
      fix = 'it has no decoder; use a model that reconstructs'
    else:
      fix = (
          "it has no ELBO; use kind='mse', or train a VAE-family model "
          "(e.g. --config.model=vae) for 'neg_elbo'"
      )
    raise ValueError(
        f'{fn_name}: {type(model).__name__} cannot compute {kind!r} scores: '
        f'{fix}'
    )
  return kind


@functools.cache
def _jitted_score(model: base.Model, kind: str):
  """The one jitted ``(params, x) -> [B]`` of each (model, kind)."""
  if kind == 'mse':

    def fn(params, x):
      diff = model.reconstruct(params, x) - x
      return jnp.mean(jnp.square(diff).reshape(x.shape[0], -1), axis=1)

  else:
    key = jax.random.PRNGKey(_ELBO_SEED)

    def fn(params, x):
      out = model.per_example_losses(params, x, key, train=False)
      return out['neg_elbo']

  return jax.jit(fn)


def score_fn(
    model: base.Model, kind: str = 'mse'
) -> Callable[[base.Params, jax.Array], jax.Array]:
  """The jitted per-example score ``fn(params, x) -> [B]`` of `model`.

  The same function object for equal (model, kind), so it compiles once per
  batch shape however often it is asked for.

  Args:
    model: a `models.Model`.
    kind: ``'mse'`` (reconstruction error per pixel) or ``'neg_elbo'``
      (negative ELBO, VAE-family models only); see the module docstring.

  Returns:
    ``fn(params, x)``, ``x`` float32 ``[B, *model.input_shape]`` ->
    float32 ``[B]``, higher = more anomalous.

  Raises:
    ValueError: on an unknown kind, or a kind the model cannot compute
      ('neg_elbo' of a plain autoencoder, 'mse' of a classifier).
  """
  return _jitted_score(model, _check_kind('score_fn', model, kind))


def score(
    model: base.Model,
    params: base.Params,
    x: np.typing.ArrayLike,
    kind: str = 'mse',
    *,
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
  """Per-example scores of `x`, in batches of `batch_size` (one compile).

  Args:
    model: a `models.Model`.
    params: its parameters.
    x: ``[N, *model.input_shape]`` finite real inputs (e.g. images in [0, 1]).
    kind: a kind of `SCORE_KINDS` the model has (see `score_fn`).
    batch_size: examples per jitted call (keyword-only); every call sees
      ``min(batch_size, N)`` rows.

  Returns:
    float64 ``[N]``, higher = more anomalous.

  Raises:
    ValueError, TypeError: on bad inputs, before anything is compiled.
  """
  fn_name = 'score'
  kind = _check_kind(fn_name, model, kind)
  x = _as_inputs(fn_name, model, x)
  batch_size = _check_positive_int(fn_name, 'batch_size', batch_size)
  fn = functools.partial(_jitted_score(model, kind), params)
  out = evaluation.apply_in_batches(fn, x, batch_size=batch_size)
  return out.astype(np.float64)


def reconstruction_error(
    model: base.Model,
    params: base.Params,
    x: np.typing.ArrayLike,
    *,
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
  """Per-example mean squared reconstruction error over all pixels, ``[N]``.

  ``score(model, params, x, 'mse')``.
  """
  return score(model, params, x, 'mse', batch_size=batch_size)


def negative_elbo(
    model: base.Model,
    params: base.Params,
    x: np.typing.ArrayLike,
    *,
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
  """Per-example negative ELBO of a VAE-family model, ``[N]`` (in nats).

  ``score(model, params, x, 'neg_elbo')``: one posterior sample per example
  from a fixed key.
  """
  return score(model, params, x, 'neg_elbo', batch_size=batch_size)


# ---------------------------------------------------------------------------
# The detector.
# ---------------------------------------------------------------------------


class AnomalyDetector:
  """A trained model's anomaly score and a threshold fitted on normal data.

  Build it from ``(model, params)`` or `from_trained` (a work directory
  loaded with `ae_jax.load`), `fit` it on normal examples, then `score` or
  `predict` new ones. Every call scores in batches of ``batch_size`` with
  the one jitted function of (model, kind).

  Attributes:
    model: the `models.Model`.
    params: its parameters.
    kind: the score, one of `SCORE_KINDS`.
    batch_size: examples per jitted call.
    k: the ``k`` of the last `fit` (None before).
    normal_mean, normal_std: mean and std of the normal scores of the last
      `fit` (None before).
  """

  def __init__(
      self,
      model: base.Model,
      params: base.Params,
      *,
      kind: str = 'mse',
      batch_size: int = BATCH_SIZE,
  ):
    name = 'AnomalyDetector'
    if not isinstance(model, base.Model):
      raise TypeError(
          f'{name}: model must be an ae_jax models.Model, got '
          f'{type(model).__name__}; for a loaded work directory use '
          'AnomalyDetector.from_trained(ae_jax.load(workdir))'
      )
    self.model = model
    self.params = params
    self.kind = _check_kind(name, model, kind)
    self.batch_size = _check_positive_int(name, 'batch_size', batch_size)
    self.k = None
    self.normal_mean = None
    self.normal_std = None
    self._threshold = None

  @classmethod
  def from_trained(
      cls,
      trained: trained_lib.TrainedModel,
      *,
      kind: str = 'mse',
      batch_size: int = BATCH_SIZE,
  ) -> 'AnomalyDetector':
    """The detector of a `TrainedModel` (``ae_jax.load(workdir)``)."""
    if not isinstance(trained, trained_lib.TrainedModel):
      raise TypeError(
          'AnomalyDetector.from_trained: trained must be an '
          f'ae_jax.TrainedModel, got {type(trained).__name__}; load one with '
          'ae_jax.load(workdir)'
      )
    return cls(trained.model, trained.params, kind=kind, batch_size=batch_size)

  @property
  def score_fn(self) -> Callable[[base.Params, jax.Array], jax.Array]:
    """The jitted ``(params, x) -> [B]`` behind `score` (see `score_fn`)."""
    return _jitted_score(self.model, self.kind)

  def score(self, x: np.typing.ArrayLike) -> np.ndarray:
    """float64 ``[N]`` scores of ``x`` ``[N, *input_shape]``, higher = more
    anomalous."""
    return score(
        self.model, self.params, x, self.kind, batch_size=self.batch_size
    )

  def fit(self, x_normal: np.typing.ArrayLike, k: float = 3.0):
    """Sets the threshold to ``mean + k * std`` of the scores of
    ``x_normal`` (normal training examples, at least 2); returns self."""
    k = _check_real('AnomalyDetector.fit', 'k', k, minimum=0)
    scores = self.score(x_normal)
    self._threshold = fit_threshold(scores, k)
    self.k = k
    self.normal_mean = float(np.mean(scores))
    self.normal_std = float(np.std(scores))
    return self

  @property
  def fitted(self) -> bool:
    return self._threshold is not None

  @property
  def threshold(self) -> float:
    """The threshold of the last `fit`."""
    if self._threshold is None:
      raise RuntimeError(
          'AnomalyDetector has no threshold yet; call fit(x_normal) first'
      )
    return self._threshold

  def predict(self, x: np.typing.ArrayLike) -> np.ndarray:
    """bool ``[N]``: True where the score exceeds the threshold."""
    threshold = self.threshold  # Fails before scoring when not fitted.
    return self.score(x) > threshold

  def evaluate(
      self, x: np.typing.ArrayLike, is_anomaly: np.typing.ArrayLike
  ) -> dict[str, float]:
    """``{'auroc': ...}`` of the scores of ``x``, plus the
    `threshold_metrics` at the fitted threshold when the detector is
    fitted."""
    flags = _as_flags(
        'AnomalyDetector.evaluate', 'is_anomaly', is_anomaly, len(np.asarray(x))
    )
    scores = self.score(x)
    out = {'auroc': auroc(scores, flags)}
    if self.fitted:
      out.update(threshold_metrics(scores, flags, self.threshold))
    return out
