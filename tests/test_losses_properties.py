"""Property-based tests (hypothesis): the loss library at extreme inputs.

Issue 7 asks that losses stay finite at extreme inputs: logits of +/-1e4,
variances near zero. Each test draws float32 arrays over such ranges (with the
bounds themselves over-weighted) and checks, against float64 NumPy references:

* the value is finite and its gradient is finite, wherever the exact value is
  representable in float32 (the float64 reference below `IN_RANGE`);
* a true invariant (KL >= 0 and == 0 at equality, BCE >= 0, Jensen for the
  IWAE bound, ...), or closeness to a stable closed form.

The domains tested are the ones the docstrings of `ae_jax.losses` state.

Determinism: the `ci` profile (the default) is derandomised, a fixed
example sequence on every run and machine, with a bounded number of
examples. For a longer random search, set ``HYPOTHESIS_PROFILE=hunt``.
Arrays come in a few fixed shapes and values and gradients are computed by
module-level jitted functions, so each loss compiles once per shape rather
than once per example, and the file runs in well under a minute.
"""

import functools
import math
import os

import chex
import hypothesis
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
from scipy import special as sp_special

from ae_jax import losses
from ae_jax import penalties

hypothesis.settings.register_profile(
    'ci',
    derandomize=True,
    deadline=None,  # The first example of each shape pays for compiles.
    max_examples=30,
    print_blob=True,
)
hypothesis.settings.register_profile(
    'hunt', deadline=None, max_examples=2000, print_blob=True
)
hypothesis.settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))

# Event shapes drawn from: few, so that every op compiles a handful of times.
SHAPES = ((3,), (2, 4))
# A float64 reference below this magnitude must come out finite in float32
# (float32's max is 3.4e38; the margin absorbs float32 rounding).
IN_RANGE = 1e37
EPS32 = float(np.finfo(np.float32).eps)
# Absolute slack for values that XLA on CPU flushes from subnormal to zero.
TINY = 1e-37
LOG_2PI = math.log(2.0 * math.pi)
# log N(t; m, exp(lv)) and the prior of gaussian_kl are exact (or +/-inf
# where the exact value overflows, never NaN) at every finite log-variance,
# see `losses._scaled_square`; the smallest subnormal variance float32 can
# hold is exp(-103.3). Drawn down to this, with the former limits (-177.4:
# exp(-lv / 2) overflowed; -354.9: exp(-lv / 4) does) over-weighted.
MIN_LOG_VARIANCE = -1e4
# KLs are finite up to this log-variance (ratio); beyond, exp(lv) / 2
# overflows.
MAX_KL_LOG_VARIANCE = 88.0


def _f32(lo, hi, *edges):
  """float32 elements in ``[lo, hi]``; bounds and `edges` drawn often.

  Subnormal inputs are left out: XLA on CPU flushes them to zero on entry,
  a property of the backend rather than of the losses.
  """
  lo, hi, *edges = (float(np.float32(v)) for v in (lo, hi, *edges))
  return st.one_of(
      st.sampled_from((lo, hi, *edges)),
      st.floats(lo, hi, width=32, allow_subnormal=False),
  )


LOGITS = _f32(-1e4, 1e4, 0.0, -17.0, 20.0)
BINARY = st.sampled_from((0.0, 1.0))
GREY = _f32(0.0, 1.0, 0.5)
MEANS = _f32(-1e4, 1e4, 0.0)
# Near-zero variances (formerly NaN at zero error below -88.7, then below
# -177.4) up to huge ones.
LIKELIHOOD_LOG_VARIANCES = _f32(
    MIN_LOG_VARIANCE,
    1e4,
    -400.0,
    -354.0,
    -200.0,
    -177.5,
    -103.3,
    -88.8,
    -50.0,
    0.0,
    88.8,
)
KL_LOG_VARIANCES = _f32(-1e4, MAX_KL_LOG_VARIANCE, -200.0, 0.0)
MASK = st.sampled_from((0.0, 1.0))


