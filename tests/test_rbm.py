"""RBMs: free energies against brute force, CD/PCD training, Gibbs sampling."""

import functools
import itertools

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from scipy import special as sp_special
from sklearn import datasets as sk_datasets

from ae_jax.models import base
from ae_jax.models import rbm


def _random_params(seed, num_visible, num_hidden, scale=1.0):
  r = np.random.default_rng(seed)
  return {
      'kernel': jnp.asarray(
          scale * r.normal(size=(num_visible, num_hidden)), jnp.float32
      ),
      'visible_bias': jnp.asarray(r.normal(size=num_visible), jnp.float32),
      'hidden_bias': jnp.asarray(r.normal(size=num_hidden), jnp.float32),
  }


def _binary_states(n):
  """All ``2^n`` binary vectors, ``[2^n, n]`` float32."""
  return np.array(list(itertools.product([0.0, 1.0], repeat=n)), np.float32)


def _np(params):
  return {k: np.asarray(v, np.float64) for k, v in params.items()}


def _energy(p, v, h, visible):
  """E(v, h) in float64 for Bernoulli hidden units."""
  if visible == 'bernoulli':
    visible_term = -v @ p['visible_bias']
  else:
    visible_term = 0.5 * np.sum((v - p['visible_bias']) ** 2)
  return visible_term - h @ p['hidden_bias'] - v @ p['kernel'] @ h


@jax.jit
def _exact_log_likelihood(params, data):
  """Average log p(v) of binary ``data`` with log Z by enumeration."""
  states = _binary_states(params['kernel'].shape[0])
  log_z = jax.nn.logsumexp(-rbm.free_energy(params, states))
  return jnp.mean(-rbm.free_energy(params, data)) - log_z


def _digits(n=600):
  """The first ``n`` of sklearn's 8x8 digits, ``[n, 64]`` grey levels 0..16."""
  return sk_datasets.load_digits().data[:n].astype(np.float32)


def _config(**overrides):
  # Built from one dict: ConfigDict would refuse to change a field's type.
  fields = dict(
      latent_dim=16,
      rbm_visible='bernoulli',
      rbm_hidden='bernoulli',
      cd_steps=1,
      persistent_chains=False,
  )
  return ml_collections.ConfigDict({**fields, **overrides})


# Four binary prototypes, eight copies each: the best model has log p = -log 4.
PATTERNS = np.repeat(
    np.array(
        [
            [1, 1, 1, 0, 0, 0],
            [0, 0, 0, 1, 1, 1],
            [1, 0, 1, 0, 1, 0],
            [0, 1, 0, 1, 0, 1],
        ],
        np.float32,
    ),
    8,
    axis=0,
)


# ---------------------------------------------------------------------------
# Free energy.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('visible', ['bernoulli', 'gaussian'])
def test_free_energy_equals_brute_force_over_hidden_states(visible):
  params = _random_params(0, 5, 3)
  r = np.random.default_rng(1)
  if visible == 'bernoulli':
    v = r.integers(0, 2, size=(4, 5)).astype(np.float32)
  else:
    v = r.normal(size=(4, 5)).astype(np.float32)
  p = _np(params)
  hs = _binary_states(3).astype(np.float64)
  expected = [
      -sp_special.logsumexp([-_energy(p, vi, h, visible) for h in hs])
      for vi in v.astype(np.float64)
  ]
  got = jax.jit(functools.partial(rbm.free_energy, visible=visible))(params, v)
  chex.assert_shape(got, (4,))
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_gaussian_hidden_free_energy_matches_numerical_integration():
  # E(v, h) = -b.v + ||h||^2 / 2 - c.h - v W h; integrate h over a 2-D grid.
  params = _random_params(2, 4, 2, scale=0.5)
  p = _np(params)
  v = np.random.default_rng(3).integers(0, 2, size=(3, 4)).astype(np.float32)
  grid = np.linspace(-12.0, 12.0, 1201)
  dh = grid[1] - grid[0]
  h = np.stack(np.meshgrid(grid, grid, indexing='ij'), -1).reshape(-1, 2)
  expected = []
  for vi in v.astype(np.float64):
    neg_energy = (
        vi @ p['visible_bias']
        - 0.5 * np.sum(h**2, -1)
        + h @ (p['hidden_bias'] + vi @ p['kernel'])
    )
    expected.append(-sp_special.logsumexp(neg_energy) - 2 * np.log(dh))
  got = rbm.free_energy(params, v, hidden='gaussian')
  # The documented constant: F leaves out -(H / 2) log(2 pi).
  constant = -(2 / 2) * np.log(2 * np.pi)
  np.testing.assert_allclose(got + constant, expected, rtol=1e-5, atol=1e-5)
  # And the closed form as documented.
  x = p['hidden_bias'] + v @ p['kernel']
  np.testing.assert_allclose(
      got, -v @ p['visible_bias'] - 0.5 * np.sum(x**2, -1), rtol=1e-5
  )


