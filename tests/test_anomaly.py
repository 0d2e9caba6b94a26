"""Anomaly detection: AUROC and thresholds against references, detectors
trained on one digits class, and the one-class binary end to end."""

import functools
import json
import logging
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ae_jax import anomaly
from ae_jax import models
from ae_jax.tasks import one_class
from tests import fitting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------
# AUROC.
# ---------------------------------------------------------------------------


def _mann_whitney_auroc(scores, is_anomaly):
  """P(anomaly score > normal score) + 0.5 P(tie), over all pairs."""
  pos, neg = scores[is_anomaly], scores[~is_anomaly]
  greater = (pos[:, None] > neg[None, :]).sum()
  ties = (pos[:, None] == neg[None, :]).sum()
  return (greater + 0.5 * ties) / (len(pos) * len(neg))


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('tied', [False, True])
def test_auroc_equals_pairwise_count(seed, tied):
  rng = np.random.default_rng(seed)
  is_anomaly = rng.random(200) < 0.3
  scores = rng.normal(size=200) + 0.8 * is_anomaly
  if tied:  # Few distinct values: many ties inside and across the classes.
    scores = np.round(scores)
    assert len(np.unique(scores)) < 10
  got = anomaly.auroc(scores, is_anomaly)
  assert isinstance(got, float)
  np.testing.assert_allclose(
      got, _mann_whitney_auroc(scores, is_anomaly), rtol=1e-12
  )
  # 0/1 integer flags are the same as bools.
  assert anomaly.auroc(scores, is_anomaly.astype(np.int32)) == got


def test_auroc_of_perfect_reversed_and_constant_scores():
  y = np.array([False, False, True, True])
  assert anomaly.auroc([0.1, 0.2, 0.8, 0.9], y) == 1.0
  assert anomaly.auroc([0.9, 0.8, 0.2, 0.1], y) == 0.0
  assert anomaly.auroc([1.0, 1.0, 1.0, 1.0], y) == 0.5  # All tied.


@pytest.mark.parametrize(
    'scores, flags, match',
    [
        ([0.1, 0.2, 0.3], [False, False, False], 'both normal'),
        ([0.1, 0.2, 0.3], [True, True, True], 'both normal'),
        ([0.1, np.nan, 0.3], [False, True, True], 'NaN'),
        ([0.1, np.inf, 0.3], [False, True, True], 'NaN'),
        ([0.1, 0.2, 0.3], [False, True], r'shape \(3,\)'),
        ([[0.1, 0.2], [0.3, 0.4]], [False, True], '1-D'),
        ([], [], 'empty'),
        ([0.1, 0.2, 0.3], [0, 1, 7], 'not only 0/1'),
    ],
)
def test_auroc_rejects_bad_input(scores, flags, match):
  with pytest.raises(ValueError, match=match):
    anomaly.auroc(scores, np.asarray(flags, dtype=np.asarray(flags).dtype))


def test_auroc_rejects_float_flags_and_string_scores():
  with pytest.raises(TypeError, match='bool'):
    anomaly.auroc([0.1, 0.2], [0.0, 1.0])
  with pytest.raises(TypeError, match='real dtype'):
    anomaly.auroc(['a', 'b'], [False, True])


# ---------------------------------------------------------------------------
# Thresholds.
# ---------------------------------------------------------------------------


def test_fit_threshold_is_mean_plus_k_population_std():
  scores = [1.0, 2.0, 3.0, 4.0]  # Mean 2.5, population std sqrt(1.25).
  assert anomaly.fit_threshold(scores) == pytest.approx(2.5 + 3 * np.sqrt(1.25))
  assert anomaly.fit_threshold(scores, 2) == pytest.approx(
      2.5 + 2 * 1.118033988749895
  )
  assert anomaly.fit_threshold(scores, k=0) == 2.5


