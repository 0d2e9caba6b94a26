"""Controlled-capacity beta-VAE (Burgess et al., 2018): the penalty
``gamma * |KL - C|`` and the linear ramp of the target capacity ``C``.

Conventions (per-example outputs, sign, checks): see `ae_jax.losses`.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ae_jax.losses._checks import _check_and_cast
from ae_jax.losses._checks import _check_weight

__all__ = ["capacity_kl", "capacity_schedule"]


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
    ValueError: if a concrete `capacity` or `gamma` is negative, inf or NaN,
      or either does not broadcast to `kl`'s shape.
    TypeError: if `kl` is not floating point, or `capacity` or `gamma` not
      real.

  References:
    Burgess, Higgins, Pal, Matthey, Watters, Desjardins & Lerchner,
    `Understanding disentangling in beta-VAE
    <https://arxiv.org/abs/1804.03599>`_, 2018.
  """
  (kl,) = _check_and_cast("capacity_kl", 0, floating=[("kl", kl)])
  # Cast like targets elsewhere, so that a float32 schedule does not promote
  # a bfloat16 kl.
  capacity, gamma = (
      _check_weight(
          "capacity_kl", name, value, shape=kl.shape, hint=hint
      ).astype(kl.dtype)
      for name, value, hint in (
          ("capacity", capacity, "it is a target KL in nats"),
          ("gamma", gamma, "it weights the capacity penalty"),
      )
  )
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
      `max_capacity` is negative, inf or NaN.
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
  max_capacity = _check_weight(
      "capacity_schedule",
      "max_capacity",
      max_capacity,
      shape=jnp.shape(max_capacity),
      hint="it is the final target KL in nats",
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
  # In at least float32: an integer step promotes to it, and a float16 one
  # would overflow num_steps > 65504 to inf.
  step = step.astype(jnp.promote_types(step.dtype, jnp.float32))
  fraction = jnp.clip(step / num_steps, 0.0, 1.0)
  return fraction * max_capacity
