"""FactorVAE: a VAE whose aggregate posterior is pushed towards independent dimensions.

Kim & Mnih (2018), "Disentangling by factorising", ICML. The loss is the
negative ELBO plus ``gamma`` times the total correlation ``TC(z) = KL(q(z) ||
prod_j q(z_j))``, estimated by a discriminator trained to tell codes
``z ~ q(z)`` from `losses.permute_dims` codes (samples of the product of
marginals): its logit on a code is the density-ratio estimate of TC
(`losses.total_correlation_from_logits`).

The discriminator has its own optimiser (`param_groups`); as in
`ae_jax.models.aae`, the ``'loss'`` sums the VAE objective with a frozen
discriminator and the discriminator's loss on frozen codes, so one jitted
step updates the VAE and the discriminator. One batch serves both the VAE
and the permutation (the paper draws a second batch for the permutation).
"""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from ae_jax import losses
from ae_jax.models import base
from ae_jax.models import discriminator
from ae_jax.models import vae


class FactorVAEModule(vae.VAEModule):
  """`vae.VAEModule` plus a discriminator on codes."""

  discriminator: nn.Module = None

  def discriminate(self, z: jax.Array) -> jax.Array:
    """Logit ``[B]`` that ``z`` is a joint sample of q(z) (not permuted)."""
    return self.discriminator(z)[..., 0]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(vae.ELBOConfig, discriminator.Config):
  """Hyperparameters of model='factor_vae'."""

  # gamma: weight of the total correlation.
  tc_weight: float = base.hparam(10.0, traced=True)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FactorVAE(vae.VariationalAutoencoder):
  """`vae.VariationalAutoencoder` with the FactorVAE total-correlation penalty."""

  tc_weight: float
  learning_rate: float
  discriminator_learning_rate: float

  def init(self, rng):
    params = super().init(rng)
    disc = self.module.init(
        rng,
        jnp.zeros((1, self.latent_dim)),
        method=lambda m, z: m.discriminate(z),
    )
    return {**params, **disc['params']}

  def param_groups(self):
    groups = {
        'encoder': self.learning_rate,
        'decoder': self.learning_rate,
        'discriminator': self.discriminator_learning_rate,
    }
    if self.module.learn_output_variance:
      groups['output_log_variance'] = self.learning_rate
    return groups

  def _discriminate(self, params, z):
    return self.module.apply(
        {'params': params}, z, method=lambda m, z: m.discriminate(z)
    )

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del train, labels
    metrics, z = self._elbo_losses(params, x, rng, self.capacity_max)
    tc = losses.total_correlation_from_logits(
        self._discriminate(jax.lax.stop_gradient(params), z)
    )
    frozen_z = jax.lax.stop_gradient(z)
    permuted = losses.permute_dims(jax.random.fold_in(rng, 2), frozen_z)
    real = self._discriminate(params, frozen_z)
    fake = self._discriminate(params, permuted)
    disc = losses.discriminator_loss(real, fake)
    metrics.update(
        loss=metrics['loss'] + self.tc_weight * tc + disc,
        loss_tc=tc,
        loss_discriminator=disc,
        discriminator_accuracy=discriminator.accuracy(real, fake),
    )
    return metrics


def build(config, data: base.DataSpec) -> FactorVAE:
  """The 'factor_vae' entry of the model registry."""
  model = vae.build(config, data)
  if not config.tc_weight > 0:
    raise ValueError(f'config.tc_weight={config.tc_weight} must be > 0.')
  disc = discriminator.build(config, activation='relu')
  module = FactorVAEModule(
      **vae.network_fields(model.module),
      discriminator=disc,
  )
  return vae.extend(
      model,
      FactorVAE,
      module=module,
      tc_weight=float(config.tc_weight),
      learning_rate=float(config.learning_rate),
      discriminator_learning_rate=float(config.discriminator_learning_rate),
  )
