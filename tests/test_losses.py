"""Tests for `ae_jax.losses`."""

import functools

import chex
import jax
import jax.numpy as jnp
import jax.test_util as jaxtest
import numpy as np
import pytest
from scipy import special as sp_special
from scipy import stats

from ae_jax import losses

LOG2 = np.log(2.0)
LOG_2PI = np.log(2.0 * np.pi)

# [B, H, W, C] for the event_ndims variants.
IMAGE_SHAPE = (2, 4, 3, 2)


def _rng(seed=0):
  return np.random.default_rng(seed)


# ---------------------------------------------------------------------------
# float64 NumPy references, elementwise (reduced by the tests).
# ---------------------------------------------------------------------------


def _ref_squared_error(p, t):
  return (p - t) ** 2


def _ref_bernoulli(logits, t):
  # Naive formula, fine in float64 for moderate logits.
  s = sp_special.expit(logits)
  return t * np.log(s) + (1.0 - t) * np.log(1.0 - s)


def _ref_gaussian_ll(mean, lv, t):
  return stats.norm.logpdf(t, loc=mean, scale=np.exp(0.5 * lv))


def _ref_standard_normal_kl(mean, lv):
  return 0.5 * (np.exp(lv) + mean**2 - 1.0 - lv)


def _ref_gaussian_kl(mq, lvq, mp, lvp):
  return 0.5 * (lvp - lvq + (np.exp(lvq) + (mq - mp) ** 2) / np.exp(lvp) - 1.0)


class _LossConventionTests:
  """Tests shared by every loss that reduces over `event_ndims` axes.

  Subclasses set `fn` (the loss), `ref` (an elementwise float64 reference)
  and `reduce` (how `ref` is reduced over the event axes), and implement
  `make_args(rng, shape)` returning float32 NumPy arguments of that shape,
  the first `num_floating` of which must be floating point.
  """

  fn = None
  ref = None
  reduce = staticmethod(np.sum)
  num_floating = 1  # leading arguments that must be floating point

  def make_args(self, rng, shape):
    raise NotImplementedError

  def expected(self, args, event_ndims):
    args64 = [np.asarray(a, np.float64) for a in args]
    out = type(self).ref(*args64)
    axes = tuple(range(out.ndim - event_ndims, out.ndim))
    return type(self).reduce(out, axis=axes)

  def call(self, *args, **kwargs):
    return type(self).fn(*args, **kwargs)

  def test_batched_jit(self):
    args = self.make_args(_rng(1), (5, 7))
    out = jax.jit(type(self).fn)(*args)
    chex.assert_shape(out, (5,))
    chex.assert_type(out, jnp.float32)
    np.testing.assert_allclose(
        out, self.expected(args, 1), rtol=1e-5, atol=1e-5
    )

  def test_vmap_matches_batched(self):
    args = self.make_args(_rng(2), (6, 5))
    batched = self.call(*args)
    per_example = jax.vmap(type(self).fn)(*args)
    # A single example [D] reduces to a scalar.
    chex.assert_shape(self.call(*(a[0] for a in args)), ())
    chex.assert_trees_all_close(per_example, batched, rtol=1e-6, atol=1e-6)

  @pytest.mark.parametrize(
      "event_ndims, out_shape",
      [(0, IMAGE_SHAPE), (1, IMAGE_SHAPE[:3]), (3, IMAGE_SHAPE[:1])],
  )
  def test_event_ndims_on_images(self, event_ndims, out_shape):
    args = self.make_args(_rng(3), IMAGE_SHAPE)
    fn = jax.jit(functools.partial(type(self).fn, event_ndims=event_ndims))
    out = fn(*args)
    chex.assert_shape(out, out_shape)
    np.testing.assert_allclose(
        out, self.expected(args, event_ndims), rtol=1e-5, atol=1e-5
    )

  def test_event_ndims_3_equals_flattened(self):
    args = self.make_args(_rng(4), IMAGE_SHAPE)
    flat = [a.reshape(IMAGE_SHAPE[0], -1) for a in args]
    chex.assert_trees_all_close(
        self.call(*args, event_ndims=3), self.call(*flat), rtol=1e-6
    )

  def test_iwae_samples_keep_both_leading_axes(self):
    args = self.make_args(_rng(5), (3, 4, 5))  # [K, B, D]
    out = self.call(*args)
    chex.assert_shape(out, (3, 4))
    np.testing.assert_allclose(
        out, self.expected(args, 1), rtol=1e-5, atol=1e-5
    )

  @pytest.mark.parametrize("event_ndims", [-1, 3, 1.0, True, None])
  def test_invalid_event_ndims_raises(self, event_ndims):
    args = self.make_args(_rng(6), (4, 6))
    with pytest.raises(ValueError, match=r"event_ndims.*\(4, 6\)"):
      self.call(*args, event_ndims=event_ndims)

  def test_shape_mismatch_raises(self):
    args = self.make_args(_rng(7), (4, 6))
    for i in range(1, len(args)):
      bad = list(args)
      bad[i] = bad[i].reshape(4, 2, 3)
      # Both shapes are named, in either order.
      both = r"\(4, 6\).*\(4, 2, 3\)|\(4, 2, 3\).*\(4, 6\)"
      with pytest.raises(ValueError, match=both):
        self.call(*bad)

  def test_shape_mismatch_message_names_function(self):
    args = list(self.make_args(_rng(7), (4, 6)))
    args[1] = args[1][:, :5]
    with pytest.raises(ValueError, match=f"^{type(self).fn.__name__}: "):
      self.call(*args)

  def test_int_dtype_raises(self):
    args = list(self.make_args(_rng(8), (4, 6)))
    args[0] = args[0].astype(np.int32)
    with pytest.raises(TypeError, match=r"int32.*astype\(jnp\.float32\)"):
      self.call(*args)

  def test_targets_cast_to_prediction_dtype(self):
    # The float arguments in bfloat16, targets / prior parameters (the
    # arguments after the first `num_floating`) in float32 and int32: the
    # latter are cast, so the result stays bfloat16.
    args = self.make_args(_rng(9), (3, 4))
    n = type(self).num_floating
    for other in (np.float32, np.int32):
      mixed = [jnp.asarray(a, jnp.bfloat16) for a in args[:n]]
      mixed += [a.astype(other) for a in args[n:]]
      chex.assert_type(self.call(*mixed), jnp.bfloat16)

  def test_gradients(self):
    args = self.make_args(_rng(10), (2, 3))
    jaxtest.check_grads(
        lambda *a: type(self).fn(*a), args, order=1, modes=("fwd", "rev")
    )


