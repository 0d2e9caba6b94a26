"""Ex-post Gaussian mixtures on codes, and sampling any autoencoder with one."""

import jax
import numpy as np
import pytest
from sklearn import mixture

import ae_jax
from ae_jax import expost
from ae_jax import train
from ae_jax import trained as trained_lib
from experiments.configs import ae as ae_config


def _two_clusters(n=4000, seed=0):
  rng = np.random.default_rng(seed)
  means = np.array([[-4.0, 0.0], [4.0, 1.0]])
  labels = rng.random(n) < 0.3
  return means[labels.astype(int)] + rng.normal(size=(n, 2)) * [1.0, 0.5]


def test_mixture_recovers_the_clusters_and_matches_sklearn_densities():
  z = _two_clusters()
  gmm = expost.fit_gaussian_mixture(z, components=2)
  order = np.argsort(gmm.means[:, 0])
  np.testing.assert_allclose(gmm.weights[order], [0.7, 0.3], atol=0.03)
  np.testing.assert_allclose(
      gmm.means[order], [[-4.0, 0.0], [4.0, 1.0]], atol=0.1
  )
  reference = mixture.GaussianMixture(2, covariance_type='full', random_state=0)
  reference.fit(z)
  np.testing.assert_allclose(
      gmm.log_prob(z[:50]), reference.score_samples(z[:50]), rtol=1e-6
  )
  draws = gmm.sample(20_000, seed=3)
  assert draws.dtype == np.float32
  np.testing.assert_allclose(draws.mean(0), z.mean(0), atol=0.1)
  np.testing.assert_allclose(np.cov(draws.T), np.cov(z.T), rtol=0.05)
  np.testing.assert_array_equal(gmm.sample(5, seed=3), gmm.sample(5, seed=3))
  assert not np.array_equal(gmm.sample(5, seed=3), gmm.sample(5, seed=4))


def test_bad_fits_are_refused_naming_the_argument():
  with pytest.raises(ValueError, match='components=10'):
    expost.fit_gaussian_mixture(np.zeros((5, 2)))
  with pytest.raises(ValueError, match='codes has 1 NaN'):
    expost.fit_gaussian_mixture(np.array([[np.nan, 0.0]] + [[0.0, 1.0]] * 20))
  gmm = expost.fit_gaussian_mixture(_two_clusters(), components=2)
  with pytest.raises(ValueError, match='z has 3 columns'):
    gmm.log_prob(np.zeros((2, 3)))


def test_a_deterministic_autoencoder_samples_through_its_expost_density(
    tmp_path,
):
  config = ae_config.get_config('smoke')
  config.num_train_steps = 30
  config.write_figures = False
  train.train_and_evaluate(config, tmp_path)
  model = ae_jax.load(tmp_path)
  assert not model.model.generative
  images = model.sample(6, seed=1)
  assert images.shape == (6, *model.input_shape)
  assert np.all((images >= 0) & (images <= 1))
  saved = tmp_path / trained_lib.EXPOST_FILE
  assert saved.exists()
  # A new load reads the saved mixture: the same images, no refit.
  stamp = saved.stat().st_mtime_ns
  again = ae_jax.load(tmp_path)
  np.testing.assert_array_equal(again.sample(6, seed=1), images)
  assert saved.stat().st_mtime_ns == stamp
  # A mixture saved for other parameters is refitted, not used.
  changed = trained_lib.TrainedModel(
      again.model,
      jax.tree.map(lambda p: p * 1.01, again.params),
      again.config,
      again.step,
      tmp_path,
  )
  changed.sample(2)
  assert saved.stat().st_mtime_ns != stamp
