"""Reconstruction quality per image: PSNR and SSIM (Wang et al., 2004).

Conventions as in `ae_jax.metrics`.
"""

from collections.abc import Sequence
import functools
import numbers

import dm_pix
import jax
import numpy as np

from ae_jax.metrics import batching
from ae_jax.metrics import checks

__all__ = [
    'psnr',
    'ssim',
]


def _check_pair(fn: str, clean, other) -> tuple[np.ndarray, np.ndarray]:
  clean = checks.real_array(fn, 'clean', clean, min_ndim=2)
  other = checks.real_array(fn, 'other', other, min_ndim=2)
  if clean.shape != other.shape:
    raise ValueError(
        f'{fn}: clean shape {clean.shape} != other shape {other.shape}; '
        'pass one reconstruction per clean image, in the same layout'
    )
  return clean, other


def psnr(
    clean: np.typing.ArrayLike,
    other: np.typing.ArrayLike,
    *,
    max_value: float = 1.0,
) -> np.ndarray:
  """Peak signal-to-noise ratio of each image, in dB.

  ``10 * log10(max_value**2 / mse)`` with ``mse`` the mean squared error over
  all pixels (and channels) of one image. Higher is better; the usual
  measure for denoising autoencoders (e.g. Vincent et al., 2010, on noisy vs.
  cleaned images).

  Args:
    clean: reference images ``[N, ...]``, values in ``[0, max_value]``
      (checked: a 0-255 image scored with ``max_value=1`` is a common bug).
    other: reconstructions or noisy images with the same shape; values are
      not range-checked (a Gaussian decoder may overshoot slightly).
    max_value: the largest possible pixel value (keyword-only), 1.0 for
      images in ``[0, 1]``, 255 for 8-bit images.

  Returns:
    float64 array ``[N]``. An image identical to its reference has zero
    error and a PSNR of ``+inf``; average PSNRs over images that are not all
    identical, or report the median.

  Raises:
    ValueError: on empty or non-finite inputs, mismatched shapes, a
      non-positive `max_value` or `clean` values outside ``[0, max_value]``.
  """
  fn = 'psnr'
  clean, other = _check_pair(fn, clean, other)
  if not (isinstance(max_value, numbers.Real) and max_value > 0):
    raise ValueError(f'{fn}: max_value must be > 0, got {max_value!r}')
  lo, hi = float(clean.min()), float(clean.max())
  if lo < 0 or hi > max_value:
    raise ValueError(
        f'{fn}: clean values span [{lo:g}, {hi:g}], outside [0, max_value='
        f'{max_value:g}]; rescale the images or set max_value (e.g. 255)'
    )
  diff = clean.astype(np.float64) - other.astype(np.float64)
  mse = np.mean(np.square(diff).reshape(len(diff), -1), axis=1)
  with np.errstate(divide='ignore'):  # mse == 0 -> +inf, documented.
    return 10.0 * np.log10(float(max_value) ** 2 / mse)


# The SSIM window of Wang et al. (2004): 11x11 Gaussian, sigma 1.5.
SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5


def _as_image_shape(fn_name: str, image_shape) -> tuple[int, int, int]:
  """(H, W) or (H, W, C) of positive ints -> (H, W, C)."""
  try:
    dims = tuple(image_shape)
  except TypeError:
    dims = None
  if (
      dims is None
      or len(dims) not in (2, 3)
      or not all(
          isinstance(d, numbers.Integral)
          and not isinstance(d, (bool, np.bool_))
          and d >= 1
          for d in dims
      )
  ):
    raise ValueError(
        f'{fn_name}: image_shape must be (H, W) or (H, W, C) of positive '
        f'ints, got {image_shape!r}; for a dataset use '
        'ae_jax.figures.image_shape(dataset.input_shape)'
    )
  dims = tuple(int(d) for d in dims)
  return dims if len(dims) == 3 else (*dims, 1)


