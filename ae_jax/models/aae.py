"""Adversarial autoencoder: a discriminator matches the codes to a prior.

Makhzani et al. (2015), "Adversarial Autoencoders", arXiv:1511.05644. An
autoencoder (deterministic encoder, or a Gaussian one sampled with the
reparameterisation trick) is trained to reconstruct, while a discriminator
learns to tell prior samples ``z ~ p(z)`` from codes ``z ~ q(z)`` and the
encoder learns to fool it, so the aggregate posterior ``q(z)`` matches
``p(z)`` and decoded prior samples look like data. Any prior we can sample
from works (`ae_jax.priors`: N(0, I), a mixture of 10 Gaussians, a user
sampler). With ``conditional`` the discriminator also sees the one-hot label
and the prior sample of a labelled example comes from its class's mixture
component (Sec. 2.3 of the paper).

The paper's two phases (reconstruction, then regularisation) are one update
here: the model has three parameter groups with their own optimisers
(`param_groups`) and its ``'loss'`` sums

* the reconstruction loss (encoder and decoder),
* ``adversarial_weight`` x the non-saturating generator loss of the codes
  under a stop-gradient copy of the discriminator (encoder only),
* the discriminator loss on stop-gradient codes and prior samples
  (discriminator only),

so one gradient gives each group the gradient of its own objective, and the
one jitted train step updates all three (simultaneous rather than
alternating updates).
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from ae_jax import losses
from ae_jax import priors
from ae_jax.models import base
from ae_jax.models import discriminator
from ae_jax.models import networks
from ae_jax.models import vae

ENCODER_KINDS = ('deterministic', 'gaussian')


class AAEModule(nn.Module):
  """Encoder, decoder and a code discriminator; methods are apply methods."""

  encoder: nn.Module
  decoder: nn.Module
  discriminator: nn.Module
  gaussian: bool = False

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(mean, log_variance)``; a deterministic encoder has log-variance 0
    and is never sampled."""
    h = self.encoder(x)
    if self.gaussian:
      return tuple(jnp.split(h, 2, axis=-1))
    return h, jnp.zeros_like(h)

  def decode(self, z: jax.Array) -> jax.Array:
    return self.decoder(z)

  def discriminate(self, z: jax.Array) -> jax.Array:
    """Logit ``[B]`` that ``z`` (with the one-hot label appended when
    conditional) is a prior sample."""
    return self.discriminator(z)[..., 0]

  def __call__(self, x: jax.Array) -> jax.Array:  # For init: every module.
    mean, _ = self.encode(x)
    return self.decode(mean), self.discriminate(mean)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(discriminator.Config):
  """Hyperparameters of model='aae' (Makhzani et al. 2016)."""

  prior: str = base.hparam('standard_normal')  # Or 'gaussian_mixture', ...
  # 'deterministic' | 'gaussian' (reparameterised) encoder.
  aae_encoder: str = base.hparam('deterministic')
  aae_conditional: bool = base.hparam(False)  # Label-conditioned mixture.
  # Weight of the encoder's adversarial loss.
  adversarial_weight: float = base.hparam(1.0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdversarialAutoencoder(base.Model):
  """`base.Model` for `AAEModule` with a prior from `ae_jax.priors`."""

  module: AAEModule
  prior: priors.Prior
  adversarial_weight: float
  conditional: bool
  num_classes: int
  learning_rate: float
  discriminator_learning_rate: float

  generative = True

  def init(self, rng):
    dim = self.latent_dim + (self.num_classes if self.conditional else 0)
    x = jnp.zeros((1, *self.input_shape), jnp.float32)
    params = self.module.init(
        rng, x, method=lambda m, x: m.decode(m.encode(x)[0])
    )
    disc = self.module.init(
        rng, jnp.zeros((1, dim)), method=lambda m, z: m.discriminate(z)
    )
    return {**params['params'], **disc['params']}

  def param_groups(self):
    return {
        'encoder': self.learning_rate,
        'decoder': self.learning_rate,
        'discriminator': self.discriminator_learning_rate,
    }

  def _discriminate(self, params, z, labels):
    if self.conditional:
      z = jnp.concatenate(
          [z, jax.nn.one_hot(labels, self.num_classes, dtype=z.dtype)], -1
      )
    return self.module.apply(
        {'params': params}, z, method=lambda m, z: m.discriminate(z)
    )

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del train
    if self.conditional and labels is None:
      raise ValueError(
          'A conditional AAE needs labels [B]; pass labels=... (the trainer '
          "passes each batch's labels)."
      )
    z_rng, prior_rng = jax.random.split(rng)
    mean, log_var = self.module.apply({'params': params}, x, method='encode')
    z = mean
    if self.module.gaussian:
      z = vae.reparameterize(z_rng, mean, log_var)
    outputs = self.module.apply({'params': params}, z, method='decode')
    rec = self.reconstruction_cost(outputs, x)

    if self.conditional:
      prior_z = self.prior.sample_conditioned(prior_rng, labels)
    else:
      prior_z = self.prior.sample(prior_rng, x.shape[0])
    frozen = jax.lax.stop_gradient(params)
    # Encoder: fool a frozen discriminator.
    gen = losses.generator_loss(self._discriminate(frozen, z, labels))
    # Discriminator: prior samples are real, frozen codes are fake.
    real = self._discriminate(params, prior_z, labels)
    fake = self._discriminate(params, jax.lax.stop_gradient(z), labels)
    disc = losses.discriminator_loss(real, fake)
    return {
        'loss': rec + self.adversarial_weight * gen + disc,
        'loss_rec': rec,
        'loss_generator': gen,
        'loss_discriminator': disc,
        'discriminator_accuracy': discriminator.accuracy(real, fake),
        'mse': self.pixel_mse(outputs, x),
    }

  def encode(self, params, x):
    return self.module.apply({'params': params}, x, method='encode')[0]

  def decode(self, params, z):
    outputs = self.module.apply({'params': params}, z, method='decode')
    return self.output_mean(outputs)

  def sample(self, params, rng, num):
    """Decoded prior samples."""
    return self.decode(params, self.prior.sample(rng, num))


def build(config, data: base.DataSpec) -> AdversarialAutoencoder:
  """The 'aae' entry of the model registry."""
  input_shape, num_classes = data.input_shape, data.num_classes
  base.check_likelihood(config.likelihood)
  if config.aae_encoder not in ENCODER_KINDS:
    raise ValueError(
        f'config.aae_encoder={config.aae_encoder!r} is not one of '
        f'{ENCODER_KINDS}; set --config.aae_encoder to one of them.'
    )
  priors.check_prior(config.prior, config.latent_dim, config.latent_dim)
  if not config.adversarial_weight > 0:
    raise ValueError(
        f'config.adversarial_weight={config.adversarial_weight} must be > 0.'
    )
  disc = discriminator.build(config, activation=config.activation)
  prior = priors.make_prior(config.prior, config.latent_dim)
  if config.aae_conditional:
    if config.prior != 'gaussian_mixture' or not num_classes:
      raise ValueError(
          'config.aae_conditional=True puts each labelled class on its own '
          'mixture component: set --config.prior=gaussian_mixture and use a '
          'labelled dataset.'
      )
    if prior.num_classes != num_classes:
      raise ValueError(
          f'The mixture prior has {prior.num_classes} components but the '
          f'dataset has {num_classes} classes.'
      )
  gaussian = config.aae_encoder == 'gaussian'
  out = config.latent_dim * (2 if gaussian else 1)
  module = AAEModule(
      encoder=networks.make_encoder(config, input_shape, out),
      decoder=networks.make_decoder(config, input_shape),
      discriminator=disc,
      gaussian=gaussian,
  )
  return AdversarialAutoencoder(
      input_shape=tuple(input_shape),
      latent_dim=config.latent_dim,
      likelihood=config.likelihood,
      module=module,
      prior=prior,
      adversarial_weight=float(config.adversarial_weight),
      conditional=bool(config.aae_conditional),
      num_classes=int(num_classes or 0),
      learning_rate=float(config.learning_rate),
      discriminator_learning_rate=float(config.discriminator_learning_rate),
  )
