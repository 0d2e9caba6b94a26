"""MIWAE, CIWAE and PIWAE: the VAE network on the bounds of Rainforth et al.

Rainforth, Kosiorek, Le, Maddison, Igl, Wood & Teh (2018), "Tighter
Variational Bounds are Not Necessarily Better", ICML. Tighter IWAE bounds
(larger K) help the generative network but starve the inference network:
the signal-to-noise ratio of its gradient falls like 1/sqrt(K). With a
budget of M K importance samples per example:

* ``iwae_estimator='miwae'``: the mean of M K-sample IWAE bounds
  (`losses.miwae_bound`) for both networks;
* ``'ciwae'``: ``ciwae_beta * ELBO + (1 - ciwae_beta) * IWAE`` over all M K
  samples (`losses.ciwae_bound`);
* ``'piwae'``: the generative network (decoder) follows the M K-sample IWAE
  bound, the inference network (encoder) the MIWAE(M, K) bound, by two
  passes with ``stop_gradient`` on the other network's parameters.

Metrics: ``neg_iwae_bound`` (the M K-sample IWAE bound) and ``neg_elbo`` of
the same draws, beside the loss. The test NLL (task ``nll``) and ELBO are
the figures the paper compares.
"""

import dataclasses

import jax
import jax.numpy as jnp

from ae_jax import losses
from ae_jax.models import base
from ae_jax.models import vae

ESTIMATORS = ('miwae', 'ciwae', 'piwae')


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
  """Hyperparameters of model='miwae'."""

  iwae_estimator: str = base.hparam('miwae')  # 'miwae' | 'ciwae' | 'piwae'.
  outer_samples: int = base.hparam(8)  # M.
  iwae_samples: int = base.hparam(8)  # K.
  ciwae_beta: float = base.hparam(0.5, traced=True)  # CIWAE's beta.


@dataclasses.dataclass(frozen=True, kw_only=True)
class MultiSampleVAE(vae.VariationalAutoencoder):
  """`vae.VariationalAutoencoder` trained on a bound of `ESTIMATORS`."""

  iwae_estimator: str = 'miwae'
  outer_samples: int = 8
  inner_samples: int = 8
  ciwae_beta: float = 0.5

  def _log_weights(self, params, x, rng):
    m, k = self.outer_samples, self.inner_samples
    return self.log_importance_weights(params, x, rng, m * k)  # [M K, B]

  def _miwae(self, log_w):
    m, k = self.outer_samples, self.inner_samples
    return losses.miwae_bound(log_w.reshape((m, k, *log_w.shape[1:])))

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del train, labels
    if self.iwae_estimator == 'piwae':
      # The same draws (same rng) on two gradient paths; the decoder's
      # pass also gives the metrics (its values are the log weights').
      sg = jax.lax.stop_gradient
      decoder_side = {**params, 'encoder': sg(params['encoder'])}
      encoder_side = {**sg(params), 'encoder': params['encoder']}
      log_w = self._log_weights(decoder_side, x, rng)
      iwae = losses.iwae_bound(log_w)
      loss = -(iwae + self._miwae(self._log_weights(encoder_side, x, rng)))
      loss = loss - sg(loss) - sg(iwae)  # Valued as the IWAE bound.
    else:
      log_w = self._log_weights(params, x, rng)
      iwae = losses.iwae_bound(log_w)
      if self.iwae_estimator == 'miwae':
        loss = -self._miwae(log_w)
      else:
        loss = -losses.ciwae_bound(log_w, beta=self.ciwae_beta)
    return {
        'loss': loss,
        'neg_iwae_bound': -iwae,
        'neg_elbo': -jnp.mean(log_w, axis=0),
        'mse': losses.mean_squared_error(
            self.reconstruct(params, x), x, event_ndims=self.event_ndims
        ),
    }


def build(config, data: base.DataSpec) -> MultiSampleVAE:
  """The 'miwae' entry of the model registry."""
  hp = base.hparams(config, Config)
  if hp.iwae_estimator not in ESTIMATORS:
    raise ValueError(
        f'Unknown iwae_estimator {hp.iwae_estimator!r}; set '
        f'--config.iwae_estimator to one of {ESTIMATORS}.'
    )
  for field in ('outer_samples', 'iwae_samples'):
    value = getattr(hp, field)
    if not (isinstance(value, int) and value >= 1):
      raise ValueError(
          f'config.{field}={value!r} must be a positive integer (M outer '
          'groups of K importance samples).'
      )
  if not 0 <= hp.ciwae_beta <= 1:
    raise ValueError(
        f'config.ciwae_beta={hp.ciwae_beta} must lie in [0, 1] (1 = the '
        'ELBO, 0 = the IWAE bound).'
    )
  model = vae.build(config, data)  # The VAE's network and checks.
  return vae.extend(
      model,
      MultiSampleVAE,
      iwae_estimator=hp.iwae_estimator,
      outer_samples=hp.outer_samples,
      inner_samples=hp.iwae_samples,
      ciwae_beta=float(hp.ciwae_beta),
  )
