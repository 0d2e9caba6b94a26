"""Rate-distortion of quantised codes: a learned code against PCA.

An autoencoder is a lossy compressor once its code is quantised: the
encoder's code, rounded to a few bits per dimension, is what is stored or
sent, and the decoder reconstructs from the rounded code. This module
measures the points (rate in bits per image, distortion as test MSE) of such
a compressor and of its linear baseline, PCA with as many components and the
*same* quantiser, so that the two are compared at equal rate.

Quantiser: per code dimension, a uniform scalar quantiser with ``2**bits``
cells that tile a robust range of that dimension on the TRAINING codes (the
``percentile`` and ``100 - percentile`` percentiles, 0.1 / 99.9 by default),
each value represented by the centre of its cell; values outside the range
are clipped to the end cells.

Rates, in bits per image:

* fixed rate: ``latent_dim * bits``, every symbol stored in ``bits`` bits;
* entropy-coded rate: the cost of the test symbols under an ideal entropy
  coder (arithmetic coding, without its few bits of overhead) with a static,
  per-dimension model: dimensions are coded independently, and the model of
  dimension ``d`` is the distribution of its symbols on the TRAINING codes,
  with add-one (Laplace) smoothing so that a symbol never seen in training
  has a finite cost::

      p_d(k) = (count_d(k) + 1) / (N_train + 2**bits),   k = 0 .. 2**bits - 1
      rate = mean over test images of sum_d -log2 p_d(symbol_d)

  a cross-entropy (the decoder knows the model; its own cost, one table per
  dimension, is not counted). On the training symbols it is at most the fixed
  rate (the smoothed model mixes the empirical distribution with the uniform
  one); on test symbols it can exceed the fixed rate if the test codes are
  distributed very differently, and it equals it exactly when the training
  symbols are uniform.

Functions take NumPy arrays (codes ``[N, latent_dim]``) and return NumPy
arrays or lists of dicts of Python numbers (JSON ready). Inputs are checked
first, in the style of `ae_jax.metrics.checks`.
"""

from collections.abc import Callable
from collections.abc import Sequence
import dataclasses
import numbers

import numpy as np

from ae_jax.metrics import checks
from ae_jax.metrics import image_quality
from ae_jax.metrics import pca as pca_lib

__all__ = [
    'MAX_BITS',
    'Quantizer',
    'entropy_rate',
    'fit_quantizer',
    'pca_rate_distortion',
    'rate_distortion',
]

MAX_BITS = 16
DEFAULT_BITS = (2, 4, 6, 8)
DEFAULT_PERCENTILE = 0.1
PSNR_CAP = 100.0  # dB; a perfectly reconstructed image counts as 100, not inf.


def _check_bits(fn_name: str, bits) -> int:
  if (
      not isinstance(bits, numbers.Integral)
      or isinstance(bits, (bool, np.bool_))
      or not 1 <= bits <= MAX_BITS
  ):
    raise ValueError(
        f'{fn_name}: bits must be an int from 1 to {MAX_BITS} (2**bits '
        f'quantisation levels per dimension), got bits={bits!r}'
    )
  return int(bits)


def _check_bits_list(fn_name: str, bits) -> tuple[int, ...]:
  if isinstance(bits, numbers.Integral):
    bits = (bits,)
  try:
    bits = tuple(bits)
  except TypeError:
    bits = ()
  if not bits:
    raise ValueError(
        f'{fn_name}: bits must be a non-empty sequence of ints from 1 to '
        f'{MAX_BITS}, e.g. bits=(2, 4, 6, 8)'
    )
  return tuple(_check_bits(fn_name, b) for b in bits)


def _as_codes(fn_name: str, name: str, value, dim: int | None = None):
  """Finite float64 ``[N, D]`` codes (``D == dim`` when given)."""
  codes = checks.real_array(fn_name, name, value, min_ndim=2)
  if codes.ndim != 2:
    raise ValueError(
        f'{fn_name}: {name} must be codes [N, latent_dim], got shape '
        f'{codes.shape}; flatten each code, e.g. {name}.reshape(len({name}), '
        '-1)'
    )
  if dim is not None and codes.shape[1] != dim:
    raise ValueError(
        f'{fn_name}: {name} has {codes.shape[1]} dimensions but the '
        f'quantiser was fitted on {dim}; quantise codes of the same encoder'
    )
  return codes.astype(np.float64)