# ---------------------------------------------------------------------------
# Reconstruction losses.
# ---------------------------------------------------------------------------


def _two_normals(rng, shape):
  return (
      rng.normal(size=shape).astype(np.float32),
      rng.normal(size=shape).astype(np.float32),
  )


class TestSquaredError(_LossConventionTests):
  fn = staticmethod(losses.squared_error)
  ref = staticmethod(_ref_squared_error)

  def make_args(self, rng, shape):
    return _two_normals(rng, shape)

  def test_hand_computed(self):
    # (1-0)^2 + (2-2)^2 + (3-5)^2 = 1 + 0 + 4.
    out = self.call(np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 5.0]))
    np.testing.assert_allclose(out, 5.0)

  def test_int_targets_are_cast(self):
    p = np.array([[0.5, 1.5]], np.float32)
    out = self.call(p, np.array([[0, 2]], np.int32))
    chex.assert_type(out, jnp.float32)
    np.testing.assert_allclose(out, [0.25 + 0.25])

  def test_unit_variance_gaussian_identity(self):
    p, t = self.make_args(_rng(11), (3, 8))
    ll = losses.gaussian_log_likelihood(p, 0.0, t)
    np.testing.assert_allclose(
        ll, -0.5 * self.call(p, t) - 0.5 * 8 * LOG_2PI, rtol=1e-5
    )


class TestMeanSquaredError(_LossConventionTests):
  fn = staticmethod(losses.mean_squared_error)
  ref = staticmethod(_ref_squared_error)
  reduce = staticmethod(np.mean)

  def make_args(self, rng, shape):
    return _two_normals(rng, shape)

  def test_hand_computed(self):
    out = self.call(np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 5.0]))
    np.testing.assert_allclose(out, 5.0 / 3.0, rtol=1e-6)

  def test_is_squared_error_over_event_size(self):
    p, t = self.make_args(_rng(12), IMAGE_SHAPE)
    np.testing.assert_allclose(
        self.call(p, t, event_ndims=3),
        losses.squared_error(p, t, event_ndims=3) / np.prod(IMAGE_SHAPE[1:]),
        rtol=1e-6,
    )


