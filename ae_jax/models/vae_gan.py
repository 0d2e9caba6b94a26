"""VAE-GAN: a VAE whose reconstruction error is measured in a GAN
discriminator's features.

Larsen, Sonderby, Larochelle & Winther (2016), "Autoencoding beyond pixels
using a learned similarity metric", ICML. Three networks, three objectives
(their Algorithm 1), each with its own optimiser (`param_groups`) in one
jitted step:

  encoder        L_prior + L_llike
  decoder        gamma * L_llike + L_gen
  discriminator  L_disc

with L_prior = KL(q(z|x) || N(0, I)); L_llike = ||Dis_l(x) - Dis_l(x~)||^2 / 2,
the Gaussian log-likelihood (up to constants) of the discriminator's last
hidden layer Dis_l at the reconstruction x~ = Dec(z), z ~ q(z|x); L_gen =
-log D(Dec(z)) - log D(Dec(z_p)) (the non-saturating form of their -L_GAN)
for z_p ~ N(0, I); and L_disc = -log D(x) - log(1 - D(Dec(z))) - log(1 -
D(Dec(z_p))). As in the AAE, one scalar carries all three: each network's
term sees the others through ``stop_gradient``; gamma reaches only the
decoder (the encoder's copy of L_llike has a gradient scaled by 1/gamma on
its way through the decoder).

``equilibrium_margin`` > 0 adds the balance of Larsen et al.'s code
(andersbll/autoencoding_beyond_pixels, ``model/aegan.py``: equilibrium
0.68, margin 0.4; ``vaegan.py``: margin 0.25): a discriminator that wins by
the margin pauses, a decoder that loses by it pauses, each skipping its
optimiser step and state (`equilibrium_gates`, `base.Model.update_gates`).

``pixel_weight`` > 0 adds that multiple of the pixel negative log-likelihood
to L_llike (a common variant; the paper uses the features alone).

The discriminator (``discriminator_network``) is an MLP on the flattened
image ('mlp': ``discriminator_sizes`` hidden layers, the last is Dis_l, and a
logit) or, as in the paper, a conv net ('conv', images ``layout='hwc'``): the
strided 3x3 convolutions of ``conv_features`` (`networks.ConvEncoder`) whose
linear head is the first of ``discriminator_sizes``, then the rest of them
(the last is Dis_l) and the logit.
"""

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ae_jax import losses
from ae_jax.models import base
from ae_jax.models import discriminator
from ae_jax.models import networks
from ae_jax.models import vae


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(discriminator.Config):
  """Hyperparameters of model='vae_gan'."""

  # gamma: the decoder's weight of the feature-space reconstruction error
  # against fooling the discriminator.
  feature_weight: float = base.hparam(1.0)
  # Weight of the pixel negative log-likelihood added to L_llike (0 = the
  # paper's objective; 1 keeps the VAE's reconstruction term beside it).
  pixel_weight: float = base.hparam(0.0, traced=True)
  # The image discriminator: 'mlp' (on the flattened image) | 'conv' (strided
  # convolutions of conv_features first, as Larsen et al.; layout='hwc').
  discriminator_network: str = base.hparam('mlp')
  # Larsen et al.'s equilibrium rule (0 = off; their code: 0.4): pause
  # the discriminator's updates while its cross-entropy on real images or
  # on fakes is below EQUILIBRIUM - margin (it wins), the decoder's while
  # either is above EQUILIBRIUM + margin (it loses), and train both if both
  # would pause.
  equilibrium_margin: float = base.hparam(0.0)


DISCRIMINATOR_NETWORKS = ('mlp', 'conv')
# The cross-entropy the equilibrium rule balances around (Larsen et al.'s
# code; ln 2 = 0.693 is a discriminator at chance). Their fake cost is the
# mean over reconstructions and prior samples together, as ours.
EQUILIBRIUM = 0.68