def test_free_energy_checks_shapes_and_unit_types():
  params = rbm.init_params(jax.random.PRNGKey(0), 5, 3)
  with pytest.raises(ValueError, match=r'must end in 5 units'):
    rbm.free_energy(params, jnp.zeros((2, 4)))
  with pytest.raises(ValueError, match=r"visible='binary' is not one of"):
    rbm.free_energy(params, jnp.zeros((2, 5)), visible='binary')
  with pytest.raises(ValueError, match=r'must end in 3 units'):
    rbm.visible_mean(params, jnp.zeros((2, 5)))
  with pytest.raises(ValueError, match='v_model shape'):
    rbm.contrastive_divergence_loss(
        params, jnp.zeros((2, 5)), jnp.zeros((3, 5))
    )
  with pytest.raises(ValueError, match='static int'):
    rbm.gibbs_chain(jax.random.PRNGKey(0), params, jnp.zeros((2, 5)), steps=-1)
  # Binary data may come as bool or uint8.
  v = np.array([[1, 0, 1, 1, 0]], np.uint8)
  np.testing.assert_allclose(
      rbm.free_energy(params, v), rbm.free_energy(params, v.astype(np.float32))
  )


def test_init_params_follows_the_practical_guide():
  params = rbm.init_params(jax.random.PRNGKey(0), 200, 100)
  chex.assert_shape(
      (params['kernel'], params['visible_bias'], params['hidden_bias']),
      [(200, 100), (200,), (100,)],
  )
  np.testing.assert_allclose(jnp.std(params['kernel']), 0.01, rtol=0.02)
  assert not jnp.any(params['visible_bias']) and not jnp.any(
      params['hidden_bias']
  )


# ---------------------------------------------------------------------------
# Gradient of the CD surrogate.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('hidden', ['bernoulli', 'gaussian'])
def test_cd_gradient_is_the_textbook_update(hidden):
  params = _random_params(4, 6, 4, scale=0.5)
  r = np.random.default_rng(5)
  v_data = r.integers(0, 2, size=(8, 6)).astype(np.float32)
  v_model = r.integers(0, 2, size=(8, 6)).astype(np.float32)
  units = dict(visible='bernoulli', hidden=hidden)

  def loss(params, v_model):
    return jnp.mean(
        rbm.contrastive_divergence_loss(params, v_data, v_model, **units)
    )

  grads = jax.jit(jax.grad(loss))(params, v_model)
  # The textbook update with conditional means, in float64 NumPy.
  p = _np(params)

  def h_mean(v):
    x = p['hidden_bias'] + v @ p['kernel']
    return sp_special.expit(x) if hidden == 'bernoulli' else x

  h_data, h_model = h_mean(v_data), h_mean(v_model)
  b = v_data.shape[0]
  expected = {
      'kernel': -(v_data.T @ h_data - v_model.T @ h_model) / b,
      'visible_bias': -(v_data.mean(0) - v_model.mean(0)),
      'hidden_bias': -(h_data.mean(0) - h_model.mean(0)),
  }
  chex.assert_trees_all_close(grads, expected, atol=1e-6)

  # No gradient flows into negative samples computed from the params.
  h = np.random.default_rng(6).integers(0, 2, size=(8, 4)).astype(np.float32)
  through_chain = jax.jit(
      jax.grad(lambda p: loss(p, rbm.visible_mean(p, h, visible='bernoulli')))
  )(params)
  v_fixed = sp_special.expit(p['visible_bias'] + h @ p['kernel'].T)
  chex.assert_trees_all_close(
      through_chain, jax.jit(jax.grad(loss))(params, v_fixed), atol=1e-6
  )