def _as_symbols(fn_name: str, name: str, value, levels: int, dim=None):
  """Integer ``[N, D]`` symbols in ``[0, levels)``."""
  symbols = np.asarray(value)
  if symbols.dtype.kind not in 'iu':
    raise TypeError(
        f'{fn_name}: {name} must be integer symbols (from '
        f'Quantizer.quantize), got dtype {symbols.dtype}'
    )
  if symbols.ndim != 2 or symbols.size == 0:
    raise ValueError(
        f'{fn_name}: {name} must be a non-empty [N, latent_dim] array of '
        f'symbols, got shape {symbols.shape}'
    )
  if dim is not None and symbols.shape[1] != dim:
    raise ValueError(
        f'{fn_name}: {name} has {symbols.shape[1]} dimensions, expected '
        f'{dim}; pass symbols of codes of the same encoder'
    )
  lo, hi = int(symbols.min()), int(symbols.max())
  if lo < 0 or hi >= levels:
    raise ValueError(
        f'{fn_name}: {name} span [{lo}, {hi}], outside [0, {levels - 1}] '
        f'for {levels} levels; use the symbols of a quantiser with the same '
        'bits'
    )
  return symbols.astype(np.int64)


# ---------------------------------------------------------------------------
# Quantiser.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)  # Array fields: no ==.
class Quantizer:
  """Per-dimension uniform scalar quantiser (see the module docstring).

  Attributes:
    low: float64 ``[D]``, the lower end of each dimension's range.
    high: float64 ``[D]``, the upper end (``>= low``).
    bits: bits per dimension; ``2**bits`` cells of width ``step`` each.
  """

  low: np.ndarray
  high: np.ndarray
  bits: int

  @property
  def levels(self) -> int:
    return 2**self.bits

  @property
  def dim(self) -> int:
    return len(self.low)

  @property
  def step(self) -> np.ndarray:
    """Cell width per dimension, ``(high - low) / 2**bits`` (0 if constant)."""
    return (self.high - self.low) / self.levels

  @property
  def fixed_rate(self) -> int:
    """Bits per code with fixed-length symbols: ``dim * bits``."""
    return self.dim * self.bits

  def quantize(self, codes: np.typing.ArrayLike) -> np.ndarray:
    """Cell index of each value: int32 ``[N, D]`` in ``[0, 2**bits)``.

    Values below `low` or above `high` go to the first or last cell; a
    dimension with ``high == low`` always gets symbol 0.
    """
    codes = _as_codes('Quantizer.quantize', 'codes', codes, self.dim)
    step = self.step
    safe = np.where(step > 0, step, 1.0)
    cells = np.floor((codes - self.low) / safe)
    cells = np.where(step > 0, cells, 0.0)
    return np.clip(cells, 0, self.levels - 1).astype(np.int32)

  def dequantize(self, symbols: np.typing.ArrayLike) -> np.ndarray:
    """Centre of each symbol's cell, float64 ``[N, D]``."""
    symbols = _as_symbols(
        'Quantizer.dequantize', 'symbols', symbols, self.levels, self.dim
    )
    return self.low + (symbols + 0.5) * self.step


def fit_quantizer(
    train_codes: np.typing.ArrayLike,
    bits: int,
    *,
    percentile: float = DEFAULT_PERCENTILE,
) -> Quantizer:
  """A `Quantizer` with ``2**bits`` cells per dimension on the train range.

  Args:
    train_codes: real array ``[N, D]`` of training codes (finite).
    bits: bits per dimension, 1 to `MAX_BITS`.
    percentile: each dimension's range is from this percentile of the
      training codes to ``100 - percentile`` (keyword-only), so that a few
      outlying codes do not waste levels; 0 uses the min and max. In ``[0,
      50)``.

  Returns:
    The fitted `Quantizer`; its cells have width ``(high - low) / 2**bits``
    and a value inside ``[low, high]`` is reconstructed within half a width.

  Raises:
    ValueError: on empty, non-finite or non-2-D codes, bits outside ``[1,
      16]`` or a bad `percentile`.
  """
  fn = 'fit_quantizer'
  bits = _check_bits(fn, bits)
  if not (isinstance(percentile, numbers.Real) and 0 <= percentile < 50):
    raise ValueError(
        f'{fn}: percentile must be in [0, 50), got {percentile!r}; 0.1 '
        'keeps the central 99.8% of each dimension, 0 its full range'
    )
  codes = _as_codes(fn, 'train_codes', train_codes)
  low, high = np.percentile(codes, [percentile, 100 - percentile], axis=0)
  return Quantizer(low=low, high=np.maximum(high, low), bits=bits)


