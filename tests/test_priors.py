"""Tests for `ae_jax.priors`."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special as sp_special
from scipy import stats

from ae_jax import priors

KEY = jax.random.PRNGKey(0)


def _rng(seed=0):
  return np.random.default_rng(seed)


def _nearest_mean(z, means):
  """Index of the nearest component mean for each row of z (float64)."""
  z = np.asarray(z, np.float64)
  sq_dist = np.sum((z[:, None, :] - means[None].astype(np.float64)) ** 2, -1)
  return np.argmin(sq_dist, axis=-1)


def _ref_mixture_log_prob(z, means, std):
  """Brute-force float64 log (1/K) sum_k N(z; mu_k, std^2 I)."""
  z = np.asarray(z, np.float64)
  per_component = np.stack(
      [
          stats.multivariate_normal.logpdf(z, mean=mu, cov=std**2)
          for mu in np.asarray(means, np.float64)
      ],
      axis=-1,
  )
  return sp_special.logsumexp(per_component, axis=-1) - np.log(len(means))


def _uniform_sampler(rng, num, dim=5):
  return jax.random.uniform(rng, (num, dim), minval=-1.0, maxval=1.0)


ALL_PRIORS = [
    pytest.param(priors.standard_normal(2), id='normal-2'),
    pytest.param(priors.standard_normal(16), id='normal-16'),
    pytest.param(priors.gaussian_mixture(2), id='mixture-2'),
    pytest.param(priors.gaussian_mixture(12), id='mixture-12'),
    pytest.param(priors.from_sampler(_uniform_sampler, 5), id='sampler-5'),
]


class TestAllPriors:

  @pytest.mark.parametrize('prior', ALL_PRIORS)
  def test_sample_shape_dtype_and_purity(self, prior):
    z = prior.sample(KEY, 7)
    chex.assert_shape(z, (7, prior.dim))
    chex.assert_type(z, jnp.float32)
    chex.assert_tree_all_finite(z)
    # Pure: the same key gives the same samples, another key others.
    chex.assert_trees_all_equal(prior.sample(KEY, 7), z)
    assert not np.allclose(prior.sample(jax.random.PRNGKey(1), 7), z)

  @pytest.mark.parametrize('prior', ALL_PRIORS)
  def test_jit_with_prior_closed_over(self, prior):
    chex.clear_trace_counter()  # counts are kept per code object

    @jax.jit
    @chex.assert_max_traces(n=1)
    def sample(rng):
      return prior.sample(rng, 9)

    z0 = sample(KEY)
    z1 = sample(jax.random.PRNGKey(1))  # no retrace for a new key
    chex.assert_shape(z1, (9, prior.dim))
    chex.assert_trees_all_close(z0, prior.sample(KEY, 9), rtol=1e-6)

  @pytest.mark.parametrize('prior', ALL_PRIORS)
  def test_priors_are_hashable_values(self, prior):
    # Frozen dataclasses: usable as a static jit argument or a Model field.
    assert hash(prior) == hash(prior)
    with pytest.raises(AttributeError):
      prior.dim = 3

  @pytest.mark.parametrize('num', [-1, 2.0, True, jnp.array(4)])
  def test_num_must_be_a_static_int(self, num):
    with pytest.raises(TypeError, match='Python int'):
      priors.gaussian_mixture(2).sample(KEY, num)


class TestStandardNormal:

  def test_moments(self):
    n = 20_000
    z = np.asarray(priors.standard_normal(4).sample(KEY, n), np.float64)
    # 5 standard errors: the mean's is 1/sqrt(n), a covariance entry's
    # about sqrt(2/n).
    np.testing.assert_allclose(z.mean(0), 0.0, atol=5 / np.sqrt(n))
    np.testing.assert_allclose(
        np.cov(z, rowvar=False), np.eye(4), atol=5 * np.sqrt(2 / n)
    )

  def test_log_prob_matches_scipy(self):
    z = _rng(1).normal(size=(6, 3)).astype(np.float32) * 2.0
    out = jax.jit(priors.standard_normal(3).log_prob)(z)
    chex.assert_shape(out, (6,))
    chex.assert_type(out, jnp.float32)
    expected = stats.multivariate_normal.logpdf(
        z.astype(np.float64), mean=np.zeros(3)
    )
    np.testing.assert_allclose(out, expected, rtol=1e-6)

  def test_not_label_conditioned(self):
    prior = priors.standard_normal(3)
    assert prior.num_classes == 0
    with pytest.raises(NotImplementedError, match='gaussian_mixture'):
      prior.sample_conditioned(KEY, jnp.zeros((2,), jnp.int32))


class TestGaussianMixture:

  def test_means_on_a_circle_in_the_first_two_dims(self):
    prior = priors.gaussian_mixture(12, radius=3.0, std=0.2)
    assert prior.num_classes == 10
    means = prior.means
    chex.assert_shape(means, (10, 12))
    np.testing.assert_allclose(np.linalg.norm(means, axis=1), 3.0, rtol=1e-6)
    np.testing.assert_array_equal(means[:, 2:], 0.0)
    np.testing.assert_allclose(means[0], [3.0] + [0.0] * 11, atol=1e-6)
    # Equally spaced: every neighbouring pair is 2 r sin(pi / K) apart.
    gaps = np.linalg.norm(means - np.roll(means, 1, axis=0), axis=1)
    np.testing.assert_allclose(gaps, 6.0 * np.sin(np.pi / 10), rtol=1e-5)

  @pytest.mark.parametrize('dim', [2, 12])
  def test_samples_cluster_uniformly_around_the_means(self, dim):
    n = 20_000
    prior = priors.gaussian_mixture(dim)
    z = np.asarray(prior.sample(KEY, n))
    counts = np.bincount(_nearest_mean(z, prior.means), minlength=10)
    # Expected n / 10 = 2000 each, binomial standard deviation 42.
    np.testing.assert_array_less(np.abs(counts - n / 10), 5 * 42)
    # Far from the origin and from the spaces between modes: the squared
    # distance to the nearest mean is std^2 * chi^2(dim), mean dim * std^2.
    nearest = prior.means[_nearest_mean(z, prior.means)]
    sq_dist = np.sum((z - nearest) ** 2, axis=-1)
    np.testing.assert_allclose(sq_dist.mean(), dim * 0.25, rtol=0.05)

  @pytest.mark.parametrize('dim', [2, 12])
  def test_conditioned_samples_come_from_the_labelled_component(self, dim):
    prior = priors.gaussian_mixture(dim, std=0.3)
    labels = np.tile(np.arange(10, dtype=np.int32), 500)
    z = np.asarray(jax.jit(prior.sample_conditioned)(KEY, labels))
    chex.assert_shape(z, (5000, dim))
    # Neighbouring means are 8 std apart: essentially all nearest.
    assert np.mean(_nearest_mean(z, prior.means) == labels) > 0.999
    residuals = z - prior.means[labels]
    np.testing.assert_allclose(residuals.std(axis=0), 0.3, rtol=0.06)
    for k in range(10):
      np.testing.assert_allclose(
          z[labels == k].mean(0), prior.means[k], atol=5 * 0.3 / np.sqrt(500)
      )

  def test_negative_labels_draw_from_the_whole_mixture(self):
    prior = priors.gaussian_mixture(2)
    z = prior.sample_conditioned(KEY, jnp.full((5000,), -1, jnp.int32))
    counts = np.bincount(_nearest_mean(z, prior.means), minlength=10)
    # Binomial(5000, 0.1) has standard deviation 21.
    np.testing.assert_array_less(np.abs(counts - 500), 5 * 21)

  def test_labels_keep_their_shape_and_out_of_range_gives_nan(self):
    prior = priors.gaussian_mixture(3)
    z = prior.sample_conditioned(KEY, jnp.array([[0, 9], [10, 3]]))
    chex.assert_shape(z, (2, 2, 3))
    assert np.all(np.isnan(z[1, 0]))
    assert np.all(np.isfinite(np.delete(np.asarray(z).reshape(4, 3), 2, 0)))

  def test_one_hot_labels_rejected(self):
    with pytest.raises(TypeError, match='integer class labels'):
      priors.gaussian_mixture(2).sample_conditioned(KEY, jnp.eye(10)[:3])

  @pytest.mark.parametrize('dim', [2, 8])
  def test_log_prob_matches_brute_force_logsumexp(self, dim):
    prior = priors.gaussian_mixture(dim, radius=3.0, std=0.7)
    # Codes near the means, near the origin, and far out (where every
    # component density underflows in float32 without logsumexp).
    z = np.concatenate(
        [
            np.asarray(prior.sample(KEY, 5)),
            _rng(2).normal(size=(4, dim)),
            20.0 * _rng(3).normal(size=(3, dim)),
        ]
    ).astype(np.float32)
    out = jax.jit(prior.log_prob)(z)
    chex.assert_shape(out, (12,))
    chex.assert_type(out, jnp.float32)
    expected = _ref_mixture_log_prob(z, prior.means, 0.7)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)

  def test_log_prob_integrates_to_one_in_2d(self):
    prior = priors.gaussian_mixture(2)
    grid = np.linspace(-7.0, 7.0, 351, dtype=np.float32)
    xx, yy = np.meshgrid(grid, grid)
    z = np.stack([xx.ravel(), yy.ravel()], axis=-1)
    density = np.exp(np.asarray(prior.log_prob(z), np.float64))
    cell = (grid[1] - grid[0]) ** 2
    np.testing.assert_allclose(density.sum() * cell, 1.0, rtol=1e-3)

  def test_log_prob_keeps_leading_axes(self):
    prior = priors.gaussian_mixture(4)
    z = _rng(4).normal(size=(3, 5, 4)).astype(np.float32)
    out = prior.log_prob(z)
    chex.assert_shape(out, (3, 5))
    chex.assert_trees_all_close(out[1], prior.log_prob(z[1]), rtol=1e-6)
    chex.assert_shape(prior.component_log_prob(z), (3, 5, 10))

  def test_log_prob_checks_codes(self):
    prior = priors.gaussian_mixture(4)
    with pytest.raises(ValueError, match=r'\[\.\.\., 4\]'):
      prior.log_prob(jnp.zeros((3, 5)))
    with pytest.raises(TypeError, match='floating-point'):
      prior.log_prob(jnp.zeros((3, 4), jnp.int32))

  @pytest.mark.parametrize(
      'kwargs, match',
      [
          (dict(dim=1), 'dim must be >= 2'),
          (dict(dim=2, num_components=0), 'num_components'),
          (dict(dim=2, std=0.0), 'std'),
          (dict(dim=2, radius=-1.0), 'radius'),
          (dict(dim=2.0), 'positive int'),
      ],
  )
  def test_invalid_options(self, kwargs, match):
    with pytest.raises(ValueError, match=match):
      priors.gaussian_mixture(**kwargs)


class TestFromSampler:

  def test_good_sampler(self):
    prior = priors.from_sampler(_uniform_sampler, 5)
    assert prior.num_classes == 0 and not prior.has_log_prob
    z = np.asarray(jax.jit(lambda k: prior.sample(k, 4000))(KEY))
    assert z.min() >= -1.0 and z.max() <= 1.0
    np.testing.assert_allclose(z.var(0), 1 / 3, rtol=0.1)  # U(-1, 1)
    with pytest.raises(NotImplementedError, match='has_log_prob'):
      prior.log_prob(z)
    with pytest.raises(NotImplementedError, match='not label-conditioned'):
      prior.sample_conditioned(KEY, jnp.zeros((2,), jnp.int32))

  def test_float64_output_is_cast_to_float32(self):
    def sampler(rng, num):
      del rng
      return np.zeros((num, 2), np.float64)

    chex.assert_type(
        priors.from_sampler(sampler, 2).sample(KEY, 3), jnp.float32
    )

  @pytest.mark.parametrize(
      'fn',
      [
          pytest.param(lambda k, n: _uniform_sampler(k, n, dim=6), id='dim'),
          pytest.param(lambda k, n: _uniform_sampler(k, 64), id='ignores-num'),
          pytest.param(lambda k, n: _uniform_sampler(k, n)[0], id='rank'),
          pytest.param(
              lambda k, n: jax.random.randint(k, (n, 5), 0, 9), id='int'
          ),
          pytest.param(lambda k, n: (_uniform_sampler(k, n),), id='tuple'),
      ],
  )
  def test_bad_output_rejected_at_construction(self, fn):
    with pytest.raises(ValueError, match=r'\[num, dim\] = \[3, 5\]'):
      priors.from_sampler(fn, 5)

  def test_untraceable_sampler_rejected(self):
    with pytest.raises(ValueError, match='JAX-traceable'):
      priors.from_sampler(lambda rng: rng, 5)
    with pytest.raises(ValueError, match='function'):
      priors.from_sampler(None, 5)


class TestNamesAndChecks:

  def test_make_prior_by_name(self):
    assert set(priors.PRIORS) == {'standard_normal', 'gaussian_mixture'}
    assert priors.make_prior('standard_normal', 8) == priors.standard_normal(8)
    prior = priors.make_prior('gaussian_mixture', 8, std=0.1, radius=2.0)
    assert prior == priors.gaussian_mixture(8, std=0.1, radius=2.0)
    for name in priors.PRIORS:
      prior = priors.make_prior(name, 3)
      assert prior.name == name and prior.dim == 3
    # A named ValueError, not the factory's TypeError.
    with pytest.raises(ValueError, match="'standard_normal' prior has no opt"):
      priors.make_prior('standard_normal', 2, radius=3.0)
    with pytest.raises(ValueError, match='options: num_components, radius'):
      priors.make_prior('gaussian_mixture', 2, rad=3.0)

  def test_unknown_name(self):
    with pytest.raises(ValueError, match=r'gaussian_mixture.*--config\.prior'):
      priors.make_prior('mixture_of_gaussians', 2)
    with pytest.raises(ValueError, match=r'--config\.prior'):
      priors.check_prior('uniform', 2, 2)

  def test_check_prior(self):
    priors.check_prior('gaussian_mixture', 8, 8)  # passes
    with pytest.raises(ValueError, match=r'8-dimensional.*latent_dim=2.*dim=2'):
      priors.check_prior('gaussian_mixture', 8, 2)

  @pytest.mark.parametrize('dim', [0, -2, 2.5, True])
  def test_invalid_dim(self, dim):
    with pytest.raises(ValueError, match='positive int'):
      priors.standard_normal(dim)


def uniform_square(rng, num):
  """A user's sampler, named in configs as 'tests.test_priors:uniform_square'."""
  return jax.random.uniform(rng, (num, 2), minval=-1.0, maxval=1.0)


