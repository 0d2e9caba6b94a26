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

* **Sign.** Functions named ``*_log_likelihood``, ``elbo`` and
  ``iwae_bound`` return quantities to *maximise*; ``squared_error``,
  ``mean_squared_error``, ``binary_cross_entropy``, the KLs and the
  generative-model objectives (``mmd``, ``discriminator_loss``,
  ``generator_loss``, ``capacity_kl``, ``total_correlation_from_logits``)
  return quantities to *minimise* (KLs are >= 0).

* **Batch statistics.** ``mmd`` compares two sets of samples and returns one
  scalar for the batch (see its docstring for fitting it into a ``[B]``
  objective); ``iwae_bound`` reduces over its leading axis of K importance
  samples, not over the batch.

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
  encoder output; ``exp`` is applied directly (no clamping or softplus), so
  values and gradients are exact. In float32 they are finite wherever the
  exact result is representable, over these domains: a likelihood's (or a
  prior's) log-variance may be any finite number (at ``targets == mean`` the
  log-density is finite even for variances far below float32's smallest,
  ``exp(-103.3)``; elsewhere it is exact, or ``-inf`` once the exact value
  overflows, never NaN); a KL's ``log_variance`` (``gaussian_kl``:
  ``log_variance - prior_log_variance``) ``<= 88``, beyond which the KL,
  about ``exp(lv) / 2``, itself overflows. Losses of logits are finite for
  all finite logits (tested at +/-1e4); ``mmd`` for samples of any finite
  magnitude, with finite gradients up to about 1e30 (tested at +/-1e20).
  ``tests/test_losses_properties.py`` checks these domains with hypothesis.
