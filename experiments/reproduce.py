r"""Ours beside the published numbers: one table from the paper runs.

  python -m experiments.reproduce                        # reads runs/papers
  python -m experiments.reproduce --paper_runs=/data/papers --report=report.md

Reads the work directories of the paper runs
(``<paper_runs>/<claim>/seed<k>``), prints one Markdown table (ours: mean and spread over the seeds found;
the published number and its source, or the baseline where none is
published; the gap; the issue's target; the
training wall time of each run) and lists every missing run with the
commands that make it. Exits 0 whether or not the runs exist, so it can be
run at any time.
"""

from collections.abc import Callable
import dataclasses
import datetime
import json
import os

from absl import app
from absl import flags
from etils import epath
import numpy as np

from experiments.configs.papers import deep_ae_pca

_RUNS = flags.DEFINE_string(
    'paper_runs', 'runs/papers', 'Root of the paper runs.'
)
_REPORT = flags.DEFINE_string(
    'report', None, 'Also write the report to this Markdown file.'
)
SEEDS = (0, 1, 2)
PROBE_CV_FOLDS = 5


def _read_json(path: epath.Path) -> dict | None:
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError):
    return None


def _nll_all_test_images(workdir: epath.Path) -> float | None:
  """The k = 5000 test NLL of `--task=nll --nll_examples=0` (all images)."""
  result = _read_json(workdir / 'eval_nll.json')
  if not result or result.get('examples') != 10000:
    return None
  return result['nll']


def _ae_over_pca(workdir: epath.Path) -> float | None:
  result = _read_json(workdir / 'eval_pca.json')
  return None if not result else result['ae_over_pca']


def _one_class_mean_auroc(workdir: epath.Path) -> float | None:
  """The mean AUROC of the ``mse_over_tv`` score over all ten classes."""
  result = _read_json(workdir / 'one_class.json')
  if not result or len(result.get('rows', ())) != 10:
    return None
  auroc = result['mean_auroc'].get('mse_over_tv')
  return None if auroc is None else 100 * auroc


def _probe_accuracy(workdir: epath.Path) -> float | None:
  result = _read_json(workdir / 'eval_probe.json')
  return None if not result else result['codes']


def _probe_gain(labels: int) -> Callable[[epath.Path], float | None]:
  """The codes' mean accuracy minus the pixels' on the same ``labels``
  training labels, each fit's penalty chosen by `PROBE_CV_FOLDS`-fold
  cross-validation (a run evaluated with other folds or C = 1 is not read)."""

  def read(workdir: epath.Path) -> float | None:
    result = _read_json(workdir / 'eval_probe.json')
    if not result or result.get('cv_folds') != PROBE_CV_FOLDS:
      return None
    for row in result.get('label_efficiency', ()):
      if row['features'] == 'codes' and row['labels'] == labels:
        return row['gain_over_pixels']
    return None

  return read


@dataclasses.dataclass(frozen=True)
class Claim:
  """A published number and how our run of the same protocol is read."""

  key: str  # Its name, and its folder under --paper_runs unless `folder`.
  what: str
  published: float | None  # None: no published number, ours is the bar.
  source: str
  target: float  # What the issue asks of ours: at most / at least this.
  lower_is_better: bool
  read: Callable[[epath.Path], float | None]
  commands: tuple[str, ...]  # With {workdir} and {seed}.
  # Config values the run must have (its config.json): a run of another
  # protocol in the claim's folder is not read, but listed as missing.
  requires: tuple[tuple[str, object], ...] = ()
  folder: str = ''  # Another claim's runs, read another way.

  @property
  def directory(self) -> str:
    return self.folder or self.key

  @property
  def target_text(self) -> str:
    return f'{"at most" if self.lower_is_better else "at least"} {self.target}'

  def met(self, ours: float) -> bool:
    return ours <= self.target if self.lower_is_better else ours >= self.target


_NLL = (
    'python -m experiments.train '
    '--config=experiments/configs/papers/vae_nll.py{arg} --config.seed={seed} '
    '--workdir={workdir}',
    'python -m experiments.evaluate --workdir={workdir} --task=nll '
    '--nll_examples=0',
)

