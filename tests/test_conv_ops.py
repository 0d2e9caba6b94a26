"""Convolutions as matrix products equal jax.lax's (and flax's) convolutions."""

import chex
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
  np.testing.assert_allclose(
      jax.jit(ours)(x, k), reference(x, k), rtol=1e-5, atol=1e-5
  )
  # Gradients in both arguments, through a non-linear loss.
  loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))
  got = jax.jit(jax.grad(loss(ours), argnums=(0, 1)))(x, k)
  want = jax.jit(jax.grad(loss(reference), argnums=(0, 1)))(x, k)
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
@pytest.mark.parametrize('custom_gradient', [True, False])
def test_subpixel_transposed_conv_is_lax_conv_transpose(
    x_shape, custom_gradient
):
  x, k = _arrays(x_shape, (3, 3, x_shape[-1], 6), seed=1)
  _assert_same_map(
      lambda x, k: conv_ops.conv_transpose_subpixel(
          x, k, custom_gradient=custom_gradient
      ),
      lambda x, k: lax.conv_transpose(
          x, k, (2, 2), 'SAME', dimension_numbers=DN
      ),
      x,
      k,
  )


def test_subpixel_forward_mode_needs_jax_gradient():
  """``custom_gradient=False`` runs `jax.jvp` (a decoder Jacobian by forward
  mode, RAE-GP), also under reverse mode; the custom VJP refuses it."""
  x, k = _arrays((2, 4, 5, 3), (3, 3, 3, 2), seed=4)
  dx, dk = _arrays((2, 4, 5, 3), (3, 3, 3, 2), seed=5)
  reference = lambda x, k: lax.conv_transpose(
      x, k, (2, 2), 'SAME', dimension_numbers=DN
  )
  ours = lambda x, k: conv_ops.conv_transpose_subpixel(
      x, k, custom_gradient=False
  )
  chex.assert_trees_all_close(
      jax.jvp(ours, (x, k), (dx, dk)),
      jax.jvp(reference, (x, k), (dx, dk)),
      rtol=1e-5,
      atol=1e-5,
  )
  # Reverse over forward: the gradient of a squared Jacobian-vector product.
  jvp_norm = lambda f: lambda k: jnp.sum(jax.jvp(f, (x, k), (dx, dk))[1] ** 2)
  chex.assert_trees_all_close(
      jax.grad(jvp_norm(ours))(k),
      jax.grad(jvp_norm(reference))(k),
      rtol=1e-4,
      atol=1e-4,
  )
  with pytest.raises(TypeError, match='forward-mode'):
    jax.jvp(conv_ops.conv_transpose_subpixel, (x, k), (dx, dk))


def test_subpixel_gradient_is_differentiable_again():
  """Its custom VJP (no zero taps) still has exact second derivatives, as a
  decoder gradient penalty needs."""
  x, k = _arrays((1, 3, 4, 2), (3, 3, 2, 3), seed=3)

  def grad_norm(f):
    return lambda x, k: jnp.sum(
        jax.grad(lambda x: jnp.sum(jnp.sin(f(x, k))))(x) ** 2
    )

  reference = lambda x, k: lax.conv_transpose(
      x, k, (2, 2), 'SAME', dimension_numbers=DN
  )
  chex.assert_trees_all_close(
      jax.grad(grad_norm(conv_ops.conv_transpose_subpixel), (0, 1))(x, k),
      jax.grad(grad_norm(reference), (0, 1))(x, k),
      rtol=1e-4,
      atol=1e-4,
  )


@pytest.mark.parametrize(
    'x_shape, kernel, stride',
    [
        ((2, 28, 28, 8), (3, 3), 1),  # stride 1, wider output: im2col
        ((2, 28, 28, 32), (3, 3), 1),  # the decoder's head shape, F < C
        ((1, 7, 5, 6), (5, 5), 1),
    ],
)
def test_shift_add_is_lax_conv(x_shape, kernel, stride):
  for features in (1, 3, 9):
    x, k = _arrays(x_shape, (*kernel, x_shape[-1], features), seed=features)
    _assert_same_map(
        conv_ops.conv_shift_add,
        lambda x, k: lax.conv_general_dilated(
            x, k, (stride, stride), 'SAME', dimension_numbers=DN
        ),
        x,
        k,
    )


@pytest.mark.parametrize(
    'ours, theirs, x_shape, features, kw',
    [
        (conv_ops.Conv, nn.Conv, (2, 7, 7, 8), 4, dict(strides=(2, 2))),
        (conv_ops.Conv, nn.Conv, (2, 8, 8, 8), 2, dict(strides=1)),
        (conv_ops.Conv, nn.Conv, (2, 8, 8, 2), 5, dict(strides=None)),
        (
            conv_ops.ConvTranspose,
            nn.ConvTranspose,
            (2, 7, 7, 8),
            4,
            dict(strides=(2, 2)),
        ),
    ],
)
@pytest.mark.parametrize('dtype', [jnp.float32, jnp.bfloat16])
def test_layers_are_the_flax_layers(ours, theirs, x_shape, features, kw, dtype):
  """Same parameters and initial values (old checkpoints load), same
  outputs and gradients, in float32 and bfloat16."""
  x = jnp.asarray(np.random.default_rng(2).normal(size=x_shape), jnp.float32)
  args = dict(features=features, kernel_size=(3, 3), padding='SAME', **kw)
  mine, flax_layer = ours(**args, dtype=dtype), theirs(**args, dtype=dtype)
  params = mine.init(jax.random.PRNGKey(0), x)
  chex.assert_trees_all_equal(params, flax_layer.init(jax.random.PRNGKey(0), x))
  tol = 1e-5 if dtype == jnp.float32 else 5e-2
  loss = lambda layer: lambda p, x: jnp.sum(
      jnp.sin(layer.apply(p, x).astype(jnp.float32))
  )
  got = jax.value_and_grad(loss(mine), argnums=(0, 1))(params, x)
  want = jax.value_and_grad(loss(flax_layer), argnums=(0, 1))(params, x)
  assert mine.apply(params, x).dtype == flax_layer.apply(params, x).dtype
  chex.assert_trees_all_close(got, want, rtol=tol, atol=tol)


def test_layers_refuse_what_they_do_not_implement():
  x = jnp.zeros((1, 8, 8, 2))
  key = jax.random.PRNGKey(0)
  with pytest.raises(ValueError, match="padding='VALID'.*use flax.linen.Conv"):
    conv_ops.Conv(3, (3, 3), padding='VALID').init(key, x)
  with pytest.raises(ValueError, match='strides=.*same in both'):
    conv_ops.Conv(3, (3, 3), strides=(1, 2), padding='SAME').init(key, x)
  with pytest.raises(ValueError, match='3x3 kernels with stride 2'):
    conv_ops.ConvTranspose(3, (3, 3), strides=(1, 1), padding='SAME').init(
        key, x
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
