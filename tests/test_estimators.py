"""The scikit-learn transformer and the PyOD-style outlier detector."""

import numpy as np
import pytest
from sklearn import base as sk_base
from sklearn import datasets as sk_datasets
from sklearn import linear_model
from sklearn import pipeline

import ae_jax
from ae_jax import estimators
from ae_jax import train
from ae_jax.metrics import anomaly_scores


def _config(num_features, num_rows, model='ae', steps=300):
  c = estimators.tabular_config(num_features, num_rows, model)
  c.num_train_steps = c.checkpoint_every_steps = steps
  return c


@pytest.fixture(scope='module')
def wine():
  d = sk_datasets.load_wine()
  return d.data, d.target


@pytest.fixture(scope='module')
def fitted_transformer(wine, tmp_path_factory):
  x, _ = wine
  t = estimators.AutoencoderTransformer(
      _config(x.shape[1], len(x)), workdir=str(tmp_path_factory.mktemp('t'))
  )
  return t.fit(x)


def test_transformer_codes_and_inverse(fitted_transformer, wine):
  x, _ = wine
  t = fitted_transformer
  z = t.transform(x)
  assert z.shape == (len(x), t.trained_.latent_dim) and t.n_features_in_ == 13
  np.testing.assert_allclose(t.mean_, x.mean(0))
  back = t.inverse_transform(z)
  # Reconstructions in the units of X: closer to X than its column means.
  assert np.mean(((back - x) / t.scale_) ** 2) < 0.5
  with pytest.raises(ValueError, match='X has 12 features but the estimator'):
    t.transform(x[:, :12])
  with pytest.raises(ValueError, match='NaN or inf'):
    t.transform(np.full((2, 13), np.nan))


def test_transformer_in_a_pipeline_and_under_clone(fitted_transformer, wine):
  x, y = wine
  clone = sk_base.clone(fitted_transformer)
  assert clone.get_params() == fitted_transformer.get_params()
  assert not hasattr(clone, 'trained_')
  clf = pipeline.make_pipeline(
      fitted_transformer, linear_model.LogisticRegression(max_iter=1000)
  )
  # The pipeline refits the transformer (a fresh run) and the probe on
  # the codes classifies wine.
  clf.fit(x[::2], y[::2])
  assert clf.score(x[1::2], y[1::2]) > 0.8


def test_unfitted_transformer_is_refused():
  with pytest.raises(Exception, match='not fitted'):
    estimators.AutoencoderTransformer().transform(np.zeros((2, 3)))


def _with_outliers(seed=0):
  """Wine classes 1 and 2 as inliers and 10 rows of class 0 (ODDS Wine)."""
  d = sk_datasets.load_wine()
  rng = np.random.default_rng(seed)
  out = rng.choice(np.flatnonzero(d.target == 0), 10, replace=False)
  rows = np.concatenate([np.flatnonzero(d.target != 0), out])
  return d.data[rows], (d.target[rows] == 0).astype(int)


@pytest.fixture(scope='module')
def fitted_detector(tmp_path_factory):
  x, y = _with_outliers()
  det = estimators.AutoencoderOutlierDetector(
      _config(x.shape[1], len(x), 'vae', steps=600),
      workdir=str(tmp_path_factory.mktemp('d')),
      contamination=0.1,
      score='neg_elbo',
  )
  return det.fit(x), x, y


def test_detector_follows_pyod_conventions(fitted_detector):
  det, x, y = fitted_detector
  assert det.decision_scores_.shape == (len(x),)
  assert det.labels_.dtype.kind == 'i' and set(det.labels_) <= {0, 1}
  # contamination sets the share of training rows above the threshold.
  assert abs(det.labels_.mean() - 0.1) < 0.02
  np.testing.assert_array_equal(det.predict(x), det.labels_)
  np.testing.assert_allclose(det.decision_function(x), det.decision_scores_)
  for method in ('linear', 'unify'):
    p = det.predict_proba(x, method=method)
    assert p.shape == (len(x), 2)
    np.testing.assert_allclose(p.sum(1), 1)
    assert 0 <= p.min() and p.max() <= 1
  # Ranking agrees between scores and probabilities.
  linear = det.predict_proba(x)[:, 1]
  assert np.all(np.diff(linear[np.argsort(det.decision_scores_)]) >= 0)
  # The outliers (another cultivar) score above the inliers.
  assert anomaly_scores.auroc(det.decision_scores_, y) > 0.7


def test_detector_refusals(fitted_detector):
  det, x, _ = fitted_detector
  with pytest.raises(ValueError, match='contamination=0.7 must be'):
    estimators.AutoencoderOutlierDetector(contamination=0.7).fit(x)
  with pytest.raises(ValueError, match="score='elbo' is not one of"):
    estimators.AutoencoderOutlierDetector(score='elbo').fit(x)
  with pytest.raises(ValueError, match='2-D array'):
    det.decision_function(x[0])
  # Finite, but beyond float32 once standardised: named, not "NaN/inf".
  huge = x[:3].copy()
  huge[1, 2] = 1e39
  with pytest.raises(ValueError, match="row 1, column 'x2': 1e\\+39 lies"):
    det.decision_function(huge)
  with pytest.raises(ValueError, match="column\\(s\\) 'x0'.*overflows float64"):
    estimators.AutoencoderOutlierDetector().fit(x * np.r_[1e300, np.ones(12)])
  with pytest.raises(TypeError, match='must be numeric'):
    det.decision_function(np.array([['a'] * 13]))
  with pytest.raises(ValueError, match='method=.x. is not one of'):
    det.predict_proba(x, method='x')


