"""Orbax checkpoints of the `TrainState` under ``<workdir>/checkpoints``.

Saves are asynchronous (training continues while files are written); the
trainer waits for them before it exits. Orbax writes each step into a
temporary directory and renames it when complete, so a process killed mid-save
leaves no half-written step behind (only a temporary directory, removed by the
next run). Restoring uses the freshly initialised state as the target, so
arrays come back with the mesh's shardings; `ae_jax.load` builds its target
from the step's own array metadata, so both read a step the same way.

Each step records, in orbax's step metadata (``custom_metadata['ae_jax']``),
a SHA-256 of every saved array and the config it was trained with. Restoring
recomputes the checksums: a step whose bytes changed since it was saved (bit
rot, a damaged copy) is treated like an unreadable one, and the config lets
`ae_jax.load` and a resumed run refuse a ``config.json`` that no longer
matches the weights. Steps saved before checksums existed restore unverified.

Which steps are kept: the ``max_to_keep`` most recent, plus, when the trainer
has a validation split, the one with the lowest validation loss
(`make_manager`'s ``best_metric``), however old.

A step that cannot be read back (truncated or damaged files, a checksum
mismatch, non-finite values, an empty or half-copied step directory) is
moved to ``<workdir>/checkpoints_corrupt/`` with a warning and the step
before it is used (`restore_latest`); when no step can be read, the run stops
with `UnreadableCheckpointError` and nothing is moved.
"""

from collections.abc import Iterator
import contextlib
import gc
import hashlib
import json
import logging
import os
import sys
import threading
import traceback
from typing import Any

from etils import epath
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from ae_jax.train import distributed

CORRUPT_DIR = 'checkpoints_corrupt'
# Where `save` keeps its record in orbax's step metadata, and its version.
RECORD_KEY = 'ae_jax'
FORMAT = 1
_STEP_METADATA = '_CHECKPOINT_METADATA'


def absolute(path: epath.PathLike) -> epath.Path:
  """Orbax needs absolute paths; cloud paths (gs://...) already are."""
  path = epath.Path(path)
  return path if '://' in str(path) else epath.Path(os.path.abspath(path))


def make_manager(
    workdir: epath.PathLike, *, max_to_keep: int, best_metric: str | None = None
) -> ocp.CheckpointManager:
  """Keeps the latest ``max_to_keep`` steps, and the best by ``best_metric``.

  ``best_metric`` names a key of the metrics passed to `save` (lower is
  better); the step with its lowest value is kept besides the recent ones.
  """
  policies = [checkpoint_managers.LatestN(n=max_to_keep)]
  best_fn = None
  if best_metric is not None:
    best_fn = lambda metrics: metrics[best_metric]
    policies.append(
        checkpoint_managers.BestN(
            get_metric_fn=best_fn,
            reverse=True,  # Sorted high to low: the last n are the lowest.
            n=1,
            keep_checkpoints_without_metrics=False,
        )
    )
  options = ocp.CheckpointManagerOptions(
      create=True,
      preservation_policy=checkpoint_managers.AnyPreservationPolicy(policies),
      best_fn=best_fn,
      best_mode='min',
      cleanup_tmp_directories=True,
  )
  return ocp.CheckpointManager(
      epath.Path(workdir) / 'checkpoints',
      options=options,
      # One item, whatever is on disk: orbax otherwise infers the layout from
      # the newest step directory, and an empty one (an interrupted copy)
      # made it refuse every step, intact ones included.
      item_handlers=ocp.StandardCheckpointHandler(),
  )


