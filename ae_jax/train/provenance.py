"""What produced a work directory: code revision, package versions, machine.

Every launch of the trainer appends one JSON line to ``<workdir>/launches.jsonl``
(a resumed run has several), so a result can be traced to the exact code and
libraries that made it, and a difference between two runs to what changed.
"""

import datetime
import importlib.metadata
import json
import pathlib
import platform
import subprocess
import sys
from typing import Any

from etils import epath
import jax

from ae_jax.train import workdir as workdir_lib

PACKAGES = (
    'ae_jax',
    'jax',
    'jaxlib',
    'flax',
    'optax',
    'orbax-checkpoint',
    'chex',
    'numpy',
    'ml_collections',
    'tensorflow-datasets',
    'scikit-learn',
)


def package_versions(packages=PACKAGES) -> dict[str, str | None]:
  """Installed version of each package (None where it is not installed)."""
  versions = {}
  for name in packages:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = None
  return versions


def _git(*args: str, source: pathlib.Path | None = None) -> str | None:
  """``git -C source args`` (this package's checkout by default), or None.

  ``--no-optional-locks``: reading the revision must never write the user's
  index (``git status`` otherwise refreshes it, racing their own git).
  """
  source = source or pathlib.Path(__file__).resolve().parent
  try:
    out = subprocess.run(
        ['git', '--no-optional-locks', '-C', str(source), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip()


def git_revision() -> dict[str, Any]:
  """The commit of the ae_jax checkout and whether it had local changes.

  ``{'revision': None}`` when ae_jax was installed from a wheel (no checkout).
  """
  # Only ae_jax's own checkout counts: an installed copy may sit inside some
  # other repository (a project's virtualenv), whose revision says nothing.
  top = _git('rev-parse', '--show-toplevel')
  ours = (
      top is not None
      and (pathlib.Path(top) / 'ae_jax' / 'train' / 'provenance.py').resolve()
      == pathlib.Path(__file__).resolve()
  )
  revision = _git('rev-parse', 'HEAD') if ours else None
  if revision is None:
    return {'revision': None, 'dirty': None}
  status = _git('status', '--porcelain', '--untracked-files=no')
  return {'revision': revision, 'dirty': bool(status)}


def describe(start_step: int) -> dict[str, Any]:
  devices = jax.devices()
  return {
      'time': datetime.datetime.now(datetime.timezone.utc).isoformat(),
      'start_step': start_step,
      'argv': list(sys.argv),
      'git': git_revision(),
      'packages': package_versions(),
      'python': platform.python_version(),
      'platform': platform.platform(),
      'backend': jax.default_backend(),
      'devices': f'{len(devices)} x {devices[0].device_kind}',
      'process_count': jax.process_count(),
  }


def record_launch(workdir: epath.Path, start_step: int) -> dict[str, Any]:
  """Appends this launch's description to ``launches.jsonl``; returns it."""
  record = describe(start_step)
  workdir_lib.append_line(workdir / 'launches.jsonl', json.dumps(record))
  return record
