"""Regularisers of the sparse and contractive autoencoders, as pure functions.

Like `ae_jax.losses`, everything here is a plain function of arrays (no Flax,
no state) that works under `jax.jit`, `jax.vmap` and `jax.grad`, and follows
the same conventions: arrays first, hyperparameters keyword-only, per-example
``[B]`` outputs that the caller averages over the batch, and cheap trace-time
shape/dtype checks whose messages name the function, the argument and the fix.

* Sparse autoencoder: an L1 penalty on the code activations
  (:func:`l1_activity`) or the KL sparsity penalty of Ng (2011) on the batch
  mean of sigmoid codes (:func:`kl_sparsity`,
  :func:`kl_sparsity_per_example`).
* Contractive autoencoder (Rifai et al., 2011): the squared Frobenius norm of
  the encoder Jacobian ``dh/dx``, in closed form for one sigmoid layer
  (:func:`sigmoid_layer_jacobian_norm`) or exactly for any batched map
  (:func:`jacobian_frobenius_norm`).
"""

from collections.abc import Callable
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from ae_jax import losses

__all__ = [
    'jacobian_frobenius_norm',
    'kl_sparsity',
    'kl_sparsity_per_example',
    'l1_activity',
    'sigmoid_layer_jacobian_norm',
]

# The shape/dtype/event_ndims checks of the loss library, so that penalties
# and losses fail with the same messages.
_check_and_cast = losses._check_and_cast  # pylint: disable=protected-access


def _as_floating(fn_name: str, name: str, x) -> jax.Array:
  """`x` as a floating jax array; the dtype is checked before JAX sees it,
  so strings and objects fail here, naming the argument, not inside JAX."""
  if not isinstance(x, jax.Array):  # Tracers are jax.Arrays: no host copy.
    x = np.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(
        f'{fn_name}: {name} must be floating point, got dtype {x.dtype}; '
        f'cast it first, e.g. {name}.astype(jnp.float32)'
    )
  return jnp.asarray(x)


# ---------------------------------------------------------------------------
# Sparse autoencoder.
# ---------------------------------------------------------------------------


def l1_activity(
    codes: jax.typing.ArrayLike, *, event_ndims: int = 1
) -> jax.Array:
  """L1 activity penalty: ``sum(|codes|)`` over the event axes.

  The sparsity penalty of the L1-regularised sparse autoencoder (e.g.
  Goodfellow, Bengio & Courville, *Deep Learning*, 2016, Sec. 14.2.1): the
  objective is ``reconstruction + weight * l1_activity(codes)``. The
  gradient is ``sign(codes)``, 0 at an exact zero.

  Args:
    codes: floating array of shape ``[..., *code_shape]``, e.g. ``[B, H]``.
    event_ndims: number of trailing axes to sum over (keyword-only).

  Returns:
    Array of shape ``[...]`` (`codes`' shape without its last `event_ndims`
    axes), >= 0.
  """
  codes = _as_floating('l1_activity', 'codes', codes)
  (codes,) = _check_and_cast(
      'l1_activity', event_ndims, floating=[('codes', codes)]
  )
  axes = tuple(range(codes.ndim - event_ndims, codes.ndim))
  # |c| as c * sign(c): the same value, but the gradient at c == 0 is the
  # subgradient 0 (jnp.abs's is 1), so exactly-zero codes (ReLU) are not
  # pushed negative.
  return jnp.sum(codes * jnp.sign(codes), axis=axes)


def _check_target(fn_name: str, target) -> None:
  """Checks a concrete sparsity target; traced ones are used unchecked."""
  if isinstance(target, (bool, np.bool_)):
    ok = False
  elif isinstance(target, (numbers.Real, np.number, np.ndarray)):
    # `not (0 < t < 1)` also rejects NaN.
    ok = np.ndim(target) == 0 and bool(0.0 < float(target) < 1.0)
  else:
    return  # A jax.Array, possibly a tracer (e.g. a vmapped sweep).
  if not ok:
    raise ValueError(
        f'{fn_name}: the sparsity target (config.sparsity_target) must be a '
        f'scalar in the open interval (0, 1), got target={target!r}'
    )