def _logits_and_grey_targets(rng, shape):
  return (
      rng.uniform(-6.0, 6.0, size=shape).astype(np.float32),
      rng.uniform(0.0, 1.0, size=shape).astype(np.float32),
  )


class TestBernoulliLogLikelihood(_LossConventionTests):
  fn = staticmethod(losses.bernoulli_log_likelihood)
  ref = staticmethod(_ref_bernoulli)

  def make_args(self, rng, shape):
    return _logits_and_grey_targets(rng, shape)

  def test_hand_computed(self):
    # target 1 at logit 0: log(1/2); target 0 at logit log 3:
    # log(1 - 3/4) = log(1/4). Sum: -3 log 2.
    out = self.call(
        np.array([0.0, np.log(3.0)], np.float32), np.array([1.0, 0.0])
    )
    np.testing.assert_allclose(out, -3.0 * LOG2, rtol=1e-6)
    # Grey-level target 0.25 at logit 0: 0.25 log(1/2) + 0.75 log(1/2).
    np.testing.assert_allclose(
        self.call(np.array([0.0], np.float32), np.array([0.25])),
        -LOG2,
        rtol=1e-6,
    )

  def test_against_naive_float64(self):
    rng = _rng(13)
    logits = rng.uniform(-15.0, 15.0, size=(8, 50)).astype(np.float32)
    targets = (rng.uniform(size=(8, 50)) < 0.5).astype(np.float32)
    expected = _ref_bernoulli(logits.astype(np.float64), targets).sum(-1)
    np.testing.assert_allclose(self.call(logits, targets), expected, rtol=1e-5)

  def test_saturated_logits_are_finite_and_exact(self):
    logits = np.array([1e4, 1e4, -1e4, -1e4], np.float32)
    targets = np.array([1.0, 0.0, 1.0, 0.0], np.float32)
    out = self.call(logits, targets, event_ndims=0)
    np.testing.assert_array_equal(out, [0.0, -1e4, -1e4, 0.0])
    # d/dl = t - sigmoid(l).
    grad = jax.grad(lambda l: self.call(l, targets))(logits)
    np.testing.assert_array_equal(grad, [0.0, -1.0, 1.0, 0.0])

  def test_small_tail_probability_is_not_rounded_to_zero(self):
    # log sigmoid(20) = -log1p(exp(-20)) ~= -2.06e-9, lost by l - softplus(l).
    out = self.call(np.array([20.0], np.float32), np.array([1.0]))
    np.testing.assert_allclose(out, -np.log1p(np.exp(-20.0)), rtol=1e-5)

  @pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.bool_])
  def test_binarised_targets_any_dtype(self, dtype):
    logits, grey = self.make_args(_rng(14), (3, 10))
    binary = grey > 0.5
    out = self.call(logits, binary.astype(dtype))
    chex.assert_type(out, jnp.float32)
    np.testing.assert_allclose(
        out, self.call(logits, binary.astype(np.float32)), rtol=1e-6
    )

  def test_maximised_by_matching_probabilities(self):
    # For fixed grey targets, the log-likelihood peaks at logit(t).
    t = np.array([0.2, 0.7], np.float32)
    best = self.call(sp_special.logit(t).astype(np.float32), t)
    for shift in (-0.3, 0.3):
      shifted = (sp_special.logit(t) + shift).astype(np.float32)
      assert self.call(shifted, t) < best


class TestBinaryCrossEntropy(_LossConventionTests):
  fn = staticmethod(losses.binary_cross_entropy)
  ref = staticmethod(lambda l, t: -_ref_bernoulli(l, t))

  def make_args(self, rng, shape):
    return _logits_and_grey_targets(rng, shape)

  def test_hand_computed(self):
    out = self.call(
        np.array([0.0, np.log(3.0)], np.float32), np.array([1.0, 0.0])
    )
    np.testing.assert_allclose(out, 3.0 * LOG2, rtol=1e-6)

  def test_is_negative_bernoulli_log_likelihood(self):
    logits, targets = self.make_args(_rng(15), (4, 9))
    chex.assert_trees_all_close(
        self.call(logits, targets),
        -losses.bernoulli_log_likelihood(logits, targets),
    )

  def test_matches_optax_summed(self):
    optax = pytest.importorskip("optax")
    logits, targets = self.make_args(_rng(16), (4, 9))
    np.testing.assert_allclose(
        self.call(logits, targets),
        optax.sigmoid_binary_cross_entropy(logits, targets).sum(-1),
        rtol=1e-5,
    )

  def test_saturated_logits(self):
    out = self.call(
        np.array([1e4, -1e4], np.float32), np.array([0.0, 0.0]), event_ndims=0
    )
    np.testing.assert_array_equal(out, [1e4, 0.0])