def save(
    manager: ocp.CheckpointManager,
    state,
    *,
    metrics: dict[str, float] | None = None,
    config: ml_collections.ConfigDict | None = None,
    step: int | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
  """Saves ``state`` at its step with its checksums (and ``config``).

  ``step`` is ``state.step`` unless given (a sweep's stacked state has one
  per member); ``extra`` (JSON) joins the step's record (`step_record`).
  """
  step = int(jax.device_get(state.step)) if step is None else step
  if step in manager.all_steps():
    return
  record = {'format': FORMAT, 'checksums': array_checksums(state)}
  if config is not None:
    record['config'] = json.loads(config.to_json())
  record.update(extra or {})
  manager.save(
      step,
      args=ocp.args.StandardSave(state),
      metrics=metrics,
      custom_metadata={RECORD_KEY: record},
  )


def array_checksums(tree) -> dict[str, str]:
  """SHA-256 of each array of ``tree`` (dtype, shape, bytes), by its path.

  Paths are written the same for a `TrainState` and for the nested dicts
  orbax restores without a target (``'params/encoder/head/kernel'``), so a
  record made at save time checks either.
  """
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    value = np.ascontiguousarray(distributed.host_array(leaf))
    digest = hashlib.sha256(f'{value.dtype.str}{value.shape}'.encode())
    digest.update(value.tobytes())
    out[jax.tree_util.keystr(path, simple=True, separator='/')] = (
        digest.hexdigest()
    )
  return out


def step_record(directory: epath.PathLike, step: int) -> dict[str, Any]:
  """What `save` recorded with ``step``: ``{}`` for a step saved before
  checksums existed (or by orbax versions without custom metadata).

  Raises:
    ValueError: the step's metadata file is missing or damaged.
  """
  path = epath.Path(directory) / str(step) / _STEP_METADATA
  try:
    metadata = json.loads(path.read_text())
  except FileNotFoundError:
    raise ValueError(f'{_STEP_METADATA} is missing') from None
  except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError.
    raise ValueError(f'{_STEP_METADATA} is damaged ({e})') from None
  if not isinstance(metadata, dict):
    raise ValueError(f'{_STEP_METADATA} is damaged (not a JSON object)')
  custom = metadata.get('custom_metadata') or {}
  record = custom.get(RECORD_KEY, {}) if isinstance(custom, dict) else None
  if not isinstance(record, dict) or (
      record and not isinstance(record.get('checksums'), dict)
  ):
    raise ValueError(f'{_STEP_METADATA} is damaged (its ae_jax record)')
  if record.get('format', FORMAT) > FORMAT:
    # Written by a newer ae_jax whose record this one cannot check.
    logging.warning(
        'Checkpoint step %d in %s was written by a newer ae_jax (record '
        'format %s); restoring it without checking its checksums.',
        step,
        directory,
        record.get('format'),
    )
    return {}
  return record


def newest_complete_step(directory: epath.PathLike) -> int | None:
  """The newest step whose save completed (its metadata reads), if any."""
  for step in step_dirs(directory):
    try:
      step_record(directory, step)
    except ValueError:
      continue
    return step
  return None


def latest_recorded_config(
    directory: epath.PathLike,
) -> tuple[int | None, dict | None]:
  """``(step, config)`` of the newest step that recorded its config.

  Reads step metadata only (no arrays); steps whose metadata cannot be read
  are passed over here and dealt with when restoring.
  """
  for step in step_dirs(directory):
    try:
      config = step_record(directory, step).get('config')
    except ValueError:
      continue
    if isinstance(config, dict):
      return step, config
  return None, None


def step_dirs(directory: epath.PathLike) -> list[int]:
  """Step numbers of the step directories present, newest first."""
  directory = epath.Path(directory)
  if not directory.exists():
    return []
  return sorted(
      (int(d.name) for d in directory.iterdir() if d.name.isdigit()),
      reverse=True,
  )


def _verify(
    restored, record: dict[str, Any], allow_nonfinite: bool = False
) -> str | None:
  """Why ``restored`` is not what was saved, or None."""
  if not allow_nonfinite and not _all_finite(restored):
    return 'non-finite values'
  if not record:  # Saved before checksums existed.
    return None
  recorded = record['checksums']
  actual = array_checksums(restored)
  if set(recorded) != set(actual):
    odd = sorted(set(recorded) ^ set(actual))
    return f'arrays {odd[:3]} differ from those recorded when it was saved'
  # Parameters first: those are what a user loads.
  bad = sorted(
      (k for k in actual if actual[k] != recorded[k]),
      key=lambda k: (not k.startswith('params/'), k),
  )
  if bad:
    return (
        f'checksum mismatch in {len(bad)} array(s) ({", ".join(bad[:3])}): '
        'its bytes changed after it was saved'
    )
  return None


def _all_finite(tree) -> bool:
  for leaf in jax.tree.leaves(tree):
    leaf = distributed.host_array(leaf)
    if np.issubdtype(leaf.dtype, np.inexact) and not np.isfinite(leaf).all():
      return False
  return True


class UnreadableCheckpointError(RuntimeError):
  """No saved step could be restored; nothing was moved or deleted."""


def saved_target(manager: ocp.CheckpointManager, step: int) -> Any:
  """The abstract tree of ``step`` as saved, on this process's first device.

  A target built from the array metadata with this machine's device instead
  of the shardings the step was saved with, so a run trained on 8 GPUs loads
  on a laptop's CPU.
  """
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  metadata = manager.item_metadata(step)
  return jax.tree.map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
      metadata.tree if hasattr(metadata, 'tree') else metadata,
  )


