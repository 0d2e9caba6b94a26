"""One launch at a time per work directory.

Two launches writing one work directory (a job scheduler retrying while the
first still runs) would each delete the other's in-flight checkpoint and
truncate its log. `hold` takes an exclusive ``flock`` on
``<workdir>/.lock`` and writes the holder's host, pid and command line into
it, so a second launch is refused at once, naming the first:

* the kernel releases an ``flock`` when its process dies, however it dies, so
  a killed run never blocks the next; the next launch then finds the dead
  holder's record, warns and takes over;
* a record naming another host (a shared file system) is taken over only
  once the holder has stopped refreshing it (`refresh`, every log interval)
  for `STALE_AFTER_SECONDS`;
* on file systems without ``flock`` the record alone decides, with a
  warning.

On release the file is emptied, not deleted: a launch waiting to open it
would otherwise lock a file that no longer has a name while a third locks a
new one (and `hold` checks that the file it locked is still the one named).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

from etils import epath

from ae_jax.train import workdir as workdir_lib

LOCK_NAME = '.lock'
# A holder on another host that has not refreshed its record for this long
# is taken to be gone (runs refresh it at every log interval).
STALE_AFTER_SECONDS = 15 * 60
_REFRESH_SECONDS = 30.0
_NO_FLOCK = (errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL)


class WorkdirLockedError(workdir_lib.WorkdirError):
  """Another live launch holds the work directory's lock."""


def _start_time(pid: int) -> str | None:
  """The kernel's start time of process ``pid`` (tells a reused pid apart)."""
  try:
    with open(f'/proc/{pid}/stat') as f:
      # Field 22, after the parenthesised command name (which may hold spaces).
      return f.read().rsplit(')', 1)[1].split()[19]
  except (OSError, IndexError):
    return None


def _alive(pid: int, start_time: str | None) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    pass  # Someone else's process: alive.
  now = _start_time(pid)
  return start_time is None or now is None or now == start_time


def _holder() -> dict[str, Any]:
  return {
      'host': socket.gethostname(),
      'pid': os.getpid(),
      'start_time': _start_time(os.getpid()),
      'since': datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec='seconds'
      ),
      'argv': list(sys.argv),
  }


def _describe(holder: dict[str, Any]) -> str:
  return (
      f"pid {holder.get('pid')} on host {holder.get('host')!r} since "
      f"{holder.get('since')} ({' '.join(holder.get('argv') or [])})"
  )


def _read_holder(fd: int) -> dict[str, Any] | None:
  os.lseek(fd, 0, os.SEEK_SET)
  raw = os.read(fd, 65536)
  if not raw.strip():
    return None
  try:
    holder = json.loads(raw)
  except ValueError:
    return {'pid': None, 'host': None, 'since': '?', 'argv': ['(unreadable)']}
  return holder if isinstance(holder, dict) else None


def _in_use(workdir, holder: dict[str, Any] | None) -> WorkdirLockedError:
  return WorkdirLockedError(
      f'{workdir} is in use by another launch'
      + (f' ({_describe(holder)})' if holder else '')
      + '; wait for it to finish or stop it, or use another --workdir. '
      'Nothing was changed.'
  )


def _open_locked(path: str, workdir) -> int:
  """The lock file, open, its flock held where the file system has flock."""
  for _ in range(10):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = _read_holder(fd)
      os.close(fd)
      raise _in_use(workdir, holder) from None
    except OSError as e:
      if e.errno not in _NO_FLOCK:
        os.close(fd)
        raise
      logging.warning(
          'The file system of %s does not support flock (%s); the lock '
          "relies on the holder's record alone.",
          path,
          e.strerror,
      )
      return fd
    # The file may have been unlinked between our open and our flock (a
    # refused fresh launch removes its directory): then lock the new one.
    try:
      same = os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
      same = False
    if same:
      return fd
    os.close(fd)
    os.makedirs(os.path.dirname(path), exist_ok=True)
  raise _in_use(workdir, None)