def kl_sparsity(
    mean_activation: jax.typing.ArrayLike, *, target: float
) -> jax.Array:
  """KL sparsity penalty of the sparse autoencoder, summed over units.

  ``sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)) =
  sum_j rho log(rho / rho_hat_j) + (1-rho) log((1-rho) / (1-rho_hat_j))``

  with ``rho = target`` and ``rho_hat_j`` the average activation of hidden
  unit ``j`` over the batch (Ng, 2011). It is 0 when every
  ``rho_hat_j == rho`` and grows without bound as ``rho_hat_j`` approaches 0
  or 1. The caller computes ``rho_hat = jnp.mean(codes, axis=0)`` from
  sigmoid codes in ``[0, 1]``; see :func:`kl_sparsity_per_example` for a
  per-example ``[B]`` version that does this.

  **Clipping.** ``rho_hat`` is clipped into ``[eps, 1 - eps]`` with
  ``eps = jnp.finfo(dtype).eps`` (1.2e-7 in float32, 7.8e-3 in bfloat16), so
  a dead (exactly 0) or saturated (exactly 1) unit gives a large but finite
  penalty (about ``rho * 15.9`` in float32) instead of ``inf``. Outside that
  interval the gradient is 0, as is a saturated sigmoid's.

  Args:
    mean_activation: floating array of mean activations ``rho_hat`` in
      ``[0, 1]``, shape ``[units]`` or any shape (e.g. ``[H, W, C]`` for
      convolutional codes); every axis is summed over.
    target: the sparsity target ``rho`` in the open interval ``(0, 1)``
      (keyword-only), e.g. 0.05. A concrete Python/NumPy value is checked;
      a traced value (a vmapped sweep) is used unchecked.

  Returns:
    A scalar of `mean_activation`'s dtype, >= 0.

  Raises:
    ValueError: if a concrete `target` is not in ``(0, 1)``.
    TypeError: if `mean_activation` is not floating point.

  References:
    Ng, `Sparse autoencoder
    <https://web.stanford.edu/class/cs294a/sparseAutoencoder_2011new.pdf>`_,
    CS294A lecture notes, 2011.
  """
  _check_target('kl_sparsity', target)
  mean_activation = _as_floating(
      'kl_sparsity', 'mean_activation', mean_activation
  )
  (rho_hat,) = _check_and_cast(
      'kl_sparsity', 0, floating=[('mean_activation', mean_activation)]
  )
  eps = jnp.finfo(rho_hat.dtype).eps
  rho_hat = jnp.clip(rho_hat, eps, 1.0 - eps)
  rho = jnp.asarray(target, rho_hat.dtype)
  # Differences of logs rather than log of ratios: identical in exact
  # arithmetic, and exactly 0 when rho_hat == rho. log1p(-p) is log(1 - p)
  # without the rounding of 1 - p for small p.
  elementwise = rho * (jnp.log(rho) - jnp.log(rho_hat)) + (1.0 - rho) * (
      jnp.log1p(-rho) - jnp.log1p(-rho_hat)
  )
  return jnp.sum(elementwise)


def kl_sparsity_per_example(
    codes: jax.typing.ArrayLike, *, target: float
) -> jax.Array:
  """:func:`kl_sparsity` of the batch-mean activation, broadcast to ``[B]``.

  The KL sparsity penalty is a *batch statistic*: it depends on the mean
  activation ``rho_hat = mean(codes, axis=0)`` of each unit over the batch,
  not on any one example. To fit the per-example convention of the
  objectives, the scalar penalty is broadcast to ``[B]``, so that the batch
  mean of the result (what the trainer minimises) equals the penalty, and so
  does its gradient. Consequences worth knowing:

  * a masked sum over padded evaluation batches, or a batch split across
    devices, sees the penalty of the batch (or shard) it was computed on,
    not of the whole data set;
  * the values for individual examples carry no per-example information;
  * `jax.vmap` over single examples makes ``rho_hat`` the example's own
    activations, which is a different penalty.

  Args:
    codes: floating array of sigmoid activations in ``[0, 1]``, shape
      ``[B, *units]`` (e.g. ``[B, H]``).
    target: the sparsity target ``rho`` in ``(0, 1)`` (keyword-only).

  Returns:
    Array of shape ``[B]``, every entry equal to
    ``kl_sparsity(jnp.mean(codes, axis=0), target=target)``.

  Raises:
    ValueError: if `codes` has fewer than 2 axes or a concrete `target` is
      not in ``(0, 1)``.
    TypeError: if `codes` is not floating point.
  """
  codes = _as_floating('kl_sparsity_per_example', 'codes', codes)
  if codes.ndim < 2:
    raise ValueError(
        'kl_sparsity_per_example: codes must have shape [B, *units] (at '
        f'least 2 axes), got shape {codes.shape}; for a single unit use '
        'codes[:, None]'
    )
  _check_target('kl_sparsity_per_example', target)
  penalty = kl_sparsity(jnp.mean(codes, axis=0), target=target)
  return jnp.broadcast_to(penalty, codes.shape[:1])


