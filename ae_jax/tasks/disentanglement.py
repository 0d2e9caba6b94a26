"""Task 'disentanglement': the standard metrics of a model trained on a
ground-truth set, a per-factor table, latent traversals and the MI matrix.

Every metric follows disentanglement_lib's ``unsupervised_study_v1``
protocol (`ae_jax.metrics.disentanglement`): each starts from
``np.random.RandomState(0)``; MIG, DCI, SAP, modularity and explicitness
share one draw of 10,000 training and 5,000 test observations (the draws
disentanglement_lib makes for each of them from the same seed); the codes
are the encoder's means (its deterministic code for autoencoders).
"""

from __future__ import annotations

import numpy as np

from ae_jax import figures
from ae_jax.data import ground_truth as gt
from ae_jax.metrics import disentanglement as dis
from ae_jax.tasks import common

# The smallest number of training observations accepted (test: half).
MIN_POINTS = 100
KEYS = (
    'beta_vae_score',
    'factor_vae_score',
    'mig',
    'dci_disentanglement',
    'dci_completeness',
    'dci_informativeness',
    'sap',
    'modularity',
    'explicitness',
)
TRAVERSAL_STEPS = 9


def has_factors(trained) -> bool:
  return gt.is_ground_truth(trained.config.dataset)


def check(config, points: int | None = None) -> None:
  """Refuses a run whose data has no factors, or too few points for the
  metrics' splits, from its config alone (before anything is loaded, and
  before a sweep trains)."""
  dataset = config.dataset
  if not gt.is_ground_truth(dataset):
    raise ValueError(
        f'Task disentanglement needs a model trained on a dataset with '
        f'ground-truth factors (--config.dataset='
        f'{"|".join(gt.GROUND_TRUTH_NAMES)}); this one is trained on '
        f'{dataset!r}, which has none.'
    )
  if points is not None and points < min_points(dataset):
    raise ValueError(
        f'--disentanglement_points={points}: the metrics on {dataset} need at '
        f'least {min_points(dataset)} training points (half as many test '
        f'points, enough to see every factor level); disentanglement_lib uses '
        f'{dis.NUM_TRAIN}.'
    )


def min_points(dataset: str) -> int:
  """The fewest training points accepted on ``dataset``: the test half
  must draw each level of its largest factor about 10 times, so that both
  splits hold every level (explicitness needs it)."""
  return max(MIN_POINTS, 20 * gt.MAX_LEVELS.get(dataset, 0))


def load_ground_truth(trained) -> gt.GroundTruthData:
  c = trained.config
  return gt.load_ground_truth(
      c.dataset, dsprites_file=c.get('dsprites_file') or None
  )


def representation(trained):
  """Observations ``[N, H, W, C]`` -> the model's codes ``[N, D]``."""
  shape = tuple(trained.input_shape)
  return lambda obs: common.codes(trained, obs.reshape(len(obs), *shape))


def disentanglement(
    trained, dataset, baseline=None, outdir=None, *, points: int | None = None
) -> dict:
  """The nine standard scores, a per-factor table and two figures.

  ``points``: training observations per metric (test: half);
  None = disentanglement_lib's 10,000 (test 5,000).
  """
  del dataset, baseline  # The metrics draw their own observations.
  check(trained.config, points)
  data = load_ground_truth(trained)
  encode = representation(trained)
  train = points or dis.NUM_TRAIN
  test = dis.NUM_TEST if points is None else points // 2
  rs = np.random.RandomState
  out = dict(
      dis.beta_vae_score(data, encode, rs(0), num_train=train, num_eval=test),
      **dis.factor_vae_score(
          data,
          encode,
          rs(0),
          num_train=train,
          num_eval=test,
          num_variance_estimate=train,
      ),
  )
  draw = rs(0)
  codes, factors = dis.sample_codes(data, encode, train, draw)
  codes_t, factors_t = dis.sample_codes(data, encode, test, draw)
  mi = dis.mutual_information_matrix(codes, factors)
  gaps = dis.mutual_information_gaps(mi, dis.factor_entropy(factors))
  out['mig'] = float(np.mean(gaps))
  dci = dis.dci(codes, factors, codes_t, factors_t)
  importance = dci.pop('importance')
  out.update(dci)
  out['sap'] = dis.sap(codes, factors, codes_t, factors_t)
  out['modularity'] = dis.modularity(mi)
  out.update(dis.explicitness(codes, factors, codes_t, factors_t))
  result = {k: out[k] for k in KEYS}
  result.update(
      {k: v for k, v in out.items() if k not in KEYS},
      num_train_points=train,
      num_test_points=test,
      factor_names=list(data.factor_names),
      mutual_information=mi.tolist(),
      importance=importance.tolist(),
      per_factor=_per_factor(data, mi, importance, gaps),
  )
  if outdir is not None:
    _figures(trained, data, codes, mi, outdir)
  return result


