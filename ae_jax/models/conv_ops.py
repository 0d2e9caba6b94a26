"""Convolutions written as large matrix products: the same linear maps as
flax's `nn.Conv` and `nn.ConvTranspose`, in forms XLA:CPU runs faster.

XLA:CPU differentiates a strided transposed convolution very slowly (the
conv VAE's 14 -> 28 layer: about 250 ms forward and backward at batch 128
on 2 cores, `benchmarks.conv_layers`). Two exact rewrites of the linear map:

* `conv_as_matmul`: a SAME convolution as shifted slices of the padded
  input stacked beside the channels (im2col) times the kernel reshaped
  to ``[kh * kw * C, F]``;
* `conv_transpose_subpixel`: flax's 3x3, stride-2, SAME transposed
  convolution as one product of every input position with the kernel's 9
  taps, whose shifted sums give the four output phases (even and odd rows
  and columns), interleaved (depth-to-space): a sub-pixel convolution, not
  a different model; its gradient is one im2col product (a custom VJP, or
  JAX's own where forward mode is needed);
* `conv_shift_add`: a stride-1 SAME convolution with few output channels
  (the decoder's head) as one product per position times every tap, then
  shifted sums.

All take flax's parameters (kernel ``[kh, kw, C, F]``, HWIO; inputs NHWC)
and equal `jax.lax`'s convolutions to float tolerance, forward and
gradients (`tests/test_conv_ops.py`). `Conv` and `ConvTranspose` are flax's
layers (same fields, parameters and initial values) computed this way; the
conv networks use them on CPU (`networks.CONV_IMPLS`).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, tuple]:
  """``(output size, (pad before, pad after))`` of TF/flax SAME padding."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return out, (total // 2, total - total // 2)


def _check_nhwc(name: str, x: jax.Array, kernel: jax.Array) -> tuple:
  """``kernel.shape`` once ``x`` is ``[B, H, W, C]`` with the kernel's C."""
  kh, kw, c, f = kernel.shape
  if x.ndim != 4 or x.shape[-1] != c:
    raise ValueError(
        f'{name}: x must be [B, H, W, {c}] for a kernel of shape '
        f'{kernel.shape}, got {x.shape}'
    )
  return kh, kw, c, f


def conv_as_matmul(x: jax.Array, kernel: jax.Array, *, stride: int = 1):
  """``lax.conv_general_dilated(x, kernel, (s, s), 'SAME')``, NHWC/HWIO.

  Args:
    x: ``[B, H, W, C]``.
    kernel: ``[kh, kw, C, F]``.
    stride: the same in both spatial axes.

  Returns:
    ``[B, ceil(H / s), ceil(W / s), F]``.
  """
  kh, kw, c, f = _check_nhwc('conv_as_matmul', x, kernel)
  b, h, w, _ = x.shape
  oh, pad_h = same_padding(h, kh, stride)
  ow, pad_w = same_padding(w, kw, stride)
  padded = jnp.pad(x, ((0, 0), pad_h, pad_w, (0, 0)))
  columns = jnp.stack(
      [
          padded[
              :,
              dy : dy + stride * (oh - 1) + 1 : stride,
              dx : dx + stride * (ow - 1) + 1 : stride,
          ]
          for dy in range(kh)
          for dx in range(kw)
      ],
      axis=-2,
  )  # [B, oh, ow, kh * kw, C], taps in the kernel's (dy, dx, c) order.
  # (Stacked on a new axis, not concatenated on the channels: XLA:CPU fuses
  # a concatenate into the dot's operand and runs the product 2x slower.)
  out = columns.reshape(-1, kh * kw * c) @ kernel.reshape(kh * kw * c, f)
  return out.reshape(b, oh, ow, f)


