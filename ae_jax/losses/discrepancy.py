"""Maximum mean discrepancy (MMD) between two samples, the WAE / InfoVAE
prior-matching penalty, with its overflow-safe squared distances.

(Not named ``mmd.py``: `ae_jax.losses.mmd` is the function.)

Conventions (per-example outputs, sign, checks): see `ae_jax.losses`.
"""

from collections.abc import Sequence
import functools
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["mmd"]

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
