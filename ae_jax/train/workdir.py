"""A work directory on disk: checked before work, written atomically.

What a crash, a full disk or a damaged file must not do to a run, and how
this module prevents it (`lock` keeps a second launch out):

* `check_writable` refuses an empty ``--workdir``, a path that is a file, and
  a directory (or the parent it would be made in) or run file that cannot be
  written, before any data is loaded;
* `write_text` writes a file to a temporary name, flushes it to disk and
  renames it over the old one, so a kill or a full disk leaves either the old
  file or the new one, never half of one;
* `read_json` names the file (and the fix) when it is damaged, instead of a
  bare JSON position;
* `disk_full_error` turns "no space left on device", from whichever library
  hit it, into one line naming the directory and its free space.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pathlib
from typing import Any

from etils import epath

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NO_SPACE_TEXT = ('No space left on device', 'Disk quota exceeded')


class WorkdirError(ValueError):
  """The work directory cannot be used as given (the message says why)."""


class DamagedFileError(ValueError):
  """A file of a work directory cannot be parsed (the message names it)."""


class DiskFullError(OSError):
  """No space was left for a work directory's files; nothing good was lost."""


def is_remote(path: epath.PathLike) -> bool:
  """Cloud paths (gs://...) have no local locks, renames or free space."""
  return '://' in os.fspath(path)


def check_path(workdir: epath.PathLike | None, flag: str = '--workdir') -> None:
  """An empty path (an unset shell variable) would write into the cwd."""
  if workdir is None or not os.fspath(workdir).strip():
    raise WorkdirError(
        f'{flag} is empty; give the directory for the run, e.g. '
        f'{flag}=runs/vae (an unset shell variable gives an empty value).'
    )


def check_writable(
    workdir: epath.PathLike,
    files: tuple[str, ...] = (),
    flag='--workdir',
    *,
    dirs: tuple[str, ...] = (),
) -> None:
  """Raises `WorkdirError` unless the run can write into ``workdir``.

  Checks that ``workdir`` is not a file, that it (or the nearest existing
  directory above it, where it would be created) accepts new files, and that
  each of ``files`` and ``dirs`` inside it that exists is a file (directory)
  that can be written. Creating and removing a probe file also catches
  read-only mounts, which `os.access` misses.
  """
  check_path(workdir, flag)
  if is_remote(workdir):
    return
  path = os.path.abspath(os.fspath(workdir))
  if os.path.exists(path) and not os.path.isdir(path):
    raise WorkdirError(
        f'{flag}={path} is an existing file, not a directory; give a '
        'directory path (it is created if missing).'
    )
  existing = path
  while not os.path.isdir(existing):
    parent = os.path.dirname(existing)
    if os.path.exists(existing) or parent == existing:
      raise WorkdirError(
          f'{flag}={path} cannot be created: {existing} is not a directory.'
      )
    existing = parent
  probe = os.path.join(existing, f'.write_probe.{os.getpid()}')
  try:
    with open(probe, 'w'):
      pass
    os.unlink(probe)
  except OSError as e:
    where = 'it' if existing == path else f'its parent {existing}'
    raise WorkdirError(
        f'{flag}={path}: cannot write into {where} ({e.strerror}); fix the '
        'permissions (chmod u+w) or give a writable directory.'
    ) from None
  for name in files + dirs:
    target = os.path.join(path, name)
    if os.path.exists(target) and os.path.isdir(target) != (name in dirs):
      kind = 'a directory' if name in dirs else 'a file'
      raise WorkdirError(
          f'{target} should be {kind} of the run but is not; move it aside '
          f'(or use another {flag}).'
      )
    if os.path.exists(target) and not os.access(target, os.W_OK):
      raise WorkdirError(
          f'{target} is read-only, and this run would rewrite it; make it '
          f'writable (chmod -R u+w {path}) or use another {flag}.'
      )


def cache_dir() -> pathlib.Path:
  """Where ae_jax caches what it derives once (the sample-quality
  classifiers, rendered datasets), on the local disk: ``$AE_JAX_CACHE``,
  else ``~/.cache/ae_jax``."""
  return pathlib.Path(
      os.environ.get('AE_JAX_CACHE') or '~/.cache/ae_jax'
  ).expanduser()