# ---------------------------------------------------------------------------
# Gibbs sampling.
# ---------------------------------------------------------------------------


def test_sampled_hidden_and_visible_frequencies_match_the_means():
  params = _random_params(6, 5, 4)
  v = np.random.default_rng(7).integers(0, 2, size=(3, 5)).astype(np.float32)
  h = np.random.default_rng(8).integers(0, 2, size=(3, 4)).astype(np.float32)
  n = 20_000

  @jax.jit
  def draw(rng):
    # n independent draws per example, as a leading axis.
    keys = jax.random.split(rng, 3)
    vs, hs = jnp.broadcast_to(v, (n, 3, 5)), jnp.broadcast_to(h, (n, 3, 4))
    return (
        rbm.sample_hidden(keys[0], params, vs),
        rbm.sample_visible(keys[1], params, hs),
        rbm.sample_hidden(keys[2], params, vs, hidden='gaussian'),
    )

  h_samples, v_samples, gaussian = draw(jax.random.PRNGKey(9))
  for sample, mean in [
      (h_samples, rbm.hidden_mean(params, v)),
      (v_samples, rbm.visible_mean(params, h)),
  ]:
    assert set(np.unique(sample)) <= {0.0, 1.0}
    sigma = np.sqrt(mean * (1 - mean) / n)
    np.testing.assert_array_less(
        np.abs(sample.mean(0) - mean), 5 * sigma + 1e-4
    )
  # Gaussian units: unit-variance noise around the mean.
  np.testing.assert_allclose(
      gaussian.mean(0), rbm.hidden_mean(params, v, hidden='gaussian'), atol=0.04
  )
  np.testing.assert_allclose(gaussian.var(0), 1.0, atol=0.05)


def test_gibbs_chain_reaches_the_exact_marginal():
  params = _random_params(10, 3, 2, scale=1.5)
  states = _binary_states(3)
  p = jax.nn.softmax(-rbm.free_energy(params, states))
  n = 20_000
  rng_init, rng_chain = jax.random.split(jax.random.PRNGKey(11))
  v0 = jnp.zeros((n, 3))  # All chains start in one state, far from p.
  v = jax.jit(functools.partial(rbm.gibbs_chain, steps=30))(
      rng_chain, params, v0
  )
  index = np.asarray(v @ jnp.array([4.0, 2.0, 1.0])).astype(int)
  freq = np.bincount(index, minlength=8) / n
  sigma = np.sqrt(p * (1 - p) / n)
  np.testing.assert_array_less(np.abs(freq - p), 5 * sigma + 2e-3)
  del rng_init


# ---------------------------------------------------------------------------
# Training.
# ---------------------------------------------------------------------------


def _train_cd(params, data, *, steps, learning_rate, units, cd_steps=1, seed=0):
  """Full-batch CD-k with Adam, as one `lax.scan`."""
  tx = optax.adam(learning_rate)

  def loss_fn(params, rng):
    v_model = rbm.gibbs_chain(rng, params, data, steps=cd_steps, **units)
    return jnp.mean(
        rbm.contrastive_divergence_loss(params, data, v_model, **units)
    )

  def step(carry, rng):
    params, opt_state = carry
    grads = jax.grad(loss_fn)(params, rng)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  keys = jax.random.split(jax.random.PRNGKey(seed), steps)
  (params, _), _ = jax.jit(lambda c, k: jax.lax.scan(step, c, k))(
      (params, tx.init(params)), keys
  )
  return params


def test_cd1_raises_the_exact_log_likelihood():
  params = rbm.init_params(jax.random.PRNGKey(0), 6, 4)
  before = _exact_log_likelihood(params, PATTERNS)
  np.testing.assert_allclose(before, -6 * np.log(2), atol=0.05)
  units = dict(visible='bernoulli', hidden='bernoulli')
  params = _train_cd(
      params, PATTERNS, steps=400, learning_rate=0.05, units=units
  )
  after = _exact_log_likelihood(params, PATTERNS)
  assert after > before + 1.5, (before, after)
  assert after <= -np.log(4) + 1e-4  # Sanity: the optimum is log(1/4).


