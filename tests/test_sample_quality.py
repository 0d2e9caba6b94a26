"""The Frechet and kernel distances, and the classifier whose features they
compare."""

import numpy as np
import pytest
from scipy import linalg

from ae_jax import figures
from ae_jax import metrics
from ae_jax.metrics import sample_quality
from ae_jax.tasks import feature_classifier
from tests import fitting


def _gaussian(rng, n, mean, cov):
  return rng.multivariate_normal(mean, cov, size=n)


def test_frechet_distance_matches_the_closed_form_and_scipy():
  rng = np.random.default_rng(0)
  d = 6
  a_factor = rng.normal(size=(d, d))
  cov_a = a_factor @ a_factor.T / d + np.eye(d) * 0.1
  cov_b = np.diag(rng.uniform(0.2, 2.0, d))
  mu_a, mu_b = rng.normal(size=d), rng.normal(size=d)
  a = _gaussian(rng, 200_000, mu_a, cov_a)
  b = _gaussian(rng, 200_000, mu_b, cov_b)
  # The population value, from the definition with scipy's sqrtm.
  exact = np.sum((mu_a - mu_b) ** 2) + np.trace(
      cov_a + cov_b - 2 * linalg.sqrtm(cov_a @ cov_b).real
  )
  assert metrics.frechet_distance(a, b) == pytest.approx(exact, rel=0.02)
  # On the sample statistics, the same number as the TTUR formula.
  small_a, small_b = a[:500], b[:500]
  s_a = np.cov(small_a, rowvar=False)
  s_b = np.cov(small_b, rowvar=False)
  ttur = np.sum((small_a.mean(0) - small_b.mean(0)) ** 2) + np.trace(
      s_a + s_b - 2 * linalg.sqrtm(s_a @ s_b).real
  )
  got = sample_quality.frechet_distance(small_a, small_b)
  assert got == pytest.approx(ttur, rel=1e-8)
  assert got == pytest.approx(
      sample_quality.frechet_distance(small_b, small_a), rel=1e-8
  )
  assert sample_quality.frechet_distance(small_a, small_a) < 1e-8


def test_kernel_distance_is_unbiased_and_grows_with_the_shift():
  rng = np.random.default_rng(1)
  same = [
      metrics.kernel_distance(
          rng.normal(size=(300, 8)),
          rng.normal(size=(300, 8)),
          subsets=5,
          seed=s,
      )
      for s in range(20)
  ]
  # Unbiased: both signs occur, and the mean is near 0.
  assert min(same) < 0 < max(same)
  assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(len(same)) + 1e-3
  base = rng.normal(size=(500, 8))
  shifts = [
      metrics.kernel_distance(base, rng.normal(size=(500, 8)) + s)
      for s in (0.25, 0.5, 1.0)
  ]
  assert 0 < shifts[0] < shifts[1] < shifts[2]


@pytest.mark.parametrize('fn', ['frechet_distance', 'kernel_distance'])
def test_bad_feature_sets_are_refused_with_the_argument_named(fn):
  f = getattr(metrics, fn)
  good = np.zeros((4, 3))
  with pytest.raises(ValueError, match='features_b.*NaN'):
    f(good, np.full((4, 3), np.nan))
  with pytest.raises(ValueError, match='features_a examples have shape'):
    f(np.zeros((4, 2)), good)
  with pytest.raises(ValueError, match='at least two'):
    f(good[:1], good)


def test_the_feature_classifier_learns_caches_and_separates_noise(tmp_path):
  dataset = fitting.digits()
  extractor = feature_classifier.feature_extractor(dataset)
  assert extractor.test_accuracy > 0.9  # 8x8 digits, 300 steps.
  path = next(feature_classifier.cache_dir().glob('digits-*.msgpack'))
  stamp = path.stat().st_mtime_ns
  again = feature_classifier.feature_extractor(dataset)
  assert path.stat().st_mtime_ns == stamp  # Read, not retrained.
  assert again.test_accuracy == extractor.test_accuracy
  real = dataset.test_images
  f_half = extractor.features(real[:150])
  f_other = extractor.features(real[150:300])
  assert f_half.shape == (150, feature_classifier.FEATURES)
  np.testing.assert_allclose(again.features(real[:150]), f_half, rtol=1e-6)
  noise = np.random.default_rng(0).uniform(size=real[:150].shape)
  floor = metrics.frechet_distance(f_other, f_half)
  assert metrics.frechet_distance(extractor.features(noise), f_half) > 5 * floor
  # A damaged cache file is trained over, not trusted.
  path.write_bytes(b'not msgpack')
  repaired = feature_classifier.feature_extractor(dataset)
  assert repaired.test_accuracy == extractor.test_accuracy


def test_non_images_have_no_feature_classifier():
  assert figures.image_shape_or_none((784,)) == (28, 28, 1)
  assert figures.image_shape_or_none((28, 28)) == (28, 28, 1)
  assert figures.image_shape_or_none((30,)) is None
  dataset = fitting.digits()
  tabular = type(dataset)(
      name='tabular',
      train_images=dataset.train_images[:, :30],
      train_labels=dataset.train_labels,
      test_images=dataset.test_images[:, :30],
      test_labels=dataset.test_labels,
      num_classes=dataset.num_classes,
      class_names=dataset.class_names,
  )
  with pytest.raises(ValueError, match='not images'):
    feature_classifier.feature_extractor(tabular)


def test_an_unwritable_cache_still_gives_the_features(tmp_path, monkeypatch):
  blocked = tmp_path / 'file'
  blocked.write_text('not a directory')
  monkeypatch.setenv('AE_JAX_CACHE', str(blocked / 'cache'))
  extractor = feature_classifier.feature_extractor(fitting.digits())
  assert extractor.test_accuracy > 0.9