@pytest.mark.parametrize(
    'scores, k, match',
    [
        ([1.0], 3.0, 'at least 2'),
        ([1.0, np.nan], 3.0, 'NaN'),
        ([1.0, 2.0], -1.0, 'k must be >= 0'),
        ([1.0, 2.0], float('nan'), 'finite'),
        ([1.0, 2.0], True, 'finite real'),
    ],
)
def test_fit_threshold_rejects_bad_input(scores, k, match):
  with pytest.raises(ValueError, match=match):
    anomaly.fit_threshold(scores, k)


def test_threshold_metrics_hand_computed():
  scores = np.array([0.1, 0.5, 0.9, 0.3, 0.7, 0.2])
  y = np.array([0, 1, 1, 0, 0, 1], bool)
  # > 0.6 flags 0.9 (anomaly) and 0.7 (normal): TP 1, FP 1, FN 2.
  m = anomaly.threshold_metrics(scores, y, 0.6)
  assert m == pytest.approx(
      {
          'threshold': 0.6,
          'precision': 0.5,
          'recall': 1 / 3,
          'f1': 2 * 0.5 * (1 / 3) / (0.5 + 1 / 3),
          'flagged_fraction': 2 / 6,
      }
  )
  # Strictly above: a score equal to the threshold is not flagged.
  m = anomaly.threshold_metrics(scores, y, 0.5)
  assert m['flagged_fraction'] == pytest.approx(2 / 6)
  # > 0.4 flags 0.5, 0.9 (anomalies) and 0.7: TP 2, FP 1, FN 1.
  m = anomaly.threshold_metrics(scores, y, 0.4)
  assert (m['precision'], m['recall'], m['f1']) == pytest.approx((2 / 3,) * 3)
  # Nothing flagged: precision and F1 are 0 (zero_division=0), not NaN.
  m = anomaly.threshold_metrics(scores, y, 10.0)
  assert m == pytest.approx(
      {
          'threshold': 10.0,
          'precision': 0.0,
          'recall': 0.0,
          'f1': 0.0,
          'flagged_fraction': 0.0,
      }
  )


def test_threshold_metrics_rejects_bad_input():
  with pytest.raises(ValueError, match='threshold'):
    anomaly.threshold_metrics([0.1, 0.2], [False, True], float('nan'))
  with pytest.raises(ValueError, match='shape'):
    anomaly.threshold_metrics([0.1, 0.2], [False, True, True], 0.1)


# ---------------------------------------------------------------------------
# Detectors trained on one digits class.
# ---------------------------------------------------------------------------

# An untrained model gives this digit higher errors than the others (AUROC
# 0.08), so a high AUROC after training is the effect of training on it.
NORMAL = 1


@functools.cache
def _fit_on_class(model_name: str, normal_class: int, steps: int = 300):
  """``(model, params)`` after Adam steps on the digits of one class only."""
  dataset = fitting.digits()
  members = np.flatnonzero(dataset.train_labels == normal_class)
  model, params, _ = fitting.fit(
      fitting.config(model=model_name, latent_dim=8),
      index=np.random.default_rng(0).choice(members, (steps, 32)),
  )
  return model, params


def _untrained(model_name: str):
  """``(model, params)`` at initialisation, for checks that need no training."""
  config = fitting.config(model=model_name, latent_dim=8)
  model = models.build_model(config, fitting.digits().input_shape)
  return model, model.init(jax.random.PRNGKey(0))