_PROBE = (
    'python -m experiments.train --config=experiments/configs/papers/'
    'dae_probe.py --config.seed={seed} --workdir={workdir}',
    'python -m experiments.evaluate --workdir={workdir} --task=probe'
    f' --probe_cv_folds={PROBE_CV_FOLDS}',
)

CLAIMS = (
    Claim(
        key='vae_nll',
        what=(
            'VAE test NLL, nats (gated 784-300-300-40; k = 5000, all 10,000'
            ' test images)'
        ),
        published=228.70,
        source='Exemplar VAE (Norouzi et al. 2020), Table 1, VAE',
        target=230,
        lower_is_better=True,
        read=_nll_all_test_images,
        commands=tuple(c.replace('{arg}', '') for c in _NLL),
        requires=(('activation', 'gated'),),
    ),
    Claim(
        key='vampprior_nll',
        what=(
            'VampPrior test NLL, nats (gated 784-300-300-40, 500'
            ' pseudo-inputs; k = 5000, all 10,000 test images)'
        ),
        published=227.35,
        source='Exemplar VAE (Norouzi et al. 2020), Table 1, VampPrior',
        target=228.7,
        lower_is_better=True,
        read=_nll_all_test_images,
        commands=tuple(c.replace('{arg}', ':model=vampprior') for c in _NLL),
        requires=(('activation', 'gated'),),
    ),
    Claim(
        key='deep_ae_pca',
        what='deep AE 784-1000-500-250-30 test MSE / PCA-30',
        published=3.00 / 13.87,
        source='Hinton & Salakhutdinov (2006), MNIST: 3.00 vs 13.87',
        target=0.5,
        lower_is_better=True,
        read=_ae_over_pca,
        commands=(
            'python -m experiments.train '
            '--config=experiments/configs/papers/deep_ae_pca.py '
            '--config.seed={seed} --workdir={workdir}',
            'python -m experiments.evaluate --workdir={workdir} --task=pca',
        ),
        # The paper's 50 epochs of RBM pretraining per layer (runs with
        # fewer are another protocol).
        requires=(('pretrain_steps', deep_ae_pca.get_config().pretrain_steps),),
    ),
    Claim(
        key='one_class',
        what=(
            'one-class AUROC x 100, mean of the 10 classes (MLP AE, score'
            ' mse_over_tv)'
        ),
        published=92.8,
        source='Golan & El-Yaniv (2018), Table 2, raw-pixel OC-SVM',
        target=92.8,
        lower_is_better=False,
        read=_one_class_mean_auroc,
        commands=(
            'python -m experiments.one_class --outdir={workdir} '
            '--config=experiments/configs/ae.py:dataset=fashion_mnist '
            '--config.seed={seed} --score=mse,mse_over_tv --baselines',
        ),
    ),
    Claim(
        key='probe',
        what='linear probe on features learned without labels, test accuracy',
        published=0.842,
        source='Xiao et al. (2017), benchmark: logistic regression on pixels',
        target=0.85,
        lower_is_better=False,
        read=_probe_accuracy,
        commands=_PROBE,
    ),
    *(
        Claim(
            key=f'probe_{labels}_labels',
            folder='probe',
            what=(
                f'the same probe on {labels:,} labels (penalty by'
                f' {PROBE_CV_FOLDS}-fold CV):'
                ' codes minus pixels, test accuracy, mean of the label draws'
            ),
            published=None,
            source='none: logistic regression on pixels, same labels and C grid',
            target=0.0,
            lower_is_better=False,
            read=_probe_gain(labels),
            commands=_PROBE,
        )
        for labels in (100, 1000)
    ),
)


def _first_launch(launches: epath.Path) -> float:
  first = json.loads(launches.read_text().split('\n')[0])
  return datetime.datetime.fromisoformat(first['time']).timestamp()


