"""Tests for `ae_jax.penalties`."""

import functools

import chex
import jax
import jax.numpy as jnp
import jax.test_util as jaxtest
import numpy as np
import pytest

from ae_jax import penalties


def _rng(seed=0):
  return np.random.default_rng(seed)


def _ref_kl(rho, rho_hat):
  rho_hat = np.asarray(rho_hat, np.float64)
  return np.sum(
      rho * np.log(rho / rho_hat)
      + (1.0 - rho) * np.log((1.0 - rho) / (1.0 - rho_hat))
  )


@functools.partial(jax.jit, static_argnums=0)
def _per_example_brute_force(fn, x):
  """Squared Frobenius norm of the per-example Jacobian from `jax.jacfwd`."""
  single = lambda xi: fn(xi[None])[0]
  jac = jax.vmap(jax.jacfwd(single))(x)  # [B, *out, *in]
  return jnp.sum(jnp.square(jac), axis=tuple(range(1, jac.ndim)))


# `fn` is static: a `functools.partial` over NumPy parameters is hashed by
# identity, so each test compiles once.
_jacobian_frobenius_norm = jax.jit(
    penalties.jacobian_frobenius_norm, static_argnums=0
)


# ---------------------------------------------------------------------------
# Sparse autoencoder.
# ---------------------------------------------------------------------------


class TestL1Activity:

  def test_hand_computed(self):
    codes = np.array([[1.0, -2.0, 3.0], [0.0, 0.5, -0.5]], np.float32)
    out = jax.jit(penalties.l1_activity)(codes)
    chex.assert_shape(out, (2,))
    chex.assert_type(out, jnp.float32)
    np.testing.assert_allclose(out, [6.0, 1.0])

  def test_event_ndims_on_conv_codes(self):
    codes = _rng(1).normal(size=(3, 2, 2, 4)).astype(np.float32)
    out = penalties.l1_activity(codes, event_ndims=3)
    chex.assert_shape(out, (3,))
    np.testing.assert_allclose(
        out, np.abs(codes).reshape(3, -1).sum(-1), rtol=1e-6
    )
    # vmap over examples gives the same values.
    per_example = jax.vmap(
        functools.partial(penalties.l1_activity, event_ndims=3)
    )(codes)
    chex.assert_trees_all_close(per_example, out, rtol=1e-6)

  def test_gradient_is_sign(self):
    codes = np.array([[1.5, -0.5, 0.0]], np.float32)
    grad = jax.grad(lambda c: penalties.l1_activity(c).sum())(codes)
    np.testing.assert_array_equal(grad, [[1.0, -1.0, 0.0]])

  def test_checks(self):
    with pytest.raises(TypeError, match=r'l1_activity: codes.*int32'):
      penalties.l1_activity(np.ones((2, 3), np.int32))
    with pytest.raises(ValueError, match=r'event_ndims.*\(2, 3\)'):
      penalties.l1_activity(np.ones((2, 3), np.float32), event_ndims=3)


