"""Reconstruction losses: squared errors and Bernoulli / Gaussian
log-likelihoods of the targets under the decoder's outputs.

Conventions (per-example outputs, sign, checks): see `ae_jax.losses`.
"""

import math

import jax
import jax.numpy as jnp

from ae_jax.losses._checks import _check_and_cast
from ae_jax.losses._checks import _flatten_event
from ae_jax.losses._checks import _mean_event
from ae_jax.losses._checks import _scaled_square
from ae_jax.losses._checks import _sum_event

__all__ = [
    "bernoulli_log_likelihood",
    "binary_cross_entropy",
    "gaussian_log_likelihood",
    "mean_squared_error",
    "squared_error",
]

_LOG_2PI = math.log(2.0 * math.pi)


def squared_error(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    event_ndims: int = 1,
) -> jax.Array:
  """Sum of squared errors over the event axes.

  ``sum((predictions - targets) ** 2)`` over the last `event_ndims` axes.
  Up to constants this is the negative log-likelihood of a unit-variance
  Gaussian decoder: ``gaussian_log_likelihood(p, 0.0, t) ==
  -0.5 * squared_error(p, t) - 0.5 * D * log(2 pi)`` with ``D`` the event
  size.

  Args:
    predictions: floating array of shape ``[..., *event_shape]``.
    targets: real array with the same shape as `predictions`.
    event_ndims: number of trailing axes to sum over (keyword-only).

  Returns:
    Array of shape ``[...]`` (the shape of `predictions` without its last
    `event_ndims` axes), dtype of `predictions`.
  """
  predictions, targets = _check_and_cast(
      "squared_error",
      event_ndims,
      floating=[("predictions", predictions)],
      cast=[("targets", targets)],
  )
  event_ndims, (predictions, targets) = _flatten_event(
      event_ndims, predictions, targets
  )
  return _sum_event(jnp.square(predictions - targets), event_ndims)


def mean_squared_error(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    event_ndims: int = 1,
) -> jax.Array:
  """Mean of squared errors over the event axes.

  ``squared_error(predictions, targets) / D`` with ``D`` the number of
  elements in the last `event_ndims` axes. Unlike the summed version its
  scale does not depend on the image size, which is convenient for
  reporting, but it is *not* a log-likelihood: weighting it against a KL
  term changes the effective beta by a factor of ``D``.

  Args:
    predictions: floating array of shape ``[..., *event_shape]``.
    targets: real array with the same shape as `predictions`.
    event_ndims: number of trailing axes to average over (keyword-only).

  Returns:
    Array of shape ``[...]``, dtype of `predictions`.
  """
  predictions, targets = _check_and_cast(
      "mean_squared_error",
      event_ndims,
      floating=[("predictions", predictions)],
      cast=[("targets", targets)],
  )
  event_ndims, (predictions, targets) = _flatten_event(
      event_ndims, predictions, targets
  )
  return _mean_event(jnp.square(predictions - targets), event_ndims)


def _bernoulli_log_likelihood(
    fn_name: str,
    logits: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    event_ndims: int,
) -> jax.Array:
  """`bernoulli_log_likelihood`, with errors reported as from `fn_name`."""
  logits, targets = _check_and_cast(
      fn_name,
      event_ndims,
      floating=[("logits", logits)],
      cast=[("targets", targets)],
  )
  event_ndims, (logits, targets) = _flatten_event(event_ndims, logits, targets)
  # log(1 - sigmoid(l)) == log_sigmoid(-l); log_sigmoid(-l) is stabler than
  # log(1 - sigmoid(l)), which gives log(0) = -inf once sigmoid(l) rounds to
  # 1 (l >~ 17 in float32). log_sigmoid is -softplus(-l), computed without
  # overflow, and is accurate in relative terms for large |l| too: the
  # algebraically equal `t * l - softplus(l)` cancels to 0 for t=1, l=20,
  # where this form gives the correct -2.06e-9.
  elementwise = targets * jax.nn.log_sigmoid(logits) + (
      1.0 - targets
  ) * jax.nn.log_sigmoid(-logits)
  return _sum_event(elementwise, event_ndims)