def _train_with_model(model, params, data, *, steps, tx, seed=0):
  """Full-batch training through `train_losses`, carrying the model state."""
  state = model.init_model_state(jax.random.PRNGKey(seed + 1), data.shape[0])

  def step(carry, rng):
    params, opt_state, state = carry

    def loss_fn(params):
      metrics, new_state = model.train_losses(params, state, data, rng)
      return jnp.mean(metrics['loss']), new_state

    grads, state = jax.grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state, state), None

  keys = jax.random.split(jax.random.PRNGKey(seed), steps)
  (params, _, state), _ = jax.jit(lambda c, k: jax.lax.scan(step, c, k))(
      (params, tx.init(params), state), keys
  )
  return params, state


def test_pcd_raises_the_exact_log_likelihood():
  model = rbm.build(
      _config(latent_dim=4, persistent_chains=True), base.DataSpec((6,))
  )
  params = model.init(jax.random.PRNGKey(0))
  before = _exact_log_likelihood(params, PATTERNS)
  # PCD needs a learning rate small enough for the chains to keep up
  # (Tieleman 2008); larger ones make it oscillate.
  params, state = _train_with_model(
      model, params, PATTERNS, steps=400, tx=optax.sgd(0.1, momentum=0.5)
  )
  after = _exact_log_likelihood(params, PATTERNS)
  assert after > before + 1.5, (before, after)
  chex.assert_shape(state['chains'], PATTERNS.shape)
  assert set(np.unique(state['chains'])) <= {0.0, 1.0}


def test_train_losses_advances_the_persistent_chains():
  model = rbm.build(
      _config(latent_dim=4, persistent_chains=True), base.DataSpec((2, 3))
  )
  params = model.init(jax.random.PRNGKey(0))
  state = model.init_model_state(jax.random.PRNGKey(1), 5)
  chex.assert_shape(state['chains'], (5, 6))
  x = jnp.ones((5, 2, 3))
  rng = jax.random.PRNGKey(2)
  metrics, new_state = jax.jit(model.train_losses)(params, state, x, rng)
  chex.assert_shape(new_state['chains'], (5, 6))
  assert not np.array_equal(new_state['chains'], state['chains'])
  expected_loss = jax.jit(rbm.contrastive_divergence_loss)(
      params, x.reshape(5, 6), new_state['chains']
  )
  np.testing.assert_allclose(metrics['loss'], expected_loss, rtol=1e-6)
  with pytest.raises(ValueError, match='batch_size=4'):
    jax.eval_shape(model.train_losses, params, state, x[:4], rng)
  # Without persistence the state stays empty and the loss is CD-k.
  cd = rbm.build(_config(latent_dim=4), base.DataSpec((2, 3)))
  assert cd.init_model_state(jax.random.PRNGKey(1), 5) == {}

  @jax.jit
  def both(params):
    return cd.train_losses(params, {}, x, rng), cd.per_example_losses(
        params, x, rng, train=True
    )

  (metrics, state), expected = both(params)
  assert state == {}
  chex.assert_trees_all_close(metrics, expected)


def test_gaussian_bernoulli_rbm_lowers_reconstruction_error():
  x = _digits()
  std = x.std(0)
  x = (x - x.mean(0)) / np.where(std > 0, std, 1.0)
  units = dict(visible='gaussian', hidden='bernoulli')
  params = rbm.init_params(jax.random.PRNGKey(0), 64, 32)
  before = float(jnp.mean(rbm.reconstruction_error(params, x, **units)))
  params = _train_cd(params, x, steps=150, learning_rate=3e-3, units=units)
  after = float(jnp.mean(rbm.reconstruction_error(params, x, **units)))
  assert after < 0.7 * before, (before, after)