def entropy_rate(
    train_symbols: np.typing.ArrayLike,
    test_symbols: np.typing.ArrayLike,
    *,
    levels: int,
) -> float:
  """Entropy-coded bits per example of `test_symbols` (module docstring).

  The cross-entropy, summed over dimensions and averaged over test
  examples, of the test symbols under per-dimension categorical models
  fitted on the training symbols with add-one smoothing:
  ``p_d(k) = (count_d(k) + 1) / (N_train + levels)``.

  Args:
    train_symbols: integer ``[N_train, D]`` symbols in ``[0, levels)``.
    test_symbols: integer ``[N_test, D]`` symbols in ``[0, levels)``.
    levels: number of symbols per dimension, ``2**bits`` (keyword-only).

  Returns:
    Bits per test example, a Python float (``>= 0``; at most ``D *
    log2(levels)`` when the test symbols are the training symbols).

  Raises:
    ValueError: on empty or mis-shaped symbols or symbols out of range.
    TypeError: on non-integer symbols.
  """
  fn = 'entropy_rate'
  levels = checks.positive_int(fn, 'levels', levels)
  if levels > 2**MAX_BITS:
    raise ValueError(
        f'{fn}: levels={levels} is more than 2**{MAX_BITS}; use fewer bits'
    )
  train = _as_symbols(fn, 'train_symbols', train_symbols, levels)
  test = _as_symbols(fn, 'test_symbols', test_symbols, levels, train.shape[1])
  total = 0.0
  for d in range(train.shape[1]):
    counts = np.bincount(train[:, d], minlength=levels)
    cost = np.log2(len(train) + levels) - np.log2(counts + 1.0)  # -log2 p.
    total += float(np.mean(cost[test[:, d]]))
  return total


# ---------------------------------------------------------------------------
# Rate-distortion points.
# ---------------------------------------------------------------------------


def _points(
    fn_name: str,
    decode: Callable[[np.ndarray], np.ndarray],
    train_codes: np.ndarray,
    test_codes: np.ndarray,
    test_x: np.ndarray,
    bits: tuple[int, ...],
    percentile: float,
) -> list[dict]:
  """One rate-distortion point per bits value (inputs already checked)."""
  train_codes = _as_codes(fn_name, 'encode(train_x)', train_codes)
  test_codes = _as_codes(
      fn_name, 'encode(test_x)', test_codes, train_codes.shape[1]
  )
  clean = test_x.reshape(len(test_x), -1).astype(np.float64)
  points = []
  for b in bits:
    quantizer = fit_quantizer(train_codes, b, percentile=percentile)
    test_symbols = quantizer.quantize(test_codes)
    recon = checks.matrix(
        fn_name, 'decode(codes)', decode(quantizer.dequantize(test_symbols))
    )
    if recon.shape != clean.shape:
      raise ValueError(
          f'{fn_name}: decode returned {recon.shape[1]} values each for '
          f'{recon.shape[0]} codes; it must return one reconstruction per '
          f'code with {clean.shape[1]} values, like test_x'
      )
    recon = recon.astype(np.float64)
    per_image = image_quality.psnr(clean, recon)
    points.append(
        {
            'bits_per_dim': b,
            'fixed_bits_per_image': quantizer.fixed_rate,
            'entropy_bits_per_image': entropy_rate(
                quantizer.quantize(train_codes),
                test_symbols,
                levels=quantizer.levels,
            ),
            'mse': float(np.mean(np.square(recon - clean))),
            'psnr': float(np.mean(np.minimum(per_image, PSNR_CAP))),
        }
    )
  return points


def _check_data(fn_name: str, train_x, test_x):
  train_x = checks.real_array(fn_name, 'train_x', train_x, min_ndim=2)
  test_x = checks.real_array(fn_name, 'test_x', test_x, min_ndim=2)
  checks.same_example_shape(fn_name, 'train_x', train_x, 'test_x', test_x)
  lo, hi = float(test_x.min()), float(test_x.max())
  if lo < 0 or hi > 1:
    raise ValueError(
        f'{fn_name}: test_x values span [{lo:g}, {hi:g}], outside [0, 1]; '
        'PSNR is computed for images in [0, 1], rescale them'
    )
  return train_x, test_x


