"""Orbax checkpoints of the `TrainState` under ``<workdir>/checkpoints``.

Saves are asynchronous (training continues while files are written); the
trainer waits for them before it exits. Orbax writes each step into a
temporary directory and renames it when complete, so a process killed mid-save
leaves no half-written step behind (only a temporary directory, removed by the
next run). Restoring uses the freshly initialised state as the target, so
arrays come back with the mesh's shardings.

Which steps are kept: the ``max_to_keep`` most recent, plus, when the trainer
has a validation split, the one with the lowest validation loss
(`make_manager`'s ``best_metric``), however old.

A step that cannot be read back (truncated or damaged files, non-finite
values) is moved to ``<workdir>/checkpoints_corrupt/`` with a warning and the
step before it is used (`restore_latest`); when no step can be read, the run
stops with `UnreadableCheckpointError` and nothing is moved.
"""

import logging
import os
from typing import Any

from etils import epath
import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

CORRUPT_DIR = 'checkpoints_corrupt'


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
      epath.Path(workdir) / 'checkpoints', options=options
  )


def save(
    manager: ocp.CheckpointManager,
    state,
    *,
    metrics: dict[str, float] | None = None,
) -> None:
  step = int(jax.device_get(state.step))
  if step not in manager.all_steps():
    manager.save(step, args=ocp.args.StandardSave(state), metrics=metrics)


def _all_finite(tree) -> bool:
  for leaf in jax.tree.leaves(tree):
    leaf = np.asarray(jax.device_get(leaf))
    if np.issubdtype(leaf.dtype, np.inexact) and not np.isfinite(leaf).all():
      return False
  return True


class UnreadableCheckpointError(RuntimeError):
  """No saved step could be restored; nothing was moved or deleted."""


def restore_latest(
    manager: ocp.CheckpointManager,
    target: Any = None,
    *,
    step: int | None = None,
    quarantine: bool = True,
) -> tuple[int | None, Any]:
  """``(step, state)`` of the newest readable checkpoint; ``(None, None)`` if none.

  ``target`` (a state of the right structure, or None for the saved one)
  gives shapes, dtypes and shardings. ``step`` starts the search there
  instead of at the latest step. A step that fails to restore, or restores
  non-finite values (never saved by the trainer), is skipped with a warning
  and, once an older step has restored and with ``quarantine`` (not for
  read-only managers), moved to ``<workdir>/checkpoints_corrupt/<step>`` so a
  resumed run can save that step again; the files are kept for inspection.

  Raises:
    UnreadableCheckpointError: steps exist but none restores. That is what a
      change of code or state structure looks like, not damage, so nothing
      is moved and training does not silently start again from scratch.
  """
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
      restored = manager.restore(s, args=ocp.args.StandardRestore(abstract))
      error = None if _all_finite(restored) else 'non-finite values'
    except Exception as e:  # pylint: disable=broad-except
      # Orbax and TensorStore raise many types for damaged files.
      error = f'{type(e).__name__}: {e}'.splitlines()[0][:300]
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
      return s, restored
    errors[s] = error
  if errors:
    listed = '; '.join(f'step {s}: {e}' for s, e in errors.items())
    raise UnreadableCheckpointError(
        f'No checkpoint in {manager.directory} could be restored ({listed}). '
        'If the code or the config changed since they were saved, use the '
        'version that wrote them or a new --workdir; if the files are '
        'damaged, move the directory aside to start again. Nothing was moved.'
    )
  return None, None


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