def test_detector_wraps_a_trained_table_run(tmp_path):
  # A csv: run's own standardisation is applied to raw rows; fit trains
  # nothing.
  x, _ = _with_outliers()
  path = tmp_path / 'w.csv'
  header = ','.join(f'f{i}' for i in range(13))
  np.savetxt(path, x, delimiter=',', header=header, comments='')
  c = _config(13, 100)
  c.dataset, c.batch_size, c.eval_batch_size = f'csv:{path}', 32, 20
  train.train_and_evaluate(c, tmp_path / 'run')
  trained = ae_jax.load(tmp_path / 'run')
  det = estimators.AutoencoderOutlierDetector.from_trained(trained)
  det.fit(x)
  expected = ae_jax.anomaly.score(
      trained.model, trained.params, trained.preprocess(x), 'mse'
  )
  np.testing.assert_allclose(det.decision_scores_, expected)
  assert det.trained_ is trained
  # NumPy scalars are numbers too (np.float32 was refused).
  det = estimators.AutoencoderOutlierDetector.from_trained(
      trained, contamination=np.float32(0.2)
  ).fit(x)
  assert abs(det.labels_.mean() - 0.2) < 0.03
  with pytest.raises(TypeError, match=r'pass ae_jax.load\(workdir\)'):
    estimators.AutoencoderTransformer.from_trained('runs/x')


def test_tasks_refuse_a_run_trained_on_rows_in_memory(fitted_transformer):
  # Its config.dataset keeps the default (digits): tasks and sample() loaded
  # digits for a wine table, and evaluated them without a word.
  trained = ae_jax.load(fitted_transformer.workdir_)
  with pytest.raises(ValueError, match="trained on 'rows' .*loads 'digits'"):
    ae_jax.tasks.load_data(trained)
  with pytest.raises(ValueError, match='encode, reconstruct or score'):
    trained.sample(2)


def test_fitted_estimators_pickle_and_their_runs_load(fitted_transformer, wine):
  import pickle  # pylint: disable=g-import-not-at-top

  x, _ = wine
  t = pickle.loads(pickle.dumps(fitted_transformer))
  np.testing.assert_allclose(t.transform(x), fitted_transformer.transform(x))
  # The run records the standardisation: loaded, it reads raw rows alike.
  loaded = ae_jax.load(fitted_transformer.workdir_)
  np.testing.assert_allclose(
      loaded.encode(loaded.preprocess(x)), fitted_transformer.transform(x)
  )


def test_scores_the_model_lacks_and_bernoulli_refused_before_training(wine):
  x, _ = wine
  with pytest.raises(ValueError, match="score='neg_elbo' is not a score"):
    estimators.AutoencoderOutlierDetector(score='neg_elbo').fit(x)
  c = _config(13, len(x))
  c.likelihood = 'bernoulli'
  with pytest.raises(ValueError, match='likelihood=bernoulli needs values'):
    estimators.AutoencoderTransformer(c).fit(x)


def test_bad_config_or_workdir_is_refused_before_a_run_directory(
    wine, tmp_path
):
  x, _ = wine
  with pytest.raises(TypeError, match="config must be a ConfigDict.*'vae'"):
    estimators.AutoencoderTransformer(config='vae').fit(x)
  (tmp_path / 'file').write_text('')
  with pytest.raises(ValueError, match='is a file; pass a directory'):
    estimators.AutoencoderTransformer(workdir=str(tmp_path / 'file')).fit(x)
  # The trainer's own checks run first: no empty fit_* directory is left.
  c = estimators.tabular_config(13, len(x))
  c.learning_rate = -1.0
  with pytest.raises(ValueError, match='learning_rate=-1.0 must be > 0'):
    estimators.AutoencoderTransformer(c, workdir=str(tmp_path / 'w')).fit(x)
  assert not (tmp_path / 'w').exists()


def test_tabular_anomaly_table_on_one_dataset():
  from experiments import tabular_anomaly  # pylint: disable=g-import-not-at-top

  x, y = tabular_anomaly.load_table('wine', seed=0)
  assert x.shape == (129, 13) and y.sum() == 10
  rows = tabular_anomaly.run(['wine'], seeds=1, steps=50)
  (row,) = rows
  assert set(tabular_anomaly.DETECTORS) <= set(row)
  # The baselines' AUROCs are fixed by their seeds; each is a probability.
  assert all(0 <= row[d][0] <= 1 for d in tabular_anomaly.DETECTORS)
  assert row['IsolationForest'][0] > 0.75
  table = tabular_anomaly.markdown(rows)
  assert table.count('\n') == 2 and '| wine | 129 x 13 (10) |' in table


@pytest.mark.parametrize(
    'args, message',
    [
        (dict(names=['wine', 'bogus']), r"--datasets: unknown \['bogus'\]"),
        (dict(seeds=0), '--seeds=0 must be a positive'),  # UnboundLocalError.
        (dict(steps=-5), '--steps=-5 must be a positive'),
        (dict(latent_dim=0), '--latent_dim=0 must be'),  # Ignored before.
    ],
)
def test_tabular_anomaly_refuses_bad_flags_before_any_training(args, message):
  from experiments import tabular_anomaly  # pylint: disable=g-import-not-at-top

  args = dict(dict(names=['wine'], seeds=1), **args)
  with pytest.raises(ValueError, match=message):
    tabular_anomaly.run(**args)