@st.composite
def _arrays(draw, *elements, shapes=SHAPES):
  """float32 arrays of one drawn shape, one per element strategy."""
  shape = draw(st.sampled_from(shapes))
  return tuple(
      draw(hnp.arrays(np.float32, shape, elements=e)) for e in elements
  )


def _f64(*arrays):
  return tuple(np.asarray(a, np.float64) for a in arrays)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _jit_value_and_grads(fn, argnums, *args):
  value = fn(*args)
  grads = jax.grad(lambda *a: jnp.sum(fn(*a)), argnums=argnums)(*args)
  return value, grads


def _value_and_grads(fn, *args, argnums=(0,)):
  """``fn(*args)`` and the gradient of its sum, under `jax.jit`.

  `fn` is a static argument: pass a module-level function (not a fresh
  `functools.partial` per example), so that it compiles once per shape.

  Returns:
    The value and a tuple of one gradient per `argnums`, as float64 NumPy.
  """
  value, grads = _jit_value_and_grads(fn, argnums, *args)
  return np.asarray(value, np.float64), tuple(
      np.asarray(g, np.float64) for g in grads
  )


# Module-level (hashable, long-lived) wrappers for `_value_and_grads`.
_BCE = functools.partial(losses.binary_cross_entropy, event_ndims=0)
_GAUSSIAN_LL = functools.partial(losses.gaussian_log_likelihood, event_ndims=0)
_STANDARD_NORMAL_KL = functools.partial(
    losses.standard_normal_kl, event_ndims=0
)
_GAUSSIAN_KL = functools.partial(losses.gaussian_kl, event_ndims=0)
_MMD = {
    (kernel, unbiased): functools.partial(
        losses.mmd, kernel=kernel, unbiased=unbiased
    )
    for kernel in ('imq', 'rbf')
    for unbiased in (True, False)
}


def _capacity_kl(kl, capacity, gamma):
  return losses.capacity_kl(kl, capacity=capacity, gamma=gamma)


def _kl_sparsity(mean_activation, target):
  return penalties.kl_sparsity(mean_activation, target=target)


def _assert_finite_where(mask, *arrays):
  """Every element of every array is finite where `mask` holds."""
  for i, a in enumerate(arrays):
    bad = mask & ~np.isfinite(a)
    assert not bad.any(), f'array {i} not finite at {np.argwhere(bad)}: {a}'


def _assert_close_where(mask, out, ref, tol):
  err = np.abs(np.asarray(out, np.float64) - ref)
  bad = mask & ~(err <= tol + TINY)
  tol = np.broadcast_to(tol, bad.shape)
  assert not bad.any(), f'out {out[bad]} != ref {ref[bad]} (tol {tol[bad]})'


# ---------------------------------------------------------------------------
# Logit losses: finite for all finite logits.
# ---------------------------------------------------------------------------


@hypothesis.given(_arrays(LOGITS, st.one_of(BINARY, GREY)))
def test_binary_cross_entropy_matches_stable_closed_form(arrays):
  logits, targets = arrays
  bce, (grad,) = _value_and_grads(_BCE, logits, targets)
  x, t = _f64(logits, targets)
  # The stable closed form, in float64: log(1 + exp(-|x|)) + max(x, 0) - x t,
  # accurate to rounding of the |x|-sized terms that cancel.
  closed_form = np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0) - x * t
  everywhere = np.ones(x.shape, bool)
  _assert_close_where(
      everywhere, bce, closed_form, 4 * EPS32 * (1.0 + np.abs(x))
  )
  # Binary targets: softplus(-x) or softplus(x), no cancellation, so the
  # result is relatively exact even where it is tiny (t = 1, x = 22: 2.8e-10).
  softplus = lambda v: np.log1p(np.exp(-np.abs(v))) + np.maximum(v, 0.0)
  binary = (t == 0.0) | (t == 1.0)
  exact = np.where(t == 1.0, softplus(-x), softplus(x))
  _assert_close_where(binary, bce, exact, 4 * EPS32 * exact)
  assert np.all(np.asarray(bce) >= 0.0)
  # Eager and under jit agree (to rounding: XLA may fuse differently).
  np.testing.assert_allclose(
      bce,
      -np.asarray(
          losses.bernoulli_log_likelihood(logits, targets, event_ndims=0)
      ),
      rtol=4 * EPS32,
      atol=TINY,
  )
  # d/dx = sigmoid(x) - t, in [-1, 1].
  np.testing.assert_allclose(grad, sp_special.expit(x) - t, atol=1e-6)


