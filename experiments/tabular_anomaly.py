r"""Tabular anomaly detection: ae_jax's PyOD-style detector against scikit-learn.

  python -m experiments.tabular_anomaly               # every dataset, 5 seeds
  python -m experiments.tabular_anomaly --datasets=wbc --seeds=1

Datasets that ship offline, built as the ODDS benchmark builds them (Rayana
2016, https://odds.cs.stonybrook.edu; the PyOD benchmark's protocol):

  wbc     breast cancer (scikit-learn): the 357 benign rows are inliers, 21
          malignant rows drawn at random (seeded) are outliers (ODDS WBC: 378
          rows, 21 outliers, 30 features);
  wine    wine (scikit-learn): classes 1 and 2 (119 rows) are inliers, 10
          rows of class 0 drawn at random are outliers (ODDS Wine: 129 rows,
          10 outliers, 13 features);
  digits  scikit-learn's 8x8 digits as 64 columns: digits 1-9 are inliers,
          3% as many zeros drawn at random are outliers (after ODDS
          optdigits, whose outliers are the zeros).

Each seed draws the outliers and a stratified 60/40 train/test split (PyOD
benchmark); every detector is fitted, unsupervised, on the train rows
(outliers included) standardised by their statistics, and scored by test
AUROC. Baselines (scikit-learn, with PyOD's defaults): IsolationForest (100
trees), OneClassSVM (RBF, nu=0.5, gamma='scale', which on standardised
columns equals PyOD's 'auto'), LocalOutlierFactor (20
neighbours, novelty=True), PCA reconstruction error (as many components as
the autoencoder's code). Prints one Markdown table, mean (std) over seeds.
"""

from collections.abc import Sequence
import time

from absl import app
from absl import flags
import numpy as np
from sklearn import datasets as sk_datasets
from sklearn import decomposition
from sklearn import ensemble
from sklearn import model_selection
from sklearn import neighbors
from sklearn import preprocessing
from sklearn import svm

from ae_jax import estimators
from ae_jax.metrics import anomaly_scores
from experiments import cli

DATASETS = ('wbc', 'wine', 'digits')
DETECTORS = (
    'ae_jax AE (mse)',
    'ae_jax VAE (neg ELBO)',
    'IsolationForest',
    'OneClassSVM',
    'LOF',
    'PCA',
)

_DATASETS = flags.DEFINE_list('datasets', list(DATASETS), f'Of {DATASETS}.')
_SEEDS = flags.DEFINE_integer('seeds', 5, 'Seeds per dataset.')
_STEPS = flags.DEFINE_integer(
    'steps', None, 'Autoencoder steps (None: default).'
)
_LATENT = flags.DEFINE_integer('latent_dim', None, 'Code size (None: default).')


