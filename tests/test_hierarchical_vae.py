"""Two-stochastic-layer VAE: its importance weights are the five densities
of the model, its bounds are ordered, and it samples through both layers."""

import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from ae_jax import models
from ae_jax.metrics import likelihood
from ae_jax.models import capabilities
from ae_jax.models import hierarchical_vae
from ae_jax.tasks import generative
from tests import fitting

SIZES = dict(
    hidden_sizes=(32,), latent_dim=6, top_hidden_sizes=(16,), top_latent_dim=3
)


def _model(**overrides):
  config = fitting.config(model='hierarchical_vae', **{**SIZES, **overrides})
  return models.build_model(config, (64,))


def _by_hand(model):
  """``(params, x, rng, apply)`` of the hand computations below."""
  params = model.init(jax.random.PRNGKey(0))
  x = jnp.asarray(fitting.digits().test_images[:5])
  apply = lambda *a, method: model.module.apply(
      {'params': params}, *a, method=method
  )
  return params, x, jax.random.PRNGKey(4), apply


def _log_weights(apply, x, z1, z2, q1, q2, p1):
  """log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z1) - log q(z2) by
  scipy; ``q1``, ``q2``, ``p1`` are (mean, log variance) pairs."""
  probs = np.asarray(jax.nn.sigmoid(apply(jnp.asarray(z1), method='decode')))
  normal = lambda v, m, lv: stats.norm.logpdf(v, m, np.exp(0.5 * lv)).sum(-1)
  xs = np.asarray(x)  # Bernoulli log-likelihood of grey levels:
  return (
      np.sum(xs * np.log(probs) + (1 - xs) * np.log1p(-probs), -1)
      + normal(z1, *p1)
      + stats.norm.logpdf(z2).sum(-1)
      - normal(z1, *q1)
      - normal(z2, *q2)
  )


def test_log_weights_are_the_five_densities_of_the_model():
  model = _model()
  params, x, rng, apply = _by_hand(model)
  got = jax.jit(lambda p: model.log_importance_weights(p, x, rng, 3))(params)
  # The same draws by hand (the model's key layout), densities by scipy.
  r1, r2 = jax.random.split(rng)
  m1, lv1 = map(np.asarray, apply(x, method='q_z1'))
  z1 = m1 + np.exp(0.5 * lv1) * np.asarray(jax.random.normal(r1, (3, 5, 6)))
  m2, lv2 = map(np.asarray, apply(jnp.asarray(z1), method='q_z2'))
  z2 = m2 + np.exp(0.5 * lv2) * np.asarray(jax.random.normal(r2, (3, 5, 3)))
  pm1, plv1 = map(np.asarray, apply(jnp.asarray(z2), method='p_z1'))
  want = _log_weights(apply, x, z1, z2, (m1, lv1), (m2, lv2), (pm1, plv1))
  np.testing.assert_allclose(got, want, rtol=2e-4)


def test_gaussian_product_is_the_normalised_product_of_the_densities():
  rng = np.random.default_rng(0)
  ma, mb = rng.normal(size=(2, 5))
  lva, lvb = rng.normal(size=(2, 5))
  mean, log_var = map(
      np.asarray, hierarchical_vae.gaussian_product(ma, lva, mb, lvb)
  )
  grid = np.linspace(-12, 12, 200001)[:, None]
  density = stats.norm.pdf(grid, ma, np.exp(0.5 * lva)) * stats.norm.pdf(
      grid, mb, np.exp(0.5 * lvb)
  )
  density /= density.sum(0)
  np.testing.assert_allclose(mean, (grid * density).sum(0), atol=1e-5)
  np.testing.assert_allclose(
      np.exp(log_var), ((grid - mean) ** 2 * density).sum(0), rtol=1e-4
  )


