"""Batches from in-memory arrays: shuffled training, padded evaluation, prefetch.

Everything is a vectorised NumPy gather from arrays already in host memory, so
the input pipeline costs microseconds a step.

``train_batches`` is stateless given ``(seed, step)``: epoch ``e`` visits the
examples in the order ``np.random.default_rng([seed, e]).permutation(N)``, in
``N // batch_size`` steps (the remainder is dropped, so every batch has the same
shape and the training step compiles once); step ``s`` is position
``s % steps_per_epoch`` of epoch ``s // steps_per_epoch``. Resuming at step k is
``start_step=k``: it yields exactly what a fresh iterator yields after k items.

``batch_size`` is always the *global* batch size. With several processes
(multi-host), process ``i`` yields rows ``[i * local, (i + 1) * local)`` of each
global batch, ``local = batch_size // process_count``; concatenating the
processes' batches in process order gives the global batch.

``eval_batches`` makes one in-order pass whose batches all have the same shape:
the last one is padded with the batch before's rows (zeros when there are
fewer examples than one batch), and every batch carries a float32 ``'mask'``
(1 = real example, 0 = padding), so each example counts exactly once, a
statistic over a whole batch sees real data, and the evaluation step
compiles once.

``prefetch`` runs an iterator (and a transform, e.g. the transfer to devices)
in a background thread, a few batches ahead of the consumer.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator, TypeVar

import numpy as np

T = TypeVar('T')
U = TypeVar('U')

Batch = dict[str, np.ndarray]


def _check_lengths(images: np.ndarray, labels: np.ndarray) -> None:
  if len(images) != len(labels):
    raise ValueError(
        f'images and labels differ in length ({len(images)} vs '
        f'{len(labels)}); pass the arrays of one split.'
    )


def _check_batching(
    batch_size: int, process_index: int, process_count: int
) -> int:
  """Validates arguments shared by the iterators; returns the local size."""
  if batch_size < 1:
    raise ValueError(
        f'batch_size={batch_size}: set --config.batch_size to a '
        'positive integer.'
    )
  if process_count < 1 or not 0 <= process_index < process_count:
    raise ValueError(
        f'process_index={process_index} must be in '
        f'[0, process_count={process_count}).'
    )
  if batch_size % process_count:
    raise ValueError(
        f'batch_size={batch_size} is not divisible by the {process_count} '
        'processes: set --config.batch_size to a multiple of '
        f'{process_count}.'
    )
  return batch_size // process_count


def _as_batch_arrays(
    images: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
  """float32 images and int32 labels, refusing casts that lose meaning.

  Strings would be parsed as numbers, complex values lose their imaginary
  part and float labels are truncated to other classes, all silently; the
  values themselves (NaN/inf) are checked once, by `datasets.Dataset`.
  """
  images, labels = np.asarray(images), np.asarray(labels)
  if images.dtype.kind not in 'biuf':
    raise TypeError(
        f'images must be a real array (float32 in [0, 1]), got dtype '
        f'{images.dtype}; convert with np.asarray(images, np.float32).'
    )
  if labels.dtype.kind not in 'iu':
    raise TypeError(
        f'labels must be integer class ids, got dtype {labels.dtype}; '
        'convert with labels.astype(np.int32).'
    )
  if images.ndim < 1 or labels.ndim != 1:
    raise ValueError(
        f'images must be [N, ...] and labels [N], got shapes {images.shape} '
        f'and {labels.shape}; pass the arrays of one split.'
    )
  # No copy when the dtypes already match (the case for a Dataset's arrays);
  # uint8 images (a large train split) stay uint8 and each batch converts.
  if images.dtype != np.uint8:
    images = images.astype(np.float32, copy=False)
  return images, labels.astype(np.int32, copy=False)


def as_unit_float(images: np.ndarray) -> np.ndarray:
  """Images as float32: uint8 grey levels become ``x / 255`` in [0, 1];
  float arrays pass through (no copy when already float32)."""
  if images.dtype == np.uint8:
    out = images.astype(np.float32)
    out /= np.float32(255.0)
    return out
  return images.astype(np.float32, copy=False)


def train_batches(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    seed: int,
    start_step: int = 0,
    process_index: int = 0,
    process_count: int = 1,
) -> Iterator[Batch]:
  """Infinite shuffled batches for global steps start_step, start_step+1, ...

  Yields ``{'image': float32 [local, ...], 'label': int32 [local]}``, this
  process's slice of the global batch (module docstring).
  """
  images, labels = _as_batch_arrays(images, labels)
  _check_lengths(images, labels)
  indices = train_indices(
      len(images),
      batch_size=batch_size,
      seed=seed,
      start_step=start_step,
      process_index=process_index,
      process_count=process_count,
  )
  return (
      {'image': as_unit_float(images[idx]), 'label': labels[idx]}
      for idx in indices
  )


def train_indices(
    num_examples: int,
    *,
    batch_size: int,
    seed: int,
    start_step: int = 0,
    process_index: int = 0,
    process_count: int = 1,
) -> Iterator[np.ndarray]:
  """The example indices `train_batches` would gather, as int32 ``[local]``.

  For training sets kept on the device: the host sends only these indices and
  the step gathers the batch there, so step ``s`` sees exactly the examples
  `train_batches` yields at step ``s``.
  """
  local = _check_batching(batch_size, process_index, process_count)
  if batch_size > num_examples:
    raise ValueError(
        f'batch_size={batch_size} is larger than the {num_examples} '
        'training examples: lower --config.batch_size to at most '
        f'{num_examples}.'
    )
  if start_step < 0:
    raise ValueError(f'start_step={start_step} must be >= 0.')
  return _index_iterator(
      num_examples,
      batch_size=batch_size,
      seed=seed,
      start_step=start_step,
      offset=process_index * local,
      local=local,
  )


def _index_iterator(
    n: int,
    *,
    batch_size: int,
    seed: int,
    start_step: int,
    offset: int,
    local: int,
) -> Iterator[np.ndarray]:
  steps_per_epoch = n // batch_size
  epoch, order = -1, None
  step = start_step
  while True:
    if step // steps_per_epoch != epoch:
      epoch = step // steps_per_epoch
      order = np.random.default_rng([seed, epoch]).permutation(n)
      order = order.astype(np.int32)
    start = (step % steps_per_epoch) * batch_size + offset
    yield order[start : start + local]
    step += 1


def num_eval_batches(n: int, batch_size: int) -> int:
  """Number of (global) batches in one padded pass over n examples."""
  if batch_size < 1:
    raise ValueError(f'batch_size={batch_size} must be >= 1.')
  return -(-n // batch_size)


def eval_batches(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
) -> Iterator[Batch]:
  """One in-order pass; every batch has the same shape and carries a mask.

  Yields ``{'image': float32 [local, ...], 'label': int32 [local],
  'mask': float32 [local]}``. The last batch's padding rows (mask 0) are
  real examples: those at the same positions of the batch before, so that
  statistics over a whole batch (an MMD, a minibatch estimate of q(z),
  codebook use) see test data only; zeros where there are fewer examples
  than one batch.
  """
  images, labels = _as_batch_arrays(images, labels)
  _check_lengths(images, labels)
  local = _check_batching(batch_size, process_index, process_count)
  return _eval_iterator(
      images,
      labels,
      batch_size=batch_size,
      offset=process_index * local,
      local=local,
  )


def _eval_iterator(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    offset: int,
    local: int,
) -> Iterator[Batch]:
  n = len(images)
  for b in range(num_eval_batches(n, batch_size)):
    start = min(n, b * batch_size + offset)
    stop = min(n, start + local)
    real = stop - start
    if real == local:
      yield {
          'image': as_unit_float(images[start:stop]),
          'label': labels[start:stop],
          'mask': np.ones((local,), np.float32),
      }
      continue
    mask = np.zeros((local,), np.float32)
    mask[:real] = 1.0
    first = b * batch_size + offset  # This process's rows of the batch.
    if n >= batch_size and first >= batch_size:
      # Each position past the end takes the row one batch earlier.
      rows = np.arange(first, first + local)
      rows = np.where(rows < n, rows, rows - batch_size)
      yield {
          'image': as_unit_float(images[rows]),
          'label': labels[rows],
          'mask': mask,
      }
      continue
    image = np.zeros((local, *images.shape[1:]), np.float32)
    label = np.zeros((local,), np.int32)
    image[:real] = as_unit_float(images[start:stop])
    label[:real] = labels[start:stop]
    yield {'image': image, 'label': label, 'mask': mask}


class _Raised:
  """An exception from the producer thread, to re-raise in the consumer."""

  def __init__(self, exc: BaseException):
    self.exc = exc


_END = object()
_POLL_S = 0.05
_JOIN_S = 1.0


def prefetch(
    iterator: Iterator[T],
    *,
    size: int = 2,
    transform: Callable[[T], U] = lambda x: x,
) -> Iterator[U]:
  """Yields ``transform(item)`` for the items of iterator, computed ahead.

  A daemon thread pulls from ``iterator``, applies ``transform`` and fills a
  queue of ``size`` items. An exception in the thread is re-raised here. The
  returned generator's ``close()`` (also run when it is garbage collected)
  stops the thread, which then closes ``iterator`` if it can be closed.
  """
  if size < 1:
    raise ValueError(f'prefetch size={size} must be >= 1.')
  return _prefetch(iterator, size, transform)


def _prefetch(
    iterator: Iterator[T], size: int, transform: Callable[[T], U]
) -> Iterator[U]:
  buffer: queue.Queue = queue.Queue(maxsize=size)
  stop = threading.Event()

  def put(item) -> bool:
    while not stop.is_set():
      try:
        buffer.put(item, timeout=_POLL_S)
        return True
      except queue.Full:
        pass
    return False

  def produce() -> None:
    try:
      for item in iterator:
        if not put(transform(item)) or stop.is_set():
          return
      put(_END)
    except BaseException as e:  # pylint: disable=broad-except
      put(_Raised(e))
    finally:
      close = getattr(iterator, 'close', None)
      if close is not None:
        close()

  thread = threading.Thread(target=produce, name='ae_jax-prefetch', daemon=True)
  thread.start()
  try:
    while True:
      item = buffer.get()
      if item is _END:
        return
      if isinstance(item, _Raised):
        raise item.exc
      yield item
  finally:
    stop.set()
    thread.join(timeout=_JOIN_S)
