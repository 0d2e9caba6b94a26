"""Tests for `ae_jax.metrics.rate_distortion` and the compression / SSIM evaluation tasks."""

import json

import jax
import numpy as np
import pytest

import ae_jax
from ae_jax import corruptions
from ae_jax import data
from ae_jax import train
from ae_jax.metrics import image_quality
from ae_jax.metrics import pca as pca_lib
from ae_jax.metrics import rate_distortion
from ae_jax.tasks import compression as compression_task
from ae_jax.tasks import denoising
from experiments.configs import denoising_ae


def _rng(seed=0):
  return np.random.default_rng(seed)


@pytest.fixture(scope='module')
def digits():
  ds = data.load_dataset('digits')
  return ds.train_images.astype(np.float64), ds.test_images.astype(np.float64)


# ---------------------------------------------------------------------------
# Quantiser.
# ---------------------------------------------------------------------------


class TestQuantizer:

  def test_hand_symbols_and_cell_centres(self):
    # Range [0, 1] (percentile=0: min and max), 2 bits: cells of width 1/4.
    q = rate_distortion.fit_quantizer([[0.0], [1.0], [0.3]], 2, percentile=0)
    assert (q.levels, q.dim, q.fixed_rate) == (4, 1, 2)
    np.testing.assert_allclose(q.step, [0.25])
    values = np.array([0.0, 0.1, 0.25, 0.49, 0.5, 0.99, 1.0, -3.0, 7.0])
    symbols = q.quantize(values[:, None])
    assert symbols.dtype == np.int32
    np.testing.assert_array_equal(symbols[:, 0], [0, 0, 1, 1, 2, 3, 3, 0, 3])
    np.testing.assert_allclose(
        q.dequantize(np.arange(4)[:, None])[:, 0], [0.125, 0.375, 0.625, 0.875]
    )

  @pytest.mark.parametrize('bits', [1, 3, 8, 16])
  def test_round_trip_error_is_at_most_half_a_step_inside_the_range(self, bits):
    rng = _rng(bits)
    scale = np.array([1.0, 10.0, 0.01])
    train = rng.normal(size=(2000, 3)) * scale + [0.0, 5.0, -1.0]
    q = rate_distortion.fit_quantizer(train, bits)
    low, high = q.low, q.high
    # The range is the 0.1 / 99.9 percentiles of each dimension.
    np.testing.assert_allclose(low, np.percentile(train, 0.1, axis=0))
    np.testing.assert_allclose(high, np.percentile(train, 99.9, axis=0))
    inside = low + rng.uniform(size=(5000, 3)) * (high - low)
    error = np.abs(q.dequantize(q.quantize(inside)) - inside)
    assert np.all(error <= q.step / 2 * (1 + 1e-9))
    assert np.all(error.max(0) > 0.45 * q.step)  # The bound is attained.
    # Outside the range: clipped to the end cells' centres.
    outside = np.stack([low - 1e3, high + 1e3])
    np.testing.assert_allclose(
        q.dequantize(q.quantize(outside)),
        np.stack([low + q.step / 2, high - q.step / 2]),
    )
    # Uniform values use every level about equally often.
    counts = np.bincount(q.quantize(inside)[:, 0], minlength=q.levels)
    if bits <= 3:
      assert counts.min() > 0.8 * counts.mean()

  def test_percentile_ignores_outliers(self):
    # One outlier in 3000: beyond the 99.9th percentile.
    train = np.concatenate([_rng(1).uniform(size=(2999, 1)), [[1e6]]])
    robust = rate_distortion.fit_quantizer(train, 4)
    full = rate_distortion.fit_quantizer(train, 4, percentile=0)
    assert robust.step[0] < 1.1 / 16
    assert full.step[0] > 1e6 / 16 * 0.99

  def test_constant_dimension_costs_nothing(self):
    train = np.stack([_rng(2).normal(size=100), np.full(100, 3.0)], axis=1)
    q = rate_distortion.fit_quantizer(train, 4)
    symbols = q.quantize(train)
    np.testing.assert_array_equal(symbols[:, 1], 0)
    np.testing.assert_allclose(q.dequantize(symbols)[:, 1], 3.0)
    rate = rate_distortion.entropy_rate(symbols, symbols, levels=16)
    rate_first = rate_distortion.entropy_rate(
        symbols[:, :1], symbols[:, :1], levels=16
    )
    # Dimension 1: every symbol 0, cost -log2(101 / 116) each.
    np.testing.assert_allclose(rate - rate_first, np.log2(116 / 101))

  def test_bad_inputs_raise(self):
    codes = _rng(3).normal(size=(20, 4))
    for bits in (0, 17, 2.5, True, '4'):
      with pytest.raises(ValueError, match='bits must be an int from 1 to 16'):
        rate_distortion.fit_quantizer(codes, bits)
    with pytest.raises(ValueError, match='NaN'):
      rate_distortion.fit_quantizer(np.where(codes > 1, np.nan, codes), 4)
    with pytest.raises(ValueError, match='codes \\[N, latent_dim\\]'):
      rate_distortion.fit_quantizer(codes.reshape(20, 2, 2), 4)
    with pytest.raises(ValueError, match='percentile'):
      rate_distortion.fit_quantizer(codes, 4, percentile=50)
    q = rate_distortion.fit_quantizer(codes, 4)
    with pytest.raises(ValueError, match='fitted on 4'):
      q.quantize(codes[:, :3])
    with pytest.raises(ValueError, match='NaN'):
      q.quantize(np.full((2, 4), np.inf))
    with pytest.raises(ValueError, match=r'outside \[0, 15\]'):
      q.dequantize(np.full((2, 4), 16))
    with pytest.raises(TypeError, match='integer symbols'):
      q.dequantize(np.zeros((2, 4)))
    with pytest.raises(ValueError, match='expected 4'):
      q.dequantize(np.zeros((2, 3), np.int32))


