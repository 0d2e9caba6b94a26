"""MIWAE / CIWAE / PIWAE: the bounds, PIWAE's split gradients, and the
inference network's gradient signal-to-noise ratio that motivates them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ae_jax import losses
from ae_jax import models
from tests import fitting

ARCH = dict(latent_dim=4, hidden_sizes=(32,))


def test_the_bounds_sit_between_the_elbo_and_the_iwae_bound():
  log_w = jax.random.normal(jax.random.PRNGKey(0), (12, 5)) * 3.0
  elbo, iwae = jnp.mean(log_w, 0), losses.iwae_bound(log_w)
  np.testing.assert_allclose(losses.miwae_bound(log_w[None]), iwae, rtol=1e-6)
  np.testing.assert_allclose(
      losses.miwae_bound(log_w[:, None]), elbo, rtol=1e-6
  )
  middle = jax.jit(losses.miwae_bound)(log_w.reshape(3, 4, 5))
  assert bool(jnp.all((elbo <= middle) & (middle <= iwae)))
  np.testing.assert_allclose(
      middle,
      jnp.mean(
          jnp.stack([losses.iwae_bound(w) for w in log_w.reshape(3, 4, 5)]), 0
      ),
      rtol=1e-6,
  )
  np.testing.assert_allclose(
      losses.ciwae_bound(log_w, beta=1.0), elbo, rtol=1e-6
  )
  np.testing.assert_allclose(
      losses.ciwae_bound(log_w, beta=0.0), iwae, rtol=1e-6
  )
  np.testing.assert_allclose(
      losses.ciwae_bound(log_w, beta=0.25), 0.25 * elbo + 0.75 * iwae, rtol=1e-6
  )
  # One example at a time under vmap: the same.
  np.testing.assert_allclose(
      jax.vmap(losses.miwae_bound, in_axes=2)(log_w.reshape(3, 4, 5)),
      middle,
      rtol=1e-6,
  )
  with pytest.raises(ValueError, match='beta=2'):
    losses.ciwae_bound(log_w, beta=2)
  # Concrete arrays are range-checked too; a [B, 1] beta would give [B, B].
  with pytest.raises(ValueError, match=r'beta must be a number in \[0, 1\]'):
    losses.ciwae_bound(log_w, beta=jnp.array(2.0))
  with pytest.raises(ValueError, match=r'beta shape \(5, 1\)'):
    losses.ciwae_bound(log_w[0], beta=jnp.full((5, 1), 0.5))
  with pytest.raises(ValueError, match=r'leading sample axis \[K, \.\.\.\]'):
    losses.ciwae_bound(log_w[0, 0], beta=0.5)
  with pytest.raises(ValueError, match=r'\[M, K, B\]'):
    losses.miwae_bound(log_w[0])


def _model(estimator, m, k):
  return models.build_model(
      fitting.config(
          model='miwae',
          iwae_estimator=estimator,
          outer_samples=m,
          iwae_samples=k,
          **ARCH,
      ),
      (64,),
  )


@pytest.fixture(scope='module')
def trained():
  """A VAE after 500 steps on digits (the miwae models share its params)."""
  _, params, _ = fitting.fit(fitting.config(model='vae', **ARCH), steps=500)
  return params, jnp.asarray(fitting.digits().test_images[:32])


def _grad(model, params, x, rng):
  return jax.grad(
      lambda p: model.per_example_losses(p, x, rng, train=True)['loss'].mean()
  )(params)


def test_piwae_gives_the_encoder_miwae_and_the_decoder_iwae_gradients(trained):
  params, x = trained
  rng = jax.random.PRNGKey(3)
  piwae = _grad(_model('piwae', 8, 8), params, x, rng)
  miwae = _grad(_model('miwae', 8, 8), params, x, rng)
  iwae = _grad(_model('miwae', 1, 64), params, x, rng)  # The same 64 draws.
  chex_equal = lambda a, b: jax.tree.map(
      lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7), a, b
  )
  chex_equal(piwae['encoder'], miwae['encoder'])
  chex_equal(piwae['decoder'], iwae['decoder'])
  m = _model('piwae', 8, 8).per_example_losses(params, x, rng, train=True)
  np.testing.assert_allclose(m['loss'], m['neg_iwae_bound'], rtol=1e-6)


def test_the_encoder_gradient_snr_falls_as_k_grows_at_a_fixed_budget(trained):
  params, x = trained

  def encoder_snr(m, k):
    model = _model('miwae', m, k)
    grads = jax.jit(jax.vmap(lambda r: _grad(model, params, x, r)['encoder']))(
        jax.random.split(jax.random.PRNGKey(0), 100)
    )
    flat = jnp.concatenate(
        [g.reshape(100, -1) for g in jax.tree.leaves(grads)], 1
    )
    return float(jnp.mean(jnp.abs(flat.mean(0)) / (flat.std(0) + 1e-12)))

  # 64 samples as M x K; measured (200 draws): 1.80, 0.37, 0.10.
  elbo, miwae, iwae = encoder_snr(64, 1), encoder_snr(8, 8), encoder_snr(1, 64)
  assert elbo > 2 * miwae > 4 * iwae, (elbo, miwae, iwae)


@pytest.mark.parametrize(
    'overrides, match',
    [
        (dict(iwae_estimator='diwae'), "Unknown iwae_estimator 'diwae'"),
        (dict(outer_samples=0), 'outer_samples=0 must be a positive integer'),
        (dict(iwae_samples=0), 'iwae_samples=0 must be a positive integer'),
        (dict(ciwae_beta=1.5), 'ciwae_beta=1.5 must lie in'),
    ],
)
def test_invalid_settings_are_refused(overrides, match):
  with pytest.raises(ValueError, match=match):
    models.build_model(fitting.config(model='miwae', **overrides), (64,))
