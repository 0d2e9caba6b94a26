"""Multi-host training for real: 2 processes on 127.0.0.1 (CPU, Gloo).

The slow test starts two ``experiments.train`` processes joined by
``jax.distributed.initialize``, checks that they finish, agree bit for bit on
their parameters, write each file once and save a checkpoint that holds those
parameters; reruns them to resume from it; and compares the result with one
process training on the same global batches (equal up to reduction order).
"""

import json
import os
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from ae_jax.train import distributed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = '--config=experiments/configs/vae.py:smoke'  # Batch 32, 2 devices.
TIMEOUT_S = 240


def _env():
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env.pop('XLA_FLAGS', None)  # One CPU device per process.
  return env


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _summary(stdout: str) -> dict:
  """The JSON summary printed last (Gloo prints a line before it)."""
  lines = stdout.splitlines()
  return json.loads('\n'.join(lines[lines.index('{') :]))


def _train(workdir, logs, *flags, processes=2, tag='run'):
  """Runs ``processes`` copies of the binary; returns (codes, outs, errs)."""
  if processes > 1:
    port = _free_port()
    per_process = [
        [
            '--distributed=on',
            f'--coordinator_address=127.0.0.1:{port}',
            f'--num_processes={processes}',
            f'--process_id={i}',
        ]
        for i in range(processes)
    ]
  else:
    per_process = [['--distributed=off']]
  procs, files = [], []
  for i, extra in enumerate(per_process):
    out = open(logs / f'{tag}_{i}.out', 'w+')
    err = open(logs / f'{tag}_{i}.err', 'w+')
    files.append((out, err))
    procs.append(
        subprocess.Popen(
            [
                sys.executable,
                '-m',
                'experiments.train',
                CONFIG,
                f'--workdir={workdir}',
                *flags,
                *extra,
            ],
            cwd=ROOT,
            env=_env(),
            stdout=out,
            stderr=err,
            text=True,
        )
    )
  deadline = time.monotonic() + TIMEOUT_S
  try:
    codes = [p.wait(timeout=max(1, deadline - time.monotonic())) for p in procs]
  finally:
    for p in procs:  # A hung peer must not outlive the test.
      if p.poll() is None:
        p.kill()
        p.wait()
  outs, errs = [], []
  for out, err in files:
    out.seek(0)
    err.seek(0)
    outs.append(out.read())
    errs.append(err.read())
    out.close()
    err.close()
  for i, code in enumerate(codes):
    assert code == 0, f'process {i} exited {code}:\n{errs[i][-4000:]}'
  return outs, errs


def _restore_params(workdir, step: int) -> dict:
  """Parameters of checkpoint ``step`` as NumPy, in this single process."""
  path = workdir / 'checkpoints' / str(step) / 'default'
  with ocp.PyTreeCheckpointer() as ckpt:
    meta = ckpt.metadata(path).item_metadata.tree
    args = jax.tree.map(
        lambda _: ocp.RestoreArgs(restore_type=np.ndarray), meta
    )
    tree = ckpt.restore(path, args=ocp.args.PyTreeRestore(restore_args=args))
  assert int(tree['step']) == step
  return tree['params']


def _metric_steps(workdir) -> list[tuple[int, str]]:
  lines = (workdir / 'metrics.jsonl').read_text().splitlines()
  return [(r['step'], r['split']) for r in map(json.loads, lines)]


@pytest.mark.slow
def test_two_processes_train_agree_checkpoint_and_resume(tmp_path):
  workdir, logs = tmp_path / 'run', tmp_path / 'logs'
  logs.mkdir()

  # 1. Two processes, 20 steps (checkpoints at 10 and 20).
  outs, errs = _train(workdir, logs, tag='first')
  summaries = [_summary(o) for o in outs]
  for i, err in enumerate(errs):
    assert f'Process {i} of 2: 1 local of 2 global devices' in err
    assert 'on 2 device(s)' in err
  assert summaries[0]['step'] == summaries[1]['step'] == 20
  sha = summaries[0]['params_sha256']
  assert summaries[1]['params_sha256'] == sha  # Bit-identical copies.
  assert summaries[0]['test'] == summaries[1]['test']
  # Every file written once, by process 0: two writers would duplicate the
  # metric lines, leave two event files or break the JSON.
  assert _metric_steps(workdir) == [
      (5, 'train'),
      (10, 'train'),
      (10, 'test'),
      (15, 'train'),
      (20, 'train'),
      (20, 'test'),
  ]
  assert json.loads((workdir / 'config.json').read_text())['batch_size'] == 32
  final = json.loads((workdir / 'final_metrics.json').read_text())
  assert final['params_sha256'] == sha and final['test'] == summaries[0]['test']
  assert len(list((workdir / 'tensorboard').iterdir())) == 1
  for name in ('reconstructions', 'latent_codes', 'samples', 'loss_curve'):
    png = (workdir / f'{name}.png').read_bytes()
    assert png.startswith(b'\x89PNG') and png.endswith(b'IEND\xaeB`\x82')
  # The checkpoint holds exactly the parameters both processes ended with.
  steps = sorted(int(p.name) for p in (workdir / 'checkpoints').iterdir())
  assert steps == [10, 20]
  assert distributed.params_fingerprint(_restore_params(workdir, 20)) == sha

  # 2. Both processes resume from step 20 and train to 30.
  outs, errs = _train(
      workdir,
      logs,
      '--config.num_train_steps=30',
      '--config.write_figures=false',
      tag='resumed',
  )
  resumed = [_summary(o) for o in outs]
  for err in errs:
    assert 'Restoring checkpoint at step 20' in err
    assert 'for 30 steps (from step 20)' in err
  assert resumed[0]['step'] == 30
  assert resumed[0]['params_sha256'] == resumed[1]['params_sha256'] != sha
  assert _metric_steps(workdir)[6:] == [
      (25, 'train'),
      (30, 'train'),
      (30, 'test'),
  ]
  two = _restore_params(workdir, 30)
  assert distributed.params_fingerprint(two) == resumed[0]['params_sha256']

  # 3. One process, 30 steps uninterrupted, same global batches: the same
  # parameters up to the order of float reductions. (If both processes had
  # read the same half of each batch, they would differ by far more.)
  single_dir = tmp_path / 'single'
  outs, _ = _train(
      single_dir,
      logs,
      '--config.num_train_steps=30',
      '--config.write_figures=false',
      processes=1,
      tag='single',
  )
  one = _restore_params(single_dir, 30)
  jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
      one,
      two,
  )
  np.testing.assert_allclose(
      _summary(outs[0])['test']['loss'], resumed[0]['test']['loss'], rtol=1e-5
  )