def _per_factor(data, mi, importance, gaps) -> list[dict]:
  rows = []
  for k, name in enumerate(data.factor_names):
    order = np.argsort(mi[:, k])[::-1]
    rows.append(
        {
            'factor': name,
            'levels': data.factor_sizes[k],
            'best_unit': int(order[0]),
            'mi_best_nats': float(mi[order[0], k]),
            'mi_second_nats': float(mi[order[1], k]),
            'mig': float(gaps[k]),
            'dci_top_unit': int(np.argmax(importance[:, k])),
        }
    )
  return rows


def _figures(trained, data, codes, mi, outdir) -> None:
  """traversals.png (rows = units) and mutual_information.png."""
  lo, hi = np.quantile(codes, [0.02, 0.98], axis=0)
  base = codes[0]  # A real observation's code.
  steps = np.linspace(0.0, 1.0, TRAVERSAL_STEPS)
  z = np.repeat(base[None, None], codes.shape[1], axis=0)
  z = np.repeat(z, TRAVERSAL_STEPS, axis=1)  # [units, steps, D]
  for j in range(codes.shape[1]):
    z[j, :, j] = lo[j] + steps * (hi[j] - lo[j])
  images = common.decode(trained, z.reshape(-1, codes.shape[1]))
  images = images.reshape(codes.shape[1], TRAVERSAL_STEPS, -1)
  figures.save_image_rows(
      outdir / 'traversals.png',
      {f'z{j}': images[j] for j in range(codes.shape[1])},
      data.observation_shape,
      title="Latent traversals: unit j swept over its 2-98% range, the others at one observation's code",
  )
  figures.save_matrix(
      outdir / 'mutual_information.png',
      mi,
      rows=[f'z{j}' for j in range(len(mi))],
      columns=list(data.factor_names),
      title='Mutual information (nats), code units x factors',
  )


SWEEP_PANELS = (
    'factor_vae_score',
    'mig',
    'dci_disentanglement',
    'beta_vae_score',
)


def save_sweep_figure(path, rows: list[dict], model: str, fields) -> None:
  """Each metric of `SWEEP_PANELS` against the first swept field of
  ``fields`` other than the seed (the member index if only seeds vary), a
  point per member; diverged members (no metrics) are left out."""
  rows = [r for r in rows if not r.get('diverged')]
  field = next((f for f in fields if f != 'seed'), None)
  xs = [r[field] for r in rows] if field else list(range(len(rows)))
  figures.save_points(
      path,
      {model: (xs, rows)},
      panels=SWEEP_PANELS,
      xlabel=field or 'member',
      title=f'Disentanglement of {model} members (a point per member)',
  )


def summarise(groups: dict[str, list[dict]]) -> list[dict]:
  """Per group of members (e.g. one objective's seeds): the number of
  members and each metric's mean and spread (max - min), one row each."""
  out = []
  for name, rows in groups.items():
    row = {'model': name, 'seeds': len(rows)}
    for key in KEYS:
      values = np.array([r[key] for r in rows], np.float64)
      row[f'{key}_mean'] = float(values.mean())
      row[f'{key}_spread'] = float(values.max() - values.min())
    out.append(row)
  return out


def save_study_figure(path, groups: dict[str, list[dict]]) -> None:
  """`SWEEP_PANELS` per group: a point per member, groups side by side."""
  figures.save_points(
      path,
      {
          name: ([i] * len(rows), rows)
          for i, (name, rows) in enumerate(groups.items())
      },
      panels=SWEEP_PANELS,
      xlabel='objective (see legend, left to right)',
      title='Disentanglement per objective, a point per seed',
  )
