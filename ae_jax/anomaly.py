"""Anomaly detection with a trained autoencoder: scores, AUROC and thresholds.

An autoencoder trained on normal data only reconstructs (or explains) normal
inputs better than anything else, so a per-example error is an anomaly
score: higher = more anomalous. Two scores of a trained model:

* ``'mse'``: reconstruction error, the mean squared error over all pixels
  (and channels) between an input and its mean reconstruction
  ``model.reconstruct(params, x)`` (deterministic; a VAE decodes its
  posterior mean). Every model that reconstructs has it;
* ``'mse_over_tv'``: the ``'mse'`` of an image divided by its own
  complexity, its absolute differences between neighbouring pixels summed
  and divided by the number of pixels (`total_variation`), plus
  `TV_EPSILON`. Reconstruction error grows with the detail in an
  image, whatever the model: plain or flat images of another class
  reconstruct well and rank as normal, detailed ones of the normal class
  badly. The ratio removes that floor, after Serra et al. (ICLR 2020,
  "Input complexity and out-of-distribution detection with likelihood-based
  generative models"), who subtract a compressor's code length from a
  likelihood. Models that reconstruct images (inputs ``[H, W, C]``,
  ``[H, W]``, or flat square images of 1 or 3 channels);
* ``'neg_elbo'``: the negative ELBO of a VAE-family model, an upper bound
  on ``-log p(x)`` in nats, estimated with ``elbo_samples`` (default
  `ELBO_SAMPLES` = 16) posterior samples: for each example ``x_i``, the mean
  over the keys ``jax.random.split(jax.random.PRNGKey(0), elbo_samples)``
  of ``'neg_elbo'`` of ``model.per_example_losses(params, x_i[None], key,
  train=False)``. Every example gets the same keys (common random numbers),
  so a score is a function of its input alone: not of its position in the
  batch, its neighbours or the batch size (to float rounding, ~1e-7
  relative: another batch shape may take another matmul kernel), and not
  of the call. (One draw for the whole batch from one key gave each row
  noise that depended on its position: one input repeated in a batch
  scored several nats apart, on both sides of the threshold.) The
  estimate's spread over keys is 1/4 of a one-sample estimate's.

Evaluation without a threshold is the AUROC (`auroc`): the probability that a
random anomaly scores higher than a random normal example. The threshold
form (`fit_threshold`, `threshold_metrics`) flags scores above
``mean + k * std`` of the scores of the normal training data and reports
precision, recall and F1 with the anomalies as the positive class.

  detector = AnomalyDetector.from_trained(ae_jax.load(workdir)).fit(x_normal)
  detector.predict(x_new)          # bool [N]
  auroc(detector.score(x_test), y_test != normal_class)

Inputs far outside the training data (pixels of 1e30, say) overflow the
network and get a NaN or inf score. `score` returns those as they are
(never replaced by a number) and logs a warning with their count;
`AnomalyDetector.predict` flags them as anomalies, never as normal;
`AnomalyDetector.evaluate` ranks them above every finite score (and reports
their fraction); `AnomalyDetector.fit` refuses normal data that has any.
`auroc`, `fit_threshold` and `threshold_metrics` (defined in
`ae_jax.metrics.anomaly_scores`, re-exported here) take scores from
anywhere and refuse non-finite ones with a `ValueError`.

Score functions are jitted once per (model, kind, elbo_samples) and applied
in fixed-size batches (`batching.apply_in_batches`), so scoring any number
of arrays with the same batch size compiles once. Inputs are checked on the
host first and a `ValueError` / `TypeError` names the function, the
argument and the fix, as in `ae_jax.metrics`: they must be floating
point, scaled like the training data (integer or bool pixels are refused
with the fix ``x.astype(np.float32) / 255``), finite and of the model's
input shape.
"""

from collections.abc import Callable
import functools
import logging

import jax
import jax.numpy as jnp
import numpy as np

from ae_jax import figures
from ae_jax import trained as trained_lib
from ae_jax.metrics import anomaly_scores
from ae_jax.metrics import batching
from ae_jax.metrics import checks
from ae_jax.models import base
from ae_jax.models import capabilities

__all__ = [
    'ELBO_SAMPLES',
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
    'over_total_variation',
    'total_variation',
]