# Fast checks of the flags and the detection logic (no processes started).


@pytest.mark.parametrize(
    'kwargs, match',
    [
        (dict(mode='maybe'), "--distributed='maybe' must be one of"),
        (dict(mode='off', num_processes=2), '--num_processes is set but'),
        (
            dict(mode='on', coordinator_address='localhost'),
            "must be 'host:port'",
        ),
        (
            dict(mode='on', coordinator_address='h:99999'),
            "must be 'host:port'",
        ),
        (dict(mode='on', num_processes=0), '--num_processes=0 must be >= 1'),
        (
            dict(mode='on', num_processes=2, process_id=2),
            '--process_id=2 must be < --num_processes=2',
        ),
        (dict(mode='on', process_id=-1), '--process_id=-1 must be >= 0'),
    ],
)
def test_bad_flags_raise_naming_the_flag(kwargs, match):
  with pytest.raises(ValueError, match=match):
    distributed.initialize(**kwargs, env={})


def test_on_without_cluster_needs_all_three_flags():
  with pytest.raises(ValueError, match='--num_processes, --process_id'):
    distributed.initialize('on', coordinator_address='127.0.0.1:1234', env={})


def test_auto_and_off_stay_single_process_without_a_cluster():
  assert not distributed.initialize('auto', env={})
  assert not distributed.initialize('off', env={})
  assert not jax.distributed.is_initialized()


@pytest.mark.parametrize(
    'env, expected',
    [
        ({}, None),
        (
            {'JAX_COORDINATOR_ADDRESS': '10.0.0.2:1234'},
            'JAX_COORDINATOR_ADDRESS',
        ),
        (
            dict(
                SLURM_JOB_ID='7',
                SLURM_STEP_NODELIST='n[1-2]',
                SLURM_PROCID='0',
                SLURM_NTASKS='2',
            ),
            'slurm',
        ),
        (  # A one-task SLURM job (an interactive GPU node) is one process.
            dict(
                SLURM_JOB_ID='7',
                SLURM_STEP_NODELIST='n1',
                SLURM_PROCID='0',
                SLURM_NTASKS='1',
            ),
            None,
        ),
        (
            {'OMPI_MCA_orte_hnp_uri': 'x', 'OMPI_COMM_WORLD_SIZE': '4'},
            'openmpi',
        ),
        (
            {'OMPI_MCA_orte_hnp_uri': 'x', 'OMPI_COMM_WORLD_SIZE': '1'},
            None,
        ),
    ],
)
def test_detect_cluster(env, expected):
  assert distributed.detect_cluster(env) == expected


def test_params_fingerprint_sees_one_ulp():
  params = {
      'a': {'w': np.ones((3, 2), np.float32)},
      'b': np.zeros(4, np.float32),
  }
  sha = distributed.params_fingerprint(params)
  assert distributed.params_fingerprint(jax.device_put(params)) == sha
  nudged = {'a': {'w': params['a']['w'].copy()}, 'b': params['b']}
  nudged['a']['w'][1, 1] = np.nextafter(np.float32(1), np.float32(2))
  assert distributed.params_fingerprint(nudged) != sha
  # Same bytes, other shape: a different model.
  reshaped = {'a': {'w': params['a']['w'].reshape(2, 3)}, 'b': params['b']}
  assert distributed.params_fingerprint(reshaped) != sha


def test_cli_rejects_inconsistent_flags(tmp_path):
  proc = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.train',
          CONFIG,
          f'--workdir={tmp_path}',
          '--distributed=off',
          '--process_id=1',
      ],
      cwd=ROOT,
      env=_env(),
      capture_output=True,
      text=True,
      timeout=120,
  )
  assert proc.returncode == 1
  assert 'error: --process_id is set but --distributed=off' in proc.stderr
  assert not (tmp_path / 'checkpoints').exists()
