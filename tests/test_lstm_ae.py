"""LSTM sequence autoencoder: shapes, masking of padding, training, errors."""

import functools

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from ae_jax import losses
from ae_jax.models import base
from ae_jax.models import lstm_ae
from experiments.configs import common


def _config(**overrides):
  # Not type-safe, so that tests can set fields to values of the wrong type.
  c = ml_collections.ConfigDict(
      common.get_base_config('lstm_ae').to_dict(), type_safe=False
  )
  c.latent_dim = 3
  c.lstm_hidden = 8
  c.update(overrides)
  return c


@functools.cache
def _model(shape=(6, 2), likelihood='bernoulli', hidden=8):
  return lstm_ae.build(
      _config(likelihood=likelihood, lstm_hidden=hidden), base.DataSpec(shape)
  )


@functools.cache
def _params(num_features=2, hidden=8):
  # The parameters depend on neither T nor the likelihood (tested below), so
  # every test shares one initialisation per (F, hidden): compiling is what
  # costs time here.
  return jax.jit(_model((1, num_features), hidden=hidden).init)(
      jax.random.PRNGKey(0)
  )


@functools.cache
def _jit_losses(model):
  return jax.jit(
      lambda p, x, n: model.per_example_losses(
          p, x, jax.random.PRNGKey(9), train=False, lengths=n
      )
  )


@functools.cache
def _jit_encode(model):
  return jax.jit(model.encode)


def _losses(model, params, x, lengths=None):
  return _jit_losses(model)(params, x, lengths)


# ---------------------------------------------------------------------------
# The masked loss helpers alone.
# ---------------------------------------------------------------------------


def test_sequence_mask():
  np.testing.assert_array_equal(
      lstm_ae.sequence_mask(jnp.array([1, 3, 4]), 4),
      [[1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]],
  )


@pytest.mark.parametrize('likelihood', ['bernoulli', 'gaussian'])
def test_masked_sequence_loss_matches_a_hand_computed_sum(likelihood):
  rng = np.random.default_rng(0)
  outputs = rng.normal(size=(2, 4, 3)).astype(np.float32)
  x = rng.uniform(size=(2, 4, 3)).astype(np.float32)
  lengths = np.array([2, 4])
  if likelihood == 'bernoulli':
    p = 1 / (1 + np.exp(-outputs.astype(np.float64)))
    elementwise = -(x * np.log(p) + (1 - x) * np.log(1 - p))
  else:
    elementwise = (outputs.astype(np.float64) - x) ** 2
  expected = [elementwise[0, :2].sum(), elementwise[1].sum()]
  got = jax.jit(lstm_ae.masked_sequence_loss, static_argnames='likelihood')(
      outputs, x, lengths, likelihood=likelihood
  )
  chex.assert_shape(got, (2,))
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_masked_mse_averages_over_valid_elements_only():
  rng = np.random.default_rng(1)
  means = rng.uniform(size=(2, 5, 2)).astype(np.float32)
  x = rng.uniform(size=(2, 5, 2)).astype(np.float32)
  got = lstm_ae.masked_sequence_mse(means, x, np.array([3, 5]))
  sq = (means - x) ** 2
  np.testing.assert_allclose(got, [sq[0, :3].mean(), sq[1].mean()], rtol=1e-6)
  # Without lengths it is the loss library's per-example MSE.
  np.testing.assert_allclose(
      lstm_ae.masked_sequence_mse(means, x),
      losses.mean_squared_error(means, x, event_ndims=2),
      rtol=1e-6,
  )


def test_masked_loss_needs_sequences_of_features():
  with pytest.raises(ValueError, match=r'\[B, T, F\].*feature axis'):
    lstm_ae.masked_sequence_loss(
        jnp.zeros((2, 5)), jnp.zeros((2, 5)), likelihood='gaussian'
    )


def test_masked_loss_ignores_nan_padding_in_value_and_gradient():
  outputs = jnp.linspace(-1.0, 1.0, 12).reshape(1, 4, 3)
  x = jnp.full((1, 4, 3), 0.5).at[0, 2:].set(jnp.nan)
  lengths = jnp.array([2])
  for likelihood in ('bernoulli', 'gaussian'):
    loss, grad = jax.value_and_grad(
        lambda o, lk=likelihood: lstm_ae.masked_sequence_loss(
            o, x, lengths, likelihood=lk
        ).sum()
    )(outputs)
    chex.assert_tree_all_finite((loss, grad))
    np.testing.assert_array_equal(grad[0, 2:], 0.0)
    assert float(jnp.abs(grad[0, :2]).min()) > 0


