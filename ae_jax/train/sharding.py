"""Data parallelism over a `jax.sharding.Mesh`: batch split on 'data', state replicated.

The same code runs on 1 CPU, N local devices or a multi-host slice: each
process feeds its own slice of the global batch and
`jax.make_array_from_process_local_data` assembles the global array.
"""

import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

DATA_AXIS = 'data'


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