# ---------------------------------------------------------------------------
# Entropy-coded rate.
# ---------------------------------------------------------------------------


class TestEntropyRate:

  def test_hand_counts_with_add_one_smoothing(self):
    # Dimension 0: train counts [6, 2, 0, 0] -> p = [7, 3, 1, 1] / 12.
    # Dimension 1: train counts [0, 0, 0, 8] -> p = [1, 1, 1, 9] / 12.
    train = np.array([[0, 3]] * 6 + [[1, 3]] * 2)
    test = np.array([[0, 3], [1, 3], [2, 0]])
    expected = np.mean(-np.log2([7 / 12, 3 / 12, 1 / 12])) + np.mean(
        -np.log2([9 / 12, 9 / 12, 1 / 12])
    )
    rate = rate_distortion.entropy_rate(train, test, levels=4)
    assert isinstance(rate, float)
    np.testing.assert_allclose(rate, expected, rtol=1e-12)

  def test_uniform_symbols_cost_exactly_the_fixed_rate(self):
    # Each of the 2**bits levels 3 times in training: the smoothed model is
    # exactly uniform, so any test symbol costs bits.
    for bits in (1, 3, 6):
      levels = 2**bits
      column = np.repeat(np.arange(levels), 3)
      train = np.stack([column, column[::-1]], axis=1)
      test = _rng(bits).integers(0, levels, size=(50, 2))
      test[:, 1] = 0  # Even a single repeated symbol.
      np.testing.assert_allclose(
          rate_distortion.entropy_rate(train, test, levels=levels),
          2 * bits,
          rtol=1e-12,
      )

  def test_known_categorical_gives_its_entropy(self):
    rng = _rng(4)
    p0 = np.array([0.5, 0.25, 0.125, 0.125])  # H = 1.75 bits.
    p1 = np.array([0.7, 0.1, 0.1, 0.1])
    h = -np.sum(p0 * np.log2(p0)) - np.sum(p1 * np.log2(p1))
    sample = lambda n: np.stack(
        [rng.choice(4, size=n, p=p0), rng.choice(4, size=n, p=p1)], axis=1
    )
    rate = rate_distortion.entropy_rate(
        sample(200_000), sample(50_000), levels=4
    )
    np.testing.assert_allclose(rate, h, atol=0.01)
    assert rate < 4.0 - 0.5  # Well below the fixed 2 bits per dimension.

  def test_at_most_the_fixed_rate_on_training_symbols(self):
    rng = _rng(5)
    for levels in (2, 16, 256):
      train = np.minimum(rng.geometric(0.3, size=(300, 5)) - 1, levels - 1)
      rate = rate_distortion.entropy_rate(train, train, levels=levels)
      assert rate <= 5 * np.log2(levels)
    # On test symbols it can exceed the fixed rate: a distribution shift.
    train = np.zeros((100, 1), np.int32)
    test = np.ones((10, 1), np.int32)
    np.testing.assert_allclose(
        rate_distortion.entropy_rate(train, test, levels=4), np.log2(104)
    )

  def test_bad_inputs_raise(self):
    s = np.zeros((5, 3), np.int32)
    with pytest.raises(ValueError, match='expected 3'):
      rate_distortion.entropy_rate(s, s[:, :2], levels=4)
    with pytest.raises(ValueError, match=r'outside \[0, 3\]'):
      rate_distortion.entropy_rate(s, s + 4, levels=4)
    with pytest.raises(ValueError, match=r'outside \[0, 3\]'):
      rate_distortion.entropy_rate(s - 1, s, levels=4)
    with pytest.raises(TypeError, match='integer symbols'):
      rate_distortion.entropy_rate(s.astype(float), s, levels=4)
    with pytest.raises(ValueError, match='non-empty'):
      rate_distortion.entropy_rate(s[:0], s, levels=4)
    with pytest.raises(ValueError, match='positive int'):
      rate_distortion.entropy_rate(s, s, levels=0)