def test_detector_trained_on_one_digit_ranks_its_class_lowest():
  dataset = fitting.digits()
  model, params = _fit_on_class('ae', NORMAL)
  normal_train = dataset.train_images[dataset.train_labels == NORMAL]
  is_anomaly = dataset.test_labels != NORMAL
  detector = anomaly.AnomalyDetector(model, params).fit(normal_train, k=3.0)

  scores = detector.score(dataset.test_images)
  result = detector.evaluate(dataset.test_images, is_anomaly)
  # Measured 0.985 after 300 steps; 0.08 for the untrained model.
  assert result['auroc'] > 0.85, result
  untrained = anomaly.AnomalyDetector(*_untrained('ae'))
  assert anomaly.auroc(untrained.score(dataset.test_images), is_anomaly) < 0.3
  # The threshold, predictions and metrics are those of the scores.
  train_scores = detector.score(normal_train)
  assert detector.threshold == pytest.approx(
      train_scores.mean() + 3 * train_scores.std()
  )
  np.testing.assert_array_equal(
      detector.predict(dataset.test_images), scores > detector.threshold
  )
  assert result == pytest.approx(
      {
          'auroc': anomaly.auroc(scores, is_anomaly),
          'non_finite_fraction': 0.0,
          **anomaly.threshold_metrics(scores, is_anomaly, detector.threshold),
      }
  )
  # At k = 3 what is flagged is almost only anomalies (measured 0.996).
  assert result['precision'] > 0.9, result


def test_reconstruction_error_is_per_example_pixel_mse_in_any_batching():
  dataset = fitting.digits()
  model, params = _untrained('ae')
  x = dataset.test_images[:50]
  expected = np.mean((np.asarray(model.reconstruct(params, x)) - x) ** 2, 1)
  got = anomaly.reconstruction_error(model, params, x, batch_size=16)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  np.testing.assert_allclose(
      anomaly.reconstruction_error(model, params, x), got, rtol=1e-6
  )
  # One jitted function per (model, kind), one compile per batch shape.
  fn = anomaly.score_fn(model, 'mse')
  assert anomaly.score_fn(model, 'mse') is fn
  before = fn._cache_size()  # pylint: disable=protected-access
  anomaly.reconstruction_error(
      model, params, dataset.test_images[:33], batch_size=16
  )
  assert fn._cache_size() == before  # pylint: disable=protected-access


def test_vae_neg_elbo_scores_finite_and_detect_the_class():
  dataset = fitting.digits()
  model, params = _fit_on_class('vae', NORMAL)
  assert anomaly.available_scores(model) == ('mse', 'neg_elbo', 'mse_over_tv')
  x = dataset.test_images
  scores = anomaly.negative_elbo(model, params, x, batch_size=128)
  assert scores.shape == (len(x),) and np.all(np.isfinite(scores))
  # The model's own per-example negative ELBO of each example alone,
  # averaged over the documented keys.
  keys = jax.random.split(jax.random.PRNGKey(0), anomaly.ELBO_SAMPLES)
  one = jax.jit(
      lambda v, k: model.per_example_losses(params, v, k, train=False)[
          'neg_elbo'
      ]
  )
  ref = [np.mean([one(x[i : i + 1], k)[0] for k in keys]) for i in range(4)]
  np.testing.assert_allclose(scores[:4], ref, rtol=1e-5)
  # Deterministic: the same input gets the same score.
  np.testing.assert_array_equal(
      anomaly.negative_elbo(model, params, x, batch_size=128), scores
  )
  detector = anomaly.AnomalyDetector(model, params, kind='neg_elbo')
  auc = anomaly.auroc(detector.score(x), dataset.test_labels != NORMAL)
  assert auc > 0.85, auc  # Measured 0.985.


def test_neg_elbo_score_depends_on_the_input_alone():
  # Issue 14: one key for the whole batch gave each row the noise of its
  # position, so one input scored several nats apart across a batch (on
  # both sides of the threshold) and differently alone.
  dataset = fitting.digits()
  model, params = _fit_on_class('vae', NORMAL)
  x = dataset.test_images[:40]
  repeated = np.repeat(x[:1], 5, axis=0)
  np.testing.assert_allclose(
      anomaly.negative_elbo(model, params, repeated),
      np.full(5, anomaly.negative_elbo(model, params, x[:1])[0]),
      rtol=1e-6,
  )
  scores = anomaly.negative_elbo(model, params, x)
  alone = [
      anomaly.negative_elbo(model, params, x[i : i + 1])[0]
      for i in range(len(x))
  ]
  # Float tolerance: a batch of 1 and of 40 may take different matmul
  # kernels (measured 4e-6 nats apart); the old spread was nats.
  np.testing.assert_allclose(scores, alone, rtol=1e-6, atol=1e-4)
  for batch_size in (7, 16):
    np.testing.assert_allclose(
        anomaly.negative_elbo(model, params, x, batch_size=batch_size),
        scores,
        rtol=1e-6,
        atol=1e-4,
    )
  # Reordering the batch reorders the scores.
  order = np.random.default_rng(0).permutation(len(x))
  np.testing.assert_allclose(
      anomaly.negative_elbo(model, params, x[order]),
      scores[order],
      rtol=1e-6,
      atol=1e-4,
  )


