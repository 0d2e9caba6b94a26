"""Input checks shared by the metrics: each names the function, the argument
and the fix, and runs on the host before any work.
"""

import numbers

import numpy as np


def positive_int(fn_name: str, name: str, value) -> int:
  if (
      not isinstance(value, numbers.Integral)
      or isinstance(value, (bool, np.bool_))
      or value < 1
  ):
    raise ValueError(
        f'{fn_name}: {name} must be a positive int, got {name}={value!r}'
    )
  return int(value)


def real_array(fn_name: str, name: str, value, *, min_ndim: int):
  """Host array of a real dtype, non-empty, finite, with >= `min_ndim` axes.

  Floating inputs keep their dtype (float16 is widened to float32); bool and
  integer inputs are converted to float64.
  """
  x = np.asarray(value)
  if x.dtype.kind == 'f':
    if x.dtype.itemsize < 4:
      x = x.astype(np.float32)
  elif x.dtype.kind in 'biu':
    x = x.astype(np.float64)
  else:
    raise TypeError(
        f'{fn_name}: {name} must have a real dtype (bool, int or float), '
        f'got {x.dtype}; convert it with np.asarray({name}, np.float32)'
    )
  if x.ndim < min_ndim:
    axes = '[N]' if min_ndim == 1 else '[N, ...]'
    raise ValueError(
        f'{fn_name}: {name} must have a leading example axis, {axes} with at '
        f'least {min_ndim} axes, got shape {x.shape}; add the batch axis, '
        f'e.g. {name}[None]'
    )
  if x.size == 0:
    raise ValueError(
        f'{fn_name}: {name} is empty (shape {x.shape}); pass at least one '
        'example with at least one feature'
    )
  if not np.all(np.isfinite(x)):
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    raise ValueError(
        f'{fn_name}: {name} has {bad} NaN/inf entries; fix or drop those '
        'examples first (a diverged model produces NaN codes)'
    )
  return x


def matrix(fn_name: str, name: str, value) -> np.ndarray:
  """``[N, ...]`` real array -> finite ``[N, D]`` (examples flattened)."""
  x = real_array(fn_name, name, value, min_ndim=2)
  return x.reshape(x.shape[0], -1)


def same_example_shape(fn_name, name_a, a, name_b, b) -> None:
  if np.shape(a)[1:] != np.shape(b)[1:]:
    raise ValueError(
        f'{fn_name}: {name_a} examples have shape {np.shape(a)[1:]} but '
        f'{name_b} examples have shape {np.shape(b)[1:]}; both must come '
        'from the same data (or encoder), with the same per-example shape'
    )


def labels(fn_name: str, name: str, value, num: int) -> np.ndarray:
  y = np.asarray(value)
  if y.dtype.kind not in 'biu':
    raise TypeError(
        f'{fn_name}: {name} must be integer class ids, got dtype {y.dtype}; '
        f'cast with {name}.astype(np.int32)'
    )
  if y.shape != (num,):
    raise ValueError(
        f'{fn_name}: {name} must have shape ({num},), one label per feature '
        f'row, got {y.shape}; pass the labels of exactly those examples'
    )
  return y


def flags(fn_name: str, name: str, value, num: int) -> np.ndarray:
  """``[num]`` bool from bool or 0/1 integer labels."""
  y = np.asarray(value)
  if y.dtype.kind not in 'biu':
    raise TypeError(
        f'{fn_name}: {name} must be bool (True = anomaly) or 0/1 integers, '
        f'got dtype {y.dtype}; pass e.g. labels != normal_class'
    )
  if y.shape != (num,):
    raise ValueError(
        f'{fn_name}: {name} must have shape ({num},), one flag per score, '
        f'got {y.shape}; pass the flags of exactly the scored examples'
    )
  if y.dtype.kind != 'b' and not np.all((y == 0) | (y == 1)):
    raise ValueError(
        f'{fn_name}: {name} has values {np.unique(y)[:5].tolist()}, not only '
        f'0/1; pass a bool array (True = anomaly), e.g. labels != '
        'normal_class, not the class labels themselves'
    )
  return y.astype(bool)


def finite_real(fn_name: str, name: str, value, *, minimum=None) -> float:
  """A finite real number (not a bool), >= `minimum` if given."""
  if (
      not isinstance(value, numbers.Real)
      or isinstance(value, (bool, np.bool_))
      or not np.isfinite(value)
  ):
    raise ValueError(
        f'{fn_name}: {name} must be a finite real number, got {name}={value!r}'
    )
  if minimum is not None and value < minimum:
    raise ValueError(f'{fn_name}: {name} must be >= {minimum}, got {value!r}')
  return float(value)
