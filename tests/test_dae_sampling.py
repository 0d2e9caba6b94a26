"""The denoising autoencoder as a generative model (issue 20): closed forms of
the field and the chain, refusals, and a tiny spiral study."""

import functools
import json
import os
import pathlib
import subprocess
import sys
import types

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ae_jax import corruptions
from ae_jax import dae_sampling
from ae_jax.data import toy2d
from ae_jax.metrics import score_alignment
from ae_jax.tasks import dae_chain

ROOT = str(pathlib.Path(__file__).resolve().parents[1])

# 1-D Gaussian data N(MU, S^2), Gaussian corruption of std SIGMA.
MU, S, SIGMA = 0.5, 1.0, 1.0
SHRINK = S**2 / (
    S**2 + SIGMA**2
)  # E[x | x_tilde] = MU + SHRINK (x_tilde - MU).
POSTERIOR_STD = np.sqrt(S**2 * SIGMA**2 / (S**2 + SIGMA**2))


def optimal_reconstruct(x):
  """The optimal Gaussian-noise DAE for N(MU, S^2) data."""
  return MU + SHRINK * (x - MU)


corrupt = functools.partial(corruptions.gaussian_noise, level=SIGMA, clip=False)


class TestReconstructionField:

  def test_optimal_field_is_sigma_squared_times_the_smoothed_score(self):
    x = jnp.linspace(-3.0, 4.0, 15)[:, None]
    field = jax.jit(
        functools.partial(
            dae_sampling.reconstruction_field, optimal_reconstruct
        )
    )(x)
    # p_sigma = N(MU, S^2 + SIGMA^2): score -(x - MU) / (S^2 + SIGMA^2).
    score = -(x - MU) / (S**2 + SIGMA**2)
    chex.assert_trees_all_close(field, SIGMA**2 * score, atol=1e-6)

  def test_kde_score_of_gaussian_samples_matches_the_closed_form(self):
    # The KDE score with bandwidth SIGMA estimates the smoothed score.
    data = np.random.default_rng(0).normal(MU, S, (20000, 1))
    x = np.linspace(-1.0, 2.0, 6)[:, None]  # Not MU, where both are 0.
    kde = score_alignment.gaussian_kde_score(x, data, bandwidth=SIGMA)
    np.testing.assert_allclose(kde, -(x - MU) / (S**2 + SIGMA**2), atol=0.03)
    field = np.asarray(
        dae_sampling.reconstruction_field(optimal_reconstruct, x)
    )
    assert score_alignment.mean_cosine(field, kde) == pytest.approx(1.0)
    assert score_alignment.mean_cosine(-field, kde) == pytest.approx(-1.0)

  def test_refuses_integer_input_and_a_shape_changing_function(self):
    with pytest.raises(TypeError, match='x must be floating'):
      dae_sampling.reconstruction_field(optimal_reconstruct, jnp.arange(3))
    with pytest.raises(ValueError, match='reconstruct_fn returned shape'):
      dae_sampling.reconstruction_field(
          lambda x: x[:, :1], jnp.zeros((4, 2), jnp.float32)
      )


class TestMarkovChain:

  def _chain(self, sample_fn, num_steps=200, burn_in=100, thin=1):
    x0 = jnp.zeros((4000, 1), jnp.float32)
    run = jax.jit(
        lambda rng: dae_sampling.markov_chain(
            rng,
            optimal_reconstruct,
            corrupt,
            x0,
            num_steps,
            sample_fn=sample_fn,
            burn_in=burn_in,
            thin=thin,
        )
    )
    return np.asarray(run(jax.random.PRNGKey(0)))

  def test_sampling_the_exact_posterior_leaves_the_data_distribution(self):
    # A Gibbs sampler of p(x) C(x_tilde | x): stationary N(MU, S^2).
    states = self._chain(dae_sampling.gaussian_output_sampler(POSTERIOR_STD))
    assert states.shape == (100, 4000, 1)
    assert np.mean(states) == pytest.approx(MU, abs=0.02)
    assert np.var(states) == pytest.approx(S**2, rel=0.05)

  def test_mean_step_shrinks_to_the_ar1_stationary_variance(self):
    # x' = MU + a (x + SIGMA eps - MU): variance a^2 SIGMA^2 / (1 - a^2).
    states = self._chain(None)
    expected = SHRINK**2 * SIGMA**2 / (1 - SHRINK**2)
    assert np.var(states) == pytest.approx(expected, rel=0.05)
    assert expected < 0.5 * S**2  # Far from the data's: a real difference.

  def test_thinning_keeps_the_same_states(self):
    full = self._chain(None, num_steps=12, burn_in=0)
    thinned = self._chain(None, num_steps=12, burn_in=4, thin=4)
    chex.assert_trees_all_close(thinned, full[[7, 11]])

  def test_bernoulli_output_sampler_draws_binary_values_at_the_mean(self):
    mean = jnp.full((20000,), 0.3)
    draws = dae_sampling.bernoulli_output_sampler(jax.random.PRNGKey(0), mean)
    assert set(np.unique(draws)) == {0.0, 1.0}
    assert float(draws.mean()) == pytest.approx(0.3, abs=0.01)

  def test_residual_std_of_the_optimal_dae_is_the_posterior_std(self):
    x = jax.random.normal(jax.random.PRNGKey(1), (50000, 1)) * S + MU
    std = dae_sampling.denoising_residual_std(
        jax.random.PRNGKey(2), optimal_reconstruct, corrupt, x
    )
    assert float(std[0]) == pytest.approx(POSTERIOR_STD, rel=0.02)

  @pytest.mark.parametrize(
      'kwargs, match',
      [
          (dict(num_steps=0), 'num_steps=0 must be an int >= 1'),
          (dict(num_steps=2.0), 'num_steps=2.0 must be an int'),
          (dict(num_steps=5, burn_in=5), 'burn_in=5 leaves no state'),
          (dict(num_steps=10, thin=3), 'thin=3 does not divide'),
          (dict(num_steps=10, thin=0), 'thin=0 must be an int >= 1'),
      ],
  )
  def test_refuses_bad_step_counts(self, kwargs, match):
    with pytest.raises(ValueError, match=match):
      dae_sampling.markov_chain(
          jax.random.PRNGKey(0),
          optimal_reconstruct,
          corrupt,
          jnp.zeros((2, 1)),
          **kwargs,
      )

  def test_refuses_a_negative_std(self):
    with pytest.raises(ValueError, match='std=-1.0 must be finite and >= 0'):
      dae_sampling.gaussian_output_sampler(-1.0)