class TestGaussianLogLikelihood(_LossConventionTests):
  fn = staticmethod(losses.gaussian_log_likelihood)
  ref = staticmethod(_ref_gaussian_ll)
  num_floating = 2

  def make_args(self, rng, shape):
    return (
        rng.normal(size=shape).astype(np.float32),
        rng.uniform(-1.5, 1.5, size=shape).astype(np.float32),
        rng.normal(size=shape).astype(np.float32),
    )

  def test_hand_computed(self):
    # N(0; 0, 1): -0.5 log 2pi.
    # N(3; 1, 4): -0.5 (log 2pi + log 4 + 2^2 / 4) = -0.5 log 2pi - log 2 - 0.5.
    out = self.call(
        np.array([0.0, 1.0], np.float32),
        np.array([0.0, np.log(4.0)], np.float32),
        np.array([0.0, 3.0]),
    )
    np.testing.assert_allclose(out, -LOG_2PI - LOG2 - 0.5, rtol=1e-6)

  def test_against_scipy(self):
    rng = _rng(17)
    mean = rng.normal(size=(6, 20))
    lv = rng.uniform(-4.0, 4.0, size=(6, 20))
    t = rng.normal(size=(6, 20)) * 3.0
    expected = stats.norm.logpdf(t, loc=mean, scale=np.exp(0.5 * lv)).sum(-1)
    out = self.call(mean.astype(np.float32), lv.astype(np.float32), t)
    np.testing.assert_allclose(out, expected, rtol=1e-5)

  @pytest.mark.parametrize(
      "lv_shape", [(), (1,), (12,), (5, 1), (1, 12), (5, 12)], ids=str
  )
  def test_log_variance_broadcasts(self, lv_shape):
    rng = _rng(18)
    mean = rng.normal(size=(5, 12)).astype(np.float32)
    t = rng.normal(size=(5, 12)).astype(np.float32)
    lv = rng.uniform(-1.0, 1.0, size=lv_shape).astype(np.float32)
    out = self.call(mean, lv, t)
    chex.assert_shape(out, (5,))
    full = np.broadcast_to(lv, mean.shape)
    np.testing.assert_allclose(out, self.call(mean, full, t), rtol=1e-6)

  def test_python_scalar_log_variance_with_images(self):
    mean, _, t = self.make_args(_rng(19), IMAGE_SHAPE)
    out = self.call(mean, 0.0, t, event_ndims=3)
    expected = (
        stats.norm.logpdf(t, loc=mean).reshape(IMAGE_SHAPE[0], -1).sum(-1)
    )
    chex.assert_shape(out, IMAGE_SHAPE[:1])
    np.testing.assert_allclose(out, expected, rtol=1e-5)

  def test_log_variance_not_broadcastable_raises(self):
    mean, _, t = self.make_args(_rng(20), (5, 12))
    with pytest.raises(
        ValueError, match=r"gaussian_log_likelihood: log_variance"
    ):
      self.call(mean, np.zeros((12, 1), np.float32), t)
    # Broadcasting must not *grow* mean's shape either.
    with pytest.raises(ValueError, match=r"\(2, 5, 12\).*\(5, 12\)"):
      self.call(mean, np.zeros((2, 5, 12), np.float32), t)

  def test_int_log_variance_raises(self):
    mean, lv, t = self.make_args(_rng(21), (2, 3))
    with pytest.raises(TypeError, match="log_variance"):
      self.call(mean, lv.astype(np.int32), t)

  def test_extreme_log_variance_is_finite(self):
    mean, _, t = self.make_args(_rng(22), (2, 3))
    for value in (-50.0, 50.0):
      lv = np.full((2, 3), value, np.float32)
      out, grads = jax.value_and_grad(
          lambda m, v: self.call(m, v, t).sum(), argnums=(0, 1)
      )(mean, lv)
      assert np.all(np.isfinite(out))
      assert all(np.all(np.isfinite(g)) for g in grads)


# ---------------------------------------------------------------------------
# KL divergences.
# ---------------------------------------------------------------------------