@hypothesis.given(_arrays(LOGITS, BINARY))
def test_bernoulli_log_likelihood_sums_finitely_under_jit(arrays):
  logits, targets = arrays
  value, grad = _value_and_grads(
      losses.bernoulli_log_likelihood, logits, targets
  )
  chex.assert_tree_all_finite((value, grad))
  value = np.sum(value)
  x, t = _f64(logits, targets)
  ref = -np.sum(np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0) - x * t)
  np.testing.assert_allclose(
      value, ref, rtol=1e-6, atol=4 * EPS32 * np.sum(np.abs(x))
  )
  assert value <= 0.0


@hypothesis.given(_arrays(LOGITS, LOGITS))
def test_adversarial_losses_are_stable_softplus(arrays):
  real, fake = arrays
  r, f = _f64(real, fake)
  # -log sigmoid(r) - log(1 - sigmoid(f)) = softplus(-r) + softplus(f).
  softplus = lambda v: np.logaddexp(v, 0.0)
  d_loss, (d_real, d_fake) = _value_and_grads(
      losses.discriminator_loss, real, fake, argnums=(0, 1)
  )
  d_ref = softplus(-r) + softplus(f)
  np.testing.assert_allclose(d_loss, d_ref, rtol=4 * EPS32, atol=TINY)
  g_loss, (g_fake,) = _value_and_grads(losses.generator_loss, fake)
  np.testing.assert_allclose(g_loss, softplus(-f), rtol=4 * EPS32, atol=TINY)
  assert np.all(np.asarray(d_loss) >= 0) and np.all(np.asarray(g_loss) >= 0)
  np.testing.assert_allclose(d_real, -sp_special.expit(-r), atol=1e-6)
  np.testing.assert_allclose(d_fake, sp_special.expit(f), atol=1e-6)
  # Non-saturating: the gradient is near -1, not 0, for rejected fakes.
  np.testing.assert_allclose(g_fake, -sp_special.expit(-f), atol=1e-6)


@hypothesis.given(_arrays(LOGITS))
def test_total_correlation_is_the_logits(arrays):
  (logits,) = arrays
  tc, (grad,) = _value_and_grads(losses.total_correlation_from_logits, logits)
  np.testing.assert_array_equal(tc, logits)
  np.testing.assert_array_equal(grad, np.ones_like(grad))


# ---------------------------------------------------------------------------
# Squared errors.
# ---------------------------------------------------------------------------


@hypothesis.given(_arrays(MEANS, MEANS, MASK))
def test_squared_errors_are_non_negative_and_zero_at_equality(arrays):
  predictions, targets, same = arrays
  targets = np.where(same == 1.0, predictions, targets)
  p, t = _f64(predictions, targets)
  for fn, reduce in (
      (losses.squared_error, np.sum),
      (losses.mean_squared_error, np.mean),
  ):
    out, (grad,) = _value_and_grads(fn, predictions, targets)
    ref = reduce((p - t) ** 2, axis=-1)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=TINY)
    assert np.all(out >= 0.0)
    np.testing.assert_array_equal(out[np.all(p == t, axis=-1)], 0.0)
    scale = 1.0 if reduce is np.sum else 1.0 / p.shape[-1]
    # atol: XLA on CPU flushes float32 subnormals (< 1.2e-38) to zero.
    np.testing.assert_allclose(
        grad, 2.0 * scale * (p - t), rtol=1e-6, atol=TINY
    )


# ---------------------------------------------------------------------------
# Gaussian likelihood and KLs: variances near zero, and huge.
# ---------------------------------------------------------------------------


