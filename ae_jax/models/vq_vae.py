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

Options: ``codebook_update='ema'`` keeps each code at the moving average of
the encoder outputs assigned to it (decay ``ema_decay``; the paper's
Appendix A.1, as Sonnet's ``VectorQuantizerEMA``, with Laplace-smoothed
counts), without the codebook loss; ``restart_dead_codes`` moves codes whose
moving-average use falls below ``restart_threshold`` times a uniform share
(vectors per step / K) to random encoder outputs of the batch (Dhariwal et
al. 2020, Jukebox, with an absolute threshold of 1 vector per step). Both
are computed in `train_losses` and written by `after_update`.

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

CODEBOOK_UPDATES = ('loss', 'ema')


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
  """Hyperparameters of model='vq_vae'."""

  codebook_size: int = base.hparam(256)  # K codes (8 bits per symbol).
  code_dim: int = base.hparam(4)  # D; latent_dim / D symbols per image.
  # beta of the commitment loss (the paper: 0.25).
  commitment_weight: float = base.hparam(0.25, traced=True)
  # 'loss': codes move by the codebook loss's gradient (the paper's Eq. 3);
  # 'ema': codes are moving averages of their vectors (the paper's App. A.1).
  codebook_update: str = base.hparam('loss')
  ema_decay: float = base.hparam(0.99)  # gamma of the 'ema' update.
  # Dead codes: those whose moving-average count of vectors per step falls
  # below restart_threshold times their share under uniform use (vectors
  # per step / K) are set to random encoder outputs of the batch.
  restart_dead_codes: bool = base.hparam(False)
  restart_threshold: float = base.hparam(0.03)


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
    return self.decode(vq.quantized.reshape(z_e.shape)), vq, z_e


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

  @property
  def _carries_state(self) -> bool:
    return self.codebook_update == 'ema' or self.restart_dead_codes

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del rng, train, labels
    return self._losses(params, x)[0]

  def _losses(self, params, x):
    outputs, vq, z_e = self.module.apply({'params': params}, x)
    rec = self.reconstruction_cost(outputs, x)
    codebook = jnp.sum(vq.codebook_loss, -1)
    commitment = jnp.sum(vq.commitment_loss, -1)
    perplexity, used = losses.codebook_perplexity(
        vq.indices, self.codebook_size
    )
    batch = lambda v: jnp.broadcast_to(v, rec.shape)
    loss = rec + self.commitment_weight * commitment
    if self.codebook_update == 'loss':
      loss = loss + codebook
    metrics = {
        'loss': loss,
        'loss_rec': rec,
        'loss_codebook': codebook,
        'loss_commitment': commitment,
        'perplexity': batch(perplexity),
        'codes_used': batch(used),
        'mse': self.pixel_mse(outputs, x),
    }
    return metrics, vq, z_e.reshape(-1, self.code_dim)

  def init_model_state(self, rng, batch_size):
    """Moving averages of each code's count and vector sum, and the codebook
    rows `after_update` writes (``mask``/``values``); {} without EMA or
    restarts."""
    del rng, batch_size
    if not self._carries_state:
      return {}
    k, d = self.codebook_size, self.code_dim
    return {
        'count': jnp.zeros(k),
        'vector_sum': jnp.zeros((k, d)),
        'steps': jnp.zeros((), jnp.int32),
        'mask': jnp.zeros(k, bool),
        'values': jnp.zeros((k, d)),
    }

  def train_losses(self, params, model_state, x, rng, *, labels=None):
    metrics, vq, vectors = self._losses(params, x)
    if not self._carries_state:
      return metrics, model_state
    sg = jax.lax.stop_gradient
    vectors, codebook = sg(vectors), sg(params['codebook'])
    one_hot = jax.nn.one_hot(vq.indices.reshape(-1), self.codebook_size)
    gamma = self.ema_decay
    count = gamma * model_state['count'] + (1 - gamma) * one_hot.sum(0)
    vector_sum = gamma * model_state['vector_sum'] + (1 - gamma) * jnp.matmul(
        one_hot.T, vectors, precision=jax.lax.Precision.HIGHEST
    )
    steps = model_state['steps'] + 1
    debias = 1 - gamma ** steps.astype(jnp.float32)  # Averages start at 0.
    count_hat = count / debias
    if self.codebook_update == 'ema':
      # Laplace smoothing of the counts (Sonnet's VectorQuantizerEMA).
      total = jnp.sum(count_hat)
      smoothed = (
          (count_hat + 1e-5) / (total + self.codebook_size * 1e-5) * total
      )
      values = jnp.where(
          count_hat[:, None] > 0,
          vector_sum / debias / smoothed[:, None],
          codebook,
      )
      mask = jnp.ones(self.codebook_size, bool)
    else:
      values, mask = codebook, jnp.zeros(self.codebook_size, bool)
    if self.restart_dead_codes:
      # The threshold is a fraction of a code's share under uniform use.
      floor = self.restart_threshold * len(vectors) / self.codebook_size
      dead = count_hat < floor
      picks = jax.random.randint(
          jax.random.fold_in(rng, 7), (self.codebook_size,), 0, len(vectors)
      )
      values = jnp.where(dead[:, None], vectors[picks], values)
      mask = mask | dead
      # A restarted code starts its averages at the threshold.
      fresh = floor * debias
      count = jnp.where(dead, fresh, count)
      vector_sum = jnp.where(dead[:, None], values * fresh, vector_sum)
      metrics['codes_restarted'] = jnp.broadcast_to(
          jnp.sum(dead), metrics['loss'].shape
      )
    return metrics, {
        'count': count,
        'vector_sum': vector_sum,
        'steps': steps,
        'mask': mask,
        'values': values,
    }

  def after_update(self, params, model_state):
    if not model_state:
      return params
    codebook = jnp.where(
        model_state['mask'][:, None], model_state['values'], params['codebook']
    )
    return {**params, 'codebook': codebook}

  def code_indices(self, params, x):
    """The symbols of ``x``: int32 ``[B, latent_dim / code_dim]``."""
    z_e = self.module.apply({'params': params}, x, method='encode')
    return self.module.apply({'params': params}, z_e, method='quantize').indices

  def _snap(self, params, z):
    """``z [B, latent_dim]`` -> its nearest codebook rows, exactly."""
    vq = self.module.apply({'params': params}, z, method='quantize')
    return jnp.take(params['codebook'], vq.indices, axis=0).reshape(z.shape)

  def codes_of(self, params, indices):
    """Symbols ``[B, S]`` -> their codebook rows, flattened ``[B, latent_dim]``."""
    codes = jnp.take(params['codebook'], indices, axis=0)
    return codes.reshape((indices.shape[0], self.latent_dim))

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
  if hp.codebook_update not in CODEBOOK_UPDATES:
    raise ValueError(
        f'Unknown codebook_update {hp.codebook_update!r}; set '
        f'--config.codebook_update to one of {CODEBOOK_UPDATES}.'
    )
  if not 0 < hp.ema_decay < 1:
    raise ValueError(
        f'config.ema_decay={hp.ema_decay} must lie in (0, 1) (e.g. 0.99).'
    )
  if not hp.restart_threshold >= 0:
    raise ValueError(
        f'config.restart_threshold={hp.restart_threshold} must be >= 0 (a '
        "fraction of a code's share of the vectors under uniform use, e.g. "
        '0.03).'
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
      codebook_update=hp.codebook_update,
      ema_decay=float(hp.ema_decay),
      restart_dead_codes=bool(hp.restart_dead_codes),
      restart_threshold=float(hp.restart_threshold),
  )
