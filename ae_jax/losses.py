"""Pure loss functions for autoencoders: reconstruction terms, KLs and the ELBO.

Everything here is a plain function of arrays (no Flax, no state), so it can be
used from any JAX code, under `jax.jit`, `jax.vmap` and `jax.grad`.

Conventions
-----------
* **Per-example outputs.** Every loss reduces over the *last* ``event_ndims``
  axes of its inputs (keyword-only, default 1) and returns an array with the
  remaining leading (batch) shape. Nothing is reduced over the batch: the
  caller takes the mean (or a weighted sum, or a log-mean-exp for the IWAE
  bound). For example:

  - flat MNIST ``[B, 784]``, ``event_ndims=1`` (default) -> ``[B]``;
  - images ``[B, 28, 28, 1]``, ``event_ndims=3`` -> ``[B]``;
  - IWAE samples ``[K, B, D]``, ``event_ndims=1`` -> ``[K, B]``;
  - one example ``[D]`` under `jax.vmap` -> a scalar;
  - ``event_ndims=0`` -> elementwise, same shape as the inputs.

* **Sign.** Functions named ``*_log_likelihood`` and ``elbo`` return
  quantities to *maximise*; ``squared_error``, ``mean_squared_error``,
  ``binary_cross_entropy`` and the KLs return quantities to *minimise*
  (KLs are >= 0).

* **Arguments.** Arrays come first (predictions / logits / means, then
  targets); hyperparameters are keyword-only. Predictions, logits, means and
  log-variances must be floating point. Targets (and prior parameters) may be
  any real dtype, e.g. ``uint8``/``bool`` binarised pixels, and are cast to the
  predictions' float dtype. Shapes must match exactly, except where a
  docstring says an argument broadcasts: implicit broadcasting between
  ``[B]`` and ``[B, 1]`` is a classic silent bug in loss code.

* **Checks.** Shapes, dtypes and ``event_ndims`` are validated at trace time
  (Python-level, no runtime cost), with a message naming the function, the
  argument and the fix. ``event_ndims`` must therefore be a static Python
  int; close over it (``functools.partial``) or mark it static under `jit`.

* **Variances are parameterised by their log** (``log_variance``), the usual
  encoder output; ``exp`` is applied directly (no clamping or softplus),
  which is exact and finite in float32 for log-variances in ``[-50, 50]``
  (``exp`` itself overflows float32 only beyond 88.7).
"""

from collections.abc import Sequence
import math
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "ELBO",
    "bernoulli_log_likelihood",
    "binary_cross_entropy",
    "elbo",
    "gaussian_kl",
    "gaussian_log_likelihood",
    "mean_squared_error",
    "squared_error",
    "standard_normal_kl",
]

_LOG_2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------
# Private helpers.
# ---------------------------------------------------------------------------


def _check_and_cast(
    fn_name: str,
    event_ndims: int,
    *,
    floating: Sequence[tuple[str, jax.typing.ArrayLike]],
    cast: Sequence[tuple[str, jax.typing.ArrayLike]] = (),
    broadcast: Sequence[str] = (),
) -> tuple[jax.Array, ...]:
  """Validates the inputs of a loss at trace time and converts them to arrays.

  Args:
    fn_name: name of the public function, used in error messages.
    event_ndims: number of trailing axes the loss reduces over, checked
      against the rank of the reference array (pass 0 for elementwise
      functions, which accepts any rank).
    floating: ``(name, value)`` pairs that must have a floating dtype. The
      first one is the reference: every other array must have its shape.
    cast: ``(name, value)`` pairs of any real dtype (bool, int, float); they
      are cast to the reference's dtype.
    broadcast: names of arguments that may broadcast to the reference's
      shape instead of matching it exactly.

  Returns:
    The arrays, in the order ``floating`` then ``cast``.

  Raises:
    TypeError: if a ``floating`` array is not floating point, or a ``cast``
      array is not real.
    ValueError: on a shape mismatch or an invalid ``event_ndims``.
  """
  out = []
  for name, value in floating:
    x = jnp.asarray(value)
    if not jnp.issubdtype(x.dtype, jnp.floating):
      raise TypeError(
          f"{fn_name}: {name} must be floating point, got dtype "
          f"{x.dtype}; cast it first, e.g. {name}.astype(jnp.float32)"
      )
    out.append(x)
  ref_name, ref = floating[0][0], out[0]
  for name, value in cast:
    x = jnp.asarray(value)
    if not (
        jnp.issubdtype(x.dtype, jnp.floating)
        or jnp.issubdtype(x.dtype, jnp.integer)
        or jnp.issubdtype(x.dtype, jnp.bool_)
    ):
      raise TypeError(
          f"{fn_name}: {name} must have a real dtype (bool, int or "
          f"float), got {x.dtype}"
      )
    out.append(x.astype(ref.dtype))

  names = [name for name, _ in floating] + [name for name, _ in cast]
  for name, x in zip(names[1:], out[1:]):
    if name in broadcast:
      try:
        ok = np.broadcast_shapes(x.shape, ref.shape) == ref.shape
      except ValueError:
        ok = False
      if not ok:
        raise ValueError(
            f"{fn_name}: {name} shape {x.shape} does not broadcast to "
            f"{ref_name} shape {ref.shape}; reshape it (e.g. add "
            f"size-1 axes) so that it does"
        )
    elif x.shape != ref.shape:
      raise ValueError(
          f"{fn_name}: {ref_name} shape {ref.shape} != {name} shape "
          f"{x.shape}; reshape one to match"
      )

  # `bool` is an `int` subclass but `event_ndims=True` is surely a bug; a
  # tracer (event_ndims passed through `jit` un-static) fails here too.
  is_int = isinstance(event_ndims, (int, np.integer)) and not isinstance(
      event_ndims, (bool, np.bool_)
  )
  if not is_int or not 0 <= event_ndims <= ref.ndim:
    raise ValueError(
        f"{fn_name}: event_ndims must be a static int with 0 <= "
        f"event_ndims <= {ref.ndim} for {ref_name} of shape "
        f"{ref.shape}, got event_ndims={event_ndims!r}"
    )
  return tuple(out)