def test_elbo_samples_is_an_estimate_of_the_same_bound():
  dataset = fitting.digits()
  model, params = _fit_on_class('vae', NORMAL)
  x = dataset.test_images[:64]
  default = anomaly.negative_elbo(model, params, x)
  one = anomaly.negative_elbo(model, params, x, elbo_samples=1)
  many = anomaly.negative_elbo(model, params, x, elbo_samples=64)
  # More samples, closer to the converged mean (the spread falls as
  # 1/sqrt(samples)).
  assert np.mean(np.abs(default - many)) < np.mean(np.abs(one - many))
  # One function per sample count; 'mse' draws nothing and ignores it.
  assert anomaly.score_fn(model, 'neg_elbo') is anomaly.score_fn(
      model, 'neg_elbo', elbo_samples=anomaly.ELBO_SAMPLES
  )
  assert anomaly.score_fn(model, 'neg_elbo', elbo_samples=4) is not (
      anomaly.score_fn(model, 'neg_elbo')
  )
  assert anomaly.score_fn(model, 'mse', elbo_samples=4) is anomaly.score_fn(
      model, 'mse'
  )
  detector = anomaly.AnomalyDetector(
      model, params, kind='neg_elbo', elbo_samples=1
  )
  np.testing.assert_array_equal(detector.score(x), one)
  for bad in (0, -1, True, 1.5, None):
    with pytest.raises(ValueError, match=f'elbo_samples={bad!r}'):
      anomaly.negative_elbo(model, params, x, elbo_samples=bad)
    with pytest.raises(ValueError, match=f'elbo_samples={bad!r}'):
      anomaly.AnomalyDetector(model, params, elbo_samples=bad)


def test_non_finite_scores_are_kept_flagged_and_ranked_highest(caplog):
  # Issue 14: inputs of 1e30 or 3e38 overflow the model; a NaN score was
  # then predicted normal (NaN > threshold is False).
  dataset = fitting.digits()
  model, params = _fit_on_class('ae', NORMAL)
  detector = anomaly.AnomalyDetector(model, params).fit(
      dataset.train_images[dataset.train_labels == NORMAL]
  )
  x = dataset.test_images[:20].copy()
  x[0] = 1e30
  x[1] = 3e38
  with caplog.at_level(logging.WARNING):
    scores = detector.score(x)
  # Kept as they are: visible, not replaced by a number.
  assert not np.isfinite(scores[:2]).any() and np.isfinite(scores[2:]).all()
  assert '2 of 20 examples have a non-finite' in caplog.text
  assert 'returned as NaN/inf' in caplog.text
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    flags = detector.predict(x)
  np.testing.assert_array_equal(
      flags, np.r_[True, True, scores[2:] > detector.threshold]
  )
  assert 'AnomalyDetector.predict: 2 of 20' in caplog.text
  assert 'flagged as anomalies' in caplog.text and '3e+38' in caplog.text
  # evaluate ranks them above every finite score, as anomalies.
  is_anomaly = np.zeros(20, bool)
  is_anomaly[[0, 1, 5]] = True
  result = detector.evaluate(x, is_anomaly)
  ranked = np.r_[np.full(2, scores[2:].max() + 1), scores[2:]]
  assert result['auroc'] == anomaly.auroc(ranked, is_anomaly)
  assert result['non_finite_fraction'] == 0.1
  assert result['recall'] >= 2 / 3
  # The raw scores are refused by the metrics, and by fit.
  with pytest.raises(ValueError, match='NaN/inf'):
    anomaly.auroc(scores, is_anomaly)
  with pytest.raises(
      ValueError, match=r'AnomalyDetector.fit: 2 of the 20 normal examples'
  ):
    detector.fit(x)


