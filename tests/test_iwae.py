"""IWAE bound and importance-sampled log-likelihood of VAEs."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ae_jax import losses
from ae_jax import models
from ae_jax.metrics import likelihood
from tests import fitting


@pytest.fixture(scope='module')
def trained_vae():
  return fitting.fit(
      fitting.config(model='vae', hidden_sizes=(32,), latent_dim=4), steps=300
  )


def test_bounds_are_ordered_elbo_iwae_likelihood(trained_vae):
  model, params, _ = trained_vae
  x = jnp.asarray(fitting.digits().test_images[:100])
  fn = functools.partial(model.log_importance_weights, params)
  rng = jax.random.PRNGKey(0)
  elbo = float(jnp.mean(fn(x, rng, 64)))  # Mean of one-sample ELBOs.
  iwae = float(jnp.mean(losses.iwae_bound(fn(x, rng, 64))))
  log_px = float(
      jnp.mean(
          likelihood.importance_sampled_log_likelihood(
              fn, x, rng, num_samples=2000, chunk_size=250
          )
      )
  )
  assert elbo < iwae < log_px + 0.1, (elbo, iwae, log_px)


def test_one_sample_weights_are_the_negative_elbo(trained_vae):
  model, params, _ = trained_vae
  x = jnp.asarray(fitting.digits().test_images[:50])
  fn = functools.partial(model.log_importance_weights, params)
  log_w = fn(x, jax.random.PRNGKey(1), 4000)
  keys = jax.random.split(jax.random.PRNGKey(2), 1000)
  neg_elbo = jax.vmap(
      lambda k: model.per_example_losses(params, x, k, train=True)['neg_elbo']
  )(keys)
  # Both estimate the negative ELBO per example (analytic KL on one side).
  np.testing.assert_allclose(
      -jnp.mean(log_w, 0), jnp.mean(neg_elbo, 0), rtol=0.02, atol=0.3
  )


def test_chunking_only_changes_the_sampling_noise(trained_vae):
  model, params, _ = trained_vae
  x = jnp.asarray(fitting.digits().test_images[:20])
  fn = functools.partial(model.log_importance_weights, params)
  est = lambda chunk: likelihood.importance_sampled_log_likelihood(
      fn, x, jax.random.PRNGKey(3), num_samples=1000, chunk_size=chunk
  )
  np.testing.assert_allclose(est(100), est(1000), atol=0.3)


def test_constant_weights_give_that_constant():
  fn = lambda x, key, k: jnp.full((k, x.shape[0]), -7.5)
  out = likelihood.importance_sampled_log_likelihood(
      fn, jnp.zeros((3, 2)), jax.random.PRNGKey(0), num_samples=40, chunk_size=8
  )
  np.testing.assert_allclose(out, -7.5, rtol=1e-6)
  out = likelihood.importance_sampled_log_likelihood(  # NumPy ints too.
      fn,
      jnp.zeros((3, 2)),
      jax.random.PRNGKey(0),
      num_samples=np.int64(8),
      chunk_size=np.int32(4),
  )
  np.testing.assert_allclose(out, -7.5, rtol=1e-6)
  with pytest.raises(ValueError, match='multiple'):
    likelihood.importance_sampled_log_likelihood(
        fn,
        jnp.zeros((3, 2)),
        jax.random.PRNGKey(0),
        num_samples=10,
        chunk_size=4,
    )


def test_iwae_model_minimises_the_negative_bound():
  model = models.build_model(
      fitting.config(model='iwae', iwae_samples=5, hidden_sizes=(16,)), (64,)
  )
  params = model.init(jax.random.PRNGKey(0))
  x = jnp.asarray(fitting.digits().train_images[:8])
  rng = jax.random.PRNGKey(1)
  metrics = model.per_example_losses(params, x, rng, train=True)
  want = -losses.iwae_bound(model.log_importance_weights(params, x, rng, 5))
  np.testing.assert_allclose(metrics['loss'], want, rtol=1e-6)
  assert jnp.all(metrics['neg_iwae_bound'] <= metrics['neg_elbo'] + 1e-4)


@pytest.mark.parametrize(
    'overrides,match',
    [
        (dict(model='iwae', iwae_samples=1), 'iwae_samples'),
        (dict(model='iwae', iwae_samples=5, beta=2.0), 'beta'),
        (dict(model='vae', iwae_samples=5), 'one of iwae'),
    ],
)
def test_invalid_iwae_settings_are_rejected(overrides, match):
  with pytest.raises(ValueError, match=match):
    models.build_model(fitting.config(**overrides), (64,))


@pytest.mark.parametrize(
    'images,error,match',
    [
        (np.zeros((0, 4), np.float32), ValueError, 'is empty'),
        (np.full((2, 4), np.nan, np.float32), ValueError, 'NaN/inf'),
        (np.zeros(4, np.float32), ValueError, 'leading example axis'),
        (np.array([['a']]), TypeError, 'real dtype'),
    ],
    ids=['empty', 'nan', 'no_example_axis', 'strings'],
)
def test_dataset_log_likelihood_refuses_bad_images(images, error, match):
  fn = lambda x, key: jnp.zeros(x.shape[:-1])
  with pytest.raises(error, match=f'dataset_log_likelihood: images .*{match}'):
    likelihood.dataset_log_likelihood(fn, images, num_samples=2)