def _sum_event(x: jax.Array, event_ndims: int) -> jax.Array:
  """Sums over the last `event_ndims` axes (identity for 0)."""
  return jnp.sum(x, axis=tuple(range(x.ndim - event_ndims, x.ndim)))


def _mean_event(x: jax.Array, event_ndims: int) -> jax.Array:
  """Averages over the last `event_ndims` axes (identity for 0)."""
  return jnp.mean(x, axis=tuple(range(x.ndim - event_ndims, x.ndim)))


# ---------------------------------------------------------------------------
# Reconstruction losses.
# ---------------------------------------------------------------------------


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
    axes).

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
  # (t - m)^2 / var written as (t - m)^2 * exp(-lv), i.e. times the
  # precision: equal in value, and lv enters only through exp, with no
  # clamping, so its gradient is exact for lv in [-50, 50].
  elementwise = -0.5 * (
      _LOG_2PI
      + log_variance
      + jnp.square(targets - mean) * jnp.exp(-log_variance)
  )
  # `log_variance` may have broadcast a smaller shape; make the summed array
  # `mean`'s shape so that the event axes line up.
  elementwise = jnp.broadcast_to(elementwise, mean.shape)
  return _sum_event(elementwise, event_ndims)


# ---------------------------------------------------------------------------
# KL divergences.
# ---------------------------------------------------------------------------


def standard_normal_kl(
    mean: jax.typing.ArrayLike,
    log_variance: jax.typing.ArrayLike,
    *,
    event_ndims: int = 1,
) -> jax.Array:
  """KL from a diagonal Gaussian to the standard normal, in closed form.

  ``KL(N(mean, diag(exp(log_variance))) || N(0, I))
  = 0.5 * sum(exp(lv) + mean**2 - 1 - lv)`` over the last `event_ndims`
  axes (Kingma & Welling, 2014, Appendix B). This is the KL term of the
  VAE with a standard-normal prior.

  Args:
    mean: floating array of shape ``[..., latent_shape]``, the encoder mean.
    log_variance: floating array with the same shape as `mean`.
    event_ndims: number of trailing axes to sum over (keyword-only).

  Returns:
    Array of shape ``[...]``, >= 0.

  References:
    Kingma & Welling, `Auto-Encoding Variational Bayes
    <https://arxiv.org/abs/1312.6114>`_, ICLR 2014.
  """
  mean, log_variance = _check_and_cast(
      "standard_normal_kl",
      event_ndims,
      floating=[("mean", mean), ("log_variance", log_variance)],
  )
  # exp(lv) - 1 - lv written as expm1(lv) - lv: same value, but for lv near
  # 0 (inactive / collapsed latent dimensions, where the KL is ~lv**2 / 2)
  # `exp(lv) - 1` loses all relative precision to cancellation and expm1
  # does not. exp is applied directly, without clamping lv.
  elementwise = 0.5 * (
      jnp.expm1(log_variance) - log_variance + jnp.square(mean)
  )
  return _sum_event(elementwise, event_ndims)