def test_ladder_log_weights_are_the_densities_of_top_down_inference():
  model = _model(inference='ladder')
  params, x, rng, apply = _by_hand(model)
  got = jax.jit(lambda p: model.log_importance_weights(p, x, rng, 3))(params)
  r1, r2 = jax.random.split(rng)
  # q(z2 | x) from the bottom-up mean of z1, then q(z1 | z2, x) as the
  # precision-weighted product of the bottom-up estimate and p(z1 | z2).
  b1, blv1 = map(np.asarray, apply(x, method='q_z1'))
  m2, lv2 = map(np.asarray, apply(jnp.asarray(b1), method='q_z2'))
  z2 = m2 + np.exp(0.5 * lv2) * np.asarray(jax.random.normal(r2, (3, 5, 3)))
  pm1, plv1 = map(np.asarray, apply(jnp.asarray(z2), method='p_z1'))
  precision = np.exp(-blv1) + np.exp(-plv1)
  lv1 = -np.log(precision)
  m1 = (b1 * np.exp(-blv1) + pm1 * np.exp(-plv1)) / precision
  z1 = m1 + np.exp(0.5 * lv1) * np.asarray(jax.random.normal(r1, (3, 5, 6)))
  want = _log_weights(apply, x, z1, z2, (m1, lv1), (m2, lv2), (pm1, plv1))
  np.testing.assert_allclose(got, want, rtol=2e-4)
  # Its codes: q(z1 | z2, x)'s mean at z2 = q(z2 | x)'s mean.
  at_mean = apply(jnp.asarray(m2), method='p_z1')
  np.testing.assert_allclose(
      model.encode(params, x),
      hierarchical_vae.gaussian_product(b1, blv1, *at_mean)[0],
      rtol=1e-5,
      atol=1e-6,
  )
  # Activity statistics: E_q[z2|x] is q(z2|x)'s mean; E_q[z1|x] averages
  # q(z1|z2, x)'s means over draws z2 ~ q(z2|x).
  z1_mean, z2_mean = model.layer_posterior_means(params, x, rng)
  np.testing.assert_allclose(z2_mean, m2, rtol=1e-6)
  k = hierarchical_vae.ACTIVITY_SAMPLES
  eps = np.asarray(jax.random.normal(rng, (k, 5, 3)))
  draws = jnp.asarray(m2 + np.exp(0.5 * lv2) * eps)
  means, _ = hierarchical_vae.gaussian_product(
      b1, blv1, *apply(draws, method='p_z1')
  )
  np.testing.assert_allclose(z1_mean, np.mean(means, 0), rtol=1e-5, atol=1e-6)


def test_the_iwae_bound_is_above_the_elbo_and_is_the_loss():
  model = _model(iwae_samples=20)
  params = model.init(jax.random.PRNGKey(0))
  x = jnp.asarray(fitting.digits().test_images[:16])
  m = model.per_example_losses(params, x, jax.random.PRNGKey(1), train=True)
  assert bool(jnp.all(m['neg_iwae_bound'] <= m['neg_elbo']))
  np.testing.assert_allclose(m['loss'], m['neg_iwae_bound'])
  grads = jax.grad(
      lambda p: model.per_example_losses(
          p, x, jax.random.PRNGKey(1), train=True
      )['loss'].mean()
  )(params)
  # Every conditional gets a gradient: both stochastic layers are trained.
  for part in ('x_to_z1', 'z1_to_z2', 'z2_to_z1', 'z1_to_x'):
    assert any(bool(jnp.any(g != 0)) for g in jax.tree.leaves(grads[part]))


def test_samples_and_codes_have_the_first_layer_shapes():
  model = _model()
  params = model.init(jax.random.PRNGKey(0))
  samples = model.sample(params, jax.random.PRNGKey(2), 7)
  assert samples.shape == (7, 64) and bool(
      jnp.all((samples >= 0) & (samples <= 1))
  )
  x = jnp.asarray(fitting.digits().test_images[:4])
  assert model.encode(params, x).shape == (4, 6)