@pytest.mark.parametrize(
    'dtype', [np.uint8, np.int32, np.int64, np.bool_], ids=lambda d: d.__name__
)
def test_integer_and_bool_inputs_are_refused(dtype):
  # Issue 14: 0-255 pixels were scored silently (as extreme anomalies).
  model, params = _untrained('ae')
  x = (fitting.digits().test_images[:4] * 255).astype(dtype)
  detector = anomaly.AnomalyDetector(model, params)
  fix = r'x.astype\(np.float32\) / 255'
  for call, name in [
      (lambda: anomaly.score(model, params, x), 'score'),
      (lambda: anomaly.reconstruction_error(model, params, x), 'score'),
      (lambda: detector.score(x), 'AnomalyDetector.score'),
      (lambda: detector.fit(x), 'AnomalyDetector.fit'),
  ]:
    with pytest.raises(TypeError, match=f'{name}: x must be floating.*{fix}'):
      call()
  detector.fit(fitting.digits().train_images[:8])
  with pytest.raises(TypeError, match=f'AnomalyDetector.predict: x.*{fix}'):
    detector.predict(x)
  with pytest.raises(TypeError, match=f'AnomalyDetector.evaluate: x.*{fix}'):
    detector.evaluate(x, [True, False, True, False])


def test_total_variation_closed_forms_and_transforms():
  checker = np.indices((6, 6)).sum(0) % 2  # Every neighbour differs by 1.
  images = np.stack(
      [np.full((6, 6), 0.3), checker, np.tile([0, 1.0], 3)[None].repeat(6, 0)]
  )[..., None].astype(np.float32)
  tv = anomaly.total_variation(jnp.asarray(images))
  # 2 * 6 * 5 unit differences over 36 pixels; stripes: 6 * 5 of them.
  np.testing.assert_allclose(tv, [0, 60 / 36, 30 / 36], rtol=1e-6)
  np.testing.assert_allclose(jax.jit(anomaly.total_variation)(images), tv)
  np.testing.assert_allclose(
      jax.vmap(lambda im: anomaly.total_variation(im[None])[0])(images), tv
  )
  grad = jax.grad(lambda im: anomaly.total_variation(im).sum())(images[1:2])
  assert np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_mse_over_tv_is_the_mse_over_the_inputs_variation():
  model, params = _untrained('ae')  # Digits: flat 64 = 8 x 8 images.
  x = fitting.digits().test_images[:40]
  mse = anomaly.score(model, params, x, kind='mse')
  tv = anomaly.total_variation(jnp.asarray(x).reshape(-1, 8, 8, 1))
  np.testing.assert_allclose(
      anomaly.score(model, params, x, kind='mse_over_tv'),
      mse / (np.asarray(tv, np.float64) + anomaly.TV_EPSILON),
      rtol=1e-5,
  )
  table = models.build_model(fitting.config(model='ae'), (10,))
  assert anomaly.available_scores(table) == ('mse',)
  with pytest.raises(ValueError, match=r"\(10,\) are not images.*kind='mse'"):
    anomaly.score_fn(table, 'mse_over_tv')


def test_neg_elbo_of_a_plain_autoencoder_and_unknown_kinds_are_refused():
  model, params = _untrained('ae')
  assert anomaly.available_scores(model) == ('mse', 'mse_over_tv')
  with pytest.raises(ValueError, match="cannot compute 'neg_elbo'.*no ELBO"):
    anomaly.score_fn(model, 'neg_elbo')
  with pytest.raises(ValueError, match="no ELBO; use kind='mse'"):
    anomaly.AnomalyDetector(model, params, kind='neg_elbo')
  with pytest.raises(ValueError, match="unknown score kind 'nll'"):
    anomaly.score_fn(model, 'nll')