def restore_latest(
    manager: ocp.CheckpointManager,
    target: Any = None,
    *,
    step: int | None = None,
    quarantine: bool = True,
    allow_nonfinite: bool = False,
) -> tuple[int | None, Any, dict[str, Any] | None]:
  """``(step, state, record)`` of the newest readable checkpoint, where
  ``record`` is what `save` recorded with it (`step_record`); ``(None, None,
  None)`` if there is none.

  ``target`` (a state of the right structure) gives shapes, dtypes and
  shardings; None restores each step as saved (`saved_target`). ``step``
  starts the search there instead of at the latest step. A step that fails
  to restore, or restores values that differ from its recorded checksums or
  are not finite (never saved by the trainer), is skipped with a warning
  and, once an older step has restored and with ``quarantine`` (not for
  read-only managers), moved to ``<workdir>/checkpoints_corrupt/<step>`` so a
  resumed run can save that step again; the files are kept for inspection.
  A step deleted while being read (by a run training in the directory) is
  passed over without a warning. ``allow_nonfinite`` accepts non-finite
  values that match their recorded checksums: a sweep saves its diverged
  members' NaNs beside the healthy ones.

  Raises:
    UnreadableCheckpointError: steps exist but none restores. That is what a
      change of code or state structure looks like, not damage, so nothing
      is moved and training does not silently start again from scratch.
  """
  with quiet_abandoned_io():
    return _restore_latest(manager, target, step, quarantine, allow_nonfinite)


def _restore_latest(manager, target, step, quarantine, allow_nonfinite):
  """`restore_latest`, without its handling of asyncio noise."""
  steps = sorted(manager.all_steps(), reverse=True)
  if step is not None:
    steps = [s for s in steps if s <= step]
  abstract = (
      None
      if target is None
      else jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  )
  errors = {}
  for s in steps:
    logging.info(
        'Restoring checkpoint at step %d from %s', s, manager.directory
    )
    try:
      record = step_record(manager.directory, s)
      # Reading the step's array metadata (shapes, dtypes, orbax's _sharding
      # file) checks those files too, with or without a target, so the
      # trainer and `ae_jax.load` take or skip a step alike.
      as_saved = saved_target(manager, s)
      restored = manager.restore(
          s,
          args=ocp.args.StandardRestore(
              as_saved if abstract is None else abstract
          ),
      )
      error = _verify(restored, record, allow_nonfinite)
    except Exception as e:  # pylint: disable=broad-except
      # Orbax and TensorStore raise many types for damaged files.
      error = f'{type(e).__name__}: {e}'.splitlines()[0][:300]
    if (
        error is not None
        and not (epath.Path(manager.directory) / str(s)).exists()
    ):
      # Deleted while being read (a run training in this directory keeps
      # only its newest steps): gone, not damaged.
      logging.info('Checkpoint step %d was deleted while being read.', s)
      continue
    if error is None:
      for bad, why in errors.items():
        where = _quarantine(manager, bad) if quarantine else None
        logging.warning(
            'Checkpoint step %d in %s is unreadable (%s); %s Using step %d.',
            bad,
            manager.directory,
            why,
            f'moved it to {where}.' if where else 'skipped it.',
            s,
        )
      if errors:
        manager.reload()
      return s, restored, record
    errors[s] = error
  if errors:
    listed = '; '.join(f'step {s}: {e}' for s, e in errors.items())
    raise UnreadableCheckpointError(
        f'No checkpoint in {manager.directory} could be restored ({listed}). '
        'If the code or the config changed since they were saved, use the '
        'version that wrote them or a new --workdir; if the files are '
        'damaged, move the directory aside to start again. Nothing was moved.'
    )
  return None, None, None