def _window_columns(
    x: jax.Array,
    kernel_size: tuple[int, int],
    stride: int,
    padding: tuple[tuple[int, int], tuple[int, int]],
    out_size: tuple[int, int],
) -> jax.Array:
  """im2col: ``[B, oh, ow, kh * kw, C]``, tap ``(dy, dx)`` of output
  ``(i, j)`` being ``x[s i + dy - pad_h, s j + dx - pad_w]`` (zero outside).

  One gather of whole channel vectors at positions fixed when tracing (out
  of range: filled with zeros), which XLA:CPU writes in one loop. The
  strided slices of a padded copy that `conv_as_matmul` stacks are each
  written out, then copied again by the stack; in the sub-pixel layers'
  gradient (`_subpixel_bwd`) the gather makes the conv steps faster
  (BUILD.md, "Convolutions on XLA:CPU"). `conv_as_matmul` keeps the
  slices: JAX's gradient of a gather is a scatter-add, and with it the
  step was no faster.
  """
  b, h, w, c = x.shape
  kh, kw = kernel_size
  oh, ow = out_size
  rows = (
      stride * np.arange(oh)[:, None, None, None]
      + np.arange(kh)[None, None, :, None]
      - padding[0][0]
  )
  cols = (
      stride * np.arange(ow)[None, :, None, None]
      + np.arange(kw)[None, None, None, :]
      - padding[1][0]
  )
  inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
  index = np.where(inside, rows * w + cols, h * w).astype(np.int32)
  columns = jnp.take(
      x.reshape(b, h * w, c),
      jnp.asarray(index.reshape(-1)),
      axis=1,
      mode='fill',
      fill_value=0,
  )
  return columns.reshape(b, oh, ow, kh * kw, c)


def conv_transpose_subpixel(
    x: jax.Array, kernel: jax.Array, *, custom_gradient: bool = True
) -> jax.Array:
  """``lax.conv_transpose(x, kernel, (2, 2), 'SAME')`` for a 3x3 kernel.

  What flax's ``nn.ConvTranspose(F, (3, 3), strides=(2, 2),
  padding='SAME')`` computes (without its bias): each input position times
  the kernel's 9 taps in one product, whose shifted sums give the four
  output phases (even and odd rows and columns), interleaved
  (depth-to-space).

  Args:
    x: ``[B, H, W, C]``.
    kernel: ``[3, 3, C, F]``.
    custom_gradient: with True (keyword-only), the gradient is the
      hand-written VJP `_subpixel_bwd`, faster in reverse mode but without
      forward mode (`jax.jvp` through it raises); with False, JAX
      differentiates the forward's operations, in both modes (what a
      decoder Jacobian by `jax.jvp` needs, e.g. RAE-GP's).

  Returns:
    ``[B, 2H, 2W, F]``.
  """
  if kernel.shape[:2] != (3, 3) or x.ndim != 4:
    raise ValueError(
        'conv_transpose_subpixel: needs x [B, H, W, C] and a 3x3 kernel '
        f'[3, 3, C, F], got x {x.shape} and kernel {kernel.shape}'
    )
  b, h, w, c = x.shape
  if kernel.shape[2] != c:
    raise ValueError(
        f'conv_transpose_subpixel: x has {c} channels, the kernel expects '
        f'{kernel.shape[2]}'
    )
  return (_subpixel if custom_gradient else _subpixel_forward)(x, kernel)


def _subpixel_forward(x: jax.Array, kernel: jax.Array) -> jax.Array:
  b, h, w, c = x.shape
  f = kernel.shape[-1]
  # Every input position times all 9 taps: one [C, 9F] product, the 9
  # blocks the map has. (It replaced a [4C, 4F] product of stacked 2x2
  # neighbourhoods, 7 of whose 16 blocks are zero; BUILD.md has both.)
  taps = x.reshape(-1, c) @ kernel.transpose(2, 0, 1, 3).reshape(c, 9 * f)
  taps = taps.reshape(b, h, w, 3, 3, f)

  def tap(ty: int, tx: int) -> jax.Array:
    # Per axis (lax pads the dilated input by 2 on each side):
    # y[2m] = x[m-1] k0 + x[m] k2 and y[2m+1] = x[m] k1. So tap 0 reads the
    # previous row/column: shifted down/right by one, zero in the first.
    # Padded per term, so XLA fuses every pad into the output's one loop.
    sy, sx = int(ty == 0), int(tx == 0)
    t = taps[:, : h - sy, : w - sx, ty, tx]
    return jnp.pad(t, ((0, 0), (sy, 0), (sx, 0), (0, 0)))

  # Output phase p of an axis sums taps (0, 2) for p = 0, tap 1 for p = 1.
  taps_of = ((0, 2), (1,))
  phases = jnp.stack(
      [
          jnp.stack(
              [
                  sum(tap(ty, tx) for ty in taps_of[py] for tx in taps_of[px])
                  for px in range(2)
              ],
              axis=3,
          )
          for py in range(2)
      ],
      axis=2,
  )  # [B, H, 2 (py), W, 2 (px), F]: depth-to-space is a reshape.
  return phases.reshape(b, 2 * h, 2 * w, f)