def load_table(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """``(X [N, D] float64, is_outlier [N] int)`` of an ODDS-style set."""
  rng = np.random.default_rng(seed)
  if name == 'wbc':
    d = sk_datasets.load_breast_cancer()
    inlier, num_out = d.target == 1, 21  # 1 = benign.
  elif name == 'wine':
    d = sk_datasets.load_wine()
    inlier, num_out = d.target != 0, 10
  elif name == 'digits':
    d = sk_datasets.load_digits()
    inlier = d.target != 0
    num_out = round(0.03 * inlier.sum())
  else:
    raise ValueError(f'Unknown dataset {name!r}; use one of {DATASETS}.')
  out = rng.choice(np.flatnonzero(~inlier), num_out, replace=False)
  rows = np.concatenate([np.flatnonzero(inlier), np.sort(out)])
  return d.data[rows].astype(np.float64), (~inlier[rows]).astype(int)


def _detector(model, x_train, seed, steps, latent_dim):
  """ae_jax's detector: `tabular_config` of ``model``; the VAE with a
  per-feature output variance, scored by its negative ELBO."""
  config = estimators.tabular_config(x_train.shape[1], len(x_train), model)
  config.seed = seed
  if steps is not None:
    config.num_train_steps = config.checkpoint_every_steps = steps
  if latent_dim is not None:
    config.latent_dim = latent_dim
  if model == 'vae':
    config.likelihood, config.output_variance = 'gaussian', 'per_feature'
  return estimators.AutoencoderOutlierDetector(
      config, standardize=False, score='mse' if model == 'ae' else 'neg_elbo'
  )


def detector_scores(x_train, x_test, seed, steps=None, latent_dim=None):
  """Test scores of every detector in `DETECTORS`, fitted on ``x_train``."""
  scaler = preprocessing.StandardScaler().fit(x_train)
  a, b = scaler.transform(x_train), scaler.transform(x_test)
  ae = _detector('ae', a, seed, steps, latent_dim)
  vae = _detector('vae', a, seed, steps, latent_dim)
  k = ae.config.latent_dim
  pca = decomposition.PCA(k, random_state=seed).fit(a)
  fitted = {
      'ae_jax AE (mse)': lambda: ae.fit(a).decision_function(b),
      'ae_jax VAE (neg ELBO)': lambda: vae.fit(a).decision_function(b),
      'IsolationForest': lambda: -ensemble.IsolationForest(random_state=seed)
      .fit(a)
      .score_samples(b),
      'OneClassSVM': lambda: -svm.OneClassSVM(gamma='scale', nu=0.5)
      .fit(a)
      .score_samples(b),
      'LOF': lambda: -neighbors.LocalOutlierFactor(20, novelty=True)
      .fit(a)
      .score_samples(b),
      'PCA': lambda: np.sum(
          (b - pca.inverse_transform(pca.transform(b))) ** 2, axis=1
      ),
  }
  return {name: fitted[name]() for name in DETECTORS}, k


def check(names: Sequence[str], seeds: int, steps=None, latent_dim=None):
  """Refuses bad flags in one line each, before any table is loaded."""
  unknown = [n for n in names if n not in DATASETS]
  if unknown or not names:
    raise ValueError(
        f'--datasets: unknown {unknown or "(none given)"}; use some of '
        f'{", ".join(DATASETS)}.'
    )
  for flag, value, optional in (
      ('seeds', seeds, False),
      ('steps', steps, True),
      ('latent_dim', latent_dim, True),
  ):
    if not (optional and value is None) and not (
        isinstance(value, int) and value >= 1
    ):
      raise ValueError(f'--{flag}={value} must be a positive integer.')


def run(names: Sequence[str], seeds: int, steps=None, latent_dim=None):
  """Rows of test AUROC per dataset and detector over ``seeds`` seeds."""
  check(names, seeds, steps, latent_dim)
  rows = []
  for name in names:
    aurocs = {d: [] for d in DETECTORS}
    start = time.perf_counter()
    for seed in range(seeds):
      x, y = load_table(name, seed)
      tr, te = model_selection.train_test_split(
          np.arange(len(y)), test_size=0.4, stratify=y, random_state=seed
      )
      scores, k = detector_scores(x[tr], x[te], seed, steps, latent_dim)
      for d, s in scores.items():
        aurocs[d].append(anomaly_scores.auroc(s, y[te]))
    rows.append(
        {
            'dataset': name,
            'rows': len(y),
            'features': x.shape[1],
            'outliers': int(y.sum()),
            'code': k,
            'seconds': time.perf_counter() - start,
            **{d: (np.mean(v), np.std(v)) for d, v in aurocs.items()},
        }
    )
  return rows


def markdown(rows) -> str:
  head = ['dataset', 'rows x features (outliers)', 'code', *DETECTORS]
  lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for r in rows:
    cells = [
        r['dataset'],
        f'{r["rows"]} x {r["features"]} ({r["outliers"]})',
        str(r['code']),
        *(f'{100 * r[d][0]:.1f} ({100 * r[d][1]:.1f})' for d in DETECTORS),
    ]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  rows = cli.exit_on_user_error(
      lambda: run(_DATASETS.value, _SEEDS.value, _STEPS.value, _LATENT.value)
  )
  print(markdown(rows))
  print(
      f'test AUROC x 100, mean (std) over {_SEEDS.value} seeds; wall '
      + ', '.join(f'{r["dataset"]} {r["seconds"]:.0f} s' for r in rows)
  )


if __name__ == '__main__':
  cli.run(main)