def test_spiral_is_seeded_inside_the_unit_square_and_checked():
  a = toy2d.spiral(500, seed=3)
  np.testing.assert_array_equal(a, toy2d.spiral(500, seed=3))
  assert a.shape == (500, 2) and a.dtype == np.float32
  assert 0.05 < a.min() and a.max() < 0.95
  with pytest.raises(ValueError, match='num=0 must be a positive int'):
    toy2d.spiral(0)
  with pytest.raises(ValueError, match='noise=-0.1'):
    toy2d.spiral(10, noise=-0.1)


def test_spiral_study_refuses_bad_settings_before_training(tmp_path):
  with pytest.raises(ValueError, match='chain_thin=7 must divide'):
    dae_chain.spiral_study(tmp_path, dae_chain.SpiralSettings(chain_thin=7))
  with pytest.raises(ValueError, match='noise_level=0.0 must be > 0'):
    dae_chain.spiral_study(tmp_path, dae_chain.SpiralSettings(noise_level=0.0))
  assert not list(tmp_path.iterdir())


TINY = dae_chain.SpiralSettings(
    num_train=2000,
    num_test=1000,
    train_steps=3000,
    num_chains=500,
    chain_steps=40,
    chain_thin=20,
    grid=30,
)


@pytest.fixture(scope='module')
def tiny_study(tmp_path_factory):
  outdir = tmp_path_factory.mktemp('spiral')
  return outdir, dae_chain.spiral_study(outdir, TINY)


def test_tiny_spiral_field_points_up_the_density(tiny_study):
  _, result = tiny_study
  # Unrelated directions average 0; the optimal field gives 1.
  assert result['field']['cosine_near_data'] > 0.5
  assert result['field']['near_points'] > 100


def test_tiny_spiral_chain_beats_the_gaussian_baseline(tiny_study):
  outdir, result = tiny_study
  mmd = result['mmd']
  assert mmd['chain_sample_vs_heldout'] < 0.75 * mmd['gaussian_fit_vs_heldout']
  assert mmd['chain_mean_vs_heldout'] < mmd['gaussian_fit_vs_heldout']
  assert mmd['floor_heldout_vs_heldout'] < mmd['chain_sample_vs_heldout']
  saved = json.loads((outdir / 'dae_sampling_spiral.json').read_text())
  assert saved['mmd'] == mmd
  assert (outdir / 'field.png').exists()
  assert (outdir / 'chain_samples.png').exists()


def test_an_image_chain_needs_a_denoising_model(tiny_study, tmp_path):
  outdir, _ = tiny_study
  import ae_jax  # pylint: disable=g-import-not-at-top

  trained = ae_jax.load(outdir / 'spiral_dae')
  with pytest.raises(ValueError, match="output='best' is not one of"):
    dae_chain.image_chain(trained, None, output='best')
  plain = types.SimpleNamespace(
      config=ml_collections.ConfigDict({'noise': 'none'}), workdir=tmp_path
  )
  with pytest.raises(ValueError, match='is not a denoising autoencoder'):
    dae_chain.corrupt_fn(plain)


def test_binary_refuses_a_run_with_nothing_to_do(tmp_path):
  result = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.dae_sampling',
          f'--outdir={tmp_path / "out"}',
          '--nospiral',
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
      env=dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=ROOT),
  )
  assert result.returncode != 0
  assert 'error: --nospiral leaves nothing to do' in result.stderr
  assert 'Traceback' not in result.stderr, result.stderr[-2000:]
  assert not (tmp_path / 'out').exists()