@contextlib.contextmanager
def hold(workdir: epath.PathLike, *, enabled: bool = True) -> Iterator[None]:
  """Holds ``<workdir>/.lock`` for the ``with`` block (module docstring).

  A second live launch raises `WorkdirLockedError` before it reads or
  deletes anything. A directory this call created is removed again when the
  block fails before anything else was written into it.

  ``enabled=False`` (processes other than 0 of a multi-process job) and cloud
  paths do nothing.
  """
  if not enabled or workdir_lib.is_remote(workdir):
    yield
    return
  directory = os.fspath(workdir)
  path = os.path.join(directory, LOCK_NAME)
  created = not os.path.isdir(directory)
  os.makedirs(directory, exist_ok=True)
  fd = _open_locked(path, workdir)
  try:
    previous = _read_holder(fd)
    if previous is not None:
      _take_over(path, previous)
    try:
      os.ftruncate(fd, 0)
      os.lseek(fd, 0, os.SEEK_SET)
      os.write(fd, json.dumps(_holder()).encode())
      os.fsync(fd)
    except OSError:
      # A full disk: the flock still excludes others; only the holder's
      # description for their message is missing.
      logging.debug('Could not record the holder in %s.', path)
    try:
      yield
    finally:  # Any exit but a hard kill: the next launch need not warn.
      with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        if created and os.listdir(directory) == [LOCK_NAME]:
          # A launch refused before writing anything leaves no directory.
          os.unlink(path)
          os.rmdir(directory)
  finally:
    os.close(fd)  # Releases the flock.


def _take_over(path: str, previous: dict[str, Any]) -> None:
  """A lock file that names a holder, but whose flock was free."""
  directory = os.path.dirname(path)
  same_host = previous.get('host') == socket.gethostname()
  pid = previous.get('pid')
  if pid is None:
    pass  # An unreadable record whose flock was free: no live holder.
  elif same_host and isinstance(pid, int) and pid != os.getpid():
    if _alive(pid, previous.get('start_time')):
      # Alive but not holding the flock: a file system without flock.
      raise _in_use(directory, previous)
  elif not same_host:
    age = time.time() - os.stat(path).st_mtime
    if age < STALE_AFTER_SECONDS:
      minutes = (STALE_AFTER_SECONDS - age) / 60
      raise WorkdirLockedError(
          f'{path} says the work directory is in use by '
          f'{_describe(previous)}, refreshed {age / 60:.0f} min ago. If that '
          'job is no longer running, delete the lock file (or rerun in '
          f'{minutes:.0f} min, when it counts as stale); otherwise use '
          'another --workdir. Nothing was changed.'
      )
  logging.warning(
      'Took over the lock of %s: %s is no longer running (it stopped '
      'without releasing the work directory).',
      path,
      _describe(previous),
  )


def live_holder(workdir: epath.PathLike) -> dict[str, Any] | None:
  """The record of the launch holding ``workdir``'s lock, if one is running.

  Reads the record only (taking the lock, even briefly, could refuse a
  launch starting at that moment): a record of a live process on this host,
  or a fresh one from another host.
  """
  path = os.path.join(os.fspath(workdir), LOCK_NAME)
  try:
    fd = os.open(path, os.O_RDONLY)
  except OSError:
    return None
  try:
    holder = _read_holder(fd)
  finally:
    os.close(fd)
  if not holder or not isinstance(holder.get('pid'), int):
    return None
  if holder.get('host') == socket.gethostname():
    return holder if _alive(holder['pid'], holder.get('start_time')) else None
  age = time.time() - os.stat(path).st_mtime
  return holder if age < STALE_AFTER_SECONDS else None


_last_refresh: dict[str, float] = {}


def refresh(workdir: epath.PathLike) -> None:
  """Marks the holder of ``workdir``'s lock as alive (at most every 30 s)."""
  if workdir_lib.is_remote(workdir):
    return
  path = os.path.join(os.fspath(workdir), LOCK_NAME)
  now = time.monotonic()
  if now - _last_refresh.get(path, -_REFRESH_SECONDS) < _REFRESH_SECONDS:
    return
  _last_refresh[path] = now
  with contextlib.suppress(OSError):
    os.utime(path)