@pytest.mark.parametrize(
    'model_name, overrides, kinds',
    [
        ('ae', {}, ('mse', 'mse_over_tv')),
        ('vae', {}, ('mse', 'neg_elbo', 'mse_over_tv')),
        ('iwae', {'iwae_samples': 2}, ('mse', 'neg_elbo', 'mse_over_tv')),
        ('factor_vae', {}, ('mse', 'neg_elbo', 'mse_over_tv')),
        ('mlp_classifier', {}, ()),  # No decoder, no ELBO.
    ],
)
def test_available_scores_by_model_family(model_name, overrides, kinds):
  config = fitting.config(model=model_name, **overrides)
  model = models.build_model(config, (64,), num_classes=10)
  assert anomaly.available_scores(model) == kinds
  if not kinds:
    with pytest.raises(ValueError, match='no decoder'):
      anomaly.score_fn(model, 'mse')


def test_detector_input_checks():
  model, params = _untrained('ae')
  detector = anomaly.AnomalyDetector(model, params)
  with pytest.raises(RuntimeError, match='fit'):
    detector.threshold  # pylint: disable=pointless-statement
  with pytest.raises(RuntimeError, match='fit'):
    detector.predict(np.zeros((2, 64), np.float32))
  with pytest.raises(ValueError, match=r'shape \[N, 64\]'):
    detector.score(np.zeros((2, 8, 8), np.float32))
  with pytest.raises(ValueError, match='NaN'):
    detector.score(np.full((2, 64), np.nan, np.float32))
  with pytest.raises(ValueError, match='k must be >= 0'):
    detector.fit(np.zeros((4, 64), np.float32), k=-1)
  with pytest.raises(ValueError, match='batch_size'):
    anomaly.AnomalyDetector(model, params, batch_size=0)
  with pytest.raises(TypeError, match='from_trained'):
    anomaly.AnomalyDetector('not a model', params)


# ---------------------------------------------------------------------------
# The one-class binary.
# ---------------------------------------------------------------------------


def _binary(*args):
  return subprocess.run(
      [sys.executable, '-m', 'experiments.one_class', *args],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
      env=dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=ROOT),
  )


def test_binary_three_classes_compiles_once(tmp_path):
  proc = _binary(
      '--config=experiments/configs/vae.py:smoke',
      f'--outdir={tmp_path}',
      '--classes=0,3,7',
      '--epochs=3',
      '--score=mse,neg_elbo,mse_over_tv',
      '--baselines',
  )
  assert proc.returncode == 0, proc.stderr[-4000:]
  result = json.loads((tmp_path / 'one_class.json').read_text())
  rows = result['rows']
  assert [r['class'] for r in rows] == [0, 3, 7]
  assert [r['name'] for r in rows] == ['0', '3', '7']
  for r in rows:
    for kind in ('mse', 'neg_elbo', 'mse_over_tv'):
      assert 0 <= r[f'auroc_{kind}'] <= 1
      assert 0 <= r[f'f1_{kind}'] <= 1
      assert np.isfinite(r[f'threshold_{kind}'])
    assert r['train_examples'] == np.sum(
        fitting.digits().train_labels == r['class']
    )
    assert r['train_seconds'] > 0
  for kind in ('mse', 'neg_elbo'):
    assert result['mean_auroc'][kind] == pytest.approx(
        np.mean([r[f'auroc_{kind}'] for r in rows])
    )
  assert result['baselines'] == ['pca', 'pca_over_tv', 'oc_svm']
  for name in result['baselines']:  # Digits are easy for pixel detectors.
    assert result['mean_auroc_baselines'][name] == pytest.approx(
        np.mean([r[f'auroc_{name}'] for r in rows])
    )
    assert all(r[f'auroc_{name}'] > 0.8 for r in rows), name
  # Measured by counting traces: one training function for three classes,
  # one scoring function per kind.
  assert result['train_compiles'] == 1
  assert result['score_compiles'] == {'mse': 1, 'neg_elbo': 1, 'mse_over_tv': 1}
  # 3 epochs of the smallest class's 145 images at batch 32 = 3 * 4 steps.
  assert result['steps_per_class'] == 12
  assert result['config']['model'] == 'vae'
  png = tmp_path / 'one_class_auroc.png'
  assert (
      png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 5000
  )
  table = proc.stdout
  assert (
      '| class | name | AUROC mse | AUROC neg_elbo | AUROC mse_over_tv |'
      ' AUROC pca |' in table
  )
  assert '| mean |' in table and 'oc_svm' in table
  assert 'training compiled 1 time(s)' in table