# ---------------------------------------------------------------------------
# Rate-distortion points.
# ---------------------------------------------------------------------------


class TestRateDistortion:

  def test_pca_mse_is_pca_error_plus_code_quantisation_error(self, digits):
    # Orthonormal principal axes: ||x - x_hat_q||^2 = ||x - x_hat||^2 +
    # ||z - z_q||^2 per image, exactly.
    train, test = digits
    k, bits = 8, (1, 2, 3, 4, 6, 8, 12)
    points = rate_distortion.pca_rate_distortion(train, test, k, bits)
    raw = pca_lib.pca_reconstruction_mse(train, test, num_components=k)
    train_z, test_z = pca_lib.pca_codes(train, test, num_components=k)
    for b, point in zip(bits, points):
      q = rate_distortion.fit_quantizer(train_z, b)
      symbols = q.quantize(test_z)
      code_error = np.mean(np.sum((q.dequantize(symbols) - test_z) ** 2, 1))
      np.testing.assert_allclose(point['mse'], raw + code_error / 64, rtol=1e-9)
      assert point['bits_per_dim'] == b
      assert point['fixed_bits_per_image'] == k * b
      np.testing.assert_allclose(
          point['entropy_bits_per_image'],
          rate_distortion.entropy_rate(
              q.quantize(train_z), symbols, levels=2**b
          ),
      )
    mse = [p['mse'] for p in points]
    # More bits never hurt, and 12 bits is within 0.1% of unquantised PCA.
    assert np.all(np.diff(mse) < 0), mse
    assert mse[0] > 1.5 * raw and mse[-1] < 1.001 * raw
    psnr = [p['psnr'] for p in points]
    assert np.all(np.diff(psnr) > 0), psnr
    # Entropy coding saves bits; here at every point (measured: 7.7 of 8
    # bits at 1 bit per dimension, 13.5 of 16 at 2).
    for p in points[:-1]:
      assert p['entropy_bits_per_image'] < p['fixed_bits_per_image'] - 0.2

  def test_rate_distortion_of_pca_callables_equals_pca_rate_distortion(
      self, digits
  ):
    train, test = digits
    train_z, _ = pca_lib.pca_codes(train, test, num_components=5)
    pca = rate_distortion.pca_rate_distortion(train, test, 5, bits=(2, 5))
    # The same PCA by hand: the rows of `basis` are the principal axes.
    mean = train.mean(0)
    basis = np.linalg.lstsq(train_z, train - mean, rcond=None)[0]
    generic = rate_distortion.rate_distortion(
        lambda x: (x.reshape(len(x), -1) - mean) @ basis.T,
        lambda z: z @ basis + mean,
        train,
        test,
        bits=(2, 5),
    )
    assert len(generic) == 2
    for a, b in zip(generic, pca):
      assert a.keys() == b.keys()
      for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6)

  def test_psnr_of_a_lossless_code_is_capped(self):
    # Binary images, 1 bit per pixel: the cell centres 0.25 and 0.75,
    # rounded by the decoder, give the images back exactly.
    x = (_rng(6).uniform(size=(40, 16)) > 0.5).astype(np.float32)
    (point,) = rate_distortion.rate_distortion(
        lambda a: a, np.round, x, x, 1, percentile=0
    )
    assert point['mse'] == 0.0
    assert point['psnr'] == rate_distortion.PSNR_CAP
    assert point['fixed_bits_per_image'] == 16
    # About 1 bit per fair coin flip, up to sampling and smoothing.
    assert 14 < point['entropy_bits_per_image'] <= 16

  def test_bad_inputs_raise_before_encoding(self, digits):
    train, test = digits

    def never(x):
      raise AssertionError('encode called before the checks')

    rd = rate_distortion.rate_distortion
    for bits in ((), (2, 0), (17,), 'ab'):
      with pytest.raises(ValueError, match='bits'):
        rd(never, never, train, test, bits)
    with pytest.raises(ValueError, match='same per-example shape'):
      rd(never, never, train, test[:, :10])
    with pytest.raises(ValueError, match=r'outside \[0, 1\]'):
      rd(never, never, train, 255 * test)
    with pytest.raises(ValueError, match='NaN'):
      rd(never, never, train, np.where(test > 0.5, np.nan, test))
    with pytest.raises(ValueError, match='NaN'):
      rd(lambda x: x * np.nan, lambda z: z, train, test)
    with pytest.raises(ValueError, match=r'encode\(test_x\) has 2 dimensions'):
      rd(lambda x: x[:, : 2 + (len(x) == len(train))], never, train, test)
    with pytest.raises(ValueError, match='one reconstruction per code'):
      rd(lambda x: x[:, :3], lambda z: z, train, test)
    with pytest.raises(ValueError, match='num_components <= 64'):
      rate_distortion.pca_rate_distortion(train, test, 65)
    with pytest.raises(ValueError, match='bits'):
      rate_distortion.pca_rate_distortion(train, test, 4, bits=(0,))


