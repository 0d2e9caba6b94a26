"""The work directory's files: atomic writes, the lock, the log, a full disk."""

import errno
import json
import logging
import os
import socket
import subprocess
import sys
import time

import pytest

from ae_jax.train import lock as lock_lib
from ae_jax.train import metric_writer
from ae_jax.train import workdir as workdir_lib

# Atomic writes: what a kill or a full disk mid-write leaves.


def test_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path, monkeypatch
):
  path = tmp_path / 'config.json'
  path.write_text('old')

  def killed(*args):
    raise KeyboardInterrupt  # What a signal at that moment raises.

  monkeypatch.setattr(os, 'replace', killed)
  with pytest.raises(KeyboardInterrupt):
    workdir_lib.write_text(path, 'new content')
  assert path.read_text() == 'old'
  assert os.listdir(tmp_path) == ['config.json']


def test_full_disk_during_a_write_keeps_the_old_file(tmp_path, monkeypatch):
  path = tmp_path / 'metrics.jsonl'
  path.write_text('{"step": 1}\n')

  def no_space(fd):
    raise OSError(errno.ENOSPC, 'No space left on device')

  monkeypatch.setattr(os, 'fsync', no_space)
  with pytest.raises(OSError) as raised:
    metric_writer.truncate_metrics(tmp_path, 0)
  assert workdir_lib.is_disk_full(raised.value)
  assert path.read_text() == '{"step": 1}\n'
  assert os.listdir(tmp_path) == ['metrics.jsonl']


def test_append_ends_a_partial_last_line_first(tmp_path):
  path = tmp_path / 'launches.jsonl'
  path.write_text('{"a": 1}\n{"b": ')  # A kill in the middle of an append.
  workdir_lib.append_line(path, '{"c": 3}')
  assert path.read_text().splitlines()[-1] == '{"c": 3}'


# metrics.jsonl on resume.


def _log(tmp_path, text):
  (tmp_path / 'metrics.jsonl').write_text(text)


def test_a_log_of_nothing_but_zeros_is_damaged_not_dropped(tmp_path):
  # What some file systems leave of an unflushed file after a power loss.
  _log(tmp_path, '\0' * 300)
  with pytest.raises(workdir_lib.DamagedFileError, match='line 1'):
    metric_writer.truncate_metrics(tmp_path, 0)


def test_incomplete_last_record_is_dropped_with_a_warning(tmp_path, caplog):
  _log(tmp_path, '{"step": 5, "loss": 1.0}\n{"step": 10, "lo')
  with caplog.at_level(logging.WARNING):
    records = metric_writer.read_metrics(tmp_path)
  assert records == [{'step': 5, 'loss': 1.0}]
  assert 'incomplete last record' in caplog.text
  # Resuming at step 5 rewrites the log without the fragment, so the next
  # append starts on a line of its own.
  metric_writer.truncate_metrics(tmp_path, 5)
  assert (tmp_path / 'metrics.jsonl').read_text() == (
      '{"step": 5, "loss": 1.0}\n'
  )


@pytest.mark.parametrize(
    'text, where',
    [
        ('garbage\n{"step": 5}\n', 'line 1'),
        ('{"step": 5}\n{"loss": 1.0}\n', 'line 2'),  # No "step".
        ('{"step": 5}\n{"step": "ten"}\n{"step": 15}\n', 'line 2'),
    ],
    ids=['garbage', 'no_step', 'step_not_int'],
)
def test_damaged_log_names_the_file_and_line(tmp_path, text, where):
  _log(tmp_path, text)
  with pytest.raises(workdir_lib.DamagedFileError) as raised:
    metric_writer.truncate_metrics(tmp_path, 5)
  message = str(raised.value)
  assert str(tmp_path / 'metrics.jsonl') in message and where in message
  assert 'move it aside' in message
  assert (tmp_path / 'metrics.jsonl').read_text() == text


def test_log_without_records_past_the_step_is_not_rewritten(tmp_path):
  _log(tmp_path, '{"step": 5}\n')
  before = os.stat(tmp_path / 'metrics.jsonl').st_ino
  metric_writer.truncate_metrics(tmp_path, 5)
  assert os.stat(tmp_path / 'metrics.jsonl').st_ino == before


def test_read_json_names_a_damaged_file(tmp_path):
  (tmp_path / 'dataset.json').write_text('{"name": "dig')
  with pytest.raises(workdir_lib.DamagedFileError, match='dataset.json is'):
    workdir_lib.read_json(tmp_path / 'dataset.json', 'rerun.')


# The lock.


def test_second_live_launch_is_refused_naming_the_holder(tmp_path):
  with lock_lib.hold(tmp_path):
    # flock locks belong to open files: a second open conflicts even in one
    # process, as a second launch's would.
    with pytest.raises(lock_lib.WorkdirLockedError) as raised:
      with lock_lib.hold(tmp_path):
        pass
    assert f'pid {os.getpid()}' in str(raised.value)
    assert 'Nothing was changed' in str(raised.value)
  with lock_lib.hold(tmp_path):  # Released: free again.
    pass
  assert (tmp_path / lock_lib.LOCK_NAME).read_text() == ''


def _dead_pid():
  proc = subprocess.run(
      [sys.executable, '-c', 'import os; print(os.getpid())'],
      capture_output=True,
      text=True,
      check=True,
  )
  return int(proc.stdout)


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
  pid = _dead_pid()
  (tmp_path / lock_lib.LOCK_NAME).write_text(
      json.dumps({'host': socket.gethostname(), 'pid': pid, 'since': 'x'})
  )
  with caplog.at_level(logging.WARNING):
    with lock_lib.hold(tmp_path):
      holder = json.loads((tmp_path / lock_lib.LOCK_NAME).read_text())
  assert holder['pid'] == os.getpid()
  assert f'pid {pid}' in caplog.text and 'no longer running' in caplog.text