def write_text(path: epath.PathLike, text: str) -> None:
  """Replaces ``path`` with ``text`` atomically (temporary file + rename).

  A kill, a crash or a full disk at any moment leaves the old content or
  the new, never a truncated file; the temporary file is removed on error.
  """
  write_bytes(path, text.encode('utf-8'))


def write_bytes(path: epath.PathLike, content: bytes) -> None:
  """`write_text` for bytes (e.g. a PNG)."""
  path = epath.Path(path)
  if is_remote(path):
    path.write_bytes(content)
    return
  tmp = path.parent / f'.{path.name}.tmp.{os.getpid()}'
  try:
    with open(tmp, 'wb') as f:
      f.write(content)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_directory(path.parent)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    raise


def _fsync_directory(directory: epath.Path) -> None:
  """Makes a rename durable across a power loss, not only a kill."""
  with contextlib.suppress(OSError):
    fd = os.open(directory, os.O_RDONLY)
    try:
      os.fsync(fd)
    finally:
      os.close(fd)


def append_line(path: epath.PathLike, line: str) -> None:
  """Appends one line, first ending a partial last line left by a kill."""
  path = epath.Path(path)
  prefix = ''
  if not is_remote(path) and os.path.exists(path):
    with open(path, 'rb') as f:
      f.seek(0, os.SEEK_END)
      if f.tell():
        f.seek(-1, os.SEEK_END)
        prefix = '' if f.read(1) == b'\n' else '\n'
  with path.open('a') as f:
    f.write(prefix + line + '\n')


def read_json(path: epath.PathLike, fix: str) -> Any:
  """The JSON in ``path``; a damaged file raises naming it and ``fix``."""
  path = epath.Path(path)
  try:
    return json.loads(path.read_text())
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise DamagedFileError(
        f'{path} is damaged ({type(e).__name__}: {e}); {fix}'
    ) from None
  except (PermissionError, IsADirectoryError) as e:
    raise DamagedFileError(
        f'{path} cannot be read ({e.strerror}); make it a readable file.'
    ) from None


# ---------------------------------------------------------------------------
# A full disk.
# ---------------------------------------------------------------------------


def free_bytes(path: epath.PathLike) -> int | None:
  """Free bytes on the file system of ``path`` (or of its nearest parent)."""
  if is_remote(path):
    return None
  path = os.path.abspath(os.fspath(path))
  while not os.path.exists(path) and os.path.dirname(path) != path:
    path = os.path.dirname(path)
  try:
    stat = os.statvfs(path)
  except OSError:
    return None
  return stat.f_bavail * stat.f_frsize


def format_bytes(n: int | None) -> str:
  if n is None:
    return 'unknown'
  for unit in ('bytes', 'KiB', 'MiB', 'GiB'):
    if n < 1024 or unit == 'GiB':
      return f'{n:.0f} {unit}' if unit == 'bytes' else f'{n:.1f} {unit}'
    n /= 1024
  return f'{n:.1f} TiB'


def is_disk_full(error: BaseException | None) -> bool:
  """Whether ``error`` (or what caused it) is "no space left on device".

  Orbax and TensorStore report it as their own exception types with the
  OS message in the text, so the text counts too.
  """
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and error.errno in _NO_SPACE:
      return True
    if any(t in str(error) for t in _NO_SPACE_TEXT):
      return True
    error = error.__cause__ or error.__context__
  return False


def check_free_space(workdir: epath.PathLike, checkpoint_bytes: int) -> None:
  """Refuses to start when the next checkpoint cannot fit on the disk."""
  free = free_bytes(workdir)
  needed = checkpoint_bytes + 2**20  # And a MiB for logs and metadata.
  if free is not None and free < needed:
    raise DiskFullError(
        f'No space left on the device of {workdir}: {format_bytes(free)} '
        f'free, {format_bytes(needed)} needed (a checkpoint of this model, '
        f'{format_bytes(checkpoint_bytes)}, and 1 MiB for logs). Free some '
        'space or use a --workdir on a larger disk. Nothing was changed.'
    )


def disk_full_error(workdir: epath.PathLike, last_good: str) -> DiskFullError:
  """The one-line error of a run stopped by a full disk."""
  return DiskFullError(
      f'No space left on the device of {workdir} '
      f'({format_bytes(free_bytes(workdir))} free); {last_good}. Free some '
      'space (or use a --workdir on a larger disk) and rerun the same '
      'command to resume.',
  )
