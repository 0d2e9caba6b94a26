"""Tests for `ae_jax.metrics`: baselines and code statistics."""

import chex
import jax.numpy as jnp
import numpy as np
import pytest
from ae_jax.metrics import batching
from ae_jax.metrics import code_stats
from ae_jax.metrics import image_quality
from ae_jax.metrics import pca
from ae_jax.metrics import probes


def _rng(seed=0):
  return np.random.default_rng(seed)


def _hand_pca(train, test, k):
  """float64 PCA by SVD of the centred train matrix: (test codes, recon)."""
  train = train.reshape(len(train), -1).astype(np.float64)
  test = test.reshape(len(test), -1).astype(np.float64)
  mean = train.mean(axis=0)
  _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
  v = vt[:k].T  # [D, k] principal axes.
  codes = (test - mean) @ v
  return codes, mean + codes @ v.T


# ---------------------------------------------------------------------------
# PCA baseline.
# ---------------------------------------------------------------------------


class TestPCA:

  def test_mse_matches_hand_svd(self):
    rng = _rng(0)
    train, test = rng.normal(size=(40, 12)), rng.normal(size=(15, 12))
    _, recon = _hand_pca(train, test, 5)
    expected = np.mean((recon - test) ** 2)
    mse = pca.pca_reconstruction_mse(train, test, num_components=5)
    assert isinstance(mse, float)
    np.testing.assert_allclose(mse, expected, rtol=1e-8)

  def test_image_shaped_inputs_are_flattened(self):
    rng = _rng(1)
    train = rng.uniform(size=(30, 3, 4, 1)).astype(np.float32)
    test = rng.uniform(size=(10, 3, 4, 1)).astype(np.float32)
    images = pca.pca_reconstruction_mse(train, test, num_components=4)
    flat = pca.pca_reconstruction_mse(
        train.reshape(30, -1), test.reshape(10, -1), num_components=4
    )
    _, recon = _hand_pca(train, test, 4)
    np.testing.assert_allclose(images, flat, rtol=1e-6)
    np.testing.assert_allclose(
        images, np.mean((recon - test.reshape(10, -1)) ** 2), rtol=1e-4
    )

  def test_mse_is_zero_at_the_rank_of_the_data(self):
    # Points on a 3-d affine subspace of R^12: PCA centres, so 3 components
    # reconstruct unseen points of the same subspace exactly.
    rng = _rng(2)
    offset, basis = rng.normal(size=12), rng.normal(size=(3, 12))
    train = offset + rng.normal(size=(40, 3)) @ basis
    test = offset + rng.normal(size=(10, 3)) @ basis
    at_rank = pca.pca_reconstruction_mse(train, test, num_components=3)
    below = pca.pca_reconstruction_mse(train, test, num_components=2)
    assert at_rank < 1e-20
    assert below > 1e-2

  def test_mse_decreases_with_num_components(self):
    rng = _rng(3)
    # Anisotropic data, so that the components matter unequally.
    scale = np.linspace(2.0, 0.1, 16)
    train = rng.normal(size=(80, 16)) * scale
    test = rng.normal(size=(20, 16)) * scale
    mses = [
        pca.pca_reconstruction_mse(train, test, num_components=k)
        for k in range(1, 17)
    ]
    assert np.all(np.diff(mses) < 0), mses
    assert mses[-1] < 1e-20  # All 16 components: the identity.

  def test_codes_match_hand_svd_up_to_sign(self):
    rng = _rng(4)
    train, test = rng.normal(size=(50, 10)), rng.normal(size=(7, 10))
    train_codes, test_codes = pca.pca_codes(train, test, num_components=3)
    chex.assert_shape(train_codes, (50, 3))
    chex.assert_shape(test_codes, (7, 3))
    expected_train, _ = _hand_pca(train, train, 3)
    expected_test, _ = _hand_pca(train, test, 3)
    # Each principal axis is defined up to its sign; fix it on train.
    signs = np.sign(np.sum(train_codes * expected_train, axis=0))
    np.testing.assert_allclose(train_codes * signs, expected_train, atol=1e-10)
    np.testing.assert_allclose(test_codes * signs, expected_test, atol=1e-10)

  @pytest.mark.parametrize('fn', ['pca_reconstruction_mse', 'pca_codes'])
  def test_bad_inputs_raise(self, fn):
    fn = getattr(pca, fn)
    x = _rng(5).uniform(size=(10, 6))
    with pytest.raises(ValueError, match=r'num_components <= 6'):
      fn(x, x, num_components=7)  # More than the 6 features.
    with pytest.raises(ValueError, match=r'num_components <= 4'):
      fn(x[:4], x, num_components=5)  # More than the 4 train examples.
    with pytest.raises(ValueError, match='positive int'):
      fn(x, x, num_components=0)
    with pytest.raises(ValueError, match='same per-example shape'):
      fn(x, x[:, :5], num_components=2)
    with pytest.raises(ValueError, match='NaN'):
      fn(np.where(x > 0.9, np.nan, x), x, num_components=2)
    with pytest.raises(ValueError, match='empty'):
      fn(x, x[:0], num_components=2)
    with pytest.raises(ValueError, match='example axis'):
      fn(x[0], x, num_components=2)
    with pytest.raises(TypeError, match='real dtype'):
      fn(x.astype(np.complex64), x, num_components=2)