def rate_distortion(
    encode: Callable[[np.ndarray], np.ndarray],
    decode: Callable[[np.ndarray], np.ndarray],
    train_x: np.typing.ArrayLike,
    test_x: np.typing.ArrayLike,
    bits: Sequence[int] = DEFAULT_BITS,
    *,
    percentile: float = DEFAULT_PERCENTILE,
) -> list[dict]:
  """Rate-distortion points of an encoder / decoder with quantised codes.

  For each ``b`` in `bits`: a `Quantizer` with ``2**b`` levels per dimension
  is fitted on ``encode(train_x)``, and the test images are reconstructed
  from their quantised codes, ``decode(dequantize(quantize(encode(test_x))))``.

  Args:
    encode: maps images ``[N, ...]`` (as `train_x`) to codes ``[N, K]``;
      called once on all of `train_x` and once on all of `test_x`, so it
      must batch internally (e.g. `ae_jax.tasks.common.codes`).
    decode: maps float64 codes ``[N, K]`` to reconstructions ``[N, ...]``
      with as many values per example as `test_x` (also called once on all
      test codes).
    train_x: real array ``[N_train, ...]``: fits the quantiser's ranges and
      the entropy coder's model.
    test_x: images ``[N_test, ...]`` in ``[0, 1]``, same per-example shape.
    bits: bits per code dimension, each from 1 to `MAX_BITS`.
    percentile: passed to :func:`fit_quantizer` (keyword-only).

  Returns:
    One dict per ``b``, in the order of `bits`: ``bits_per_dim`` (``b``),
    ``fixed_bits_per_image`` (``K * b``), ``entropy_bits_per_image`` (see
    :func:`entropy_rate`), ``mse`` (test mean squared error per pixel of
    the unclipped reconstructions) and ``psnr`` (mean per-image PSNR in dB,
    capped at `PSNR_CAP`).

  Raises:
    ValueError: on bad `bits` or data (checked before encoding), or codes /
      reconstructions of the wrong shape or with NaN.
  """
  fn = 'rate_distortion'
  bits = _check_bits_list(fn, bits)
  train_x, test_x = _check_data(fn, train_x, test_x)
  train_codes = np.asarray(encode(train_x))
  test_codes = np.asarray(encode(test_x))
  return _points(fn, decode, train_codes, test_codes, test_x, bits, percentile)


def pca_rate_distortion(
    train_x: np.typing.ArrayLike,
    test_x: np.typing.ArrayLike,
    num_components: int,
    bits: Sequence[int] = DEFAULT_BITS,
    *,
    percentile: float = DEFAULT_PERCENTILE,
) -> list[dict]:
  """:func:`rate_distortion` of PCA with `num_components` components.

  The linear baseline: scikit-learn PCA fitted on the flattened `train_x`
  (centred, not whitened, as `ae_jax.metrics.pca.pca_codes`), its projections
  as codes and ``inverse_transform`` as decoder, quantised like a learned
  code. As the principal axes are orthonormal, the test MSE is the
  unquantised PCA MSE plus the mean squared quantisation error of the codes
  divided by the number of pixels.

  Args:
    train_x: real array ``[N_train, ...]``.
    test_x: images ``[N_test, ...]`` in ``[0, 1]``, same per-example shape.
    num_components: code size, ``1 <= num_components <= min(N_train, D)``.
    bits: bits per code dimension, each from 1 to `MAX_BITS`.
    percentile: passed to :func:`fit_quantizer` (keyword-only).

  Returns:
    As :func:`rate_distortion`.

  Raises:
    ValueError: on bad `bits`, data or `num_components`.
  """
  fn = 'pca_rate_distortion'
  bits = _check_bits_list(fn, bits)
  train_x, test_x = _check_data(fn, train_x, test_x)
  pca, train, test = pca_lib.fit_pca(fn, train_x, test_x, num_components)
  return _points(
      fn,
      pca.inverse_transform,
      pca.transform(train),
      pca.transform(test),
      test_x,
      bits,
      percentile,
  )