def gaussian_kl(
    mean: jax.typing.ArrayLike,
    log_variance: jax.typing.ArrayLike,
    prior_mean: jax.typing.ArrayLike,
    prior_log_variance: jax.typing.ArrayLike,
    *,
    event_ndims: int = 1,
) -> jax.Array:
  """KL between two diagonal Gaussians, ``KL(q || p)``, in closed form.

  With ``q = N(mean, exp(log_variance))`` and
  ``p = N(prior_mean, exp(prior_log_variance))``, per dimension

  ``0.5 * (lv_p - lv_q + (exp(lv_q) + (m_q - m_p)**2) / exp(lv_p) - 1)``

  summed over the last `event_ndims` axes. Used for learned or conditional
  priors (e.g. the ladder / hierarchical VAE); with ``prior_mean =
  prior_log_variance = 0`` it equals :func:`standard_normal_kl`.

  Args:
    mean: floating array of shape ``[..., latent_shape]``, mean of ``q``.
    log_variance: floating array with the same shape as `mean`.
    prior_mean: real array whose shape broadcasts to `mean`'s (a scalar is
      fine), mean of ``p``; cast to `mean`'s dtype.
    prior_log_variance: real array whose shape broadcasts to `mean`'s,
      log-variance of ``p``; cast to `mean`'s dtype.
    event_ndims: number of trailing axes to sum over (keyword-only).

  Returns:
    Array of shape ``[...]``, >= 0 and exactly 0 when ``q == p``.
  """
  mean, log_variance, prior_mean, prior_log_variance = _check_and_cast(
      "gaussian_kl",
      event_ndims,
      floating=[("mean", mean), ("log_variance", log_variance)],
      cast=[
          ("prior_mean", prior_mean),
          ("prior_log_variance", prior_log_variance),
      ],
      broadcast=["prior_mean", "prior_log_variance"],
  )
  log_ratio = log_variance - prior_log_variance  # log(var_q / var_p)
  # var_q / var_p as exp(lv_q - lv_p), not exp(lv_q) * exp(-lv_p), so that
  # large log-variances of equal sign cannot overflow to inf * 0; expm1 for
  # the same cancellation reason as in `standard_normal_kl`. Both make the
  # KL exactly 0 when q == p.
  elementwise = 0.5 * (
      jnp.expm1(log_ratio)
      - log_ratio
      + jnp.square(mean - prior_mean) * jnp.exp(-prior_log_variance)
  )
  elementwise = jnp.broadcast_to(elementwise, mean.shape)
  return _sum_event(elementwise, event_ndims)


# ---------------------------------------------------------------------------
# Evidence lower bound.
# ---------------------------------------------------------------------------


class ELBO(NamedTuple):
  """Per-example evidence lower bound and its two terms.

  Attributes:
    elbo: ``log_likelihood - beta * kl``, shape ``[...]``; maximise it
      (minimise ``-elbo.mean()``).
    log_likelihood: the reconstruction term as passed in, shape ``[...]``.
    kl: the KL term as passed in (unweighted by beta), shape ``[...]``.
  """

  elbo: jax.Array
  log_likelihood: jax.Array
  kl: jax.Array


def elbo(
    log_likelihood: jax.typing.ArrayLike,
    kl: jax.typing.ArrayLike,
    *,
    beta: chex.Numeric = 1.0,
) -> ELBO:
  """Combines per-example reconstruction and KL terms into the (beta-)ELBO.

  ``elbo = log_likelihood - beta * kl``, per example. With ``beta = 1`` this
  is the VAE evidence lower bound (Kingma & Welling, 2014); ``beta != 1``
  gives the beta-VAE objective (Higgins et al., 2017), ``beta = 0`` a
  (stochastic) autoencoder.

  Args:
    log_likelihood: floating array of shape ``[...]``, e.g. from
      :func:`bernoulli_log_likelihood` with the matching `event_ndims`.
    kl: floating array with the same shape, e.g. from
      :func:`standard_normal_kl`. Shapes must match exactly (``[B]`` vs
      ``[B, 1]`` would silently broadcast to ``[B, B]``).
    beta: non-negative weight of the KL term (keyword-only). A concrete
      Python/NumPy value is checked to be >= 0; a traced value (e.g. under
      `jax.vmap` to sweep beta, or a warm-up schedule inside `jit`) is used
      unchecked. Any shape broadcastable to `kl`'s is allowed.

  Returns:
    An :class:`ELBO` with fields ``elbo``, ``log_likelihood`` and ``kl``,
    each of shape ``[...]``.

  Raises:
    ValueError: if a concrete `beta` is negative (or NaN), or the shapes of
      `log_likelihood` and `kl` differ.

  References:
    Kingma & Welling, `Auto-Encoding Variational Bayes
    <https://arxiv.org/abs/1312.6114>`_, ICLR 2014.

    Higgins et al., `beta-VAE: Learning Basic Visual Concepts with a
    Constrained Variational Framework
    <https://openreview.net/forum?id=Sy2fzU9gl>`_, ICLR 2017.
  """
  log_likelihood, kl = _check_and_cast(
      "elbo",
      0,  # elementwise: any per-example shape is fine
      floating=[("log_likelihood", log_likelihood), ("kl", kl)],
  )
  # Only host values are checked: a jax.Array might be a tracer, and even a
  # concrete one would need a device-to-host sync.
  if isinstance(beta, (int, float, np.number, np.ndarray)):
    # `not all(beta >= 0)` also rejects NaN.
    if not np.all(np.asarray(beta) >= 0):
      raise ValueError(f"elbo: beta must be >= 0, got beta={beta!r}")
  return ELBO(
      elbo=log_likelihood - beta * kl,
      log_likelihood=log_likelihood,
      kl=kl,
  )