SCORE_KINDS = ('mse', 'neg_elbo', 'mse_over_tv')
# Added to an image's total variation in 'mse_over_tv': a constant image
# (zero variation) gets a large but finite score.
TV_EPSILON = 1e-3
BATCH_SIZE = 500
# Posterior samples per 'neg_elbo' score; its Monte Carlo spread is 1/4 of
# a one-sample estimate's, at 16 forward passes per example.
ELBO_SAMPLES = 16
# The root key of those samples, shared by every example.
_ELBO_SEED = 0

# The input checks of `ae_jax.metrics`, so that messages read the same.
# pylint: disable=protected-access
_as_real_array = checks.real_array
_check_positive_int = checks.positive_int
_as_flags = checks.flags
_check_real = checks.finite_real
# pylint: enable=protected-access

# Metrics of scores, which take scores from anywhere.
auroc = anomaly_scores.auroc
fit_threshold = anomaly_scores.fit_threshold
threshold_metrics = anomaly_scores.threshold_metrics


# ---------------------------------------------------------------------------
# Input checks.
# ---------------------------------------------------------------------------


def _as_inputs(fn_name: str, model: base.Model, x) -> np.ndarray:
  """``[N, *model.input_shape]`` finite float32 inputs."""
  x = np.asarray(x)
  if x.dtype.kind in 'biu':
    # 0-255 pixels would be scored, silently, as extreme anomalies.
    raise TypeError(
        f'{fn_name}: x must be floating point, scaled like the training data '
        f'(images in [0, 1]), got dtype {x.dtype}; convert it, e.g. '
        'x.astype(np.float32) / 255 for 0-255 pixels (x.astype(np.float32) '
        'for 0/1 ones)'
    )
  x = _as_real_array(fn_name, 'x', x, min_ndim=2)
  if tuple(x.shape[1:]) != tuple(model.input_shape):
    raise ValueError(
        f'{fn_name}: x must have shape [N, '
        f'{", ".join(map(str, model.input_shape))}] for this model, got '
        f'{x.shape}; load the data in the layout the model was trained on'
    )
  return x.astype(np.float32)


# ---------------------------------------------------------------------------
# Scores of a trained model.
# ---------------------------------------------------------------------------


def total_variation(images: jax.Array) -> jax.Array:
  """Per-image sum of absolute differences of neighbouring pixels, per pixel.

  ``images`` ``[B, H, W, C]`` -> ``[B]``: the sum of ``|x[i+1, j] - x[i,
  j]|`` and ``|x[i, j+1] - x[i, j]|`` over rows, columns and channels (the
  anisotropic total variation, as ``tf.image.total_variation``) divided by
  ``H * W * C``. 0 for a constant image; 2 (H - 1) / H for a 0/1
  checkerboard with one channel and H = W. Pure, for `jax.jit`, `jax.vmap`
  and `jax.grad`.
  """
  vertical = jnp.abs(jnp.diff(images, axis=1)).sum(axis=(1, 2, 3))
  horizontal = jnp.abs(jnp.diff(images, axis=2)).sum(axis=(1, 2, 3))
  return (vertical + horizontal) / (images[0].size)


def over_total_variation(mse: jax.Array, images: jax.Array) -> jax.Array:
  """``mse`` ``[B]`` over the total variation of ``images`` ``[B, H, W, C]``
  plus `TV_EPSILON`: the ``'mse_over_tv'`` correction, for any per-image
  error."""
  return mse / (total_variation(images) + TV_EPSILON)


def available_scores(model: base.Model) -> tuple[str, ...]:
  """The `SCORE_KINDS` that `model` can compute.

  ``'mse'`` for every model that reconstructs, ``'mse_over_tv'`` for those
  whose inputs are images; ``'neg_elbo'`` for latent-variable models
  (`capabilities.LatentVariableModel`: vae, iwae, factor_vae).
  """
  kinds = ['mse'] if model.reconstructs else []
  if isinstance(model, capabilities.LatentVariableModel):
    kinds.append('neg_elbo')
  if model.reconstructs and figures.image_shape_or_none(model.input_shape):
    kinds.append('mse_over_tv')
  return tuple(kinds)


def _check_kind(fn_name: str, model: base.Model, kind) -> str:
  if kind not in SCORE_KINDS:
    raise ValueError(
        f'{fn_name}: unknown score kind {kind!r}; use one of {SCORE_KINDS}'
    )
  if kind not in available_scores(model):
    if kind == 'mse':
      fix = 'it has no decoder; use a model that reconstructs'
    elif kind == 'mse_over_tv':
      fix = (
          f'it needs images and reconstructions, and its inputs '
          f'{tuple(model.input_shape)} are not images it reconstructs; use '
          "kind='mse'"
      )
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