# ---------------------------------------------------------------------------
# Linear probe.
# ---------------------------------------------------------------------------


def _separable(seed, n, num_classes=3, dim=5):
  rng = _rng(seed)
  w = _rng(100).normal(size=(dim, num_classes))  # Same classes for all seeds.
  x = rng.normal(size=(n, dim)).astype(np.float32)
  return x, np.argmax(x @ w, axis=1)


class TestLinearProbe:

  def test_linearly_separable_data_is_classified(self):
    acc = probes.linear_probe_accuracy(*_separable(0, 600), *_separable(1, 500))
    assert isinstance(acc, float)
    assert acc >= 0.97

  def test_random_labels_give_chance(self):
    rng = _rng(2)
    x_train, x_test = rng.normal(size=(400, 10)), rng.normal(size=(2000, 10))
    y_train, y_test = rng.integers(0, 4, 400), rng.integers(0, 4, 2000)
    acc = probes.linear_probe_accuracy(x_train, y_train, x_test, y_test)
    assert abs(acc - 0.25) < 0.04

  def test_scale_of_features_does_not_matter(self):
    # Standardisation: scaling the codes by 1e3 gives the same probe.
    (x_train, y_train), (x_test, y_test) = _separable(3, 300), _separable(
        4, 200
    )
    x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
    small = probes.linear_probe_accuracy(x_train, y_train, x_test, y_test)
    large = probes.linear_probe_accuracy(
        1e3 * x_train, y_train, 1e3 * x_test, y_test
    )
    assert small == large

  def test_num_train_subsample(self):
    train, test = _separable(5, 600), _separable(6, 500)
    full = probes.linear_probe_accuracy(*train, *test)
    assert probes.linear_probe_accuracy(*train, *test, num_train=600) == full
    few = [
        probes.linear_probe_accuracy(*train, *test, num_train=9, seed=s)
        for s in (0, 0, 1)
    ]
    assert few[0] == few[1]  # Seeded.
    assert 1 / 3 < few[0] < full  # Learns something, less than from 600.

  def test_num_train_is_stratified(self):
    # 1 in 20 examples is of class 1: a 20-example subsample keeps exactly one
    # of them for every seed (an unstratified draw would often have none, and
    # logistic regression would refuse to fit a single class).
    rng = _rng(7)
    x = rng.normal(size=(400, 2))
    y = (np.arange(400) % 20 == 0).astype(np.int32)
    x[y == 1] += 5.0
    for seed in range(10):
      acc = probes.linear_probe_accuracy(x, y, x, y, num_train=20, seed=seed)
      assert acc > 0.95

  def test_bad_inputs_raise(self):
    x, y = _separable(8, 50)
    probe = probes.linear_probe_accuracy
    with pytest.raises(ValueError, match='between the number of classes'):
      probe(x, y, x, y, num_train=51)
    with pytest.raises(ValueError, match='between the number of classes'):
      probe(x, y, x, y, num_train=2)  # Fewer than the 3 classes.
    # Too few left out to hold every class: scikit-learn's error before.
    with pytest.raises(ValueError, match='N_train - 3 = 47'):
      probe(x, y, x, y, num_train=49)
    with pytest.raises(ValueError, match='at least two classes'):
      probe(x, np.zeros(50, np.int32), x, y)
    with pytest.raises(ValueError, match=r'shape \(50,\)'):
      probe(x, y[:49], x, y)
    with pytest.raises(ValueError, match='same per-example shape'):
      probe(x, y, x[:, :4], y)
    with pytest.raises(ValueError, match='NaN'):
      probe(x, y, np.full_like(x, np.nan), y)
    with pytest.raises(ValueError, match='empty'):
      probe(x[:0], y[:0], x, y)
    with pytest.raises(TypeError, match='integer class ids'):
      probe(x, y.astype(np.float32), x, y)
    with pytest.raises(ValueError, match='single training example'):
      y_rare = np.where(np.arange(50) == 0, 7, y)
      probe(x, y_rare, x, y, num_train=20)