def _wall_seconds(workdir: epath.Path) -> float | None:
  """The run's wall time: ``one_class.json``'s own, else the first launch
  (the pretraining's, ``pretrain/layer_<i>``, where the run pretrains) to
  ``final_metrics.json`` (a relaunch rewrites that file: then the time
  between launches counts too)."""
  one_class = _read_json(workdir / 'one_class.json')
  if one_class and 'total_seconds' in one_class:
    return one_class['total_seconds']
  try:
    start = _first_launch(workdir / 'launches.jsonl')
    for layer in (workdir / 'pretrain').glob('layer_*/launches.jsonl'):
      start = min(start, _first_launch(layer))
    return os.stat(workdir / 'final_metrics.json').st_mtime - start
  except (OSError, ValueError, KeyError, IndexError):
    return None


def _mismatch(workdir: epath.Path, requires) -> str | None:
  """How a run in ``workdir`` differs from the claim's protocol:
  ``'key=value, needs required'`` for each config value it lacks, '' when
  it is of the protocol, None when it has no ``config.json`` to tell."""
  if not requires:
    return ''
  config = _read_json(workdir / 'config.json')
  if config is None:
    return None
  return '; '.join(
      f'{key}={config.get(key)!r}, needs {value!r}'
      for key, value in requires
      if config.get(key) != value
  )


def collect(root: epath.Path, claims=CLAIMS, seeds=SEEDS) -> list[dict]:
  """Per claim: our values by seed, the training wall times and the
  commands of the missing seeds."""
  out = []
  for claim in claims:
    values, walls, missing = {}, [], []
    for seed in seeds:
      workdir = root / claim.directory / f'seed{seed}'
      value, other = None, _mismatch(workdir, claim.requires)
      if workdir.exists() and other == '':
        value = claim.read(workdir)
      if value is None:
        commands = [
            c.format(workdir=workdir, seed=seed) for c in claim.commands
        ]
        if other:  # The trainer would refuse its changed config.
          commands.insert(
              0,
              f'# {workdir} holds a run of another protocol ({other}): move'
              ' it away first',
          )
        missing.append(commands)
        continue
      values[seed] = value
      wall = _wall_seconds(workdir)
      if wall is not None:
        walls.append(wall)
    out.append(
        {'claim': claim, 'values': values, 'walls': walls, 'missing': missing}
    )
  return out


def _number(x: float) -> str:
  return f'{x:.3f}' if abs(x) < 10 else f'{x:.2f}'


def markdown(rows: list[dict]) -> str:
  """The report: the table, then the commands of the missing runs."""
  lines = [
      '| claim | ours (mean ± std, seeds) | published | gap | target | met'
      ' | train wall time per run |',
      '|---|---|---|---|---|---|---|',
  ]
  for row in rows:
    claim, values = row['claim'], row['values']
    published = (
        claim.source
        if claim.published is None
        else f'{_number(claim.published)} ({claim.source})'
    )
    if not values:
      lines.append(
          f'| {claim.what} | not run | {published} | | {claim.target_text} | | |'
      )
      continue
    v = np.asarray(list(values.values()))
    mean = float(np.mean(v))
    gap = '' if claim.published is None else f'{mean - claim.published:+.3g}'
    seeds = ','.join(map(str, values))
    wall = (
        f'{np.mean(row["walls"]) / 60:.0f} min' if row['walls'] else 'unknown'
    )
    # One seed has no spread to show: say so instead of "± 0".
    ours = (
        f'{_number(mean)} ± {_number(float(np.std(v)))} (seeds {seeds})'
        if len(v) > 1
        else f'{_number(mean)} (seed {seeds} only)'
    )
    lines.append(
        f'| {claim.what} | {ours} | {published} | {gap} |'
        f' {claim.target_text} | {"yes" if claim.met(mean) else "no"} |'
        f' {wall} |'
    )
  missing = [(row['claim'], m) for row in rows for m in row['missing']]
  if missing:
    lines += ['', 'Missing runs (one block per claim and seed):', '', '```']
    for claim, commands in missing:
      lines.append(f'# {claim.key}')
      lines += commands
    lines.append('```')
  return '\n'.join(lines)


def main(argv):
  del argv
  report = markdown(collect(epath.Path(_RUNS.value)))
  print(report)
  if _REPORT.value:
    epath.Path(_REPORT.value).write_text(report + '\n')


if __name__ == '__main__':
  app.run(main)