@hypothesis.given(_arrays(MEANS, MEANS, LIKELIHOOD_LOG_VARIANCES, MASK))
def test_gaussian_log_likelihood_finite_wherever_representable(arrays):
  mean, targets, log_variance, same = arrays
  targets = np.where(same == 1.0, mean, targets)
  out, (g_mean, g_lv) = _value_and_grads(
      _GAUSSIAN_LL, mean, log_variance, targets, argnums=(0, 1)
  )

  m, lv, t = _f64(mean, log_variance, targets)
  with np.errstate(over='ignore', invalid='ignore'):
    precision = np.exp(-lv)
    scaled = np.where(t == m, 0.0, (t - m) ** 2 * precision)
    ref = -0.5 * (LOG_2PI + lv + scaled)
    ref_g_mean = np.where(t == m, 0.0, (t - m) * precision)
    ref_g_lv = -0.5 * (1.0 - scaled)
  in_range = (np.abs(ref) < IN_RANGE) & (np.abs(ref_g_mean) < IN_RANGE)
  _assert_finite_where(in_range, out, g_mean, g_lv)
  # Relative to the size of each term: lv and the scaled square can cancel.
  _assert_close_where(
      in_range, out, ref, 8 * EPS32 * (np.abs(lv) + scaled + LOG_2PI)
  )
  _assert_close_where(
      in_range, g_mean, ref_g_mean, 8 * EPS32 * np.abs(ref_g_mean)
  )
  _assert_close_where(in_range, g_lv, ref_g_lv, 8 * EPS32 * (scaled + 1.0))
  assert not np.isnan(out).any()


@hypothesis.given(
    _arrays(MEANS, _f32(MIN_LOG_VARIANCE, -88.8, -177.5, -200.0, -400.0))
)
def test_gaussian_log_likelihood_at_zero_error_below_precision_overflow(
    arrays,
):
  # Regression: exp(-lv) overflows for lv < -88.7, and (t - m)^2 * exp(-lv)
  # was 0 * inf = NaN for t == m, for variances float32 still holds; then
  # (issue 14) (t - m) * exp(-lv / 2) was NaN the same way below -177.4.
  mean, log_variance = arrays
  out, (g_mean, g_lv) = _value_and_grads(
      _GAUSSIAN_LL, mean, log_variance, mean, argnums=(0, 1)
  )
  np.testing.assert_allclose(
      out, -0.5 * (LOG_2PI + log_variance.astype(np.float64)), rtol=1e-6
  )
  np.testing.assert_array_equal(g_mean, 0.0)
  np.testing.assert_array_equal(g_lv, -0.5)


@hypothesis.given(_arrays(MEANS, KL_LOG_VARIANCES, MASK))
def test_standard_normal_kl_non_negative_and_finite(arrays):
  mean, log_variance, at_prior = arrays
  mean = np.where(at_prior == 1.0, 0.0, mean).astype(np.float32)
  log_variance = np.where(at_prior == 1.0, 0.0, log_variance).astype(np.float32)
  out, (g_mean, g_lv) = _value_and_grads(
      _STANDARD_NORMAL_KL, mean, log_variance, argnums=(0, 1)
  )
  chex.assert_tree_all_finite((out, g_mean, g_lv))
  m, lv = _f64(mean, log_variance)
  ref = 0.5 * (np.expm1(lv) - lv + m**2)
  _assert_close_where(
      np.ones(out.shape, bool),
      out,
      ref,
      4 * EPS32 * (np.abs(np.expm1(lv)) + np.abs(lv) + m**2) + TINY,
  )
  assert np.all(out >= 0.0)
  np.testing.assert_array_equal(out[at_prior == 1.0], 0.0)
  np.testing.assert_allclose(g_mean, m, rtol=1e-6)
  np.testing.assert_allclose(g_lv, 0.5 * np.expm1(lv), rtol=1e-5, atol=1e-7)