def _mc_kl(mq, lvq, mp, lvp, num_samples, seed):
  """Monte-Carlo KL(q || p) for 1-D-batched diagonal Gaussians, float64."""
  rng = _rng(seed)
  sq, sp = np.exp(0.5 * lvq), np.exp(0.5 * lvp)
  z = mq + sq * rng.normal(size=(num_samples,) + np.shape(mq))
  log_ratio = (
      stats.norm.logpdf(z, loc=mq, scale=sq)
      - stats.norm.logpdf(z, loc=mp, scale=sp)
  ).sum(-1)
  return log_ratio.mean(0), log_ratio.std(0) / np.sqrt(num_samples)


class TestStandardNormalKL(_LossConventionTests):
  fn = staticmethod(losses.standard_normal_kl)
  ref = staticmethod(_ref_standard_normal_kl)
  num_floating = 2

  def make_args(self, rng, shape):
    return (
        rng.normal(size=shape).astype(np.float32),
        rng.uniform(-2.0, 2.0, size=shape).astype(np.float32),
    )

  def test_hand_computed(self):
    # dim 1: 0.5 (1 + 1 - 1 - 0) = 0.5;  dim 2: 0.5 (2 + 0 - 1 - log 2).
    out = self.call(
        np.array([1.0, 0.0], np.float32), np.array([0.0, LOG2], np.float32)
    )
    np.testing.assert_allclose(out, 1.0 - 0.5 * LOG2, rtol=1e-6)

  def test_zero_at_prior(self):
    out = self.call(np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32))
    np.testing.assert_array_equal(out, np.zeros(3))

  def test_equals_gaussian_kl_with_standard_prior(self):
    mean, lv = self.make_args(_rng(23), (8, 16))
    chex.assert_trees_all_close(
        self.call(mean, lv), losses.gaussian_kl(mean, lv, 0, 0), rtol=1e-6
    )

  def test_non_negative(self):
    rng = _rng(24)
    mean = (rng.normal(size=(256, 32)) * 3.0).astype(np.float32)
    lv = rng.uniform(-10.0, 10.0, size=(256, 32)).astype(np.float32)
    assert np.all(np.asarray(self.call(mean, lv, event_ndims=0)) >= 0.0)

  def test_precise_near_collapse(self):
    # KL ~ lv^2 / 2 for small lv: float32 `exp(lv) - 1 - lv` has relative
    # error ~ 2 eps / lv^2 (~10% here), `expm1(lv) - lv` ~ 2 eps / |lv|.
    lv = np.array([1e-3, -1e-3], np.float32)
    out = self.call(np.zeros(2, np.float32), lv, event_ndims=0)
    lv64 = lv.astype(np.float64)
    expected = 0.5 * (np.expm1(lv64) - lv64)
    np.testing.assert_allclose(out, expected, rtol=1e-3)
    naive = 0.5 * (np.exp(lv) - np.float32(1.0) - lv)  # float32
    assert np.max(np.abs(naive / expected - 1.0)) > 1e-2

  def test_monte_carlo(self):
    mean = np.array([[0.5, -1.0, 0.0], [2.0, 0.3, -0.4]])
    lv = np.array([[0.0, -1.0, 1.0], [0.5, -0.3, 0.2]])
    mc, se = _mc_kl(mean, lv, 0.0, 0.0, num_samples=200_000, seed=25)
    out = self.call(mean.astype(np.float32), lv.astype(np.float32))
    np.testing.assert_allclose(out, mc, atol=float(5.0 * se.max()))

  def test_extreme_log_variance_is_finite(self):
    for value in (-50.0, 50.0):
      lv = np.full((2, 3), value, np.float32)
      mean = np.ones((2, 3), np.float32)
      out, grads = jax.value_and_grad(
          lambda m, v: self.call(m, v).sum(), argnums=(0, 1)
      )(mean, lv)
      assert np.isfinite(out)
      assert all(np.all(np.isfinite(g)) for g in grads)


