"""Encoder and decoder networks shared by every autoencoder in ae_jax.

Encoders map a batch of inputs ``[B, *input_shape]`` to ``[B, out_features]``;
decoders map codes ``[B, latent]`` back to ``[B, *output_shape]`` (decoder
outputs are unconstrained: logits for a Bernoulli likelihood, means for a
Gaussian one). The MLPs accept any input layout (they flatten); the
convolutional pair needs images in HWC layout.

Every network has float32 parameters and returns float32; its ``dtype`` (from
``config.compute_dtype``) is the dtype its layers compute in, float32 or
bfloat16 (see `COMPUTE_DTYPES`).
"""

import dataclasses
from collections.abc import Callable, Sequence
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ae_jax.models import base
from ae_jax.models import conv_ops

# Layer initialisations (config.init):
#   'uniform_fan_in': weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
#     PyTorch's default for nn.Linear and nn.Conv2d. On the Fashion-MNIST VAE
#     of BUILD.md it reaches a 0.8 nats lower test negative ELBO after 5 epochs
#     than 'lecun_normal' (3 seeds each).
#   'lecun_normal': Flax's default (truncated normal, variance 1/fan_in; zero bias).
INITS = ('uniform_fan_in', 'lecun_normal')

# Hidden-layer nonlinearities (config.activation), by their flax.linen name,
# and 'gated': gated dense layers ``(W x + b) * sigmoid(V x + c)`` (Dauphin et
# al. 2017; the networks of the VampPrior paper, Tomczak & Welling 2018),
# twice the parameters of a plain layer, in dense layers only
# (`GATED_ONLY_MLP`).
ACTIVATIONS = ('relu', 'sigmoid', 'tanh', 'elu', 'gelu', 'gated')
GATED_ONLY_MLP = (
    "config.activation='gated' gates dense hidden layers only, not "
    'convolutions'
)

# Layer compute dtypes (config.compute_dtype). Parameters are float32 either
# way: with 'bfloat16' every layer casts its inputs and float32 parameters to
# bfloat16 and computes in bfloat16 (mixed precision, for GPUs and TPUs); the
# networks return float32, so every loss and metric is computed in float32
# and gradients and optimiser state stay float32.
COMPUTE_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}

# How the conv networks compute their convolutions; every choice has the same
# parameters, initial values and outputs (to float tolerance):
#   'flax': flax.linen.Conv/ConvTranspose (XLA's convolutions; cuDNN on GPU);
#   'matmul': `conv_ops.Conv`/`ConvTranspose`, the same linear maps as large
#     matrix products, which XLA:CPU runs faster (`benchmarks.conv_layers`;
#     BUILD.md, "Convolutions on XLA:CPU");
#   'auto': 'matmul' when JAX's default backend is the CPU, else 'flax'.
CONV_IMPLS = ('auto', 'flax', 'matmul')


def conv_classes(impl: str = 'auto') -> tuple[type, type]:
  """The ``(Conv, ConvTranspose)`` layer classes of ``impl`` (`CONV_IMPLS`)."""
  if impl not in CONV_IMPLS:
    raise ValueError(f'conv_impl={impl!r} is not one of {CONV_IMPLS}.')
  if impl == 'auto':
    impl = 'matmul' if jax.default_backend() == 'cpu' else 'flax'
  if impl == 'matmul':
    return conv_ops.Conv, conv_ops.ConvTranspose
  return nn.Conv, nn.ConvTranspose


def check_compute_dtype(name: str) -> None:
  """Raises ValueError unless ``name`` is one of `COMPUTE_DTYPES`."""
  if name not in COMPUTE_DTYPES:
    raise ValueError(
        f'config.compute_dtype={name!r} is not one of '
        f'{tuple(COMPUTE_DTYPES)}; set --config.compute_dtype=float32 (the '
        'default) or --config.compute_dtype=bfloat16 (mixed precision).'
    )


def compute_dtype(config) -> Any:
  """The jnp dtype named by ``config.compute_dtype`` (float32 if absent)."""
  name = config.get('compute_dtype', 'float32')
  check_compute_dtype(name)
  return COMPUTE_DTYPES[name]


