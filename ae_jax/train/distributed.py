"""Multi-host start-up: `jax.distributed.initialize` behind one switch.

Every process of a multi-host job (a TPU VM slice, several GPU nodes, or
several processes on one machine) runs the same command; `initialize` connects
them before anything touches a device, after which `jax.devices()` lists every
device of the job, `jax.process_index()` tells each process which slice of
every global batch it feeds (`ae_jax.data.pipeline`) and process 0 alone
writes metrics, figures and JSON files (orbax coordinates checkpoints itself).

``mode``:
  * ``'off'``: a single process (a laptop, or one host with all its GPUs);
  * ``'on'``: always initialise; the coordinator address, process count and
    process id come from the arguments, or, where left out, from JAX's own
    cluster detection (TPU VM, SLURM, Open MPI, Kubernetes);
  * ``'auto'`` (default): initialise only where the environment says this is
    one process of several: explicit arguments, ``JAX_COORDINATOR_ADDRESS``,
    a Cloud TPU VM (libtpu installed and TPU chips present), a SLURM job with
    ``SLURM_NTASKS > 1`` or an Open MPI job with ``OMPI_COMM_WORLD_SIZE > 1``.
    Anything else (a laptop, a single GPU host) stays single-process, so a
    plain run never waits for peers that do not exist.
"""

from collections.abc import Mapping
import glob
import hashlib
import importlib.util
import logging
import os

import jax
from jax.experimental import multihost_utils
import numpy as np

MODES = ('auto', 'on', 'off')


def _int_env(env: Mapping[str, str], name: str) -> int | None:
  try:
    return int(env[name])
  except (KeyError, ValueError):
    return None


def _on_tpu_vm() -> bool:
  """libtpu is installed and the machine has TPU chips (no network query)."""
  if importlib.util.find_spec('libtpu') is None:
    return False
  return bool(glob.glob('/dev/accel*') or glob.glob('/dev/vfio/[0-9]*'))


def detect_cluster(env: Mapping[str, str] | None = None) -> str | None:
  """The multi-process environment this process runs in, or None.

  Conservative by design: only environments where JAX's argument-free
  `jax.distributed.initialize()` finds its peers, and (for SLURM and MPI)
  only jobs with more than one task.
  """
  env = os.environ if env is None else env
  if env.get('JAX_COORDINATOR_ADDRESS'):
    return 'JAX_COORDINATOR_ADDRESS'
  slurm = ('SLURM_JOB_ID', 'SLURM_STEP_NODELIST', 'SLURM_PROCID')
  if all(v in env for v in slurm) and (_int_env(env, 'SLURM_NTASKS') or 1) > 1:
    return 'slurm'
  if 'OMPI_MCA_orte_hnp_uri' in env and (
      (_int_env(env, 'OMPI_COMM_WORLD_SIZE') or 1) > 1
  ):
    return 'openmpi'
  platforms = env.get('JAX_PLATFORMS', '')
  if (
      env is os.environ
      and (not platforms or 'tpu' in platforms.split(','))
      and _on_tpu_vm()
  ):
    return 'tpu_vm'
  return None


