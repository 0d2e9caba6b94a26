"""Closed-form Gaussian KL divergences, the (beta-)ELBO that combines a
reconstruction term with a KL, and the importance-weighted (IWAE) bound.

Conventions (per-example outputs, sign, checks): see `ae_jax.losses`.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ae_jax.losses._checks import _check_and_cast
from ae_jax.losses._checks import _check_weight
from ae_jax.losses._checks import _scaled_square
from ae_jax.losses._checks import _sum_event

__all__ = [
    "ELBO",
    "ciwae_bound",
    "elbo",
    "gaussian_kl",
    "iwae_bound",
    "miwae_bound",
    "standard_normal_kl",
]


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
    ValueError: if a concrete `beta` is negative, inf or NaN, `beta`'s shape
      does not broadcast to `kl`'s, or the shapes of `log_likelihood` and
      `kl` differ.
    TypeError: if `beta` is not a real number.

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
  # A Python beta stays weakly typed (a bfloat16 kl stays bfloat16).
  checked = _check_weight(
      "elbo",
      "beta",
      beta,
      shape=kl.shape,
      hint="it weights the KL term (1 for the VAE, 0 for an autoencoder)",
  )
  beta = beta if isinstance(beta, (int, float)) else checked
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


def miwae_bound(log_weights: jax.typing.ArrayLike) -> jax.Array:
  """The MIWAE bound: the mean of M independent K-sample IWAE bounds.

  ``(1/M) sum_m L_K(log w_{m,1..K})`` from ``log_weights`` ``[M, K, ...]``
  (Rainforth et al., 2018, "Tighter Variational Bounds are Not Necessarily
  Better", ICML, Eq. 5). ``M = 1`` is the IWAE bound, ``K = 1`` the
  M-sample average ELBO; for a fixed budget M K, a larger M gives the
  inference network gradients with a higher signal-to-noise ratio.

  Returns:
    ``log_weights.shape[2:]``, to maximise.
  """
  (log_weights,) = _check_and_cast(
      "miwae_bound", 0, floating=[("log_weights", log_weights)]
  )
  if log_weights.ndim < 2 or 0 in log_weights.shape[:2]:
    raise ValueError(
        "miwae_bound: log_weights must have shape [M, K, B] (M >= 1 groups "
        f"of K >= 1 samples on the leading axes), got {log_weights.shape}"
    )
  return jnp.mean(jax.vmap(iwae_bound)(log_weights), axis=0)


def ciwae_bound(log_weights: jax.typing.ArrayLike, *, beta) -> jax.Array:
  """The CIWAE bound ``beta * ELBO + (1 - beta) * IWAE`` from ``[K, ...]``
  log weights (Rainforth et al., 2018, Eq. 6), ``beta`` in [0, 1]: the
  ELBO's average of the same K log weights and their IWAE bound."""
  (log_weights,) = _check_and_cast(
      "ciwae_bound", 0, floating=[("log_weights", log_weights)]
  )
  if log_weights.ndim < 1:
    raise ValueError(
        "ciwae_bound: log_weights must have a leading sample axis [K, ...], "
        f"got shape {log_weights.shape}"
    )
  checked = _check_weight(
      "ciwae_bound",
      "beta",
      beta,
      shape=log_weights.shape[1:],
      upper=1.0,
      hint="it mixes the ELBO (1) and the IWAE bound (0)",
  )
  beta = beta if isinstance(beta, (int, float)) else checked
  return beta * jnp.mean(log_weights, axis=0) + (1 - beta) * iwae_bound(
      log_weights
  )