# ---------------------------------------------------------------------------
# The model.
# ---------------------------------------------------------------------------


def _encode_decode_losses(model, params, x, lengths):
  z = model.encode(params, x, lengths)
  metrics = model.per_example_losses(
      params, x, None, train=False, lengths=lengths
  )
  return z, model.decode(params, z), metrics


@pytest.mark.parametrize('shape', [(1, 1), (4, 2), (10, 5), (3, 28)])
def test_shapes(shape):
  # Shapes only, so abstractly (tracing, no compiling).
  model = _model(shape)
  params = jax.eval_shape(model.init, jax.random.PRNGKey(0))
  x = jax.ShapeDtypeStruct((3, *shape), jnp.float32)
  lengths = jax.ShapeDtypeStruct((3,), jnp.int32)
  z, recon, metrics = jax.eval_shape(
      functools.partial(_encode_decode_losses, model), params, x, lengths
  )
  chex.assert_shape(z, (3, 3))
  chex.assert_shape(recon, (3, *shape))
  assert set(metrics) == {'loss', 'loss_rec', 'mse'}
  for k, v in metrics.items():
    chex.assert_shape(v, (3,), custom_message=k)


@pytest.mark.parametrize('shape', [(1, 2), (4, 2)])
def test_jit_and_finite_losses(shape):
  model, params = _model(shape), _params()
  x = jax.random.uniform(jax.random.PRNGKey(1), (3, *shape))
  lengths = jnp.array([shape[0], 1, max(1, shape[0] - 1)])
  run = jax.jit(functools.partial(_encode_decode_losses, model))
  z, recon, metrics = run(params, x, lengths)
  chex.assert_shape((z, recon), [(3, 3), (3, *shape)])
  assert float(recon.min()) >= 0 and float(recon.max()) <= 1  # Bernoulli means.
  chex.assert_tree_all_finite((z, metrics))
  assert bool((metrics['loss'] > 0).all())


def test_parameters_depend_on_neither_length_nor_likelihood():
  key = jax.random.PRNGKey(0)
  shapes = [
      jax.eval_shape(_model(shape, likelihood).init, key)
      for shape in [(1, 2), (9, 2)]
      for likelihood in ['bernoulli', 'gaussian']
  ]
  for other in shapes[1:]:
    chex.assert_trees_all_equal_shapes(shapes[0], other)


def test_loss_without_lengths_is_the_loss_library_sum():
  model, params = _model((5, 2), 'gaussian'), _params()
  x = jax.random.normal(jax.random.PRNGKey(1), (4, 5, 2))
  metrics, outputs = jax.jit(
      lambda p, x: (
          model.per_example_losses(p, x, None, train=False),
          model.reconstruct(p, x),  # Gaussian: the outputs are the means.
      )
  )(params, x)
  np.testing.assert_allclose(
      metrics['loss'],
      losses.squared_error(outputs, x, event_ndims=2),
      rtol=1e-5,
  )
  np.testing.assert_allclose(
      metrics['mse'],
      losses.mean_squared_error(outputs, x, event_ndims=2),
      rtol=1e-5,
  )