def layer_dtypes(dtype: Any) -> dict:
  """``dtype``/``param_dtype`` keyword arguments of a flax layer computing in
  ``dtype`` with float32 parameters."""
  return {'dtype': dtype, 'param_dtype': jnp.float32}


def _with_float32_bias(layer_cls: type[nn.Module]) -> type[nn.Module]:
  """``layer_cls`` (built with ``use_bias=False``) plus a float32 bias add.

  Same parameters (``kernel``, ``bias``), initial values and output dtype as
  ``layer_cls`` with its own bias, but the bias gradient, a sum over the
  batch (and positions) of the output cotangents, is accumulated in float32.
  Added in bfloat16, XLA on CPU sums it in bfloat16: the bias gradient of the
  conv decoder's head on digits came out 64% off (tests/test_precision.py).
  """

  class Layer(layer_cls):

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
      y = layer_cls.__call__(self, x)
      bias = self.param(
          'bias', self.bias_init, (self.features,), self.param_dtype
      )
      return (y.astype(jnp.float32) + bias).astype(y.dtype)

  Layer.__name__ = Layer.__qualname__ = layer_cls.__name__
  return Layer


_FLOAT32_BIAS = {
    cls: _with_float32_bias(cls)
    for cls in (
        nn.Dense,
        nn.Conv,
        nn.ConvTranspose,
        conv_ops.Conv,
        conv_ops.ConvTranspose,
    )
}


def layer(
    layer_cls: type[nn.Module], *args, dtype: Any = jnp.float32, **kwargs
) -> nn.Module:
  """``layer_cls(*args, **kwargs)`` (nn.Dense or a class of `conv_classes`)
  with float32 parameters, computing in ``dtype``.

  Below float32 the bias is added in float32 (`_with_float32_bias`); in
  float32 it is the plain flax layer.
  """
  if jnp.dtype(dtype) == jnp.float32:
    return layer_cls(*args, **layer_dtypes(dtype), **kwargs)
  return _FLOAT32_BIAS[layer_cls](
      *args, use_bias=False, **layer_dtypes(dtype), **kwargs
  )


def layer_init(init: str, fan_in: int) -> dict:
  """``kernel_init``/``bias_init`` keyword arguments of a layer with ``fan_in`` inputs."""
  if init == 'lecun_normal':
    return {}
  bound = 1.0 / math.sqrt(fan_in)

  def bias_init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return {
      'kernel_init': nn.initializers.variance_scaling(
          1.0 / 3.0, 'fan_in', 'uniform'
      ),
      'bias_init': bias_init,
  }


def _dropout(x: jax.Array, rate: float, train: bool) -> jax.Array:
  """Dropout of hidden units in training only (draws from the 'dropout' rng)."""
  if not rate:
    return x
  return nn.Dropout(rate, deterministic=not train)(x)


def hidden_activation(
    activation: str, dense: Callable[[str], nn.Module], x: jax.Array
) -> jax.Array:
  """One hidden layer's output: ``activation(dense('')(x))``, or for
  ``'gated'`` ``dense('')(x) * sigmoid(dense('_gate')(x))``. ``dense(suffix)``
  makes the layer named with that suffix (inside a compact ``__call__``)."""
  if activation == 'gated':
    return dense('')(x) * nn.sigmoid(dense('_gate')(x))
  return getattr(nn, activation)(dense('')(x))


def _hidden(x, size, name, activation, init_scheme, dtype, rate, train):
  """One hidden layer of an MLP (`hidden_activation`), then dropout in
  training. Called inside a compact ``__call__``."""

  def dense(suffix):
    return layer(
        nn.Dense,
        size,
        name=name + suffix,
        **layer_init(init_scheme, x.shape[-1]),
        dtype=dtype,
    )

  return _dropout(hidden_activation(activation, dense, x), rate, train)


