"""experiments.reproduce: the table of ours against the published numbers."""

import datetime
import json
import os
import subprocess
import sys

from etils import epath

from experiments import reproduce


def _write(path, name, content):
  path.mkdir(parents=True, exist_ok=True)
  (path / name).write_text(json.dumps(content))


def test_table_from_runs_and_missing_commands(tmp_path):
  root = epath.Path(tmp_path)
  for seed, nll in ((0, 229.0), (1, 231.0)):
    run = root / 'vae_nll' / f'seed{seed}'
    _write(run, 'eval_nll.json', {'examples': 10000, 'nll': nll})
    _write(run, 'config.json', {'activation': 'gated'})
    _write(run, 'final_metrics.json', {})
    start = datetime.datetime.fromtimestamp(
        os.stat(run / 'final_metrics.json').st_mtime - 600,
        datetime.timezone.utc,
    )
    (run / 'launches.jsonl').write_text(
        json.dumps({'time': start.isoformat()}) + '\n'
    )
  _write(
      root / 'one_class' / 'seed0',
      'one_class.json',
      {
          'rows': [{}] * 10,
          'mean_auroc': {'mse': 0.8, 'mse_over_tv': 0.9},
          'total_seconds': 120.0,
      },
  )
  # NLL on the first 1,000 images only: not the protocol, so not read.
  _write(
      root / 'vae_nll' / 'seed2',
      'eval_nll.json',
      {'examples': 1000, 'nll': 1.0},
  )
  # A run of the ReLU network (the protocol before gated layers): not read.
  relu = root / 'vampprior_nll' / 'seed0'
  _write(relu, 'eval_nll.json', {'examples': 10000, 'nll': 220.0})
  _write(relu, 'config.json', {'activation': 'relu'})
  # A pretrained deep AE: its wall time starts at the first layer's launch.
  deep = root / 'deep_ae_pca' / 'seed0'
  _write(deep, 'eval_pca.json', {'ae_over_pca': 0.46})
  _write(deep, 'config.json', {'pretrain_steps': 30000})
  _write(deep, 'final_metrics.json', {})
  end = os.stat(deep / 'final_metrics.json').st_mtime
  for path, minutes in ((deep, 12), (deep / 'pretrain' / 'layer_0', 25)):
    path.mkdir(parents=True, exist_ok=True)
    start = datetime.datetime.fromtimestamp(
        end - 60 * minutes, datetime.timezone.utc
    )
    (path / 'launches.jsonl').write_text(
        json.dumps({'time': start.isoformat()}) + '\n'
    )
  # A deep AE of the shorter pretraining: not read, and named as such.
  short = root / 'deep_ae_pca' / 'seed1'
  _write(short, 'eval_pca.json', {'ae_over_pca': 0.52})
  _write(short, 'config.json', {'pretrain_steps': 4000})
  rows = reproduce.collect(root)
  assert not rows[1]['values'] and len(rows[1]['missing']) == 3
  deep_missing = rows[2]['missing']
  assert deep_missing[0][0] == (
      f'# {short} holds a run of another protocol (pretrain_steps=4000, '
      'needs 30000): move it away first'
  )
  assert not deep_missing[1][0].startswith('#')  # seed2: plainly missing.
  vae = rows[0]
  assert vae['values'] == {0: 229.0, 1: 231.0}
  assert len(vae['missing']) == 1 and 'seed2' in vae['missing'][0][0]
  report = reproduce.markdown(rows)
  line = next(l for l in report.splitlines() if l.startswith('| VAE test NLL'))
  assert 'gated 784-300-300-40' in line
  # Mean 230.00 +- 1.00, gap +1.3 to the published 228.70, target met.
  assert '230.00 ± 1.000 (seeds 0,1)' in line and '+1.3' in line
  assert '| at most 230 | yes | 10 min |' in line
  line = next(l for l in report.splitlines() if l.startswith('| one-class'))
  assert '90.00 (seed 0 only)' in line and '| no | 2 min |' in line
  assert 'python -m experiments.one_class --outdir=' in report
  line = next(l for l in report.splitlines() if l.startswith('| deep AE'))
  assert '0.460 (seed 0 only)' in line and '| yes | 25 min |' in line


def test_runs_without_any_run_and_exits_0(tmp_path):
  out = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.reproduce',
          f'--paper_runs={tmp_path}',
          f'--report={tmp_path}/report.md',
      ],
      capture_output=True,
      text=True,
      check=False,
  )
  assert out.returncode == 0, out.stderr
  assert out.stdout.count('not run') == len(reproduce.CLAIMS)
  assert (tmp_path / 'report.md').read_text().strip() == out.stdout.strip()


def test_label_efficiency_rows_read_cross_validated_probes_only(tmp_path):
  root = epath.Path(tmp_path)

  def probe_run(seed, cv_folds, gains):
    rows = [
        {'features': f, 'labels': n, 'gain_over_pixels': g}
        for f in ('pca', 'codes')
        for n, g in zip((100, 1000, 60000), gains)
    ]
    _write(
        root / 'probe' / f'seed{seed}',
        'eval_probe.json',
        {'codes': 0.87, 'cv_folds': cv_folds, 'label_efficiency': rows},
    )

  probe_run(0, 5, (0.02, 0.01, 0.03))
  probe_run(1, 5, (0.04, -0.03, 0.03))
  probe_run(2, 0, (0.5, 0.5, 0.5))  # C = 1: another protocol, not read.
  rows = {r['claim'].key: r for r in reproduce.collect(root)}
  assert rows['probe']['values'] == {0: 0.87, 1: 0.87, 2: 0.87}
  assert rows['probe_100_labels']['values'] == {0: 0.02, 1: 0.04}
  assert rows['probe_1000_labels']['values'] == {0: 0.01, 1: -0.03}
  missing = rows['probe_100_labels']['missing']
  assert len(missing) == 1 and '--probe_cv_folds=5' in missing[0][-1]
  assert 'probe/seed2' in missing[0][-1]
  lines = reproduce.markdown(list(rows.values())).splitlines()
  line = next(l for l in lines if 'on 100 labels' in l)
  # No published number: no gap; the target is "above pixels".
  assert '| 0.030 ± 0.010 (seeds 0,1) | none: logistic' in line
  assert '|  | at least 0.0 | yes |' in line
  line = next(l for l in lines if 'on 1,000 labels' in l)
  assert '-0.010 ± 0.020 (seeds 0,1)' in line and '| no |' in line