def test_baselines_fit_the_images_the_test_split_looks_like(
    tmp_path, monkeypatch
):
  # Under dynamic binarisation the test split is binary and the training
  # split grey: the baselines were fitted on grey images and scored binary
  # ones, while the model's threshold already used binarised training images.
  from experiments.configs import ae  # pylint: disable=g-import-not-at-top

  fitted = []
  real = one_class.baseline_scores

  def recording(name, train_x, test_x, k):
    fitted.append((train_x, test_x))
    return real(name, train_x, test_x, k)

  monkeypatch.setattr(one_class, 'baseline_scores', recording)
  config = ae.get_config('smoke')
  config.binarize = 'dynamic'
  one_class.run(config, tmp_path, classes=[0], epochs=1, baselines=True)
  for train_x, test_x in fitted:
    assert set(np.unique(test_x)) <= {0.0, 1.0}
    assert set(np.unique(train_x)) <= {0.0, 1.0}


def test_pixel_baselines_score_the_training_cloud_lowest():
  rng = np.random.default_rng(0)
  basis = rng.normal(size=(3, 12))  # Normal data: a 3-d subspace of 12-d.
  train_x = rng.normal(size=(200, 3)) @ basis
  inside = rng.normal(size=(50, 3)) @ basis
  outside = inside + 3.0 * rng.normal(size=(50, 12))
  test_x = np.concatenate([inside, outside])
  pca = one_class.baseline_scores('pca', train_x, test_x, 3)
  # Brute force: the residual off the span of the centred training data.
  mean = train_x.mean(0)
  _, _, vt = np.linalg.svd(train_x - mean, full_matrices=False)
  centred = test_x - mean
  residual = centred - centred @ vt[:3].T @ vt[:3]
  np.testing.assert_allclose(pca, np.sum(residual**2, 1), atol=1e-8)
  assert np.max(pca[:50]) < 1e-8 < np.min(pca[50:])
  svm_scores = one_class.baseline_scores('oc_svm', train_x, test_x, 3)
  is_anomaly = np.arange(100) >= 50
  assert anomaly.auroc(svm_scores, is_anomaly) > 0.9
  # 10 features are no square image of 1 or 3 channels.
  with pytest.raises(ValueError, match='as images'):
    one_class.baseline_scores('pca_over_tv', train_x[:, :10], test_x[:, :10], 3)
  images = np.abs(test_x[:, :9]) + 0.1  # 3 x 3 images.
  tv = anomaly.total_variation(jnp.asarray(images).reshape(-1, 3, 3, 1))
  np.testing.assert_allclose(
      one_class.baseline_scores('pca_over_tv', images[:60], images, 2),
      one_class.baseline_scores('pca', images[:60], images, 2)
      / 9
      / (np.asarray(tv, np.float64) + anomaly.TV_EPSILON),
      rtol=1e-6,
  )
  with pytest.raises(ValueError, match="Unknown baseline 'knn'"):
    one_class.baseline_scores('knn', train_x, test_x, 3)