def bernoulli_log_likelihood(
    logits: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    event_ndims: int = 1,
) -> jax.Array:
  """Log-likelihood of targets under independent Bernoullis given by logits.

  ``sum(t * log sigmoid(l) + (1 - t) * log(1 - sigmoid(l)))`` over the last
  `event_ndims` axes: the decoder term of the VAE on (binarised) MNIST
  (Kingma & Welling, 2014). Targets may also be grey-level intensities in
  ``[0, 1]`` as in the classic VAE; the result is then a cross-entropy
  rather than a normalised log-density, see Loaiza-Ganem & Cunningham
  (2019) for the continuous-Bernoulli correction.

  Stays finite and exact for saturated logits (e.g. +/-1e4).

  Args:
    logits: floating array of shape ``[..., *event_shape]``, the decoder's
      pre-sigmoid outputs.
    targets: real array with the same shape as `logits`, values in
      ``[0, 1]`` (bool/int binarised pixels are fine).
    event_ndims: number of trailing axes to sum over (keyword-only).

  Returns:
    Array of shape ``[...]``, dtype of `logits`; values are <= 0 for
    targets in ``{0, 1}``.

  References:
    Kingma & Welling, `Auto-Encoding Variational Bayes
    <https://arxiv.org/abs/1312.6114>`_, ICLR 2014.

    Loaiza-Ganem & Cunningham, `The continuous Bernoulli: fixing a
    pervasive error in variational autoencoders
    <https://arxiv.org/abs/1907.06845>`_, NeurIPS 2019.
  """
  return _bernoulli_log_likelihood(
      "bernoulli_log_likelihood", logits, targets, event_ndims
  )


def binary_cross_entropy(
    logits: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    event_ndims: int = 1,
) -> jax.Array:
  """Sigmoid binary cross-entropy summed over the event axes.

  Exactly ``-bernoulli_log_likelihood(logits, targets)``; see there for the
  numerics. Equals ``optax.sigmoid_binary_cross_entropy`` summed over the
  last `event_ndims` axes.

  Args:
    logits: floating array of shape ``[..., *event_shape]``.
    targets: real array with the same shape as `logits`, values in
      ``[0, 1]``.
    event_ndims: number of trailing axes to sum over (keyword-only).

  Returns:
    Array of shape ``[...]``, dtype of `logits`; values are >= 0 for
    targets in ``{0, 1}``.
  """
  return -_bernoulli_log_likelihood(
      "binary_cross_entropy", logits, targets, event_ndims
  )


def gaussian_log_likelihood(
    mean: jax.typing.ArrayLike,
    log_variance: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    event_ndims: int = 1,
) -> jax.Array:
  """Log-density of targets under a diagonal Gaussian.

  ``sum(log N(t; mean, exp(log_variance)))``
  ``= -0.5 * sum(log(2 pi) + log_variance + (t - mean)**2 / exp(log_variance))``
  over the last `event_ndims` axes.

  Args:
    mean: floating array of shape ``[..., *event_shape]``.
    log_variance: floating array whose shape broadcasts to `mean`'s: a
      per-element output of the decoder, a learned per-pixel ``[*event_shape]``
      parameter, or a scalar (e.g. ``0.0`` for unit variance).
    targets: real array with the same shape as `mean`.
    event_ndims: number of trailing axes to sum over (keyword-only).

  Returns:
    Array of shape ``[...]`` (`mean`'s shape without its last `event_ndims`
    axes). Finite, with a finite gradient, wherever the exact value is
    representable, at any finite `log_variance`: e.g. for ``targets ==
    mean`` at ``log_variance = -200`` (a variance far below float32's
    smallest, ``exp(-103.3)``). Where the exact value overflows (a non-zero
    error at such a variance) it is ``-inf``, never NaN.

  References:
    Kingma & Welling, `Auto-Encoding Variational Bayes
    <https://arxiv.org/abs/1312.6114>`_, ICLR 2014 (Appendix C.2).
  """
  mean, log_variance, targets = _check_and_cast(
      "gaussian_log_likelihood",
      event_ndims,
      floating=[("mean", mean), ("log_variance", log_variance)],
      cast=[("targets", targets)],
      broadcast=["log_variance"],
  )
  event_ndims, (mean, log_variance, targets) = _flatten_event(
      event_ndims, mean, log_variance, targets
  )
  # (t - m)^2 / var without a division or clamping: lv enters only through
  # exp(-lv / 4), and not at all where t == m, so value and gradient stay
  # exact at every finite lv (see `_scaled_square`).
  elementwise = -0.5 * (
      _LOG_2PI + log_variance + _scaled_square(targets - mean, log_variance)
  )
  # `log_variance` may have broadcast a smaller shape; make the summed array
  # `mean`'s shape so that the event axes line up.
  elementwise = jnp.broadcast_to(elementwise, mean.shape)
  return _sum_event(elementwise, event_ndims)
