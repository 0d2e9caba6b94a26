"""scikit-learn and PyOD-style estimators around an autoencoder, for tables.

``AutoencoderTransformer`` is a scikit-learn transformer: ``fit(X)`` trains
an autoencoder on the rows of ``X`` ``[N, D]`` and ``transform(X)`` returns
their codes ``[N, latent_dim]``. It has ``get_params``/``set_params``, works
under ``sklearn.base.clone`` and in ``make_pipeline(AutoencoderTransformer(),
LogisticRegression())``.

``AutoencoderOutlierDetector`` follows PyOD's detector conventions (Zhao et
al. 2019, ``pyod.models.base.BaseDetector``): ``fit(X)`` trains on unlabelled
rows (which may hold anomalies), then sets ``decision_scores_`` (the
training rows' scores, higher = more anomalous), ``threshold_`` (the
``1 - contamination`` quantile of those scores) and ``labels_`` (0 inlier, 1
outlier); ``decision_function(X)`` scores new rows, ``predict(X)`` gives 0/1
and ``predict_proba(X)`` ``[N, 2]`` by PyOD's 'linear' (min-max scaling by
the training scores) or 'unify' (Gaussian scaling, Kriegel et al. 2011)
method. The score is a `ae_jax.anomaly` kind: ``'mse'`` (reconstruction
error) or ``'neg_elbo'`` (VAE family).

Both train when given a config (an ``ml_collections.ConfigDict`` of any
model; None = `tabular_config`, a small Gaussian MLP autoencoder sized to
``X``), standardising each column with the mean and standard deviation of
the ``X`` given to ``fit`` (``standardize=True``), or wrap a trained work
directory: ``from_trained(ae_jax.load(dir))``, whose own preprocessing
(``TrainedModel.preprocess``, e.g. a csv: table's standardisation) is
applied to raw rows and which ``fit`` does not train (a clone of such an
estimator is an untrained one with the default config).

Each ``fit`` trains a fresh run in a new work directory inside ``workdir``
(None: the system's temporary folder), kept as ``workdir_``; its
``dataset.json`` records the standardisation, so ``ae_jax.load(workdir_)``
reads raw rows through ``preprocess`` as the estimator does. A fitted
estimator pickles (joblib) by its work directory, which must still exist
when it is unpickled.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile

import ml_collections
import numpy as np
from sklearn import base as sk_base

from ae_jax import anomaly
from ae_jax import configs
from ae_jax import data
from ae_jax import models
from ae_jax import trained as trained_lib
from ae_jax.data import user_files

__all__ = [
    'AutoencoderOutlierDetector',
    'AutoencoderTransformer',
    'tabular_config',
]

PROBA_METHODS = ('linear', 'unify')


def tabular_config(num_features: int, num_rows: int, model: str = 'ae'):
  """A small autoencoder for a table of ``num_rows`` x ``num_features``
  standardised values: one hidden layer of 64 ReLU units, a code of
  ``clip(num_features // 2, 2, 8)``, a Gaussian likelihood (squared error),
  Adam 1e-3, batches of ``min(128, num_rows)``, 1,000 steps (small tables
  overfit in more), no figures."""
  c = configs.default_config(model)
  c.likelihood = 'gaussian'
  c.hidden_sizes = (64,)
  c.latent_dim = int(min(8, max(2, num_features // 2)))
  c.batch_size = int(min(128, num_rows))
  c.eval_batch_size = c.batch_size
  c.num_train_steps = 1000
  c.eval_every_steps = 0
  c.checkpoint_every_steps = c.num_train_steps
  c.log_every_steps = 500
  c.progress_bar = False
  c.write_figures = False
  return c


def _rows(name: str, x, num_features: int | None = None) -> np.ndarray:
  """``x`` as float64 ``[N, D]``, finite, with the fitted ``D``."""
  x = np.asarray(x)
  if x.dtype.kind not in 'biuf':
    raise TypeError(
        f'{name}: X must be numeric, got dtype {x.dtype}; encode '
        'non-numeric columns as numbers first.'
    )
  if x.ndim != 2 or 0 in x.shape:
    raise ValueError(
        f'{name}: X must be a non-empty 2-D array [n_samples, n_features], '
        f'got shape {x.shape}; reshape a single row with x.reshape(1, -1).'
    )
  if num_features is not None and x.shape[1] != num_features:
    raise ValueError(
        f'{name}: X has {x.shape[1]} features but the estimator was fitted '
        f'on {num_features}; pass the same columns in the same order.'
    )
  if not np.isfinite(x).all():
    raise ValueError(
        f'{name}: X has {int(np.size(x) - np.isfinite(x).sum())} NaN or inf '
        'values; impute or drop them first.'
    )
  return x.astype(np.float64)


class _Autoencoder(sk_base.BaseEstimator):
  """What both estimators share: training on rows, or a trained model."""

  _pretrained = None  # A `TrainedModel` given to `from_trained`.

  def __init__(self, config=None, *, workdir=None, standardize=True):
    self.config = config
    self.workdir = workdir
    self.standardize = standardize

  @classmethod
  def _wrap(cls, trained: trained_lib.TrainedModel, **params):
    if not isinstance(trained, trained_lib.TrainedModel):
      raise TypeError(
          f'{cls.__name__}.from_trained: pass ae_jax.load(workdir), got '
          f'{type(trained).__name__}.'
      )
    if len(trained.input_shape) != 1:
      raise ValueError(
          f'{cls.__name__}.from_trained: the model reads inputs of shape '
          f'{trained.input_shape}; these estimators take rows [N, D] of a '
          'model trained on vectors (layout=flat).'
      )
    est = cls(**params)
    est._pretrained = trained  # pylint: disable=protected-access
    return est

  def _fit_model(self, x, name: str) -> None:
    """Trains (or takes) the model; sets ``trained_``, ``n_features_in_``."""
    if self._pretrained is not None:
      self.trained_ = self._pretrained
      self.n_features_in_ = self.trained_.input_shape[0]
      _rows(name, x, self.n_features_in_)
      return
    x = _rows(name, x)
    if len(x) < 2:
      raise ValueError(f'{name}: X has {len(x)} row; at least 2 are needed.')
    from ae_jax import train  # pylint: disable=g-import-not-at-top

    self.n_features_in_ = x.shape[1]
    if self.config is not None and not isinstance(
        self.config, (dict, ml_collections.ConfigDict)
    ):
      raise TypeError(
          f'{name}: config must be a ConfigDict or dict, got '
          f'{self.config!r}; e.g. config=estimators.tabular_config(D, N, '
          '"vae") for a VAE, or None for the default autoencoder.'
      )
    if self.workdir and os.path.exists(self.workdir):
      if not os.path.isdir(self.workdir):
        raise ValueError(
            f'{name}: workdir={self.workdir!r} is a file; pass a directory '
            '(each fit makes its own fit_* run inside it).'
        )
    config = (
        tabular_config(*x.shape[::-1])
        if self.config is None
        else configs.normalize(self.config)
    )
    self._check_config(config, name)
    config.batch_size = min(config.batch_size, len(x))
    config.eval_batch_size = min(config.eval_batch_size, len(x))
    # Every check the trainer makes, before a run directory is made for it.
    config = train.trainer.check_config(config)
    if self.standardize:
      std = x.std(axis=0)
      self.mean_, self.scale_ = x.mean(axis=0), np.where(std > 0, std, 1.0)
    else:
      self.mean_, self.scale_ = np.zeros(x.shape[1]), np.ones(x.shape[1])
    # Recorded in the run's dataset.json: ae_jax.load(workdir_).preprocess
    # applies it to raw rows.
    preprocessing = {
        'kind': 'standardize',
        'columns': [f'x{i}' for i in range(x.shape[1])],
        'mean': self.mean_.tolist(),
        'std': self.scale_.tolist(),
    }
    rows = user_files.standardize(x, preprocessing)
    zeros = np.zeros(len(rows), np.int32)
    dataset = data.Dataset(
        name='rows',
        train_images=rows,
        train_labels=zeros,
        test_images=rows,  # The training fit; sklearn keeps no test split.
        test_labels=zeros,
        num_classes=1,
        class_names=('rows',),
        preprocessing=preprocessing,
        is_images=False,
    )
    # A fresh run per fit: sklearn refits from scratch on new rows.
    if self.workdir:
      os.makedirs(self.workdir, exist_ok=True)
    self.workdir_ = tempfile.mkdtemp(prefix='fit_', dir=self.workdir or None)
    train.train_and_evaluate(config, self.workdir_, dataset=dataset)
    self.trained_ = trained_lib.load(self.workdir_)

  def _check_config(self, config, name: str) -> None:
    """What would fail only after training, refused before it."""
    score = getattr(self, 'score', 'mse')
    model = models.build_model(
        config, (self.n_features_in_,), num_classes=1, num_train=2
    )
    if score not in anomaly.available_scores(model):
      raise ValueError(
          f'{name}: score={score!r} is not a score of config.model='
          f'{config.model!r} (it has {anomaly.available_scores(model)}); '
          'pass score="mse", or a config of the VAE family for "neg_elbo".'
      )
    if self.standardize and config.likelihood == 'bernoulli':
      raise ValueError(
          f'{name}: config.likelihood=bernoulli needs values in [0, 1], but '
          'standardised rows are not; set config.likelihood = "gaussian".'
      )

  def __getstate__(self):
    # The loaded model holds jitted functions; pickle its work directory.
    state = dict(self.__dict__)
    state.pop('trained_', None)
    state.pop('_pretrained', None)
    workdir = getattr(self, 'trained_', None) and self.trained_.workdir
    state['_trained_workdir'] = None if workdir is None else str(workdir)
    state['_was_pretrained'] = self._pretrained is not None
    return state

  def __setstate__(self, state):
    workdir = state.pop('_trained_workdir', None)
    was_pretrained = state.pop('_was_pretrained', False)
    self.__dict__.update(state)
    if workdir is not None:
      self.trained_ = trained_lib.load(workdir)
      if was_pretrained:
        self._pretrained = self.trained_

  def _inputs(self, x, name: str) -> np.ndarray:
    """Raw rows as the model reads them (standardised as in training)."""
    sk_base.check_is_fitted(self, 'trained_')
    return self.trained_.preprocess(_rows(name, x, self.n_features_in_))


class AutoencoderTransformer(sk_base.TransformerMixin, _Autoencoder):
  """Rows to autoencoder codes, as a scikit-learn transformer.

  Args:
    config: an ae_jax config (any model with an encoder), or None for
      `tabular_config`.
    workdir: the folder each fit's work directory is made in (None: the
      system's temporary folder).
    standardize: standardise each column with the statistics of the rows
      given to `fit`.
  """

  @classmethod
  def from_trained(cls, trained) -> 'AutoencoderTransformer':
    """The transformer of a trained work directory (``fit`` does not
    train)."""
    return cls._wrap(trained)

  def fit(self, X, y=None):  # pylint: disable=invalid-name
    del y
    self._fit_model(X, 'AutoencoderTransformer.fit')
    return self

  def transform(self, X) -> np.ndarray:  # pylint: disable=invalid-name
    """Codes ``[N, latent_dim]`` (a VAE's posterior mean)."""
    x = self._inputs(X, 'AutoencoderTransformer.transform')
    return self.trained_.encode(x)

  def inverse_transform(self, Z) -> np.ndarray:  # pylint: disable=invalid-name
    """Decoded rows ``[N, D]`` in the units of ``X`` for codes ``Z``: the
    run's recorded preprocessing (a standardisation, a unit scale) undone."""
    sk_base.check_is_fitted(self, 'trained_')
    decoded = np.asarray(
        self.trained_.decode(np.asarray(Z, np.float32)), np.float64
    )
    p = self.trained_.preprocessing or {}
    if p.get('kind') == 'standardize':
      return decoded * np.asarray(p['std']) + np.asarray(p['mean'])
    if p.get('kind') == 'unit_scale':
      return decoded * p['divide_by']
    return decoded


class AutoencoderOutlierDetector(_Autoencoder):
  """A PyOD-style outlier detector on an autoencoder's anomaly score.

  Args:
    config, workdir, standardize: as `AutoencoderTransformer`.
    contamination: the expected share of outliers in the training rows, in
      (0, 0.5]; sets ``threshold_``.
    score: an `ae_jax.anomaly` score kind the model has (``'mse'``,
      ``'neg_elbo'``).

  Attributes (after fit): ``decision_scores_``, ``threshold_``, ``labels_``,
  ``trained_`` (the `TrainedModel`).
  """

  def __init__(
      self,
      config=None,
      *,
      workdir=None,
      standardize=True,
      contamination=0.1,
      score='mse',
  ):
    super().__init__(config, workdir=workdir, standardize=standardize)
    self.contamination = contamination
    self.score = score

  @classmethod
  def from_trained(
      cls, trained, *, contamination=0.1, score='mse'
  ) -> 'AutoencoderOutlierDetector':
    """The detector of a trained work directory (``fit`` only sets the
    threshold)."""
    return cls._wrap(trained, contamination=contamination, score=score)

  def fit(self, X, y=None):  # pylint: disable=invalid-name
    """Trains on ``X`` (unless wrapping a trained model) and sets
    ``decision_scores_``, ``threshold_`` and ``labels_``; ``y`` is
    ignored (unsupervised, as in PyOD)."""
    del y
    name = 'AutoencoderOutlierDetector.fit'
    c = self.contamination
    if isinstance(c, (bool, np.bool_)) or not (
        isinstance(c, numbers.Real) and 0 < c <= 0.5
    ):
      raise ValueError(
          f'{name}: contamination={c!r} must be a number in (0, 0.5] (the '
          'expected share of outliers); pass contamination=0.1, say.'
      )
    if self.score not in anomaly.SCORE_KINDS:
      raise ValueError(
          f'{name}: score={self.score!r} is not one of '
          f'{anomaly.SCORE_KINDS}; pass score="mse".'
      )
    self._fit_model(X, name)
    self.decision_scores_ = self.decision_function(X)
    self.threshold_ = float(
        np.quantile(self.decision_scores_, 1.0 - self.contamination)
    )
    self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
    return self

  def decision_function(self, X) -> np.ndarray:  # pylint: disable=invalid-name
    """float64 ``[N]`` outlier scores, higher = more anomalous."""
    x = self._inputs(X, 'AutoencoderOutlierDetector.decision_function')
    return anomaly.score(
        self.trained_.model, self.trained_.params, x, self.score
    )

  def predict(self, X) -> np.ndarray:  # pylint: disable=invalid-name
    """int ``[N]``: 1 where the score exceeds ``threshold_`` (or is not
    finite), else 0."""
    scores = self.decision_function(X)
    return ((scores > self.threshold_) | ~np.isfinite(scores)).astype(int)

  def predict_proba(self, X, method: str = 'linear') -> np.ndarray:  # pylint: disable=invalid-name
    """``[N, 2]``: probability of inlier, outlier. 'linear': the score
    min-max scaled by the training scores, clipped to [0, 1]; 'unify':
    ``erf((score - mean) / (std * sqrt(2)))`` of the training scores,
    clipped at 0 (PyOD's two methods)."""
    if method not in PROBA_METHODS:
      raise ValueError(
          f'predict_proba: method={method!r} is not one of {PROBA_METHODS}.'
      )
    scores = self.decision_function(X)
    train = self.decision_scores_
    if method == 'linear':
      span = max(train.max() - train.min(), np.finfo(float).tiny)
      outlier = np.clip((scores - train.min()) / span, 0.0, 1.0)
    else:
      std = max(train.std(), np.finfo(float).tiny)
      z = (scores - train.mean()) / (std * math.sqrt(2))
      outlier = np.clip(np.vectorize(math.erf)(z), 0.0, 1.0)
    outlier = np.where(np.isfinite(outlier), outlier, 1.0)
    return np.stack([1.0 - outlier, outlier], axis=1)
