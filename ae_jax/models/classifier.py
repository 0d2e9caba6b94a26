"""MLP classifier: the fine-tuned network of a stacked autoencoder.

Bengio et al. (2007), "Greedy layer-wise training of deep networks", and
Vincent et al. (2010), "Stacked denoising autoencoders", JMLR 11: the hidden
layers are first trained one at a time as autoencoders (`ae_jax.train.pretrain`
with ``config.pretrain='autoencoders'``), then the whole stack plus a softmax
head is fine-tuned on labels with this model. With ``pretrain='none'`` the same
network starts from random weights, the baseline the pretraining is judged
against.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax

from ae_jax.models import base
from ae_jax.models import networks


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(networks.DropoutConfig):
  """Hyperparameters of model='mlp_classifier' (beyond the network's)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class MLPClassifier(base.Model):
  """Softmax classifier over `networks.MLPEncoder` hidden layers.

  `encode` returns the last hidden layer (the learned features); there is no
  decoder.
  """

  module: networks.MLPEncoder
  num_classes: int

  reconstructs = False

  def init(self, rng):
    x = jnp.zeros((1, *self.input_shape), jnp.float32)
    return self.module.init(rng, x)['params']

  def logits(self, params, x, *, train=False, rng=None):
    rngs = {'dropout': rng} if rng is not None else None
    return self.module.apply({'params': params}, x, train, rngs=rngs)

  def per_example_losses(self, params, x, rng, *, train, labels=None):
    if labels is None:
      raise ValueError(
          'The classifier needs integer labels [B]; pass labels=... (the '
          "trainer passes each batch's labels)."
      )
    logits = self.logits(params, x, train=train, rng=rng)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    return {'loss': loss, 'accuracy': correct, 'error_rate': 1.0 - correct}

  def encode(self, params, x):
    """Activations of the last hidden layer, ``[B, hidden_sizes[-1]]``."""
    _, state = self.module.apply(
        {'params': params}, x, capture_intermediates=True
    )
    last = f'hidden_{len(self.module.hidden_sizes) - 1}'
    # Dense outputs are captured before the activation; apply it here. The
    # last capture is the layer's output (a bfloat16 layer also captures its
    # output before its float32 bias, `networks.layer`).
    pre = state['intermediates'][last]['__call__'][-1]
    # float32 features even when the layers compute in bfloat16.
    return getattr(jax.nn, self.module.activation)(pre).astype(jnp.float32)

  def decode(self, params, z):
    raise NotImplementedError(
        'A classifier has no decoder; use the pretrained layer '
        'autoencoders in <workdir>/pretrain/ to reconstruct.'
    )

  def predict(self, params, x):
    """Predicted class per example, ``[B]``."""
    return jnp.argmax(self.logits(params, x), -1)

  # Layer-wise pretraining (`capabilities.LayerwisePretrainable`): the hidden
  # layers are pretrained, the softmax head keeps its initialisation.
  def pretrain_layer_sizes(self) -> tuple[int, ...]:
    return tuple(self.module.hidden_sizes)

  def pretrain_top_activation(self) -> str | None:
    return None  # That of the hidden units.

  def with_pretrained_layers(self, params, layers):
    return networks.with_dense_weights(
        params, {(f'hidden_{i}',): enc for i, (enc, _) in enumerate(layers)}
    )


def build(config, data: base.DataSpec) -> MLPClassifier:
  """The 'mlp_classifier' entry of the model registry."""
  input_shape, num_classes = data.input_shape, data.num_classes
  if not num_classes or num_classes < 2:
    raise ValueError(
        f'mlp_classifier needs a labelled dataset with >= 2 classes; '
        f'{config.dataset!r} has {num_classes}.'
    )
  if config.encoder != 'mlp' or not config.hidden_sizes:
    raise ValueError(
        'mlp_classifier needs --config.encoder=mlp and at least one hidden '
        "layer in --config.hidden_sizes, e.g. '(1000, 500)'."
    )
  module = networks.MLPEncoder(
      tuple(config.hidden_sizes),
      num_classes,
      activation=config.activation,
      init_scheme=config.init,
      dropout_rate=config.dropout_rate,
      dtype=networks.compute_dtype(config),
  )
  return MLPClassifier(
      input_shape=tuple(input_shape),
      latent_dim=config.hidden_sizes[-1],
      likelihood=config.likelihood,
      module=module,
      num_classes=num_classes,
  )