"""

from collections.abc import Sequence
import functools
import math
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "ELBO",
    "bernoulli_log_likelihood",
    "binary_cross_entropy",
    "capacity_kl",
    "capacity_schedule",
    "discriminator_loss",
    "elbo",
    "gaussian_kl",
    "gaussian_log_likelihood",
    "generator_loss",
    "iwae_bound",
    "mean_squared_error",
    "mmd",
    "permute_dims",
    "squared_error",
    "standard_normal_kl",
    "total_correlation_from_logits",
]

_LOG_2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------
# Private helpers.
# ---------------------------------------------------------------------------


def _as_array(fn_name: str, name: str, value) -> jax.Array:
  """``value`` as a JAX array; strings and objects get a named TypeError.

  (`jnp.asarray` would fail on them with a message naming neither the loss
  nor the argument.)
  """
  if not isinstance(value, jax.Array):
    host = np.asarray(value)
    if host.dtype.kind not in "biufc":
      raise TypeError(
          f"{fn_name}: {name} must be a numeric array, got dtype "
          f"{host.dtype}; convert it, e.g. np.asarray({name}, np.float32)"
      )
    value = host
  return jnp.asarray(value)


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
    x = _as_array(fn_name, name, value)
    if not jnp.issubdtype(x.dtype, jnp.floating):
      raise TypeError(
          f"{fn_name}: {name} must be floating point, got dtype "
          f"{x.dtype}; cast it first, e.g. {name}.astype(jnp.float32)"
      )
    out.append(x)
  ref_name, ref = floating[0][0], out[0]
  for name, value in cast:
    x = _as_array(fn_name, name, value)
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


def _scaled_square(diff: jax.Array, log_variance: jax.Array) -> jax.Array:
  """``diff**2 / exp(log_variance)``, exact (or +inf, never NaN) at any lv.

  The precision ``exp(-lv)`` overflows float32 once ``lv < -88.7``
  (variances below 3e-39, which float32 still holds as subnormals), and
  ``diff**2 * exp(-lv)`` was then ``0 * inf = NaN`` at ``diff == 0``. So:

  * the difference is scaled by the inverse standard deviation before it is
    squared, in two factors ``s = exp(-lv / 4)``: ``((diff * s) * s)**2``.
    ``s`` overflows only for ``lv < -354.9``, where the exact value is
    itself beyond float32 for every non-zero float32 difference (at least
    ``1e-45**2 * exp(354.9)``), so ``inf`` is the right answer there;
  * where ``diff == 0`` the exact value is 0 at every variance: lv is
    replaced by 0 there *before* the exp. Masking only the output would
    leave ``0 * inf = NaN`` in the gradient.

  The value (and each gradient) is then finite wherever its exact value is
  representable, for every finite lv.

  Args:
    diff: floating array, e.g. ``targets - mean``.
    log_variance: floating array broadcastable against `diff`.

  Returns:
    The broadcast elementwise ``diff**2 * exp(-log_variance)``.
  """
  log_variance = jnp.where(diff == 0, 0.0, log_variance)
  scale = jnp.exp(-0.25 * log_variance)
  return jnp.square((diff * scale) * scale)


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
    Array of shape ``[...]``, >= 0. Finite, with a finite gradient, for any
    `mean` with ``|mean| < 1e19`` and ``log_variance <= 88`` (beyond, the
    exact KL overflows float32); very negative log-variances are fine.

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
    Array of shape ``[...]``, >= 0 and exactly 0 when ``q == p``. Finite,
    with a finite gradient, wherever the exact KL is representable, for
    any finite `prior_log_variance` and ``log_variance -
    prior_log_variance <= 88``: e.g. exactly 0 for ``q == p`` at any such
    log-variance.
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
      + _scaled_square(mean - prior_mean, prior_log_variance)
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
    beta: jax.typing.ArrayLike = 1.0,
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
      value (Python, NumPy or jax.Array) is checked to be finite and >= 0; a
      traced value
      (e.g. under `jax.vmap` to sweep beta, or a warm-up schedule inside
      `jit`) is used unchecked. Any shape broadcastable to `kl`'s is allowed.

  Returns:
    An :class:`ELBO` with fields ``elbo``, ``log_likelihood`` and ``kl``,
    each of shape ``[...]``.

  Raises:
    ValueError: if a concrete `beta` is negative, inf or NaN, or the shapes of
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
  # Concrete values are checked; a tracer (vmapped sweeps, schedules inside
  # jit) cannot be. A concrete jax.Array costs one small device-to-host copy.
  host = None
  if isinstance(beta, (int, float, np.number, np.ndarray)):
    host = np.asarray(beta, np.float64)
  elif isinstance(beta, jax.Array):
    try:
      host = np.asarray(beta, np.float64)
    except jax.errors.TracerArrayConversionError:
      pass
  if host is not None:
    # `not all(beta >= 0)` also rejects NaN; beta = inf would make every
    # ELBO -inf (or NaN where kl == 0) and train to NaN.
    if not np.all((host >= 0) & np.isfinite(host)):
      raise ValueError(
          f"elbo: beta must be a finite number >= 0, got beta={beta!r}; it "
          "weights the KL term (1 for the VAE, 0 for an autoencoder)"
      )
  return ELBO(
      elbo=log_likelihood - beta * kl,
      log_likelihood=log_likelihood,
      kl=kl,
  )


# ---------------------------------------------------------------------------
# Importance-weighted bound.
# ---------------------------------------------------------------------------


def iwae_bound(log_weights: jax.typing.ArrayLike) -> jax.Array:
  """Importance-weighted lower bound on ``log p(x)`` from K log weights.

  ``L_K = log (1/K) sum_k w_k = logsumexp_k(log w_k) - log K`` with
  ``log w_k = log p(x, z_k) - log q(z_k | x)`` for ``z_k ~ q(z | x)``
  (Burda et al., 2015, Eq. 8). ``E[L_K] <= log p(x)``, non-decreasing in K
  and converging to ``log p(x)``; ``K = 1`` is the one-sample ELBO.

  The log weights are typically built from the other functions here, all
  ``[K, B]`` for codes ``z`` of shape ``[K, B, D]`` and decoder logits
  ``[K, B, 784]`` (see the module conventions)::

    log_w = (
        bernoulli_log_likelihood(logits, jnp.broadcast_to(x, logits.shape))
        + gaussian_log_likelihood(jnp.zeros_like(z), 0.0, z)  # log p(z_k)
        - gaussian_log_likelihood(  # log q(z_k | x)
            jnp.broadcast_to(mean, z.shape), log_variance, z
        )
    )

  with ``x`` ``[B, 784]`` and the encoder's ``mean``, ``log_variance``
  ``[B, D]``.

  The log-sum-exp subtracts the maximum first, so the result is exact for
  log weights of any magnitude (e.g. -1e4, where ``exp`` underflows, or
  1e3, where it overflows); the gradient is the self-normalised importance
  weights ``softmax_k(log w_k)`` times the gradient of each log weight.

  Args:
    log_weights: floating array of shape ``[K, B]`` (more generally
      ``[K, ...]``), the K importance samples on the *leading* axis. A
      single example ``[K]`` (e.g. under `jax.vmap` over B) gives a scalar.

  Returns:
    Array of shape ``[B]`` (``log_weights.shape[1:]``), to maximise.

  Raises:
    TypeError: if `log_weights` is not floating point.
    ValueError: if `log_weights` is a scalar or has ``K = 0`` samples.

  References:
    Burda, Grosse & Salakhutdinov, `Importance Weighted Autoencoders
    <https://arxiv.org/abs/1509.00519>`_, ICLR 2016.
  """
  (log_weights,) = _check_and_cast(
      "iwae_bound", 0, floating=[("log_weights", log_weights)]
  )
  if log_weights.ndim < 1 or log_weights.shape[0] < 1:
    raise ValueError(
        "iwae_bound: log_weights must have shape [K, B] (K >= 1 importance "
        f"samples on the leading axis), got shape {log_weights.shape}; for "
        "a single sample use log_weights[None]"
    )
  num_samples = log_weights.shape[0]
  return jax.nn.logsumexp(log_weights, axis=0) - math.log(num_samples)


# ---------------------------------------------------------------------------
# Maximum mean discrepancy.
# ---------------------------------------------------------------------------

# Relative kernel widths ``c`` of the WAE reference code (Tolstikhin et al.,
# github.com/tolstikhin/wae, `wae.py`, `mmd_penalty`): an IMQ kernel with
# ``C = 2 * D * c`` for each c (a unit-variance prior), summed.
_MMD_RELATIVE_WIDTHS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
_MMD_KERNELS = ("imq", "rbf")


def _check_scales(scales) -> tuple[float, ...]:
  """Checks static, positive, finite kernel scales; returns them as floats."""
  fix = (
      "pass a non-empty tuple of positive Python floats, e.g. "
      "scales=(0.5, 1.0, 2.0), or scales=None for the default"
  )
  if isinstance(scales, (numbers.Real, np.number, str)) or not isinstance(
      scales, (Sequence, np.ndarray)
  ):
    raise TypeError(f"mmd: scales must be a sequence, got {scales!r}; {fix}")
  values = []
  for s in scales:
    if isinstance(s, (bool, np.bool_)) or not isinstance(
        s, (numbers.Real, np.number)
    ):
      raise TypeError(
          f"mmd: scales must be static Python/NumPy numbers, got {s!r} of "
          f"type {type(s).__name__}; {fix}"
      )
    values.append(float(s))
  # `not s > 0` also rejects NaN.
  if not values or not all(s > 0 and math.isfinite(s) for s in values):
    raise ValueError(f"mmd: invalid scales={scales!r}; {fix}")
  return tuple(values)


def _row_scales(a: jax.Array) -> jax.Array:
  """``[N, D] -> [N]``: per row a power of two ``m >= 1``, ``|a| / m < 2``.

  1 for rows within ``(-2, 2)``. Distances do not depend on it, so no
  gradient flows through it.
  """
  # max |a| = mantissa * 2**exponent with the mantissa in [0.5, 1).
  _, exponent = jnp.frexp(jnp.max(jnp.abs(a), axis=-1))
  scale = jnp.ldexp(jnp.ones((), a.dtype), jnp.maximum(exponent - 1, 0))
  return jax.lax.stop_gradient(scale)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _squared_distances(a: jax.Array, b: jax.Array, same: bool) -> jax.Array:
  """``[N, D], [M, D] -> [N, M]`` squared Euclidean distances.

  ``||a||^2 + ||b||^2 - 2 a.b`` costs one matmul and O(N M) memory, against
  O(N M D) for the differences (a 784-pixel MMD of 1,000 images would need
  3 GB). Its cancellation error (~eps * ||a||^2) is harmless for latent
  codes, but only if the matmul is not run in reduced precision (TF32 on
  GPU, bfloat16 passes on TPU): hence HIGHEST.

  Rows beyond ~1e19 (a diverging encoder) made ``||a||^2`` overflow and the
  distance ``inf - inf = NaN``. So each row is divided by its power of two
  (`_row_scales`, exact), and each pair's terms are brought to the larger
  of its two scales ``m`` (again by powers of two) before ``d2 * m * m``:
  a distance is exact (to the expansion's rounding) or inf, never NaN; it
  depends on its two rows only, so rows below ~1e19 give the same bits as
  without the scaling, however far away another row is. The gradient is
  the custom JVP below.
  """
  scale_a = _row_scales(a)
  scale_b = scale_a if same else _row_scales(b)
  a, b = a / scale_a[:, None], b / scale_b[:, None]
  dots = jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST)
  sq_a = jnp.sum(jnp.square(a), axis=-1)
  sq_b = jnp.sum(jnp.square(b), axis=-1)
  pair_scale = jnp.maximum(scale_a[:, None], scale_b[None, :])
  ratio_a = scale_a[:, None] / pair_scale  # Powers of two <= 1.
  ratio_b = scale_b[None, :] / pair_scale
  d2 = (
      sq_a[:, None] * (ratio_a * ratio_a)
      + sq_b[None, :] * (ratio_b * ratio_b)
      - 2.0 * dots * (ratio_a * ratio_b)
  )
  # Rounding can make it slightly negative: clamp at 0. Then exact (powers
  # of two), or inf once the distance is beyond float32; never inf * 0.
  d2 = (jnp.maximum(d2, 0.0) * pair_scale) * pair_scale
  if same:
    # A point's distance to itself is exactly 0, so that k(a, a) is exactly
    # the kernel's maximum in the biased estimate.
    d2 = jnp.where(jnp.eye(a.shape[0], dtype=bool), 0.0, d2)
  return d2


@_squared_distances.defjvp
def _squared_distances_jvp(same, primals, tangents):
  # d||a_i - b_j||^2 = 2 (a_i - b_j).(da_i - db_j), expanded like the value
  # (two matmuls). Autodiff of the scaled value would multiply the
  # cotangent by scale**2 (inf for rows beyond ~1e19) before the
  # cancellation that makes the gradient finite; this form never forms it.
  a, b = primals
  da, db = tangents
  highest = jax.lax.Precision.HIGHEST
  tangent = 2.0 * (
      jnp.sum(a * da, axis=-1)[:, None]
      + jnp.sum(b * db, axis=-1)[None, :]
      - jnp.matmul(a, db.T, precision=highest)
      - jnp.matmul(da, b.T, precision=highest)
  )
  if same:
    tangent = jnp.where(jnp.eye(a.shape[0], dtype=bool), 0.0, tangent)
  return _squared_distances(a, b, same), tangent


def mmd(
    x: jax.typing.ArrayLike,
    y: jax.typing.ArrayLike,
    *,
    kernel: str = "imq",
    scales: Sequence[float] | None = None,
    unbiased: bool = True,
) -> jax.Array:
  """Squared maximum mean discrepancy between two samples (a batch scalar).

  ``MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y)`` (Gretton et al., 2012),
  estimated from ``x_1..x_N ~ P`` and ``y_1..y_M ~ Q``:

  * ``unbiased=True``: the U-statistic (Gretton et al., 2012, Eq. 3),
    ``sum_{i != j} k(x_i, x_j) / (N (N-1)) + sum_{i != j} k(y_i, y_j) /
    (M (M-1)) - 2 sum_{i, j} k(x_i, y_j) / (N M)``. Its expectation is the
    population MMD^2, so it averages 0 when ``P == Q`` and single estimates
    can be negative. This is WAE's penalty (Tolstikhin et al., 2018,
    Algorithm 2) with ``x`` the encoder codes and ``y`` prior samples.
  * ``unbiased=False``: the V-statistic (Eq. 5), the same with the diagonal
    terms ``k(x_i, x_i)``, ``k(y_i, y_i)`` kept and ``N^2``, ``M^2`` as
    denominators: the squared distance between the empirical kernel mean
    embeddings, so always >= 0, but biased upwards (by ``O(1/N)``). InfoVAE
    (Zhao et al., 2017) uses this form.

  Kernels, for a scale ``s`` and ``d2 = ||a - b||^2``:

  * ``"imq"``: inverse multiquadric ``C / (C + d2)``, ``C = 2 D s^2``
    (Tolstikhin et al., 2018, Sec. 4, where ``s^2`` is the prior's
    variance). Its heavy tails keep gradients alive for distant points.
  * ``"rbf"``: Gaussian ``exp(-d2 / (2 s^2))``.

  The kernels for all `scales` are summed (a sum of characteristic kernels
  is characteristic), which removes most of the sensitivity to one width.

  **Batch statistic.** The result is a scalar for the whole batch, not
  per-example: it compares two *sets* of points, and no single term
  belongs to one example. To fit the ``[B]`` convention of a model's
  objective, broadcast it, e.g. ``jnp.broadcast_to(mmd(z, z_prior), (B,))``;
  the batch mean then equals the penalty, and so does its gradient.
  `jax.vmap` over a leading axis of both samples gives one MMD per set.

  Args:
    x: floating array of shape ``[N, D]`` (e.g. codes ``z ~ q(z)``).
    y: real array of shape ``[M, D]`` (e.g. prior samples), cast to `x`'s
      dtype. N and M may differ.
    kernel: ``"imq"`` (default) or ``"rbf"`` (keyword-only).
    scales: non-empty sequence of positive static floats ``s``, one kernel
      per value, summed (keyword-only). ``None`` (default) uses the
      relative widths ``c in (0.1, 0.2, 0.5, 1, 2, 5, 10)`` of the WAE
      reference code: for ``"imq"``, ``s = sqrt(c)``, i.e. ``C = 2 D c``,
      exactly WAE's multi-scale IMQ for a unit-variance prior; for
      ``"rbf"``, ``s = sqrt(D c)``, i.e. ``exp(-d2 / (2 D c))``, the same
      widths relative to ``E d2 = 2 D`` between two independent draws of a
      unit-variance distribution. Pass explicit scales for data of another
      spread.
    unbiased: U-statistic (default) or V-statistic (keyword-only, static).

  Returns:
    A scalar of `x`'s dtype; minimise it to match ``P`` to ``Q``. Finite
    for samples of any finite magnitude: a diverged code (say 1e20) is at
    distance inf (kernel 0) from the others and leaves their distances
    unchanged. Gradients are finite for samples up to about 1e30.

  Raises:
    ValueError: for an unknown `kernel`, arrays that are not 2-D, different
      D, fewer than 2 samples in either set with ``unbiased=True`` (fewer
      than 1 otherwise), or non-positive `scales`.
    TypeError: if `x` is not floating, `y` not real, or `scales` not a
      sequence of static numbers.

  References:
    Gretton, Borgwardt, Rasch, Schoelkopf & Smola, `A Kernel Two-Sample Test
    <https://jmlr.org/papers/v13/gretton12a.html>`_, JMLR 2012.

    Zhao, Song & Ermon, `InfoVAE: Information Maximizing Variational
    Autoencoders <https://arxiv.org/abs/1706.02262>`_, 2017.

    Tolstikhin, Bousquet, Gelly & Schoelkopf, `Wasserstein Auto-Encoders
    <https://arxiv.org/abs/1711.01558>`_, ICLR 2018.
  """
  if kernel not in _MMD_KERNELS:
    raise ValueError(
        f"mmd: unknown kernel={kernel!r}; use one of {_MMD_KERNELS}"
    )
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(
        f"mmd: x must be floating point, got dtype {x.dtype}; cast it "
        "first, e.g. x.astype(jnp.float32)"
    )
  y = jnp.asarray(y)
  if not (
      jnp.issubdtype(y.dtype, jnp.floating)
      or jnp.issubdtype(y.dtype, jnp.integer)
      or jnp.issubdtype(y.dtype, jnp.bool_)
  ):
    raise TypeError(
        f"mmd: y must have a real dtype (bool, int or float), got {y.dtype}"
    )
  y = y.astype(x.dtype)
  if x.ndim != 2 or y.ndim != 2:
    raise ValueError(
        f"mmd: x and y must be 2-D [N, D] and [M, D], got shapes {x.shape} "
        f"and {y.shape}; flatten the event axes, e.g. "
        "x.reshape(x.shape[0], -1)"
    )
  if x.shape[1] != y.shape[1]:
    raise ValueError(
        f"mmd: x shape {x.shape} and y shape {y.shape} have different "
        "dimensions D; both samples must live in the same space"
    )
  min_samples = 2 if unbiased else 1
  if min(x.shape[0], y.shape[0]) < min_samples:
    raise ValueError(
        f"mmd: unbiased={unbiased} needs at least {min_samples} samples in "
        f"each of x and y, got shapes {x.shape} and {y.shape}; use larger "
        "batches" + (" or unbiased=False" if unbiased else "")
    )
  dim = x.shape[1]
  if scales is None:
    per_dim = 1.0 if kernel == "imq" else float(dim)
    scales = tuple(math.sqrt(per_dim * c) for c in _MMD_RELATIVE_WIDTHS)
  scales = _check_scales(scales)

  def kernel_sum(d2):
    out = jnp.zeros_like(d2)
    for s in scales:
      if kernel == "imq":
        c = 2.0 * dim * s * s
        out = out + c / (c + d2)
      else:
        out = out + jnp.exp(d2 * (-0.5 / (s * s)))
    return out

  def within_mean(a):
    k = kernel_sum(_squared_distances(a, a, same=True))
    n = a.shape[0]
    if unbiased:
      # Mask rather than subtract the diagonal: when the off-diagonal
      # kernels are tiny, sum(k) - trace(k) would cancel catastrophically.
      k = jnp.where(jnp.eye(n, dtype=bool), 0.0, k)
      return jnp.sum(k) / (n * (n - 1))
    return jnp.sum(k) / (n * n)

  cross = jnp.mean(kernel_sum(_squared_distances(x, y, same=False)))
  return within_mean(x) + within_mean(y) - 2.0 * cross


# ---------------------------------------------------------------------------
# Adversarial prior matching.
# ---------------------------------------------------------------------------


def discriminator_loss(
    real_logits: jax.typing.ArrayLike, fake_logits: jax.typing.ArrayLike
) -> jax.Array:
  """GAN discriminator loss from logits, per example pair.

  ``-log D(real) - log(1 - D(fake))`` with ``D = sigmoid(logit)``, the
  negative of the discriminator's objective in Goodfellow et al. (2014,
  Eq. 1): the binary cross-entropy of labelling real samples 1 and fake
  samples 0. In the adversarial autoencoder (Makhzani et al., 2015) the
  "real" samples are draws from the prior ``p(z)`` and the "fake" ones are
  the encoder's codes ``q(z | x)``; in FactorVAE (Kim & Mnih, 2018) they are
  codes and :func:`permute_dims` of codes.

  **Pairing.** Both batches must have the same shape, and element ``i`` of
  the result is ``-log D(real_i) - log(1 - D(fake_i))``, so its batch mean
  is the usual loss ``E_real[-log D] + E_fake[-log(1 - D)]``. For batches
  of different sizes take the two means separately:
  ``binary_cross_entropy(real, jnp.ones_like(real), event_ndims=0).mean() +
  binary_cross_entropy(fake, jnp.zeros_like(fake), event_ndims=0).mean()``.

  Computed as ``-log_sigmoid(real) - log_sigmoid(-fake)``: exact and finite
  for saturated logits (+/-1e4), unlike ``log(sigmoid(.))``.

  Args:
    real_logits: floating array of discriminator logits on real samples,
      shape ``[B]`` (elementwise: any shape; squeeze a ``Dense(1)`` output
      ``[B, 1]`` with ``[..., 0]``).
    fake_logits: floating array of logits on fake samples, same shape.

  Returns:
    Array of `real_logits`' shape, >= 0; minimise it w.r.t. the
    discriminator's parameters only.

  Raises:
    ValueError: if the shapes differ.
    TypeError: if either is not floating point.

  References:
    Goodfellow et al., `Generative Adversarial Nets
    <https://arxiv.org/abs/1406.2661>`_, NeurIPS 2014.

    Makhzani, Shlens, Jaitly, Goodfellow & Frey, `Adversarial Autoencoders
    <https://arxiv.org/abs/1511.05644>`_, 2015.
  """
  real_logits, fake_logits = _check_and_cast(
      "discriminator_loss",
      0,
      floating=[("real_logits", real_logits), ("fake_logits", fake_logits)],
  )
  # log(1 - sigmoid(l)) == log_sigmoid(-l), see `bernoulli_log_likelihood`.
  return -jax.nn.log_sigmoid(real_logits) - jax.nn.log_sigmoid(-fake_logits)


def generator_loss(fake_logits: jax.typing.ArrayLike) -> jax.Array:
  """Non-saturating generator loss ``-log D(fake)`` from logits, per example.

  Goodfellow et al. (2014, Sec. 3) replace minimising ``log(1 - D(G(z)))``,
  whose gradient vanishes while the discriminator confidently rejects the
  fakes, by minimising ``-log D(G(z))``. In the adversarial autoencoder the
  "generator" is the encoder, trained to make its codes look like prior
  samples (Makhzani et al., 2015, Sec. 2). The gradient w.r.t. the logit is
  ``-sigmoid(-logit) < 0``: descent pushes the fake logits up, with a
  gradient near -1 (not 0) for confidently rejected fakes.

  Computed as ``-log_sigmoid(fake_logits)``: exact and finite at +/-1e4.

  Args:
    fake_logits: floating array of discriminator logits on generated
      samples, shape ``[B]`` (elementwise: any shape).

  Returns:
    Array of `fake_logits`' shape, >= 0; minimise it w.r.t. the generator's
    (encoder's) parameters only.

  Raises:
    TypeError: if `fake_logits` is not floating point.

  References:
    Goodfellow et al., `Generative Adversarial Nets
    <https://arxiv.org/abs/1406.2661>`_, NeurIPS 2014.

    Makhzani, Shlens, Jaitly, Goodfellow & Frey, `Adversarial Autoencoders
    <https://arxiv.org/abs/1511.05644>`_, 2015.
  """
  (fake_logits,) = _check_and_cast(
      "generator_loss", 0, floating=[("fake_logits", fake_logits)]
  )
  return -jax.nn.log_sigmoid(fake_logits)


# ---------------------------------------------------------------------------
# Controlled-capacity beta-VAE.
# ---------------------------------------------------------------------------


def _check_non_negative(fn_name: str, name: str, value, hint: str) -> None:
  """Checks a concrete host value is >= 0; traced values pass unchecked."""
  # Only host values are checked, as in `elbo`: a jax.Array may be a tracer
  # (e.g. a capacity from `capacity_schedule` inside `jit`).
  if isinstance(value, (numbers.Real, np.number, np.ndarray)):
    # `not all(v >= 0)` also rejects NaN.
    if not np.all(np.asarray(value) >= 0):
      raise ValueError(
          f"{fn_name}: {name} must be >= 0, got {name}={value!r}; {hint}"
      )


def capacity_kl(
    kl: jax.typing.ArrayLike,
    *,
    capacity: jax.typing.ArrayLike,
    gamma: jax.typing.ArrayLike,
) -> jax.Array:
  """Controlled-capacity KL penalty ``gamma * |kl - capacity|``, per example.

  Burgess et al. (2018, Eq. 8) train a beta-VAE with
  ``-log p(x | z) + gamma * |KL(q(z | x) || p(z)) - C|`` where the target
  capacity ``C`` (in nats) grows from 0 during training
  (:func:`capacity_schedule`), so that the latent channel opens gradually
  and factors are encoded one at a time. The paper uses e.g. ``gamma =
  1000`` and C ramping to 25 nats on dSprites.

  The absolute value is written ``d * sign(d)``: the same value, but the
  gradient at ``kl == capacity`` is the subgradient 0 rather than
  ``jnp.abs``'s 1.

  Args:
    kl: floating array of per-example KLs, shape ``[B]`` (elementwise: any
      shape), e.g. from :func:`standard_normal_kl`.
    capacity: target KL ``C >= 0`` in nats (keyword-only); a scalar or an
      array broadcastable to `kl`'s shape, cast to `kl`'s dtype. Concrete
      values are checked to be >= 0; traced ones (a schedule inside `jit`)
      are used unchecked.
    gamma: weight ``gamma >= 0`` (keyword-only), handled likewise.

  Returns:
    Array of `kl`'s shape, >= 0; add it to the reconstruction loss and
    minimise.

  Raises:
    ValueError: if a concrete `capacity` or `gamma` is negative or NaN, or
      either does not broadcast to `kl`'s shape.
    TypeError: if `kl` is not floating point.

  References:
    Burgess, Higgins, Pal, Matthey, Watters, Desjardins & Lerchner,
    `Understanding disentangling in beta-VAE
    <https://arxiv.org/abs/1804.03599>`_, 2018.
  """
  _check_non_negative(
      "capacity_kl", "capacity", capacity, "it is a target KL in nats"
  )
  _check_non_negative(
      "capacity_kl", "gamma", gamma, "it weights the capacity penalty"
  )
  (kl,) = _check_and_cast("capacity_kl", 0, floating=[("kl", kl)])
  for name, value in (("capacity", capacity), ("gamma", gamma)):
    # Shapes are static even for tracers; a [B, 1] capacity against a [B]
    # kl would silently give [B, B].
    try:
      ok = np.broadcast_shapes(jnp.shape(value), kl.shape) == kl.shape
    except ValueError:
      ok = False
    if not ok:
      raise ValueError(
          f"capacity_kl: {name} shape {jnp.shape(value)} does not broadcast "
          f"to kl shape {kl.shape}; pass a scalar or reshape it"
      )
  # Cast like targets elsewhere, so that a float32 schedule does not promote
  # a bfloat16 kl.
  capacity = jnp.asarray(capacity).astype(kl.dtype)
  gamma = jnp.asarray(gamma).astype(kl.dtype)
  diff = kl - capacity
  return gamma * (diff * jnp.sign(diff))


def capacity_schedule(
    step: jax.typing.ArrayLike,
    *,
    max_capacity: jax.typing.ArrayLike,
    num_steps: int,
) -> jax.Array:
  """Linear capacity ramp ``max_capacity * clip(step / num_steps, 0, 1)``.

  The schedule of the target KL ``C`` in :func:`capacity_kl` (Burgess et
  al., 2018, Sec. 5): 0 at step 0, `max_capacity` from step `num_steps` on.
  `step` may be traced (the train state's step counter inside `jit`), so one
  compiled step serves the whole schedule.

  Args:
    step: integer or float step, any shape (usually a scalar); may be
      traced. Negative steps give 0.
    max_capacity: final capacity in nats, >= 0 (keyword-only); checked when
      concrete.
    num_steps: static Python int >= 1, the length of the ramp
      (keyword-only).

  Returns:
    A floating array of `step`'s shape (float32 for an integer step), in
    ``[0, max_capacity]``.

  Raises:
    ValueError: if `num_steps` is not a positive static int or a concrete
      `max_capacity` is negative.
    TypeError: if `step` is not real.

  References:
    Burgess et al., `Understanding disentangling in beta-VAE
    <https://arxiv.org/abs/1804.03599>`_, 2018.
  """
  is_int = isinstance(num_steps, (int, np.integer)) and not isinstance(
      num_steps, (bool, np.bool_)
  )
  if not is_int or num_steps < 1:
    raise ValueError(
        "capacity_schedule: num_steps must be a static Python int >= 1, got "
        f"num_steps={num_steps!r}; close over it (functools.partial) or "
        "mark it static under jit"
    )
  _check_non_negative(
      "capacity_schedule",
      "max_capacity",
      max_capacity,
      "it is the final target KL in nats",
  )
  step = jnp.asarray(step)
  if not (
      jnp.issubdtype(step.dtype, jnp.integer)
      or jnp.issubdtype(step.dtype, jnp.floating)
  ):
    raise TypeError(
        f"capacity_schedule: step must be an int or float, got dtype "
        f"{step.dtype}"
    )
  # True division promotes an integer step to the default float dtype.
  fraction = jnp.clip(step / num_steps, 0.0, 1.0)
  return fraction * max_capacity


# ---------------------------------------------------------------------------
# FactorVAE total correlation.
# ---------------------------------------------------------------------------


def total_correlation_from_logits(
    logits: jax.typing.ArrayLike,
) -> jax.Array:
  """Density-ratio estimate of the total correlation, per example.

  FactorVAE (Kim & Mnih, 2018, Eq. 3) penalises the total correlation
  ``TC(z) = KL(q(z) || prod_j q(z_j)) = E_q(z)[log q(z) / prod_j q(z_j)]``
  of the aggregate posterior, estimated with a discriminator ``D`` trained
  to tell codes ``z ~ q(z)`` (label 1) from :func:`permute_dims` codes,
  samples of ``prod_j q(z_j)`` (label 0). At the optimum
  ``D(z) = q(z) / (q(z) + prod_j q(z_j))``, so

  ``log(D(z) / (1 - D(z))) ~= log q(z) - log prod_j q(z_j)``:

  the estimate for one code is its discriminator **logit**, and TC is the
  batch mean of the result.

  **Sign convention.** The logit must be positive for "looks like a joint
  sample from q(z)", i.e. the discriminator is trained with
  ``discriminator_loss(real_logits=D(z), fake_logits=D(permute_dims(z)))``.
  With a 2-way softmax discriminator (as in Kim & Mnih's Appendix),
  pass ``logits[:, 0] - logits[:, 1]`` with class 0 = "from q(z)". The
  result is a quantity to *minimise*: the VAE loss is
  ``-elbo + gamma * total_correlation_from_logits(D(z))``, differentiated
  w.r.t. the encoder only (the discriminator has its own loss), with e.g.
  ``gamma`` 10 to 40 on dSprites. Per-example values can be negative; only
  their mean estimates TC >= 0.

  Args:
    logits: floating array of discriminator logits on codes ``z ~ q(z | x)``
      (not permuted), shape ``[B]`` (elementwise: any shape; squeeze a
      ``Dense(1)`` output with ``[..., 0]``).

  Returns:
    Array of `logits`' shape: the per-example TC estimate (the logits
    themselves).

  Raises:
    TypeError: if `logits` is not floating point.

  References:
    Kim & Mnih, `Disentangling by Factorising
    <https://arxiv.org/abs/1802.05983>`_, ICML 2018.
  """
  (logits,) = _check_and_cast(
      "total_correlation_from_logits", 0, floating=[("logits", logits)]
  )
  return logits


def permute_dims(
    rng: jax.typing.ArrayLike, z: jax.typing.ArrayLike
) -> jax.Array:
  """Permutes each latent dimension independently across the batch.

  Algorithm 1 of Kim & Mnih (2018): for every dimension ``j``, draw a
  random permutation ``pi_j`` of the batch and set ``z'[i, j] =
  z[pi_j(i), j]``. Every column of the result is a permutation of the same
  column of `z` (the marginals ``q(z_j)`` are preserved exactly), while the
  dependence between dimensions is broken: the rows of ``z'`` are
  (approximately) samples of ``prod_j q(z_j)``, the "fake" samples of
  FactorVAE's discriminator. Kim & Mnih permute a second, independent
  batch of codes; the caller can pass either.

  Jit-able (the shape is static); gradients flow back to `z` through the
  permutation, so wrap `z` in `jax.lax.stop_gradient` when the result only
  trains the discriminator.

  Args:
    rng: a JAX PRNG key (new-style typed or legacy ``uint32[2]``).
    z: array of shape ``[B, D]`` (or ``[B, *latent_shape]``: every index of
      the trailing axes is permuted independently).

  Returns:
    Array of `z`'s shape and dtype; deterministic given `rng`.

  Raises:
    ValueError: if `z` has fewer than 2 axes.

  References:
    Kim & Mnih, `Disentangling by Factorising
    <https://arxiv.org/abs/1802.05983>`_, ICML 2018.
  """
  z = jnp.asarray(z)
  if z.ndim < 2:
    raise ValueError(
        f"permute_dims: z must have shape [B, D], got shape {z.shape}; for "
        "a single latent dimension use z[:, None]"
    )
  # `independent=True` shuffles every column with its own permutation (a
  # sort of each column by its own random keys), all in one op.
  return jax.random.permutation(rng, z, axis=0, independent=True)
