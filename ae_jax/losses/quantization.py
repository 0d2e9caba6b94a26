"""Vector quantisation (VQ-VAE): nearest-code lookup with the straight-through
gradient, the codebook and commitment losses, and codebook perplexity.

van den Oord, Vinyals & Kavukcuoglu (2017), "Neural Discrete Representation
Learning", NeurIPS, Eq. 3: ``log p(x | z_q(x)) + ||sg[z_e(x)] - e||^2 + beta
||z_e(x) - sg[e]||^2``, with ``z_q = e_k``, ``k = argmin_j ||z_e - e_j||``,
and the decoder's gradient copied to the encoder (``z_e + sg[z_q - z_e]``).

Conventions (per-example outputs, sign, checks): see `ae_jax.losses`.
"""

import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ae_jax.losses._checks import _as_array

__all__ = ["VectorQuantization", "codebook_perplexity", "vector_quantize"]


class VectorQuantization(NamedTuple):
  """What `vector_quantize` returns (leading shape ``[...]`` of ``z``)."""

  quantized: jax.Array  # [..., D]: z_q forward, z_e's gradient backward.
  indices: jax.Array  # [...] int32: the nearest code of each vector.
  codebook_loss: jax.Array  # [...]: ||sg[z_e] - e||^2 (moves the codes).
  commitment_loss: jax.Array  # [...]: ||z_e - sg[e]||^2 (moves the encoder).


def vector_quantize(
    z: jax.typing.ArrayLike, codebook: jax.typing.ArrayLike
) -> VectorQuantization:
  """Snaps each vector ``z[..., :]`` to its nearest row of ``codebook``.

  Args:
    z: floating encoder outputs ``[..., D]``.
    codebook: floating codes ``[K, D]``, ``K >= 1``.

  Returns:
    A `VectorQuantization`. Its losses reduce over the code axis only; the
    two have equal values and differ in where their gradients go (the
    codebook loss to ``codebook``, the commitment loss to ``z``). Ties go to
    the lower index.

  Raises:
    ValueError / TypeError: a non-floating input, a codebook that is not
    ``[K, D]`` with ``D`` equal to ``z``'s last axis, or no codes.

  The distances expand as ``||e||^2 - 2 z.e`` (the ``||z||^2`` term does not
  change the argmin), as in Sonnet's VQ-VAE: one ``[..., D] x [D, K]``
  product instead of a ``[..., K, D]`` difference. In float32 two codes
  whose squared distances to ``z`` differ by less than about ``1e-7
  ||e||^2`` may be confused: far from the origin (codes of norm 1000, a
  difference of 0.05) the lower index can win.
  """
  fn = "vector_quantize"
  z, codebook = jnp.asarray(z), jnp.asarray(codebook)
  for name, value in (("z", z), ("codebook", codebook)):
    if not jnp.issubdtype(value.dtype, jnp.floating):
      raise TypeError(
          f"{fn}: {name} must be floating point, got {value.dtype}; cast "
          f"it, e.g. {name}.astype(jnp.float32)"
      )
  if (
      codebook.ndim != 2
      or z.ndim < 1
      or codebook.shape[1] != z.shape[-1]
      or not codebook.shape[0]
  ):
    raise ValueError(
        f"{fn}: codebook must be [K, D] with K >= 1 and D = z.shape[-1]; "
        f"got codebook {codebook.shape} for z {z.shape}"
    )
  codebook = codebook.astype(z.dtype)
  highest = jax.lax.Precision.HIGHEST
  # ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2; ||z||^2 does not change argmin.
  scores = jnp.sum(jnp.square(codebook), -1) - 2 * jnp.matmul(
      z, codebook.T, precision=highest
  )
  indices = jnp.argmin(scores, axis=-1).astype(jnp.int32)
  codes = jnp.take(codebook, indices, axis=0)
  sg = jax.lax.stop_gradient
  return VectorQuantization(
      quantized=z + sg(codes - z),
      indices=indices,
      codebook_loss=jnp.sum(jnp.square(sg(z) - codes), -1),
      commitment_loss=jnp.sum(jnp.square(z - sg(codes)), -1),
  )


def codebook_perplexity(
    indices: jax.typing.ArrayLike, codebook_size: int
) -> tuple[jax.Array, jax.Array]:
  """``(perplexity, fraction of codes used)`` of a set of code indices.

  Perplexity is ``exp(H(p))`` of the codes' empirical frequencies ``p`` over
  every entry of ``indices``: ``codebook_size`` when all codes are used
  equally, 1 when one code takes everything. ``codebook_size`` is static.

  Args:
    indices: integer code indices, any shape, each in ``[0,
      codebook_size)``. Concrete indices are checked; traced ones outside
      the range (or negative) are left out of the counts.
    codebook_size: the number of codes ``K``, a static int >= 1.

  Raises:
    TypeError: if `indices` is not an integer array.
    ValueError: if `codebook_size` is not a static int >= 1, or concrete
      `indices` are empty or outside ``[0, codebook_size)``.
  """
  fn = "codebook_perplexity"
  is_int = isinstance(codebook_size, numbers.Integral) and not isinstance(
      codebook_size, (bool, np.bool_)
  )
  if not is_int or codebook_size < 1:
    raise ValueError(
        f"{fn}: codebook_size must be a positive static int, got "
        f"{codebook_size!r}"
    )
  codebook_size = int(codebook_size)
  indices = _as_array(fn, "indices", indices)
  if not jnp.issubdtype(indices.dtype, jnp.integer):
    raise TypeError(
        f"{fn}: indices must be integer code indices, got dtype "
        f"{indices.dtype}; pass vector_quantize(...).indices"
    )
  try:
    host = np.asarray(indices)
  except jax.errors.TracerArrayConversionError:
    host = None
  if host is not None and (
      not host.size or host.min() < 0 or host.max() >= codebook_size
  ):
    found = (
        "none" if not host.size else f"values in [{host.min()}, {host.max()}]"
    )
    raise ValueError(
        f"{fn}: indices must lie in [0, {codebook_size}) (codebook_size), "
        f"got {found}"
    )
  flat = jnp.ravel(indices)
  # Negative indices would wrap around; send them past the end, dropped.
  flat = jnp.where(flat < 0, codebook_size, flat)
  counts = jnp.zeros(codebook_size).at[flat].add(1.0, mode="drop")
  p = counts / jnp.sum(counts)
  entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1)), 0))
  return jnp.exp(entropy), jnp.mean(counts > 0)