def ssim(
    clean: np.typing.ArrayLike,
    other: np.typing.ArrayLike,
    *,
    image_shape: Sequence[int],
    max_value: float = 1.0,
    filter_size: int | None = None,
    batch_size: int = 1000,
) -> np.ndarray:
  """Structural similarity (SSIM, Wang et al., 2004) of each image.

  `dm_pix.ssim` with the standard constants (``k1=0.01``, ``k2=0.03``) and a
  Gaussian window of standard deviation 1.5 pixels, applied without padding
  (only windows that lie inside the image; as separable banded matrices,
  which give dm_pix's own filter 20x faster); the per-image SSIM is the mean
  of the SSIM map over window positions (and channels, each channel
  filtered separately). 1 means identical; higher is better. It compares
  local means, contrasts and correlations, so it rewards sharp, structured
  reconstructions that the per-pixel error of :func:`psnr` does not.

  The window is 11x11 (Wang et al.) when the images are at least 11 pixels
  high and wide (e.g. 28x28 MNIST). Smaller images (8x8 digits) get the
  largest odd window that fits, ``7x7`` for 8x8, with the same sigma (the
  Gaussian truncated and renormalised): `dm_pix.ssim` does not refuse a
  window larger than the image but silently computes a wrong value (its
  ``jnp.convolve(..., mode='valid')`` then returns the overlap with only
  part of the window, whose weights no longer sum to one: two constant 8x8
  images of values 0.3 and 0.6 score 0.648 instead of 0.800).

  Args:
    clean: reference images in ``[0, max_value]``, flat ``[N, H*W*C]`` or
      ``[N, H, W]`` / ``[N, H, W, C]`` (checked as in :func:`psnr`).
    other: reconstructions or noisy images with the same shape; values are
      not range-checked.
    image_shape: ``(H, W)`` or ``(H, W, C)`` of one image (keyword-only),
      e.g. ``ae_jax.figures.image_shape(dataset.input_shape)``; its product
      must be the number of values per example.
    max_value: the largest possible pixel value (keyword-only); sets the
      SSIM constants ``(0.01 * max_value) ** 2`` and ``(0.03 * max_value) **
      2``.
    filter_size: window side in pixels (keyword-only); ``None`` for
      ``min(11, H, W)`` rounded down to an odd number. At most ``min(H, W)``.
    batch_size: images per jitted call (keyword-only).

  Returns:
    float64 array ``[N]`` of values in ``[-1, 1]`` (computed in float32).

  Raises:
    ValueError: on empty or non-finite inputs, mismatched shapes, a bad
      `image_shape`, `max_value`, `filter_size` or `batch_size`, or `clean`
      values outside ``[0, max_value]``.

  References:
    Wang, Bovik, Sheikh & Simoncelli, `Image quality assessment: from error
    visibility to structural similarity
    <https://doi.org/10.1109/TIP.2003.819861>`_, IEEE TIP 13(4), 2004.
  """
  fn = 'ssim'
  clean, other = _check_pair(fn, clean, other)
  h, w, c = _as_image_shape(fn, image_shape)
  example = clean.shape[1:]
  if int(np.prod(example)) != h * w * c or (
      len(example) > 1 and example not in ((h, w), (h, w, c))
  ):
    raise ValueError(
        f'{fn}: examples of shape {example} are not images of shape '
        f'{(h, w, c)} (image_shape={tuple(image_shape)!r}); pass the '
        'image_shape of the data, flat [N, H*W*C] or [N, H, W(, C)] images'
    )
  if not (isinstance(max_value, numbers.Real) and max_value > 0):
    raise ValueError(f'{fn}: max_value must be > 0, got {max_value!r}')
  batch_size = checks.positive_int(fn, 'batch_size', batch_size)
  if filter_size is None:
    filter_size = min(SSIM_FILTER_SIZE, h, w)
    filter_size -= 1 - filter_size % 2  # Odd: a window centred on a pixel.
  else:
    filter_size = checks.positive_int(fn, 'filter_size', filter_size)
    if filter_size > min(h, w):
      raise ValueError(
          f'{fn}: filter_size={filter_size} is larger than the {h}x{w} '
          'images (dm_pix would silently return a wrong value); use '
          f'filter_size <= {min(h, w)} or filter_size=None'
      )
  lo, hi = float(clean.min()), float(clean.max())
  if lo < 0 or hi > max_value:
    raise ValueError(
        f'{fn}: clean values span [{lo:g}, {hi:g}], outside [0, max_value='
        f'{max_value:g}]; rescale the images or set max_value (e.g. 255)'
    )
  n = len(clean)
  pairs = np.stack(
      [clean.reshape(n, h, w, c), other.reshape(n, h, w, c)], axis=1
  ).astype(np.float32)
  per_image = lambda p: _ssim_of_pairs(
      p, max_value=float(max_value), filter_size=filter_size
  )
  values = batching.apply_in_batches(per_image, pairs, batch_size=batch_size)
  return values.astype(np.float64)


def _gaussian_band(n: int, size: int) -> np.ndarray:
  """``[n, n - size + 1]``: column ``j`` holds the normalised Gaussian window
  at rows ``j .. j + size - 1``, so ``x @ band`` filters an axis of length
  ``n`` without padding (the window of `dm_pix.ssim`, centred offsets)."""
  offsets = np.arange(size) - (size - 1) / 2
  window = np.exp(-0.5 * np.square(offsets / SSIM_FILTER_SIGMA))
  band = np.zeros((n, n - size + 1), np.float32)
  for j in range(n - size + 1):
    band[j : j + size, j] = window / window.sum()
  return band


@functools.partial(jax.jit, static_argnames=('max_value', 'filter_size'))
def _ssim_of_pairs(pairs, *, max_value, filter_size):
  """``[B, 2, H, W, C]`` (clean, other) pairs -> ``[B]`` SSIM; compiled once
  per shape, `max_value` and `filter_size`."""
  along_h = _gaussian_band(pairs.shape[2], filter_size)
  along_w = _gaussian_band(pairs.shape[3], filter_size)
  highest = jax.lax.Precision.HIGHEST

  def blur(z):  # [B, H, W, C] -> [B, H', W', C], separable and unpadded.
    z = jax.numpy.einsum('bhwc,wv->bhvc', z, along_w, precision=highest)
    return jax.numpy.einsum('bhvc,hu->buvc', z, along_h, precision=highest)

  # dm_pix's own filter (jnp.convolve under vmap) computes the same numbers
  # about 20x slower on a CPU.
  return dm_pix.ssim(
      pairs[:, 0], pairs[:, 1], max_val=max_value, filter_fn=blur
  )