# ---------------------------------------------------------------------------
# PSNR.
# ---------------------------------------------------------------------------


class TestPSNR:

  def test_matches_formula(self):
    rng = _rng(9)
    clean = rng.uniform(size=(4, 5, 5, 3)).astype(np.float32)
    other = np.clip(clean + 0.1 * rng.normal(size=clean.shape), 0, 1)
    out = image_quality.psnr(clean, other)
    chex.assert_shape(out, (4,))
    mse = np.mean((clean.astype(np.float64) - other) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(out, 10 * np.log10(1.0 / mse), rtol=1e-6)

  def test_hand_values(self):
    clean = np.zeros((2, 8))
    other = np.stack([np.full(8, 0.1), np.zeros(8)])
    # MSE 0.01 -> 20 dB; identical images -> +inf.
    np.testing.assert_allclose(image_quality.psnr(clean, other), [20.0, np.inf])
    np.testing.assert_allclose(
        image_quality.psnr(255 * clean, 255 * other, max_value=255.0),
        [20.0, np.inf],
    )

  def test_bad_inputs_raise(self):
    x = _rng(10).uniform(size=(3, 4))
    with pytest.raises(ValueError, match='max_value'):
      image_quality.psnr(255 * x, x)  # 8-bit values scored as [0, 1].
    with pytest.raises(ValueError, match='max_value must be > 0'):
      image_quality.psnr(x, x, max_value=0.0)
    with pytest.raises(ValueError, match='same layout'):
      image_quality.psnr(x, x.reshape(3, 2, 2))
    with pytest.raises(ValueError, match='NaN'):
      image_quality.psnr(x, np.full_like(x, np.nan))
    with pytest.raises(ValueError, match='empty'):
      image_quality.psnr(x[:0], x[:0])


# ---------------------------------------------------------------------------
# SSIM.
# ---------------------------------------------------------------------------


def _brute_ssim(a, b, size, max_value=1.0, sigma=1.5):
  """Mean SSIM of two [H, W, C] images, window by window, in float64."""
  offsets = np.arange(size) - (size - 1) / 2
  g = np.exp(-0.5 * (offsets / sigma) ** 2)
  w = np.outer(g, g) / np.sum(g) ** 2  # Truncated, renormalised Gaussian.
  c1, c2 = (0.01 * max_value) ** 2, (0.03 * max_value) ** 2
  h, wd, c = a.shape
  values = []
  for i in range(h - size + 1):
    for j in range(wd - size + 1):
      for ch in range(c):
        pa = a[i : i + size, j : j + size, ch].astype(np.float64)
        pb = b[i : i + size, j : j + size, ch].astype(np.float64)
        mu_a, mu_b = np.sum(w * pa), np.sum(w * pb)
        var_a = np.sum(w * (pa - mu_a) ** 2)
        var_b = np.sum(w * (pb - mu_b) ** 2)
        cov = np.sum(w * (pa - mu_a) * (pb - mu_b))
        values.append(
            (2 * mu_a * mu_b + c1)
            * (2 * cov + c2)
            / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
        )
  return np.mean(values)


def _noisy(clean, sigma, seed):
  noise = _rng(seed).normal(size=clean.shape)
  return np.clip(clean + sigma * noise, 0, 1)


class TestSSIM:

  def test_matches_skimage_with_the_wang_window(self):
    metrics = pytest.importorskip('skimage.metrics')
    rng = _rng(20)
    # Smooth-ish images (a random field blurred by averaging neighbours).
    field = rng.uniform(size=(3, 30, 30))
    clean = (field[:, 1:-1, 1:-1] + field[:, 2:, 1:-1] + field[:, 1:-1, 2:]) / 3
    other = _noisy(clean, 0.15, 21)
    out = image_quality.ssim(clean, other, image_shape=(28, 28))
    expected = [
        metrics.structural_similarity(
            a,
            b,
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for a, b in zip(clean, other)
    ]
    np.testing.assert_allclose(out, expected, atol=2e-5)
    # Colour: each channel separately, then the mean (skimage channel_axis).
    clean3 = rng.uniform(size=(2, 12, 15, 3))
    other3 = _noisy(clean3, 0.1, 22)
    out3 = image_quality.ssim(
        clean3.reshape(2, -1), other3.reshape(2, -1), image_shape=(12, 15, 3)
    )
    expected3 = [
        metrics.structural_similarity(
            a,
            b,
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            channel_axis=-1,
        )
        for a, b in zip(clean3, other3)
    ]
    np.testing.assert_allclose(out3, expected3, atol=2e-5)

  @pytest.mark.parametrize('shape', [(8, 8, 1), (11, 11, 1), (9, 14, 2)])
  def test_matches_brute_force_windows(self, shape):
    # 8x8 digits get the largest odd window that fits (7x7), 11x11 images
    # the full 11x11 window, a single position (one window = the image).
    rng = _rng(23)
    clean = rng.uniform(size=(3, *shape))
    other = _noisy(clean, 0.2, 24)
    size = min(11, shape[0], shape[1])
    size -= 1 - size % 2
    expected = [_brute_ssim(a, b, size) for a, b in zip(clean, other)]
    out = image_quality.ssim(clean, other, image_shape=shape)
    np.testing.assert_allclose(out, expected, atol=2e-6)
    out5 = image_quality.ssim(clean, other, image_shape=shape, filter_size=5)
    np.testing.assert_allclose(
        out5, [_brute_ssim(a, b, 5) for a, b in zip(clean, other)], atol=2e-6
    )

  @pytest.mark.parametrize('side', [8, 28])
  def test_constant_images_closed_form(self, side):
    # No variance anywhere: SSIM = (2ab + C1) / (a^2 + b^2 + C1) exactly.
    # (dm_pix with its 11x11 window on 8x8 images gives 0.648 for 0.3 / 0.6.)
    a, b = np.array([0.3, 0.0, 1.0]), np.array([0.6, 0.5, 1.0])
    clean = np.ones((3, side * side)) * a[:, None]
    other = np.ones((3, side * side)) * b[:, None]
    c1 = 0.01**2
    expected = (2 * a * b + c1) / (a**2 + b**2 + c1)
    np.testing.assert_allclose(
        image_quality.ssim(clean, other, image_shape=(side, side)),
        expected,
        rtol=1e-4,  # float32 variances of constant windows: ~1e-8, not 0.
    )
    np.testing.assert_allclose(expected[0], 0.80004, atol=1e-5)
    # On 0-255 images the constants scale with max_value: same values.
    np.testing.assert_allclose(
        image_quality.ssim(
            255 * clean, 255 * other, image_shape=(side, side), max_value=255
        ),
        expected,
        rtol=1e-4,  # float32 variances of constant windows: ~1e-8, not 0.
    )

  def test_identity_symmetry_noise_and_range(self):
    clean = _rng(25).uniform(size=(20, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(
        image_quality.ssim(clean, clean, image_shape=(28, 28, 1)),
        1.0,
        atol=1e-6,
    )
    noisy = _noisy(clean, 0.2, 26)
    forward = image_quality.ssim(clean, noisy, image_shape=(28, 28, 1))
    backward = image_quality.ssim(noisy, clean, image_shape=(28, 28, 1))
    np.testing.assert_allclose(forward, backward, atol=1e-6)
    means = [
        np.mean(
            image_quality.ssim(
                clean, _noisy(clean, s, 27), image_shape=(28, 28)
            )
        )
        for s in (0.02, 0.05, 0.1, 0.2, 0.4)
    ]
    assert np.all(np.diff(means) < -0.005), means
    # The negative image: perfectly anti-correlated, SSIM near -1, not below.
    negative = image_quality.ssim(clean, 1 - clean, image_shape=(28, 28))
    assert np.all(negative >= -1.0) and np.all(negative < -0.5), negative
    assert np.all(forward <= 1.0) and np.all(forward > 0.0)

  def test_layouts_agree(self):
    clean = _rng(28).uniform(size=(4, 8, 8))
    other = _noisy(clean, 0.1, 29)
    flat = image_quality.ssim(
        clean.reshape(4, 64), other.reshape(4, 64), image_shape=(8, 8)
    )
    chex.assert_shape(flat, (4,))
    assert flat.dtype == np.float64
    np.testing.assert_allclose(
        image_quality.ssim(clean, other, image_shape=(8, 8)), flat
    )
    np.testing.assert_allclose(
        image_quality.ssim(
            clean[..., None], other[..., None], image_shape=(8, 8)
        ),
        flat,
    )
    np.testing.assert_allclose(  # Several jitted batches, padded last one.
        image_quality.ssim(clean, other, image_shape=(8, 8), batch_size=3), flat
    )

  def test_bad_inputs_raise(self):
    x = _rng(30).uniform(size=(3, 64))
    ssim = image_quality.ssim
    with pytest.raises(ValueError, match='not images of shape'):
      ssim(x, x, image_shape=(8, 9))
    with pytest.raises(ValueError, match='not images of shape'):
      ssim(x.reshape(3, 4, 16), x.reshape(3, 4, 16), image_shape=(8, 8))
    with pytest.raises(ValueError, match=r'\(H, W\) or \(H, W, C\)'):
      ssim(x, x, image_shape=(1, 8, 8, 1))
    with pytest.raises(ValueError, match=r'\(H, W\) or \(H, W, C\)'):
      ssim(x, x, image_shape=(0, 8))
    with pytest.raises(ValueError, match=r'\(H, W\) or \(H, W, C\)'):
      ssim(x, x, image_shape=64)
    with pytest.raises(ValueError, match='filter_size <= 8'):
      ssim(x, x, image_shape=(8, 8), filter_size=11)
    with pytest.raises(ValueError, match='max_value'):
      ssim(255 * x, x, image_shape=(8, 8))  # 8-bit values scored as [0, 1].
    with pytest.raises(ValueError, match='max_value must be > 0'):
      ssim(x, x, image_shape=(8, 8), max_value=-1.0)
    with pytest.raises(ValueError, match='same layout'):
      ssim(x, x.reshape(3, 8, 8), image_shape=(8, 8))
    with pytest.raises(ValueError, match='NaN'):
      ssim(x, np.full_like(x, np.nan), image_shape=(8, 8))
    with pytest.raises(ValueError, match='empty'):
      ssim(x[:0], x[:0], image_shape=(8, 8))


# ---------------------------------------------------------------------------
# Code statistics.
# ---------------------------------------------------------------------------


def test_fraction_near_zero_on_hand_codes():
  codes = np.array([[0.0, 0.005, -0.005, 0.5], [1.0, -0.02, 0.0099, 0.01]])
  # Below 1e-2: 0, +-0.005, 0.0099 (0.01 itself is not strictly below).
  assert code_stats.fraction_near_zero(codes) == 0.5
  assert code_stats.fraction_near_zero(codes, threshold=0.1) == 0.75
  assert code_stats.fraction_near_zero(codes, threshold=2.0) == 1.0
  with pytest.raises(ValueError, match='threshold must be > 0'):
    code_stats.fraction_near_zero(codes, threshold=0.0)
  with pytest.raises(ValueError, match='NaN'):
    code_stats.fraction_near_zero(np.where(codes > 0.9, np.nan, codes))
  with pytest.raises(ValueError, match='empty'):
    code_stats.fraction_near_zero(codes[:, :0])


def test_mean_unit_activation_on_hand_codes():
  codes = np.array([[0.1, 0.2], [0.3, 0.6]], np.float32)
  out = code_stats.mean_unit_activation(codes)
  chex.assert_shape(out, (2,))
  np.testing.assert_allclose(out, [0.2, 0.4], rtol=1e-6)
  chex.assert_shape(code_stats.mean_unit_activation(np.ones((5, 2, 3))), (2, 3))
  with pytest.raises(ValueError, match='example axis'):
    code_stats.mean_unit_activation(codes[0])
  with pytest.raises(ValueError, match='NaN'):
    code_stats.mean_unit_activation(np.full((2, 2), np.inf))


# ---------------------------------------------------------------------------
# Batched application and the encoder Jacobian.
# ---------------------------------------------------------------------------


def test_apply_in_batches_pads_to_one_shape_and_keeps_order():
  x = np.arange(14.0).reshape(7, 2)
  seen = []

  def fn(batch):
    seen.append(batch.shape)
    return 2 * batch[:, :1]

  out = batching.apply_in_batches(fn, x, batch_size=3)
  np.testing.assert_array_equal(out, 2 * x[:, :1])
  assert seen == [(3, 2)] * 3  # Last batch padded from 1 to 3 rows.
  seen.clear()
  batching.apply_in_batches(fn, x, batch_size=100)
  assert seen == [(7, 2)]  # No padding beyond the data.
  with pytest.raises(ValueError, match='one output row per input row'):
    batching.apply_in_batches(lambda b: b.sum(0), x, batch_size=3)
  with pytest.raises(ValueError, match='positive int'):
    batching.apply_in_batches(fn, x, batch_size=0)
  with pytest.raises(ValueError, match='at least one row'):
    batching.apply_in_batches(fn, x[:0], batch_size=3)


def test_padded_batches_refuse_unequal_arrays_and_bad_sizes():
  x, y = np.arange(5), np.arange(5) * 10
  batches = list(batching.padded_batches(x, y, batch_size=2))
  assert [real for _, real, _ in batches] == [2, 2, 1]
  np.testing.assert_array_equal(batches[-1][2][1], [40, 40])
  # A shorter second array gave ragged, then empty, chunks before.
  with pytest.raises(ValueError, match=r'equal length, got lengths \[5, 3\]'):
    list(batching.padded_batches(x, y[:3], batch_size=2))
  with pytest.raises(ValueError, match='batch_size must be a positive int'):
    list(batching.padded_batches(x, batch_size=0))


class TestEncoderJacobianNorm:

  def test_linear_map_gives_frobenius_norm_of_w(self):
    rng = _rng(11)
    w = rng.normal(size=(12, 4)).astype(np.float32)
    x = rng.normal(size=(7, 12)).astype(np.float32)
    per_example = []

    def encode(b):
      per_example.append(b.shape)
      return b @ w

    # batch_size 3 pads the last batch; every example's norm is ||W||_F, so
    # padding rows counted by mistake would not show: the nonlinear test
    # below checks the mean over examples.
    out = code_stats.mean_encoder_jacobian_norm(encode, x, batch_size=3)
    assert isinstance(out, float)
    np.testing.assert_allclose(out, np.linalg.norm(w), rtol=1e-5)
    assert {s for s in per_example} == {(3, 12)}

  def test_image_shaped_inputs(self):
    w = _rng(12).normal(size=(12, 3)).astype(np.float32)
    x = _rng(13).uniform(size=(5, 3, 4, 1)).astype(np.float32)
    out = code_stats.mean_encoder_jacobian_norm(
        lambda b: b.reshape(len(b), -1) @ w, x
    )
    np.testing.assert_allclose(out, np.linalg.norm(w), rtol=1e-5)

  @pytest.mark.parametrize('batch_size', [2, 256])
  def test_tanh_layer_matches_closed_form(self, batch_size):
    rng = _rng(14)
    w = rng.normal(size=(6, 3))
    x = rng.normal(size=(5, 6))
    # d tanh(x W)_j / dx_i = (1 - tanh(a_j)^2) W_ij.
    slope = 1.0 - np.tanh(x @ w) ** 2  # [5, 3]
    norms = np.sqrt(np.sum(slope**2 * np.sum(w**2, axis=0), axis=1))
    assert np.ptp(norms) > 0.1  # Examples differ, so the mean is tested.
    w32 = jnp.asarray(w, jnp.float32)
    out = code_stats.mean_encoder_jacobian_norm(
        lambda b: jnp.tanh(b @ w32), x, batch_size=batch_size
    )
    np.testing.assert_allclose(out, norms.mean(), rtol=1e-5)

  def test_bad_inputs_raise(self):
    x = np.ones((3, 4), np.float32)
    encode = lambda b: b[:, :2]
    with pytest.raises(ValueError, match='NaN'):
      code_stats.mean_encoder_jacobian_norm(encode, x * np.nan)
    with pytest.raises(ValueError, match='positive int'):
      code_stats.mean_encoder_jacobian_norm(encode, x, batch_size=0)
    with pytest.raises(ValueError, match='example axis'):
      code_stats.mean_encoder_jacobian_norm(encode, x[0])
