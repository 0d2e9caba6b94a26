"""Orbax checkpoints of the `TrainState` under ``<workdir>/checkpoints``.

Saves are asynchronous (training continues while files are written); the
trainer waits for them before it exits. Restoring uses the freshly initialised
state as the target, so arrays come back with the mesh's shardings.
"""

import logging
import os

from etils import epath
import jax
import orbax.checkpoint as ocp


def absolute(path: epath.PathLike) -> epath.Path:
  """Orbax needs absolute paths; cloud paths (gs://...) already are."""
  path = epath.Path(path)
  return path if '://' in str(path) else epath.Path(os.path.abspath(path))


def make_manager(
    workdir: epath.PathLike, *, max_to_keep: int
) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
  return ocp.CheckpointManager(
      epath.Path(workdir) / 'checkpoints', options=options
  )


def save(manager: ocp.CheckpointManager, state) -> None:
  step = int(jax.device_get(state.step))
  if step not in manager.all_steps():
    manager.save(step, args=ocp.args.StandardSave(state))


def restore_latest(manager: ocp.CheckpointManager, target):
  """The latest saved state shaped and sharded like ``target``, or None."""
  step = manager.latest_step()
  if step is None:
    return None
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  logging.info(
      'Restoring checkpoint at step %d from %s', step, manager.directory
  )
  return manager.restore(step, args=ocp.args.StandardRestore(abstract))
