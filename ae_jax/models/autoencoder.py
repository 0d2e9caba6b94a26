"""Deterministic autoencoder x -> z = f(x) -> x_hat = g(z), and its classic regularisers.

One model covers the deterministic autoencoders of the literature; its config
fields choose the variant (each has a config in ``experiments/configs/``):

* undercomplete / deep AE (Hinton & Salakhutdinov 2006, Science 313): the
  reconstruction error alone, binary cross-entropy for data in [0, 1]
  (likelihood='bernoulli') or squared error (likelihood='gaussian');
* sparse AE: plus ``sparsity_weight`` times an L1 penalty on the codes
  (``sparsity='l1'``) or the KL sparsity penalty of sigmoid codes towards a
  target mean activation ``sparsity_target`` (``sparsity='kl'``; Ng 2011);
* denoising AE (Vincent et al. 2008): the encoder sees a corrupted input
  (``noise`` = 'gaussian' | 'masking' | 'salt_and_pepper' at ``noise_level``)
  and the loss compares the reconstruction with the clean input;
* super-resolution AE: the same with ``noise='downsample'``, the input
  average-pooled by the integer factor ``noise_level`` and brought back to
  full size (`corruptions.downsample`; images, ``layout='hwc'``);
* contractive AE (Rifai et al. 2011): plus ``contractive_weight`` times the
  squared Frobenius norm of the encoder Jacobian, in closed form for a single
  sigmoid layer and exactly by vjp/jvp for deeper encoders;
* dropout AE: dropout on hidden units in training (``dropout_rate``);
* convolutional AE: any of the above with ``encoder='conv'``.

With corruption the evaluation loss is the denoising objective too (the test
input is corrupted with the step's key), so ``mse`` is the denoising error.
"""

import dataclasses

import flax.linen as nn
import jax

from ae_jax import corruptions
from ae_jax import penalties
from ae_jax.models import base
from ae_jax.models import networks

SPARSITY = ('none', 'l1', 'kl')
CODE_ACTIVATIONS = ('linear', 'sigmoid', 'relu', 'tanh')


class AutoencoderModule(nn.Module):
  """An encoder and a decoder; `encode`, `decode` and `__call__` are apply methods."""

  encoder: nn.Module
  decoder: nn.Module
  code_activation: str = 'linear'

  def encode(self, x: jax.Array, train: bool = False) -> jax.Array:
    z = self.encoder(x, train=train)
    if self.code_activation == 'linear':
      return z
    return getattr(nn, self.code_activation)(z)

  def decode(self, z: jax.Array, train: bool = False) -> jax.Array:
    return self.decoder(z, train=train)

  def __call__(
      self, x: jax.Array, train: bool = False
  ) -> tuple[jax.Array, jax.Array]:
    z = self.encode(x, train)
    return self.decode(z, train), z


