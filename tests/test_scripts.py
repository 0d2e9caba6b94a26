"""The seeds binary and the throughput benchmark still run and report."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(module, *args):
  return subprocess.run(
      [sys.executable, '-m', module, *args],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=600,
      env=dict(os.environ, JAX_PLATFORMS='cpu'),
  )


def test_seeds_reports_mean_and_spread(tmp_path):
  proc = _run(
      'experiments.seeds',
      '--config=experiments/configs/vae.py:smoke',
      f'--workdir={tmp_path}',
      '--seeds=0,1',
      '--metrics=neg_elbo,loss_kl',
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = json.loads((tmp_path / 'seeds.json').read_text())
  per_seed = rows['neg_elbo']['per_seed']
  assert len(per_seed) == 2 and per_seed[0] != per_seed[1]  # Seeds differ.
  assert abs(rows['neg_elbo']['mean'] - sum(per_seed) / 2) < 1e-9
  assert '| metric | mean | spread (max-min) | per seed |' in proc.stdout
  assert '| neg_elbo |' in proc.stdout

  # An unknown metric name is an error naming the available ones; the runs
  # above are reused (resumed), not retrained.
  proc = _run(
      'experiments.seeds',
      '--config=experiments/configs/vae.py:smoke',
      f'--workdir={tmp_path}',
      '--seeds=0,1',
      '--metrics=accuracy',
  )
  assert proc.returncode != 0
  assert "unknown --metrics ['accuracy']" in proc.stderr
  assert 'neg_elbo' in proc.stderr
  # A bad seed list: one line before anything trains (it was a traceback).
  proc = _run(
      'experiments.seeds',
      '--config=experiments/configs/vae.py:smoke',
      f'--workdir={tmp_path}/bad',
      '--seeds=a,b',
  )
  assert proc.returncode == 1 and 'Traceback' not in proc.stderr
  assert 'error: --seeds=a,b: give comma-separated int values' in proc.stderr
  assert not (tmp_path / 'bad').exists()
  # A seed out of range: refused before seed 0 trains (it trained first).
  proc = _run(
      'experiments.seeds',
      '--config=experiments/configs/vae.py:smoke',
      f'--workdir={tmp_path}/bad',
      '--seeds=0,-1',
  )
  assert proc.returncode == 1 and 'Traceback' not in proc.stderr
  assert 'error: --seeds: [-1] outside [0, 2**32 - 1]' in proc.stderr
  assert not (tmp_path / 'bad').exists()


def test_throughput_benchmark_prints_its_table():
  proc = _run(
      'benchmarks.throughput',
      '--models=ae',
      '--batch_sizes=64',
      '--examples=6400',
      '--repeats=1',
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  row = [l for l in proc.stdout.splitlines() if l.startswith('ae ')]
  assert len(row) == 1, proc.stdout
  fields = row[0].split()
  assert fields[1] == '64' and fields[-1] == '10'  # 100 steps: 10 per call.
  assert float(fields[3]) > 0 and float(fields[4]) > 0


def test_startup_benchmark_prints_each_command_against_import_jax():
  proc = _run('benchmarks.startup', '--repeats=1')
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = [l for l in proc.stdout.splitlines() if l.startswith('| `')]
  assert len(rows) == 4, proc.stdout
  assert rows[0].endswith('| 1.00 |')  # import jax against itself.
  assert all(float(r.split('|')[2]) > 0 for r in rows)


def test_conv_layers_benchmark_prints_both_forms_of_each_layer():
  proc = _run('benchmarks.conv_layers', '--batch_size=2', '--repeats=1')
  assert proc.returncode == 0, proc.stderr[-3000:]
  layers, gradients = proc.stdout.split('\n\n')
  rows = [l for l in layers.splitlines() if l.startswith('| ')][1:]
  assert len(rows) == 6, proc.stdout  # Five layers and their total.
  assert all(r.rstrip().endswith('x |') for r in rows)
  assert rows[-1].startswith('| all five layers |')
  # The transposed layers' two gradients.
  rows = [l for l in gradients.splitlines() if l.startswith('| deconv')]
  assert len(rows) == 2 and all(r.rstrip().endswith('x |') for r in rows)


def test_code_sizes_compares_each_size_with_pca(tmp_path):
  proc = _run(
      'experiments.code_sizes',
      '--config=experiments/configs/ae.py:smoke',
      '--config.num_train_steps=20',
      f'--workdir={tmp_path}',
      '--code_sizes=4,2',
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = json.loads((tmp_path / 'code_sizes.json').read_text())
  assert [r['code_size'] for r in rows] == [2, 4]
  for r in rows:
    assert r['model_over_pca'] == r['model_mse'] / r['pca_mse']
  # PCA with more components reconstructs better: the baseline is real.
  assert rows[1]['pca_mse'] < rows[0]['pca_mse']
  assert (tmp_path / 'code_sizes.png').stat().st_size > 0
  assert '| 2 |' in proc.stdout and '| 4 |' in proc.stdout


def test_code_sizes_refuses_bad_sizes_before_training(tmp_path):
  proc = _run(
      'experiments.code_sizes',
      '--config=experiments/configs/ae.py:smoke',
      f'--workdir={tmp_path}',
      '--code_sizes=2,0',
  )
  assert proc.returncode != 0
  assert 'positive integers' in proc.stderr
  assert not list(tmp_path.iterdir())


def test_sweep_benchmark_prints_the_ratio():
  proc = _run(
      'benchmarks.sweep',
      '--k=2',
      '--steps=10',
      '--hidden=16',
      '--config=experiments/configs/vae.py',
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  speedup = [l for l in proc.stdout.splitlines() if l.startswith('speed-up')]
  assert len(speedup) == 1, proc.stdout
  assert float(speedup[0].split()[-1].rstrip('x')) > 0