def test_a_config_names_a_user_sampler_by_reference():
  prior = priors.make_prior('tests.test_priors:uniform_square', 2)
  assert isinstance(prior, priors.SamplerPrior)
  z = np.asarray(prior.sample(jax.random.PRNGKey(0), 1000))
  assert z.shape == (1000, 2) and np.abs(z).max() <= 1.0
  priors.check_prior('tests.test_priors:uniform_square', 2, 2)
  with pytest.raises(
      ValueError, match=r'latent_dim=3 codes.*returned shape \(3, 2\)'
  ):
    priors.check_prior('tests.test_priors:uniform_square', 3, 3)
  with pytest.raises(ValueError, match='Importing'):
    priors.make_prior('no_such_module_xyz:fn', 2)
  with pytest.raises(ValueError, match="no function 'missing'"):
    priors.make_prior('tests.test_priors:missing', 2)
  with pytest.raises(ValueError, match='package.module:function'):
    priors.make_prior('uniform', 2)


def test_an_aae_trains_and_reloads_with_a_user_sampler(tmp_path):
  from ae_jax import load  # pylint: disable=g-import-not-at-top
  from ae_jax import train  # pylint: disable=g-import-not-at-top
  from experiments.configs import aae  # pylint: disable=g-import-not-at-top

  config = aae.get_config('smoke')
  config.prior = 'tests.test_priors:uniform_square'
  config.num_train_steps = 20
  config.write_figures = False
  summary = train.train_and_evaluate(config, tmp_path)
  assert np.isfinite(summary['test']['loss'])
  trained = load(tmp_path)
  assert isinstance(trained.model.prior, priors.SamplerPrior)
  assert trained.sample(5).shape[0] == 5