class TestKLSparsity:

  def test_hand_computed(self):
    # rho = 0.1: 0 at rho_hat = 0.1; at rho_hat = 0.5,
    # 0.1 log(0.2) + 0.9 log(1.8).
    out = penalties.kl_sparsity(np.array([0.1, 0.5], np.float32), target=0.1)
    chex.assert_shape(out, ())
    chex.assert_type(out, jnp.float32)
    np.testing.assert_allclose(
        out, 0.1 * np.log(0.2) + 0.9 * np.log(1.8), rtol=1e-6
    )

  def test_against_reference_any_shape(self):
    rho_hat = _rng(2).uniform(0.01, 0.99, size=(3, 4, 5)).astype(np.float32)
    out = jax.jit(functools.partial(penalties.kl_sparsity, target=0.05))(
        rho_hat
    )
    chex.assert_shape(out, ())
    np.testing.assert_allclose(out, _ref_kl(0.05, rho_hat), rtol=1e-5)

  @pytest.mark.parametrize('target', [0.01, 0.05, 0.3, 0.9])
  def test_zero_at_target_positive_elsewhere(self, target):
    at_target = np.full((7,), target, np.float32)
    np.testing.assert_allclose(
        penalties.kl_sparsity(at_target, target=target), 0.0, atol=1e-7
    )
    grid = np.linspace(0.001, 0.999, 50).astype(np.float32)
    grid = grid[np.abs(grid - target) > 1e-3]
    per_unit = jax.vmap(lambda r: penalties.kl_sparsity(r, target=target))(grid)
    assert np.all(np.asarray(per_unit) > 0.0), per_unit

  def test_finite_at_zero_and_one(self):
    rho_hat = np.array([0.0, 1.0, 0.3], np.float32)
    value, grad = jax.value_and_grad(
        lambda r: penalties.kl_sparsity(r, target=0.05)
    )(rho_hat)
    chex.assert_tree_all_finite((value, grad))
    # Clipped into [eps, 1 - eps] with eps = float32 machine epsilon.
    eps = np.finfo(np.float32).eps
    expected = _ref_kl(0.05, [eps, 1.0 - eps, 0.3])
    np.testing.assert_allclose(value, expected, rtol=1e-5)

  def test_gradients(self):
    rho_hat = _rng(3).uniform(0.1, 0.9, size=(4,)).astype(np.float32)
    jaxtest.check_grads(
        lambda r: penalties.kl_sparsity(r, target=0.2),
        (rho_hat,),
        order=1,
        modes=('fwd', 'rev'),
    )
    # d/d rho_hat_j = -rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j).
    grad = jax.grad(lambda r: penalties.kl_sparsity(r, target=0.2))(rho_hat)
    np.testing.assert_allclose(
        grad, -0.2 / rho_hat + 0.8 / (1.0 - rho_hat), rtol=1e-5
    )

  @pytest.mark.parametrize('target', [0.0, 1.0, -0.1, 1.5, float('nan'), True])
  def test_bad_target_raises(self, target):
    with pytest.raises(ValueError, match='sparsity_target'):
      penalties.kl_sparsity(np.full((3,), 0.5, np.float32), target=target)
    with pytest.raises(ValueError, match='sparsity_target'):
      penalties.kl_sparsity_per_example(
          np.full((2, 3), 0.5, np.float32), target=target
      )

  def test_traced_target_sweep(self):
    rho_hat = np.array([0.1, 0.4], np.float32)
    targets = jnp.array([0.1, 0.4], jnp.float32)
    out = jax.vmap(lambda t: penalties.kl_sparsity(rho_hat, target=t))(targets)
    np.testing.assert_allclose(
        out, [_ref_kl(0.1, rho_hat), _ref_kl(0.4, rho_hat)], rtol=1e-5
    )

  def test_int_mean_activation_raises(self):
    with pytest.raises(TypeError, match='mean_activation'):
      penalties.kl_sparsity(np.zeros((3,), np.int32), target=0.1)


class TestKLSparsityPerExample:

  def test_batch_mean_is_penalty(self):
    codes = _rng(4).uniform(0.0, 1.0, size=(6, 5)).astype(np.float32)
    out = jax.jit(
        functools.partial(penalties.kl_sparsity_per_example, target=0.1)
    )(codes)
    chex.assert_shape(out, (6,))
    expected = _ref_kl(0.1, codes.astype(np.float64).mean(0))
    np.testing.assert_allclose(out, np.full(6, expected), rtol=1e-5)

  def test_gradient_of_batch_mean(self):
    codes = _rng(5).uniform(0.05, 0.95, size=(4, 3, 2)).astype(np.float32)
    grad = jax.grad(
        lambda c: penalties.kl_sparsity_per_example(c, target=0.1).mean()
    )(codes)
    expected = jax.grad(
        lambda c: penalties.kl_sparsity(jnp.mean(c, axis=0), target=0.1)
    )(codes)
    chex.assert_trees_all_close(grad, expected, rtol=1e-6)
    chex.assert_tree_all_finite(grad)

  def test_checks(self):
    with pytest.raises(ValueError, match=r'\[B, \*units\].*\(5,\)'):
      penalties.kl_sparsity_per_example(np.zeros(5, np.float32), target=0.1)
    with pytest.raises(TypeError, match='codes'):
      penalties.kl_sparsity_per_example(np.zeros((2, 5), np.int32), target=0.1)


