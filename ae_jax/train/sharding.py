"""Data parallelism over a `jax.sharding.Mesh`: batch split on 'data', state replicated.

The same code runs on 1 CPU, N local devices or a multi-host slice: each
process feeds its own slice of the global batch and
`jax.make_array_from_process_local_data` assembles the global array.

Sweeps (`ae_jax.train.sweep`) add a 'model' axis: their K members, stacked
on a leading axis, are split across it, and each member's batch across the
'data' axis (`make_sweep_mesh`, `member_sharded`).
"""

import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

DATA_AXIS = 'data'
MODEL_AXIS = 'model'


def make_mesh(num_devices: int | None = None) -> jax.sharding.Mesh:
  """A 1-D mesh over the first ``num_devices`` devices (default: all)."""
  devices = jax.devices()
  if num_devices is not None:
    devices = devices[:num_devices]
  return jax.sharding.Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharded(
    mesh: jax.sharding.Mesh, *, stacked: bool = False
) -> NamedSharding:
  """Batch axis split across the mesh's data axis: the leading axis, or the
  second one for ``stacked`` batches ``[K steps, B, ...]``."""
  return NamedSharding(mesh, P(None, DATA_AXIS) if stacked else P(DATA_AXIS))


def check_batch_size(
    batch_size: int, mesh: jax.sharding.Mesh, field: str
) -> None:
  """The global batch must split evenly across devices (and so processes)."""
  n = mesh.size
  if batch_size < 1 or batch_size % n:
    fixed = max(n, batch_size // n * n)
    raise ValueError(
        f'config.{field}={batch_size} must be a positive multiple of the '
        f'{n} devices in the mesh; set --config.{field}={fixed}.'
    )


def put_batch(
    batch: dict[str, np.ndarray],
    mesh: jax.sharding.Mesh,
    *,
    stacked: bool = False,
) -> dict[str, jax.Array]:
  """This process's slice of a batch -> global arrays sharded along 'data'."""
  sharding = data_sharded(mesh, stacked=stacked)
  return {
      k: jax.make_array_from_process_local_data(sharding, v)
      for k, v in batch.items()
  }


def put_replicated(
    arrays: dict[str, np.ndarray], mesh: jax.sharding.Mesh
) -> dict[str, jax.Array]:
  """Host arrays (the same on every process) -> copies on every device."""
  rep = replicated(mesh)
  return {
      k: jax.make_array_from_callback(v.shape, rep, lambda idx, v=v: v[idx])
      for k, v in arrays.items()
  }


def make_sweep_mesh(
    model_parallel: int = 1, num_devices: int | None = None
) -> jax.sharding.Mesh:
  """A ('model', 'data') mesh: ``model_parallel`` devices hold the sweep's
  members, and the other devices of each model row split every batch.

  Args:
    model_parallel: devices on the 'model' axis.
    num_devices: the first ``num_devices`` devices (default: all).

  Raises:
    ValueError: if ``model_parallel`` does not divide the device count.
  """
  devices = jax.devices()
  if num_devices is not None:
    devices = devices[:num_devices]
  n = len(devices)
  if model_parallel < 1 or n % model_parallel:
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    raise ValueError(
        f'--model_parallel={model_parallel} must divide the {n} devices; '
        f'use one of {divisors}.'
    )
  grid = np.asarray(devices).reshape(model_parallel, n // model_parallel)
  return jax.sharding.Mesh(grid, (MODEL_AXIS, DATA_AXIS))


def member_sharded(
    mesh: jax.sharding.Mesh, *, axis: int = 0, batch: bool = False
) -> NamedSharding:
  """Axis ``axis`` (a sweep's members) split across 'model'; with ``batch``,
  the next axis (each member's examples) split across 'data'."""
  spec = (None,) * axis + (MODEL_AXIS,) + ((DATA_AXIS,) if batch else ())
  return NamedSharding(mesh, P(*spec))