def _check_samples(fn_name: str, kind: str, elbo_samples) -> int | None:
  """The checked `elbo_samples`; None for the kinds that draw nothing."""
  elbo_samples = _check_positive_int(fn_name, 'elbo_samples', elbo_samples)
  return elbo_samples if kind == 'neg_elbo' else None


@functools.cache
def _jitted_score(model: base.Model, kind: str, elbo_samples: int | None):
  """The one jitted ``(params, x) -> [B]`` of each (model, kind, samples)."""
  if kind in ('mse', 'mse_over_tv'):
    image_shape = figures.image_shape_or_none(model.input_shape)

    def fn(params, x):
      diff = model.reconstruct(params, x) - x
      mse = jnp.mean(jnp.square(diff).reshape(x.shape[0], -1), axis=1)
      if kind == 'mse':
        return mse
      return over_total_variation(mse, x.reshape(x.shape[0], *image_shape))

  else:

    def one_example(params, example, key):
      out = model.per_example_losses(params, example[None], key, train=False)
      return out['neg_elbo'][0]

    def fn(params, x):
      keys = jax.random.split(jax.random.PRNGKey(_ELBO_SEED), elbo_samples)

      def one_sample(key):
        # A batch of one per example, all with the same key: a row's noise
        # does not depend on where it sits in the batch.
        return jax.vmap(one_example, in_axes=(None, 0, None))(params, x, key)

      # One sample at a time (a loop, not a vmap), so that memory stays
      # that of one batch however many samples there are.
      return jnp.mean(jax.lax.map(one_sample, keys), axis=0)

  return jax.jit(fn)


def score_fn(
    model: base.Model,
    kind: str = 'mse',
    *,
    elbo_samples: int = ELBO_SAMPLES,
) -> Callable[[base.Params, jax.Array], jax.Array]:
  """The jitted per-example score ``fn(params, x) -> [B]`` of `model`.

  The same function object for equal (model, kind, elbo_samples), so it
  compiles once per batch shape however often it is asked for.

  Args:
    model: a `models.Model`.
    kind: ``'mse'`` (reconstruction error per pixel), ``'mse_over_tv'``
      (the same over the input's total variation, images only) or
      ``'neg_elbo'`` (negative ELBO, VAE-family models only); see the module
      docstring.
    elbo_samples: posterior samples per ``'neg_elbo'`` score, a positive
      int (keyword-only; not used by ``'mse'``).

  Returns:
    ``fn(params, x)``, ``x`` float32 ``[B, *model.input_shape]`` ->
    float32 ``[B]``, higher = more anomalous; row ``i`` depends on
    ``x[i]`` only.

  Raises:
    ValueError: on an unknown kind, or a kind the model cannot compute
      ('neg_elbo' of a plain autoencoder, 'mse' of a classifier), or a bad
      `elbo_samples`.
  """
  fn_name = 'score_fn'
  kind = _check_kind(fn_name, model, kind)
  return _jitted_score(model, kind, _check_samples(fn_name, kind, elbo_samples))


def _scores(
    fn_name: str,
    model: base.Model,
    params: base.Params,
    x,
    kind,
    batch_size,
    elbo_samples,
) -> tuple[np.ndarray, np.ndarray]:
  """Checked ``(float64 scores [N], float32 inputs)``; non-finite kept."""
  kind = _check_kind(fn_name, model, kind)
  x = _as_inputs(fn_name, model, x)
  batch_size = _check_positive_int(fn_name, 'batch_size', batch_size)
  elbo_samples = _check_samples(fn_name, kind, elbo_samples)
  fn = functools.partial(_jitted_score(model, kind, elbo_samples), params)
  out = batching.apply_in_batches(fn, x, batch_size=batch_size)
  return out.astype(np.float64), x