# ---------------------------------------------------------------------------
# Tasks on a smoke-trained denoising autoencoder.
# ---------------------------------------------------------------------------


def test_tasks_on_a_smoke_run(tmp_path):
  # One test, so that the model is trained once (not once per xdist worker).
  config = denoising_ae.get_config('smoke,level=0.5')
  config.num_train_steps = 30
  config.write_figures = False
  train.train_and_evaluate(config, tmp_path / 'dae')
  trained = ae_jax.load(tmp_path / 'dae')
  ds = data.load_dataset('digits')
  _check_compression_task(trained, ds, tmp_path)
  _check_denoise_ssim(trained, ds)


def _check_compression_task(trained, ds, tmp_path):
  # The model as its own baseline: the baseline rows must equal its rows.
  result = compression_task.compression(
      trained, ds, baseline=trained, outdir=tmp_path
  )
  json.dumps(result)  # JSON ready.
  k = trained.latent_dim
  assert result['code_size'] == k == 2
  rows = result['rows']
  by = lambda m: [r for r in rows if r['method'] == m]
  bits = list(compression_task.BITS)
  for method in ('model', 'pca', 'baseline'):
    assert [r['bits_per_dim'] for r in by(method)] == bits
    assert [r['fixed_bits_per_image'] for r in by(method)] == [
        k * b for b in bits
    ]
  assert by('baseline') == [{**r, 'method': 'baseline'} for r in by('model')]
  pca = rate_distortion.pca_rate_distortion(
      ds.train_images, ds.test_images, k, bits
  )
  assert [{**p, 'method': 'pca'} for p in pca] == by('pca')
  raw = result['unquantized_mse']
  x = ds.test_images
  np.testing.assert_allclose(
      raw['model'], np.mean((trained.reconstruct(x) - x) ** 2), rtol=1e-5
  )
  assert raw['baseline'] == raw['model']
  np.testing.assert_allclose(
      raw['pca'],
      pca_lib.pca_reconstruction_mse(ds.train_images, x, num_components=k),
  )
  # The model's rows: the library on the model's own (unbatched) functions.
  direct = rate_distortion.rate_distortion(
      trained.encode, trained.decode, ds.train_images, x, bits
  )
  for row, point in zip(by('model'), direct, strict=True):
    for key, value in point.items():
      np.testing.assert_allclose(row[key], value, rtol=1e-6)
  # 8 bits per dimension is close to unquantised (within 0.5% here; the
  # 30-step smoke model barely uses its code, so only PCA shows that coarse
  # codes are worse: 0.0553 at 2 bits, 0.0532 at 8).
  for method in ('model', 'pca'):
    mse = [r['mse'] for r in by(method)]
    assert abs(mse[-1] - raw[method]) < 0.02 * raw[method], (method, mse)
  pca_mse = [r['mse'] for r in by('pca')]
  assert pca_mse[0] > 1.02 * pca_mse[-1], pca_mse
  assert (tmp_path / 'rate_distortion.png').stat().st_size > 0