@hypothesis.given(
    _arrays(
        MEANS,
        LIKELIHOOD_LOG_VARIANCES,
        MEANS,
        LIKELIHOOD_LOG_VARIANCES,
        MASK,
    )
)
def test_gaussian_kl_non_negative_zero_at_equality_and_finite(arrays):
  mean, log_variance, prior_mean, prior_log_variance, same = arrays
  # Some elements with q == p exactly, at any log-variance.
  prior_mean = np.where(same == 1.0, mean, prior_mean).astype(np.float32)
  prior_log_variance = np.where(
      same == 1.0, log_variance, prior_log_variance
  ).astype(np.float32)
  args = (mean, log_variance, prior_mean, prior_log_variance)
  out, (g_mean, g_lv) = _value_and_grads(_GAUSSIAN_KL, *args, argnums=(0, 1))

  mq, lvq, mp, lvp = _f64(*args)
  with np.errstate(over='ignore', invalid='ignore'):
    ratio = lvq - lvp
    scaled = np.where(mq == mp, 0.0, (mq - mp) ** 2 * np.exp(-lvp))
    ref = 0.5 * (np.expm1(ratio) - ratio + scaled)
    ref_g_mean = np.where(mq == mp, 0.0, (mq - mp) * np.exp(-lvp))
  in_range = (
      (ratio <= MAX_KL_LOG_VARIANCE)
      & (np.abs(ref) < IN_RANGE)
      & (np.abs(ref_g_mean) < IN_RANGE)
  )
  _assert_finite_where(in_range, out, g_mean, g_lv)
  _assert_close_where(
      in_range,
      out,
      ref,
      8 * EPS32 * (np.abs(np.expm1(ratio)) + np.abs(ratio) + scaled) + TINY,
  )
  # Everywhere, even where the KL overflows: never NaN, never negative.
  assert not np.isnan(out).any() and np.all(out >= 0.0)
  np.testing.assert_array_equal(out[same == 1.0], 0.0)
  np.testing.assert_array_equal(g_mean[same == 1.0], 0.0)
  np.testing.assert_array_equal(g_lv[same == 1.0], 0.0)


@hypothesis.given(_arrays(MEANS, KL_LOG_VARIANCES))
def test_gaussian_kl_to_standard_normal_is_standard_normal_kl(arrays):
  mean, log_variance = arrays
  np.testing.assert_allclose(
      losses.gaussian_kl(mean, log_variance, 0.0, 0.0),
      losses.standard_normal_kl(mean, log_variance),
      rtol=1e-6,
  )


# ---------------------------------------------------------------------------
# The objectives built from them.
# ---------------------------------------------------------------------------


@chex.assert_max_traces(n=2)
def _negative_elbo(logits, x, mean, log_variance, beta):
  bound = losses.elbo(
      losses.bernoulli_log_likelihood(logits, x),
      losses.standard_normal_kl(mean, log_variance),
      beta=beta,
  )
  return -jnp.mean(bound.elbo), bound


_NEGATIVE_ELBO_AND_GRAD = jax.jit(
    jax.value_and_grad(_negative_elbo, argnums=(0, 2, 3), has_aux=True)
)


@st.composite
def _vae_batches(draw):
  batch = draw(st.sampled_from((1, 3)))
  f32 = lambda shape, e: draw(hnp.arrays(np.float32, shape, elements=e))
  return (
      f32((batch, 6), LOGITS),
      f32((batch, 6), BINARY),
      f32((batch, 2), MEANS),
      # beta * KL stays representable: exp(50) * 1e3 is 5e24.
      f32((batch, 2), _f32(-1e4, 50.0, MIN_LOG_VARIANCE, 0.0)),
      draw(_f32(0.0, 1e3, 1.0)),
  )


@hypothesis.given(_vae_batches())
def test_vae_objective_and_gradients_finite_under_jit(batch):
  logits, x, mean, log_variance, beta = batch
  (loss, bound), grads = _NEGATIVE_ELBO_AND_GRAD(
      logits, x, mean, log_variance, beta
  )
  chex.assert_tree_all_finite((loss, bound, grads))
  # beta and the per-example terms combine exactly as documented.
  np.testing.assert_allclose(
      bound.elbo, bound.log_likelihood - np.float32(beta) * bound.kl, rtol=1e-6
  )
  assert np.all(np.asarray(bound.kl) >= 0.0)
  assert np.all(np.asarray(bound.log_likelihood) <= 0.0)


