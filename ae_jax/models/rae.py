"""Regularised autoencoder (RAE): a deterministic AE with a smooth decoder,
sampled through an ex-post density.

Ghosh, Sajjadi, Vergari, Black & Schoelkopf (2020), "From Variational to
Deterministic Autoencoders", ICLR. The VAE's noise regularises the decoder;
the RAE drops the noise and regularises explicitly (their Eq. 11):

  L = c(x, D(E(x))) + beta * ||E(x)||^2 / 2 + lambda * L_REG,

with ``embedding_weight`` (beta) on the code norm, which keeps the latent
space bounded, and a decoder regulariser: ``decoder_l2_weight`` times the
squared L2 norm of the decoder's parameters (RAE-L2, weight decay) and/or
``gradient_penalty_weight`` times the squared Frobenius norm of the
decoder's Jacobian at the code (RAE-GP, ``||grad_z D(z)||^2``, exactly, by
`penalties.jacobian_frobenius_norm`). Both zero: the paper's plain "RAE".
The cost c follows ``config.likelihood`` as in the plain AE.

Without a prior, samples come from a density fitted to the training codes
after training (`ae_jax.expost`, a 10-component Gaussian mixture, the
paper's ex-post density estimation), which `ae_jax.load(dir).sample` and
``--task=generate`` use.
"""

import dataclasses

import jax
import jax.numpy as jnp

from ae_jax import penalties
from ae_jax.models import autoencoder
from ae_jax.models import base


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
  """Hyperparameters of model='rae' (defaults: pythae's RAE_L2 / RAE_GP)."""

  # beta, the weight of ||z||^2 / 2.
  embedding_weight: float = base.hparam(1e-4, traced=True)
  # lambda of RAE-L2: the weight of ||decoder parameters||^2.
  decoder_l2_weight: float = base.hparam(1e-5, traced=True)
  # lambda of RAE-GP: the weight of ||d decoder / dz||_F^2.
  gradient_penalty_weight: float = base.hparam(0.0, traced=True)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegularizedAutoencoder(base.Model, Config):
  """`base.Model` of the RAE (no prior: sample with `ae_jax.expost`)."""

  module: autoencoder.AutoencoderModule

  def init(self, rng):
    x = jnp.zeros((1, *self.input_shape), jnp.float32)
    return self.module.init(rng, x)['params']

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del rng, train, labels
    outputs, z = self.module.apply({'params': params}, x)
    rec = self.reconstruction_cost(outputs, x)
    code = 0.5 * jnp.sum(jnp.square(z), axis=-1)
    loss = rec + self.embedding_weight * code
    metrics = {'loss_rec': rec, 'loss_code': code}
    if base.is_on(self.decoder_l2_weight):
      squares = jax.tree.leaves(
          jax.tree.map(lambda p: jnp.sum(jnp.square(p)), params['decoder'])
      )
      # One number for the batch, carried by every example.
      l2 = jnp.broadcast_to(sum(squares), rec.shape)
      loss = loss + self.decoder_l2_weight * l2
      metrics['loss_decoder_l2'] = l2
    if base.is_on(self.gradient_penalty_weight):
      decode = lambda codes: self.module.apply(
          {'params': params}, codes, method='decode'
      )
      gp = penalties.jacobian_frobenius_norm(decode, z)
      loss = loss + self.gradient_penalty_weight * gp
      metrics['loss_gradient_penalty'] = gp
    return {'loss': loss, **metrics, 'mse': self.pixel_mse(outputs, x)}

  def encode(self, params, x):
    return self.module.apply({'params': params}, x, method='encode')

  def decode(self, params, z):
    outputs = self.module.apply({'params': params}, z, method='decode')
    return self.output_mean(outputs)


def build(config, data: base.DataSpec) -> RegularizedAutoencoder:
  """The 'rae' entry of the model registry."""
  base.check_likelihood(config.likelihood)
  hp = base.hparams(config, Config)
  for name in (
      'embedding_weight',
      'decoder_l2_weight',
      'gradient_penalty_weight',
  ):
    value = getattr(hp, name)
    if not value >= 0:  # Also NaN.
      raise ValueError(
          f'config.{name}={value} must be >= 0 (0 turns the term off).'
      )
  # The gradient penalty's Jacobian runs forward mode through the decoder.
  module = autoencoder.make_module(
      config,
      data.input_shape,
      forward_mode_decoder=bool(hp.gradient_penalty_weight),
  )
  return RegularizedAutoencoder(
      input_shape=tuple(data.input_shape),
      latent_dim=config.latent_dim,
      likelihood=config.likelihood,
      module=module,
      embedding_weight=float(hp.embedding_weight),
      decoder_l2_weight=float(hp.decoder_l2_weight),
      gradient_penalty_weight=float(hp.gradient_penalty_weight),
  )
