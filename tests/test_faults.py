"""Real processes meeting faults: a second launch, Ctrl-C twice, a full disk,
a read-only work directory, a damaged checkpoint, bad flags and config files.

Each starts the binaries as a user would and checks what the user sees (one
``error:`` line, no traceback, the exit code) and that the run's files are
intact. The full-disk and read-only cases mount a small tmpfs or a read-only
bind mount, and skip where the machine does not allow mounting (not root, or
no mount privileges in the container).
"""

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_ENV = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONPATH=str(ROOT))
_VAE = f'{ROOT}/experiments/configs/vae.py'


def _train_args(workdir, *extra, steps=3000):
  return [
      sys.executable,
      '-m',
      'experiments.train',
      f'--config={_VAE}:smoke',
      f'--config.num_train_steps={steps}',
      '--config.checkpoint_every_steps=100',
      '--config.eval_every_steps=0',
      '--config.log_every_steps=10',
      '--config.write_figures=False',
      f'--workdir={workdir}',
      *extra,
  ]


def _run(args, cwd=ROOT, timeout=300):
  return subprocess.run(
      args, cwd=cwd, env=_ENV, capture_output=True, text=True, timeout=timeout
  )


def _start(args):
  return subprocess.Popen(
      args,
      cwd=ROOT,
      env=_ENV,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )


def _wait_for(path, proc, timeout=120):
  deadline = time.monotonic() + timeout
  while not path.exists():
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    assert time.monotonic() < deadline, f'{path} did not appear'
    time.sleep(0.05)


def _errors(stderr):
  """The lines a user reads: ``error:`` lines and tracebacks."""
  return [
      l for l in stderr.splitlines() if l.startswith(('error:', 'Traceback'))
  ]


def test_second_launch_refused_killed_holder_taken_over_damage_one_warning(
    tmp_path,
):
  workdir = tmp_path / 'run'
  first = _start(_train_args(workdir, steps=10**6))
  try:
    _wait_for(workdir / 'checkpoints' / '200', first)
    # A scheduler retrying while the first still trains.
    second = _run(_train_args(workdir, steps=10**6))
    assert second.returncode == 1, second.stderr[-3000:]
    (line,) = _errors(second.stderr)
    assert f'in use by another launch (pid {first.pid}' in line, line
    assert first.poll() is None  # Untouched, still training.
  finally:
    first.kill()  # No clean-up: its lock file still names it.
    first.communicate()
  reached = max(
      int(p.name)
      for p in (workdir / 'checkpoints').iterdir()
      if p.name.isdigit()
  )
  # And its newest checkpoint damaged: before, falling back past it printed
  # 26-27 "RuntimeError: Event loop is closed" tracebacks.
  for f in (workdir / 'checkpoints' / str(reached) / 'default').rglob('*'):
    if f.is_file() and '/d/' in str(f):
      f.write_bytes(f.read_bytes()[:10])
  third = _run(_train_args(workdir, steps=reached + 100))
  assert third.returncode == 0, third.stderr[-3000:]
  assert 'Took over the lock' in third.stderr
  assert f'pid {first.pid}' in third.stderr
  assert f'"step": {reached + 100}' in third.stdout
  assert 'Traceback' not in third.stderr
  assert 'Event loop is closed' not in third.stderr
  assert third.stderr.count('is unreadable') == 1


def test_ctrl_c_twice_stops_in_one_line(tmp_path):
  workdir = tmp_path / 'run'
  proc = _start(_train_args(workdir, steps=100000))
  _wait_for(workdir / 'checkpoints' / '100', proc)
  proc.send_signal(signal.SIGINT)
  proc.send_signal(signal.SIGINT)
  _, stderr = proc.communicate(timeout=120)
  assert proc.returncode == 130, stderr[-3000:]
  assert 'Traceback' not in stderr and 'KeyboardInterrupt' not in stderr
  assert len(_errors(stderr)) <= 1


@contextlib.contextmanager
def _mounted(*args):
  """``mount args...`` at a new directory; skips the test if not allowed."""
  target = pathlib.Path(f'/tmp/ae_jax_mount_{os.getpid()}_{time.time_ns()}')
  target.mkdir()
  try:
    try:
      mounted = subprocess.run(
          ['mount', *args, str(target)], capture_output=True, text=True
      )
    except OSError as e:  # No mount command.
      pytest.skip(f'cannot mount here: {e}')
    if mounted.returncode:
      pytest.skip(f'cannot mount here: {mounted.stderr.strip()}')
    try:
      yield target
    finally:
      subprocess.run(['umount', '-l', str(target)], check=False)
  finally:
    with contextlib.suppress(OSError):
      target.rmdir()


def _fill(directory, leave_bytes):
  stat = os.statvfs(directory)
  free = stat.f_bavail * stat.f_frsize
  (directory / 'filler').write_bytes(b'\0' * max(0, free - leave_bytes))


