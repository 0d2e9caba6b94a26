"""Convolutions written as large matrix products: the same linear maps as
flax's `nn.Conv` and `nn.ConvTranspose`, in forms XLA:CPU runs faster.

XLA:CPU differentiates a strided transposed convolution very slowly (the
conv VAE's 14 -> 28 layer: about 250 ms forward and backward at batch 128
on 2 cores, `benchmarks.conv_layers`). Two exact rewrites of the linear map:

* `conv_as_matmul`: a SAME convolution as shifted slices of the padded
  input concatenated on the channel axis (im2col) times the kernel reshaped
  to ``[kh * kw * C, F]``;
* `conv_transpose_subpixel`: flax's 3x3, stride-2, SAME transposed
  convolution as one product that computes the four output phases (even
  and odd rows and columns) from 2x2 neighbourhoods of the input, then
  interleaves them (depth-to-space): a sub-pixel convolution with the
  kernel's taps rearranged, not a different model.

Both take flax's parameters (kernel ``[kh, kw, C, F]``, HWIO; inputs NHWC)
and equal `jax.lax`'s convolutions to float tolerance, forward and
gradients (`tests/test_conv_ops.py`). Not yet used by the networks: which
layer takes which form, per platform, is issue 16's next step.
"""

import jax
import jax.numpy as jnp


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, tuple]:
  """``(output size, (pad before, pad after))`` of TF/flax SAME padding."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return out, (total // 2, total - total // 2)


def conv_as_matmul(x: jax.Array, kernel: jax.Array, *, stride: int = 1):
  """``lax.conv_general_dilated(x, kernel, (s, s), 'SAME')``, NHWC/HWIO.

  Args:
    x: ``[B, H, W, C]``.
    kernel: ``[kh, kw, C, F]``.
    stride: the same in both spatial axes.

  Returns:
    ``[B, ceil(H / s), ceil(W / s), F]``.
  """
  kh, kw, c, f = kernel.shape
  if x.ndim != 4 or x.shape[-1] != c:
    raise ValueError(
        f'conv_as_matmul: x must be [B, H, W, {c}] for a kernel of shape '
        f'{kernel.shape}, got {x.shape}'
    )
  b, h, w, _ = x.shape
  oh, pad_h = same_padding(h, kh, stride)
  ow, pad_w = same_padding(w, kw, stride)
  padded = jnp.pad(x, ((0, 0), pad_h, pad_w, (0, 0)))
  columns = jnp.concatenate(
      [
          padded[
              :,
              dy : dy + stride * (oh - 1) + 1 : stride,
              dx : dx + stride * (ow - 1) + 1 : stride,
          ]
          for dy in range(kh)
          for dx in range(kw)
      ],
      axis=-1,
  )  # [B, oh, ow, kh * kw * C], taps in the kernel's (dy, dx, c) order.
  out = columns.reshape(-1, kh * kw * c) @ kernel.reshape(kh * kw * c, f)
  return out.reshape(b, oh, ow, f)


def _phase_tap(phase: int, offset: int) -> int | None:
  """The kernel index that multiplies input ``m + offset - 1`` in output
  ``2m + phase`` of a 3-tap, stride-2, SAME transposed convolution (lax
  pads the dilated input by 2 on each side): ``y[2m] = x[m-1] w0 + x[m] w2``,
  ``y[2m+1] = x[m] w1``."""
  if phase == 0:
    return 0 if offset == 0 else 2
  return None if offset == 0 else 1


def conv_transpose_subpixel(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``lax.conv_transpose(x, kernel, (2, 2), 'SAME')`` for a 3x3 kernel.

  What flax's ``nn.ConvTranspose(F, (3, 3), strides=(2, 2),
  padding='SAME')`` computes (without its bias).

  Args:
    x: ``[B, H, W, C]``.
    kernel: ``[3, 3, C, F]``.

  Returns:
    ``[B, 2H, 2W, F]``.
  """
  if kernel.shape[:2] != (3, 3) or x.ndim != 4:
    raise ValueError(
        'conv_transpose_subpixel: needs x [B, H, W, C] and a 3x3 kernel '
        f'[3, 3, C, F], got x {x.shape} and kernel {kernel.shape}'
    )
  b, h, w, c = x.shape
  f = kernel.shape[-1]
  if kernel.shape[2] != c:
    raise ValueError(
        f'conv_transpose_subpixel: x has {c} channels, the kernel expects '
        f'{kernel.shape[2]}'
    )
  padded = jnp.pad(x, ((0, 0), (1, 0), (1, 0), (0, 0)))
  offsets = [(oy, ox) for oy in range(2) for ox in range(2)]
  columns = jnp.concatenate(
      [padded[:, oy : oy + h, ox : ox + w] for oy, ox in offsets], axis=-1
  ).reshape(-1, 4 * c)
  zero = jnp.zeros((c, f), kernel.dtype)
  phases = []
  for py in range(2):
    for px in range(2):
      taps = [(_phase_tap(py, oy), _phase_tap(px, ox)) for oy, ox in offsets]
      phases.append(
          jnp.concatenate(
              [
                  zero if ty is None or tx is None else kernel[ty, tx]
                  for ty, tx in taps
              ],
              axis=0,
          )
      )
  combined = jnp.concatenate(phases, axis=1)  # [4C, 4F]: (py, px) phases.
  out = (columns @ combined).reshape(b, h, w, 2, 2, f)
  return out.transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, f)