def test_the_score_study_scores_every_class_every_way():
  from experiments import one_class_scores  # pylint: disable=g-import-not-at-top
  from experiments.configs import ae  # pylint: disable=g-import-not-at-top

  rows = one_class_scores.run(ae.get_config('smoke'), [0, 3], epochs=2)
  assert [r['class'] for r in rows] == [0, 3]
  for r in rows:
    assert all(0 <= r[k] <= 100 for k in one_class_scores.SCORES), r
  table = one_class_scores.table(rows)
  assert '| class | mse | mse_over_tv | tv_alone |' in table
  assert table.splitlines()[-1].startswith('| mean |')


def test_the_epoch_function_is_not_retraced_for_another_class():
  config = fitting.config(batch_size=32)
  dataset = fitting.digits()
  model = models.build_model(config, dataset.input_shape)
  trainer = one_class.OneClassTrainer(
      config, dataset, model, epochs=2, steps_per_epoch=2
  )
  p0, loss0 = trainer.train(0)
  p5, loss5 = trainer.train(5)
  assert trainer.train_compiles == 1
  assert trainer._epoch._cache_size() == 1  # pylint: disable=protected-access
  assert np.isfinite(loss0) and np.isfinite(loss5)
  assert not np.allclose(
      jax.tree.leaves(p0)[0], jax.tree.leaves(p5)[0]
  )  # Different classes, different models.


def test_class_indices_are_epochwise_shuffles_of_the_class():
  labels = np.array([0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0])  # 7 zeros.
  idx = one_class.class_indices(
      labels, 0, epochs=3, steps_per_epoch=2, batch_size=3, seed=0
  )
  assert idx.shape == (3, 2, 3) and idx.dtype == np.int32
  members = set(np.flatnonzero(labels == 0))
  for epoch in idx:  # No repeats inside an epoch, members only.
    assert len(set(epoch.ravel())) == 6 and set(epoch.ravel()) <= members
  with pytest.raises(ValueError, match='lower --config.batch_size'):
    one_class.class_indices(
        labels, 1, epochs=1, steps_per_epoch=2, batch_size=3, seed=0
    )


class _NoTraining:

  def __init__(self, *args, **kwargs):
    raise AssertionError('training started despite a bad argument')


@pytest.mark.parametrize(
    'config_name, kwargs, match',
    [
        ('ae', dict(score='neg_elbo'), '--score: neg_elbo is not a score'),
        ('ae', dict(score='nll'), "--score='nll': 'nll' is not a score"),
        ('ae', dict(score='mse,mse'), 'names a score twice'),
        ('ae', dict(classes=[0, 10]), '10 is not a class'),
        ('ae', dict(epochs=0), '--epochs=0'),
        ('ae', dict(k=-1.0), '--k=-1.0'),
    ],
)
def test_bad_arguments_are_refused_before_training(
    tmp_path, monkeypatch, config_name, kwargs, match
):
  from experiments.configs import ae  # pylint: disable=g-import-not-at-top

  del config_name
  monkeypatch.setattr(one_class, 'OneClassTrainer', _NoTraining)
  with pytest.raises(ValueError, match=match):
    one_class.run(ae.get_config('smoke'), tmp_path / 'out', **kwargs)
  assert not (tmp_path / 'out').exists()


def test_parse_classes():
  assert one_class.parse_classes(None) is None
  assert one_class.parse_classes(['0', ' 3', '9']) == [0, 3, 9]
  with pytest.raises(ValueError, match="'x' is not a class index"):
    one_class.parse_classes(['0', 'x'])
  with pytest.raises(ValueError, match='listed twice'):
    one_class.parse_classes(['1', '1'])
  with pytest.raises(ValueError, match='negative'):
    one_class.parse_classes(['-1'])


def test_binary_refuses_a_bad_class_with_a_message(tmp_path):
  proc = _binary(
      '--config=experiments/configs/ae.py:smoke',
      f'--outdir={tmp_path / "out"}',
      '--classes=0,12',
  )
  assert proc.returncode != 0
  assert 'error: --classes: 12 is not a class of' in proc.stderr
  assert 'Traceback' not in proc.stderr
  assert not (tmp_path / 'out').exists()
