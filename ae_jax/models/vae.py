"""Variational autoencoder with a diagonal-Gaussian encoder and a N(0, I) prior.

Kingma & Welling (2014), "Auto-Encoding Variational Bayes", ICLR. The loss is
the negative ELBO, ``-E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I))``, with
one reparameterised sample of z per example; beta = 1 is the VAE, other values
give the beta-VAE of Higgins et al. (2017).

With likelihood='gaussian' the decoder outputs means and the model learns one
shared log-variance for every pixel (a parameter of the module).
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from ae_jax import losses
from ae_jax.models import base
from ae_jax.models import networks


def reparameterize(
    rng: jax.Array, mean: jax.Array, log_variance: jax.Array
) -> jax.Array:
  """A sample of N(mean, exp(log_variance)) that is differentiable in both."""
  eps = jax.random.normal(rng, mean.shape, mean.dtype)
  return mean + jnp.exp(0.5 * log_variance) * eps


class VAEModule(nn.Module):
  """Encoder producing ``2 * latent_dim`` numbers (mean, log-variance) and a decoder."""

  encoder: nn.Module
  decoder: nn.Module
  latent_dim: int
  learn_output_variance: bool = False

  def setup(self):
    if self.learn_output_variance:
      self.output_log_variance = self.param(
          'output_log_variance', nn.initializers.zeros, ()
      )

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = self.encoder(x)
    mean, log_variance = jnp.split(h, 2, axis=-1)
    return mean, log_variance

  def decode(self, z: jax.Array) -> jax.Array:
    return self.decoder(z)

  def decoder_log_variance(self) -> jax.Array:
    return (
        self.output_log_variance
        if self.learn_output_variance
        else jnp.zeros(())
    )

  def __call__(self, x: jax.Array, rng: jax.Array):
    mean, log_variance = self.encode(x)
    z = reparameterize(rng, mean, log_variance)
    return self.decode(z), mean, log_variance, self.decoder_log_variance()


@dataclasses.dataclass(frozen=True)
class VariationalAutoencoder(base.Model):
  """`base.Model` for `VAEModule`."""

  module: VAEModule = None
  beta: float = 1.0

  generative = True

  def init(self, rng):
    x = jnp.zeros((1, *self.input_shape), jnp.float32)
    return self.module.init(rng, x, jax.random.PRNGKey(0))['params']

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del train, labels
    outputs, mean, log_var, out_log_var = self.module.apply(
        {'params': params}, x, rng
    )
    terms = losses.elbo(
        self.log_likelihood(outputs, x, out_log_var),
        losses.standard_normal_kl(mean, log_var),
        beta=self.beta,
    )
    neg_elbo = terms.kl - terms.log_likelihood
    return {
        'loss': -terms.elbo,
        'neg_elbo': neg_elbo,
        'loss_rec': -terms.log_likelihood,
        'loss_kl': terms.kl,
        'mse': self.pixel_mse(outputs, x),
    }

  def encode_distribution(self, params, x):
    """Posterior parameters ``(mean, log_variance)``, each ``[B, latent_dim]``."""
    return self.module.apply({'params': params}, x, method='encode')

  def encode(self, params, x):
    return self.encode_distribution(params, x)[0]

  def decode(self, params, z):
    outputs = self.module.apply({'params': params}, z, method='decode')
    return self.output_mean(outputs)

  def sample(self, params, rng, num):
    """Means of p(x|z) for ``num`` codes drawn from the prior."""
    z = jax.random.normal(rng, (num, self.latent_dim))
    return self.decode(params, z)


def build(config, input_shape, *, num_classes=None) -> VariationalAutoencoder:
  """The 'vae' entry of the model registry."""
  del num_classes  # Unsupervised.
  base.check_likelihood(config.likelihood)
  if not config.beta >= 0:
    raise ValueError(
        f'config.beta={config.beta} must be >= 0 (beta = 1 is the '
        'VAE ELBO); set --config.beta to a non-negative number.'
    )
  module = VAEModule(
      encoder=networks.make_encoder(config, input_shape, 2 * config.latent_dim),
      decoder=networks.make_decoder(config, input_shape),
      latent_dim=config.latent_dim,
      learn_output_variance=config.likelihood == 'gaussian',
  )
  return VariationalAutoencoder(
      input_shape=tuple(input_shape),
      latent_dim=config.latent_dim,
      likelihood=config.likelihood,
      module=module,
      beta=float(config.beta),
  )