def test_lock_recorded_by_another_host_is_refused_until_stale(tmp_path, caplog):
  path = tmp_path / lock_lib.LOCK_NAME
  path.write_text(json.dumps({'host': 'elsewhere', 'pid': 1, 'since': 'x'}))
  # Refreshed a minute ago: that job may well be running on its host.
  os.utime(path, (time.time() - 60, time.time() - 60))
  with pytest.raises(lock_lib.WorkdirLockedError, match="'elsewhere'"):
    with lock_lib.hold(tmp_path):
      pass
  stale = time.time() - lock_lib.STALE_AFTER_SECONDS - 60
  os.utime(path, (stale, stale))
  with caplog.at_level(logging.WARNING):
    with lock_lib.hold(tmp_path):
      pass
  assert 'Took over the lock' in caplog.text


def test_refresh_keeps_the_record_fresh(tmp_path):
  with lock_lib.hold(tmp_path):
    path = tmp_path / lock_lib.LOCK_NAME
    os.utime(path, (0, 0))
    lock_lib.refresh(tmp_path)
    assert time.time() - path.stat().st_mtime < 60


def test_file_systems_without_flock_fall_back_to_the_record(
    tmp_path, monkeypatch, caplog
):
  def no_flock(fd, op):
    raise OSError(errno.ENOLCK, 'No locks available')

  monkeypatch.setattr(lock_lib.fcntl, 'flock', no_flock)
  holder = subprocess.Popen(['sleep', '60'])  # A live launch on this host.
  try:
    (tmp_path / lock_lib.LOCK_NAME).write_text(
        json.dumps(
            {
                'host': socket.gethostname(),
                'pid': holder.pid,
                'start_time': lock_lib._start_time(holder.pid),  # pylint: disable=protected-access
            }
        )
    )
    with caplog.at_level(logging.WARNING):
      with pytest.raises(lock_lib.WorkdirLockedError, match=str(holder.pid)):
        with lock_lib.hold(tmp_path):
          pass
    assert 'does not support flock' in caplog.text
  finally:
    holder.kill()
    holder.wait()
  with lock_lib.hold(tmp_path):  # Gone: its record is taken over.
    pass


def test_lock_of_a_refused_fresh_launch_leaves_no_directory(tmp_path):
  workdir = tmp_path / 'new'
  with pytest.raises(ValueError):
    with lock_lib.hold(workdir):
      raise ValueError('bad config')
  assert not workdir.exists()


# Checks before any work.


def test_empty_workdir_is_refused():
  for empty in ('', '  ', None):
    with pytest.raises(workdir_lib.WorkdirError, match='--workdir is empty'):
      workdir_lib.check_writable(empty)


def test_workdir_that_is_a_file_is_refused(tmp_path):
  (tmp_path / 'f').write_text('x')
  with pytest.raises(workdir_lib.WorkdirError, match='is an existing file'):
    workdir_lib.check_writable(tmp_path / 'f')
  with pytest.raises(workdir_lib.WorkdirError, match='not a directory'):
    workdir_lib.check_writable(tmp_path / 'f' / 'run')


def test_read_only_run_file_is_refused(tmp_path, monkeypatch):
  (tmp_path / 'config.json').write_text('{}')
  real = os.access
  monkeypatch.setattr(
      os,
      'access',
      lambda p, mode: not str(p).endswith('config.json') and real(p, mode),
  )
  with pytest.raises(
      workdir_lib.WorkdirError, match='config.json is read-only'
  ):
    workdir_lib.check_writable(tmp_path, ('config.json', 'metrics.jsonl'))


# A full disk.


def test_disk_full_is_recognised_through_library_wrappers():
  cause = OSError(errno.ENOSPC, 'No space left on device')
  try:
    try:
      raise cause
    except OSError as e:
      raise RuntimeError('checkpoint failed') from e
  except RuntimeError as wrapped:
    assert workdir_lib.is_disk_full(wrapped)
  # TensorStore reports it as text inside its own exception type.
  assert workdir_lib.is_disk_full(
      ValueError('RESOURCE_EXHAUSTED: ... No space left on device [28]')
  )
  assert not workdir_lib.is_disk_full(ValueError('shape mismatch'))
  error = workdir_lib.disk_full_error('/tmp', 'the last checkpoint is kept')
  assert isinstance(error, OSError) and 'free' in str(error)


def test_run_files_of_the_wrong_kind_are_named(tmp_path):
  (tmp_path / '.lock').mkdir()
  with pytest.raises(workdir_lib.WorkdirError, match='should be a file'):
    workdir_lib.check_writable(tmp_path, ('.lock',), dirs=('tensorboard',))
  (tmp_path / '.lock').rmdir()
  (tmp_path / 'tensorboard').write_text('x')
  with pytest.raises(workdir_lib.WorkdirError, match='should be a directory'):
    workdir_lib.check_writable(tmp_path, ('.lock',), dirs=('tensorboard',))


def test_live_holder_names_a_running_launch_only(tmp_path):
  assert lock_lib.live_holder(tmp_path) is None
  with lock_lib.hold(tmp_path):
    assert lock_lib.live_holder(tmp_path)['pid'] == os.getpid()
  assert lock_lib.live_holder(tmp_path) is None


def test_a_garbage_lock_record_with_a_free_lock_is_taken_over(tmp_path):
  (tmp_path / lock_lib.LOCK_NAME).write_text('garbage')
  with lock_lib.hold(tmp_path):  # Before: refused for 15 minutes.
    pass
