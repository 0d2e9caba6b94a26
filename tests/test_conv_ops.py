"""Convolutions as matrix products equal jax.lax's (and flax's) convolutions."""

import flax.linen as nn
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import pytest

from ae_jax.models import conv_ops

DN = ('NHWC', 'HWIO', 'NHWC')


def _arrays(x_shape, k_shape, seed=0):
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.normal(size=x_shape), jnp.float32)
  k = jnp.asarray(rng.normal(size=k_shape) / np.sqrt(np.prod(k_shape[:3])))
  return x, k.astype(jnp.float32)


def _assert_same_map(ours, reference, x, k):
  np.testing.assert_allclose(ours(x, k), reference(x, k), rtol=1e-5, atol=1e-5)
  # Gradients in both arguments, through a non-linear loss.
  loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))
  got = jax.grad(loss(ours), argnums=(0, 1))(x, k)
  want = jax.grad(loss(reference), argnums=(0, 1))(x, k)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    'x_shape, kernel, stride',
    [
        ((2, 28, 28, 1), (3, 3), 2),  # conv_vae's first layer
        ((2, 14, 14, 32), (3, 3), 2),
        ((2, 7, 7, 3), (3, 3), 2),  # odd size: asymmetric SAME padding
        ((2, 28, 28, 8), (3, 3), 1),
        ((1, 9, 6, 2), (5, 5), 3),
        ((1, 8, 8, 2), (2, 2), 2),
    ],
)
def test_conv_as_matmul_is_lax_conv(x_shape, kernel, stride):
  x, k = _arrays(x_shape, (*kernel, x_shape[-1], 5))
  _assert_same_map(
      lambda x, k: conv_ops.conv_as_matmul(x, k, stride=stride),
      lambda x, k: lax.conv_general_dilated(
          x, k, (stride, stride), 'SAME', dimension_numbers=DN
      ),
      x,
      k,
  )


@pytest.mark.parametrize(
    'x_shape', [(2, 7, 7, 64), (2, 14, 14, 4), (1, 5, 3, 2), (3, 1, 1, 1)]
)
def test_subpixel_transposed_conv_is_lax_conv_transpose(x_shape):
  x, k = _arrays(x_shape, (3, 3, x_shape[-1], 6), seed=1)
  _assert_same_map(
      conv_ops.conv_transpose_subpixel,
      lambda x, k: lax.conv_transpose(
          x, k, (2, 2), 'SAME', dimension_numbers=DN
      ),
      x,
      k,
  )


def test_same_parameters_as_the_flax_layers():
  x = jnp.asarray(np.random.default_rng(2).normal(size=(2, 7, 7, 8)))
  deconv = nn.ConvTranspose(4, (3, 3), strides=(2, 2), padding='SAME')
  params = deconv.init(jax.random.PRNGKey(0), x)['params']
  np.testing.assert_allclose(
      conv_ops.conv_transpose_subpixel(x, params['kernel']) + params['bias'],
      deconv.apply({'params': params}, x),
      rtol=1e-5,
      atol=1e-5,
  )
  conv = nn.Conv(4, (3, 3), strides=(2, 2), padding='SAME')
  params = conv.init(jax.random.PRNGKey(0), x)['params']
  np.testing.assert_allclose(
      conv_ops.conv_as_matmul(x, params['kernel'], stride=2) + params['bias'],
      conv.apply({'params': params}, x),
      rtol=1e-5,
      atol=1e-5,
  )


def test_shapes_are_checked():
  with pytest.raises(ValueError, match=r'x must be \[B, H, W, 3\]'):
    conv_ops.conv_as_matmul(jnp.zeros((1, 4, 4, 2)), jnp.zeros((3, 3, 3, 1)))
  with pytest.raises(ValueError, match='3x3 kernel'):
    conv_ops.conv_transpose_subpixel(
        jnp.zeros((1, 4, 4, 2)), jnp.zeros((5, 5, 2, 1))
    )
  with pytest.raises(ValueError, match='2 channels'):
    conv_ops.conv_transpose_subpixel(
        jnp.zeros((1, 4, 4, 2)), jnp.zeros((3, 3, 4, 1))
    )
