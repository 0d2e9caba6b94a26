"""benchmarks.suite: its numbers agree with each other and with FLOP counts."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = (
    '--dataset=digits',
    '--batch_sizes=16',
    '--min_seconds=0.05',
    '--peak_sizes=128,256',
    '--peak_repeats=2',
)


def _run(*args):
  return subprocess.run(
      [sys.executable, '-m', 'benchmarks.suite', *args],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=600,
      env=dict(os.environ, JAX_PLATFORMS='cpu'),
  )


def _mlp_weights(d, hidden=512, latent=20, vae=False):
  """Weights of the MLP d-512-latent autoencoder (VAE: mean and log-variance)."""
  encoder = d * hidden + hidden * latent * (2 if vae else 1)
  return encoder + latent * hidden + hidden * d


def test_families_table_is_consistent_with_flop_counts(tmp_path):
  out = tmp_path / 'r.json'
  proc = _run(
      *TINY,
      '--sections=families',
      '--models=ae,vae,lstm_ae',
      f'--json_out={out}',
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  r = json.loads(out.read_text())
  peak = r['peak']
  assert set(peak['per_size']) == {'128', '256'}
  assert peak['flops_per_s'] == max(peak['per_size'].values()) > 1e8
  rows = {f['model']: f for f in r['families']}
  assert set(rows) == {'ae', 'vae', 'lstm_ae'}
  d = 64  # digits: 8 x 8 pixels.
  for name, f in rows.items():
    assert f['batch_size'] == 16 and f['steps_per_second'] > 0
    assert f['examples_per_second'] == pytest.approx(16 * f['steps_per_second'])
    assert f['fraction_of_peak'] == pytest.approx(
        f['flops_per_step'] * f['steps_per_second'] / peak['flops_per_s']
    )
    assert f['compile_s'] > 0
  # A dense train step costs about 6 x batch x weights FLOPs (forward 2,
  # backward 4, less the unneeded input gradient); XLA's count must agree.
  for name, vae in (('ae', False), ('vae', True)):
    dense = 6 * 16 * _mlp_weights(d, vae=vae)
    assert 0.8 * dense < rows[name]['flops_per_step'] < 1.3 * dense, name
    # The step holds at least its parameters and Adam's two moments.
    assert rows[name]['xla_bytes'] >= 3 * 4 * _mlp_weights(d, vae=vae)
    assert not rows[name]['flops_lower_bound']
  assert rows['lstm_ae']['flops_lower_bound']  # nn.RNN scans over time.
  table = {
      l.split()[0]: l.split() for l in proc.stdout.splitlines() if l.strip()
  }
  assert table['ae'][1] == '16'
  assert float(table['ae'][3]) == pytest.approx(
      rows['ae']['steps_per_second'], rel=1e-3, abs=0.05
  )
  assert table['lstm_ae'][5].startswith('>=')


def test_bfloat16_families_run_against_a_bfloat16_peak(tmp_path):
  out = tmp_path / 'r.json'
  proc = _run(
      *TINY,
      '--sections=families',
      '--models=ae,rbm',
      '--compute_dtype=bfloat16',
      f'--json_out={out}',
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  r = json.loads(out.read_text())
  assert r['peak']['dtype'] == 'bfloat16'
  assert 'matmul peak (bfloat16 jnp.dot' in proc.stdout
  assert [f['model'] for f in r['families']] == ['ae']
  assert 'float32 only: skipped' in proc.stdout  # The RBM.
  # The same FLOPs as in float32: only the compute dtype changed.
  dense = 6 * 16 * _mlp_weights(64)
  assert 0.8 * dense < r['families'][0]['flops_per_step'] < 1.3 * dense


def test_conv_rows_count_model_flops_and_family_peers_time_us(tmp_path):
  """Conv rows under both conv_impls count the model's FLOPs; the family
  peers time our step and loop. Without torch (as in CI) the table says how
  to get the peers; with it, every PyTorch mode has a rate."""
  out = tmp_path / 'r.json'
  proc = _run(
      *TINY,
      '--sections=families,family_peers',
      '--models=conv_ae,vae',
      '--conv_impls=flax,matmul',
      '--peer_seconds=0.2',
      '--repeats=1',
      '--torch_compile=false',
      f'--json_out={out}',
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  r = json.loads(out.read_text())
  rows = {f['conv_impl']: f for f in r['families'] if f['model'] == 'conv_ae'}
  assert set(rows) == {'flax', 'matmul'}
  # flax's convolutions execute exactly the model's FLOPs; the matrix-product
  # forms also multiply the zeros they insert, which are not counted.
  assert (
      rows['flax']['executed_flops_per_step'] == rows['flax']['flops_per_step']
  )
  assert rows['matmul']['flops_per_step'] == rows['flax']['flops_per_step']
  assert (
      rows['matmul']['executed_flops_per_step']
      > rows['matmul']['flops_per_step']
  )
  assert 'conv_ae:matmul' in proc.stdout and 'conv_ae:flax' in proc.stdout
  (p,) = r['family_peers']  # vae has no twin in this section.
  assert p['model'] == 'conv_ae' and p['batch_size'] == 16
  assert p['bare'] > 0 and p['loop'] > 0 and p['flops_per_step'] > 0
  assert 'ae_jax loop' in proc.stdout
  if 'torch_error' in p:
    assert 'pip install -e ".[bench]"' in proc.stdout
  else:
    modes = [r['mode'] for r in p['torch']]
    assert modes == ['eager NCHW', 'eager channels-last']
    assert p['torch_best'] == max(r['steps_per_second'] for r in p['torch'])


def test_bfloat16_family_peers_run_pytorch_under_autocast(tmp_path):
  """--compute_dtype=bfloat16 reaches both sides: our conv AE computes in
  bfloat16, PyTorch's twin runs under torch.autocast on the same kind of
  device (without torch, as in CI, ours alone)."""
  out = tmp_path / 'r.json'
  proc = _run(
      *TINY,
      '--sections=family_peers',
      '--models=conv_ae',
      '--peer_seconds=0.2',
      '--repeats=1',
      '--torch_compile=false',
      '--compute_dtype=bfloat16',
      f'--json_out={out}',
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  (p,) = json.loads(out.read_text())['family_peers']
  assert p['bare'] > 0 and p['loop'] > 0
  assert 'PyTorch with fused Adam, bfloat16' in proc.stdout
  if 'torch_error' not in p:
    assert p['torch_device'] == 'cpu'
    assert all('steps_per_second' in r for r in p['torch']), p['torch']
    assert 'cpu, bfloat16 autocast' in proc.stdout


def test_pytorch_peers_run_on_the_device_kind_jax_runs_on():
  from benchmarks import suite  # pylint: disable=g-import-not-at-top

  assert suite.torch_device('cpu', False) == ('cpu', '')
  assert suite.torch_device('gpu', True) == ('cuda', '')
  device, error = suite.torch_device('gpu', False)
  assert not device and 'CUDA build of torch' in error
  device, error = suite.torch_device('tpu', False)
  assert not device and 'JAX runs on tpu' in error
  assert '--sections=peak,families' in error


@pytest.mark.parametrize(
    'flag, message',
    [
        ('--models=ae,nope', "--models: unknown ['nope']"),
        ('--batch_sizes=0', '--batch_sizes=0 must be positive'),
        ('--sections=peak,speed', "--sections: unknown ['speed']"),
        ('--min_seconds=0', '--min_seconds=0.0 must be > 0'),
        ('--conv_impls=cudnn', "--conv_impls: unknown ['cudnn']"),
        ('--sections=family_peers --models=vae', 'add one of conv_vae'),
    ],
)
def test_bad_flags_are_refused_before_any_work(flag, message):
  proc = _run(*flag.split(), '--json_out=/nonexistent/never_written.json')
  assert proc.returncode != 0
  assert message in proc.stderr
  assert 'matmul peak' not in proc.stdout


@pytest.mark.slow
def test_peer_comparison_ratios(tmp_path):
  pytest.importorskip('torch')
  out = tmp_path / 'r.json'
  proc = _run(
      *TINY,
      '--sections=peers',
      '--peer_steps=20',
      '--loop_examples=6400',
      '--repeats=1',
      '--torch_compile=false',
      f'--json_out={out}',
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  p = json.loads(out.read_text())['peers']
  runs = p['torch']
  assert [(t['mode'], t['adam'], t['flush_denormal']) for t in runs] == [
      ('eager', 'foreach', False),
      ('eager', 'foreach', True),
      ('eager', 'fused', False),
      ('eager', 'fused', True),
  ]
  best = max(t['steps_per_second'] for t in runs)
  assert p['torch_best'] == best > 0
  assert p['loop_over_torch_best'] == pytest.approx(p['loop'] / best)
  assert p['bare_over_torch_best'] == pytest.approx(p['bare'] / best)
  peak = json.loads(out.read_text())['peak']['flops_per_s']
  assert p['ceiling'] == pytest.approx(peak / p['flops_per_step'])
  assert p['loop_of_ceiling'] == pytest.approx(p['loop'] / p['ceiling'])
  assert 'ae_jax training loop' in proc.stdout
  assert 'matmul-peak ceiling' in proc.stdout