def check_args(
    mode: str,
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
  """ValueError naming the flag and the fix for any inconsistent setting."""
  if mode not in MODES:
    raise ValueError(
        f'--distributed={mode!r} must be one of {MODES}: auto (initialise '
        'on a detected cluster), on, or off.'
    )
  given = {
      name: value
      for name, value in (
          ('coordinator_address', coordinator_address),
          ('num_processes', num_processes),
          ('process_id', process_id),
      )
      if value is not None
  }
  if mode == 'off' and given:
    raise ValueError(
        f'--{next(iter(given))} is set but --distributed=off; drop it, or '
        'use --distributed=on to start a multi-process run.'
    )
  if coordinator_address is not None:
    host, sep, port = coordinator_address.rpartition(':')
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
      raise ValueError(
          f'--coordinator_address={coordinator_address!r} must be '
          "'host:port' (process 0's address and a free port), e.g. "
          '--coordinator_address=10.0.0.2:1234.'
      )
  if num_processes is not None and num_processes < 1:
    raise ValueError(
        f'--num_processes={num_processes} must be >= 1: the number of '
        'processes in the job (one per host, usually).'
    )
  if process_id is not None:
    if process_id < 0:
      raise ValueError(f'--process_id={process_id} must be >= 0.')
    if num_processes is not None and process_id >= num_processes:
      raise ValueError(
          f'--process_id={process_id} must be < --num_processes='
          f'{num_processes}: give each process a distinct id in '
          f'0..{num_processes - 1}.'
      )


def initialize(
    mode: str = 'auto',
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> bool:
  """Connects the processes of a multi-host job; returns whether it did.

  Call it first, before any JAX computation or `jax.devices()`. Arguments
  left as None are found by JAX on supported clusters (module docstring).
  Calling it again after a successful start does nothing.
  """
  check_args(mode, coordinator_address, num_processes, process_id)
  if mode == 'off':
    return False
  explicit = (coordinator_address, num_processes, process_id)
  cluster = detect_cluster(env)
  if mode == 'auto' and cluster is None and all(v is None for v in explicit):
    return False
  if cluster is None and (
      coordinator_address is None or num_processes is None or process_id is None
  ):
    missing = [
        f'--{n}'
        for n, v in zip(
            ('coordinator_address', 'num_processes', 'process_id'), explicit
        )
        if v is None
    ]
    raise ValueError(
        f'No cluster environment (TPU VM, SLURM, Open MPI) was detected, so '
        f'a multi-process run needs {", ".join(missing)}: e.g. '
        '--coordinator_address=host0:1234 --num_processes=2 --process_id=0 '
        'on the first process and --process_id=1 on the second.'
    )
  if jax.distributed.is_initialized():
    return True
  logging.info(
      'Starting multi-process JAX (%s): coordinator=%s processes=%s id=%s',
      cluster or 'flags',
      coordinator_address,
      num_processes,
      process_id,
  )
  jax.distributed.initialize(
      coordinator_address=coordinator_address,
      num_processes=num_processes,
      process_id=process_id,
  )
  logging.info(
      'Process %d of %d: %d local of %d global devices.',
      jax.process_index(),
      jax.process_count(),
      jax.local_device_count(),
      jax.device_count(),
  )
  return True


class StoppedWithProcess0(RuntimeError):
  """Process 0 stopped the launch (its log says why); so does this process."""


def stop_all_if(error: Exception | None) -> None:
  """Raises ``error`` (known on process 0 only) on every process.

  Process 0 re-raises it; the others raise `StoppedWithProcess0`. A collective
  (every process must call it), except in a one-process run.
  """
  if jax.process_count() > 1:
    failed = multihost_utils.broadcast_one_to_all(np.int32(error is not None))
    if error is None and int(failed):
      raise StoppedWithProcess0(
          'Process 0 stopped this launch (its log says why); stopping too.'
      )
  if error is not None:
    raise error


def host_array(leaf) -> np.ndarray:
  """This process's full copy of an array (replicated, local or gathered)."""
  if isinstance(leaf, jax.Array) and leaf.is_fully_replicated:
    leaf = leaf.addressable_data(0)  # This process's own copy.
  elif isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
    leaf = multihost_utils.process_allgather(leaf, tiled=True)
  return np.asarray(leaf)


def params_fingerprint(tree) -> str:
  """SHA-256 of this process's copy of every array of ``tree``, in order.

  Replicated parameters must be bit-identical on every process of a job, so
  processes that print the same fingerprint hold the same model.
  """
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(tree):
    value = host_array(leaf)
    digest.update(f'{value.dtype}{value.shape}'.encode())
    digest.update(np.ascontiguousarray(value).tobytes())
  return digest.hexdigest()
