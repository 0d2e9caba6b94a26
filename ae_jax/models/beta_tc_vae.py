"""beta-TC-VAE: a VAE whose total-correlation term alone is weighted by beta.

Chen, Li, Grosse & Duvenaud (2018), "Isolating Sources of Disentanglement in
Variational Autoencoders", NeurIPS. The KL term of the ELBO, averaged over
the data, splits into

  E_x KL(q(z|x) || p(z)) = I_q(x; z) + KL(q(z) || prod_j q(z_j))
                           + sum_j KL(q(z_j) || p(z_j))

(index-code mutual information, total correlation, dimension-wise KL), and
the beta-TC-VAE penalises only the total correlation (TC) more:

  loss = -ELBO + (beta - 1) * TC,

the form of disentanglement_lib (``BetaTCVAE``: ``kl + (beta - 1) * tc``),
which is Chen et al.'s objective with alpha = gamma = 1. The aggregate
posterior q(z) = (1/N) sum_n q(z|x_n) is estimated from the minibatch
(`log_aggregate_posterior`) with minibatch-stratified sampling (``'mss'``,
the paper's lower-variance estimator) or minibatch-weighted sampling
(``'mws'``); both need N, the number of training examples, which `build`
takes from `base.DataSpec.num_train`.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp

from ae_jax import losses
from ae_jax.models import base
from ae_jax.models import vae

ESTIMATORS = ('mss', 'mws')


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
  """Hyperparameters of model='beta_tc_vae'."""

  # Weight of the total correlation (1 = the VAE). Default: 6, the middle of
  # disentanglement_lib's study sweep (1, 2, 4, 6, 8, 10).
  beta: float = base.hparam(6.0, traced=True)
  # How q(z) is estimated from a minibatch: 'mss' (stratified) | 'mws'.
  tc_estimator: str = base.hparam('mss')


def log_importance_weights(
    batch_size: int, dataset_size: int, estimator: str = 'mss'
) -> jax.Array:
  """``[B, B]`` log-weights ``w[i, j]`` of q(z_i | x_j) in q(z_i) = sum_j w q.

  ``'mws'``: every weight is ``1 / (N B)`` (Chen et al., eq. 13).
  ``'mss'``: the example's own x_i weighs ``1 / N``, one other
  (``j = i + 1 mod B``) ``(N - M) / (N M)`` and the rest ``1 / M``, with
  ``M = B - 1`` (Chen et al., appendix C.2); each row sums to 1. The
  reference code (github.com/rtqichen/beta-tcvae, ``--mss``) fills its
  matrix with a flat stride of B, which puts 1/N in column 0 and the
  stratum weight in column 1 of every row instead of at the example's own
  column: a known bug of that code, not followed here.
  """
  n, b = dataset_size, batch_size
  if estimator == 'mws':
    return jnp.full((b, b), -math.log(n * b))
  m = b - 1
  eye = jnp.eye(b, dtype=bool)
  stratum = jnp.roll(eye, 1, axis=1)
  weights = jnp.where(eye, 1 / n, jnp.where(stratum, (n - m) / (n * m), 1 / m))
  return jnp.log(weights)


def kl_decomposition(
    z: jax.Array,
    mean: jax.Array,
    log_variance: jax.Array,
    *,
    dataset_size: int,
    estimator: str = 'mss',
) -> dict[str, jax.Array]:
  """Per-example estimates ``[B]`` of the three terms of the KL.

  ``z`` ``[B, D]`` are samples of q(z|x) for the batch whose posterior
  parameters are ``mean`` and ``log_variance``. Returns
  ``mutual_information`` (log q(z|x) - log q(z)), ``total_correlation``
  (log q(z) - sum_j log q(z_j)) and ``dimension_kl`` (sum_j log q(z_j) -
  log p(z)) with p = N(0, I); they sum to log q(z|x) - log p(z), a one-sample
  estimate of KL(q(z|x) || p(z)).
  """
  b, d = z.shape
  if b < 2:
    raise ValueError(
        f'kl_decomposition estimates q(z) from the batch and needs at least '
        f'2 examples, got {b}; raise the batch size.'
    )
  # log q(z_i,d | x_j) for every pair: [B, B, D].
  shape = (b, b, d)
  pairwise = losses.gaussian_log_likelihood(
      jnp.broadcast_to(mean[None], shape),
      jnp.broadcast_to(log_variance[None], shape),
      jnp.broadcast_to(z[:, None], shape),
      event_ndims=0,
  )
  log_w = log_importance_weights(b, dataset_size, estimator)
  log_qz = jax.nn.logsumexp(log_w + pairwise.sum(-1), axis=1)
  log_qz_marginals = jax.nn.logsumexp(log_w[..., None] + pairwise, axis=1)
  log_prod_qz = log_qz_marginals.sum(-1)
  log_qz_given_x = losses.gaussian_log_likelihood(mean, log_variance, z)
  zeros = jnp.zeros_like(z)
  log_pz = losses.gaussian_log_likelihood(zeros, zeros, z)
  return {
      'mutual_information': log_qz_given_x - log_qz,
      'total_correlation': log_qz - log_prod_qz,
      'dimension_kl': log_prod_qz - log_pz,
  }


@dataclasses.dataclass(frozen=True, kw_only=True)
class BetaTCVAE(vae.VariationalAutoencoder):
  """`vae.VariationalAutoencoder` with ``(beta - 1) * TC`` added to its loss.

  The inherited ``beta`` is this model's: the weight of the total
  correlation (the KL itself keeps weight 1), so a sweep over ``beta``
  (`base.hparam` ``traced``) varies it.
  """

  tc_estimator: str
  dataset_size: int

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del train, labels
    outputs, z, mean, log_var, out_log_var = self.module.apply(
        {'params': params}, x, rng
    )
    terms = losses.elbo(
        self.log_likelihood(outputs, x, out_log_var),
        losses.standard_normal_kl(mean, log_var),
    )
    parts = kl_decomposition(
        z,
        mean,
        log_var,
        dataset_size=self.dataset_size,
        estimator=self.tc_estimator,
    )
    neg_elbo = -terms.elbo
    return {
        'loss': neg_elbo + (self.beta - 1) * parts['total_correlation'],
        'neg_elbo': neg_elbo,
        'loss_rec': -terms.log_likelihood,
        'loss_kl': terms.kl,
        'loss_tc': parts['total_correlation'],
        'loss_mi': parts['mutual_information'],
        'loss_dimension_kl': parts['dimension_kl'],
        'mse': self.pixel_mse(outputs, x),
    }


def build(config, data: base.DataSpec) -> BetaTCVAE:
  """The 'beta_tc_vae' entry of the model registry."""
  hp = base.hparams(config, Config)  # beta is checked by vae.build.
  if hp.tc_estimator not in ESTIMATORS:
    raise ValueError(
        f'config.tc_estimator={hp.tc_estimator!r} is not one of '
        f'{ESTIMATORS}; set --config.tc_estimator to one of them.'
    )
  if data.num_train < 2:
    raise ValueError(
        'beta_tc_vae estimates q(z) with the number of training examples, '
        f'which is unknown here (num_train={data.num_train}); build it '
        'with base.DataSpec(input_shape, num_classes, num_train) or '
        'build_model(..., num_train=len(train_images)).'
    )
  # The VAE's network; its other fields (capacity, MMD) keep their defaults.
  model = vae.build(config, data)
  return vae.extend(
      model,
      BetaTCVAE,
      tc_estimator=hp.tc_estimator,
      dataset_size=int(data.num_train),
  )
