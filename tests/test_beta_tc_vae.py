"""beta-TC-VAE: the estimator of q(z), its KL decomposition, and the TC it lowers."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from ae_jax import configs
from ae_jax import models
from ae_jax import train
from ae_jax.metrics import code_stats
from ae_jax.models import beta_tc_vae
from experiments.configs import beta_tc_vae as experiment_config
from tests import fitting


def _posteriors(n, d, seed=0):
  rng = np.random.default_rng(seed)
  mean = rng.normal(size=(n, d)).astype(np.float32)
  log_var = rng.normal(-1.0, 0.3, size=(n, d)).astype(np.float32)
  return mean, log_var


def _log_q(z, mean, log_var):
  """log q(z | x_n) for every n: [N]."""
  return stats.norm.logpdf(z, mean, np.exp(0.5 * log_var)).sum(-1)


@pytest.mark.parametrize('estimator', beta_tc_vae.ESTIMATORS)
def test_weights_are_those_of_the_paper(estimator):
  n, b = 1000, 5
  w = np.exp(np.asarray(beta_tc_vae.log_importance_weights(b, n, estimator)))
  if estimator == 'mws':
    np.testing.assert_allclose(w, 1 / (n * b), rtol=1e-6)
    return
  m = b - 1
  np.testing.assert_allclose(np.diag(w), 1 / n, rtol=1e-6)
  np.testing.assert_allclose(np.diag(np.roll(w, -1, axis=1)), (n - m) / (n * m))
  np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-6)


def test_stratified_estimate_of_q_z_is_unbiased_over_batches():
  # A dataset of N = 6 posteriors; z drawn from q(z | x_0). Averaged over
  # every ordered choice of the batch's other M = 3 examples, the stratified
  # estimate of q(z) equals (1/N) sum_n q(z | x_n) exactly.
  n, d, b = 6, 2, 4
  mean, log_var = _posteriors(n, d)
  z = mean[0] + 0.3
  exact = np.mean(np.exp(_log_q(z, mean, log_var)))
  w = np.exp(np.asarray(beta_tc_vae.log_importance_weights(b, n, 'mss')))[0]
  q = np.exp(_log_q(z, mean, log_var))
  estimates = [
      w[0] * q[0] + sum(w[k + 1] * q[j] for k, j in enumerate(others))
      for others in itertools.permutations(range(1, n), b - 1)
  ]
  assert np.mean(estimates) == pytest.approx(exact, rel=1e-5)


def test_decomposition_sums_to_the_sampled_kl_and_matches_brute_force():
  n, d = 8, 3
  mean, log_var = _posteriors(n, d, seed=1)
  z = mean + np.exp(0.5 * log_var) * np.random.default_rng(2).normal(
      size=(n, d)
  ).astype(np.float32)
  parts = jax.jit(
      lambda *a: beta_tc_vae.kl_decomposition(*a, dataset_size=100)
  )(z, mean, log_var)
  # log q(z|x) - log p(z), one sample: the three terms add up to it.
  log_qzx = np.array(
      [_log_q(z[i], mean[i : i + 1], log_var[i : i + 1])[0] for i in range(n)]
  )
  log_pz = stats.norm.logpdf(z).sum(-1)
  total = sum(np.asarray(v) for v in parts.values())
  np.testing.assert_allclose(total, log_qzx - log_pz, rtol=1e-4, atol=1e-4)
  # The TC by brute force (numpy, float64) with the same weights.
  w = np.asarray(beta_tc_vae.log_importance_weights(n, 100, 'mss'), np.float64)
  pair = np.stack(
      [_log_q_dims(z[i], mean, log_var) for i in range(n)]
  )  # [B,B,D]
  log_qz = np.logaddexp.reduce(w + pair.sum(-1), axis=1)
  log_prod = np.logaddexp.reduce(w[..., None] + pair, axis=1).sum(-1)
  np.testing.assert_allclose(
      parts['total_correlation'], log_qz - log_prod, rtol=1e-4, atol=1e-4
  )


def _log_q_dims(z, mean, log_var):
  return stats.norm.logpdf(z, mean, np.exp(0.5 * log_var))  # [N, D]


def test_beta_one_is_the_vae_loss():
  x = fitting.digits().test_images[:16]
  config = fitting.config(model='beta_tc_vae', beta=1.0, latent_dim=4)
  model = models.build_model(config, x.shape[1:], num_train=1000)
  params = model.init(jax.random.PRNGKey(0))
  got = jax.jit(
      lambda p: model.per_example_losses(
          p, x, jax.random.PRNGKey(1), train=True
      )
  )(params)
  np.testing.assert_allclose(got['loss'], got['neg_elbo'], rtol=1e-6)
  np.testing.assert_allclose(
      got['neg_elbo'], got['loss_rec'] + got['loss_kl'], rtol=1e-5
  )


def test_build_needs_the_training_set_size_and_a_known_estimator():
  config = fitting.config(model='beta_tc_vae')
  with pytest.raises(ValueError, match='num_train'):
    models.build_model(config, (64,))
  with pytest.raises(ValueError, match='tc_estimator'):
    models.build_model(
        fitting.config(model='beta_tc_vae', tc_estimator='exact'),
        (64,),
        num_train=100,
    )
  with pytest.raises(ValueError, match='beta'):
    models.build_model(
        fitting.config(model='beta_tc_vae', beta=-1.0), (64,), num_train=100
    )
  # Its config holds its own fields and the VAE's network, nothing else.
  fields = configs.default_config('beta_tc_vae')
  assert 'beta' in fields and 'tc_estimator' in fields
  assert 'mmd_weight' not in fields and 'capacity_max' not in fields


def test_penalising_the_total_correlation_lowers_it():
  # One posterior sample per test image; its Gaussian total correlation.
  fields = dict(hidden_sizes=(32,), latent_dim=8)
  x = fitting.digits().test_images
  tcs, estimates = {}, {}
  for beta in (1.0, 10.0):
    model, params, _ = fitting.fit(
        fitting.config(model='beta_tc_vae', beta=beta, **fields), steps=1500
    )
    mean, log_var = model.encode_distribution(params, x)
    z = models.reparameterize(jax.random.PRNGKey(0), mean, log_var)
    tcs[beta] = code_stats.gaussian_total_correlation(z)
    estimates[beta] = float(
        jnp.mean(
            model.per_example_losses(
                params, x[:256], jax.random.PRNGKey(1), train=False
            )['loss_tc']
        )
    )
  # Measured: TC 0.065 at beta 10 vs 0.229 at beta 1; the model's own
  # minibatch estimate 0.06 vs 0.34 nats.
  assert tcs[10.0] < 0.5 * tcs[1.0], tcs
  assert estimates[10.0] < estimates[1.0], estimates


def test_experiment_config_trains_in_smoke_mode(tmp_path):
  config = experiment_config.get_config('smoke')
  config.num_train_steps = 10
  config.write_figures = False
  summary = train.train_and_evaluate(config, tmp_path)
  assert summary['step'] == 10
  assert np.isfinite(summary['test']['loss_tc'])


def test_memory_hint_builds_it_with_the_training_set_size():
  config = fitting.config(model='beta_tc_vae', hidden_sizes=(32,))
  fields = models.sizing_fields(config, (64,), num_train=100)
  assert fields == {'latent_dim': 16, 'hidden_sizes': (32,)}
