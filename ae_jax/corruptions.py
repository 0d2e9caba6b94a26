"""Input corruptions of the denoising autoencoder, as pure functions.

A denoising autoencoder reconstructs a clean input ``x`` from a corrupted copy
``x_tilde ~ q(x_tilde | x)`` (Vincent et al., 2008, 2010). The three
corruptions studied there are here, each with the signature
``(rng, x, *, level) -> x_tilde``:

=================  =============================================  ===========
name               corruption                                     ``level``
=================  =============================================  ===========
'gaussian'         ``x + level * N(0, 1)``, clipped to [0, 1]     std >= 0
'masking'          each element set to 0 with prob. ``level``     in [0, 1]
'salt_and_pepper'  each element set to 0 or 1 (fair coin) with    in [0, 1]
                   prob. ``level``
=================  =============================================  ===========

Every function returns an array of ``x``'s shape and dtype, works on any shape
(``[B, 784]``, ``[B, 28, 28, 1]``, ``[B, T, F]``), is deterministic given
``rng`` and works under `jax.jit` and `jax.vmap`. ``level`` may be a Python
number (checked against its range at trace time) or a traced scalar, e.g. to
`jax.vmap` a sweep over noise levels (used unchecked). Elements are corrupted
independently: the number of corrupted elements per example is binomial,
rather than the fixed fraction ``level`` of Vincent et al. (2010); the two
agree in expectation.

`check_corruption` validates ``config.noise`` / ``config.noise_level`` before
training; `corrupt` dispatches by name, with 'none' for no corruption.

References:
  Vincent, Larochelle, Bengio & Manzagol, `Extracting and Composing Robust
  Features with Denoising Autoencoders
  <https://doi.org/10.1145/1390156.1390294>`_, ICML 2008.

  Vincent, Larochelle, Lajoie, Bengio & Manzagol, `Stacked Denoising
  Autoencoders: Learning Useful Representations in a Deep Network with a Local
  Denoising Criterion <https://jmlr.org/papers/v11/vincent10a.html>`_, JMLR 11,
  2010.
"""

from collections.abc import Callable
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    'CORRUPTIONS',
    'check_corruption',
    'corrupt',
    'gaussian_noise',
    'masking_noise',
    'salt_and_pepper_noise',
]

Corruption = Callable[..., jax.Array]

# Valid closed ranges of `level`, by corruption name.
_LEVEL_RANGES = {
    'gaussian': (0.0, math.inf),
    'masking': (0.0, 1.0),
    'salt_and_pepper': (0.0, 1.0),
}
_LEVEL_MEANING = {
    'gaussian': 'the standard deviation of the noise',
    'masking': 'the probability of zeroing each element',
    'salt_and_pepper': 'the probability of corrupting each element',
}


def _range_text(name: str) -> str:
  low, high = _LEVEL_RANGES[name]
  return (
      f'>= {low:g} and finite'
      if high == math.inf
      else f'in [{low:g}, {high:g}]'
  )


def _in_range(name: str, level: float) -> bool:
  low, high = _LEVEL_RANGES[name]
  # Written so that NaN (and +inf for the Gaussian std) fails.
  return bool(low <= level <= high) and math.isfinite(level)


def _check_level(fn_name: str, name: str, level) -> jax.Array:
  """Trace-time check of `level`; returns it as a float array.

  Concrete (Python / NumPy) values are checked against the corruption's
  range; jax arrays, possibly tracers, only for being scalars.
  """
  if isinstance(level, (bool, np.bool_)) or np.ndim(level) != 0:
    raise ValueError(
        f'{fn_name}: level must be a scalar number, got level={level!r}; '
        'to sweep several levels, jax.vmap over them'
    )
  if isinstance(level, (numbers.Real, np.number, np.ndarray)):
    if not _in_range(name, float(level)):
      raise ValueError(
          f'{fn_name}: level is {_LEVEL_MEANING[name]} and must be '
          f'{_range_text(name)}, got level={level!r}'
      )
  # The default float dtype (float32 unless x64 is enabled), whatever x's
  # dtype: probabilities need not be rounded to bfloat16.
  return jnp.asarray(level, dtype=float)


def _as_real(fn_name: str, x, *, floating: bool = False) -> jax.Array:
  """`x` as a jax array of a real dtype, checked before JAX sees it.

  Strings, objects and complex numbers would otherwise fail inside JAX with
  an error that names neither the function nor the argument, or (complex)
  be corrupted silently.
  """
  if not isinstance(x, jax.Array):  # Tracers are jax.Arrays: no host copy.
    x = np.asarray(x)
  dtype = x.dtype
  ok = jnp.issubdtype(dtype, jnp.floating)
  if not floating:
    ok = ok or jnp.issubdtype(dtype, jnp.integer) or dtype == np.bool_
  if not ok:
    wanted = 'floating point' if floating else 'of a real dtype'
    raise TypeError(
        f'{fn_name}: x must be {wanted}, got dtype {dtype}; cast it first, '
        'e.g. x.astype(jnp.float32)'
    )
  return jnp.asarray(x)