@jax.custom_vjp
def _subpixel(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return _subpixel_forward(x, kernel)


def _subpixel_fwd(x, kernel):
  return _subpixel_forward(x, kernel), (x, kernel)


def _subpixel_bwd(residuals, g):
  """The gradients as one im2col product of ``g``.

  JAX's own transpose of the forward's shifted sums gathers the ``[N, 9F]``
  output gradient of the taps product in one loop that evaluates all 9
  padded terms per element: slower than the im2col below
  (`benchmarks.conv_layers`, second table). Written out,
  ``y[o] = sum_t x[(o + t - 2) / 2] k[t]`` over taps with ``o + t`` even, so
  ``dx[m] = sum_u g[2m + u] k[2 - u]^T``: a stride-2 SAME convolution of
  ``g`` with the flipped kernel, and ``dk[2 - u] = sum_m x[m]^T g[2m + u]``:
  both one product with the same ``[N, 9F]`` im2col of ``g`` (BUILD.md,
  "Convolutions on XLA:CPU", for what it saves).
  """
  x, kernel = residuals
  b, h, w, c = x.shape
  f = kernel.shape[-1]
  # g[2m + u], zero past the end: SAME padding for 2H -> H.
  columns = _window_columns(g, (3, 3), 2, ((0, 1), (0, 1)), (h, w)).reshape(
      -1, 9 * f
  )  # [B * H * W, (uy, ux, f)]
  flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2).reshape(9 * f, c)
  dx = (columns @ flipped).reshape(b, h, w, c)
  dk = (x.reshape(-1, c).T @ columns).reshape(c, 3, 3, f)
  dk = dk[:, ::-1, ::-1].transpose(1, 2, 0, 3)
  return dx.astype(x.dtype), dk.astype(kernel.dtype)


_subpixel.defvjp(_subpixel_fwd, _subpixel_bwd)


