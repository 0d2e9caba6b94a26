"""VQ-VAE: a discrete code, a learned codebook and the straight-through
estimator.

van den Oord, Vinyals & Kavukcuoglu (2017), "Neural Discrete Representation
Learning", NeurIPS. The encoder's ``latent_dim`` outputs are read as
``latent_dim / code_dim`` vectors of ``code_dim``; each is replaced by its
nearest row of a ``[codebook_size, code_dim]`` codebook before decoding
(`losses.vector_quantize`), so an image is coded by ``latent_dim /
code_dim`` symbols of ``log2(codebook_size)`` bits. Objective (the paper's
Eq. 3, per example, summed over the latent vectors):

  c(x, D(z_q)) + ||sg[z_e] - z_q||^2 + commitment_weight * ||z_e - sg[z_q]||^2,

with the cost c of ``config.likelihood`` as in the plain AE and the
decoder's gradient copied from z_q to z_e. The codebook starts with
unit-variance uniform entries (Sonnet's ``VectorQuantizer`` scaling), on the
scale of the encoder's outputs. Batch metrics: ``perplexity`` (exp of the
entropy of the codes' frequencies in the batch) and ``codes_used`` (the
fraction of the codebook used in the batch).

`encode` returns the quantised vectors (flattened), `code_indices` the
symbols, and `decode` snaps any input to the codebook first, so codes drawn
from an ex-post density (`ae_jax.expost`) decode as codebook entries.
"""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from ae_jax import losses
from ae_jax.models import base
from ae_jax.models import networks


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
  """Hyperparameters of model='vq_vae'."""

  codebook_size: int = base.hparam(256)  # K codes (8 bits per symbol).
  code_dim: int = base.hparam(4)  # D; latent_dim / D symbols per image.
  # beta of the commitment loss (the paper: 0.25).
  commitment_weight: float = base.hparam(0.25, traced=True)


class VQModule(nn.Module):
  """Encoder, codebook and decoder; the methods are apply methods."""

  encoder: nn.Module
  decoder: nn.Module
  codebook_size: int
  code_dim: int

  def setup(self):
    limit = math.sqrt(3.0)  # Uniform entries of unit variance.
    self.codebook = self.param(
        'codebook',
        lambda rng, shape: jax.random.uniform(
            rng, shape, minval=-limit, maxval=limit
        ),
        (self.codebook_size, self.code_dim),
    )

  def quantize(self, z: jax.Array) -> losses.VectorQuantization:
    vectors = z.reshape((z.shape[0], -1, self.code_dim))
    return losses.vector_quantize(vectors, self.codebook)

  def encode(self, x: jax.Array) -> jax.Array:
    return self.encoder(x)

  def decode(self, z: jax.Array) -> jax.Array:
    return self.decoder(z)

  def __call__(self, x: jax.Array):
    z_e = self.encode(x)
    vq = self.quantize(z_e)
    return self.decode(vq.quantized.reshape(z_e.shape)), vq


@dataclasses.dataclass(frozen=True, kw_only=True)
class VQVAE(base.Model, Config):
  """`base.Model` of the VQ-VAE."""

  module: VQModule

  def init(self, rng):
    x = jnp.zeros((1, *self.input_shape), jnp.float32)
    return self.module.init(rng, x)['params']

  @property
  def num_symbols(self) -> int:
    return self.latent_dim // self.code_dim

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del rng, train, labels
    outputs, vq = self.module.apply({'params': params}, x)
    rec = self.reconstruction_cost(outputs, x)
    codebook = jnp.sum(vq.codebook_loss, -1)
    commitment = jnp.sum(vq.commitment_loss, -1)
    perplexity, used = losses.codebook_perplexity(
        vq.indices, self.codebook_size
    )
    batch = lambda v: jnp.broadcast_to(v, rec.shape)
    return {
        'loss': rec + codebook + self.commitment_weight * commitment,
        'loss_rec': rec,
        'loss_codebook': codebook,
        'loss_commitment': commitment,
        'perplexity': batch(perplexity),
        'codes_used': batch(used),
        'mse': self.pixel_mse(outputs, x),
    }

  def code_indices(self, params, x):
    """The symbols of ``x``: int32 ``[B, latent_dim / code_dim]``."""
    z_e = self.module.apply({'params': params}, x, method='encode')
    return self.module.apply({'params': params}, z_e, method='quantize').indices

  def _snap(self, params, z):
    """``z [B, latent_dim]`` -> its nearest codebook rows, exactly."""
    vq = self.module.apply({'params': params}, z, method='quantize')
    return jnp.take(params['codebook'], vq.indices, axis=0).reshape(z.shape)

  def encode(self, params, x):
    """Quantised codes ``[B, latent_dim]`` (the codebook rows, flattened)."""
    z_e = self.module.apply({'params': params}, x, method='encode')
    return self._snap(params, z_e)

  def decode(self, params, z):
    outputs = self.module.apply(
        {'params': params}, self._snap(params, z), method='decode'
    )
    return self.output_mean(outputs)


def build(config, data: base.DataSpec) -> VQVAE:
  """The 'vq_vae' entry of the model registry."""
  base.check_likelihood(config.likelihood)
  hp = base.hparams(config, Config)
  if not (isinstance(hp.codebook_size, int) and hp.codebook_size >= 2):
    raise ValueError(
        f'config.codebook_size={hp.codebook_size!r} must be an integer >= 2 '
        '(one code carries no information), e.g. 256.'
    )
  if not (isinstance(hp.code_dim, int) and hp.code_dim >= 1) or (
      config.latent_dim % hp.code_dim
  ):
    raise ValueError(
        f'config.code_dim={hp.code_dim!r} must be a positive integer that '
        f'divides config.latent_dim={config.latent_dim} (the encoder output '
        'is read as latent_dim / code_dim vectors).'
    )
  if not hp.commitment_weight >= 0:
    raise ValueError(
        f'config.commitment_weight={hp.commitment_weight} must be >= 0 (the '
        'paper: 0.25).'
    )
  module = VQModule(
      encoder=networks.make_encoder(
          config, data.input_shape, config.latent_dim
      ),
      decoder=networks.make_decoder(config, data.input_shape),
      codebook_size=hp.codebook_size,
      code_dim=hp.code_dim,
  )
  return VQVAE(
      input_shape=tuple(data.input_shape),
      latent_dim=config.latent_dim,
      likelihood=config.likelihood,
      module=module,
      codebook_size=hp.codebook_size,
      code_dim=hp.code_dim,
      commitment_weight=float(hp.commitment_weight),
  )