def _hidden_layers(mlp: nn.Module, x: jax.Array, train: bool) -> jax.Array:
  """The hidden layers ``hidden_<i>`` of an MLP encoder or decoder."""
  for i, size in enumerate(mlp.hidden_sizes):
    x = _hidden(
        x,
        size,
        f'hidden_{i}',
        mlp.activation,
        mlp.init_scheme,
        mlp.dtype,
        mlp.dropout_rate,
        train,
    )
  return x


def _head(net: nn.Module, x: jax.Array, features: int) -> jax.Array:
  """The linear ``head`` layer of ``net`` (inside its compact ``__call__``),
  in ``net.dtype``, with float32 outputs."""
  head = layer(
      nn.Dense,
      features,
      name='head',
      **layer_init(net.init_scheme, x.shape[-1]),
      dtype=net.dtype,
  )
  return head(x).astype(jnp.float32)


class MLPEncoder(nn.Module):
  """Flatten, then ``Dense -> activation`` (or a gated dense layer) per
  hidden size, then a linear head."""

  hidden_sizes: Sequence[int]
  out_features: int
  activation: str = 'relu'
  init_scheme: str = 'uniform_fan_in'
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32  # Compute dtype; parameters and outputs float32.

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = _hidden_layers(self, x.reshape((x.shape[0], -1)), train)
    return _head(self, x, self.out_features)


class MLPDecoder(nn.Module):
  """Codes -> hidden layers -> ``prod(output_shape)`` outputs, reshaped."""

  hidden_sizes: Sequence[int]
  output_shape: Sequence[int]
  activation: str = 'relu'
  init_scheme: str = 'uniform_fan_in'
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32  # Compute dtype; parameters and outputs float32.

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
    out = _head(
        self, _hidden_layers(self, z, train), math.prod(self.output_shape)
    )
    return out.reshape((z.shape[0], *self.output_shape))


class ConvEncoder(nn.Module):
  """Strided 3x3 convolutions (each halves H and W), then a linear head.

  Input: images ``[B, H, W, C]``.
  """

  features: Sequence[int]
  out_features: int
  activation: str = 'relu'
  init_scheme: str = 'uniform_fan_in'
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32  # Compute dtype; parameters and outputs float32.
  conv_impl: str = 'auto'  # See `CONV_IMPLS`; parameters are the same.

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if x.ndim != 4:
      raise ValueError(
          f'ConvEncoder needs images [B, H, W, C], got shape {x.shape}; '
          'train with --config.layout=hwc.'
      )
    act = getattr(nn, self.activation)
    conv_cls, _ = conv_classes(self.conv_impl)
    for i, f in enumerate(self.features):
      conv = layer(
          conv_cls,
          f,
          (3, 3),
          strides=(2, 2),
          padding='SAME',
          name=f'conv_{i}',
          **layer_init(self.init_scheme, 9 * x.shape[-1]),
          dtype=self.dtype,
      )
      x = _dropout(act(conv(x)), self.dropout_rate, train)
    return _head(self, x.reshape((x.shape[0], -1)), self.out_features)


