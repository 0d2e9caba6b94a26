"""VAE with a VampPrior: a mixture of the encoder's own posteriors as prior.

Tomczak & Welling (2018), "VAE with a VampPrior", AISTATS. The prior is the
variational mixture of posteriors at K learned pseudo-inputs u_k,

  p(z) = (1/K) sum_k q(z | u_k),

an approximation of the aggregate posterior that the ELBO's optimal prior
would be. The pseudo-inputs are parameters in data space; as in the authors'
code (github.com/jmtomczak/vae_vampprior: ``number_components`` 500,
initialised from N(0.05, 0.01), passed through a hardtanh onto [0, 1]) they
are clipped to [0, 1] for Bernoulli data. Without a closed-form KL, the loss
uses the one-sample estimate

  -log p(x|z) + beta * (log q(z|x) - log p(z)),  z ~ q(z|x),

and the importance-sampled log-likelihood (task ``nll``) uses p(z) in its
weights. Samples draw a component k uniformly, then z ~ q(z | u_k).
"""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp

from ae_jax import losses
from ae_jax.models import base
from ae_jax.models import vae


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(vae.WarmupConfig):
  """Hyperparameters of model='vampprior'."""

  beta: float = base.hparam(1.0, traced=True)  # KL weight (1 = the ELBO).
  # K, the pseudo-inputs (mixture components): 500 in the paper.
  num_pseudo_inputs: int = base.hparam(500)


def log_mixture_density(
    z: jax.Array, means: jax.Array, log_variances: jax.Array
) -> jax.Array:
  """``log (1/K) sum_k N(z; means[k], exp(log_variances[k]))``.

  The squared distances expand as ``sum_d (z - m)^2 / v = z^2 . (1/v) -
  2 z . (m/v) + sum_d m^2 / v``: two ``[..., D] x [D, K]`` products instead of
  a ``[..., K, D]`` broadcast, which on a CPU took most of the VampPrior's
  NLL evaluation and about a third of its training step (BUILD.md,
  VampPrior). The expansion's float32 rounding error grows with ``sum_d
  z_d^2 / v_kd`` of the most likely component: `tests/test_vampprior.py`
  bounds it at 3 eps of that term against float64. The products run at full
  float32 precision on every platform.

  Args:
    z: ``[..., D]``.
    means: ``[K, D]``.
    log_variances: ``[K, D]``.

  Returns:
    ``[...]``.
  """
  precision = jnp.exp(-log_variances)  # [K, D]
  num_dims = means.shape[-1]
  offset = jnp.sum(log_variances + means * means * precision, axis=-1)
  dot = functools.partial(
      jnp.einsum, '...d,kd->...k', precision=jax.lax.Precision.HIGHEST
  )
  squared = dot(z * z, precision) - 2.0 * dot(z, means * precision)
  per_component = -0.5 * (
      num_dims * math.log(2 * math.pi) + offset + squared
  )  # [..., K]
  return jax.nn.logsumexp(per_component, axis=-1) - math.log(means.shape[0])


class VampModule(vae.VAEModule):
  """`vae.VAEModule` plus the pseudo-inputs ``[K, *input_shape]``."""

  num_pseudo_inputs: int = 500
  input_shape: tuple[int, ...] = ()
  clip_pseudo_inputs: bool = True  # Onto [0, 1] (Bernoulli data).

  def setup(self):
    super().setup()
    self.pseudo_inputs = self.param(
        'pseudo_inputs',
        lambda key, shape: 0.05 + 0.01 * jax.random.normal(key, shape),
        (self.num_pseudo_inputs, *self.input_shape),
    )

  def prior_components(self) -> tuple[jax.Array, jax.Array]:
    """``(means, log_variances)`` ``[K, D]``: q(z | u_k) for every k."""
    u = self.pseudo_inputs
    if self.clip_pseudo_inputs:
      u = jnp.clip(u, 0.0, 1.0)  # The authors' hardtanh(0, 1).
    return self.encode(u)


@dataclasses.dataclass(frozen=True, kw_only=True)
class VampPriorVAE(vae.VariationalAutoencoder):
  """`vae.VariationalAutoencoder` whose prior is the VampPrior."""

  module: VampModule
  analytic_kl = False  # The prior is a mixture, not N(0, I).

  def log_prior(self, params, z):
    means, log_vars = self.module.apply(
        {'params': params}, method='prior_components'
    )
    return log_mixture_density(z, means, log_vars)

  def sample_prior(self, params, rng, num):
    means, log_vars = self.module.apply(
        {'params': params}, method='prior_components'
    )
    k_rng, z_rng = jax.random.split(rng)
    k = jax.random.randint(k_rng, (num,), 0, means.shape[0])
    return vae.reparameterize(z_rng, means[k], log_vars[k])

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del train, labels
    outputs, z, mean, log_var, out_log_var = self.module.apply(
        {'params': params}, x, rng
    )
    log_px = self.log_likelihood(outputs, x, out_log_var)
    # One-sample estimate of KL(q(z|x) || p(z)): no closed form here.
    kl = losses.gaussian_log_likelihood(mean, log_var, z) - self.log_prior(
        params, z
    )
    return self.sampled_elbo_metrics(outputs, x, log_px, kl)


def build(config, data: base.DataSpec) -> VampPriorVAE:
  """The 'vampprior' entry of the model registry."""
  hp = base.hparams(config, Config)  # beta is checked by vae.build.
  k = hp.num_pseudo_inputs
  if not (isinstance(k, int) and k >= 1):
    raise ValueError(
        f'config.num_pseudo_inputs={k!r} must be a positive integer (K, '
        'the mixture components of the prior; the paper uses 500).'
    )
  if data.num_train and k > data.num_train:
    raise ValueError(
        f'config.num_pseudo_inputs={k} is more than the {data.num_train} '
        'training examples: the prior would have more components than the '
        'data it approximates; set --config.num_pseudo_inputs below that.'
    )
  model = vae.build(config, data)  # The VAE's network and checks.
  module = VampModule(
      **vae.network_fields(model.module),
      num_pseudo_inputs=k,
      input_shape=tuple(data.input_shape),
      clip_pseudo_inputs=config.likelihood == 'bernoulli',
  )
  return vae.extend(model, VampPriorVAE, module=module)
