"""Private helpers of the loss modules: input checks and event reductions.

Checks run at trace time and name the loss, the argument and the fix;
`_scaled_square` is the overflow-safe ``diff**2 / exp(log_variance)``
shared by the Gaussian likelihood and KL.
"""

from collections.abc import Sequence
import math

import jax
import jax.numpy as jnp
import numpy as np


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


def _broadcasts_to(shape, target) -> bool:
  """Whether an array of ``shape`` broadcasts to exactly ``target``: a
  ``[B, 1]`` array against ``[B]`` would instead widen the result to
  ``[B, B]``. Shapes are static, so this holds for tracers too."""
  try:
    return np.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
  except ValueError:
    return False


def _check_weight(
    fn_name: str,
    name: str,
    value,
    *,
    shape: tuple[int, ...],
    hint: str,
    upper: float | None = None,
) -> jax.Array:
  """A loss weight (beta, gamma, a capacity) as an array, checked.

  Its shape must broadcast to ``shape`` (the per-example result's): a
  ``[B, 1]`` weight against ``[B]`` terms would silently give ``[B, B]``.
  A concrete value (Python, NumPy or a jax.Array outside a trace) must be
  finite, >= 0 and, with ``upper``, <= ``upper``; a traced one (a vmapped
  sweep, a schedule inside ``jit``) is used unchecked. A concrete jax.Array
  costs one small device-to-host copy.
  """
  array = _as_array(fn_name, name, value)
  if not (
      jnp.issubdtype(array.dtype, jnp.floating)
      or jnp.issubdtype(array.dtype, jnp.integer)
  ):
    raise TypeError(
        f"{fn_name}: {name} must be a real number, got dtype {array.dtype}"
    )
  if not _broadcasts_to(array.shape, shape):
    raise ValueError(
        f"{fn_name}: {name} shape {array.shape} does not broadcast to the "
        f"per-example shape {tuple(shape)}; pass a scalar or reshape it"
    )
  try:
    host = np.asarray(array, np.float64)
  except jax.errors.TracerArrayConversionError:
    return array
  # `not all(v >= 0)` also rejects NaN.
  valid = (host >= 0) & np.isfinite(host)
  if upper is not None:
    valid &= host <= upper
  if not np.all(valid):
    bound = (
        f"a number in [0, {upper:g}]"
        if upper is not None
        else "a finite number >= 0"
    )
    raise ValueError(
        f"{fn_name}: {name} must be {bound}, got {name}={value!r}; {hint}"
    )
  return array


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
      if not _broadcasts_to(x.shape, ref.shape):
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


def _flatten_event(
    event_ndims: int, *arrays: jax.Array
) -> tuple[int, tuple[jax.Array, ...]]:
  """``(1, arrays)`` with the last `event_ndims` axes of each array merged
  into one, after broadcasting each to the first's shape (unchanged for
  ``event_ndims <= 1``).

  XLA:CPU vectorises a loop along its minor axis, and an image event
  ``[H, W, 1]`` ends in an axis of size 1: its elementwise terms and sums
  ran one value at a time (BUILD.md, "Convolutions on XLA:CPU", has the
  cost). The sums are the same up to float rounding (another order).
  """
  if event_ndims <= 1:
    return event_ndims, arrays
  shape = arrays[0].shape
  flat = shape[: len(shape) - event_ndims] + (
      math.prod(shape[len(shape) - event_ndims :]),
  )
  return 1, tuple(jnp.broadcast_to(a, shape).reshape(flat) for a in arrays)


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
