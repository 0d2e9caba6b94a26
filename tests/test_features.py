"""Label efficiency of linear probes, stratified label subsets and the probe
task's curve on a smoke run."""

import functools
import types

import numpy as np
import pytest

import ae_jax
from ae_jax import train
from ae_jax.metrics import probes
from ae_jax.tasks import common
from ae_jax.tasks import features
from experiments.configs import ae as ae_config


def _gaussian_classes(seed=0, *, n_train=2000, n_test=1000, c=4, d=50):
  """Classes N(mu_c, I) with random means: a known Bayes classifier (the
  nearest true mean), linear, whose accuracy a probe approaches with labels."""
  rng = np.random.default_rng(seed)
  means = rng.normal(size=(c, d)) * 0.4
  y = rng.integers(0, c, n_train + n_test).astype(np.int32)
  x = means[y] + rng.normal(size=(len(y), d))
  dist = ((x[n_train:, None, :] - means[None]) ** 2).sum(-1)
  bayes = float(np.mean(dist.argmin(1) == y[n_train:]))
  return (x[:n_train], y[:n_train], x[n_train:], y[n_train:]), bayes


def test_more_labels_approach_the_bayes_accuracy():
  data, bayes = _gaussian_classes()
  rows = probes.label_efficiency(*data, sizes=(20, 200, None))
  assert [r['labels'] for r in rows] == [20, 200, 2000]
  assert [r['repeats'] for r in rows] == [5, 3, 1]
  means = [r['accuracy_mean'] for r in rows]
  # Measured: 0.646, 0.858, 0.905 against a Bayes accuracy of 0.931.
  assert means[0] < means[1] - 0.1 and means[1] <= means[2] + 0.01
  assert means[0] < bayes - 0.15
  assert bayes - 0.04 <= means[2] <= bayes + 0.02
  assert rows[0]['accuracy_std'] > 0 and rows[2]['accuracy_std'] == 0


def test_all_labels_row_is_the_linear_probe_and_draws_are_averaged():
  data, _ = _gaussian_classes(1, n_train=600, n_test=300)
  rows = probes.label_efficiency(*data, sizes=(None, 40), repeats=3, seed=7)
  assert rows[0]['accuracy_mean'] == probes.linear_probe_accuracy(*data, seed=7)
  x, y, x_test, y_test = data
  draws = []
  for i in range(3):  # Brute force: the same seeded stratified subsets.
    idx = probes.stratified_subset(y, 40, seed=7 + i)
    draws.append(
        probes.linear_probe_accuracy(x[idx], y[idx], x_test, y_test, seed=7 + i)
    )
  assert rows[1]['repeats'] == 3
  assert rows[1]['accuracy_mean'] == pytest.approx(np.mean(draws))
  assert rows[1]['accuracy_std'] == pytest.approx(np.std(draws))
  assert len(set(draws)) > 1  # The draws differ.


def test_stratified_subset_gives_every_class_its_share():
  rng = np.random.default_rng(0)
  balanced = rng.permutation(np.repeat(np.arange(10), 30)).astype(np.int32)
  for k in (1, 3, 7):
    idx = probes.stratified_subset(balanced, 10 * k, seed=k)
    assert len(np.unique(idx)) == 10 * k and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(np.bincount(balanced[idx]), [k] * 10)
  a = probes.stratified_subset(balanced, 30, seed=0)
  b = probes.stratified_subset(balanced, 30, seed=1)
  assert not np.array_equal(a, b)
  np.testing.assert_array_equal(
      a, probes.stratified_subset(balanced, 30, seed=0)
  )
  counts = np.array([20, 40, 60, 80, 200])  # Unbalanced: 5% ... 50%.
  labels = rng.permutation(np.repeat(np.arange(5), counts)).astype(np.int32)
  for num in (5, 37, 100):
    got = np.bincount(labels[probes.stratified_subset(labels, num)], None, 5)
    assert got.sum() == num
    assert np.all(np.abs(got - num * counts / counts.sum()) <= 1), got
  np.testing.assert_array_equal(
      probes.stratified_subset(labels, len(labels)), np.arange(len(labels))
  )