def make_module(
    config,
    input_shape,
    *,
    code_activation: str = 'linear',
    forward_mode_decoder: bool = False,
) -> 'AutoencoderModule':
  """The encoder and decoder of ``config`` (MLP or conv) as one module, codes
  of ``config.latent_dim`` units: the network of every deterministic AE.
  ``forward_mode_decoder``: `jax.jvp` runs through the decoder."""
  return AutoencoderModule(
      encoder=networks.make_encoder(config, input_shape, config.latent_dim),
      decoder=networks.make_decoder(
          config, input_shape, forward_mode=forward_mode_decoder
      ),
      code_activation=code_activation,
  )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(networks.DropoutConfig):
  """Hyperparameters of model='ae': the regularisers of the deterministic AE."""

  sparsity: str = base.hparam('none')  # 'none' | 'l1' (activity) | 'kl'.
  sparsity_weight: float = base.hparam(0.0, traced=True)
  # rho: target mean activation of a code unit (kl).
  sparsity_target: float = base.hparam(0.05)
  # Denoising: 'none' | 'gaussian' | 'masking' | 'salt_and_pepper';
  # super-resolution: 'downsample'.
  noise: str = base.hparam('none')
  # Gaussian std, the fraction of corrupted pixels, or the downsampling
  # factor (an integer >= 1).
  noise_level: float = base.hparam(0.0, traced=True)
  # Code nonlinearity: 'linear' | 'sigmoid' | 'relu' | 'tanh'.
  code_activation: str = base.hparam('linear')
  # Weight of the encoder Jacobian norm (contractive AE).
  contractive_weight: float = base.hparam(0.0, traced=True)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Autoencoder(base.Model):
  """`base.Model` for `AutoencoderModule` with optional regularisers."""

  module: AutoencoderModule
  noise: str
  noise_level: float
  sparsity: str
  sparsity_weight: float
  sparsity_target: float
  contractive_weight: float

  def init(self, rng):
    x = jax.numpy.zeros((1, *self.input_shape), jax.numpy.float32)
    return self.module.init(rng, x)['params']

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    del labels  # Unsupervised.
    # rng may be None for a model with no noise and no dropout.
    noise_rng, dropout_rng = (
        (None, None) if rng is None else jax.random.split(rng)
    )
    x_in = corruptions.corrupt(self.noise, noise_rng, x, level=self.noise_level)
    rngs = {} if rng is None else {'dropout': dropout_rng}
    outputs, z = self.module.apply({'params': params}, x_in, train, rngs=rngs)
    rec = self.reconstruction_cost(outputs, x)
    metrics = {'loss_rec': rec, 'mse': self.pixel_mse(outputs, x)}
    loss = rec
    if self.sparsity == 'l1':
      metrics['loss_sparsity'] = penalties.l1_activity(z)
    elif self.sparsity == 'kl':
      metrics['loss_sparsity'] = penalties.kl_sparsity_per_example(
          z, target=self.sparsity_target
      )
    if self.sparsity != 'none':
      loss = loss + self.sparsity_weight * metrics['loss_sparsity']
    if base.is_on(self.contractive_weight):
      metrics['loss_contractive'] = self.jacobian_norm(params, x_in)
      loss = loss + self.contractive_weight * metrics['loss_contractive']
    metrics['loss'] = loss
    return metrics

  def jacobian_norm(self, params, x: jax.Array) -> jax.Array:
    """Squared Frobenius norm of d encode(x) / dx per example, ``[B]``.

    Closed form for a single sigmoid layer (the CAE of Rifai et al. 2011);
    exact, by one vjp or jvp per code unit or input (whichever is fewer),
    for any other encoder.
    """
    encoder = self.module.encoder
    if (
        isinstance(encoder, networks.MLPEncoder)
        and not encoder.hidden_sizes
        and self.module.code_activation == 'sigmoid'
    ):
      hidden = self.encode(params, x)
      kernel = params['encoder']['head']['kernel']
      return penalties.sigmoid_layer_jacobian_norm(kernel, hidden)
    return penalties.jacobian_frobenius_norm(
        lambda inputs: self.encode(params, inputs), x
    )

  def encode(self, params, x):
    return self.module.apply({'params': params}, x, method='encode')

  # Layer-wise pretraining (`capabilities.LayerwisePretrainable`): an MLP AE
  # is the unrolled stack of its layers (Hinton & Salakhutdinov 2006).
  def pretrain_layer_sizes(self) -> tuple[int, ...]:
    return tuple(self.module.encoder.hidden_sizes) + (self.latent_dim,)

  def pretrain_top_activation(self) -> str | None:
    return self.module.code_activation

  def with_pretrained_layers(self, params, layers):
    """Encoder layer i takes layer i's encoding weights; the mirrored
    decoder layer takes its decoding weights."""
    n = len(layers)
    names = [f'hidden_{i}' for i in range(n - 1)] + ['head']
    replaced = {}
    for i, (enc, dec) in enumerate(layers):
      replaced['encoder', names[i]] = enc
      replaced['decoder', names[n - 1 - i]] = dec
    return networks.with_dense_weights(params, replaced)

  def decode(self, params, z):
    outputs = self.module.apply({'params': params}, z, method='decode')
    return self.output_mean(outputs)


def check_regularizers(config) -> None:
  """Raises ValueError naming the field and its valid range."""
  if config.code_activation not in CODE_ACTIVATIONS:
    raise ValueError(
        f'config.code_activation={config.code_activation!r} is not one of '
        f'{CODE_ACTIVATIONS}; set --config.code_activation to one of them.'
    )
  if config.sparsity not in SPARSITY:
    raise ValueError(
        f'config.sparsity={config.sparsity!r} is not one of {SPARSITY}; set '
        '--config.sparsity to one of them.'
    )
  for field in ('sparsity_weight', 'contractive_weight'):
    if not config[field] >= 0:
      raise ValueError(
          f'config.{field}={config[field]} must be >= 0 (0 turns it off).'
      )
  if config.sparsity == 'kl':
    if not 0 < config.sparsity_target < 1:
      raise ValueError(
          f'config.sparsity_target={config.sparsity_target} must lie in '
          '(0, 1): it is the target mean activation rho of each code unit, '
          'e.g. --config.sparsity_target=0.05.'
      )
    if config.code_activation != 'sigmoid':
      raise ValueError(
          "config.sparsity='kl' needs codes in (0, 1); set "
          '--config.code_activation=sigmoid.'
      )
  corruptions.check_corruption(config.noise, config.noise_level)


def build(config, data: base.DataSpec) -> Autoencoder:
  """The 'ae' entry of the model registry."""
  input_shape = data.input_shape
  base.check_likelihood(config.likelihood)
  check_regularizers(config)
  if config.noise in corruptions.IMAGE_CORRUPTIONS and len(input_shape) != 3:
    raise ValueError(
        f'config.noise={config.noise!r} corrupts images [H, W, C], but the '
        f'inputs have shape {tuple(input_shape)}; add --config.layout=hwc.'
    )
  module = make_module(
      config, input_shape, code_activation=config.code_activation
  )
  return Autoencoder(
      input_shape=tuple(input_shape),
      latent_dim=config.latent_dim,
      likelihood=config.likelihood,
      module=module,
      noise=config.noise,
      noise_level=float(config.noise_level),
      sparsity=config.sparsity,
      sparsity_weight=float(config.sparsity_weight),
      sparsity_target=float(config.sparsity_target),
      contractive_weight=float(config.contractive_weight),
  )