class ConvDecoder(nn.Module):
  """Mirror of `ConvEncoder`: a linear layer to a small feature map, then
  strided transposed convolutions (each doubles H and W), cropped to
  ``output_shape`` (so sizes that are not powers of two, like 28, work)."""

  features: Sequence[int]
  output_shape: Sequence[int]  # (H, W, C)
  activation: str = 'relu'
  init_scheme: str = 'uniform_fan_in'
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32  # Compute dtype; parameters and outputs float32.
  conv_impl: str = 'auto'  # See `CONV_IMPLS`; parameters are the same.
  # Whether `jax.jvp` must run through the decoder (a Jacobian by forward
  # mode, RAE-GP): the matrix-product transposed convolutions then leave
  # their gradient to JAX (`conv_ops.ConvTranspose.custom_gradient`).
  forward_mode: bool = False

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
    act = getattr(nn, self.activation)
    conv_cls, deconv_cls = conv_classes(self.conv_impl)
    deconv_kw = {}
    if deconv_cls is conv_ops.ConvTranspose:
      deconv_kw['custom_gradient'] = not self.forward_mode
    height, width, channels = self.output_shape
    scale = 2 ** len(self.features)
    h0, w0 = -(-height // scale), -(-width // scale)  # ceil division
    feats = list(self.features)[::-1]
    project = layer(
        nn.Dense,
        h0 * w0 * feats[0],
        name='project',
        **layer_init(self.init_scheme, z.shape[-1]),
        dtype=self.dtype,
    )
    x = _dropout(act(project(z)), self.dropout_rate, train)
    x = x.reshape((z.shape[0], h0, w0, feats[0]))
    for i, f in enumerate(feats):
      deconv = layer(
          deconv_cls,
          f,
          (3, 3),
          strides=(2, 2),
          padding='SAME',
          name=f'deconv_{i}',
          **layer_init(self.init_scheme, 9 * x.shape[-1]),
          **deconv_kw,
          dtype=self.dtype,
      )
      x = _dropout(act(deconv(x)), self.dropout_rate, train)
    head = layer(
        conv_cls,
        channels,
        (3, 3),
        padding='SAME',
        name='head',
        **layer_init(self.init_scheme, 9 * x.shape[-1]),
        dtype=self.dtype,
    )
    return head(x).astype(jnp.float32)[:, :height, :width, :]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DropoutConfig:
  """The hyperparameter of models that train with dropout (ae, mlp_classifier)."""

  dropout_rate: float = base.hparam(0.0)  # On hidden units, in training.


def make_encoder(
    config, input_shape: Sequence[int], out_features: int
) -> nn.Module:
  """The encoder named by ``config.encoder`` ('mlp' or 'conv')."""
  kw = dict(
      activation=config.activation,
      init_scheme=config.init,
      dropout_rate=config.get('dropout_rate', 0.0),
      dtype=compute_dtype(config),
  )
  if config.encoder == 'mlp':
    return MLPEncoder(tuple(config.hidden_sizes), out_features, **kw)
  if len(input_shape) != 3:
    raise ValueError(
        f"config.encoder='conv' needs images in HWC layout, got input shape "
        f'{tuple(input_shape)}; set --config.layout=hwc.'
    )
  return ConvEncoder(
      tuple(config.conv_features),
      out_features,
      conv_impl=config.get('conv_impl', 'auto'),
      **kw,
  )


def make_decoder(
    config, output_shape: Sequence[int], *, forward_mode: bool = False
) -> nn.Module:
  """The decoder mirroring ``config.encoder``; ``forward_mode``: `jax.jvp`
  must run through it (`ConvDecoder.forward_mode`)."""
  kw = dict(
      activation=config.activation,
      init_scheme=config.init,
      dropout_rate=config.get('dropout_rate', 0.0),
      dtype=compute_dtype(config),
  )
  if config.encoder == 'mlp':
    return MLPDecoder(
        tuple(config.hidden_sizes)[::-1], tuple(output_shape), **kw
    )
  return ConvDecoder(
      tuple(config.conv_features),
      tuple(output_shape),
      conv_impl=config.get('conv_impl', 'auto'),
      forward_mode=forward_mode,
      **kw,
  )


def with_dense_weights(params, layers: dict[tuple[str, ...], dict]):
  """Host copies of ``params`` with Dense layers replaced.

  ``layers`` maps a layer's path (e.g. ``('encoder', 'hidden_0')``) to its
  new ``{'kernel', 'bias'}``, which must have the shapes they replace
  (layer-wise pretraining, `ae_jax.train.pretrain`).
  """
  params = jax.tree.map(np.array, params)  # New containers, host copies.
  for path, weights in layers.items():
    tree = params
    for key in path:
      tree = tree[key]
    for key in ('kernel', 'bias'):
      want = tree[key].shape
      got = np.asarray(weights[key])
      if got.shape != want:
        raise ValueError(
            f'Pretrained {"/".join(path)}/{key} has shape {got.shape}, '
            f'expected {want}.'
        )
      tree[key] = got.astype(tree[key].dtype)
  return params