def is_abandoned_io(exc: BaseException | None, obj: Any = None) -> bool:
  """Leftovers of a failed save or restore, reported after the fact."""
  if 'coroutine' in repr(obj) and (
      'read_array' in repr(obj) or 'orbax' in repr(obj)
  ):
    return True
  if not isinstance(exc, RuntimeError) or str(exc) not in (
      'Event loop is closed',
      'cannot schedule new futures after interpreter shutdown',
  ):
    return False
  frames = traceback.extract_tb(exc.__traceback__)
  return any('asyncio' in f.filename or 'orbax' in f.filename for f in frames)


@contextlib.contextmanager
def quiet_abandoned_io() -> Iterator[None]:
  """Hides the tracebacks of a damaged step's abandoned asynchronous reads.

  When one array of a step fails to read, orbax abandons the reads of the
  others; their coroutines and callbacks then fail on a closed event loop
  and Python prints each one ("Exception ignored in: <coroutine ...>",
  "RuntimeError: Event loop is closed", through `sys.unraisablehook`,
  `threading.excepthook` or, from TensorStore's callbacks, `sys.excepthook`),
  dozens of tracebacks for one damaged step that `restore_latest` already
  reports in one warning (or a failed save, which the binaries report). Only
  those are dropped (logged at debug level); the abandoned coroutines are
  collected before the previous hooks come back.
  """
  previous_unraisable = sys.unraisablehook
  previous_thread = threading.excepthook
  previous_except = sys.excepthook

  def unraisable(u):
    if is_abandoned_io(u.exc_value, u.object):
      logging.debug('Dropped an abandoned checkpoint read: %r', u.exc_value)
    else:
      previous_unraisable(u)

  def thread(args):
    if is_abandoned_io(args.exc_value):
      logging.debug('Dropped an abandoned checkpoint read: %r', args.exc_value)
    else:
      previous_thread(args)

  def excepthook(kind, value, tb):
    # TensorStore's callbacks report through PyErr_Print, which calls this.
    if is_abandoned_io(value):
      logging.debug('Dropped an abandoned checkpoint read: %r', value)
    else:
      previous_except(kind, value, tb)

  sys.unraisablehook = unraisable
  threading.excepthook = thread
  sys.excepthook = excepthook
  try:
    yield
  finally:
    gc.collect()  # Abandoned coroutines report now, while filtered.
    sys.unraisablehook = previous_unraisable
    threading.excepthook = previous_thread
    sys.excepthook = previous_except


def _quarantine(manager: ocp.CheckpointManager, step: int) -> epath.Path | None:
  """Moves step ``step``'s directory out of the manager's sight (process 0)."""
  source = epath.Path(manager.directory) / str(step)
  dest = epath.Path(manager.directory).parent / CORRUPT_DIR / str(step)
  if jax.process_index() != 0 or not source.exists():
    return None
  dest.parent.mkdir(parents=True, exist_ok=True)
  if dest.exists():
    dest.rmtree()
  source.rename(dest)
  return dest
