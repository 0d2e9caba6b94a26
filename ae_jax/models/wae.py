"""Wasserstein autoencoder with the MMD penalty (WAE-MMD).

Tolstikhin, Bousquet, Gelly & Schoelkopf (2018), "Wasserstein
Auto-Encoders", ICLR. A deterministic encoder and a decoder minimise

  E_x c(x, G(E(x))) + lambda * MMD(q(z), p(z)),

the reconstruction cost plus ``mmd_weight`` (lambda) times the maximum mean
discrepancy between the batch's codes and as many samples of the prior
p(z) = N(0, I) (`losses.mmd`; the inverse multiquadratic kernel summed over
the reference code's widths). Only the aggregate posterior q(z) is pushed to
the prior, not every example's code as in the VAE's KL, so codes of
different inputs stay apart and decoded prior samples are new images. The
cost follows ``config.likelihood`` as in the plain AE: cross-entropy for
Bernoulli pixels, squared error for Gaussian ones (the paper's c).
"""

import dataclasses

import jax
import jax.numpy as jnp

from ae_jax import losses
from ae_jax import priors
from ae_jax.models import autoencoder
from ae_jax.models import base
from ae_jax.models import vae


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
  """Hyperparameters of model='wae'."""

  # lambda, the weight of MMD(q(z), p(z)): 10 in the paper's MNIST runs.
  mmd_weight: float = base.hparam(10.0, traced=True)
  mmd_kernel: str = base.hparam('imq')  # 'imq' (the paper's) | 'rbf'.


@dataclasses.dataclass(frozen=True, kw_only=True)
class WassersteinAutoencoder(base.Model, Config):
  """`base.Model` of a deterministic autoencoder with the WAE-MMD penalty.

  ``prior`` (N(0, I)) makes the ``prior`` evaluation task apply
  (`capabilities.PriorModel`).
  """

  module: autoencoder.AutoencoderModule
  prior: priors.Prior

  generative = True

  def init(self, rng):
    x = jnp.zeros((1, *self.input_shape), jnp.float32)
    return self.module.init(rng, x)['params']

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del train, labels
    outputs, z = self.module.apply({'params': params}, x)
    rec = self.reconstruction_cost(outputs, x)
    rng = jax.random.PRNGKey(0) if rng is None else rng
    prior_z = self.prior.sample(jax.random.fold_in(rng, 1), z.shape[0])
    # One number for the batch, carried by every example.
    mmd = jnp.broadcast_to(
        losses.mmd(z, prior_z, kernel=self.mmd_kernel), rec.shape
    )
    return {
        'loss': rec + self.mmd_weight * mmd,
        'loss_rec': rec,
        'loss_mmd': mmd,
        'mse': self.pixel_mse(outputs, x),
    }

  def encode(self, params, x):
    return self.module.apply({'params': params}, x, method='encode')

  def decode(self, params, z):
    outputs = self.module.apply({'params': params}, z, method='decode')
    return self.output_mean(outputs)

  def sample(self, params, rng, num):
    """Means of the decoder for ``num`` codes drawn from the prior."""
    return self.decode(params, self.prior.sample(rng, num))


def build(config, data: base.DataSpec) -> WassersteinAutoencoder:
  """The 'wae' entry of the model registry."""
  base.check_likelihood(config.likelihood)
  hp = base.hparams(config, Config)
  if not hp.mmd_weight >= 0:
    raise ValueError(
        f'config.mmd_weight={hp.mmd_weight} must be >= 0 (lambda, the '
        'weight of MMD(q(z), p(z))).'
    )
  vae.check_mmd_kernel(hp.mmd_kernel)
  module = autoencoder.make_module(config, data.input_shape)
  return WassersteinAutoencoder(
      input_shape=tuple(data.input_shape),
      latent_dim=config.latent_dim,
      likelihood=config.likelihood,
      module=module,
      prior=priors.standard_normal(config.latent_dim),
      mmd_weight=float(hp.mmd_weight),
      mmd_kernel=hp.mmd_kernel,
  )