def _non_finite(
    fn_name: str, kind: str, scores: np.ndarray, x: np.ndarray, outcome: str
) -> np.ndarray:
  """bool ``[N]``, True where a score is NaN or inf; warns when any is."""
  bad = ~np.isfinite(scores)
  if bad.any():
    logging.warning(
        '%s: %d of %d examples have a non-finite %r score (NaN or inf): '
        'their inputs (largest |x| %.3g) are far outside the range of the '
        'training data and overflow the model (if that value is ordinary, '
        'check the model parameters instead); %s.',
        fn_name,
        int(bad.sum()),
        len(bad),
        kind,
        float(np.max(np.abs(x[bad]))),
        outcome,
    )
  return bad


_RETURNED_AS_IS = (
    'they are returned as NaN/inf (AnomalyDetector.predict flags them as '
    'anomalies)'
)


def score(
    model: base.Model,
    params: base.Params,
    x: np.typing.ArrayLike,
    kind: str = 'mse',
    *,
    batch_size: int = BATCH_SIZE,
    elbo_samples: int = ELBO_SAMPLES,
) -> np.ndarray:
  """Per-example scores of `x`, in batches of `batch_size` (one compile).

  Args:
    model: a `models.Model`.
    params: its parameters.
    x: ``[N, *model.input_shape]`` finite floating-point inputs, scaled like
      the training data (e.g. images in [0, 1]); integer or bool arrays are
      refused.
    kind: a kind of `SCORE_KINDS` the model has (see `score_fn`).
    batch_size: examples per jitted call (keyword-only); every call sees
      ``min(batch_size, N)`` rows. Scores do not depend on it.
    elbo_samples: posterior samples per ``'neg_elbo'`` score
      (keyword-only; see the module docstring).

  Returns:
    float64 ``[N]``, higher = more anomalous; ``score(x)[i]`` depends on
    ``x[i]`` only. NaN or inf where the input overflowed the model (logged
    as a warning; see the module docstring).

  Raises:
    ValueError, TypeError: on bad inputs, before anything is compiled.
  """
  fn_name = 'score'
  scores, x = _scores(fn_name, model, params, x, kind, batch_size, elbo_samples)
  _non_finite(fn_name, kind, scores, x, _RETURNED_AS_IS)
  return scores


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
    elbo_samples: int = ELBO_SAMPLES,
) -> np.ndarray:
  """Per-example negative ELBO of a VAE-family model, ``[N]`` (in nats).

  ``score(model, params, x, 'neg_elbo')``: the mean over `elbo_samples`
  posterior samples, drawn from the same keys for every example (see the
  module docstring).
  """
  return score(
      model,
      params,
      x,
      'neg_elbo',
      batch_size=batch_size,
      elbo_samples=elbo_samples,
  )


def _ranked_highest(scores: np.ndarray, bad: np.ndarray, floor: float):
  """`scores` with the `bad` ones replaced by one value above every other
  score and above `floor` (a threshold): ranked, and flagged, as the most
  anomalous."""
  if not bad.any():
    return scores
  top = max(floor, np.max(scores[~bad], initial=-np.inf))
  if not np.isfinite(top):  # Nothing finite to rank above.
    top = 0.0
  out = scores.copy()
  out[bad] = top + max(1.0, abs(top))
  return out


# ---------------------------------------------------------------------------
# The detector.
# ---------------------------------------------------------------------------