def equilibrium_gates(real_bce, fake_bce, margin):
  """Larsen et al.'s rule: ``{'discriminator': bool, 'decoder': bool}``,
  whether each trains this step, from the discriminator's mean
  cross-entropy on real images and on fakes."""
  low, high = EQUILIBRIUM - margin, EQUILIBRIUM + margin
  disc = jnp.logical_not((real_bce < low) | (fake_bce < low))
  dec = jnp.logical_not((real_bce > high) | (fake_bce > high))
  neither = jnp.logical_not(disc | dec)
  return {'discriminator': disc | neither, 'decoder': dec | neither}


class ImageDiscriminator(nn.Module):
  """``x -> (Dis_l(x) [B, sizes[-1]], logit [B])``."""

  sizes: tuple[int, ...]
  activation: str = 'relu'
  # Strided convolutions before the dense layers (empty: an MLP); their
  # linear head is the first dense layer, ``hidden_0``.
  conv_features: tuple[int, ...] = ()
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32  # Compute dtype; parameters and outputs float32.

  @nn.compact
  def __call__(self, x):
    h, first = x.reshape((x.shape[0], -1)), 0
    if self.conv_features:
      body = networks.ConvEncoder(
          self.conv_features,
          self.sizes[0],
          activation=self.activation,
          conv_impl=self.conv_impl,
          dtype=self.dtype,
          name='hidden_0',
      )
      h, first = getattr(nn, self.activation)(body(x)), 1
    for i, size in enumerate(self.sizes[first:], start=first):
      dense = lambda suffix, i=i, size=size: networks.layer(
          nn.Dense, size, dtype=self.dtype, name=f'hidden_{i}{suffix}'
      )
      h = networks.hidden_activation(self.activation, dense, h)
    logit = networks.layer(nn.Dense, 1, dtype=self.dtype, name='logit')(h)
    # The feature loss and the GAN losses are taken in float32.
    return h.astype(jnp.float32), logit[..., 0].astype(jnp.float32)


class VAEGANModule(vae.VAEModule):
  """`vae.VAEModule` plus the image discriminator."""

  discriminator: nn.Module | None = None

  def discriminate(self, x):
    return self.discriminator(x)

  def __call__(self, x, rng):  # Creates every parameter.
    out = super().__call__(x, rng)
    return out, self.discriminate(x)


@dataclasses.dataclass(frozen=True, kw_only=True)
class VAEGAN(vae.VariationalAutoencoder):
  """`vae.VariationalAutoencoder` with the VAE-GAN objectives."""

  best_metric = 'mse'  # Its 'loss' sums the adversarial terms.

  module: VAEGANModule
  feature_weight: float = 1.0
  pixel_weight: float = 0.0
  learning_rate: float = 1e-3
  discriminator_learning_rate: float = 1e-3
  equilibrium_margin: float = 0.0

  def update_gates(self, metrics):
    if not self.equilibrium_margin:
      return None
    return equilibrium_gates(
        metrics['discriminator_real_bce'],
        metrics['discriminator_fake_bce'],
        self.equilibrium_margin,
    )

  def param_groups(self):
    groups = {
        'encoder': self.learning_rate,
        'decoder': self.learning_rate,
        'discriminator': self.discriminator_learning_rate,
    }
    if self.module.learn_output_variance:  # Unused: pixel terms use 1.
      groups['output_log_variance'] = self.learning_rate
    return groups

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del train, labels
    sg = jax.lax.stop_gradient
    z_rng, p_rng = jax.random.split(rng)
    apply = lambda p, *a, method: self.module.apply(
        {'params': p}, *a, method=method
    )
    mean, log_var = apply(params, x, method='encode')
    z = vae.reparameterize(z_rng, mean, log_var)
    prior = losses.standard_normal_kl(mean, log_var)
    frozen = {**params, 'discriminator': sg(params['discriminator'])}
    # L_llike: encoder gradient 1, decoder gradient gamma.
    gamma = self.feature_weight
    z_scaled = z / gamma + sg(z - z / gamma)  # Value z, gradient 1 / gamma.
    recon = apply(frozen, z_scaled, method='decode')
    features = lambda images: apply(frozen, images, method='discriminate')[0]
    llike = 0.5 * jnp.sum(
        jnp.square(features(x) - features(self.output_mean(recon))), -1
    )
    pixel = -self.log_likelihood(recon, x)
    if base.is_on(self.pixel_weight):
      llike = llike + self.pixel_weight * pixel
    # The GAN: fakes are reconstructions (no gradient to the encoder) and
    # decoded prior samples.
    z_p = jax.random.normal(p_rng, z.shape)
    fakes = [
        self.output_mean(apply(params, sg(z), method='decode')),
        self.output_mean(apply(params, z_p, method='decode')),
    ]
    gen = sum(
        losses.generator_loss(apply(frozen, f, method='discriminate')[1])
        for f in fakes
    )
    real_logit = apply(params, x, method='discriminate')[1]
    fake_logits = [
        apply(params, sg(f), method='discriminate')[1] for f in fakes
    ]
    disc = losses.discriminator_loss(real_logit, fake_logits[0]) + (
        jax.nn.softplus(fake_logits[1])  # -log(1 - D(Dec(z_p))).
    )
    return {
        'loss': prior + gamma * llike + gen + disc,
        'loss_kl': prior,
        'loss_feature': llike,
        'loss_rec': pixel,
        'loss_generator': gen,
        'loss_discriminator': disc,
        'discriminator_accuracy': discriminator.accuracy(
            real_logit, fake_logits[1]
        ),
        # The equilibrium rule's inputs: -log D(x), and -log(1 - D(fake))
        # averaged over both kinds of fake.
        'discriminator_real_bce': jax.nn.softplus(-real_logit),
        'discriminator_fake_bce': 0.5
        * sum(jax.nn.softplus(f) for f in fake_logits),
        'mse': self.pixel_mse(recon, x),
    }

  def log_importance_weights(self, params, x, rng, num_samples):
    raise NotImplementedError(
        'VAE-GAN has no pixel likelihood (its reconstruction error is in '
        "the discriminator's features), so no importance weights; task "
        "'nll' needs e.g. 'vae'."
    )


