"""beta-VAE with capacity annealing and InfoVAE (MMD) on digits."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ae_jax import losses
from ae_jax import models
from ae_jax.metrics import code_stats
from tests import fitting

ARCH = dict(model='vae', hidden_sizes=(32,), latent_dim=4)


def _test_x():
  return jnp.asarray(fitting.digits().test_images)


def _aggregate_mmd(model, params):
  """MMD between posterior samples of the test set and N(0, I) samples."""
  x = _test_x()
  mean, log_var = model.encode_distribution(params, x)
  z = models.reparameterize(jax.random.PRNGKey(0), mean, log_var)
  prior = jax.random.normal(jax.random.PRNGKey(1), z.shape)
  return float(losses.mmd(z, prior))


def test_mmd_pulls_the_aggregate_posterior_to_the_prior():
  free, free_params, _ = fitting.fit(
      fitting.config(**ARCH, beta=0.0), steps=800
  )
  mmd_vae, mmd_params, _ = fitting.fit(
      fitting.config(**ARCH, beta=0.0, mmd_weight=10.0), steps=800
  )
  # Measured: 3.7 without any regulariser, 0.035 with the MMD term.
  assert _aggregate_mmd(mmd_vae, mmd_params) < 0.05 * _aggregate_mmd(
      free, free_params
  )


def test_mmd_term_is_the_mmd_of_the_decoded_codes():
  model = models.build_model(fitting.config(**ARCH, mmd_weight=2.0), (64,))
  params = model.init(jax.random.PRNGKey(0))
  x = _test_x()[:16]
  rng = jax.random.PRNGKey(4)
  metrics = model.per_example_losses(params, x, rng, train=True)
  mean, log_var = model.encode_distribution(params, x)
  z = models.reparameterize(rng, mean, log_var)
  prior = jax.random.normal(jax.random.fold_in(rng, 1), z.shape)
  np.testing.assert_allclose(
      metrics['loss_mmd'], losses.mmd(z, prior), rtol=1e-5
  )
  np.testing.assert_allclose(
      metrics['loss'],
      metrics['neg_elbo'] + 2.0 * metrics['loss_mmd'],
      rtol=1e-5,
  )


@pytest.mark.parametrize('capacity', [2.0, 6.0])
def test_capacity_annealing_holds_the_kl_at_the_capacity(capacity):
  model, params, state = fitting.fit(
      fitting.config(
          **ARCH,
          capacity_max=capacity,
          capacity_steps=1,
          capacity_gamma=100.0,
      ),
      steps=800,
  )
  assert int(state['step']) == 800
  kl = model.per_example_losses(
      params, _test_x(), jax.random.PRNGKey(3), train=False
  )['loss_kl']
  # Measured: 1.99 and 5.88 nats.
  assert abs(float(jnp.mean(kl)) - capacity) < 0.5


def test_capacity_rises_linearly_with_the_carried_step():
  model = models.build_model(
      fitting.config(**ARCH, capacity_max=10.0, capacity_steps=100), (64,)
  )
  params = model.init(jax.random.PRNGKey(0))
  x = _test_x()[:4]
  state = model.init_model_state(jax.random.PRNGKey(0), 4)
  seen = []
  for _ in range(3):
    metrics, state = model.train_losses(params, state, x, jax.random.PRNGKey(1))
    seen.append(float(metrics['capacity'][0]))
  np.testing.assert_allclose(seen, [0.0, 0.1, 0.2], atol=1e-6)
  chex.assert_trees_all_equal(state, {'step': jnp.asarray(3, jnp.int32)})


@pytest.mark.parametrize(
    'overrides,match',
    [
        (dict(mmd_weight=-1.0), 'mmd_weight'),
        (dict(mmd_weight=1.0, mmd_kernel='laplace'), 'mmd_kernel'),
        (dict(capacity_max=-1.0), 'capacity_max'),
        (dict(capacity_max=5.0, capacity_steps=0), 'capacity_steps'),
        (dict(capacity_max=5.0, capacity_gamma=-1.0), 'capacity_gamma'),
        (dict(model='ae', mmd_weight=1.0), 'one of vae'),
    ],
)
def test_invalid_vae_settings_are_rejected(overrides, match):
  with pytest.raises(ValueError, match=match):
    models.build_model(fitting.config(**{**ARCH, **overrides}), (64,))


def test_gaussian_total_correlation_matches_the_closed_form():
  # Two unit-variance units with correlation r: TC = -0.5 log(1 - r^2).
  r = 0.8
  z = np.random.default_rng(0).multivariate_normal(
      [0, 0], [[1, r], [r, 1]], size=200_000
  )
  tc = code_stats.gaussian_total_correlation(z)
  assert tc == pytest.approx(-0.5 * np.log(1 - r**2), rel=0.02)
  independent = np.random.default_rng(1).standard_normal((200_000, 3))
  assert code_stats.gaussian_total_correlation(independent) < 1e-3
  with pytest.raises(ValueError, match='more examples'):
    code_stats.gaussian_total_correlation(np.ones((3, 4)))
  with pytest.raises(ValueError, match='singular'):
    code_stats.gaussian_total_correlation(np.c_[independent[:, :1]] * [1, 1])


def test_factor_vae_decorrelates_the_aggregate_posterior():
  fields = dict(hidden_sizes=(32,), latent_dim=8, beta=0.1)
  tcs = {}
  factor = {'tc_weight': 10.0, 'discriminator_sizes': (64, 64)}
  for model_name, extra in (('vae', {}), ('factor_vae', factor)):
    model, params, _ = fitting.fit(
        fitting.config(model=model_name, **fields, **extra),
        steps=1500,
    )
    mean, log_var = model.encode_distribution(params, _test_x())
    z = models.reparameterize(jax.random.PRNGKey(0), mean, log_var)
    tcs[model_name] = code_stats.gaussian_total_correlation(z)
  # Measured: 1.61 for the VAE, 0.19 with the TC penalty.
  assert tcs['factor_vae'] < 0.5 * tcs['vae'], tcs


def test_factor_vae_groups_follow_their_own_objectives():
  model = models.build_model(
      fitting.config(
          model='factor_vae', hidden_sizes=(16,), latent_dim=3, tc_weight=5.0
      ),
      (64,),
  )
  params = model.init(jax.random.PRNGKey(0))
  assert set(params) == set(model.param_groups())
  x = _test_x()[:16]
  rng = jax.random.PRNGKey(1)
  grad = lambda name: jax.grad(
      lambda p: jnp.mean(model.per_example_losses(p, x, rng, train=True)[name])
  )(params)
  total, disc = grad('loss'), grad('loss_discriminator')
  chex.assert_trees_all_close(
      total['discriminator'], disc['discriminator'], atol=1e-6
  )
  # The discriminator's loss does not reach the encoder.
  chex.assert_trees_all_close(
      jax.tree.map(jnp.zeros_like, disc['encoder']), disc['encoder']
  )


def test_kl_warmup_weight_rises_linearly_to_one():
  from ae_jax.models import vae  # pylint: disable=g-import-not-at-top

  w = vae.kl_warmup_weight(jnp.arange(6), 4)
  np.testing.assert_allclose(w, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


@pytest.mark.parametrize('model_name', ['vae', 'vampprior', 'hierarchical_vae'])
def test_kl_warmup_weights_only_the_training_kl(model_name):
  extra = {'num_pseudo_inputs': 5} if model_name == 'vampprior' else {}
  config = fitting.config(
      model=model_name, latent_dim=3, beta=1.0, kl_warmup_steps=10, **extra
  )
  if model_name != 'vae':
    del config['beta']
  model = models.build_model(config, (64,), num_classes=10)
  params = model.init(jax.random.PRNGKey(0))
  x = _test_x()[:8].reshape(8, -1)
  rng = jax.random.PRNGKey(1)
  state = model.init_model_state(rng, 8)
  full = model.per_example_losses(params, x, rng, train=True)
  for step, weight in ((0, 0.1), (4, 0.5), (20, 1.0)):
    state = {'step': jnp.asarray(step, jnp.int32)}
    warm, new_state = model.train_losses(params, state, x, rng)
    assert int(new_state['step']) == step + 1
    np.testing.assert_allclose(
        warm['loss'],
        full['loss_rec'] + weight * full['loss_kl'],
        rtol=1e-5,
    )
    np.testing.assert_allclose(warm['kl_weight'], weight, rtol=1e-6)
  # Evaluation measures the full objective.
  np.testing.assert_allclose(
      model.per_example_losses(params, x, rng, train=False)['loss'],
      full['loss'],
      rtol=1e-6,
  )


@pytest.mark.parametrize(
    'fields, match',
    [
        (dict(model='vae', kl_warmup_steps=-1), 'kl_warmup_steps=-1 must be'),
        (
            dict(model='vae', kl_warmup_steps=10, capacity_max=5.0),
            'both schedule the KL term',
        ),
        (
            dict(model='hierarchical_vae', kl_warmup_steps=10, iwae_samples=5),
            'set --config.iwae_samples=1',
        ),
    ],
)
def test_bad_kl_warmups_are_refused(fields, match):
  config = fitting.config(latent_dim=3, **fields)
  with pytest.raises(ValueError, match=match):
    models.build_model(config, (64,), num_classes=10)