def _check_denoise_ssim(trained, ds):
  rows = denoising.denoise(trained, ds, baseline=trained)['rows']
  for row in rows:
    assert list(row)[:5] == [
        'noise',
        'level',
        'psnr_noisy',
        'psnr_denoised',
        'psnr_baseline',
    ]
    assert -1 <= row['ssim_noisy'] <= 1 and -1 <= row['ssim_denoised'] <= 1
    assert row['ssim_baseline'] == row['ssim_denoised']  # Same model.
  # The same numbers from `image_quality.ssim` on the same corrupted images.
  x = ds.test_images
  noisy = np.asarray(
      corruptions.corrupt('gaussian', jax.random.PRNGKey(0), x, level=0.3)
  )
  (row,) = [r for r in rows if r['noise'] == 'gaussian' and r['level'] == 0.3]
  per_image = image_quality.ssim(x, np.clip(noisy, 0, 1), image_shape=(8, 8))
  np.testing.assert_allclose(row['ssim_noisy'], per_image.mean(), rtol=1e-6)
  denoised = np.clip(trained.reconstruct(noisy), 0, 1)
  np.testing.assert_allclose(
      row['ssim_denoised'],
      image_quality.ssim(x, denoised, image_shape=(8, 8)).mean(),
      rtol=1e-5,
  )
  # More noise, lower SSIM of the noisy images (clear margins).
  gaussian = [r['ssim_noisy'] for r in rows if r['noise'] == 'gaussian']
  assert np.all(np.diff(gaussian) < -0.05), gaussian