def conv_shift_add(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``lax.conv_general_dilated(x, kernel, (1, 1), 'SAME')``, NHWC/HWIO, as
  one product per position followed by shifted sums.

  Each input position is multiplied by every tap at once (``x @ kernel``
  with the kernel as ``[C, kh * kw * F]``), then the taps' outputs are
  padded and added at their offsets. The product has ``kh * kw * F``
  columns instead of im2col's ``kh * kw * C`` rows: the fast form when the
  output is narrow (the decoder's head, ``F`` = image channels).

  Args:
    x: ``[B, H, W, C]``.
    kernel: ``[kh, kw, C, F]``.

  Returns:
    ``[B, H, W, F]``.
  """
  kh, kw, c, f = _check_nhwc('conv_shift_add', x, kernel)
  b, h, w, _ = x.shape
  _, pad_h = same_padding(h, kh, 1)
  _, pad_w = same_padding(w, kw, 1)
  taps = x.reshape(-1, c) @ kernel.transpose(2, 0, 1, 3).reshape(c, -1)
  # Output (i, j) takes tap (dy, dx) of input (i + dy - pad, j + dx - pad):
  # pad the per-tap products like the input and add the shifted windows.
  taps = jnp.pad(
      taps.reshape(b, h, w, kh * kw, f), ((0, 0), pad_h, pad_w, (0, 0), (0, 0))
  )
  return sum(
      taps[:, dy : dy + h, dx : dx + w, dy * kw + dx]
      for dy in range(kh)
      for dx in range(kw)
  )


def _square(name: str, value, layer: str) -> int:
  """The one size of a 2-D ``value`` (kernel size or stride) used in both
  axes; a clear error otherwise."""
  value = (value,) * 2 if isinstance(value, int) else tuple(value or (1, 1))
  if len(value) != 2 or value[0] != value[1]:
    raise ValueError(
        f'conv_ops.{layer}: {name}={value} must be the same in both spatial '
        f'axes; use flax.linen.{layer} for other {name}s.'
    )
  return value[0]


def _check_supported(layer: nn.Module, inputs: jax.Array) -> None:
  """Refuses the flax fields the matrix-product forms do not implement."""
  plain = (
      layer.padding == 'SAME'
      and layer.kernel_dilation in (None, 1, (1, 1))
      and getattr(layer, 'input_dilation', None) in (None, 1, (1, 1))
      and getattr(layer, 'feature_group_count', 1) == 1
      and not getattr(layer, 'transpose_kernel', False)
      and layer.mask is None
      and inputs.ndim == 4
  )
  if not plain:
    name = type(layer).__name__
    raise ValueError(
        f'conv_ops.{name} implements 2-D SAME convolutions of [B, H, W, C] '
        'inputs without dilation, groups, masks or kernel transposition; '
        f'got padding={layer.padding!r} and inputs {inputs.shape}: use '
        f'flax.linen.{name}.'
    )


def _params(layer: nn.Module, inputs: jax.Array, kernel_shape: tuple):
  """``layer``'s ``kernel`` and ``bias`` (created in flax's order, so with
  flax's initial values), promoted with the inputs to its compute dtype."""
  kernel = layer.param(
      'kernel', layer.kernel_init, kernel_shape, layer.param_dtype
  )
  bias = None
  if layer.use_bias:
    bias = layer.param(
        'bias', layer.bias_init, (layer.features,), layer.param_dtype
    )
  return layer.promote_dtype(inputs, kernel, bias, dtype=layer.dtype)


def _add_bias(y: jax.Array, bias) -> jax.Array:
  return y if bias is None else y + bias


class Conv(nn.Conv):
  """`flax.linen.Conv` (same fields, parameters and initial values) for 2-D
  SAME convolutions, computed as matrix products: `conv_as_matmul` when
  strided or when the output is at least as wide as the input,
  `conv_shift_add` for stride-1 layers that narrow the channels."""

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    _check_supported(self, inputs)
    size = _square('kernel_size', self.kernel_size, 'Conv')
    stride = _square('strides', self.strides, 'Conv')
    x, kernel, bias = _params(
        self, inputs, (size, size, inputs.shape[-1], self.features)
    )
    if stride == 1 and self.features < inputs.shape[-1]:
      return _add_bias(conv_shift_add(x, kernel), bias)
    return _add_bias(conv_as_matmul(x, kernel, stride=stride), bias)


class ConvTranspose(nn.ConvTranspose):
  """`flax.linen.ConvTranspose` (same fields, parameters and initial values)
  for 3x3, stride-2, SAME transposed convolutions, computed by
  `conv_transpose_subpixel`. ``custom_gradient=False`` trades some
  reverse-mode speed for forward-mode derivatives (`jax.jvp`)."""

  custom_gradient: bool = True

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    _check_supported(self, inputs)
    if _square('kernel_size', self.kernel_size, 'ConvTranspose') != 3 or (
        _square('strides', self.strides, 'ConvTranspose') != 2
    ):
      raise ValueError(
          'conv_ops.ConvTranspose implements 3x3 kernels with stride 2, got '
          f'kernel_size={self.kernel_size}, strides={self.strides}: use '
          'flax.linen.ConvTranspose.'
      )
    x, kernel, bias = _params(
        self, inputs, (3, 3, inputs.shape[-1], self.features)
    )
    y = conv_transpose_subpixel(x, kernel, custom_gradient=self.custom_gradient)
    return _add_bias(y, bias)