# ---------------------------------------------------------------------------
# Contractive autoencoder.
# ---------------------------------------------------------------------------


def _sigmoid_layer(seed, d_in=6, hidden=4, batch=3):
  rng = _rng(seed)
  kernel = rng.normal(size=(d_in, hidden)).astype(np.float32)
  bias = rng.normal(size=(hidden,)).astype(np.float32)
  x = rng.normal(size=(batch, d_in)).astype(np.float32)
  return kernel, bias, x


def _mlp(params, x):
  """tanh MLP on flattened inputs, [B, *in] -> [B, out]."""
  h = x.reshape(x.shape[0], -1)
  for i, (w, b) in enumerate(params):
    h = h @ w + b
    if i < len(params) - 1:
      h = jnp.tanh(h)
  return jax.nn.sigmoid(h)


def _mlp_params(seed, sizes):
  rng = _rng(seed)
  return [
      (
          (rng.normal(size=(m, n)) / np.sqrt(m)).astype(np.float32),
          (0.1 * rng.normal(size=(n,))).astype(np.float32),
      )
      for m, n in zip(sizes[:-1], sizes[1:])
  ]


def _conv(kernel, x, stride):
  """A conv-like map on [B, H, W, C]: conv, tanh, then a pixelwise square."""
  y = jax.lax.conv_general_dilated(
      x,
      kernel,
      window_strides=(stride, stride),
      padding='SAME',
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
  )
  return jnp.tanh(y) + 0.1 * jnp.square(y)


class TestSigmoidLayerJacobianNorm:

  def test_matches_jacfwd(self):
    kernel, bias, x = _sigmoid_layer(6)
    layer = lambda v: jax.nn.sigmoid(v @ kernel + bias)
    out = jax.jit(penalties.sigmoid_layer_jacobian_norm)(kernel, layer(x))
    chex.assert_shape(out, (3,))
    np.testing.assert_allclose(
        out, _per_example_brute_force(layer, x), rtol=1e-5
    )
    np.testing.assert_allclose(
        out, penalties.jacobian_frobenius_norm(layer, x), rtol=1e-5
    )

  def test_gradients(self):
    kernel, bias, x = _sigmoid_layer(7, d_in=3, hidden=2, batch=2)
    hidden = jax.nn.sigmoid(x @ kernel + bias)
    jaxtest.check_grads(
        lambda w, h: penalties.sigmoid_layer_jacobian_norm(w, h).mean(),
        (kernel, hidden),
        order=1,
        modes=('rev',),
    )

  def test_checks(self):
    kernel = np.zeros((6, 4), np.float32)
    with pytest.raises(ValueError, match=r'\(6, 4\).*\(3, 5\)'):
      penalties.sigmoid_layer_jacobian_norm(
          kernel, np.zeros((3, 5), np.float32)
      )
    with pytest.raises(ValueError, match=r'\[D_in, H\]'):
      penalties.sigmoid_layer_jacobian_norm(kernel[0], np.zeros((3, 4)))
    with pytest.raises(TypeError, match='hidden'):
      penalties.sigmoid_layer_jacobian_norm(kernel, np.zeros((3, 4), np.int32))


