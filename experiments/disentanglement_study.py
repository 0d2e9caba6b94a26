r"""The disentanglement study's table: each objective's metrics over seeds.

  bash experiments/disentanglement_study.sh runs/disent   # trains, evaluates
  python -m experiments.disentanglement_study --runs=runs/disent

Reads ``sweep_disentanglement.json`` of the study's sweeps (``beta_vae``
split by beta, ``factor_vae`` by tc_weight, ``capacity_vae``), prints one
Markdown row per objective with each metric's mean and spread (max - min)
over seeds, and writes ``study.json`` and ``study.png`` (a point per seed)
in ``--runs``.
"""

import json

from absl import app
from absl import flags
from etils import epath

from ae_jax.tasks import disentanglement
from ae_jax.tasks import markdown
from experiments import cli

_RUNS = flags.DEFINE_string('runs', 'runs/disent', 'The study directory.')

# sweep directory -> (field that names the objective, its label).
SWEEPS = {
    'beta_vae': ('beta', lambda v: 'VAE' if v == 1 else f'beta-VAE {v:g}'),
    'factor_vae': ('tc_weight', lambda v: f'FactorVAE {v:g}'),
    'capacity_vae': (None, lambda v: 'capacity beta-VAE'),
}


def groups(runs: epath.Path) -> dict[str, list[dict]]:
  out = {}
  for sweep, (field, label) in SWEEPS.items():
    file = runs / sweep / 'sweep_disentanglement.json'
    if not file.exists():
      print(
          f'missing: {file} (bash experiments/disentanglement_study.sh {runs})'
      )
      continue
    for row in json.loads(file.read_text()):
      if row.get('diverged'):  # Listed by the sweep, not evaluated.
        continue
      out.setdefault(label(row.get(field)), []).append(row)
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  runs = epath.Path(_RUNS.value)
  found = groups(runs)
  if not found:
    return
  rows = disentanglement.summarise(found)
  keys = ['model', 'seeds'] + [
      f'{k}_{s}' for k in disentanglement.KEYS for s in ('mean', 'spread')
  ]
  print(markdown.table(rows, keys, digits=3))
  (runs / 'study.json').write_text(json.dumps(rows, indent=2))
  disentanglement.save_study_figure(runs / 'study.png', found)


if __name__ == '__main__':
  cli.run(main)