def test_bad_sizes_are_refused_before_any_fit(monkeypatch):
  data, _ = _gaussian_classes(2, n_train=200, n_test=50)

  def no_fit(*args, **kwargs):
    raise AssertionError('fitted before checking the sizes')

  monkeypatch.setattr(probes, '_linear_probe', no_fit)
  le = functools.partial(probes.label_efficiency, *data)
  with pytest.raises(ValueError, match='between the number of classes'):
    le(sizes=(100, 3))  # Fewer labels than the 4 classes.
  with pytest.raises(ValueError, match='N_train - 4 = 196'):
    le(sizes=(198,))  # Too few left out to stratify.
  with pytest.raises(ValueError, match='positive int'):
    le(sizes=(0,))
  with pytest.raises(ValueError, match='positive int'):
    le(sizes=(10.5,))
  with pytest.raises(ValueError, match='sequence'):
    le(sizes=100)
  with pytest.raises(ValueError, match='empty'):
    le(sizes=())
  with pytest.raises(ValueError, match='repeats'):
    le(repeats=0)
  x, y, x_test, y_test = data
  with pytest.raises(ValueError, match='single class'):
    probes.label_efficiency(x, np.zeros_like(y), x_test, y_test)
  with pytest.raises(ValueError, match='NaN'):
    probes.label_efficiency(x * np.nan, y, x_test, y_test)
  with pytest.raises(TypeError, match='integer class ids'):
    probes.label_efficiency(x, y.astype(float), x_test, y_test)
  with pytest.raises(ValueError, match='between the number of classes'):
    probes.stratified_subset(y, 2)
  with pytest.raises(ValueError, match='single example'):
    probes.stratified_subset(np.array([0, 0, 0, 1, 2, 2, 2, 2]), 4)


def test_probe_task_adds_a_label_efficiency_curve(tmp_path, monkeypatch):
  config = ae_config.get_config('smoke')
  config.num_train_steps = 30
  config.write_figures = False
  train.train_and_evaluate(config, tmp_path / 'ae')
  trained = ae_jax.load(tmp_path / 'ae')
  dataset = common.load_data(trained)
  fits = []
  probe_fn = probes.linear_probe_accuracy
  fit_fn = probes._linear_probe  # pylint: disable=protected-access

  def counted(x, *args, **kwargs):
    fits.append(np.shape(x))
    return fit_fn(x, *args, **kwargs)

  monkeypatch.setattr(probes, '_linear_probe', counted)
  result = features.probe(trained, dataset, outdir=tmp_path / 'figs')
  monkeypatch.undo()

  n = len(dataset.train_labels)  # 1,497 digits.
  rows = result['label_efficiency']
  assert [(r['features'], r['labels']) for r in rows] == [
      (f, s) for f in ('codes', 'raw_pixels', 'pca') for s in (100, 1000, n)
  ]
  assert [r['repeats'] for r in rows[:3]] == [5, 3, 1]
  for name in ('codes', 'raw_pixels', 'pca'):
    (full,) = [r for r in rows if r['features'] == name and r['labels'] == n]
    assert result[name] == full['accuracy_mean']
  # The headline pixel accuracy is the plain probe, fitted only once.
  flat = lambda a: a.reshape(len(a), -1)
  assert result['raw_pixels'] == probe_fn(
      flat(dataset.train_images),
      dataset.train_labels,
      flat(dataset.test_images),
      dataset.test_labels,
  )
  assert fits.count((n, 64)) == 1 and len(fits) == 3 * (5 + 3 + 1)
  assert result['code_size'] == 2
  pixels = [r['accuracy_mean'] for r in rows if r['features'] == 'raw_pixels']
  # Measured on digits: 0.878 (100 labels), 0.968, 0.970.
  assert pixels[0] < pixels[2] - 0.03
  assert (tmp_path / 'figs' / 'label_efficiency.png').stat().st_size > 0
  # Paired with the pixels draw by draw: the same subsets, brute force.
  codes = [
      common.codes(trained, dataset.train_images),
      common.codes(trained, dataset.test_images),
  ]
  gains = []
  for i in range(5):
    idx = probes.stratified_subset(dataset.train_labels, 100, seed=i)
    acc = lambda tr, te: probe_fn(
        tr[idx], dataset.train_labels[idx], te, dataset.test_labels, seed=i
    )
    gains.append(
        acc(*codes) - acc(flat(dataset.train_images), flat(dataset.test_images))
    )
  assert rows[0]['gain_over_pixels'] == pytest.approx(np.mean(gains))
  assert rows[0]['draws_above_pixels'] == sum(g > 0 for g in gains)
  assert rows[2]['gain_over_pixels'] == pytest.approx(
      result['codes'] - result['raw_pixels']
  )
  assert all('gain_over_pixels' in r for r in rows if r['features'] == 'pca')
  assert not any('gain_over_pixels' in r for r in rows[3:6])  # Pixels.
  assert not any('accuracies' in r for r in rows)
  assert all(r['penalties'] == [1.0] * r['repeats'] for r in rows)  # C = 1.


