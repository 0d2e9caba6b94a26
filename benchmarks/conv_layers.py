r"""The conv VAE's layers on this machine: jax.lax's convolutions against the
same linear maps as matrix products (`ae_jax.models.conv_ops`).

  python -m benchmarks.conv_layers [--batch_size=128] [--repeats=5]

For each layer of the `conv_vae.py` network (encoder 3x3 stride-2 convs
1 -> 32 -> 64, decoder 3x3 stride-2 transposed convs 64 -> 64 -> 32 from 7x7,
a 3x3 stride-1 head 32 -> 1 at 28x28), the forward pass and the forward
plus the gradient in input and kernel, jitted, in milliseconds (medians of
``--repeats`` rounds, the two forms interleaved in each round), and their
ratio. The matrix-product forms are the ones `conv_ops.Conv` and
`conv_ops.ConvTranspose` pick for each layer (im2col for the strided
convolutions, the sub-pixel product for the transposed ones, the shift-add
product for the narrow stride-1 head): what the conv networks run on CPU.
A second table times the transposed layers' hand-written gradient against
JAX's own (``custom_gradient=False``).
"""

import statistics
import time

from absl import app
from absl import flags
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from ae_jax.models import conv_ops

_BATCH = flags.DEFINE_integer('batch_size', 128, 'Examples per call.')
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed rounds.')

DN = ('NHWC', 'HWIO', 'NHWC')


def _lax_conv(stride):
  return lambda x, k: lax.conv_general_dilated(
      x, k, (stride, stride), 'SAME', dimension_numbers=DN
  )


def _matmul_conv(stride):
  return lambda x, k: conv_ops.conv_as_matmul(x, k, stride=stride)


def _lax_deconv(x, k):
  return lax.conv_transpose(x, k, (2, 2), 'SAME', dimension_numbers=DN)


# name: (input shape without batch, kernel shape, the lax form, the matmul form)
LAYERS = {
    'conv 28->14, 1->32, s2': (
        (28, 28, 1),
        (3, 3, 1, 32),
        _lax_conv(2),
        _matmul_conv(2),
    ),
    'conv 14->7, 32->64, s2': (
        (14, 14, 32),
        (3, 3, 32, 64),
        _lax_conv(2),
        _matmul_conv(2),
    ),
    'deconv 7->14, 64->64': (
        (7, 7, 64),
        (3, 3, 64, 64),
        _lax_deconv,
        conv_ops.conv_transpose_subpixel,
    ),
    'deconv 14->28, 64->32': (
        (14, 14, 64),
        (3, 3, 64, 32),
        _lax_deconv,
        conv_ops.conv_transpose_subpixel,
    ),
    'head 28x28, 32->1, s1': (
        (28, 28, 32),
        (3, 3, 32, 1),
        _lax_conv(1),
        conv_ops.conv_shift_add,
    ),
}


def _programs(fn):
  forward = jax.jit(fn)
  grad = jax.jit(
      jax.value_and_grad(lambda x, k: jnp.sum(fn(x, k) ** 2), argnums=(0, 1))
  )
  return {'fwd': forward, 'fwd+bwd': grad}


def _ms(fn, *args, calls=5) -> float:
  jax.block_until_ready(fn(*args))  # Compiled and warm.
  start = time.perf_counter()
  for _ in range(calls):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - start) / calls * 1e3


def main(argv):
  del argv
  rng = np.random.default_rng(0)
  print(
      f'{jax.device_count()} {jax.default_backend()} device(s), batch '
      f'{_BATCH.value}, medians of {_REPEATS.value} rounds (ms)'
  )
  print(
      '| layer | lax fwd | matmul fwd | lax fwd+bwd | matmul fwd+bwd | lax / matmul, fwd+bwd |'
  )
  print('|---|---|---|---|---|---|')
  totals = {'lax': 0.0, 'matmul': 0.0}
  for name, (shape, k_shape, lax_fn, matmul_fn) in LAYERS.items():
    x = jnp.asarray(rng.normal(size=(_BATCH.value, *shape)), jnp.float32)
    k = jnp.asarray(rng.normal(size=k_shape) * 0.1, jnp.float32)
    forms = {'lax': _programs(lax_fn), 'matmul': _programs(matmul_fn)}
    times = {(f, p): [] for f in forms for p in ('fwd', 'fwd+bwd')}
    for _ in range(_REPEATS.value):
      for form, programs in forms.items():
        for part, fn in programs.items():
          times[form, part].append(_ms(fn, x, k))
    med = {key: statistics.median(v) for key, v in times.items()}
    totals['lax'] += med['lax', 'fwd+bwd']
    totals['matmul'] += med['matmul', 'fwd+bwd']
    print(
        f'| {name} | {med["lax", "fwd"]:.2f} | {med["matmul", "fwd"]:.2f} | '
        f'{med["lax", "fwd+bwd"]:.2f} | {med["matmul", "fwd+bwd"]:.2f} | '
        f'{med["lax", "fwd+bwd"] / med["matmul", "fwd+bwd"]:.2f}x |'
    )
  print(
      f'| all five layers | | | {totals["lax"]:.1f} | {totals["matmul"]:.1f} '
      f'| {totals["lax"] / totals["matmul"]:.2f}x |'
  )
  # The transposed layers' hand-written gradient against JAX's own
  # (`custom_gradient=False`, the form forward mode needs).
  print('\n| layer | fwd+bwd, JAX gradient | fwd+bwd, custom VJP | ratio |')
  print('|---|---|---|---|')
  for name, (shape, k_shape, _, _) in LAYERS.items():
    if not name.startswith('deconv'):
      continue
    x = jnp.asarray(rng.normal(size=(_BATCH.value, *shape)), jnp.float32)
    k = jnp.asarray(rng.normal(size=k_shape) * 0.1, jnp.float32)
    forms = {
        custom: _programs(
            lambda x, k, c=custom: conv_ops.conv_transpose_subpixel(
                x, k, custom_gradient=c
            )
        )['fwd+bwd']
        for custom in (False, True)
    }
    times = {c: [] for c in forms}
    for _ in range(_REPEATS.value):
      for c, fn in forms.items():
        times[c].append(_ms(fn, x, k))
    jax_ms, custom_ms = (statistics.median(times[c]) for c in (False, True))
    print(
        f'| {name} | {jax_ms:.2f} | {custom_ms:.2f} | '
        f'{jax_ms / custom_ms:.2f}x |'
    )


if __name__ == '__main__':
  app.run(main)
