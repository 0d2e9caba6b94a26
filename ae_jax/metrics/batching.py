"""Fixed-shape batches over the rows of host arrays, padded at the end.

Every call of a jitted function then sees one shape (one compile); the
padding repeats the last row (finite wherever the real rows are, unlike zeros
for a function with a log inside) and is sliced off the results.
"""

from collections.abc import Callable, Iterator

import jax
import numpy as np

from ae_jax.metrics import checks

__all__ = [
    'apply_in_batches',
    'padded_batches',
]


def padded_batches(
    *arrays: np.ndarray, batch_size: int
) -> Iterator[tuple[int, int, tuple[np.ndarray, ...]]]:
  """``(i, real, batches)`` for consecutive row blocks of equal-length arrays.

  Batch ``i`` holds rows ``[i * batch_size, (i + 1) * batch_size)`` of each
  array; the last is padded to ``batch_size`` rows by repeating its last row,
  and ``real`` counts its rows that are not padding.
  """
  batch_size = checks.positive_int('padded_batches', 'batch_size', batch_size)
  lengths = [len(a) for a in arrays]
  if not arrays or len(set(lengths)) > 1:
    raise ValueError(
        f'padded_batches: needs one or more arrays of equal length, got '
        f'lengths {lengths}'
    )
  n = lengths[0]
  for i, start in enumerate(range(0, n, batch_size)):
    chunks = tuple(a[start : start + batch_size] for a in arrays)
    real = len(chunks[0])
    if real < batch_size:
      chunks = tuple(
          np.concatenate([c, np.repeat(c[-1:], batch_size - real, axis=0)])
          for c in chunks
      )
    yield i, real, chunks


def apply_in_batches(
    fn: Callable[[jax.Array], jax.Array],
    x: np.typing.ArrayLike,
    *,
    batch_size: int,
) -> np.ndarray:
  """``fn`` over the rows of `x` in fixed-size batches -> NumPy, in order.

  Every call sees ``min(batch_size, len(x))`` rows: the last batch is padded
  by repeating the last example (finite wherever the real rows are, unlike
  zeros for a function with a log inside), so a jitted `fn` compiles once.
  Padding rows are dropped from the result. For a single host with no mesh
  and a plain ``fn(x)``; for ``fn(params, x)`` sharded over a mesh use
  `ae_jax.train.outputs.predict`.

  Args:
    fn: maps ``[B, ...]`` to an array ``[B, ...]`` with one row per input
      row; pass it jitted for speed.
    x: array ``[N, ...]``, N >= 1.
    batch_size: rows per call (keyword-only).

  Returns:
    ``np.concatenate`` of the outputs, exactly ``N`` rows.

  Raises:
    ValueError: on an empty `x`, a bad `batch_size`, or an `fn` that does not
      return one row per input row.
  """
  fn_name = 'apply_in_batches'
  batch_size = checks.positive_int(fn_name, 'batch_size', batch_size)
  x = np.asarray(x)
  if x.ndim < 1 or len(x) == 0:
    raise ValueError(
        f'{fn_name}: x must have at least one row, got shape {x.shape}'
    )
  batch = min(batch_size, len(x))
  out = []
  for _, real, (chunk,) in padded_batches(x, batch_size=batch):
    y = np.asarray(fn(chunk))
    if y.ndim < 1 or y.shape[0] != batch:
      raise ValueError(
          f'{fn_name}: fn returned shape {y.shape} for a batch of {batch} '
          'rows; it must return one output row per input row'
      )
    out.append(y[:real])
  return np.concatenate(out)