def build(config, data: base.DataSpec) -> VAEGAN:
  """The 'vae_gan' entry of the model registry."""
  hp = base.hparams(config, Config)
  discriminator.build(config, activation=config.activation)  # Its checks.
  if not hp.pixel_weight >= 0:
    raise ValueError(
        f'config.pixel_weight={hp.pixel_weight} must be >= 0 (0 = the '
        "paper's feature-only reconstruction error)."
    )
  if not hp.feature_weight > 0:
    raise ValueError(
        f'config.feature_weight={hp.feature_weight} must be > 0 (gamma, the '
        "decoder's weight of the feature-space reconstruction error)."
    )
  if not hp.equilibrium_margin >= 0:
    raise ValueError(
        f'config.equilibrium_margin={hp.equilibrium_margin} must be >= 0 (0 '
        "turns Larsen et al.'s equilibrium rule off; their code: 0.4)."
    )
  if hp.discriminator_network not in DISCRIMINATOR_NETWORKS:
    raise ValueError(
        f'Unknown config.discriminator_network={hp.discriminator_network!r};'
        f' set --config.discriminator_network to one of '
        f'{DISCRIMINATOR_NETWORKS}.'
    )
  conv = hp.discriminator_network == 'conv'
  if conv and config.activation == 'gated':
    raise ValueError(
        "config.discriminator_network='conv' has no gated layers; set "
        '--config.activation=relu (or another elementwise activation).'
    )
  if conv and len(data.input_shape) != 3:
    raise ValueError(
        "config.discriminator_network='conv' needs images [H, W, C]; add "
        '--config.layout=hwc.'
    )
  model = vae.build(config, data)  # The VAE's network and checks.
  module = VAEGANModule(
      **vae.network_fields(model.module),
      discriminator=ImageDiscriminator(
          tuple(hp.discriminator_sizes),
          activation=config.activation,
          conv_features=tuple(config.conv_features) if conv else (),
          conv_impl=config.conv_impl,
          dtype=networks.compute_dtype(config),
      ),
  )
  return vae.extend(
      model,
      VAEGAN,
      module=module,
      feature_weight=float(hp.feature_weight),
      pixel_weight=float(hp.pixel_weight),
      learning_rate=float(config.learning_rate),
      discriminator_learning_rate=float(hp.discriminator_learning_rate),
      equilibrium_margin=float(hp.equilibrium_margin),
  )