@pytest.mark.parametrize(
    'overrides, match',
    [
        (dict(encoder='conv'), 'set --config.encoder=mlp'),
        (dict(likelihood='gaussian'), 'Bernoulli decoder only'),
        (dict(top_hidden_sizes=(0,)), 'top_hidden_sizes=\\(0,\\)'),
        (dict(top_latent_dim=0), 'top_latent_dim=0 must be a positive'),
        (dict(iwae_samples=0), 'iwae_samples=0 must be a positive'),
        (dict(free_bits=-0.1), 'free_bits=-0.1 must be >= 0'),
        (dict(inference='top_down'), "inference='top_down' is not one of"),
        (dict(free_bits=0.5, iwae_samples=5), 'set --config.iwae_samples=1'),
        (dict(free_bits=0.5, kl_warmup_steps=10), 'kl_warmup_steps=0'),
    ],
)
def test_invalid_settings_are_refused(overrides, match):
  with pytest.raises(ValueError, match=match):
    _model(**overrides)


def test_task_nll_applies_but_the_single_posterior_tasks_do_not():
  model = _model()
  assert isinstance(model, capabilities.ImportanceWeighted)
  assert isinstance(model, capabilities.StochasticLayers)  # Task latent.
  assert not isinstance(model, capabilities.LatentVariableModel)


def test_layer_posterior_means_average_q_z2_over_draws_of_z1():
  model = _model()
  params = model.init(jax.random.PRNGKey(0))
  x = jnp.asarray(fitting.digits().test_images[:5])
  rng = jax.random.PRNGKey(3)
  z1_mean, z2_mean = model.layer_posterior_means(params, x, rng)
  np.testing.assert_allclose(z1_mean, model.encode(params, x))
  apply = lambda *a, method: model.module.apply(
      {'params': params}, *a, method=method
  )
  m1, lv1 = map(np.asarray, apply(x, method='q_z1'))
  k = hierarchical_vae.ACTIVITY_SAMPLES
  eps = np.asarray(jax.random.normal(rng, (k, 5, 6)))
  m2, _ = apply(jnp.asarray(m1 + np.exp(0.5 * lv1) * eps), method='q_z2')
  np.testing.assert_allclose(z2_mean, np.mean(m2, 0), rtol=1e-5, atol=1e-6)
  # Not the top layer's mean at z1's mean: z2's expectation is over q(z1|x).
  at_mean = np.asarray(apply(jnp.asarray(m1), method='q_z2')[0])
  assert np.abs(at_mean - z2_mean).max() > 1e-3


def test_task_latent_counts_the_active_units_of_each_layer():
  config = fitting.config(model='hierarchical_vae', **SIZES)
  model, params, _ = fitting.fit(config, steps=300)
  x = fitting.digits().test_images[:200]
  trained = types.SimpleNamespace(
      model=model, params=params, config=types.SimpleNamespace()
  )
  out = generative.latent(trained, types.SimpleNamespace(test_images=x))
  assert out['latent_dim_per_layer'] == [6, 3]
  for n, activity in zip(
      out['active_units_per_layer'], out['activity_per_dimension_per_layer']
  ):
    assert n == sum(a > generative.ACTIVE_UNIT_THRESHOLD for a in activity)
  assert out['active_units'] == sum(out['active_units_per_layer'])
  assert out['active_units_per_layer'][0] > 0

  # The top layer's activity follows the scale of q(z2|z1)'s mean map:
  # zeroed, no unit is active; scaled up 100x, every unit is (after 300
  # steps these tiny models leave z2 inactive); z1's count is unchanged.
  def top_scaled(factor):
    head = params['z1_to_z2']['head']
    kernel = head['kernel'].at[:, :3].multiply(factor)  # The mean's columns.
    changed = {
        **params,
        'z1_to_z2': {**params['z1_to_z2'], 'head': {**head, 'kernel': kernel}},
    }
    return generative.latent(
        types.SimpleNamespace(
            model=model, params=changed, config=trained.config
        ),
        types.SimpleNamespace(test_images=x),
    )['active_units_per_layer']

  assert top_scaled(0.0) == [out['active_units_per_layer'][0], 0]
  assert top_scaled(100.0) == [out['active_units_per_layer'][0], 3]


