"""Whether a model fits in a device's memory, decided before allocating it.

XLA's allocation of an impossible state (``--config.latent_dim=1000000000``)
can wait forever instead of failing, with nothing printed. `check_fits` adds
up the bytes of the parameters, optimiser state and gradients from shapes
alone and compares them with the device's memory.
"""

from collections.abc import Callable
import contextlib
import math
import os
import resource
from typing import Any

import jax
import jax.numpy as jnp


def tree_bytes(tree) -> int:
  return sum(
      math.prod(leaf.shape) * jnp.dtype(leaf.dtype).itemsize
      for leaf in jax.tree.leaves(tree)
  )


def device_memory_bytes(device: jax.Device) -> int | None:
  """Memory one device can hold: its allocator's limit (GPU, TPU), or for
  the CPU the host's RAM under the process's address-space and cgroup
  limits (``ulimit -v``, a container's memory.max)."""
  stats = device.memory_stats() if hasattr(device, 'memory_stats') else None
  if stats and stats.get('bytes_limit'):
    return int(stats['bytes_limit'])
  if device.platform != 'cpu':
    return None
  limits = []
  with contextlib.suppress(ValueError, OSError, AttributeError):
    limits.append(os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE'))
  soft, _ = resource.getrlimit(resource.RLIMIT_AS)
  if soft not in (resource.RLIM_INFINITY, -1):
    limits.append(soft)
  with contextlib.suppress(OSError, ValueError):
    with open('/sys/fs/cgroup/memory.max') as f:
      text = f.read().strip()
    if text != 'max':
      limits.append(int(text))
  return min(limits) if limits else None


def check_fits(
    abstract_state,
    *,
    sizing_fields: Callable[[], dict[str, Any]],
    copies: int = 1,
    extra_bytes: int = 0,
    extra_what: str = '',
) -> None:
  """Refuses a state that cannot fit in one device's memory, before allocating.

  Counts the parameters, the optimiser state and one gradient per copy
  (``copies``: the members of a sweep), plus ``extra_bytes`` (the training
  set kept on the device). Activations are not counted, so whatever is
  refused here could never have trained. Without this, XLA's allocation of
  an impossible state can wait forever instead of failing.
  ``sizing_fields()`` names the config fields (and values) that set the
  parameters' sizes, for the message; it is only called on a refusal.

  Raises:
    ValueError: naming the size, the device's memory, the largest arrays and
      the config fields that set them.
  """
  device = jax.local_devices()[0]
  available = device_memory_bytes(device)
  if available is None:
    return
  params = tree_bytes(abstract_state.params)
  needed = copies * (tree_bytes(abstract_state) + params) + extra_bytes
  if needed <= available:
    return
  largest = sorted(
      jax.tree_util.tree_flatten_with_path(abstract_state.params)[0],
      key=lambda kv: -math.prod(kv[1].shape),
  )[:2]
  arrays = ', '.join(
      f'{jax.tree_util.keystr(p, simple=True, separator="/")} '
      f'{list(leaf.shape)}'
      for p, leaf in largest
  )
  fields = ', '.join(f'--config.{f}={v!r}' for f, v in sizing_fields().items())
  what = f'{copies} x ' if copies > 1 else ''
  extra = ''
  if extra_bytes > needed // 100:  # Only when the data matters.
    extra = f', and {extra_what} ({_gib(extra_bytes)})'
  raise ValueError(
      f'The model needs about {_gib(needed)} ({what}parameters, optimiser '
      f'state and gradients{extra}), more than the {_gib(available)} of '
      f'memory of {device.device_kind} {device.id}. Its largest arrays: '
      f'{arrays}. Lower the config fields that size them: {fields}.'
  )


def _gib(n: int) -> str:
  return f'{n / 2**30:.3g} GiB'


class OutOfMemoryError(MemoryError):
  """A device ran out of memory (the message names what to lower)."""


def is_out_of_memory(error: BaseException | None) -> bool:
  """Whether ``error`` (or its cause) is a device allocation failure."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    text = str(error)
    if isinstance(error, MemoryError) or (
        'RESOURCE_EXHAUSTED' in text and 'llocat' in text
    ):
      return True
    error = error.__cause__ or error.__context__
  return False


def out_of_memory_message(error: BaseException) -> str:
  """One line for an allocation failure the shape check could not foresee
  (activations, a process memory limit, other programs on the device)."""
  first = str(error).strip().splitlines()[0][:200] if str(error) else ''
  return (
      f'Out of memory on {jax.local_devices()[0].device_kind} ({first}). '
      'Lower --config.batch_size or --config.eval_batch_size, or the fields '
      'that size the model (latent_dim, hidden_sizes, conv_features, ...); '
      'on a CPU, also check ulimit -v and other programs using memory.'
  )