def test_bernoulli_rbm_on_digits_learns():
  x = _digits() / 16.0
  model = rbm.build(_config(latent_dim=32), base.DataSpec((64,)))
  params = model.init(jax.random.PRNGKey(0))

  metrics_fn = jax.jit(model.per_example_losses, static_argnames='train')

  def evaluate(params):
    m = metrics_fn(params, x, jax.random.PRNGKey(1), train=False)
    return float(m['mse'].mean()), float(m['pseudo_log_likelihood'].mean())

  mse_before, pll_before = evaluate(params)
  params, state = _train_with_model(
      model, params, x, steps=150, tx=optax.adam(0.01)
  )
  assert state == {}
  mse_after, pll_after = evaluate(params)
  assert mse_after < 0.5 * mse_before, (mse_before, mse_after)
  assert pll_after > pll_before + 10.0, (pll_before, pll_after)


# ---------------------------------------------------------------------------
# The model interface.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('visible', ['bernoulli', 'gaussian'])
def test_model_shapes(visible):
  shape = (4, 4, 1)
  model = rbm.build(
      _config(latent_dim=3, rbm_visible=visible), base.DataSpec(shape)
  )
  assert model.generative and model.likelihood == visible
  params = model.init(jax.random.PRNGKey(0))
  x = jax.random.uniform(jax.random.PRNGKey(1), (5, *shape))
  chex.assert_shape(model.encode(params, x), (5, 3))
  chex.assert_shape(model.decode(params, jnp.zeros((5, 3))), (5, *shape))
  chex.assert_shape(model.reconstruct(params, x), (5, *shape))
  samples = jax.jit(model.sample, static_argnums=2)(
      params, jax.random.PRNGKey(2), 7
  )
  chex.assert_shape(samples, (7, *shape))
  chex.assert_tree_all_finite(samples)
  metrics = jax.jit(model.per_example_losses, static_argnames='train')(
      params, x, jax.random.PRNGKey(3), train=False
  )
  expected = {'loss', 'free_energy', 'mse'}
  if visible == 'bernoulli':
    expected.add('pseudo_log_likelihood')
    assert float(samples.min()) >= 0 and float(samples.max()) <= 1
  assert set(metrics) == expected
  for k, v in metrics.items():
    chex.assert_shape(v, (5,), custom_message=k)
  chex.assert_tree_all_finite(metrics)
  with pytest.raises(ValueError, match=r'not \[B, \*\(4, 4, 1\)\]'):
    model.encode(params, jnp.zeros((5, 16)))


@pytest.mark.parametrize(
    'overrides,match',
    [
        (dict(rbm_visible='binary'), r"--config.rbm_visible.*'gaussian'"),
        (dict(rbm_hidden='relu'), r"--config.rbm_hidden.*'bernoulli'"),
        (dict(cd_steps=0), r'--config.cd_steps'),
        (dict(cd_steps=1.5), r'--config.cd_steps'),
        (dict(persistent_chains='yes'), r'--config.persistent_chains'),
        (dict(latent_dim=0), r'--config.latent_dim'),
    ],
)
def test_build_rejects_bad_config(overrides, match):
  with pytest.raises(ValueError, match=match):
    rbm.build(_config(**overrides), base.DataSpec((64,)))


def test_the_best_checkpoint_is_chosen_by_reconstruction_error(
    tmp_path, monkeypatch
):
  # The CD surrogate ('loss') wanders in sign as an RBM improves: ranked by
  # it, a review run's "best" was its first checkpoint (MSE 0.074 against
  # 0.038 at the end).
  import ae_jax  # pylint: disable=g-import-not-at-top
  from ae_jax import train  # pylint: disable=g-import-not-at-top
  from ae_jax.train import checkpoints  # pylint: disable=g-import-not-at-top
  from experiments.configs import rbm as rbm_config  # pylint: disable=g-import-not-at-top

  ranked_by = []
  real = checkpoints.make_manager

  def spy(*args, best_metric=None, **kwargs):
    ranked_by.append(best_metric)
    return real(*args, best_metric=best_metric, **kwargs)

  monkeypatch.setattr(checkpoints, 'make_manager', spy)
  config = rbm_config.get_config('smoke')
  config.update(
      validation_size=100,
      num_train_steps=30,
      eval_every_steps=10,
      checkpoint_every_steps=10,
      write_figures=False,
  )
  summary = train.train_and_evaluate(config, tmp_path)
  assert ranked_by == ['mse']
  best = summary['best_checkpoint']
  assert ae_jax.load(tmp_path, step='best').step == best['step']