LOG_WEIGHTS = _f32(-1e30, 1e30, -1e4, 1e4, 0.0)


@hypothesis.given(
    _arrays(LOG_WEIGHTS, shapes=((1, 3), (4, 3), (5,))),
)
def test_iwae_bound_between_mean_and_max_log_weight(arrays):
  (log_weights,) = arrays
  out, (grad,) = _value_and_grads(losses.iwae_bound, log_weights)
  w = np.asarray(log_weights, np.float64)
  k = w.shape[0]
  chex.assert_tree_all_finite(out)
  # Jensen: mean_k(log w) <= log mean_k(w) <= max_k(log w); and the mean of
  # K terms is at least exp(max) / K.
  tol = 4 * EPS32 * np.max(np.abs(w), axis=0) + 1e-5
  assert np.all(out >= np.mean(w, axis=0) - tol)
  assert np.all(out <= np.max(w, axis=0) + tol)
  assert np.all(out >= np.max(w, axis=0) - math.log(k) - tol)
  if k == 1:
    np.testing.assert_array_equal(out, w[0])
  # The gradient is the self-normalised weights softmax_k(log w).
  chex.assert_tree_all_finite(grad)
  assert np.all(grad >= 0.0)
  np.testing.assert_allclose(np.sum(grad, axis=0), 1.0, rtol=1e-5)
  np.testing.assert_allclose(grad, sp_special.softmax(w, axis=0), atol=1e-6)


_IWAE_BOUND_PER_EXAMPLE = jax.jit(jax.vmap(losses.iwae_bound, in_axes=1))


@hypothesis.given(_arrays(LOG_WEIGHTS, shapes=((4, 3),)))
def test_iwae_bound_vmapped_over_batch_matches_batched(arrays):
  (log_weights,) = arrays
  np.testing.assert_array_equal(
      _IWAE_BOUND_PER_EXAMPLE(log_weights), losses.iwae_bound(log_weights)
  )


# ---------------------------------------------------------------------------
# MMD.
# ---------------------------------------------------------------------------

# One shape each: every kernel / estimator compiles once (seconds each).
MMD_SHAPES = ((4, 3),)
# Codes of a diverging encoder: ||x||^2 overflows float32 beyond ~1e19, and
# the distances were inf - inf = NaN (issue 14).
MMD_CODES = _f32(-1e20, 1e20, 0.0, 1.0, -1e4, 1e4, 1e19)


@hypothesis.given(
    _arrays(MMD_CODES, MMD_CODES, shapes=MMD_SHAPES),
    st.sampled_from(('imq', 'rbf')),
    st.booleans(),
)
def test_mmd_finite_with_finite_gradients_at_extremes(arrays, kernel, unbiased):
  x, y = arrays
  out, grads = _value_and_grads(_MMD[kernel, unbiased], x, y, argnums=(0, 1))
  chex.assert_tree_all_finite((out, grads))
  # Each term is a mean of kernels in [0, 1] per scale: |MMD^2| <= 2 * #scales.
  assert abs(float(out)) <= 2.0 * 7 + 1e-5


def _mmd_cancellation_bound(x, y):
  """Worst-case float32 error of the V-statistic with the default scales.

  ``||a||^2 + ||b||^2 - 2 a.b`` (`losses._squared_distances`) is off by up to
  about ``(D + 2) eps (||a||^2 + ||b||^2)``; both default kernels have slope
  at most ``1 / (2 D c)`` in ``d2`` per relative width ``c``; and the
  statistic adds four kernel means' worth of such errors.
  """
  dim = x.shape[1]
  sq = max(np.max(np.sum(np.square(v, dtype=np.float64), -1)) for v in (x, y))
  # pylint: disable-next=protected-access
  widths = np.asarray(losses._MMD_RELATIVE_WIDTHS)
  slope = np.sum(1.0 / (2.0 * dim * widths))
  return 4.0 * (dim + 2) * EPS32 * 2.0 * sq * slope + 1e-6


