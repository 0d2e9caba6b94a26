"""Vector quantisation (VQ-VAE): nearest-code lookup with the straight-through
gradient, the codebook and commitment losses, and codebook perplexity.

van den Oord, Vinyals & Kavukcuoglu (2017), "Neural Discrete Representation
Learning", NeurIPS, Eq. 3: ``log p(x | z_q(x)) + ||sg[z_e(x)] - e||^2 + beta
||z_e(x) - sg[e]||^2``, with ``z_q = e_k``, ``k = argmin_j ||z_e - e_j||``,
and the decoder's gradient copied to the encoder (``z_e + sg[z_q - z_e]``).

Conventions (per-example outputs, sign, checks): see `ae_jax.losses`.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

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
    ``[K, D]`` with ``D`` equal to ``z``'s last axis.
  """
  fn = "vector_quantize"
  z, codebook = jnp.asarray(z), jnp.asarray(codebook)
  for name, value in (("z", z), ("codebook", codebook)):
    if not jnp.issubdtype(value.dtype, jnp.floating):
      raise TypeError(
          f"{fn}: {name} must be floating point, got {value.dtype}; cast "
          f"it, e.g. {name}.astype(jnp.float32)"
      )
  if codebook.ndim != 2 or z.ndim < 1 or codebook.shape[1] != z.shape[-1]:
    raise ValueError(
        f"{fn}: codebook must be [K, D] with D = z.shape[-1]; got codebook "
        f"{codebook.shape} for z {z.shape}"
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
  """
  if not isinstance(codebook_size, int) or codebook_size < 1:
    raise ValueError(
        "codebook_perplexity: codebook_size must be a positive Python int, "
        f"got {codebook_size!r}"
    )
  counts = jnp.zeros(codebook_size).at[jnp.ravel(indices)].add(1.0)
  p = counts / jnp.sum(counts)
  entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1)), 0))
  return jnp.exp(entropy), jnp.mean(counts > 0)