def test_free_bits_floor_each_units_batch_mean_kl_in_training_only():
  model = _model(free_bits=0.3)
  params = model.init(jax.random.PRNGKey(0))
  x = jnp.asarray(fitting.digits().test_images[:16])
  rng = jax.random.PRNGKey(1)
  m = model.per_example_losses(params, x, rng, train=True)
  # By hand from the same draws: each unit's KL, log q - log p, per unit.
  log_px, log_ratio, kl = model._log_weight_terms(
      params, x, rng, 1, per_unit=True
  )
  np.testing.assert_allclose(kl[0].sum(-1), -log_ratio[0], rtol=1e-5, atol=1e-4)
  floored = np.maximum(0.3, np.asarray(kl[0]).mean(0)).sum()
  np.testing.assert_allclose(
      m['loss'].mean(), -log_px[0].mean() + floored, rtol=1e-5
  )
  assert float(np.asarray(kl[0]).mean(0).min()) < 0.3  # Some are floored.
  # Evaluation and the reported ELBO are the model's own, unfloored.
  plain = _model().per_example_losses(params, x, rng, train=True)
  evaluated = model.per_example_losses(params, x, rng, train=False)
  np.testing.assert_allclose(evaluated['loss'], plain['loss'])
  np.testing.assert_allclose(m['neg_elbo'], plain['neg_elbo'])

  # The gradient is the reconstruction's plus that of the KL of the units
  # above the floor only: floored units give the KL no gradient.
  def by_hand(p):
    log_px, _, kl = model._log_weight_terms(p, x, rng, 1, per_unit=True)
    above = jax.lax.stop_gradient(jnp.mean(kl[0], 0) > 0.3)
    return -log_px[0].mean() + jnp.sum(jnp.where(above, kl[0].mean(0), 0.0))

  got = jax.grad(
      lambda p: model.per_example_losses(p, x, rng, train=True)['loss'].mean()
  )(params)
  jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
      got,
      jax.grad(by_hand)(params),
  )


def test_free_bits_keep_top_layer_units_active_on_digits():
  def top_active(free_bits):
    config = fitting.config(
        model='hierarchical_vae', free_bits=free_bits, **SIZES
    )
    model, params, _ = fitting.fit(config, steps=1500)
    trained = types.SimpleNamespace(
        model=model, params=params, config=types.SimpleNamespace()
    )
    x = fitting.digits().test_images
    out = generative.latent(trained, types.SimpleNamespace(test_images=x))
    return out['active_units_per_layer'][1]

  # Measured: no z2 unit active of 3 with the plain ELBO; with 0.5 nats all
  # 3 (activity 0.50-0.59 against the 0.01 threshold).
  assert top_active(0.0) == 0
  assert top_active(0.5) == 3


@pytest.mark.slow
def test_with_a_kl_warm_up_two_layers_beat_one_on_digits():
  """Burda et al.'s claim at their shape (the one-layer model's code is the
  top layer's size): with the KL weight rising over the first half of
  training (Sonderby et al. 2016), the second stochastic layer lowers the
  test NLL; without the warm-up it is level with one layer (its top layer
  collapses)."""

  def test_nll(model, warmup, **sizes):
    config = fitting.config(model=model, kl_warmup_steps=warmup, **sizes)
    model, params, _ = fitting.fit(config, steps=3000)
    weights = functools.partial(model.log_importance_weights, params)
    x = fitting.digits().test_images
    return -np.mean(
        likelihood.dataset_log_likelihood(
            weights, x, batch_size=128, num_samples=500
        )
    )

  one_layer = test_nll('vae', 1500, hidden_sizes=(32,), latent_dim=3)
  two_layers = test_nll('hierarchical_vae', 1500, **SIZES)  # z1 6, z2 3
  no_warmup = test_nll('hierarchical_vae', 0, **SIZES)
  # Measured (nats, seeds 0 / 1 / 2 of the fits): one layer 24.88 / 24.89 /
  # 24.92, two layers 24.56 / 24.53 / 24.57, two without warm-up 24.92 /
  # 24.64 / 24.73.
  assert two_layers < one_layer - 0.15
  assert two_layers < no_warmup - 0.15