# ---------------------------------------------------------------------------
# Contractive autoencoder.
# ---------------------------------------------------------------------------


def sigmoid_layer_jacobian_norm(
    kernel: jax.typing.ArrayLike, hidden: jax.typing.ArrayLike
) -> jax.Array:
  """Squared Frobenius norm of ``dh/dx`` for one sigmoid layer, in closed form.

  For ``h = sigmoid(x W + b)``, ``dh_j / dx_i = h_j (1 - h_j) W_ij``, so

  ``||J_f(x)||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ij^2``

  (Rifai et al., 2011): ``O(B H + D H)`` instead of the ``O(B D H)``
  of forming the Jacobian. The contractive penalty of the CAE with a
  one-layer sigmoid encoder; differentiable in both arguments.

  Args:
    kernel: floating array ``W`` of shape ``[D_in, H]`` (Flax `Dense`'s
      layout).
    hidden: floating array of the sigmoid activations ``h``, shape
      ``[..., H]`` (``[B, H]`` for a batch).

  Returns:
    Array of shape ``[...]`` (``[B]``), >= 0.

  Raises:
    ValueError: if `kernel` is not 2-D or its last axis does not match
      `hidden`'s.
    TypeError: if either is not floating point.

  References:
    Rifai, Vincent, Muller, Glorot & Bengio, `Contractive Auto-Encoders:
    Explicit Invariance During Feature Extraction
    <https://icml.cc/2011/papers/455_icmlpaper.pdf>`_, ICML 2011.
  """
  fn_name = 'sigmoid_layer_jacobian_norm'
  kernel = _as_floating(fn_name, 'kernel', kernel)
  hidden = _as_floating(fn_name, 'hidden', hidden)
  if kernel.ndim != 2 or hidden.ndim < 1:
    raise ValueError(
        f'{fn_name}: kernel must be [D_in, H] and hidden [..., H], got '
        f'kernel shape {kernel.shape} and hidden shape {hidden.shape}'
    )
  if kernel.shape[1] != hidden.shape[-1]:
    raise ValueError(
        f'{fn_name}: kernel shape {kernel.shape} has {kernel.shape[1]} '
        f'hidden units but hidden shape {hidden.shape} has '
        f"{hidden.shape[-1]}; pass the layer's own kernel and activations"
    )
  column_norms = jnp.sum(jnp.square(kernel), axis=0)  # [H]
  slopes = jnp.square(hidden * (1.0 - hidden))  # sigmoid'(a)^2, [..., H]
  return jnp.sum(slopes * column_norms, axis=-1)


def _basis(size: int, shape: tuple[int, ...], dtype) -> jax.Array:
  """The standard basis of a ``shape`` event, ``[size, *shape]``."""
  return jnp.eye(size, dtype=dtype).reshape((size, *shape))


def _squared_norm_per_example(rows: jax.Array) -> jax.Array:
  """``[N, B, ...]`` Jacobian rows or columns -> sums of squares ``[B]``."""
  return jnp.sum(jnp.square(rows), axis=(0, *range(2, rows.ndim)))


def _frobenius_via_jvp(
    fn: Callable[[jax.Array], jax.Array], x: jax.Array
) -> jax.Array:
  """One forward-mode pass per input unit: the Jacobian's columns."""
  in_shape = x.shape[1:]

  def column(e):
    # The same tangent for every example: since `fn` treats examples
    # independently, row b of the output tangent is J_b e.
    _, tangent = jax.jvp(fn, (x,), (jnp.broadcast_to(e, x.shape),))
    return tangent

  basis = _basis(math.prod(in_shape), in_shape, x.dtype)
  return _squared_norm_per_example(jax.vmap(column)(basis))


