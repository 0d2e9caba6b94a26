"""Normalizing-flow steps for richer VAE posteriors: planar, radial, IAF.

Each step is a pure function ``(z, step parameters) -> (f(z), log|det df/dz|)``
over a leading batch shape ``[...]`` and a last axis of ``D`` code units; the
posterior after K steps has ``log q_K(z_K) = log q_0(z_0) - sum_k log|det|``
(Rezende & Mohamed 2015, Eq. 7). The unconstrained parameters (what a
network outputs) are mapped to invertible steps inside, as the papers do:

* `planar` (Rezende & Mohamed 2015, Eq. 10-12 and Appendix A.1):
  ``f(z) = z + u_hat tanh(w.z + b)`` with ``u_hat`` chosen so that
  ``w.u_hat >= -1``;
* `radial` (ibid., Eq. 14 and Appendix A.2): ``f(z) = z + beta_hat (z - z0)
  / (alpha + |z - z0|)`` with ``alpha = softplus(alpha_raw) > 0`` and
  ``beta_hat = -alpha + softplus(beta_raw) >= -alpha``;
* `iaf_step` (Kingma et al. 2016, Eq. 14, the numerically stable LSTM-type
  update): ``f(z) = sigmoid(s) * z + (1 - sigmoid(s)) * m`` with ``m`` and
  ``s`` from an autoregressive network of ``z`` (`ae_jax.models.flow_vae`
  builds it), so the Jacobian is triangular and ``log|det| = sum log
  sigmoid(s)``.

All work under `jax.jit`, `jax.vmap` and `jax.grad`; their log-determinants
are tested against ``jax.jacfwd``.
"""

import jax
import jax.numpy as jnp

from ae_jax.losses import _checks

__all__ = ['iaf_step', 'planar', 'radial']


def _check_shapes(fn: str, z, per_unit: dict, per_point: dict) -> None:
  """``per_unit`` arrays must broadcast to ``z``'s ``[..., D]``,
  ``per_point`` ones to ``[...]``: a ``[B, 1]`` bias against ``[B]`` points
  would silently give ``[B, B, D]``. Shapes are static, so this runs at trace
  time."""
  z_shape = jnp.shape(z)
  if len(z_shape) < 1:
    raise ValueError(f'{fn}: z must be [..., D], got shape {z_shape}')
  for names, target in ((per_unit, z_shape), (per_point, z_shape[:-1])):
    for name, value in names.items():
      shape = jnp.shape(value)
      if not _checks._broadcasts_to(shape, target):
        raise ValueError(
            f'{fn}: {name} shape {shape} does not broadcast to {target} '
            f'(z is {z_shape}); reshape it'
        )


def planar(
    z: jax.Array, u: jax.Array, w: jax.Array, b: jax.Array
) -> tuple[jax.Array, jax.Array]:
  """One planar step.

  Args:
    z: ``[..., D]``.
    u, w: ``[..., D]`` (broadcast against ``z``).
    b: ``[...]``.

  Returns:
    ``(f(z) [..., D], log|det| [...])``.
  """
  _check_shapes('planar', z, {'u': u, 'w': w}, {'b': b})
  wu = jnp.sum(w * u, -1, keepdims=True)
  # m(a) = -1 + softplus(a); u_hat = u + (m(w.u) - w.u) w / |w|^2.
  u_hat = u + (jax.nn.softplus(wu) - 1.0 - wu) * w / (
      jnp.sum(w * w, -1, keepdims=True) + 1e-8
  )
  a = jnp.sum(w * z, -1) + b
  h = jnp.tanh(a)
  out = z + u_hat * h[..., None]
  # det = 1 + u_hat . psi(z), psi = (1 - tanh^2) w; > 0 since w.u_hat >= -1.
  det = 1.0 + (1.0 - h**2) * jnp.sum(w * u_hat, -1)
  return out, jnp.log(jnp.abs(det) + 1e-12)


def radial(
    z: jax.Array, z0: jax.Array, alpha_raw: jax.Array, beta_raw: jax.Array
) -> tuple[jax.Array, jax.Array]:
  """One radial step.

  Args:
    z, z0: ``[..., D]`` (the point and the step's centre).
    alpha_raw, beta_raw: ``[...]``, unconstrained.

  Returns:
    ``(f(z) [..., D], log|det| [...])``.
  """
  _check_shapes(
      'radial', z, {'z0': z0}, {'alpha_raw': alpha_raw, 'beta_raw': beta_raw}
  )
  dim = z.shape[-1]
  alpha = jax.nn.softplus(alpha_raw)
  beta = -alpha + jax.nn.softplus(beta_raw)
  diff = z - z0
  r = jnp.sqrt(jnp.sum(diff * diff, -1) + 1e-12)
  h = 1.0 / (alpha + r)
  out = z + (beta * h)[..., None] * diff
  # det = (1 + beta h)^(D-1) (1 + beta h + beta h'(r) r), h' = -h^2.
  log_det = (dim - 1) * jnp.log1p(beta * h) + jnp.log1p(
      beta * h - beta * h * h * r
  )
  return out, log_det


def iaf_step(
    z: jax.Array, m: jax.Array, s: jax.Array
) -> tuple[jax.Array, jax.Array]:
  """One inverse-autoregressive step, given the network's ``m`` and ``s``.

  ``m`` and ``s`` (``[..., D]``) must depend on ``z`` autoregressively
  (unit ``i`` on units ``< i`` only); then ``log|det| = sum log sigmoid(s)``.
  """
  _check_shapes('iaf_step', z, {'m': m, 's': s}, {})
  gate = jax.nn.sigmoid(s)
  return gate * z + (1.0 - gate) * m, jnp.sum(jax.nn.log_sigmoid(s), -1)