def gaussian_noise(
    rng: jax.Array,
    x: jax.typing.ArrayLike,
    *,
    level: float,
    clip: bool = True,
) -> jax.Array:
  """Additive isotropic Gaussian noise: ``x + level * N(0, I)``.

  Args:
    rng: a PRNG key.
    x: floating array of any shape, data in ``[0, 1]`` when `clip`.
    level: the noise standard deviation, >= 0 (keyword-only).
    clip: clip the result to ``[0, 1]``, the range of the data
      (keyword-only). With data outside that range, pass ``clip=False``.

  Returns:
    Array of `x`'s shape and dtype; equal to `x` (in [0, 1]) for level 0.

  Raises:
    TypeError: if `x` is not floating point.
    ValueError: if a concrete `level` is negative, infinite or NaN, or
      `level` is not a scalar.
  """
  x = _as_real('gaussian_noise', x, floating=True)
  std = _check_level('gaussian_noise', 'gaussian', level).astype(x.dtype)
  noisy = x + std * jax.random.normal(rng, x.shape, x.dtype)
  return jnp.clip(noisy, 0.0, 1.0) if clip else noisy


def masking_noise(
    rng: jax.Array, x: jax.typing.ArrayLike, *, level: float
) -> jax.Array:
  """Masking noise: each element set to 0 independently with prob. `level`.

  Args:
    rng: a PRNG key.
    x: array of any shape and real dtype.
    level: the probability of zeroing an element, in ``[0, 1]``
      (keyword-only). 0 returns `x`, 1 returns zeros.

  Returns:
    Array of `x`'s shape and dtype.

  Raises:
    TypeError: if `x` is not of a real dtype (bool, int or float).
    ValueError: if a concrete `level` is outside ``[0, 1]`` or `level` is
      not a scalar.
  """
  x = _as_real('masking_noise', x)
  p = _check_level('masking_noise', 'masking', level)
  # bernoulli(p) is uniform[0, 1) < p: never for p = 0, always for p = 1.
  masked = jax.random.bernoulli(rng, p, x.shape)
  return jnp.where(masked, jnp.zeros_like(x), x)


def salt_and_pepper_noise(
    rng: jax.Array, x: jax.typing.ArrayLike, *, level: float
) -> jax.Array:
  """Salt-and-pepper noise: with prob. `level`, set an element to 0 or 1.

  Each element is corrupted independently with probability `level`; a
  corrupted element becomes the minimum (0) or maximum (1) of the data range
  by a fair coin flip (Vincent et al., 2010).

  Args:
    rng: a PRNG key.
    x: array of any shape and real dtype, data in ``[0, 1]``.
    level: the probability of corrupting an element, in ``[0, 1]``
      (keyword-only).

  Returns:
    Array of `x`'s shape and dtype.

  Raises:
    TypeError: if `x` is not of a real dtype (bool, int or float).
    ValueError: if a concrete `level` is outside ``[0, 1]`` or `level` is
      not a scalar.
  """
  x = _as_real('salt_and_pepper_noise', x)
  p = _check_level('salt_and_pepper_noise', 'salt_and_pepper', level)
  where_rng, value_rng = jax.random.split(rng)
  corrupted = jax.random.bernoulli(where_rng, p, x.shape)
  salt = jax.random.bernoulli(value_rng, 0.5, x.shape)
  return jnp.where(corrupted, salt.astype(x.dtype), x)


CORRUPTIONS: dict[str, Corruption] = {
    'gaussian': gaussian_noise,
    'masking': masking_noise,
    'salt_and_pepper': salt_and_pepper_noise,
}
_NAMES = ('none', *CORRUPTIONS)


def check_corruption(name: str, level: float) -> None:
  """Validates ``config.noise`` and ``config.noise_level`` before training.

  Args:
    name: 'none' or a key of `CORRUPTIONS`.
    level: the corruption level; ignored for 'none'. Must be a finite number
      >= 0 for 'gaussian' and in ``[0, 1]`` for 'masking' and
      'salt_and_pepper'.

  Raises:
    ValueError: naming the config field, its value and the valid choices.
  """
  if name not in _NAMES:
    raise ValueError(
        f'config.noise={name!r} is not one of {_NAMES}; set --config.noise '
        'to one of them.'
    )
  if name == 'none':
    return
  is_number = isinstance(level, (numbers.Real, np.number)) and not isinstance(
      level, (bool, np.bool_)
  )
  if not is_number or not _in_range(name, float(level)):
    raise ValueError(
        f'config.noise_level={level!r} is invalid for config.noise={name!r}: '
        f'it is {_LEVEL_MEANING[name]} and must be {_range_text(name)}; set '
        '--config.noise_level accordingly.'
    )


def corrupt(
    name: str, rng: jax.Array, x: jax.typing.ArrayLike, *, level: float
) -> jax.Array:
  """Applies the corruption called `name` (see `CORRUPTIONS`) to `x`.

  Args:
    name: 'none' (returns `x` unchanged, `rng` and `level` unused) or a key
      of `CORRUPTIONS`.
    rng: a PRNG key.
    x: the clean input, any shape.
    level: the corruption level (keyword-only), see the function for `name`.

  Returns:
    The corrupted input, `x`'s shape and dtype.

  Raises:
    ValueError: if `name` is unknown, or as the corruption function.
  """
  if name == 'none':
    return x
  if name not in CORRUPTIONS:
    raise ValueError(
        f'corrupt: unknown corruption name={name!r}; expected one of {_NAMES}'
    )
  return CORRUPTIONS[name](rng, x, level=level)
