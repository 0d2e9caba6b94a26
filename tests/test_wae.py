"""WAE-MMD: the aggregate posterior matches N(0, I); the loss is cost + lambda MMD."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ae_jax import losses
from ae_jax import models
from ae_jax import tasks
from ae_jax import train
from ae_jax.models import capabilities
from experiments.configs import wae as experiment_config
from tests import fitting

ARCH = dict(hidden_sizes=(64,), latent_dim=4)


def test_codes_match_the_prior_far_better_than_a_plain_autoencoder():
  x = fitting.digits().test_images
  wae, wae_params, _ = fitting.fit(
      fitting.config(model='wae', **ARCH), steps=1500
  )
  ae, ae_params, _ = fitting.fit(fitting.config(**ARCH), steps=1500)
  prior = wae.prior
  mmd_wae = tasks.scaled_prior_mmd(np.asarray(wae.encode(wae_params, x)), prior)
  mmd_ae = tasks.scaled_prior_mmd(np.asarray(ae.encode(ae_params, x)), prior)
  # Measured: 0.011 vs 0.77 (scaled MMD to N(0, I), 4-d codes).
  assert mmd_wae < 0.25 * mmd_ae, (mmd_wae, mmd_ae)
  # The penalty does not cost the reconstruction. Measured MSE: 0.0286 vs
  # 0.0287.
  mse = lambda m, p: float(jnp.mean((m.reconstruct(p, x) - x) ** 2))
  assert mse(wae, wae_params) < 1.5 * mse(ae, ae_params)
  samples = wae.sample(wae_params, jax.random.PRNGKey(0), 5)
  assert samples.shape == (5, 64) and bool(
      jnp.all((0 <= samples) & (samples <= 1))
  )


def test_loss_is_the_cost_plus_lambda_times_the_batch_mmd():
  x = fitting.digits().test_images[:32]
  model = models.build_model(
      fitting.config(model='wae', mmd_weight=3.0, **ARCH), x.shape[1:]
  )
  params = model.init(jax.random.PRNGKey(0))
  rng = jax.random.PRNGKey(7)
  got = jax.jit(lambda p: model.per_example_losses(p, x, rng, train=True))(
      params
  )
  z = model.encode(params, x)
  prior_z = model.prior.sample(jax.random.fold_in(rng, 1), len(x))
  np.testing.assert_allclose(
      got['loss_mmd'], losses.mmd(z, prior_z), rtol=1e-5, atol=1e-7
  )
  np.testing.assert_allclose(
      got['loss'], got['loss_rec'] + 3.0 * got['loss_mmd'], rtol=1e-6
  )
  assert isinstance(model, capabilities.PriorModel)
  assert capabilities.has_prior(model) and model.generative


@pytest.mark.parametrize(
    'overrides, match',
    [
        (dict(mmd_weight=-1.0), 'mmd_weight'),
        (dict(mmd_kernel='laplace'), 'mmd_kernel'),
    ],
)
def test_invalid_settings_are_refused(overrides, match):
  with pytest.raises(ValueError, match=match):
    models.build_model(fitting.config(model='wae', **overrides), (64,))


def test_experiment_config_trains_in_smoke_mode(tmp_path):
  config = experiment_config.get_config('smoke')
  config.num_train_steps = 10
  config.write_figures = False
  summary = train.train_and_evaluate(config, tmp_path)
  assert summary['step'] == 10 and np.isfinite(summary['test']['loss_mmd'])


def test_wae_gan_is_the_deterministic_adversarial_autoencoder(tmp_path):
  config = experiment_config.get_config('smoke,penalty=gan,lambda=3')
  assert (config.model, config.aae_encoder) == ('aae', 'deterministic')
  assert config.adversarial_weight == 3.0
  model = models.build_model(config, (64,))
  assert not model.module.gaussian and model.adversarial_weight == 3.0
  config.num_train_steps = 10
  config.write_figures = False
  summary = train.train_and_evaluate(config, tmp_path)
  assert np.isfinite(summary['test']['loss_discriminator'])
  with pytest.raises(ValueError, match="penalty='sliced'"):
    experiment_config.get_config('penalty=sliced')