class TestGaussianKL(_LossConventionTests):
  fn = staticmethod(losses.gaussian_kl)
  ref = staticmethod(_ref_gaussian_kl)
  num_floating = 2

  def make_args(self, rng, shape):
    return (
        rng.normal(size=shape).astype(np.float32),
        rng.uniform(-2.0, 2.0, size=shape).astype(np.float32),
        rng.normal(size=shape).astype(np.float32),
        rng.uniform(-2.0, 2.0, size=shape).astype(np.float32),
    )

  def test_hand_computed(self):
    # KL(N(0, 1) || N(1, 4)) = 0.5 (log 4 - 0 + (1 + 1) / 4 - 1) = log 2 - 1/4.
    out = self.call(
        np.array([0.0], np.float32),
        np.array([0.0], np.float32),
        np.array([1.0]),
        np.array([np.log(4.0)]),
    )
    np.testing.assert_allclose(out, LOG2 - 0.25, rtol=1e-6)

  def test_zero_for_identical_distributions(self):
    mean, lv, _, _ = self.make_args(_rng(26), (4, 10))
    np.testing.assert_array_equal(self.call(mean, lv, mean, lv), np.zeros(4))

  def test_non_negative(self):
    args = self.make_args(_rng(27), (256, 32))
    args = [a * 3.0 for a in args]  # log-variances in [-6, 6]
    assert np.all(np.asarray(self.call(*args, event_ndims=0)) >= 0.0)

  def test_monte_carlo(self):
    mq = np.array([[0.5, -1.0, 0.0], [2.0, 0.3, -0.4]])
    lvq = np.array([[0.0, -1.0, 1.0], [0.5, -0.3, 0.2]])
    mp = np.array([[1.0, 0.0, -0.5], [1.5, 0.0, 0.0]])
    lvp = np.array([[0.5, 0.0, 0.7], [1.0, -0.5, 0.0]])
    mc, se = _mc_kl(mq, lvq, mp, lvp, num_samples=200_000, seed=28)
    out = self.call(*(a.astype(np.float32) for a in (mq, lvq, mp, lvp)))
    np.testing.assert_allclose(out, mc, atol=float(5.0 * se.max()))

  def test_prior_broadcasts(self):
    mean, lv, _, _ = self.make_args(_rng(29), (5, 6))
    prior_m = np.linspace(-1.0, 1.0, 6).astype(np.float32)  # per-dimension
    prior_lv = np.float32(0.3)  # shared scalar
    out = self.call(mean, lv, prior_m, prior_lv)
    expected = _ref_gaussian_kl(
        mean.astype(np.float64), lv.astype(np.float64), prior_m, 0.3
    ).sum(-1)
    chex.assert_shape(out, (5,))
    np.testing.assert_allclose(out, expected, rtol=1e-5)

  def test_large_equal_log_variances_do_not_overflow(self):
    lv = np.full((1, 3), 100.0, np.float32)  # exp(100) is inf in float32
    out = self.call(np.zeros((1, 3), np.float32), lv, 0.0, lv)
    np.testing.assert_array_equal(out, [0.0])


# ---------------------------------------------------------------------------
# ELBO.
# ---------------------------------------------------------------------------


