"""Deterministic autoencoder: x -> z = f(x) -> x_hat = g(z).

The undercomplete autoencoder of Hinton & Salakhutdinov (2006), "Reducing the
dimensionality of data with neural networks", Science 313. Its loss is the
reconstruction error alone: binary cross-entropy for data in [0, 1]
(likelihood='bernoulli') or squared error (likelihood='gaussian').
"""

import dataclasses

import flax.linen as nn
import jax

from ae_jax import losses
from ae_jax.models import base
from ae_jax.models import networks


class AutoencoderModule(nn.Module):
  """An encoder and a decoder; `encode`, `decode` and `__call__` are apply methods."""

  encoder: nn.Module
  decoder: nn.Module

  def encode(self, x: jax.Array) -> jax.Array:
    return self.encoder(x)

  def decode(self, z: jax.Array) -> jax.Array:
    return self.decoder(z)

  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    z = self.encode(x)
    return self.decode(z), z


@dataclasses.dataclass(frozen=True)
class Autoencoder(base.Model):
  """`base.Model` for `AutoencoderModule`."""

  module: AutoencoderModule = None

  def init(self, rng):
    x = jax.numpy.zeros((1, *self.input_shape), jax.numpy.float32)
    return self.module.init(rng, x)['params']

  def per_example_losses(self, params, x, rng, *, train):
    del rng, train  # Deterministic model.
    outputs, _ = self.module.apply({'params': params}, x)
    if self.likelihood == 'bernoulli':
      rec = losses.binary_cross_entropy(
          outputs, x, event_ndims=self.event_ndims
      )
    else:
      rec = losses.squared_error(outputs, x, event_ndims=self.event_ndims)
    return {'loss': rec, 'loss_rec': rec, 'mse': self.pixel_mse(outputs, x)}

  def encode(self, params, x):
    return self.module.apply({'params': params}, x, method='encode')

  def decode(self, params, z):
    outputs = self.module.apply({'params': params}, z, method='decode')
    return self.output_mean(outputs)


def build(config, input_shape) -> Autoencoder:
  """The 'ae' entry of the model registry."""
  base.check_likelihood(config.likelihood)
  module = AutoencoderModule(
      encoder=networks.make_encoder(config, input_shape, config.latent_dim),
      decoder=networks.make_decoder(config, input_shape),
  )
  return Autoencoder(
      input_shape=tuple(input_shape),
      latent_dim=config.latent_dim,
      likelihood=config.likelihood,
      module=module,
  )