class AnomalyDetector:
  """A trained model's anomaly score and a threshold fitted on normal data.

  Build it from ``(model, params)`` or `from_trained` (a work directory
  loaded with `ae_jax.load`), `fit` it on normal examples, then `score` or
  `predict` new ones. Every call scores in batches of ``batch_size`` with
  the one jitted function of (model, kind, elbo_samples).

  Attributes:
    model: the `models.Model`.
    params: its parameters.
    kind: the score, one of `SCORE_KINDS`.
    batch_size: examples per jitted call.
    elbo_samples: posterior samples per ``'neg_elbo'`` score.
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
      elbo_samples: int = ELBO_SAMPLES,
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
    self.elbo_samples = _check_positive_int(name, 'elbo_samples', elbo_samples)
    self.k = None
    self.normal_mean = None
    self.normal_std = None
    self._threshold = None
    # The training inputs' [min, max] (set by `from_trained`): inputs far
    # outside it (0-255 pixels for a [0, 1] model) are warned about.
    self.value_range = None

  @classmethod
  def from_trained(
      cls,
      trained: trained_lib.TrainedModel,
      *,
      kind: str = 'mse',
      batch_size: int = BATCH_SIZE,
      elbo_samples: int = ELBO_SAMPLES,
  ) -> 'AnomalyDetector':
    """The detector of a `TrainedModel` (``ae_jax.load(workdir)``)."""
    if not isinstance(trained, trained_lib.TrainedModel):
      raise TypeError(
          'AnomalyDetector.from_trained: trained must be an '
          f'ae_jax.TrainedModel, got {type(trained).__name__}; load one with '
          'ae_jax.load(workdir)'
      )
    detector = cls(
        trained.model,
        trained.params,
        kind=kind,
        batch_size=batch_size,
        elbo_samples=elbo_samples,
    )
    detector.value_range = trained.value_range
    return detector

  @property
  def score_fn(self) -> Callable[[base.Params, jax.Array], jax.Array]:
    """The jitted ``(params, x) -> [B]`` behind `score` (see `score_fn`)."""
    return score_fn(self.model, self.kind, elbo_samples=self.elbo_samples)

  def _scores(self, fn_name: str, x) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(x)
    if values.dtype.kind == 'f' and values.size and np.isfinite(values).all():
      trained_lib.warn_if_out_of_range(
          values, self.value_range, f'{fn_name}: x'
      )
    return _scores(
        fn_name,
        self.model,
        self.params,
        x,
        self.kind,
        self.batch_size,
        self.elbo_samples,
    )

  def score(self, x: np.typing.ArrayLike) -> np.ndarray:
    """float64 ``[N]`` scores of ``x`` ``[N, *input_shape]``, higher = more
    anomalous; NaN/inf kept (and logged), as `score`."""
    fn_name = 'AnomalyDetector.score'
    scores, x = self._scores(fn_name, x)
    _non_finite(fn_name, self.kind, scores, x, _RETURNED_AS_IS)
    return scores

  def fit(self, x_normal: np.typing.ArrayLike, k: float = 3.0):
    """Sets the threshold to ``mean + k * std`` of the scores of
    ``x_normal`` (normal training examples, at least 2, every score
    finite); returns self."""
    fn_name = 'AnomalyDetector.fit'
    k = _check_real(fn_name, 'k', k, minimum=0)
    scores, x = self._scores(fn_name, x_normal)
    bad = ~np.isfinite(scores)
    if bad.any():
      raise ValueError(
          f'{fn_name}: {int(bad.sum())} of the {len(bad)} normal examples '
          f'have a non-finite {self.kind!r} score (largest |x| among them '
          f'{np.max(np.abs(x[bad])):.3g}): inputs far outside the training '
          'data overflow the model, so no threshold can be fitted; drop '
          'those examples or scale x like the training data (if they look '
          'ordinary, check the model parameters)'
      )
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
    """bool ``[N]``: True where the score exceeds the threshold, or is NaN
    or inf (an input that overflowed the model is never called normal;
    logged as a warning)."""
    fn_name = 'AnomalyDetector.predict'
    threshold = self.threshold  # Fails before scoring when not fitted.
    scores, x = self._scores(fn_name, x)
    bad = _non_finite(
        fn_name, self.kind, scores, x, 'they are flagged as anomalies'
    )
    # `NaN > threshold` is False: without `| bad` a NaN would be "normal".
    return (scores > threshold) | bad

  def evaluate(
      self, x: np.typing.ArrayLike, is_anomaly: np.typing.ArrayLike
  ) -> dict[str, float]:
    """``{'auroc', 'non_finite_fraction'}`` of the scores of ``x``, plus the
    `threshold_metrics` at the fitted threshold when the detector is
    fitted.

    Non-finite scores count as the most anomalous, as in `predict`: they are
    ranked above every finite score (tied with each other) and flagged;
    ``non_finite_fraction`` is their fraction of ``x`` (a warning says
    more).
    """
    fn_name = 'AnomalyDetector.evaluate'
    flags = _as_flags(fn_name, 'is_anomaly', is_anomaly, len(np.asarray(x)))
    scores, x = self._scores(fn_name, x)
    bad = _non_finite(
        fn_name,
        self.kind,
        scores,
        x,
        'they count as the most anomalous (ranked above every finite score '
        'and flagged)',
    )
    floor = self._threshold if self.fitted else -np.inf
    ranked = _ranked_highest(scores, bad, floor)
    out = {
        'auroc': auroc(ranked, flags),
        'non_finite_fraction': float(np.mean(bad)),
    }
    if self.fitted:
      out.update(threshold_metrics(ranked, flags, self.threshold))
    return out
