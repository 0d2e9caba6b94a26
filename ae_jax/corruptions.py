"""Input corruptions of the denoising autoencoder, as pure functions.

A denoising autoencoder reconstructs a clean input ``x`` from a corrupted copy
``x_tilde ~ q(x_tilde | x)`` (Vincent et al., 2008, 2010). The three
corruptions studied there are here (`CORRUPTIONS`), each with the signature
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

One more corruption, of images only (`IMAGE_CORRUPTIONS`), turns the
denoising AE into a super-resolution AE (task ``superres``):

=================  =============================================  ===========
'downsample'       average-pool by the factor ``level``, then     an integer
                   nearest-neighbour upsampling back to the       >= 1
                   original size
=================  =============================================  ===========

It needs images ``[B, H, W, C]`` (train with ``--config.layout=hwc``), is
deterministic (``rng`` is unused) and keeps the shape, so every network that
takes the clean images takes the corrupted ones. ``level`` may be traced too
(a sweep over factors), as long as the shapes are static.

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
    'IMAGE_CORRUPTIONS',
    'check_corruption',
    'corrupt',
    'downsample',
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
    'downsample': (1.0, math.inf),
}
# Corruptions whose level must also be a whole number.
_INTEGER_LEVELS = frozenset({'downsample'})
_LEVEL_MEANING = {
    'gaussian': 'the standard deviation of the noise',
    'masking': 'the probability of zeroing each element',
    'salt_and_pepper': 'the probability of corrupting each element',
    'downsample': 'the downsampling factor',
}


def _range_text(name: str) -> str:
  low, high = _LEVEL_RANGES[name]
  if name in _INTEGER_LEVELS:
    return f'an integer >= {low:g}, e.g. 2 or 4'
  return (
      f'>= {low:g} and finite'
      if high == math.inf
      else f'in [{low:g}, {high:g}]'
  )


def _in_range(name: str, level: float) -> bool:
  low, high = _LEVEL_RANGES[name]
  # Written so that NaN (and +inf for the Gaussian std) fails.
  ok = bool(low <= level <= high) and math.isfinite(level)
  return ok and (name not in _INTEGER_LEVELS or float(level).is_integer())


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


def _block_matrices(n: int, factor: jax.Array, dtype) -> tuple:
  """``(first, mean)``, two ``[n, n]`` matrices over one image axis cut into
  blocks of ``factor`` (a smaller last block if it does not divide ``n``):
  ``first @ v`` copies each block's first entry to the whole block,
  ``mean @ v`` its mean. ``factor`` may be traced."""
  i = jnp.arange(n)
  block = i // factor
  same = block[:, None] == block[None, :]
  first = (i[None, :] == (block * factor)[:, None]).astype(dtype)
  mean = same / jnp.sum(same, axis=1, keepdims=True)
  return first, mean.astype(dtype)


def downsample(
    rng: jax.Array | None, x: jax.typing.ArrayLike, *, level: int
) -> jax.Array:
  """Low-resolution copy of images at full size: the super-resolution input.

  Each ``level x level`` block of pixels (per channel) is replaced by its
  mean: average pooling by the factor ``level`` followed by nearest-neighbour
  upsampling back to ``H x W``. So the result holds exactly the information
  of the ``H/level x W/level`` image ``downsample(...)[:, ::level, ::level]``,
  drawn with square pixels, and every network of the clean images takes it.
  Nearest rather than bilinear upsampling keeps the low-resolution pixels
  unmixed and is itself the nearest-neighbour baseline of task ``superres``.
  A factor that does not divide ``H`` (``W``) leaves a smaller last block at
  the bottom (right), averaged over its own pixels.

  Computed as ``anchor + mean(x - anchor)`` per block, ``anchor`` the
  block's top-left pixel (products with 0/1 and block-mean matrices at
  highest precision): an image that is constant on each block comes back
  bit for bit, whatever order the backend sums in.

  Args:
    rng: unused (the corruption is deterministic); any value, e.g. None.
    x: floating images ``[B, H, W, C]``; flat ``[B, H*W*C]`` inputs carry no
      image shape and are refused.
    level: the downsampling factor, an integer >= 1 (keyword-only); 1
      returns `x`. A traced scalar (a vmapped sweep over factors) is rounded
      to the nearest integer >= 1, unchecked.

  Returns:
    Array of `x`'s shape and dtype.

  Raises:
    TypeError: if `x` is not floating point.
    ValueError: if `x` is not ``[B, H, W, C]``, or a concrete `level` is not
      an integer >= 1, or `level` is not a scalar.
  """
  del rng  # Deterministic.
  x = _as_real('downsample', x, floating=True)
  if x.ndim != 4:
    raise ValueError(
        f'downsample: x must be images [B, H, W, C], got shape {x.shape}; '
        'flat inputs carry no image shape: reshape them, or train with '
        '--config.layout=hwc'
    )
  level = _check_level('downsample', 'downsample', level)
  factor = jnp.maximum(jnp.round(level), 1).astype(jnp.int32)
  dtype = jnp.promote_types(x.dtype, jnp.float32)
  first_h, mean_h = _block_matrices(x.shape[1], factor, dtype)
  first_w, mean_w = _block_matrices(x.shape[2], factor, dtype)

  def both_axes(along_h, along_w, v):
    return jnp.einsum(
        'ih,bhwc,jw->bijc',
        along_h,
        v,
        along_w,
        precision=jax.lax.Precision.HIGHEST,
    )

  v = x.astype(dtype)
  anchor = both_axes(first_h, first_w, v)  # Exact: one 1 per row, 0s else.
  out = anchor + both_axes(mean_h, mean_w, v - anchor)
  return out.astype(x.dtype)


# The corruptions of Vincent et al.: any shape, random.
CORRUPTIONS: dict[str, Corruption] = {
    'gaussian': gaussian_noise,
    'masking': masking_noise,
    'salt_and_pepper': salt_and_pepper_noise,
}
# Corruptions of images [B, H, W, C] only.
IMAGE_CORRUPTIONS: dict[str, Corruption] = {
    'downsample': downsample,
}
_ALL = {**CORRUPTIONS, **IMAGE_CORRUPTIONS}
_NAMES = ('none', *_ALL)


def check_corruption(name: str, level: float) -> None:
  """Validates ``config.noise`` and ``config.noise_level`` before training.

  Args:
    name: 'none' or a key of `CORRUPTIONS` or `IMAGE_CORRUPTIONS`.
    level: the corruption level; ignored for 'none'. Must be a finite number
      >= 0 for 'gaussian', in ``[0, 1]`` for 'masking' and
      'salt_and_pepper', and an integer >= 1 (2 or 2.0) for 'downsample'.

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
  """Applies the corruption called `name` to `x`.

  Args:
    name: 'none' (returns `x` unchanged, `rng` and `level` unused) or a key
      of `CORRUPTIONS` or `IMAGE_CORRUPTIONS`.
    rng: a PRNG key.
    x: the clean input, any shape (images ``[B, H, W, C]`` for
      `IMAGE_CORRUPTIONS`).
    level: the corruption level (keyword-only), see the function for `name`.

  Returns:
    The corrupted input, `x`'s shape and dtype.

  Raises:
    ValueError: if `name` is unknown, or as the corruption function.
  """
  if name == 'none':
    return x
  if name not in _ALL:
    raise ValueError(
        f'corrupt: unknown corruption name={name!r}; expected one of {_NAMES}'
    )
  return _ALL[name](rng, x, level=level)