@pytest.mark.filterwarnings('ignore::FutureWarning')  # The brute force's.
def test_cv_folds_choose_the_penalty_by_cross_validation_on_the_labels():
  from sklearn import linear_model  # pylint: disable=g-import-not-at-top
  from sklearn import model_selection  # pylint: disable=g-import-not-at-top
  from sklearn import pipeline  # pylint: disable=g-import-not-at-top
  from sklearn import preprocessing  # pylint: disable=g-import-not-at-top

  (x, y, x_test, y_test), _ = _gaussian_classes(0, d=100)
  idx = probes.stratified_subset(y, 40)
  x, y = x[idx], y[idx]  # 10 labels a class: where the penalty matters.
  chosen = probes.linear_probe_accuracy(x, y, x_test, y_test, cv_folds=5)
  fixed = probes.linear_probe_accuracy(x, y, x_test, y_test)

  def searched(x, y, folds, seed):
    """Brute force: scikit-learn's own search over the same grid and folds."""
    search = linear_model.LogisticRegressionCV(
        Cs=list(np.logspace(-4, 2, 13)),
        cv=model_selection.StratifiedKFold(
            folds, shuffle=True, random_state=seed
        ),
        scoring='neg_log_loss',
        max_iter=1000,
        random_state=seed,
    )
    fitted = pipeline.make_pipeline(preprocessing.StandardScaler(), search)
    return fitted.fit(x, y), search

  want, search = searched(x, y, 5, 0)
  assert chosen == np.mean(want.predict(x_test) == y_test)
  # It chose another penalty than C = 1, so another probe (measured: C =
  # 3.16, accuracy 0.934 against 0.937; Bayes 0.992).
  assert np.ravel(search.C_)[0] != 1.0 and chosen != fixed
  # label_efficiency: CV on the subsets only; every label keeps C = 1.
  data = _gaussian_classes(3, n_train=400, n_test=200)[0]
  rows = probes.label_efficiency(*data, sizes=(40, None), cv_folds=3)
  plain = probes.label_efficiency(*data, sizes=(40, None))
  assert rows[1]['accuracy_mean'] == plain[1]['accuracy_mean']
  xs, ys, xt, yt = data
  idx = probes.stratified_subset(ys, 40, seed=1)
  assert rows[0]['accuracies'][1] == probes.linear_probe_accuracy(
      xs[idx], ys[idx], xt, yt, seed=1, cv_folds=3
  )
  # Each draw records the penalty its fit used: the grid value that
  # scikit-learn's search picks for that draw, 1.0 without CV.
  _, search = searched(xs[idx], ys[idx], 3, 1)
  assert rows[0]['penalties'][1] == np.ravel(search.C_)[0]
  assert set(rows[0]['penalties']) <= set(probes.PENALTIES)
  assert rows[1]['penalties'] == [1.0]
  assert plain[0]['penalties'] == [1.0] * plain[0]['repeats']


def test_bad_cv_folds_are_refused_before_any_fit(monkeypatch):
  data, _ = _gaussian_classes(2, n_train=200, n_test=50)
  for bad in (1, -1, True, 2.5, '5'):
    with pytest.raises(ValueError, match=r'cv_folds=.* must be 0'):
      probes.linear_probe_accuracy(*data, cv_folds=bad)
  with pytest.raises(ValueError, match=r'--probe_cv_folds\): cv_folds=1'):
    features.check(None, cv_folds=1)

  def no_fit(*args, **kwargs):
    raise AssertionError('fitted before checking the folds')

  monkeypatch.setattr(probes, '_linear_probe', no_fit)
  # 8 labels of 4 classes: 2 of each, too few for 3 folds; refused before the
  # all-labels fit that comes first.
  with pytest.raises(ValueError, match='cv_folds=3 needs at least 3 examples'):
    probes.label_efficiency(*data, sizes=(None, 8), cv_folds=3)


def test_the_probe_task_refuses_bad_folds_before_encoding(monkeypatch):
  from ae_jax import tasks  # pylint: disable=g-import-not-at-top
  from tests import fitting  # pylint: disable=g-import-not-at-top

  config = ae_config.get_config('smoke')
  with pytest.raises(ValueError, match='probe_cv_folds'):
    tasks.check(['probe'], config, {'probe': {'cv_folds': 1}})
  tasks.check(['probe'], config, {'probe': {'cv_folds': 5}})

  def no_work(*args, **kwargs):
    raise AssertionError('encoded before checking the folds')

  monkeypatch.setattr(common, 'codes', no_work)
  monkeypatch.setattr(features.pca, 'pca_codes', no_work)
  trained = types.SimpleNamespace(config=config)
  # 100 of the 1,497 digits: 10 labels a class, too few for 11 folds.
  with pytest.raises(
      ValueError, match=r'probe \(--probe_cv_folds\): cv_folds=11 needs'
  ):
    features.probe(trained, fitting.digits(), cv_folds=11)