def test_rnn_carry_is_the_state_at_the_last_valid_step():
  """What flax's nn.RNN(seq_lengths, return_carry) is relied on to do."""
  params = _params()
  x = jax.random.uniform(jax.random.PRNGKey(1), (2, 6, 2))
  lengths = jnp.array([1, 4])
  z = _jit_encode(_model((6, 2)))(params, x, lengths)
  for b, n in enumerate(lengths.tolist()):
    # The same parameters in a model for length-n sequences, no padding.
    alone = _jit_encode(_model((n, 2)))(params, x[b : b + 1, :n])
    np.testing.assert_allclose(z[b], alone[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('likelihood', ['bernoulli', 'gaussian'])
def test_padding_changes_neither_codes_nor_losses(likelihood):
  model, params = _model((7, 2), likelihood), _params()
  x = jax.random.uniform(jax.random.PRNGKey(1), (3, 7, 2))
  lengths = jnp.array([4, 7, 1])
  pad = ~lstm_ae.sequence_mask(lengths, 7)[..., None]
  noise = 100 * jax.random.normal(jax.random.PRNGKey(2), x.shape)
  x_other = jnp.where(pad, noise, x)
  x_nan = jnp.where(pad, jnp.nan, x)
  assert not np.allclose(x, x_other)

  @jax.jit
  def codes_losses_grads(x):
    loss_fn = lambda p: model.per_example_losses(
        p, x, None, train=True, lengths=lengths
    )
    grads = jax.grad(lambda p: loss_fn(p)['loss'].sum())(params)
    return model.encode(params, x, lengths), loss_fn(params), grads

  ref = codes_losses_grads(x)
  chex.assert_tree_all_finite(ref)
  for padded in (x_other, x_nan):
    chex.assert_trees_all_close(
        codes_losses_grads(padded), ref, rtol=1e-5, atol=1e-7
    )
  # The loss of a padded sequence is that of the short sequence alone.
  alone = _losses(_model((4, 2), likelihood), params, x[:1, :4])
  for k, v in ref[1].items():
    np.testing.assert_allclose(v[0], alone[k][0], rtol=1e-5, err_msg=k)


def test_code_depends_on_every_valid_step_and_no_padded_one():
  model, params = _model((6, 2)), _params()
  x = jax.random.uniform(jax.random.PRNGKey(1), (2, 6, 2))
  lengths = jnp.array([4, 6])
  # d(sum of the code of sequence b) / dx: nonzero exactly on b's valid steps.
  jac = jax.jit(jax.jacrev(lambda x: model.encode(params, x, lengths).sum(-1)))(
      x
  )
  chex.assert_shape(jac, (2, 2, 6, 2))
  per_step = jnp.abs(jac).sum(-1)  # [B, B', T]
  mask = np.asarray(lstm_ae.sequence_mask(lengths, 6))
  for b in range(2):
    assert bool((per_step[b, b][mask[b]] > 0).all()), per_step[b, b]
    np.testing.assert_array_equal(per_step[b, b][~mask[b]], 0.0)
    np.testing.assert_array_equal(per_step[b, 1 - b], 0.0)  # No mixing.
  # Changing the last valid step changes the code.
  encode = _jit_encode(model)
  z = encode(params, x, lengths)
  z_changed = encode(params, x.at[0, 3].add(0.5), lengths)
  assert float(jnp.abs(z_changed[0] - z[0]).max()) > 1e-4
  np.testing.assert_array_equal(z_changed[1], z[1])


def test_traced_lengths_compile_once_and_invalid_ones_give_nan():
  model, params = _model((5, 2)), _params()
  x = jax.random.uniform(jax.random.PRNGKey(1), (3, 5, 2))

  @jax.jit
  @chex.assert_max_traces(n=1)
  def metrics(lengths):
    return model.per_example_losses(
        params, x, None, train=False, lengths=lengths
    )

  a, b = metrics(jnp.array([5, 2, 1])), metrics(jnp.array([1, 3, 5]))
  assert not np.allclose(a['loss'], b['loss'])
  # Under jit, lengths outside [1, T] cannot raise; they must not pass as a
  # plausible number either (nn.RNN would wrap or clamp the carry index).
  bad = metrics(jnp.array([0, 6, 5]))
  for k, v in bad.items():
    assert bool(jnp.isnan(v[:2]).all()) and bool(jnp.isfinite(v[2])), k


def test_training_on_sine_waves_beats_the_per_step_mean():
  # 16 phases of a 2-feature (sin, cos) wave over 10 steps, half of them
  # truncated to 6-9 steps; the code must carry the phase.
  t = np.arange(10)[None, :, None] * 0.6
  phase = np.linspace(0, 2 * np.pi, 16, endpoint=False)[:, None, None]
  x = np.concatenate([np.sin(t + phase), np.cos(t + phase)], -1)
  lengths = np.array([10] * 8 + [6, 7, 8, 9] * 2, np.int32)
  x, lengths = jnp.asarray(x, jnp.float32), jnp.asarray(lengths)
  model, params = _model((10, 2), 'gaussian'), _params()
  optimizer = optax.adam(1e-2)

  def mean_loss(params, key):
    m = model.per_example_losses(params, x, None, train=True, lengths=lengths)
    return m[key].mean()

  @jax.jit
  def train(params):
    def step(carry, _):
      params, opt_state = carry
      grads = jax.grad(mean_loss)(params, 'loss')
      updates, opt_state = optimizer.update(grads, opt_state)
      return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.lax.scan(
        step, (params, optimizer.init(params)), length=200
    )
    return mean_loss(params, 'mse')

  before, after = float(mean_loss(params, 'mse')), float(train(params))
  # Baseline: predict each step's mean over the sequences that reach it.
  valid = lstm_ae.sequence_mask(lengths, 10)[..., None]
  step_mean = jnp.sum(jnp.where(valid, x, 0), 0) / jnp.sum(valid, 0)
  baseline = float(
      lstm_ae.masked_sequence_mse(
          jnp.broadcast_to(step_mean, x.shape), x, lengths
      ).mean()
  )
  # Typically ~0.5 -> 0.002 with the mean's ~0.5: demand a factor 20 of both.
  assert after < before / 20, (before, after)
  assert after < baseline / 20, (baseline, after)


# ---------------------------------------------------------------------------
# Errors.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    'lengths,error,match',
    [
        ([2, 7], ValueError, 'length 7 exceeds the padded length T=5; pad'),
        ([0, 3], ValueError, 'must be >= 1.*drop empty sequences'),
        ([3], ValueError, r'shape \[B\] = \(2,\)'),
        ([[3], [3]], ValueError, r'shape \[B\] = \(2,\)'),
        ([2.0, 3.0], TypeError, 'astype'),
    ],
)
def test_bad_lengths_are_rejected(lengths, error, match):
  model, params = _model((5, 2)), _params()
  x = jnp.zeros((2, 5, 2))
  for lengths_ in (lengths, np.asarray(lengths), jnp.asarray(lengths)):
    with pytest.raises(error, match=match):
      model.per_example_losses(params, x, None, train=True, lengths=lengths_)
    with pytest.raises(error, match=match):
      model.encode(params, x, lengths_)


@pytest.mark.parametrize('shape', [(2, 10), (2, 5, 2, 1), (2, 4, 2), (2, 5, 3)])
def test_wrong_x_shape_is_rejected(shape):
  model, params = _model((5, 2)), _params()
  with pytest.raises(ValueError, match=r'\[B, T, F\] = \[B, 5, 2\]'):
    _losses(model, params, jnp.zeros(shape))
  with pytest.raises(ValueError, match=r'\[B, T, F\] = \[B, 5, 2\]'):
    model.encode(params, jnp.zeros(shape))


@pytest.mark.parametrize('shape', [(784,), (28, 28, 1)])
def test_build_needs_sequences(shape):
  with pytest.raises(ValueError, match='--config.layout=sequence'):
    lstm_ae.build(_config(), base.DataSpec(shape))


@pytest.mark.parametrize('hidden', [0, -4, 2.5, True, '8'])
def test_build_rejects_bad_lstm_hidden(hidden):
  with pytest.raises(ValueError, match='lstm_hidden'):
    lstm_ae.build(_config(lstm_hidden=hidden), base.DataSpec((5, 2)))


def test_build_rejects_bad_likelihood():
  with pytest.raises(ValueError, match="likelihood='poisson'"):
    lstm_ae.build(_config(likelihood='poisson'), base.DataSpec((5, 2)))


def test_a_loaded_run_encodes_padded_sequences_with_lengths(tmp_path):
  # ae_jax.load had no lengths=: through it, padding counted as data.
  import ae_jax  # pylint: disable=g-import-not-at-top
  from ae_jax import train  # pylint: disable=g-import-not-at-top
  from experiments.configs import lstm_ae as lstm_config  # pylint: disable=g-import-not-at-top

  config = lstm_config.get_config('smoke')
  config.update(num_train_steps=5, write_figures=False)
  train.train_and_evaluate(config, tmp_path)
  m = ae_jax.load(tmp_path)
  steps, features = m.input_shape
  x = np.random.default_rng(0).random((2, steps, features), np.float32)
  lengths = np.array([3, steps])
  padded = x.copy()
  padded[0, 3:] = 0.7  # Other padding, same codes.
  np.testing.assert_allclose(
      m.encode(x, lengths=lengths), m.encode(padded, lengths=lengths)
  )
  direct = m.model.encode(m.params, x, lengths)
  np.testing.assert_allclose(m.encode(x, lengths=lengths), direct, atol=1e-6)
  assert m.reconstruct(x, lengths=lengths).shape == x.shape
  with pytest.raises(ValueError, match='lengths must be >= 1, got 0'):
    m.encode(x, lengths=np.array([0, steps]))
