"""Real processes stopped mid-run: SIGTERM, SIGINT and SIGKILL lose nothing.

Each test starts ``python -m experiments.train``, waits for its first periodic
checkpoint, sends a signal, then reruns the same command. The resumed run must
end with exactly (bit for bit) the parameters of a run never stopped.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import chex
import orbax.checkpoint as ocp
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
STEPS = 1500
EVERY = 100  # Periodic checkpoints; the signal lands between them.

pytestmark = pytest.mark.slow


def _command(workdir):
  return [
      sys.executable,
      '-m',
      'experiments.train',
      f'--config={ROOT}/experiments/configs/vae.py',
      '--config.dataset=digits',
      '--config.hidden_sizes=(256,)',
      '--config.latent_dim=4',
      '--config.batch_size=32',
      f'--config.num_train_steps={STEPS}',
      f'--config.checkpoint_every_steps={EVERY}',
      '--config.log_every_steps=10',
      '--config.eval_every_steps=0',
      '--config.write_figures=False',
      '--config.progress_bar=False',
      '--config.binarize=dynamic',  # Draws from the step's key: tests them.
      f'--workdir={workdir}',
  ]


_ENV = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=str(ROOT))


def _run(workdir):
  return subprocess.run(
      _command(workdir),
      cwd=ROOT,
      env=_ENV,
      capture_output=True,
      text=True,
      timeout=600,
  )


def _steps(workdir):
  ckpt = workdir / 'checkpoints'
  if not ckpt.exists():
    return []
  return sorted(int(p.name) for p in ckpt.iterdir() if p.name.isdigit())


def _start_and_signal(workdir, signum, after_step=EVERY):
  """Starts a run, sends ``signum`` once step ``after_step`` is saved."""
  proc = subprocess.Popen(
      _command(workdir),
      cwd=ROOT,
      env=_ENV,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )
  deadline = time.monotonic() + 300
  while not any(s >= after_step for s in _steps(workdir)):
    if proc.poll() is not None or time.monotonic() > deadline:
      proc.kill()
      out, err = proc.communicate()
      pytest.fail(f'no checkpoint before the run ended:\n{err[-3000:]}')
    time.sleep(0.05)
  proc.send_signal(signum)
  out, err = proc.communicate(timeout=300)
  return proc.returncode, out, err


def _final_params(workdir):
  with ocp.CheckpointManager(workdir / 'checkpoints') as mngr:
    assert mngr.latest_step() == STEPS
    return mngr.restore(STEPS)['params']


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('straight')
  result = _run(workdir)
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir


@pytest.mark.parametrize(
    'signum', [signal.SIGTERM, signal.SIGINT], ids=['SIGTERM', 'SIGINT']
)
def test_signal_saves_a_checkpoint_then_resume_is_bit_identical(
    straight, tmp_path, signum
):
  code, _, err = _start_and_signal(tmp_path, signum)
  assert code == 128 + signum, err[-3000:]
  stopped_at = _steps(tmp_path)[-1]
  name = signal.Signals(signum).name
  assert (
      f'{name} received: saved a checkpoint at step {stopped_at}' in err
  ), err[-3000:]
  assert stopped_at < STEPS, 'the run finished before the signal arrived'
  # The checkpoint is the step the run reached, not the last periodic one.
  records = [
      json.loads(l)
      for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()
  ]
  assert max(r['step'] for r in records) == stopped_at

  resumed = _run(tmp_path)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f'from step {stopped_at}' in resumed.stderr
  chex.assert_trees_all_equal(_final_params(straight), _final_params(tmp_path))


def test_sigkill_at_an_arbitrary_step_resumes_bit_identical(straight, tmp_path):
  code, _, err = _start_and_signal(
      tmp_path, signal.SIGKILL, after_step=2 * EVERY
  )
  assert code == -signal.SIGKILL, err[-3000:]
  killed_at = _steps(tmp_path)
  assert killed_at and killed_at[-1] < STEPS, killed_at

  resumed = _run(tmp_path)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  chex.assert_trees_all_equal(_final_params(straight), _final_params(tmp_path))
  summary = json.loads((tmp_path / 'final_metrics.json').read_text())
  expected = json.loads((straight / 'final_metrics.json').read_text())
  assert summary['test'] == expected['test']
  assert summary['params_sha256'] == expected['params_sha256']