def test_full_disk_stops_in_one_line_and_a_relaunch_changes_nothing():
  with _mounted('-t', 'tmpfs', '-o', 'size=3m', 'tmpfs') as disk:
    _fill(disk, 1200 * 1024)  # Room for a checkpoint, not for the log.
    workdir = disk / 'run'
    args = _train_args(
        workdir,
        '--config.log_every_steps=1',
        '--config.steps_per_call=1',
        '--config.checkpoint_every_steps=50',
        steps=20000,
    )
    full = _run(args, timeout=300)  # Before: could hang forever.
    assert full.returncode == 1, full.stderr[-3000:]
    (line,) = _errors(full.stderr)
    assert line.startswith(f'error: No space left on the device of {workdir}')
    assert 'free' in line
    kept = max(
        int(p.name)
        for p in (workdir / 'checkpoints').iterdir()
        if p.name.isdigit()
    )
    assert f'the last checkpoint, step {kept}, is kept' in line
    before = {
        name: (workdir / name).read_bytes()
        for name in ('config.json', 'dataset.json', 'metrics.jsonl')
    }
    again = _run(args)
    assert again.returncode == 1
    (line,) = _errors(again.stderr)
    assert 'No space left' in line and 'Nothing was changed' in line
    for name, content in before.items():
      assert (workdir / name).read_bytes() == content, name


def test_read_only_run_is_refused_before_loading_data(tmp_path, smoke_config):
  from ae_jax import train  # pylint: disable=g-import-not-at-top

  source = tmp_path / 'source'
  smoke_config.write_figures = False
  train.train_and_evaluate(smoke_config, source / 'run')
  with _mounted('--bind', '-o', 'ro', str(source)) as mount:
    remount = subprocess.run(
        ['mount', '-o', 'remount,bind,ro', str(mount)],
        capture_output=True,
        text=True,
    )
    if remount.returncode:
      pytest.skip(f'cannot remount read-only here: {remount.stderr.strip()}')
    for command in (
        _train_args(mount / 'run', steps=40),  # Longer: it would write.
        [
            sys.executable,
            '-m',
            'experiments.evaluate',
            f'--workdir={mount}/run',
            '--task=pca',
        ],
    ):
      proc = _run(command)
      assert proc.returncode == 1
      (line,) = _errors(proc.stderr)
      assert 'cannot write into it (Read-only file system)' in line, line
      assert 'Read digits' not in proc.stderr and not proc.stdout


@pytest.mark.parametrize(
    'args, expected',
    [
        (
            ['--config=experiments/configs/nope.py'],
            'config file experiments/configs/nope.py not found',
        ),
        (['--config=BROKEN'], 'line 1: invalid syntax'),
        (
            [f'--config={_VAE}:smoke', '--config.latnt_dim=3'],
            "unknown config field 'latnt_dim' (did you mean 'latent_dim'?)",
        ),
        ([f'--config={_VAE}:smoke=maybe'], 'is not a boolean'),
        ([f'--config={_VAE}:smoke', '--workdir='], '--workdir is empty'),
    ],
    ids=[
        'missing_config',
        'syntax_error',
        'misspelt_field',
        'bad_boolean',
        'empty_workdir',
    ],
)
def test_bad_flags_print_one_line_naming_the_fix(tmp_path, args, expected):
  (tmp_path / 'broken.py').write_text('def get_config(:\n')
  (tmp_path / 'config.json').write_text('{"keep": "me"}')  # In the cwd.
  (tmp_path / 'file').write_text('x')
  args = [
      a.replace('BROKEN', str(tmp_path / 'broken.py')).replace(
          'FILE', str(tmp_path / 'file')
      )
      for a in args
  ]
  if not any(a.startswith('--workdir') for a in args):
    args.append(f'--workdir={tmp_path}/run')
  if args[0].startswith('--config=experiments'):
    cwd = ROOT
  else:
    cwd = tmp_path
  proc = _run([sys.executable, '-m', 'experiments.train', *args], cwd=cwd)
  assert proc.returncode != 0
  (line,) = _errors(proc.stderr)
  assert expected in line, line
  assert (tmp_path / 'config.json').read_text() == '{"keep": "me"}'
  assert not (tmp_path / 'run').exists()


def test_unsweepable_field_lists_the_sweepable_ones(tmp_path):
  proc = _run(
      [
          sys.executable,
          '-m',
          'experiments.sweep',
          f'--config={_VAE}:smoke',
          '--sweep.latent_dim=2,3',
          f'--workdir={tmp_path}/sweep',
      ]
  )
  assert proc.returncode == 1
  (line,) = _errors(proc.stderr)
  assert "'latent_dim' cannot be swept" in line
  assert 'sweepable fields: seed, learning_rate, beta' in line