@hypothesis.given(
    _arrays(_f32(-10.0, 10.0, 0.0), _f32(-10.0, 10.0), shapes=MMD_SHAPES),
    st.sampled_from(('imq', 'rbf')),
)
def test_mmd_v_statistic_non_negative_and_zero_for_identical_sets(
    arrays, kernel
):
  # The V-statistic is a squared distance between kernel mean embeddings:
  # >= 0, and 0 for identical sets, up to the rounding of the distances.
  x, y = arrays
  fn = _MMD[kernel, False]
  assert float(fn(x, y)) >= -_mmd_cancellation_bound(x, y)
  np.testing.assert_allclose(fn(x, x), 0.0, atol=_mmd_cancellation_bound(x, x))


# ---------------------------------------------------------------------------
# Controlled capacity and FactorVAE.
# ---------------------------------------------------------------------------


@hypothesis.given(
    _arrays(MEANS, _f32(0.0, 1e4, 25.0), MASK), _f32(0.0, 1e3, 1000.0)
)
def test_capacity_kl_is_gamma_times_distance(arrays, gamma):
  kl, capacity, same = arrays
  kl = np.where(same == 1.0, capacity, kl).astype(np.float32)
  out, (grad,) = _value_and_grads(_capacity_kl, kl, capacity, np.float32(gamma))
  k, c = _f64(kl, capacity)
  np.testing.assert_allclose(
      out, np.float32(gamma) * np.abs(k - c), rtol=1e-6, atol=TINY
  )
  assert np.all(np.asarray(out) >= 0.0)
  np.testing.assert_array_equal(np.asarray(out)[same == 1.0], 0.0)
  # The subgradient 0 at kl == capacity, +/-gamma elsewhere.
  np.testing.assert_array_equal(grad, np.float32(gamma) * np.sign(k - c))


@hypothesis.given(
    st.integers(-(2**31), 2**31 - 1),
    _f32(0.0, 1e4, 25.0),
    st.integers(1, 10**6),
)
def test_capacity_schedule_stays_in_range(step, max_capacity, num_steps):
  out = float(
      losses.capacity_schedule(
          np.int32(step), max_capacity=max_capacity, num_steps=num_steps
      )
  )
  assert 0.0 <= out <= max_capacity
  expected = max_capacity * min(max(step / num_steps, 0.0), 1.0)
  np.testing.assert_allclose(out, expected, rtol=1e-6, atol=TINY)


@hypothesis.given(
    _arrays(MEANS, shapes=((2, 1), (5, 3))), st.integers(0, 2**32 - 1)
)
def test_permute_dims_permutes_each_column(arrays, seed):
  (z,) = arrays
  out = np.asarray(losses.permute_dims(jax.random.key(seed), z))
  # Every column is a permutation of itself: the marginals are exact.
  np.testing.assert_array_equal(np.sort(out, axis=0), np.sort(z, axis=0))


# ---------------------------------------------------------------------------
# Penalties.
# ---------------------------------------------------------------------------


@hypothesis.given(_arrays(_f32(0.0, 1.0, 0.05)), _f32(1e-6, 1.0 - 1e-6, 0.05))
def test_kl_sparsity_finite_for_dead_and_saturated_units(arrays, target):
  (mean_activation,) = arrays
  target = np.float32(target)
  out, (grad,) = _value_and_grads(_kl_sparsity, mean_activation, target)
  chex.assert_tree_all_finite((out, grad))
  assert float(out) >= -1e-6
  at_target, _ = _value_and_grads(
      _kl_sparsity, np.full_like(mean_activation, target), target
  )
  np.testing.assert_allclose(at_target, 0.0, atol=1e-6)


@hypothesis.given(_arrays(MEANS))
def test_l1_activity_is_sum_of_magnitudes(arrays):
  (codes,) = arrays
  out, (grad,) = _value_and_grads(penalties.l1_activity, codes)
  np.testing.assert_allclose(
      out,
      np.sum(np.abs(codes.astype(np.float64)), axis=-1),
      rtol=1e-6,
      atol=TINY,
  )
  np.testing.assert_array_equal(grad, np.sign(codes))