def _frobenius_via_vjp(
    fn: Callable[[jax.Array], jax.Array], x: jax.Array
) -> jax.Array:
  """One reverse-mode pass per output unit: the Jacobian's rows."""
  y, pullback = jax.vjp(fn, x)
  out_shape = y.shape[1:]

  def row(e):
    # Independence again: row b of the input cotangent is e^T J_b.
    (cotangent,) = pullback(jnp.broadcast_to(e, y.shape))
    return cotangent

  basis = _basis(math.prod(out_shape), out_shape, y.dtype)
  return _squared_norm_per_example(jax.vmap(row)(basis))


def jacobian_frobenius_norm(
    fn: Callable[[jax.Array], jax.Array], x: jax.typing.ArrayLike
) -> jax.Array:
  """Exact squared Frobenius norm of a batched map's Jacobian, per example.

  ``||J_f(x_b)||_F^2 = sum_{i, j} (d f(x_b)_j / d x_{b, i})^2`` for each
  example ``b``: the contractive penalty of the CAE (Rifai et al., 2011)
  for an encoder ``f`` of any depth and architecture.

  The Jacobian is built from ``min(D_in, D_out)`` passes, vectorised with
  `jax.vmap`: one reverse-mode pass (`jax.vjp`) per output unit when the
  output is smaller than the input (the usual encoder, e.g. 784 -> 32), one
  forward-mode pass (`jax.jvp`) per input unit otherwise. Each pass handles
  the whole batch at once, so the cost is ``min(D_in, D_out)`` batched
  evaluations, not ``D_in * D_out``; memory grows with
  ``min(D_in, D_out) * B * (activations of fn)``.

  The result is differentiable (reverse-over-reverse or reverse-over-forward),
  so the CAE can train through it. For a single sigmoid layer,
  :func:`sigmoid_layer_jacobian_norm` gives the same value far more cheaply.

  Args:
    fn: a map ``[B, *in_shape] -> [B, *out_shape]`` that treats examples
      independently (output ``b`` depends on input ``b`` only), as a batched
      network does. Batch statistics (BatchNorm in training mode) break
      this assumption and give a wrong result. Close over the parameters,
      e.g. ``lambda x: module.apply(params, x, method='encode')``.
    x: floating array of shape ``[B, *in_shape]`` (any event rank; the event
      axes are flattened for the count of passes).

  Returns:
    Array of shape ``[B]``, >= 0, in `fn`'s output dtype.

  Raises:
    ValueError: if `x` has no batch axis or `fn` changes the batch size.
    TypeError: if `x` or `fn`'s output is not floating point.

  References:
    Rifai, Vincent, Muller, Glorot & Bengio, `Contractive Auto-Encoders:
    Explicit Invariance During Feature Extraction
    <https://icml.cc/2011/papers/455_icmlpaper.pdf>`_, ICML 2011.
  """
  fn_name = 'jacobian_frobenius_norm'
  x = _as_floating(fn_name, 'x', x)
  if x.ndim < 1:
    raise ValueError(
        f'{fn_name}: x must have a leading batch axis [B, *in_shape], got '
        f'shape {x.shape}; use x[None] for a single example'
    )
  out = jax.eval_shape(fn, x)  # Trace-time only: no FLOPs.
  if not isinstance(out, jax.ShapeDtypeStruct):
    raise TypeError(
        f'{fn_name}: fn must return a single array, got {type(out).__name__}'
        '; wrap it to select the code, e.g. lambda x: fn(x)[0]'
    )
  if out.ndim < 1 or out.shape[0] != x.shape[0]:
    raise ValueError(
        f'{fn_name}: fn must map [B, *in_shape] -> [B, *out_shape]; x shape '
        f'{x.shape} gave output shape {out.shape}'
    )
  if not jnp.issubdtype(out.dtype, jnp.floating):
    raise TypeError(
        f'{fn_name}: fn must return a floating array, got dtype {out.dtype}'
    )
  d_in, d_out = math.prod(x.shape[1:]), math.prod(out.shape[1:])
  if d_out < d_in:
    return _frobenius_via_vjp(fn, x)
  return _frobenius_via_jvp(fn, x)