class TestELBO:

  def setup_method(self):
    self.ll = np.array([-3.0, -5.0], np.float32)
    self.kl = np.array([1.0, 2.0], np.float32)

  def test_hand_computed(self):
    out = losses.elbo(self.ll, self.kl)
    assert isinstance(out, losses.ELBO)
    np.testing.assert_allclose(out.elbo, [-4.0, -7.0])
    np.testing.assert_allclose(out.log_likelihood, self.ll)
    np.testing.assert_allclose(out.kl, self.kl)

  @pytest.mark.parametrize(
      "beta, expected",
      [(0.0, [-3.0, -5.0]), (0.5, [-3.5, -6.0]), (4.0, [-7.0, -13.0])],
  )
  def test_beta(self, beta, expected):
    out = jax.jit(functools.partial(losses.elbo, beta=beta))(self.ll, self.kl)
    np.testing.assert_allclose(out.elbo, expected)
    # The parts add up, and the returned kl is unweighted.
    np.testing.assert_allclose(out.elbo, out.log_likelihood - beta * out.kl)
    np.testing.assert_allclose(out.kl, self.kl)

  @pytest.mark.parametrize(
      "beta", [-0.1, -1, np.float32(-2.0), np.array([0.5, -0.5]), float("nan")]
  )
  def test_negative_beta_raises(self, beta):
    with pytest.raises(ValueError, match="beta"):
      losses.elbo(self.ll, self.kl, beta=beta)

  @pytest.mark.parametrize(
      "beta", [float("inf"), np.float32("inf"), np.array([1.0, -np.inf])]
  )
  def test_infinite_beta_raises(self, beta):
    # Issue 14: beta=inf made every ELBO -inf (NaN where kl == 0).
    with pytest.raises(ValueError, match=r"elbo: beta must be a finite number"):
      losses.elbo(self.ll, self.kl, beta=beta)

  @pytest.mark.parametrize("beta", [-1.0, float("nan")])
  def test_concrete_jax_array_beta_is_checked(self, beta):
    # Issue 14: elbo(beta=-1) got through as a jax.Array.
    with pytest.raises(ValueError, match=r"elbo: beta must be a finite number"):
      losses.elbo(self.ll, self.kl, beta=jnp.asarray(beta))

  def test_beta_that_would_broadcast_the_result_raises(self):
    # A [B, 1] beta against [B] terms gave a [B, B] ELBO.
    with pytest.raises(ValueError, match=r"elbo: beta shape \(2, 1\)"):
      losses.elbo(self.ll, self.kl, beta=np.ones((2, 1), np.float32))
    chex.assert_shape(
        losses.elbo(self.ll, self.kl, beta=np.ones(2, np.float32)).elbo, (2,)
    )

  def test_string_beta_raises(self):
    with pytest.raises(TypeError, match="elbo: beta must be a numeric"):
      losses.elbo(self.ll, self.kl, beta="1")

  def test_traced_beta_under_vmap(self):
    betas = jnp.array([0.0, 0.5, 1.0])
    out = jax.vmap(lambda b: losses.elbo(self.ll, self.kl, beta=b).elbo)(betas)
    chex.assert_shape(out, (3, 2))
    np.testing.assert_allclose(
        out, self.ll[None] - betas[:, None] * self.kl[None]
    )

  def test_vmap_over_examples(self):
    out = jax.vmap(lambda l, k: losses.elbo(l, k, beta=2.0))(self.ll, self.kl)
    chex.assert_trees_all_close(out, losses.elbo(self.ll, self.kl, beta=2.0))

  def test_shape_mismatch_raises(self):
    with pytest.raises(ValueError, match=r"elbo: .*\(2,\).*\(2, 1\)"):
      losses.elbo(self.ll, self.kl[:, None])

  def test_int_dtype_raises(self):
    with pytest.raises(TypeError, match="int32"):
      losses.elbo(self.ll.astype(np.int32), self.kl)

  def test_gradients(self):
    jaxtest.check_grads(
        lambda l, k: losses.elbo(l, k, beta=0.7).elbo,
        (self.ll, self.kl),
        order=1,
        modes=("fwd", "rev"),
    )

  def test_vae_loss_gradient_under_jit_is_finite(self):
    # A linear Bernoulli VAE on binarised [B, 4, 4, 1] "images".
    rng = _rng(30)
    batch, latent = 8, 3
    x = (rng.uniform(size=(batch, 4, 4, 1)) < 0.5).astype(np.uint8)
    eps = rng.normal(size=(batch, latent)).astype(np.float32)
    params = {
        "enc": (rng.normal(size=(16, 2 * latent)) * 0.3).astype(np.float32),
        "dec": (rng.normal(size=(latent, 16)) * 0.3).astype(np.float32),
    }

    @jax.jit
    def loss_fn(params):
      h = x.reshape(batch, -1).astype(jnp.float32) @ params["enc"]
      mean, log_variance = jnp.split(h, 2, axis=-1)
      z = mean + jnp.exp(0.5 * log_variance) * eps
      logits = (z @ params["dec"]).reshape(x.shape)
      out = losses.elbo(
          losses.bernoulli_log_likelihood(logits, x, event_ndims=3),
          losses.standard_normal_kl(mean, log_variance),
          beta=0.5,
      )
      chex.assert_shape(out.elbo, (batch,))
      return -out.elbo.mean()

    loss, grads = jax.value_and_grad(loss_fn)(params)
    assert np.isfinite(loss) and loss > 0
    for g in jax.tree.leaves(grads):
      assert np.all(np.isfinite(g))
      assert np.any(g != 0)


@pytest.mark.parametrize(
    "bad",
    [np.array(["a", "b"]), np.array([object(), object()])],
    ids=["str", "object"],
)
def test_non_numeric_arrays_name_the_loss_and_argument(bad):
  with pytest.raises(TypeError, match="binary_cross_entropy: logits must be"):
    losses.binary_cross_entropy(bad, np.zeros(2, np.float32))
  with pytest.raises(TypeError, match="squared_error: targets must be"):
    losses.squared_error(np.zeros(2, np.float32), bad)
