"""Tests for the generative-model objectives of `ae_jax.losses`.

IWAE bound, MMD, adversarial (AAE / GAN) losses, the controlled-capacity KL
and the FactorVAE total-correlation helpers.
"""

import functools
import math

import chex
import jax
import jax.numpy as jnp
import jax.test_util as jaxtest
import numpy as np
import pytest
from scipy import special as sp_special
from scipy import stats

from ae_jax import losses

LOG2 = math.log(2.0)


def _rng(seed=0):
  return np.random.default_rng(seed)


# ---------------------------------------------------------------------------
# IWAE bound.
# ---------------------------------------------------------------------------


class TestIWAEBound:

  def test_hand_computed(self):
    # K = 2 weights {1, 3}: log((1 + 3) / 2) = log 2, per example.
    log_w = np.log(np.array([[1.0, 2.0], [3.0, 2.0]], np.float32))
    out = losses.iwae_bound(log_w)
    chex.assert_shape(out, (2,))
    np.testing.assert_allclose(out, [LOG2, LOG2], rtol=1e-6)

  def test_against_scipy(self):
    log_w = _rng(1).normal(size=(7, 5)) * 3.0
    out = jax.jit(losses.iwae_bound)(log_w.astype(np.float32))
    chex.assert_type(out, jnp.float32)
    expected = sp_special.logsumexp(log_w, axis=0) - np.log(7)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)

  def test_k1_equals_elbo(self):
    # One sample: the bound is the log weight itself, the one-sample ELBO.
    log_w = _rng(2).normal(size=(1, 6)).astype(np.float32)
    np.testing.assert_allclose(losses.iwae_bound(log_w), log_w[0], rtol=1e-6)

  def test_at_least_the_elbo_of_the_same_weights(self):
    # Jensen, per draw: log mean exp(w) >= mean(w), equality iff all equal.
    log_w = (_rng(3).normal(size=(10, 64)) * 2.0).astype(np.float32)
    out = losses.iwae_bound(log_w)
    elbo = log_w.mean(axis=0)
    assert np.all(np.asarray(out) >= elbo)
    assert np.all(np.asarray(out) - elbo > 1e-2)
    equal = np.full((10, 3), -2.5, np.float32)
    np.testing.assert_allclose(losses.iwae_bound(equal), [-2.5] * 3)

  def test_non_decreasing_in_k_on_average(self):
    # E[L_K] is non-decreasing in K (Burda et al., Thm 1): average over many
    # independent sets of K log weights from the same distribution.
    rng = _rng(4)
    means = []
    for k in (1, 2, 4, 8, 16, 32):
      log_w = (rng.normal(size=(k, 4000)) * 1.5).astype(np.float32)
      means.append(float(np.mean(losses.iwae_bound(log_w))))
    assert np.all(np.diff(means) > 0.0), means
    # The limit: log E[w] = 1.5^2 / 2 for log w ~ N(0, 1.5^2).
    assert means[-1] < 1.125

  def test_approaches_exact_log_marginal_from_below(self):
    # z ~ N(0, 1), x | z ~ N(z, s^2)  =>  p(x) = N(0, 1 + s^2). The proposal
    # is deliberately poor: the prior q(z | x) = N(0, 1), ignoring x, while
    # the posterior has standard deviation 0.45. Log weights are then
    # log p(x | z_k). The K-sample bounds use nested prefixes of the same
    # 5000 draws.
    s, batch, k_max = 0.5, 500, 5000
    rng = _rng(5)
    x = rng.normal(size=batch) * np.sqrt(1.0 + s**2)
    log_px = stats.norm.logpdf(x, 0.0, np.sqrt(1.0 + s**2))
    z = rng.normal(size=(k_max, batch))
    log_w = stats.norm.logpdf(x, z, s).astype(np.float32)
    ks = (1, 2, 5, 10, 100, 1000, 5000)
    gaps, ses = [], []
    for k in ks:
      gap = np.asarray(losses.iwae_bound(log_w[:k]), np.float64) - log_px
      gaps.append(gap.mean())
      ses.append(gap.std() / np.sqrt(batch))
    gaps, ses = np.array(gaps), np.array(ses)
    # The ELBO (K = 1) is far below log p(x), and the bound closes the gap.
    assert gaps[0] < -1.0
    assert np.all(np.diff(gaps) > -0.01), gaps
    # Below log p(x): clearly for small K, within noise for large K, where
    # the bias (~1e-3) is below the Monte-Carlo error.
    assert np.all(gaps[:4] < -3.0 * ses[:4]), (gaps, ses)
    assert np.all(gaps < 3.0 * ses), (gaps, ses)
    assert abs(gaps[-1]) < 0.05, gaps

  def test_huge_log_weights_are_exact(self):
    # exp overflows (1e3) or underflows (-1e4) in float32; the bound does
    # not: log((e^a + 3 e^a) / 2) = a + log 2, up to the float32 rounding
    # of a + log 3, which the float64 reference sees too.
    for a in (1e3, -1e4, 3e4):
      log_w = np.array([[a], [a + np.log(3.0)]], np.float32)
      out = losses.iwae_bound(log_w)
      with np.errstate(over='ignore', divide='ignore'):
        naive = np.log(np.mean(np.exp(log_w), axis=0))  # float32
      assert not np.all(np.isfinite(naive))
      np.testing.assert_allclose(out, [a + LOG2], rtol=1e-6)
      expected = sp_special.logsumexp(log_w.astype(np.float64), axis=0)
      np.testing.assert_allclose(out, expected - LOG2, rtol=1e-7)
      # The gradient is the self-normalised weights (~1/4, ~3/4).
      grad = jax.grad(lambda w: losses.iwae_bound(w).sum())(log_w)
      weights = sp_special.softmax(log_w.astype(np.float64), axis=0)
      np.testing.assert_allclose(grad, weights, rtol=1e-5)
      np.testing.assert_allclose(grad, [[0.25], [0.75]], rtol=1e-3)

  def test_zero_weight_sample(self):
    # A sample with weight 0 (log weight -inf) counts in K but adds nothing.
    log_w = np.array([[-np.inf], [0.0]], np.float32)
    np.testing.assert_allclose(losses.iwae_bound(log_w), [-LOG2], rtol=1e-6)

  def test_vmap_over_examples(self):
    log_w = _rng(6).normal(size=(4, 3)).astype(np.float32)
    per_example = jax.vmap(losses.iwae_bound, in_axes=1)(log_w)
    chex.assert_shape(losses.iwae_bound(log_w[:, 0]), ())
    chex.assert_trees_all_close(per_example, losses.iwae_bound(log_w))

  def test_gradients(self):
    log_w = _rng(7).normal(size=(3, 2)).astype(np.float32)
    jaxtest.check_grads(
        losses.iwae_bound, (log_w,), order=1, modes=('fwd', 'rev')
    )

  def test_scalar_or_empty_raises(self):
    with pytest.raises(ValueError, match=r'iwae_bound: .*\[K, B\].*\(\)'):
      losses.iwae_bound(np.float32(1.0))
    with pytest.raises(ValueError, match=r'K >= 1.*\(0, 3\)'):
      losses.iwae_bound(np.zeros((0, 3), np.float32))

  def test_int_dtype_raises(self):
    with pytest.raises(TypeError, match=r'iwae_bound: log_weights.*int32'):
      losses.iwae_bound(np.zeros((2, 3), np.int32))