class TestJacobianFrobeniusNorm:

  def test_deep_mlp_more_inputs_than_outputs(self):
    params = _mlp_params(8, (10, 7, 5, 3))
    fn = functools.partial(_mlp, params)
    x = _rng(9).normal(size=(4, 10)).astype(np.float32)
    out = _jacobian_frobenius_norm(fn, x)
    chex.assert_shape(out, (4,))
    chex.assert_type(out, jnp.float32)
    np.testing.assert_allclose(out, _per_example_brute_force(fn, x), rtol=1e-5)

  def test_more_outputs_than_inputs(self):
    params = _mlp_params(10, (3, 8, 12))
    fn = functools.partial(_mlp, params)
    x = _rng(11).normal(size=(5, 3)).astype(np.float32)
    out = _jacobian_frobenius_norm(fn, x)
    chex.assert_shape(out, (5,))
    np.testing.assert_allclose(out, _per_example_brute_force(fn, x), rtol=1e-5)

  @pytest.mark.parametrize(
      'stride, out_shape', [(1, (4, 4, 2)), (2, (2, 2, 2))]
  )
  def test_conv_map_on_images(self, stride, out_shape):
    # stride 1: 32 outputs > 16 inputs (jvp); stride 2: 8 < 16 (vjp).
    kernel = _rng(12).normal(size=(3, 3, 1, 2)).astype(np.float32)
    fn = functools.partial(_conv, kernel, stride=stride)
    x = _rng(13).uniform(size=(3, 4, 4, 1)).astype(np.float32)
    chex.assert_shape(fn(x), (3, *out_shape))
    out = _jacobian_frobenius_norm(fn, x)
    chex.assert_shape(out, (3,))
    np.testing.assert_allclose(out, _per_example_brute_force(fn, x), rtol=1e-5)

  @pytest.mark.parametrize(
      'sizes, cheaper',
      [((9, 4, 2), '_frobenius_via_vjp'), ((2, 4, 9), '_frobenius_via_jvp')],
  )
  def test_uses_the_cheaper_mode(self, sizes, cheaper, monkeypatch):
    fn = functools.partial(_mlp, _mlp_params(14, sizes))
    x = _rng(15).normal(size=(2, sizes[0])).astype(np.float32)
    calls = []
    original = getattr(penalties, cheaper)

    def spy(*args):
      calls.append(cheaper)
      return original(*args)

    monkeypatch.setattr(penalties, cheaper, spy)
    out = _jacobian_frobenius_norm(fn, x)
    assert calls == [cheaper]
    # Both modes give the same values, whichever is cheaper.
    for mode in ('_frobenius_via_vjp', '_frobenius_via_jvp'):
      by_mode = jax.jit(getattr(penalties, mode), static_argnums=0)(fn, x)
      np.testing.assert_allclose(by_mode, out, rtol=1e-5, err_msg=mode)

  def test_jit(self):
    params = _mlp_params(16, (6, 5, 2))
    x = _rng(17).normal(size=(3, 6)).astype(np.float32)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def penalty(params, x):
      return penalties.jacobian_frobenius_norm(
          functools.partial(_mlp, params), x
      )

    out = penalty(params, x)
    penalty(params, x + 1.0)  # No retrace.
    np.testing.assert_allclose(
        out,
        _per_example_brute_force(functools.partial(_mlp, params), x),
        rtol=1e-5,
    )

  @pytest.mark.parametrize('sizes', [(3, 2, 2), (2, 2, 3)], ids=str)
  def test_differentiable(self, sizes):
    # vjp branch (3 -> 2) and jvp branch (2 -> 3): the CAE trains through
    # the penalty, w.r.t. the encoder's parameters.
    params = _mlp_params(18, sizes)
    x = _rng(19).normal(size=(2, sizes[0])).astype(np.float32)

    def mean_penalty(params):
      fn = functools.partial(_mlp, params)
      return penalties.jacobian_frobenius_norm(fn, x).mean()

    chex.assert_tree_all_finite(jax.grad(mean_penalty)(params))
    jaxtest.check_grads(mean_penalty, (params,), order=1, modes=('rev',))

  def test_checks(self):
    fn = lambda v: v[:, :2]
    with pytest.raises(TypeError, match=r'x must be floating'):
      penalties.jacobian_frobenius_norm(fn, np.zeros((2, 3), np.int32))
    with pytest.raises(ValueError, match='batch axis'):
      penalties.jacobian_frobenius_norm(fn, np.float32(1.0))
    with pytest.raises(ValueError, match=r'\(2, 3\).*\(1, 3\)'):
      penalties.jacobian_frobenius_norm(
          lambda v: v.sum(0, keepdims=True), np.zeros((2, 3), np.float32)
      )
    with pytest.raises(TypeError, match='single array'):
      penalties.jacobian_frobenius_norm(
          lambda v: (v, v), np.zeros((2, 3), np.float32)
      )