# ---------------------------------------------------------------------------
# MMD.
# ---------------------------------------------------------------------------


def _naive_mmd(x, y, kernel, scales, unbiased):
  """Double-loop float64 reference, straight from Gretton et al. (2012)."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  d = x.shape[1]

  def k(a, b):
    d2 = np.sum((a - b) ** 2)
    if kernel == 'imq':
      return sum(2 * d * s**2 / (2 * d * s**2 + d2) for s in scales)
    return sum(np.exp(-d2 / (2 * s**2)) for s in scales)

  def within(a):
    n = len(a)
    total = sum(
        k(a[i], a[j])
        for i in range(n)
        for j in range(n)
        if i != j or not unbiased
    )
    return total / (n * (n - 1) if unbiased else n * n)

  cross = sum(k(a, b) for a in x for b in y) / (len(x) * len(y))
  return within(x) + within(y) - 2.0 * cross


class TestMMD:

  @pytest.mark.parametrize('unbiased', [True, False])
  @pytest.mark.parametrize('kernel', ['imq', 'rbf'])
  def test_against_naive_loop(self, kernel, unbiased):
    rng = _rng(10)
    x = rng.normal(size=(7, 3)).astype(np.float32)
    y = (rng.normal(size=(5, 3)) * 1.5 + 0.5).astype(np.float32)
    scales = (0.5, 1.0, 3.0)
    fn = jax.jit(
        functools.partial(
            losses.mmd, kernel=kernel, scales=scales, unbiased=unbiased
        )
    )
    out = fn(x, y)
    chex.assert_shape(out, ())
    chex.assert_type(out, jnp.float32)
    expected = _naive_mmd(x, y, kernel, scales, unbiased)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)

  @pytest.mark.parametrize('kernel', ['imq', 'rbf'])
  def test_default_scales(self, kernel):
    rng = _rng(11)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    y = rng.normal(size=(6, 4)).astype(np.float32) + 0.3
    # WAE's widths c: IMQ with C = 2 D c, i.e. s^2 = c; RBF with s^2 = D c.
    widths = np.array([0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0])
    per_dim = 1.0 if kernel == 'imq' else 4.0
    expected = _naive_mmd(x, y, kernel, np.sqrt(per_dim * widths), True)
    out = losses.mmd(x, y, kernel=kernel)
    # Each of the three means is a sum of 7 kernels (~7), cancelling to
    # ~0.1: float32 rounding of the terms gives an absolute error ~1e-6.
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)

  def test_imq_default_matches_wae_reference_form(self):
    # WAE's mmd_penalty for a unit-variance prior: C = 2 * zdim * scale.
    rng = _rng(12)
    qz = rng.normal(size=(8, 5)) + 0.4
    pz = rng.normal(size=(8, 5))
    n = 8
    d_qq = ((qz[:, None] - qz[None]) ** 2).sum(-1)
    d_pp = ((pz[:, None] - pz[None]) ** 2).sum(-1)
    d_qp = ((qz[:, None] - pz[None]) ** 2).sum(-1)
    stat = 0.0
    for scale in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
      c = 2.0 * 5 * scale
      res1 = (c / (c + d_qq) + c / (c + d_pp)) * (1.0 - np.eye(n))
      stat += res1.sum() / (n * n - n) - 2.0 * (c / (c + d_qp)).sum() / n**2
    out = losses.mmd(qz.astype(np.float32), pz.astype(np.float32))
    np.testing.assert_allclose(out, stat, rtol=1e-5, atol=1e-6)

  @pytest.mark.parametrize('kernel', ['imq', 'rbf'])
  def test_unbiased_averages_zero_for_same_distribution(self, kernel):
    # Many independent pairs of samples of N(0, I): the U-statistic is
    # unbiased (mean ~ 0, some estimates negative), the V-statistic is >= 0
    # and biased upwards.
    rng = _rng(13)
    xs = rng.normal(size=(400, 16, 2)).astype(np.float32)
    ys = rng.normal(size=(400, 16, 2)).astype(np.float32)
    u = np.asarray(
        jax.vmap(functools.partial(losses.mmd, kernel=kernel))(xs, ys)
    )
    v = np.asarray(
        jax.vmap(functools.partial(losses.mmd, kernel=kernel, unbiased=False))(
            xs, ys
        )
    )
    se_u = u.std() / np.sqrt(len(u))
    assert abs(u.mean()) < 3.0 * se_u, (u.mean(), se_u)
    assert np.mean(u < 0) > 0.2
    assert np.all(v > -1e-6)
    assert v.mean() > 10.0 * v.std() / np.sqrt(len(v))
    assert v.mean() > u.mean() + 10.0 * se_u

  @pytest.mark.parametrize('kernel', ['imq', 'rbf'])
  def test_grows_with_shift(self, kernel):
    rng = _rng(14)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    base = rng.normal(size=(200, 4)).astype(np.float32)
    values = []
    for shift in (0.0, 0.25, 0.5, 1.0, 2.0):
      y = base + np.array([shift, 0.0, 0.0, 0.0], np.float32)
      values.append(float(losses.mmd(x, y, kernel=kernel)))
    # Shift 0 is sampling noise around 0 (either sign); from shift 0.5 on
    # the discrepancy is clearly above it, and it grows with the shift.
    assert np.all(np.diff(values) > 0.0), values
    assert values[2] > 5.0 * abs(values[0]), values
    assert values[4] > 3.0 * values[3] > 9.0 * values[2], values

  @pytest.mark.parametrize('unbiased', [True, False])
  def test_symmetric(self, unbiased):
    rng = _rng(15)
    x = rng.normal(size=(9, 3)).astype(np.float32)
    y = rng.normal(size=(6, 3)).astype(np.float32) * 2.0
    np.testing.assert_allclose(
        losses.mmd(x, y, unbiased=unbiased),
        losses.mmd(y, x, unbiased=unbiased),
        rtol=1e-6,
    )

  def test_biased_is_zero_for_identical_samples(self):
    x = _rng(16).normal(size=(10, 3)).astype(np.float32) * 5.0
    for kernel in ('imq', 'rbf'):
      out = losses.mmd(x, x, kernel=kernel, unbiased=False)
      # Float32 rounding of three means of 7 kernels each (~7 each).
      np.testing.assert_allclose(out, 0.0, atol=1e-5)

  @pytest.mark.parametrize('kernel', ['imq', 'rbf'])
  def test_gradients(self, kernel):
    rng = _rng(17)
    x = rng.normal(size=(5, 2)).astype(np.float32)
    y = rng.normal(size=(4, 2)).astype(np.float32) + 1.0
    fn = jax.jit(
        functools.partial(losses.mmd, kernel=kernel, scales=(1.0, 2.0))
    )
    jaxtest.check_grads(fn, (x, y), order=1, modes=('fwd', 'rev'))
    # Finite even with duplicate points and x == y (distances exactly 0).
    dup = np.concatenate([x, x[:2]])
    for unbiased in (True, False):
      grads = jax.jit(
          jax.grad(
              functools.partial(losses.mmd, kernel=kernel, unbiased=unbiased),
              argnums=(0, 1),
          )
      )(dup, dup)
      chex.assert_tree_all_finite(grads)
    # A small descent step on x lowers the discrepancy.
    g = jax.jit(jax.grad(fn))(x, y)
    assert fn(x - 0.1 * g, y) < fn(x, y)

  @pytest.mark.parametrize('unbiased', [True, False])
  @pytest.mark.parametrize('kernel', ['imq', 'rbf'])
  def test_diverged_codes_are_finite_and_spoil_no_other_pair(
      self, kernel, unbiased
  ):
    # Issue 14: ||x||^2 overflows float32 for codes beyond ~1e19, and the
    # squared distance of two such codes pointing the same way was
    # inf + inf - 2 inf = NaN. Codes of 1e20 are now at distance inf
    # (kernel 0) from the others and from each other, and the distances of
    # the others are computed as without them: the value matches the
    # float64 reference.
    rng = _rng(19)
    x = rng.normal(size=(6, 3)).astype(np.float32)
    y = rng.normal(size=(5, 3)).astype(np.float32)
    x[0] = 1e20
    x[1] = [3e20, 2e20, 1e20]
    scales = (0.5, 1.0, 3.0)
    fn = functools.partial(
        losses.mmd, kernel=kernel, scales=scales, unbiased=unbiased
    )
    out, (gx, gy) = jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))(x, y)
    expected = _naive_mmd(x, y, kernel, scales, unbiased)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    chex.assert_tree_all_finite((gx, gy))
    # Nothing pulls on a code infinitely far from every other one.
    np.testing.assert_array_equal(gx[:2], 0.0)

  def test_int_y_is_cast(self):
    x = _rng(18).normal(size=(4, 2)).astype(np.float32)
    y = np.array([[0, 1], [1, 0], [1, 1]], np.int32)
    out = losses.mmd(x, y)
    chex.assert_type(out, jnp.float32)
    np.testing.assert_allclose(
        out, losses.mmd(x, y.astype(np.float32)), rtol=1e-6
    )

  def test_unknown_kernel_raises(self):
    x = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match=r"mmd: unknown kernel='gauss'.*imq"):
      losses.mmd(x, x, kernel='gauss')

  def test_shape_errors(self):
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r'2-D.*\(4,\).*reshape'):
      losses.mmd(x[:, 0], x)
    with pytest.raises(ValueError, match=r'\(4, 3\).*\(4, 2\).*dimensions'):
      losses.mmd(x, x[:, :2])
    with pytest.raises(ValueError, match=r'at least 2.*unbiased=False'):
      losses.mmd(x[:1], x)
    with pytest.raises(ValueError, match=r'at least 2'):
      losses.mmd(x, x[:1])
    # The biased statistic is defined for one sample per set.
    assert np.isfinite(losses.mmd(x[:1], x[:1] + 1.0, unbiased=False))
    with pytest.raises(ValueError, match=r'at least 1'):
      losses.mmd(x[:0], x, unbiased=False)

  @pytest.mark.parametrize(
      'scales, error',
      [
          ((), ValueError),
          ((1.0, -1.0), ValueError),
          ((0.0,), ValueError),
          ((float('nan'),), ValueError),
          ((float('inf'),), ValueError),
          (1.0, TypeError),
          ('1', TypeError),
          ((True,), TypeError),
      ],
  )
  def test_invalid_scales_raise(self, scales, error):
    x = np.zeros((3, 2), np.float32)
    with pytest.raises(error, match=r'mmd: .*scales'):
      losses.mmd(x, x, scales=scales)

  def test_dtype_errors(self):
    x = np.zeros((3, 2), np.float32)
    with pytest.raises(TypeError, match=r'x must be floating.*astype'):
      losses.mmd(x.astype(np.int32), x)
    with pytest.raises(TypeError, match=r'y must have a real dtype'):
      losses.mmd(x, x.astype(np.complex64))


# ---------------------------------------------------------------------------
# Adversarial losses.
# ---------------------------------------------------------------------------


class TestAdversarialLosses:

  def test_discriminator_hand_computed(self):
    # Logits 0: -log(1/2) - log(1/2). Real logit log 3 (D = 3/4) and fake
    # logit log 3: -log(3/4) - log(1/4) = log(16/3).
    out = losses.discriminator_loss(
        np.array([0.0, np.log(3.0)], np.float32),
        np.array([0.0, np.log(3.0)], np.float32),
    )
    chex.assert_shape(out, (2,))
    np.testing.assert_allclose(out, [2 * LOG2, np.log(16.0 / 3.0)], rtol=1e-6)

  def test_generator_hand_computed(self):
    out = losses.generator_loss(np.array([0.0, np.log(3.0)], np.float32))
    np.testing.assert_allclose(out, [LOG2, np.log(4.0 / 3.0)], rtol=1e-6)

  def test_match_optax_cross_entropy(self):
    optax = pytest.importorskip('optax')
    rng = _rng(20)
    real = rng.normal(size=8).astype(np.float32) * 4.0
    fake = rng.normal(size=8).astype(np.float32) * 4.0
    bce = optax.sigmoid_binary_cross_entropy
    out = jax.jit(losses.discriminator_loss)(real, fake)
    np.testing.assert_allclose(
        out,
        bce(real, jnp.ones(8)) + bce(fake, jnp.zeros(8)),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        losses.generator_loss(fake), bce(fake, jnp.ones(8)), rtol=1e-5
    )

  def test_saturated_logits_are_finite_and_exact(self):
    big = np.array([1e4, -1e4], np.float32)
    np.testing.assert_array_equal(
        losses.discriminator_loss(big, -big), [0.0, 2e4]
    )
    np.testing.assert_array_equal(losses.generator_loss(big), [0.0, 1e4])
    d_real, d_fake = jax.grad(
        lambda r, f: losses.discriminator_loss(r, f).sum(), argnums=(0, 1)
    )(big, big)
    # d/dr = -sigmoid(-r), d/df = sigmoid(f).
    np.testing.assert_array_equal(d_real, [0.0, -1.0])
    np.testing.assert_array_equal(d_fake, [1.0, 0.0])
    d_gen = jax.grad(lambda f: losses.generator_loss(f).sum())(big)
    np.testing.assert_array_equal(d_gen, [0.0, -1.0])

  def test_gradient_signs(self):
    logits = np.linspace(-5.0, 5.0, 11).astype(np.float32)
    # The generator (non-saturating) loss pushes fake logits up, and does
    # not saturate where the discriminator rejects the fakes.
    d_gen = jax.grad(lambda f: losses.generator_loss(f).sum())(logits)
    assert np.all(np.asarray(d_gen) < 0.0)
    assert d_gen[0] < -0.99
    # The discriminator pushes real logits up and fake logits down.
    d_real, d_fake = jax.grad(
        lambda r, f: losses.discriminator_loss(r, f).sum(), argnums=(0, 1)
    )(logits, logits)
    assert np.all(np.asarray(d_real) < 0.0)
    assert np.all(np.asarray(d_fake) > 0.0)

  def test_elementwise_and_vmap(self):
    rng = _rng(21)
    real = rng.normal(size=(3, 4)).astype(np.float32)
    fake = rng.normal(size=(3, 4)).astype(np.float32)
    out = losses.discriminator_loss(real, fake)
    chex.assert_shape(out, (3, 4))
    chex.assert_trees_all_close(
        jax.vmap(losses.discriminator_loss)(real, fake), out
    )

  def test_shape_mismatch_raises(self):
    # [B] vs [B, 1] would silently broadcast to [B, B].
    with pytest.raises(
        ValueError, match=r'discriminator_loss: .*\(4,\).*\(4, 1\)'
    ):
      losses.discriminator_loss(
          np.zeros(4, np.float32), np.zeros((4, 1), np.float32)
      )

  def test_int_dtype_raises(self):
    with pytest.raises(TypeError, match='fake_logits'):
      losses.discriminator_loss(np.zeros(2, np.float32), np.zeros(2, np.int32))
    with pytest.raises(TypeError, match='generator_loss: fake_logits'):
      losses.generator_loss(np.zeros(2, np.int32))


# ---------------------------------------------------------------------------
# Controlled capacity.
# ---------------------------------------------------------------------------


class TestCapacity:

  def test_capacity_kl_hand_computed(self):
    kl = np.array([0.0, 3.0, 5.0, 7.5], np.float32)
    out = losses.capacity_kl(kl, capacity=5.0, gamma=2.0)
    chex.assert_shape(out, (4,))
    np.testing.assert_allclose(out, [10.0, 4.0, 0.0, 5.0])

  def test_capacity_kl_gradient(self):
    kl = np.array([3.0, 5.0, 7.5], np.float32)
    grad = jax.grad(
        lambda k: losses.capacity_kl(k, capacity=5.0, gamma=2.0).sum()
    )(kl)
    # -gamma below the target, +gamma above, the subgradient 0 at it.
    np.testing.assert_array_equal(grad, [-2.0, 0.0, 2.0])

  def test_zero_capacity_is_beta_vae_kl(self):
    kl = np.array([0.5, 2.0], np.float32)
    np.testing.assert_allclose(
        losses.capacity_kl(kl, capacity=0.0, gamma=4.0), 4.0 * kl
    )

  def test_schedule_endpoints_and_clipping(self):
    fn = functools.partial(
        losses.capacity_schedule, max_capacity=25.0, num_steps=1000
    )
    steps = np.array([-10, 0, 1, 500, 999, 1000, 1001, 10**6], np.int32)
    expected = [0.0, 0.0, 0.025, 12.5, 24.975, 25.0, 25.0, 25.0]
    out = fn(steps)
    chex.assert_type(out, jnp.float32)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    for step, value in zip(steps, expected):
      np.testing.assert_allclose(fn(int(step)), value, rtol=1e-6)

  def test_schedule_jit_with_traced_step_compiles_once(self):
    @jax.jit
    @chex.assert_max_traces(n=1)
    def loss(kl, step):
      capacity = losses.capacity_schedule(
          step, max_capacity=10.0, num_steps=100
      )
      return losses.capacity_kl(kl, capacity=capacity, gamma=3.0)

    kl = np.array([2.0, 8.0], np.float32)
    for step, capacity in ((0, 0.0), (50, 5.0), (100, 10.0), (400, 10.0)):
      out = loss(kl, jnp.asarray(step, jnp.int32))
      np.testing.assert_allclose(out, 3.0 * np.abs(kl - capacity), rtol=1e-6)

  def test_traced_capacity_keeps_kl_dtype(self):
    kl = jnp.asarray([1.0, 2.0], jnp.bfloat16)
    out = jax.jit(lambda k, c: losses.capacity_kl(k, capacity=c, gamma=1.0))(
        kl, jnp.float32(1.5)
    )
    chex.assert_type(out, jnp.bfloat16)

  def test_vmap_over_gamma(self):
    kl = np.array([1.0, 4.0], np.float32)
    out = jax.vmap(lambda g: losses.capacity_kl(kl, capacity=2.0, gamma=g))(
        jnp.array([0.0, 1.0, 10.0])
    )
    np.testing.assert_allclose(out, [[0, 0], [1, 2], [10, 20]])

  @pytest.mark.parametrize(
      'kwargs, match',
      [
          (dict(capacity=-1.0, gamma=1.0), r'capacity must be a finite'),
          (dict(capacity=1.0, gamma=-0.5), r'gamma must be a finite number'),
          (dict(capacity=float('nan'), gamma=1.0), r'capacity must be a'),
          (dict(capacity=1.0, gamma=np.float32('nan')), r'gamma must be'),
          # Concrete jax.Arrays are checked like host values; inf too.
          (dict(capacity=2.0, gamma=jnp.array(-1.0)), r'gamma must be a fin'),
          (dict(capacity=jnp.inf, gamma=1.0), r'capacity must be a finite'),
          (
              dict(capacity=np.zeros((3, 1)), gamma=1.0),
              r'capacity shape \(3, 1\).*\(3,\)',
          ),
      ],
  )
  def test_capacity_kl_errors(self, kwargs, match):
    with pytest.raises(ValueError, match=f'capacity_kl: {match}'):
      losses.capacity_kl(np.ones(3, np.float32), **kwargs)

  def test_capacity_kl_int_raises(self):
    with pytest.raises(TypeError, match='capacity_kl: kl'):
      losses.capacity_kl(np.ones(3, np.int32), capacity=1.0, gamma=1.0)

  @pytest.mark.parametrize('num_steps', [0, -5, 10.0, True, None])
  def test_schedule_invalid_num_steps(self, num_steps):
    with pytest.raises(ValueError, match='num_steps must be a static'):
      losses.capacity_schedule(3, max_capacity=1.0, num_steps=num_steps)

  @pytest.mark.parametrize(
      'max_capacity', [-1.0, jnp.array(-1.0), float('inf'), np.nan]
  )
  def test_schedule_invalid_max_capacity(self, max_capacity):
    with pytest.raises(ValueError, match='max_capacity must be a finite'):
      losses.capacity_schedule(3, max_capacity=max_capacity, num_steps=10)

  def test_schedule_float16_step_with_a_long_ramp(self):
    # num_steps > 65504 would overflow to inf in float16.
    out = losses.capacity_schedule(
        jnp.float16(30000), max_capacity=10.0, num_steps=100_000
    )
    np.testing.assert_allclose(out, 3.0, rtol=1e-3)

  def test_capacity_kl_string_raises(self):
    with pytest.raises(TypeError, match='capacity_kl: capacity must be a num'):
      losses.capacity_kl(np.ones(3, np.float32), capacity='a', gamma=1.0)

  def test_schedule_bool_step_raises(self):
    with pytest.raises(TypeError, match='step must be an int or float'):
      losses.capacity_schedule(True, max_capacity=1.0, num_steps=10)


# ---------------------------------------------------------------------------
# FactorVAE: total correlation and permute_dims.
# ---------------------------------------------------------------------------


def _correlated_gaussian(rng, n, rho):
  cov = np.array([[1.0, rho], [rho, 1.0]])
  return rng.multivariate_normal(np.zeros(2), cov, size=n), cov


class TestTotalCorrelation:

  def test_logits_are_the_estimate(self):
    logits = np.array([-1.0, 0.0, 2.5], np.float32)
    out = jax.jit(losses.total_correlation_from_logits)(logits)
    np.testing.assert_array_equal(out, logits)
    # D = 0.9 => log(D / (1 - D)) = log 9.
    np.testing.assert_allclose(
        losses.total_correlation_from_logits(np.float32(sp_special.logit(0.9))),
        np.log(9.0),
        rtol=1e-6,
    )

  def test_optimal_discriminator_gives_exact_tc(self):
    # For a bivariate normal with correlation rho, TC = -0.5 log(1 - rho^2).
    # The Bayes-optimal discriminator of q(z) (label 1) vs its permuted
    # version (label 0) has logit log q(z) - log q(z_1) - log q(z_2).
    rho = 0.8
    z, cov = _correlated_gaussian(_rng(30), 20_000, rho)

    def optimal_logit(points):
      return (
          stats.multivariate_normal(np.zeros(2), cov).logpdf(points)
          - stats.norm.logpdf(points).sum(-1)
      ).astype(np.float32)

    tc = losses.total_correlation_from_logits(optimal_logit(z))
    chex.assert_shape(tc, (20_000,))
    np.testing.assert_allclose(
        np.mean(tc), -0.5 * np.log(1.0 - rho**2), rtol=0.03
    )
    # Sign convention: these logits (positive on joint samples) are the
    # ones that the documented discriminator loss prefers, over the negated
    # or constant logits.
    z_perm = np.asarray(
        losses.permute_dims(jax.random.key(0), z.astype(np.float32))
    )

    def disc(sign):
      return np.mean(
          losses.discriminator_loss(
              sign * optimal_logit(z), sign * optimal_logit(z_perm)
          )
      )

    assert disc(1.0) < disc(0.0) < disc(-1.0)

  def test_int_raises(self):
    with pytest.raises(TypeError, match='total_correlation_from_logits'):
      losses.total_correlation_from_logits(np.zeros(3, np.int32))


class TestPermuteDims:

  def test_each_column_is_a_permutation(self):
    z = _rng(40).normal(size=(32, 6)).astype(np.float32)
    out = np.asarray(jax.jit(losses.permute_dims)(jax.random.key(1), z))
    chex.assert_shape(out, z.shape)
    chex.assert_type(out, jnp.float32)
    # Marginals preserved exactly: the same multiset of values per column.
    np.testing.assert_array_equal(np.sort(out, axis=0), np.sort(z, axis=0))
    assert not np.array_equal(out, z)

  def test_columns_permuted_independently(self):
    # Identical columns 0..B-1: each output column is its permutation.
    b, d = 16, 8
    z = np.tile(np.arange(b, dtype=np.float32)[:, None], (1, d))
    out = np.asarray(losses.permute_dims(jax.random.key(2), z))
    for j in range(d):
      np.testing.assert_array_equal(np.sort(out[:, j]), np.arange(b))
    distinct = {tuple(out[:, j]) for j in range(d)}
    assert len(distinct) == d  # same permutation twice: p ~ 28 / 16!
    # Rows are broken up: almost no output row is an input row.
    assert np.mean(np.all(out == out[:, :1], axis=1)) < 0.25

  def test_breaks_dependence_keeps_marginals(self):
    z, _ = _correlated_gaussian(_rng(41), 4000, 0.9)
    z = z.astype(np.float32)
    out = np.asarray(losses.permute_dims(jax.random.key(3), z))
    assert np.corrcoef(z.T)[0, 1] > 0.85
    assert abs(np.corrcoef(out.T)[0, 1]) < 0.06
    np.testing.assert_array_equal(np.sort(out, axis=0), np.sort(z, axis=0))

  def test_deterministic_given_key(self):
    z = _rng(42).normal(size=(20, 3)).astype(np.float32)
    a = losses.permute_dims(jax.random.key(7), z)
    b = jax.jit(losses.permute_dims)(jax.random.key(7), z)
    c = losses.permute_dims(jax.random.key(8), z)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Legacy uint32 keys work too.
    legacy = losses.permute_dims(jax.random.PRNGKey(7), z)
    np.testing.assert_array_equal(np.sort(legacy, axis=0), np.sort(z, axis=0))

  def test_latent_images(self):
    z = _rng(43).normal(size=(10, 2, 2, 3)).astype(np.float32)
    out = np.asarray(losses.permute_dims(jax.random.key(4), z))
    np.testing.assert_array_equal(np.sort(out, axis=0), np.sort(z, axis=0))

  def test_rank_1_raises(self):
    with pytest.raises(
        ValueError, match=r'permute_dims: .*\(5,\).*z\[:, None\]'
    ):
      losses.permute_dims(jax.random.key(0), np.zeros(5, np.float32))
